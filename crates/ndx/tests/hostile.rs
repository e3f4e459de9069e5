//! Hostile keys get the same precise 4xx on every engine (issue 11): a NUL byte anywhere in a
//! path or a cursor, a record key longer than `MAX_KEY_BYTES` (PostgreSQL's index refuses rows
//! above about 2,700 bytes and used to answer `503 store-unavailable`, "retry later"), and a
//! control character in a key. `.ci/run` runs this file on PostgreSQL too.

mod common;

use common::Server;
use serde_json::{Value, json};

const POP: &str = "population";
const MAX_KEY_BYTES: usize = 1024;

#[test]
fn a_nul_byte_anywhere_in_a_path_is_a_precise_4xx() {
    let s = Server::demo(50);
    let consumer = s.key("consumer-01");
    let provider = s.key("population-provider");
    let operator = s.key("operator");
    let records = format!("/api/v1/datasets/{POP}/records");
    let paths = [
        "/api/v1/datasets/%00".to_owned(),
        "/api/v1/datasets/%00/schema".to_owned(),
        "/api/v1/datasets/pop%00ulation/schema/versions".to_owned(),
        "/api/v1/members/%00".to_owned(),
        "/api/v1/systems/%00".to_owned(),
        "/api/v1/systems/BCA%00/keys".to_owned(),
        "/api/v1/dictionary/elements/%00".to_owned(),
        "/api/v1/dictionary/elements/sex%0a".to_owned(),
        "/api/v1/code-lists/%00".to_owned(),
        "/api/v1/code-lists/sex%00/versions".to_owned(),
        format!("{records}/%00"),
        format!("{records}/00109%000001"),
        format!("{records}/00109%000001/history"),
        format!("{records}/%7f"),
    ];
    for path in &paths {
        for key in [&consumer, &provider, &operator] {
            let p = s.get(path, Some(key)).problem(400, "path-invalid");
            assert!(
                p["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("control character")),
                "{path}: {p}"
            );
        }
        s.request("DELETE", path, Some(&provider), &[], None)
            .problem(400, "path-invalid");
    }
    for q in ["cursor=00", "cursor=%00", "full_name=a%00b"] {
        let r = s.get(&format!("{records}?{q}"), Some(&provider));
        assert!(
            r.status == 422 && !r.body.contains("store-unavailable"),
            "{q}: {} {}",
            r.status,
            r.body
        );
    }
    // Nothing of it reached the store as an outage.
    assert_eq!(s.get("/health", None).status, 200);
}

#[test]
fn a_record_key_longer_than_the_limit_is_refused_alike_and_the_longest_one_is_stored() {
    let s = Server::demo(50);
    let steward = s.key("steward");
    let provider = s.key("population-provider");
    let created = s.post_json(
        "/api/v1/dictionary/elements",
        Some(&steward),
        &json!({
            "id": "free-reference", "name_vi": "Số tham chiếu", "name_en": "Free reference",
            "definition": "A reference of any length", "type": "string", "max_length": 4000,
        }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let dataset = json!({
        "dataset": "references",
        "title_vi": "Tham chiếu", "title_en": "References",
        "description": "long keys", "owner": "BCA",
        "original": true, "openness": "restricted", "importance": "ordinary",
        "key": ["reference"],
        "fields": [
            {"name": "reference", "element": "free-reference", "required": true, "sensitivity": "internal"},
        ],
    });
    let r = s.post_json("/api/v1/datasets", Some(&steward), &dataset);
    assert_eq!(r.status, 201, "{}", r.body);

    let longest = "k".repeat(MAX_KEY_BYTES);
    let too_long = "k".repeat(MAX_KEY_BYTES + 1);
    // Three-byte characters: 9,000 bytes, above PostgreSQL's index row limit.
    let far_too_long = "ạ".repeat(3_000);
    let csv = format!("reference\n{longest}\n{too_long}\n{far_too_long}\nshort\n");
    let r = s.ingest(
        "references",
        "?mode=per-record",
        &provider,
        "text/csv",
        csv.as_bytes(),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let report = r.json();
    assert_eq!(report["created"], 2, "{report}");
    assert_eq!(report["rejected"], 2, "{report}");
    let errors: Vec<&Value> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .collect();
    assert_eq!(errors.len(), 2, "{report}");
    for (e, record) in errors.iter().zip([2, 3]) {
        assert_eq!(e["code"], "key-invalid", "{e}");
        assert_eq!(e["record"], record, "{e}");
        assert!(
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("at most 1024")),
            "{e}"
        );
    }
    // The atomic mode refuses the whole batch, with the same record error.
    let r = s.ingest(
        "references",
        "",
        &provider,
        "text/csv",
        format!("reference\nfresh\n{too_long}\n").as_bytes(),
        None,
    );
    let p = r.problem(422, "batch-rejected");
    assert!(p.to_string().contains("key-invalid"), "{p}");

    let records = "/api/v1/datasets/references/records";
    let got = s.get(&format!("{records}/{longest}"), Some(&provider));
    assert_eq!(got.status, 200, "{}", got.body);
    // Past PostgreSQL's index row limit, within the request-target limit.
    let past_index_limit = "k".repeat(3_000);
    for key in [&too_long, &past_index_limit] {
        s.get(&format!("{records}/{key}"), Some(&provider))
            .problem(422, "key-invalid");
        s.request(
            "DELETE",
            &format!("{records}/{key}"),
            Some(&provider),
            &[],
            None,
        )
        .problem(422, "key-invalid");
    }
    let list = s.get(records, Some(&provider)).json();
    assert_eq!(
        list["records"].as_array().expect("records").len(),
        2,
        "{list}"
    );
}
