//! Code lists across versions and sources (issue 14): the built-in ethnic-group lists of 1979
//! and 2008 with their crosswalk, pre-2025 units as lists of their own, the population schema
//! on the list the regulation prescribes, a provider sending codes of another list (converted
//! on ingest, or refused with the candidates when the code is ambiguous), a dataset that keeps
//! pre-2025 wards, and a consumer answered in the list it names.

mod common;

use common::{Resp, Server};
use serde_json::{Value, json};

const POP: &str = "population";

fn ok(r: Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    r.json()
}

fn post_ndjson(s: &Server, dataset: &str, key: &str, lists: Option<&str>, rows: &[Value]) -> Resp {
    let body: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let mut headers = Vec::new();
    if let Some(l) = lists {
        headers.push(("Ndx-Code-Lists", l));
    }
    s.request(
        "POST",
        &format!("/api/v1/datasets/{dataset}/records"),
        Some(key),
        &headers,
        Some(("application/x-ndjson", body.as_bytes())),
    )
}

fn stored(s: &Server, dataset: &str, key: &str, record: &str) -> Value {
    ok(
        s.get(
            &format!("/api/v1/datasets/{dataset}/records/{record}"),
            Some(key),
        ),
        200,
    )
}

/// The 2008 code of each 1979 code, as the server's crosswalk says.
fn ethnic_1979_to_2008(s: &Server) -> std::collections::HashMap<String, String> {
    let w = ok(
        s.get(
            "/api/v1/crosswalks/ethnic-group@1/ethnic-group@2",
            Some(&s.key("auditor")),
        ),
        200,
    );
    w["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .map(|p| {
            (
                p["from"].as_str().expect("from").to_owned(),
                p["to"].as_str().expect("to").to_owned(),
            )
        })
        .collect()
}

#[test]
fn crosswalks_are_served_and_the_population_follows_the_regulation() {
    let s = Server::demo(20);
    let any = s.key("consumer-01");
    let walks = ok(s.get("/api/v1/crosswalks", Some(&any)), 200);
    let summary: Vec<(String, String, u64)> = walks
        .as_array()
        .expect("list")
        .iter()
        .map(|w| {
            (
                w["from"].as_str().expect("from").to_owned(),
                w["to"].as_str().expect("to").to_owned(),
                w["pairs"].as_u64().expect("pairs"),
            )
        })
        .collect();
    for expected in [
        ("ethnic-group@1", "ethnic-group@2", 54),
        ("admin-province-legacy@1", "admin-province-2025@1", 63),
        ("admin-ward-legacy@1", "admin-ward-2025@1", 10_565),
    ] {
        assert!(
            summary.contains(&(expected.0.into(), expected.1.into(), expected.2)),
            "{expected:?} in {summary:?}"
        );
    }
    // One crosswalk serves both directions: asked the other way round, it is answered as
    // registered.
    let back = ok(
        s.get(
            "/api/v1/crosswalks/ethnic-group@2/ethnic-group@1",
            Some(&any),
        ),
        200,
    );
    assert_eq!(back["from"], "ethnic-group@1");
    let map = ethnic_1979_to_2008(&s);
    assert_eq!(map["04"], "06", "1979 04 Hoa is 2008 06");
    assert_eq!(map["06"], "04", "1979 06 Mường is 2008 04");
    assert_eq!(
        map.values().collect::<std::collections::HashSet<_>>().len(),
        54
    );
    s.get("/api/v1/crosswalks/ethnic-group/ethnic-group@2", Some(&any))
        .problem(400, "path-invalid");
    s.get("/api/v1/crosswalks/sex@1/ethnic-group@2", Some(&any))
        .problem(404, "crosswalk-not-found");

    // Both versions of the list are kept; the latest is the 2008 one.
    let v1 = ok(
        s.get("/api/v1/code-lists/ethnic-group?version=1", Some(&any)),
        200,
    );
    let v2 = ok(s.get("/api/v1/code-lists/ethnic-group", Some(&any)), 200);
    assert_eq!(v2["version"], 2);
    let label = |l: &Value, code: &str| {
        l["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .find(|e| e["code"] == code)
            .map(|e| e["label_vi"].as_str().expect("label").to_owned())
    };
    assert_eq!(label(&v1, "04").as_deref(), Some("Hoa"));
    assert_eq!(label(&v2, "04").as_deref(), Some("Mường"));
    let legacy = ok(
        s.get("/api/v1/code-lists/admin-ward-legacy", Some(&any)),
        200,
    );
    assert_eq!(legacy["entries"].as_array().expect("entries").len(), 10_033);

    // The population register pins the 2008 list (QCVN 109:2017/BTTTT); every coded field of
    // every schema names its list.
    let schema = ok(
        s.get(
            &format!("/api/v1/datasets/{POP}/schema"),
            Some(&s.key("auditor")),
        ),
        200,
    );
    let field = |name: &str| {
        schema["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .expect("field")
    };
    assert_eq!(field("ethnic_code")["code_list"], "ethnic-group@2");
    assert_eq!(field("ward_code")["code_list"], "admin-ward-2025@1");
    assert!(field("full_name").get("code_list").is_none());
    let exported = ok(
        s.get(
            &format!("/api/v1/datasets/{POP}/schema?format=json-schema"),
            Some(&s.key("auditor")),
        ),
        200,
    );
    assert_eq!(
        exported["properties"]["ethnic_code"]["x-ndx-code-list"], "ethnic-group@2",
        "{exported}"
    );

    // Registering crosswalks: dictionary administrators only; every code must be in its list;
    // one crosswalk per pair of lists, whichever way round.
    let steward = s.key("steward");
    let walk = |pairs: Value| json!({"from": "sex@1", "to": "ethnic-group@2", "source": "test", "pairs": pairs});
    s.put_json(
        "/api/v1/crosswalks/sex@1/ethnic-group@2",
        Some(&any),
        &walk(json!([{"from": "1", "to": "01"}])),
    )
    .problem(403, "role-required");
    s.put_json(
        "/api/v1/crosswalks/sex@1/ethnic-group@2",
        Some(&steward),
        &walk(json!([{"from": "7", "to": "01"}])),
    )
    .problem(422, "crosswalk-invalid");
    s.put_json(
        "/api/v1/crosswalks/sex@1/ethnic-group@1",
        Some(&steward),
        &walk(json!([{"from": "1", "to": "01"}])),
    )
    .problem(422, "id-mismatch");
    s.put_json(
        "/api/v1/crosswalks/ethnic-group@2/ethnic-group@1",
        Some(&steward),
        &json!({"from": "ethnic-group@2", "to": "ethnic-group@1", "pairs": [{"from": "01", "to": "01"}]}),
    )
    .problem(422, "crosswalk-invalid");
    let created = s.put_json(
        "/api/v1/crosswalks/sex@1/ethnic-group@2",
        Some(&steward),
        &walk(json!([{"from": "1", "to": "01"}])),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let again = s.put_json(
        "/api/v1/crosswalks/sex@1/ethnic-group@2",
        Some(&steward),
        &walk(json!([{"from": "1", "to": "01"}])),
    );
    assert_eq!(again.status, 200, "unchanged: {}", again.body);
}

#[test]
fn a_provider_sending_another_list_is_converted_on_ingest_and_never_guessed() {
    let s = Server::demo(20);
    let provider = s.key("population-provider");
    let page = ok(
        s.get(
            &format!("/api/v1/datasets/{POP}/records?limit=1"),
            Some(&provider),
        ),
        200,
    );
    let key = page["records"][0]["key"].as_str().expect("key").to_owned();
    let person = page["records"][0]["data"].clone();
    let with = |field: &str, value: &str| {
        let mut p = person.clone();
        p[field] = json!(value);
        p
    };
    let version = |s: &Server| {
        stored(s, POP, &provider, &key)["version"]
            .as_u64()
            .expect("v")
    };
    let before = version(&s);

    // Refusals change nothing: a malformed header, a list that no field uses, a code the named
    // list does not have, a pre-2025 ward that was split between several 2025 wards.
    post_ndjson(
        &s,
        POP,
        &provider,
        Some("ethnic-group"),
        &[with("ethnic_code", "04")],
    )
    .problem(400, "header-invalid");
    post_ndjson(
        &s,
        POP,
        &provider,
        Some("ethnic-group@1, ethnic-group@2"),
        std::slice::from_ref(&person),
    )
    .problem(400, "header-invalid");
    let p = post_ndjson(
        &s,
        POP,
        &provider,
        Some("purpose@1"),
        std::slice::from_ref(&person),
    )
    .problem(422, "code-list-not-applicable");
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("purpose@1")),
        "{p}"
    );
    post_ndjson(
        &s,
        POP,
        &provider,
        Some("ethnic-group@7"),
        std::slice::from_ref(&person),
    )
    .problem(422, "code-list-not-applicable");
    let p = post_ndjson(
        &s,
        POP,
        &provider,
        Some("ethnic-group@1"),
        &[with("ethnic_code", "55")],
    )
    .problem(422, "batch-rejected");
    assert_eq!(p["report"]["errors"][0]["code"], "code-unknown", "{p}");
    assert_eq!(p["report"]["errors"][0]["field"], "ethnic_code", "{p}");
    let split = ndx_types::reference::ward_conversions()
        .windows(2)
        .find(|w| w[0].old_ward_code == w[1].old_ward_code)
        .map(|w| w[0].old_ward_code.clone())
        .expect("a split ward");
    let p = post_ndjson(
        &s,
        POP,
        &provider,
        Some("admin-ward-legacy@1"),
        &[with("ward_code", &split)],
    )
    .problem(422, "batch-rejected");
    let e = &p["report"]["errors"][0];
    assert_eq!(e["code"], "code-ambiguous", "{p}");
    let candidates: Vec<String> = ndx_types::reference::ward_conversions_from(&split)
        .iter()
        .map(|c| c.new_ward_code.clone())
        .collect();
    for c in &candidates {
        assert!(
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains(c.as_str())),
            "{e}"
        );
    }
    assert_eq!(version(&s), before, "nothing was written");

    // 1979's 04 is Hoa: stored as the population's 2008 code, 06.
    let r = post_ndjson(
        &s,
        POP,
        &provider,
        Some("ethnic-group@1"),
        &[with("ethnic_code", "04")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let now = stored(&s, POP, &provider, &key);
    assert_eq!(now["data"]["ethnic_code"], "06");
    assert_eq!(now["version"].as_u64(), Some(before + 1));
    // Without the header, 04 is read in the dataset's own list: Mường.
    let r = post_ndjson(&s, POP, &provider, None, &[with("ethnic_code", "04")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        stored(&s, POP, &provider, &key)["data"]["ethnic_code"],
        "04"
    );
    // Naming the dataset's own list changes nothing.
    let r = post_ndjson(
        &s,
        POP,
        &provider,
        Some("ethnic-group@2"),
        &[with("ethnic_code", "06")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        stored(&s, POP, &provider, &key)["data"]["ethnic_code"],
        "06"
    );
}

#[test]
fn a_dataset_keeps_pre_2025_wards_and_a_consumer_is_answered_in_its_list() {
    let s = Server::demo(20);
    let steward = s.key("steward");
    let provider = s.key("population-provider");
    let schema = |ward_list: &str| {
        json!({
            "dataset": "old-residences",
            "title_vi": "Nơi cư trú cũ",
            "title_en": "Former residences",
            "owner": "BCA",
            "openness": "restricted",
            "importance": "ordinary",
            "key": ["residence_id"],
            "fields": [
                {"name": "residence_id", "element": "identifier", "required": true, "sensitivity": "internal"},
                {"name": "ward_code", "element": "ward-code", "required": true, "sensitivity": "internal", "code_list": ward_list},
            ],
        })
    };
    // A list that is neither the element's nor joined to it is refused.
    for (list, why) in [
        ("ethnic-group@1", "code-list-not-applicable"),
        ("admin-ward-legacy@9", "code-list-unknown"),
    ] {
        let p = s
            .post_json("/api/v1/datasets", Some(&steward), &schema(list))
            .problem(422, "definition-invalid");
        assert_eq!(p["errors"][0]["code"], why, "{p}");
        assert_eq!(p["errors"][0]["field"], "ward_code.code_list", "{p}");
    }
    s.post_json(
        "/api/v1/datasets",
        Some(&steward),
        &schema("admin-ward-legacy"),
    )
    .problem(422, "body-invalid");
    let created = ok(
        s.post_json(
            "/api/v1/datasets",
            Some(&steward),
            &schema("admin-ward-legacy@1"),
        ),
        201,
    );
    assert_eq!(
        created["schema"]["fields"][1]["code_list"], "admin-ward-legacy@1",
        "{created}"
    );
    let old = ndx_types::reference::ward_conversions()[0]
        .old_ward_code
        .clone();
    let r = post_ndjson(
        &s,
        "old-residences",
        &provider,
        None,
        &[json!({"residence_id": "R1", "ward_code": old})],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // A 2025-only code is not a pre-2025 ward.
    let only_2025 = ndx_types::reference::wards_2025()
        .iter()
        .map(|w| w.code.clone())
        .find(|c| ndx_types::reference::ward_conversions_from(c).is_empty())
        .expect("a 2025 code that was no pre-2025 ward");
    let p = post_ndjson(
        &s,
        "old-residences",
        &provider,
        None,
        &[json!({"residence_id": "R2", "ward_code": only_2025})],
    )
    .problem(422, "batch-rejected");
    let e = &p["report"]["errors"][0];
    assert_eq!(e["code"], "code-unknown");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("admin-ward-legacy@1")),
        "{e}"
    );
    // Moving the dataset to another list would re-read its stored codes: a breaking change.
    s.put_json(
        "/api/v1/datasets/old-residences/schema",
        Some(&steward),
        &schema("admin-ward-2025@1"),
    )
    .problem(409, "schema-breaking-change");
    // Registering it again without the pin keeps the pin.
    let mut unpinned = schema("admin-ward-legacy@1");
    unpinned["fields"][1]
        .as_object_mut()
        .expect("field")
        .remove("code_list");
    let same = ok(
        s.put_json(
            "/api/v1/datasets/old-residences/schema",
            Some(&steward),
            &unpinned,
        ),
        200,
    );
    assert_eq!(same["created"], false, "{same}");

    // A consumer answered in the 1979 list: the citizen consents to the agreement that
    // releases the ethnic group, and the lookup names the list it reads.
    let token = s.key("citizen");
    let citizen = token
        .strip_prefix("ndxc_")
        .and_then(|t| t.split_once('.'))
        .expect("citizen token")
        .0
        .to_owned();
    let hcmc = s.key("consumer-79");
    let agreements = ok(s.get("/api/v1/agreements", Some(&hcmc)), 200);
    let social = agreements
        .as_array()
        .expect("list")
        .iter()
        .find(|a| a["purpose"] == "social-insurance")
        .expect("the consent-bound agreement")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    ok(
        s.post_json(
            &format!("/api/v1/subjects/{citizen}/consents"),
            Some(&token),
            &json!({"agreement": social}),
        ),
        201,
    );
    let path = format!("/api/v1/exchange/datasets/{POP}/records/{citizen}");
    let ask = |lists: Option<&str>| {
        let mut h = vec![("Ndx-Purpose", "social-insurance")];
        if let Some(l) = lists {
            h.push(("Ndx-Code-Lists", l));
        }
        s.request("GET", &path, Some(&hcmc), &h, None)
    };
    let plain = ask(None);
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert_eq!(plain.header("ndx-code-lists"), Some("ethnic-group@2"));
    let code_2008 = plain.json()["data"]["ethnic_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let in_1979 = ask(Some("ethnic-group@1"));
    assert_eq!(in_1979.status, 200, "{}", in_1979.body);
    assert_eq!(in_1979.header("ndx-code-lists"), Some("ethnic-group@1"));
    let code_1979 = in_1979.json()["data"]["ethnic_code"]
        .as_str()
        .expect("code")
        .to_owned();
    assert_eq!(ethnic_1979_to_2008(&s)[&code_1979], code_2008);
    // A 2025 ward has no single pre-2025 ward: answering in that list is refused, and audited.
    let p = ask(Some("admin-ward-legacy@1")).problem(422, "code-list-not-applicable");
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("ward_code")),
        "{p}"
    );
    ask(Some("not a list")).problem(400, "header-invalid");
}
