//! The data dictionary over HTTP and the command line: the built-in national elements and code
//! lists, registering elements and code list versions, registering datasets and evolving their
//! schemas (minor for compatible changes, refused or major for breaking ones), and the JSON
//! Schema and Table Schema exports.

mod common;

use common::{Resp, Server, run_ndx};
use serde_json::{Value, json};

/// Issues a key with these roles for a system; returns the secret.
fn issue(s: &Server, operator: &str, system: &str, roles: &[&str]) -> String {
    let r = s.post_json(
        &format!("/api/v1/systems/{system}/keys"),
        Some(operator),
        &json!({ "roles": roles }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["secret"].as_str().expect("secret").to_owned()
}

fn ok(r: Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    r.json()
}

fn codes(list: &Value) -> Vec<String> {
    list["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["code"].as_str().expect("code").to_owned())
        .collect()
}

fn colours(entries: &[(&str, &str)]) -> Value {
    json!({
        "id": "colours",
        "name_vi": "Màu sắc",
        "name_en": "Colours",
        "source": "test",
        "entries": entries.iter().map(|(c, l)| json!({"code": c, "label_vi": l, "label_en": l})).collect::<Vec<_>>(),
    })
}

#[test]
fn builtin_dictionary_elements_and_code_lists() {
    let s = Server::fresh();
    let op = s.operator_key();
    let steward = issue(&s, &op, "NDC-OPS", &["steward"]);
    let consumer = issue(&s, &op, "NDC-OPS", &["consumer"]);

    // Built-in elements.
    let elements = ok(s.get("/api/v1/dictionary/elements", Some(&consumer)), 200);
    let ids: Vec<&str> = elements
        .as_array()
        .expect("elements")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    for id in [
        "citizen-id",
        "full-name",
        "sex",
        "date-of-birth",
        "ethnic-group",
        "province-code",
        "ward-code",
        "street-address",
        "tax-code",
        "mobile-phone",
        "phone-number",
        "email",
        "identifier",
        "date",
    ] {
        assert!(ids.contains(&id), "element {id} missing from {ids:?}");
    }
    let cid = ok(
        s.get("/api/v1/dictionary/elements/citizen-id", Some(&consumer)),
        200,
    );
    assert_eq!(cid["type"], "string");
    assert_eq!(cid["format"], "citizen-id");
    let sex = ok(
        s.get("/api/v1/dictionary/elements/sex", Some(&consumer)),
        200,
    );
    assert_eq!(sex["type"], "code");
    assert_eq!(sex["code_list"], "sex");
    let ward = ok(
        s.get("/api/v1/dictionary/elements/ward-code", Some(&consumer)),
        200,
    );
    assert_eq!(ward["code_list"], "admin-ward-2025");
    assert_eq!(
        ok(
            s.get("/api/v1/dictionary/elements/tax-code", Some(&consumer)),
            200
        )["format"],
        "tax-code"
    );
    assert_eq!(
        ok(
            s.get("/api/v1/dictionary/elements/mobile-phone", Some(&consumer)),
            200
        )["format"],
        "vn-mobile"
    );
    s.get("/api/v1/dictionary/elements/no-such", Some(&consumer))
        .problem(404, "element-not-found");

    // Built-in code lists, each at its latest version with the official number of entries
    // (the ethnic groups at version 2: the 2008 list after the 1979 one).
    let lists = ok(s.get("/api/v1/code-lists", Some(&consumer)), 200);
    for (id, version, n) in [
        ("admin-province-2025", 1, 34),
        ("admin-ward-2025", 1, 3321),
        ("admin-province-legacy", 1, 63),
        ("admin-ward-legacy", 1, 10_033),
        ("legacy-province-cccd", 1, 63),
        ("ethnic-group", 2, 54),
        ("sex", 1, 4),
    ] {
        assert!(
            lists
                .as_array()
                .expect("lists")
                .contains(&json!({"id": id, "version": version})),
            "{id} not in {lists}"
        );
        let l = ok(
            s.get(&format!("/api/v1/code-lists/{id}"), Some(&consumer)),
            200,
        );
        assert_eq!(l["id"], id);
        assert_eq!(l["version"], version);
        let c = codes(&l);
        assert_eq!(c.len(), n, "entries of {id}");
        let mut unique = c.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), n, "duplicate codes in {id}");
    }
    let sex = ok(s.get("/api/v1/code-lists/sex", Some(&consumer)), 200);
    assert_eq!(codes(&sex), ["0", "1", "2", "9"]);
    let provinces = ok(
        s.get("/api/v1/code-lists/admin-province-2025", Some(&consumer)),
        200,
    );
    for p in ["01", "79", "48", "31"] {
        assert!(codes(&provinces).contains(&p.to_owned()), "{p}");
    }
    // A ward's parent is its province.
    let wards = ok(
        s.get("/api/v1/code-lists/admin-ward-2025", Some(&consumer)),
        200,
    );
    let first = &wards["entries"][0];
    assert_eq!(first["code"], "00004");
    assert_eq!(first["parent"], "01");
    let legacy = ok(
        s.get("/api/v1/code-lists/legacy-province-cccd", Some(&consumer)),
        200,
    );
    assert!(codes(&legacy).contains(&"001".to_owned()));
    s.get("/api/v1/code-lists/no-such", Some(&consumer))
        .problem(404, "code-list-not-found");
    s.get("/api/v1/code-lists/sex?version=2", Some(&consumer))
        .problem(404, "code-list-not-found");
    s.get("/api/v1/code-lists/sex?version=one", Some(&consumer))
        .problem(400, "query-invalid");
    // The whole dictionary in one document.
    let d = ok(s.get("/api/v1/dictionary", Some(&consumer)), 200);
    assert_eq!(d["elements"].as_array().map(Vec::len), Some(ids.len()));
    assert_eq!(d["code_lists"].as_array().map(Vec::len), Some(10));
    let purposes = ok(s.get("/api/v1/code-lists/purpose", Some(&consumer)), 200);
    assert!(codes(&purposes).contains(&"public-service-delivery".to_owned()));
    assert!(codes(&purposes).contains(&"cross-checking".to_owned()));
    assert_eq!(d["datasets"], json!([]));

    // A steward defines an element.
    let element = json!({
        "id": "licence-plate", "name_vi": "Biển số xe", "name_en": "Licence plate",
        "definition": "Vehicle registration plate", "type": "string", "max_length": 12,
        "examples": ["29A-12345"],
    });
    let created = ok(
        s.post_json("/api/v1/dictionary/elements", Some(&steward), &element),
        201,
    );
    assert_eq!(created["id"], "licence-plate");
    assert_eq!(created["max_length"], 12);
    assert_eq!(
        ok(
            s.get("/api/v1/dictionary/elements/licence-plate", Some(&consumer)),
            200
        ),
        created
    );
    s.post_json("/api/v1/dictionary/elements", Some(&steward), &element)
        .problem(409, "conflict");
    s.post_json("/api/v1/dictionary/elements", Some(&consumer), &element)
        .problem(403, "role-required");
    // Ill-defined elements.
    let p = s
        .post_json(
            "/api/v1/dictionary/elements",
            Some(&steward),
            &json!({"id": "vehicle-kind", "name_vi": "Loại xe", "name_en": "Vehicle kind", "type": "code"}),
        )
        .problem(422, "definition-invalid");
    assert_eq!(p["errors"][0]["code"], "element-code-list-missing", "{p}");
    assert_eq!(p["errors"][0]["field"], "code_list", "{p}");
    s.post_json(
        "/api/v1/dictionary/elements",
        Some(&steward),
        &json!({"id": "vehicle-kind", "name_vi": "Loại xe", "name_en": "Vehicle kind", "type": "code", "code_list": "no-such-list"}),
    )
    .problem(422, "code-list-unknown");
    let p = s
        .post_json(
            "/api/v1/dictionary/elements",
            Some(&steward),
            &json!({"id": "Vehicle Kind", "name_vi": "Loại xe", "name_en": "Vehicle kind", "type": "string"}),
        )
        .problem(422, "definition-invalid");
    assert_eq!(p["errors"][0]["code"], "element-id-invalid", "{p}");
    // Names and definitions hold no reordering or invisible characters (issue 11).
    for (member, bad, code) in [
        ("name_en", "Vehicle\u{202E}kind", "bidi-control"),
        ("name_vi", "Loại\u{200B}xe", "invisible-character"),
        ("name_vi", "Loại\nxe", "control-character"),
        ("definition", "Kind\u{2066}", "bidi-control"),
    ] {
        let mut body = json!({"id": "vehicle-kind", "name_vi": "Loại xe", "name_en": "Vehicle kind", "type": "string", "definition": "Kind\nof vehicle"});
        body[member] = json!(bad);
        let p = s
            .post_json("/api/v1/dictionary/elements", Some(&steward), &body)
            .problem(422, "definition-invalid");
        assert_eq!(p["errors"][0]["code"], code, "{p}");
        assert_eq!(p["errors"][0]["field"], member, "{p}");
    }
    s.post_json(
        "/api/v1/dictionary/elements",
        Some(&steward),
        &json!({"id": "vehicle-kind", "name_vi": "Loại xe", "name_en": "Vehicle kind", "type": "colour"}),
    )
    .problem(422, "body-invalid");
    let after = ok(s.get("/api/v1/dictionary/elements", Some(&consumer)), 200);
    assert_eq!(
        after.as_array().map(Vec::len),
        Some(ids.len() + 1),
        "only licence-plate was added"
    );

    // Code list versions are assigned by the server.
    let v1 = colours(&[("R", "Đỏ"), ("G", "Xanh lá")]);
    let r = ok(
        s.put_json("/api/v1/code-lists/colours", Some(&steward), &v1),
        201,
    );
    assert_eq!(r["version"], 1);
    assert_eq!(codes(&r), ["R", "G"]);
    // The identical list: no new version (a version in the body is ignored).
    let r = ok(
        s.put_json("/api/v1/code-lists/colours", Some(&steward), &v1),
        200,
    );
    assert_eq!(r["version"], 1);
    let mut v1_claiming_7 = v1.clone();
    v1_claiming_7["version"] = json!(7);
    let r = ok(
        s.put_json("/api/v1/code-lists/colours", Some(&steward), &v1_claiming_7),
        200,
    );
    assert_eq!(r["version"], 1);
    // Changed entries: version 2.
    let v2 = colours(&[("R", "Đỏ"), ("G", "Xanh lá"), ("B", "Xanh dương")]);
    let r = ok(
        s.put_json("/api/v1/code-lists/colours", Some(&steward), &v2),
        201,
    );
    assert_eq!(r["version"], 2);
    let latest = ok(s.get("/api/v1/code-lists/colours", Some(&consumer)), 200);
    assert_eq!(latest["version"], 2);
    assert_eq!(codes(&latest), ["R", "G", "B"]);
    let old = ok(
        s.get("/api/v1/code-lists/colours?version=1", Some(&consumer)),
        200,
    );
    assert_eq!(old["version"], 1);
    assert_eq!(codes(&old), ["R", "G"]);
    s.get("/api/v1/code-lists/colours?version=3", Some(&consumer))
        .problem(404, "code-list-not-found");
    // Going back to the first entries is a change from the latest: version 3.
    let r = ok(
        s.put_json("/api/v1/code-lists/colours", Some(&steward), &v1),
        201,
    );
    assert_eq!(r["version"], 3);
    // Refused lists create no version.
    let p = s
        .put_json(
            "/api/v1/code-lists/colours",
            Some(&steward),
            &colours(&[("R", "Đỏ"), ("R", "Hồng")]),
        )
        .problem(422, "definition-invalid");
    assert_eq!(p["errors"][0]["code"], "code-list-duplicate-code", "{p}");
    assert_eq!(p["errors"][0]["field"], "R", "{p}");
    s.put_json("/api/v1/code-lists/colours", Some(&steward), &colours(&[]))
        .problem(422, "definition-invalid");
    s.put_json(
        "/api/v1/code-lists/colours",
        Some(&steward),
        &colours(&[(" R", "Đỏ")]),
    )
    .problem(422, "definition-invalid");
    s.put_json("/api/v1/code-lists/other", Some(&steward), &v2)
        .problem(422, "id-mismatch");
    s.put_json("/api/v1/code-lists/colours", Some(&consumer), &v2)
        .problem(403, "role-required");
    let latest = ok(s.get("/api/v1/code-lists/colours", Some(&consumer)), 200);
    assert_eq!(latest["version"], 3);
    assert_eq!(codes(&latest), ["R", "G"]);
    assert!(
        ok(s.get("/api/v1/code-lists", Some(&consumer)), 200)
            .as_array()
            .expect("lists")
            .contains(&json!({"id": "colours", "version": 3}))
    );
    // An element may now use the list.
    let r = s.post_json(
        "/api/v1/dictionary/elements",
        Some(&steward),
        &json!({"id": "colour", "name_vi": "Màu", "name_en": "Colour", "type": "code", "code_list": "colours"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

fn field(name: &str, element: &str, required: bool, sensitivity: &str) -> Value {
    json!({"name": name, "element": element, "required": required, "sensitivity": sensitivity})
}

/// The test register, version 1.0.
fn persons(owner: &str) -> Value {
    json!({
        "dataset": "persons",
        "title_vi": "Danh sách công dân thử nghiệm",
        "title_en": "Test persons",
        "description": "people of the test member",
        "owner": owner,
        "original": true,
        "openness": "restricted",
        "importance": "ordinary",
        "key": ["citizen_id"],
        "fields": [
            field("citizen_id", "citizen-id", true, "personal"),
            field("full_name", "full-name", true, "personal"),
            field("sex", "sex", true, "personal"),
            field("date_of_birth", "date-of-birth", false, "personal"),
            field("province_code", "province-code", false, "internal"),
        ],
    })
}

fn field_names(schema: &Value) -> Vec<&str> {
    schema["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect()
}

#[test]
fn datasets_register_and_evolve_by_version() {
    let s = Server::fresh();
    let op = s.operator_key();
    ok(
        s.post_json(
            "/api/v1/members",
            Some(&op),
            &json!({"code": "TST", "name_vi": "Thử", "name_en": "Test", "level": "central", "jurisdiction": {"country": "VN"}}),
        ),
        201,
    );
    ok(
        s.post_json(
            "/api/v1/systems",
            Some(&op),
            &json!({"code": "TST-SYS", "member": "TST", "name": "Test system"}),
        ),
        201,
    );
    let steward = issue(&s, &op, "NDC-OPS", &["steward"]);
    let provider = issue(&s, &op, "TST-SYS", &["provider"]);
    let consumer = issue(&s, &op, "NDC-OPS", &["consumer"]);

    // Unknown datasets.
    s.get("/api/v1/datasets/persons", Some(&consumer))
        .problem(404, "dataset-not-found");
    s.get("/api/v1/datasets/persons/schema", Some(&consumer))
        .problem(404, "dataset-not-found");
    s.get("/api/v1/datasets/persons/schema/versions", Some(&consumer))
        .problem(404, "dataset-not-found");
    s.put_json(
        "/api/v1/datasets/persons/schema",
        Some(&steward),
        &persons("TST"),
    )
    .problem(404, "dataset-not-found");

    // Refused registrations.
    s.post_json("/api/v1/datasets", Some(&consumer), &persons("TST"))
        .problem(403, "role-required");
    s.post_json("/api/v1/datasets", Some(&provider), &persons("NDC"))
        .problem(403, "not-owner");
    s.post_json("/api/v1/datasets", Some(&steward), &persons("NOPE"))
        .problem(422, "owner-unknown");
    let mut unknown_element = persons("TST");
    unknown_element["fields"][4]["element"] = json!("no-such-element");
    let p = s
        .post_json("/api/v1/datasets", Some(&steward), &unknown_element)
        .problem(422, "definition-invalid");
    assert_eq!(p["errors"][0]["code"], "element-unknown", "{p}");
    assert_eq!(p["errors"][0]["field"], "province_code", "{p}");
    let mut optional_key = persons("TST");
    optional_key["fields"][0]["required"] = json!(false);
    s.post_json("/api/v1/datasets", Some(&steward), &optional_key)
        .problem(422, "definition-invalid");
    let mut unknown_field = persons("TST");
    unknown_field["retention"] = json!("forever");
    s.post_json("/api/v1/datasets", Some(&steward), &unknown_field)
        .problem(422, "body-invalid");
    assert_eq!(
        ok(s.get("/api/v1/datasets", Some(&consumer)), 200),
        json!([])
    );

    // A steward registers a dataset of TST: version 1.0 whatever the body says.
    let mut v1 = persons("TST");
    v1["version"] = json!({"major": 5, "minor": 3});
    let r = ok(s.post_json("/api/v1/datasets", Some(&steward), &v1), 201);
    assert_eq!(r["created"], true);
    assert_eq!(r["schema"]["version"], json!({"major": 1, "minor": 0}));
    assert_eq!(r["schema"]["owner"], "TST");
    assert_eq!(r["changes"], json!(["dataset registered"]));
    s.post_json("/api/v1/datasets", Some(&steward), &persons("TST"))
        .problem(409, "dataset-exists");
    s.post_json("/api/v1/datasets", Some(&provider), &persons("TST"))
        .problem(409, "dataset-exists");
    // A provider registers one of its own member.
    let mut own = persons("TST");
    own["dataset"] = json!("persons-copy");
    let r = ok(s.post_json("/api/v1/datasets", Some(&provider), &own), 201);
    assert_eq!(r["schema"]["version"], json!({"major": 1, "minor": 0}));

    // Load a record under 1.0, as the owner's provider.
    let record = json!({
        "citizen_id": "001203012345", "full_name": "Nguyễn Văn An", "sex": "1",
        "date_of_birth": "2003-04-05", "province_code": "01",
    });
    let r = s.ingest(
        "persons",
        "",
        &provider,
        "application/x-ndjson",
        format!("{record}\n").as_bytes(),
        Some("persons-batch-1"),
    );
    let report = ok(r, 200);
    assert_eq!(report["accepted"], 1, "{report}");
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["schema_version"], "1.0", "{report}");

    // An optional field added: minor version 1.1, changes listed.
    let mut v11 = persons("TST");
    v11["fields"]
        .as_array_mut()
        .expect("fields")
        .push(field("email", "email", false, "personal"));
    let r = ok(
        s.put_json("/api/v1/datasets/persons/schema", Some(&steward), &v11),
        201,
    );
    assert_eq!(r["created"], true);
    assert_eq!(r["schema"]["version"], json!({"major": 1, "minor": 1}));
    assert_eq!(r["changes"], json!(["optional field \"email\" added"]));
    // A required field added is breaking.
    let mut required_added = v11.clone();
    required_added["fields"]
        .as_array_mut()
        .expect("fields")
        .push(field("phone", "mobile-phone", true, "personal"));
    s.put_json(
        "/api/v1/datasets/persons/schema",
        Some(&steward),
        &required_added,
    )
    .problem(409, "schema-breaking-change");
    // A field removed (and another made required) is breaking: refused with the reasons.
    let mut v2 = v11.clone();
    v2["fields"]
        .as_array_mut()
        .expect("fields")
        .retain(|f| f["name"] != "province_code");
    v2["fields"][3]["required"] = json!(true);
    assert_eq!(v2["fields"][3]["name"], "date_of_birth");
    let p = s
        .put_json("/api/v1/datasets/persons/schema", Some(&steward), &v2)
        .problem(409, "schema-breaking-change");
    let reasons: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            assert_eq!(e["code"], "breaking-change", "{e}");
            e["message"].as_str().expect("message")
        })
        .collect();
    assert!(
        reasons.contains(&"field \"province_code\" removed"),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("date_of_birth") && r.contains("required")),
        "{reasons:?}"
    );
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    // Nothing was stored by the refusals.
    assert_eq!(
        ok(
            s.get("/api/v1/datasets/persons/schema/versions", Some(&consumer)),
            200
        ),
        json!(["1.0", "1.1"])
    );
    // Other owners' providers and consumers may not evolve it.
    s.put_json("/api/v1/datasets/persons/schema", Some(&consumer), &v2)
        .problem(403, "role-required");
    s.put_json(
        "/api/v1/datasets/persons/schema",
        Some(&steward),
        &persons("TST"),
    )
    .problem(409, "schema-breaking-change");
    let mut other_path = v2.clone();
    other_path["dataset"] = json!("persons-copy");
    s.put_json(
        "/api/v1/datasets/persons/schema?major=true",
        Some(&steward),
        &other_path,
    )
    .problem(422, "id-mismatch");
    s.put_json(
        "/api/v1/datasets/persons/schema?major=maybe",
        Some(&steward),
        &v2,
    )
    .problem(400, "query-invalid");
    // As a new major version: 2.0.
    let r = ok(
        s.put_json(
            "/api/v1/datasets/persons/schema?major=true",
            Some(&steward),
            &v2,
        ),
        201,
    );
    assert_eq!(r["created"], true);
    assert_eq!(r["schema"]["version"], json!({"major": 2, "minor": 0}));
    let changes = r["changes"].as_array().expect("changes");
    assert!(
        changes.contains(&json!("field \"province_code\" removed")),
        "{changes:?}"
    );
    // The identical schema again: 200, nothing new.
    let r = ok(
        s.put_json("/api/v1/datasets/persons/schema", Some(&provider), &v2),
        200,
    );
    assert_eq!(r["created"], false);
    assert_eq!(r["changes"], json!([]));
    assert_eq!(r["schema"]["version"], json!({"major": 2, "minor": 0}));
    assert_eq!(
        ok(
            s.get("/api/v1/datasets/persons/schema/versions", Some(&consumer)),
            200
        ),
        json!(["1.0", "1.1", "2.0"])
    );
    let info = ok(s.get("/api/v1/datasets/persons", Some(&consumer)), 200);
    assert_eq!(info["versions"], json!(["1.0", "1.1", "2.0"]));
    assert_eq!(info["records"], 1);
    assert_eq!(info["schema"]["version"], json!({"major": 2, "minor": 0}));

    // Each version stays readable.
    let native = ok(
        s.get("/api/v1/datasets/persons/schema", Some(&consumer)),
        200,
    );
    assert_eq!(
        field_names(&native),
        ["citizen_id", "full_name", "sex", "date_of_birth", "email"]
    );
    let old = ok(
        s.get(
            "/api/v1/datasets/persons/schema?version=1.0",
            Some(&consumer),
        ),
        200,
    );
    assert_eq!(old["version"], json!({"major": 1, "minor": 0}));
    assert_eq!(
        field_names(&old),
        [
            "citizen_id",
            "full_name",
            "sex",
            "date_of_birth",
            "province_code"
        ]
    );
    let mid = ok(
        s.get(
            "/api/v1/datasets/persons/schema?version=1.1&format=native",
            Some(&consumer),
        ),
        200,
    );
    assert_eq!(field_names(&mid).len(), 6);
    s.get(
        "/api/v1/datasets/persons/schema?version=9.9",
        Some(&consumer),
    )
    .problem(404, "schema-version-not-found");
    for bad in ["2", "a.b", "1.0.0", ""] {
        s.get(
            &format!("/api/v1/datasets/persons/schema?version={bad}"),
            Some(&consumer),
        )
        .problem(400, "version-invalid");
    }
    s.get(
        "/api/v1/datasets/persons/schema?format=xml",
        Some(&consumer),
    )
    .problem(400, "format-unknown");
    s.get(
        "/api/v1/datasets/persons/schema?colour=red",
        Some(&consumer),
    )
    .problem(400, "query-invalid");

    // JSON Schema 2020-12 of the latest version.
    let js = ok(
        s.get(
            "/api/v1/datasets/persons/schema?format=json-schema",
            Some(&consumer),
        ),
        200,
    );
    assert_eq!(
        js["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(js["type"], "object");
    assert_eq!(js["additionalProperties"], false);
    assert_eq!(
        js["required"],
        json!(["citizen_id", "full_name", "sex", "date_of_birth"])
    );
    let props = js["properties"].as_object().expect("properties");
    let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["citizen_id", "date_of_birth", "email", "full_name", "sex"]
    );
    assert_eq!(props["citizen_id"]["type"], "string");
    assert_eq!(props["citizen_id"]["pattern"], "^[0-9]{12}$");
    assert_eq!(props["sex"]["type"], "string");
    assert_eq!(props["sex"]["enum"], json!(["0", "1", "2", "9"]));
    assert_eq!(props["email"]["format"], "email");
    assert_eq!(props["full_name"]["maxLength"], 200);
    assert!(props["date_of_birth"]["pattern"].is_string());
    assert!(
        js["$id"].as_str().is_some_and(|id| id.contains("2.0")),
        "{js}"
    );
    // …and of 1.0, with the province's enumeration.
    let js1 = ok(
        s.get(
            "/api/v1/datasets/persons/schema?format=json-schema&version=1.0",
            Some(&consumer),
        ),
        200,
    );
    assert_eq!(js1["required"], json!(["citizen_id", "full_name", "sex"]));
    assert_eq!(
        js1["properties"]["province_code"]["enum"]
            .as_array()
            .map(Vec::len),
        Some(34)
    );

    // Frictionless Table Schema.
    let ts = ok(
        s.get(
            "/api/v1/datasets/persons/schema?format=table-schema",
            Some(&consumer),
        ),
        200,
    );
    assert_eq!(ts["primaryKey"], json!(["citizen_id"]));
    let fields = ts["fields"].as_array().expect("fields");
    assert_eq!(
        fields.iter().map(|f| &f["name"]).collect::<Vec<_>>(),
        ["citizen_id", "full_name", "sex", "date_of_birth", "email"]
    );
    for f in fields {
        assert!(f["type"].is_string(), "{f}");
    }
    let id = &fields[0];
    assert_eq!(id["type"], "string");
    assert_eq!(id["constraints"]["required"], true);
    assert_eq!(id["constraints"]["unique"], true);
    assert_eq!(id["constraints"]["pattern"], "^[0-9]{12}$");
    assert_eq!(
        fields[2]["constraints"]["enum"],
        json!(["0", "1", "2", "9"])
    );
    assert_eq!(fields[3]["constraints"]["required"], true);
    assert_eq!(fields[4]["format"], "email");
    assert!(
        fields[4]["constraints"].get("required").is_none(),
        "{}",
        fields[4]
    );

    // The record loaded under 1.0 is still readable, as it was validated then.
    let r = ok(
        s.get(
            "/api/v1/datasets/persons/records/001203012345",
            Some(&provider),
        ),
        200,
    );
    assert_eq!(r["schema_version"], "1.0");
    assert_eq!(r["data"], record);
    let page = ok(s.get("/api/v1/datasets/persons/records", Some(&op)), 200);
    assert_eq!(page["records"].as_array().map(Vec::len), Some(1));
    // New records are validated against 2.0: the removed field is no longer accepted.
    let r = s.ingest(
        "persons",
        "",
        &provider,
        "application/x-ndjson",
        format!("{record}\n")
            .replace("001203012345", "001203012346")
            .as_bytes(),
        None,
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let r = s.ingest(
        "persons",
        "",
        &provider,
        "application/x-ndjson",
        b"{\"citizen_id\":\"001203012346\",\"full_name\":\"Tr\xe1\xba\xa7n Th\xe1\xbb\x8b B\xc3\xacnh\",\"sex\":\"2\",\"date_of_birth\":\"2003\",\"email\":\"binh@example.vn\"}\n",
        None,
    );
    let report = ok(r, 200);
    assert_eq!(report["schema_version"], "2.0", "{report}");
    assert_eq!(report["accepted"], 1, "{report}");
    let info = ok(s.get("/api/v1/datasets/persons", Some(&consumer)), 200);
    assert_eq!(info["records"], 2);
}

#[test]
fn cli_prints_schemas_and_code_lists_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8 path");
    let out = run_ndx(&[
        "demo",
        "--no-serve",
        "--citizens",
        "1000",
        "--seed",
        "7",
        "--data-dir",
        d,
    ]);
    assert!(
        out.status.success(),
        "demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json_of = |args: &[&str]| -> Value {
        let mut all = args.to_vec();
        all.extend(["--data-dir", d]);
        let out = run_ndx(&all);
        assert!(
            out.status.success(),
            "ndx {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "ndx {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    };

    let datasets = json_of(&["dictionary", "datasets"]);
    assert_eq!(datasets.as_array().map(Vec::len), Some(5), "{datasets}");

    let js = json_of(&[
        "dictionary",
        "schema",
        "population",
        "--format",
        "json-schema",
    ]);
    assert_eq!(
        js["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(js["additionalProperties"], false);
    assert_eq!(js["properties"]["citizen_id"]["pattern"], "^[0-9]{12}$");
    assert!(
        js["required"]
            .as_array()
            .expect("required")
            .contains(&json!("citizen_id"))
    );
    assert_eq!(js["x-ndx-owner"], "BCA");
    let ts = json_of(&[
        "dictionary",
        "schema",
        "population",
        "--format",
        "table-schema",
    ]);
    assert_eq!(ts["primaryKey"], json!(["citizen_id"]));
    let native = json_of(&["dictionary", "schema", "businesses"]);
    assert_eq!(native["owner"], "BTC");
    let v10 = json_of(&["dictionary", "schema", "businesses", "--version", "1.0"]);
    assert_eq!(v10, native);
    let sex = json_of(&["dictionary", "code-list", "sex"]);
    assert_eq!(codes(&sex), ["0", "1", "2", "9"]);
    let legal = json_of(&["dictionary", "code-list", "legal-form", "--version", "1"]);
    assert_eq!(legal["id"], "legal-form");

    // Unknown dataset: exit code 4 (not found), no JSON.
    let out = run_ndx(&["dictionary", "schema", "nope", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(out.stdout.is_empty());
}
