//! The node's published descriptions (issue 15): the open-data catalogue as DCAT-AP 3 in
//! JSON-LD and Turtle, checked by rdflib (an implementation independent of ndx's), and the
//! strategy's lists of original, master, open and shared data, nationally and per agency.

mod common;

use common::Server;
use serde_json::{Value, json};

/// A demo with two packages published: population counts (of a restricted dataset) and a
/// directory of businesses.
fn published() -> Server {
    let s = Server::demo_with(300, &["--no-open-data"]);
    for (key, name, body) in [
        (
            "population-provider",
            "dan-so-theo-tinh",
            json!({
                "title_vi": "Dân số theo tỉnh và giới tính",
                "title_en": "Population by province and sex",
                "description_vi": "Số người theo tỉnh, giới tính",
                "description_en": "People by province and sex",
                "licence": "cc-by-4.0",
                "keywords": ["dân số", "Hà Nội"],
                "theme": "SOCI",
                "publisher": "BCA",
                "contact": {"name": "Cục C06", "email": "opendata@bca.gov.vn"},
                "spatial": ["01", "79"],
                "temporal": {"start": "2025-07-01"},
                "frequency": "monthly",
                "view": {"dataset": "population", "shape": "counts", "columns": [
                    {"name": "province", "field": "province_code"}, {"name": "sex", "field": "sex"}]},
            }),
        ),
        (
            "business-provider",
            "danh-ba-doanh-nghiep",
            json!({
                "title_vi": "Danh bạ doanh nghiệp",
                "title_en": "Business directory",
                "licence": "cc0-1.0",
                "keywords": ["doanh nghiệp"],
                "theme": "ECON",
                "publisher": "BTC",
                "contact": {"name": "BTC", "email": "opendata@mof.gov.vn"},
                "view": {"dataset": "businesses", "columns": [
                    {"name": "tax_code", "field": "tax_code"}, {"name": "name", "field": "name"}]},
            }),
        ),
    ] {
        let provider = s.key(key);
        let mut body = body;
        body["name"] = json!(name);
        let r = s.put_json(&format!("/api/v1/packages/{name}"), Some(&provider), &body);
        assert_eq!(r.status, 201, "{}", r.body);
        let r = s.request(
            "POST",
            &format!("/api/v1/packages/{name}/releases"),
            Some(&provider),
            &[],
            None,
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    s
}

/// The object of the catalogue's `dct:publisher` in a Turtle document (its statements may
/// be split into several blocks).
fn catalogue_publisher(turtle: &str) -> String {
    let statements: Vec<&str> = turtle.split(" .\n").collect();
    let subject = statements
        .iter()
        .find_map(|st| st.trim_start().split_once(" a dcat:Catalog"))
        .map(|(subject, _)| subject.trim_start().to_owned())
        .expect("a catalogue");
    let found: Vec<String> = statements
        .iter()
        .map(|st| st.trim_start())
        .filter(|st| st.starts_with(&format!("{subject} ")))
        .filter_map(|st| st.split("dct:publisher ").nth(1))
        .filter_map(|after| after.split([' ', ';', '\n']).next())
        .map(str::to_owned)
        .collect();
    assert_eq!(found.len(), 1, "one publisher of {subject}: {found:?}");
    found[0].clone()
}

#[test]
fn a_node_without_an_operator_publishes_as_itself() {
    let s = published();
    let dir = s.stop_into_dir();
    let s = Server::serve_dir(dir);
    assert_eq!(
        catalogue_publisher(&s.get("/catalog.ttl", None).body),
        format!("<{}/#node>", s.base_url())
    );
    let list = s.get("/api/v1/data-lists/open.ttl", None).body;
    assert_eq!(
        catalogue_publisher(&list),
        format!("<{}/#node>", s.base_url())
    );
}

fn datasets(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|d| d["dataset"].as_str().expect("dataset").to_owned())
        .collect()
}

#[test]
fn the_catalogue_is_dcat_ap_in_both_forms() {
    let s = published();
    let r = s.get("/catalog.ttl", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/turtle; charset=utf-8"));
    for needle in [
        "dcat:Catalog",
        "dcat:Dataset",
        "dcat:Distribution",
        "\"Dân số theo tỉnh và giới tính\"@vi",
        "<http://publications.europa.eu/resource/authority/data-theme/SOCI>",
        "<http://publications.europa.eu/resource/authority/file-type/PARQUET>",
        "<http://publications.europa.eu/resource/authority/frequency/MONTHLY>",
        "<http://creativecommons.org/licenses/by/4.0/>",
        "<mailto:opendata@bca.gov.vn>",
        "spdx:checksumAlgorithm_sha256",
        "\"2025-07-01\"^^xsd:date",
    ] {
        assert!(r.body.contains(needle), "{needle} in {}", r.body);
    }
    let r = s.get("/catalog.jsonld", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/ld+json"));
    let doc = r.json();
    assert!(
        doc["@context"]["dcat"] == "http://www.w3.org/ns/dcat#",
        "{doc}"
    );
    assert!(doc["@graph"].as_array().is_some_and(|g| !g.is_empty()));
    // The national catalogue is published by the node's operator, the demo's Ministry of
    // Public Security, as a registered agent.
    assert_eq!(
        catalogue_publisher(&s.get("/catalog.ttl", None).body),
        format!("<{}/api/v1/members/bca>", s.base_url())
    );
    // Subjects follow the address the client used (a harvester behind a proxy).
    let r = s.request(
        "GET",
        "/catalog.ttl",
        None,
        &[
            ("Host", "data.example.gov.vn"),
            ("X-Forwarded-Proto", "https"),
        ],
        None,
    );
    assert!(
        r.body
            .contains("<https://data.example.gov.vn/api/v1/packages/dan-so-theo-tinh>"),
        "{}",
        r.body
    );
}

#[test]
fn rdflib_parses_the_catalogue_and_the_lists_and_finds_every_mandatory_property() {
    if !common::python_module("rdflib", "rdflib==7.1.4") {
        return;
    }
    let s = published();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/check_dcat.py");
    let out = std::process::Command::new("python3")
        .args([script, s.base_url(), "2"])
        .output()
        .expect("python3");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rdflib: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "same graph",
        "mandatory and recommended properties of 2 datasets",
        "checksums of 6 downloads",
        "list original",
        "list shared",
    ] {
        assert!(said.contains(step), "{step} in {said}");
    }
}

#[test]
fn the_strategy_lists_follow_the_dictionary_nationally_and_per_agency() {
    let s = published();
    let index = s.get("/api/v1/data-lists", None).ok(200);
    let count = |list: &str| {
        index
            .as_array()
            .expect("lists")
            .iter()
            .find(|l| l["list"] == list)
            .map(|l| l["datasets"].clone())
            .expect("list")
    };
    let original = s.get("/api/v1/data-lists/original.json", None).ok(200);
    assert_eq!(
        count("original"),
        original.as_array().map(Vec::len).expect("n")
    );
    assert!(datasets(&original).contains(&"population".to_owned()));
    assert_eq!(
        datasets(&s.get("/api/v1/data-lists/master.json", None).ok(200)),
        ["admin-units", "businesses", "population"]
    );
    // Open: open datasets, and those packages are published from (population is restricted,
    // its counts are open).
    assert_eq!(
        datasets(&s.get("/api/v1/data-lists/open.json", None).ok(200)),
        ["admin-units", "businesses", "population"]
    );
    let shared = datasets(&s.get("/api/v1/data-lists/shared.json", None).ok(200));
    assert!(shared.contains(&"businesses".to_owned()));
    assert!(
        !shared.contains(&"population".to_owned()),
        "restricted: {shared:?}"
    );
    // One agency's list.
    let bca = s
        .get("/api/v1/data-lists/original.json?member=BCA", None)
        .ok(200);
    assert!(
        bca.as_array()
            .expect("list")
            .iter()
            .all(|d| d["owner"] == "BCA")
    );
    assert!(datasets(&bca).contains(&"population".to_owned()));
    let r = s.get("/api/v1/data-lists/open.json?member=BCA", None);
    assert_eq!(r.json()[0]["packages"], json!(["dan-so-theo-tinh"]));
    // CSV, with its header.
    let r = s.get("/api/v1/data-lists/master.csv", None);
    assert_eq!(r.status, 200);
    assert!(
        r.body.starts_with(
            "dataset,title_vi,title_en,description,owner,owner_name_vi,owner_name_en,original,master,openness,schema_version,packages\n"
        ),
        "{}",
        r.body
    );
    assert_eq!(r.body.lines().count(), 4);
    // The flag follows the dictionary: a schema change takes civil servants onto the list.
    let steward = s.key("steward");
    let mut schema = s
        .get("/api/v1/datasets/civil-servants/schema", Some(&steward))
        .ok(200);
    schema["master"] = json!(true);
    for k in ["version", "code_lists"] {
        if let Some(o) = schema.as_object_mut() {
            o.remove(k);
        }
    }
    let r = s.put_json(
        "/api/v1/datasets/civil-servants/schema",
        Some(&steward),
        &schema,
    );
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
    assert_eq!(
        datasets(&s.get("/api/v1/data-lists/master.json", None).ok(200)),
        ["admin-units", "businesses", "civil-servants", "population"]
    );

    // Precise refusals.
    s.get("/api/v1/data-lists/secret.json", None)
        .problem(404, "data-list-not-found");
    s.get("/api/v1/data-lists/original.xml", None)
        .problem(404, "data-list-not-found");
    s.get("/api/v1/data-lists/original", None)
        .problem(404, "data-list-not-found");
    s.get("/api/v1/data-lists/original.json?member=NOPE", None)
        .problem(404, "member-not-found");
    s.get("/api/v1/data-lists/original.json?owner=BCA", None)
        .problem(400, "query-invalid");
}

#[test]
fn the_demo_publishes_real_looking_packages() {
    let s = Server::demo(300);
    let names: Vec<String> =
        serde_json::from_value(s.get("/api/3/action/package_list", None).ok(200)["result"].clone())
            .expect("names");
    assert_eq!(
        names,
        [
            "dan-so-theo-tinh-do-tuoi-gioi-tinh",
            "doanh-nghiep-theo-tinh-nganh-kinh-te",
            "don-vi-hanh-chinh-2025",
            "mau-du-lieu-dan-cu-an-danh",
        ]
    );
    for name in &names {
        let release = s
            .get(&format!("/api/v1/packages/{name}/releases/1"), None)
            .ok(200);
        assert_eq!(release["files"].as_array().map(Vec::len), Some(3));
        // 300 citizens by province, 5-year age group and sex: every cell is under k = 5, so
        // every cell is suppressed; the other packages have rows.
        if name == "dan-so-theo-tinh-do-tuoi-gioi-tinh" {
            assert!(
                release["privacy"]["suppressed"].as_u64() > Some(0),
                "{release}"
            );
            let counts = s
                .get(
                    "/api/3/action/datastore_search?resource_id=dan-so-theo-tinh-do-tuoi-gioi-tinh-r1-csv&limit=32000",
                    None,
                )
                .ok(200);
            assert!(
                counts["result"]["records"]
                    .as_array()
                    .expect("records")
                    .iter()
                    .all(|r| r["count"].as_u64() >= Some(5)),
                "{counts}"
            );
        } else {
            assert!(release["rows"].as_u64().is_some_and(|n| n > 0), "{release}");
        }
    }
    // The micro-data sample is anonymised: direct identifiers never, k and l reached.
    let sample = s
        .get(
            "/api/v1/packages/mau-du-lieu-dan-cu-an-danh/releases/1",
            None,
        )
        .ok(200);
    assert_eq!(
        sample["columns"],
        json!(["born", "sex", "province", "ethnic_group"])
    );
    assert!(
        sample["privacy"]["achieved_k"].as_u64() >= Some(5),
        "{sample}"
    );
    assert!(
        sample["privacy"]["achieved_l"].as_u64() >= Some(2),
        "{sample}"
    );
    // A tenth of the 300 people, not all of them.
    let rows = sample["rows"].as_u64().unwrap_or(0);
    assert!((5..=60).contains(&rows), "{rows} rows of 300 people");
    let package = s
        .get("/api/v1/packages/mau-du-lieu-dan-cu-an-danh", None)
        .ok(200);
    assert_eq!(package["view"]["sample"], json!(0.1), "{package}");
    // Businesses by industry section: every section is a VSIC 2018 letter.
    let firms = s
        .get(
            "/api/3/action/datastore_search?resource_id=doanh-nghiep-theo-tinh-nganh-kinh-te-r1-csv&limit=32000",
            None,
        )
        .ok(200);
    let records = firms["result"]["records"].as_array().expect("records");
    assert!(!records.is_empty(), "{firms}");
    for r in records {
        let section = r["industry_section"].as_str().unwrap_or_default();
        assert!(section.len() == 1 && ("A"..="U").contains(&section), "{r}");
    }
    // Every 2025 administrative unit, searchable without diacritics.
    let units = s
        .get(
            "/api/3/action/datastore_search?resource_id=don-vi-hanh-chinh-2025-r1-csv&q=ba%20dinh",
            None,
        )
        .ok(200);
    assert!(
        units["result"]["records"]
            .as_array()
            .expect("records")
            .iter()
            .any(|r| r["ward_name"] == "Phường Ba Đình" && r["province_code"] == "01"),
        "{units}"
    );
    // Whole words: every unit found holds "ba" and "dinh" as words, never inside another.
    for r in units["result"]["records"].as_array().expect("records") {
        let row = format!("{} {}", r["ward_name"], r["province_name"]).to_lowercase();
        let words: Vec<&str> = row.split(|c: char| !c.is_alphanumeric()).collect();
        assert!(
            words.contains(&"ba") && (words.contains(&"đình") || words.contains(&"dinh")),
            "{r}"
        );
    }
    let all = s
        .get(
            "/api/3/action/datastore_search?resource_id=don-vi-hanh-chinh-2025-r1-csv&limit=0",
            None,
        )
        .ok(200);
    assert_eq!(all["result"]["total"], 3321);
    // The lists know the new master data.
    assert!(
        datasets(&s.get("/api/v1/data-lists/master.json", None).ok(200))
            .contains(&"admin-units".to_owned())
    );
}
