//! End-to-end tests of the owner's view of a dataset: one record with its lineage, history,
//! as-of reads, deletion (tombstones), the filtered list with cursor pagination, inert
//! handling of injection-looking input, and who may read.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use common::{Resp, Server};
use serde_json::{Map, Value, json};

const POP: &str = "population";
const NDJSON: &str = "application/x-ndjson";
use common::POPULATION_FIELDS as FIELDS;

use common::cid;

/// A valid citizen of Hà Nội born in 1905 (the demo country is born 1930 or later, so these
/// keys are never demo keys). Odd serials are women.
fn person(serial: u32) -> Value {
    let female = serial % 2 == 1;
    json!({
        "citizen_id": cid("001", female, 1905, serial),
        "full_name": if female { format!("Trần Thị Đọc {serial}") } else { format!("Lê Văn Đọc {serial}") },
        "sex": if female { "2" } else { "1" },
        "date_of_birth": "1905-07-01",
        "province_code": "01",
        "ward_code": "00004",
    })
}

fn with(mut row: Value, field: &str, value: impl Into<Value>) -> Value {
    row[field] = value.into();
    row
}

fn id_of(row: &Value) -> String {
    row["citizen_id"].as_str().expect("citizen_id").to_owned()
}

fn stored_form(row: &Value) -> Value {
    let mut m = Map::new();
    for f in FIELDS {
        if let Some(v) = row.get(f) {
            m.insert(f.to_string(), v.clone());
        }
    }
    Value::Object(m)
}

/// Percent-encodes everything but unreserved characters.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Loads rows as one NDJSON batch and returns the report.
fn load(s: &Server, key: &str, rows: &[Value], batch_id: Option<&str>) -> Value {
    let mut body = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut body, r).expect("json");
        body.push(b'\n');
    }
    let r = s.ingest(POP, "", key, NDJSON, &body, batch_id);
    assert_eq!(r.status, 200, "load: {}", r.body);
    r.json()
}

fn rec_path(id: &str) -> String {
    format!("/api/v1/datasets/{POP}/records/{}", enc(id))
}

fn get_rec(s: &Server, key: &str, id: &str) -> Resp {
    s.get(&rec_path(id), Some(key))
}

fn as_of(s: &Server, key: &str, id: &str, t: &str) -> Resp {
    s.get(&format!("{}?as_of={}", rec_path(id), enc(t)), Some(key))
}

fn history(s: &Server, key: &str, id: &str) -> Vec<Value> {
    let r = s.get(&format!("{}/history", rec_path(id)), Some(key));
    assert_eq!(r.status, 200, "history of {id}: {}", r.body);
    r.json().as_array().expect("array").clone()
}

fn delete(s: &Server, key: &str, id: &str, idem: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = idem.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    s.request("DELETE", &rec_path(id), Some(key), &headers, None)
}

fn count(s: &Server, key: &str) -> u64 {
    let r = s.get(&format!("/api/v1/datasets/{POP}"), Some(key));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["records"].as_u64().expect("records")
}

fn list(s: &Server, key: &str, query: &str) -> Resp {
    s.get(
        &format!("/api/v1/datasets/{POP}/records?{query}"),
        Some(key),
    )
}

/// Every page of a list query; returns the pages.
fn pages(s: &Server, key: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{query}&cursor={c}"),
            None => query.to_owned(),
        };
        let r = list(s, key, &q);
        assert_eq!(r.status, 200, "list {q}: {}", r.body);
        let page = r.json();
        cursor = page
            .get("next_cursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        out.push(page);
        assert!(out.len() < 10_000, "pagination does not end");
        if cursor.is_none() {
            return out;
        }
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn keys_of(pages: &[Value]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p["records"].as_array().expect("records").iter())
        .map(|r| r["key"].as_str().expect("key").to_owned())
        .collect()
}

fn records_of(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| p["records"].as_array().expect("records").iter().cloned())
        .collect()
}

fn assert_strictly_ascending(keys: &[String]) {
    for w in keys.windows(2) {
        assert!(
            w[0] < w[1],
            "keys out of order or repeated: {} then {}",
            w[0],
            w[1]
        );
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v["recorded_at"].as_str().expect("recorded_at"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn micro() -> chrono::Duration {
    chrono::Duration::microseconds(1)
}

// ---------------------------------------------------------------------------------------------

#[test]
fn one_record_carries_its_data_and_lineage() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let row = with(person(11), "street_address", "Số 3 phố Đội Cấn");
    let before = Utc::now();
    let rep = load(
        &s,
        &key,
        std::slice::from_ref(&row),
        Some("nhap-2025-07-01"),
    );
    let after = Utc::now();
    assert_eq!(rep["created"], 1);

    let r = get_rec(&s, &key, &id_of(&row));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["key"], id_of(&row).as_str());
    assert_eq!(v["version"], 1);
    assert_eq!(v["data"], stored_form(&row));
    assert_eq!(v["source_system"], "BCA-POPULATION");
    assert_eq!(v["batch_id"], "nhap-2025-07-01");
    assert_eq!(v["schema_version"], "1.0");
    assert_eq!(v["deleted"], false);
    let hash = v["content_hash"].as_str().expect("content_hash");
    assert_eq!(hash.len(), 64, "{hash}");
    assert!(
        hash.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{hash}"
    );
    let t = time(&v);
    assert!(
        t >= before - chrono::Duration::seconds(1) && t <= after + chrono::Duration::seconds(1),
        "recorded_at {t} outside [{before}, {after}]"
    );

    // A demo record carries the demo loader's lineage.
    let page = list(&s, &key, "limit=1").json();
    let demo = &page["records"][0];
    assert!(
        demo["batch_id"]
            .as_str()
            .is_some_and(|b| b.starts_with("demo-population-")),
        "{demo}"
    );
    assert_eq!(demo["source_system"], "BCA-POPULATION");
    let again = get_rec(&s, &key, demo["key"].as_str().unwrap()).json();
    assert_eq!(&again, demo, "the list and the record agree");

    // Unknowns.
    get_rec(&s, &key, &id_of(&person(12))).problem(404, "record-not-found");
    s.get(
        &format!("{}/history", rec_path(&id_of(&person(12)))),
        Some(&key),
    )
    .problem(404, "record-not-found");
    s.get(
        &format!("/api/v1/datasets/nope/records/{}", id_of(&row)),
        Some(&key),
    )
    .problem(404, "dataset-not-found");
    s.get(&format!("{}?version=1", rec_path(&id_of(&row))), Some(&key))
        .problem(400, "query-invalid");
}

#[test]
fn history_is_newest_first_and_as_of_reads_the_version_then_current() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let v1 = person(21);
    let v2 = with(v1.clone(), "full_name", "Trần Thị Đổi");
    let v3 = with(v2.clone(), "street_address", "Số 8 ngõ 4");
    for (i, row) in [&v1, &v2, &v3].into_iter().enumerate() {
        let rep = load(
            &s,
            &key,
            std::slice::from_ref(row),
            Some(&format!("h-{}", i + 1)),
        );
        assert_eq!(
            rep["created"].as_u64().unwrap() + rep["updated"].as_u64().unwrap(),
            1
        );
    }
    let id = id_of(&v1);
    let h = history(&s, &key, &id);
    assert_eq!(
        h.iter()
            .map(|v| v["version"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [3, 2, 1]
    );
    assert_eq!(
        h.iter()
            .map(|v| v["batch_id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["h-3", "h-2", "h-1"]
    );
    assert_eq!(h[0]["data"], stored_form(&v3));
    assert_eq!(h[1]["data"], stored_form(&v2));
    assert_eq!(h[2]["data"], stored_form(&v1));
    assert!(
        h.iter()
            .all(|v| v["deleted"] == false && v["key"] == id.as_str())
    );
    let hashes: BTreeSet<&str> = h
        .iter()
        .map(|v| v["content_hash"].as_str().unwrap())
        .collect();
    assert_eq!(hashes.len(), 3, "each version has its own content hash");
    let (t3, t2, t1) = (time(&h[0]), time(&h[1]), time(&h[2]));
    assert!(t1 < t2 && t2 < t3, "{t1} {t2} {t3}");

    let current = get_rec(&s, &key, &id).json();
    assert_eq!(current, h[0]);

    let at = |t: DateTime<Utc>| as_of(&s, &key, &id, &fmt_time(t));
    let version_at = |t: DateTime<Utc>| {
        let r = at(t);
        assert_eq!(r.status, 200, "as_of {t}: {}", r.body);
        r.json()["version"].as_u64().unwrap()
    };
    assert_eq!(version_at(t1), 1);
    assert_eq!(version_at(t2 - micro()), 1);
    assert_eq!(version_at(t2), 2);
    assert_eq!(version_at(t3 - micro()), 2);
    assert_eq!(version_at(t3), 3);
    assert_eq!(
        as_of(&s, &key, &id, "2999-01-01T00:00:00Z").json()["version"],
        3
    );
    let old = at(t2 - micro()).json();
    assert_eq!(old, h[2], "as_of returns the whole older version");
    // The same instant in another offset.
    let t2_hanoi = t2
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap())
        .to_rfc3339_opts(SecondsFormat::Micros, false);
    assert!(t2_hanoi.ends_with("+07:00"));
    assert_eq!(as_of(&s, &key, &id, &t2_hanoi).json()["version"], 2);

    // Before the first version the record did not exist.
    at(t1 - micro()).problem(404, "record-not-found");
    as_of(&s, &key, &id, "1999-12-31T23:59:59Z").problem(404, "record-not-found");

    for bad in [
        "yesterday",
        "2025-07-01",
        "2025-13-01T00:00:00Z",
        "2025-07-01 10:00:00",
        "' OR 1=1 --",
        "",
    ] {
        as_of(&s, &key, &id, bad).problem(400, "as-of-invalid");
    }
}

#[test]
fn delete_writes_a_tombstone_and_recreating_makes_a_new_version() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let row = person(31);
    let id = id_of(&row);
    load(&s, &key, &[row.clone(), person(32)], Some("d-1"));
    let base = count(&s, &key);

    let r = delete(&s, &key, &id, Some("d-del"));
    assert_eq!(r.status, 200, "{}", r.body);
    let rep = r.json();
    assert_eq!(rep["deleted"], 1, "{rep}");
    assert_eq!(rep["created"], 0);
    assert_eq!(rep["batch_id"], "d-del");
    assert_eq!(rep["replayed"], false);
    assert_eq!(count(&s, &key), base - 1);

    get_rec(&s, &key, &id).problem(410, "record-deleted");
    let h = history(&s, &key, &id);
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["version"], 2);
    assert_eq!(h[0]["deleted"], true);
    assert!(
        h[0].get("data").is_none(),
        "a tombstone has no data: {}",
        h[0]
    );
    assert_eq!(h[0]["batch_id"], "d-del");
    assert_eq!(h[0]["source_system"], "BCA-POPULATION");
    assert_eq!(h[1]["version"], 1);
    assert_eq!(h[1]["deleted"], false);
    assert_eq!(h[1]["data"], stored_form(&row));

    // As of before the deletion the record is there; as of the deletion it is gone.
    let (t_del, t1) = (time(&h[0]), time(&h[1]));
    let old = as_of(&s, &key, &id, &fmt_time(t_del - micro()));
    assert_eq!(old.status, 200, "{}", old.body);
    assert_eq!(old.json()["version"], 1);
    as_of(&s, &key, &id, &fmt_time(t_del)).problem(410, "record-deleted");
    as_of(&s, &key, &id, &fmt_time(t1 - micro())).problem(404, "record-not-found");

    // The list no longer shows it.
    let listed = keys_of(&pages(&s, &key, "limit=1000&date_of_birth=1905-07-01"));
    assert_eq!(listed, [id_of(&person(32))]);

    // Retrying the deletion with its key replays it; deleting again changes nothing.
    let r = delete(&s, &key, &id, Some("d-del"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["replayed"], true);
    let r = delete(&s, &key, &id, None);
    assert!(
        r.status == 404 || r.status == 410,
        "deleting a deleted record: {} {}",
        r.status,
        r.body
    );
    assert_eq!(history(&s, &key, &id).len(), 2);
    assert_eq!(count(&s, &key), base - 1);

    // Re-creating it makes version 3.
    let rep = load(&s, &key, std::slice::from_ref(&row), Some("d-2"));
    assert_eq!(rep["created"], 1, "{rep}");
    let v = get_rec(&s, &key, &id).json();
    assert_eq!(v["version"], 3);
    assert_eq!(v["data"], stored_form(&row));
    assert_eq!(
        history(&s, &key, &id)
            .iter()
            .map(|v| (
                v["version"].as_u64().unwrap(),
                v["deleted"].as_bool().unwrap()
            ))
            .collect::<Vec<_>>(),
        [(3, false), (2, true), (1, false)]
    );
    assert_eq!(count(&s, &key), base);

    // Unknown record or dataset, other callers.
    delete(&s, &key, &id_of(&person(39)), None).problem(404, "record-not-found");
    s.request(
        "DELETE",
        &format!("/api/v1/datasets/nope/records/{id}"),
        Some(&key),
        &[],
        None,
    )
    .problem(404, "dataset-not-found");
    delete(&s, &s.key("consumer-01"), &id, None).problem(403, "role-required");
    delete(&s, &s.key("auditor"), &id, None).problem(403, "role-required");
    delete(&s, &s.key("civil-service-provider"), &id, None).problem(403, "not-owner");
    s.request("DELETE", &rec_path(&id), None, &[], None)
        .problem(401, "auth-missing");
    assert_eq!(get_rec(&s, &key, &id).json()["version"], 3);
    assert_eq!(count(&s, &key), base);
}

/// Regression: DELETE of an unknown record committed an empty batch under its Idempotency-Key
/// before answering 404, so the retry of the same request was answered 200 `replayed`.
#[test]
fn deleting_an_unknown_record_stays_404_when_retried_with_the_same_key() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let id = id_of(&person(41));
    delete(&s, &key, &id, Some("del-unknown")).problem(404, "record-not-found");
    delete(&s, &key, &id, Some("del-unknown")).problem(404, "record-not-found");
    // The key is still free for a real batch.
    let rep = load(&s, &key, &[person(41)], Some("del-unknown"));
    assert_eq!(rep["replayed"], false, "{rep}");
    assert_eq!(rep["created"], 1, "{rep}");
}

/// Regression: a replayed DELETE answered the stored report without the
/// `idempotent-replayed: true` header that a replayed POST carries.
#[test]
fn a_replayed_delete_says_so_in_its_header() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    load(&s, &key, &[person(43)], None);
    let first = delete(&s, &key, &id_of(&person(43)), Some("del-hdr"));
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = delete(&s, &key, &id_of(&person(43)), Some("del-hdr"));
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["replayed"], true);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}

#[test]
fn list_filters_by_typed_field_values() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    // NFC name: a filter sent in NFD must find it.
    let named = with(person(51), "full_name", "Phạm Thị Hương");
    load(&s, &key, std::slice::from_ref(&named), None);
    let all = records_of(&pages(&s, &key, "limit=1000"));
    assert_eq!(all.len() as u64, count(&s, &key));

    let expect = |pred: &dyn Fn(&Value) -> bool| -> Vec<String> {
        all.iter()
            .filter(|r| pred(&r["data"]))
            .map(|r| r["key"].as_str().unwrap().to_owned())
            .collect()
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("province_code=01", expect(&|d| d["province_code"] == "01")),
        ("sex=2", expect(&|d| d["sex"] == "2")),
        (
            "province_code=01&sex=2",
            expect(&|d| d["province_code"] == "01" && d["sex"] == "2"),
        ),
        (
            "sex=1&province_code=79&ethnic_code=01",
            expect(&|d| d["province_code"] == "79" && d["sex"] == "1" && d["ethnic_code"] == "01"),
        ),
        ("ward_code=00004", expect(&|d| d["ward_code"] == "00004")),
        ("date_of_birth=1905-07-01", vec![id_of(&named)]),
        ("province_code=96&sex=1&ward_code=00004", vec![]),
    ];
    for (query, want) in &cases {
        let got_records = records_of(&pages(&s, &key, &format!("limit=1000&{query}")));
        let got: Vec<String> = got_records
            .iter()
            .map(|r| r["key"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(&got, want, "{query}");
        assert_strictly_ascending(&got);
        assert!(got_records.iter().all(|r| r["deleted"] == false));
    }
    // The filters are not vacuous.
    assert!(cases[0].1.len() > 10 && cases[0].1.len() < all.len());
    assert!(cases[1].1.len() > 100 && cases[1].1.len() < all.len());
    assert!(!cases[2].1.is_empty() && cases[2].1.len() < cases[0].1.len());

    // Filter values are validated and normalised like field values.
    let nfd = "Pha\u{323}m Thi\u{323} Hu\u{31b}o\u{31b}ng";
    let found = keys_of(&pages(
        &s,
        &key,
        &format!("limit=10&full_name={}", enc(nfd)),
    ));
    assert_eq!(found, [id_of(&named)]);

    // Errors.
    list(&s, &key, "nickname=Tí").problem(422, "filter-unknown-field");
    list(&s, &key, "sex=1&nickname=Tí").problem(422, "filter-unknown-field");
    for bad in [
        "sex=5",
        "sex=",
        "province_code=99",
        "province_code=1",
        "ward_code=0004",
        "date_of_birth=1990-02-30",
        "citizen_id=123",
        "phone=123",
        "email=@",
    ] {
        list(&s, &key, bad).problem(422, "filter-value-invalid");
    }
    for bad in ["limit=0", "limit=1001"] {
        list(&s, &key, bad).problem(400, "limit-invalid");
    }
    list(&s, &key, "limit=ten").problem(400, "limit-invalid");
    list(&s, &key, "limit=-1").problem(400, "limit-invalid");
    assert_eq!(
        list(&s, &key, "limit=1000").json()["records"]
            .as_array()
            .unwrap()
            .len(),
        1000
    );
    for bad in ["zz", "abc", "ff", "%20", "00", "%00"] {
        list(&s, &key, &format!("cursor={bad}")).problem(422, "cursor-invalid");
    }
    // Cursors are authenticated: the hex of a key that exists, or a genuine cursor with one
    // character changed, is not one this server issued.
    let page = list(&s, &key, "limit=2").json();
    let second = page["records"][1]["key"].as_str().expect("key").to_owned();
    let genuine = page["next_cursor"].as_str().expect("cursor").to_owned();
    list(&s, &key, &format!("cursor={}", hex(&second))).problem(422, "cursor-invalid");
    let mut forged = genuine.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).expect("ascii");
    list(&s, &key, &format!("cursor={forged}")).problem(422, "cursor-invalid");
    let resumed = list(&s, &key, &format!("limit=1&cursor={genuine}")).json();
    assert!(
        resumed["records"][0]["key"].as_str().expect("key") > second.as_str(),
        "{resumed}"
    );
    s.get("/api/v1/datasets/nope/records", Some(&key))
        .problem(404, "dataset-not-found");
}

#[test]
fn cursor_pagination_visits_every_record_once_in_key_order() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let marker = "ndx-page-test";
    let rows: Vec<Value> = (100..150)
        .map(|n| with(person(n), "street_address", marker))
        .collect();
    let rep = load(&s, &key, &rows, None);
    assert_eq!(rep["created"], 50);
    let mut ids: Vec<String> = rows.iter().map(id_of).collect();
    ids.sort();

    let p = pages(&s, &key, &format!("limit=7&street_address={marker}"));
    assert_eq!(p.len(), 8, "50 records in pages of 7");
    for (i, page) in p.iter().enumerate() {
        let n = page["records"].as_array().unwrap().len();
        assert_eq!(n, if i < 7 { 7 } else { 1 }, "page {i}");
        assert_eq!(page.get("next_cursor").is_some(), i < 7, "page {i}");
    }
    let keys = keys_of(&p);
    assert_strictly_ascending(&keys);
    assert_eq!(keys, ids);

    // An exact multiple: the last full page has no cursor and there is no empty page.
    let women: Vec<String> = ids
        .iter()
        .filter(|id| id.as_bytes()[3] == b'1')
        .cloned()
        .collect();
    assert_eq!(women.len(), 25);
    let p = pages(&s, &key, &format!("limit=5&sex=2&street_address={marker}"));
    assert_eq!(p.len(), 5);
    assert!(
        p.iter()
            .all(|page| page["records"].as_array().unwrap().len() == 5)
    );
    assert_eq!(keys_of(&p), women);

    // Records deleted during pagination are not visited; nothing is visited twice.
    let first = list(&s, &key, &format!("limit=7&street_address={marker}")).json();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let gone = ids[10].clone(); // on the second page
    assert_eq!(delete(&s, &key, &gone, None).status, 200);
    assert_eq!(delete(&s, &key, &ids[0], None).status, 200); // on the first page, already seen
    let rest = pages(
        &s,
        &key,
        &format!("limit=7&street_address={marker}&cursor={cursor}"),
    );
    let mut visited = keys_of(std::slice::from_ref(&first));
    visited.extend(keys_of(&rest));
    assert_strictly_ascending(&visited);
    let expected: Vec<String> = ids.iter().filter(|id| **id != gone).cloned().collect();
    assert_eq!(visited, expected);

    // The whole dataset in odd-sized pages.
    let total = count(&s, &key);
    let keys = keys_of(&pages(&s, &key, "limit=97"));
    assert_eq!(keys.len() as u64, total);
    assert_strictly_ascending(&keys);
}

#[test]
fn injection_looking_input_is_inert() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let nasty = [
        "' OR 1=1 --",
        "\"; DROP TABLE records; --",
        "x' UNION SELECT body FROM records --",
        "%",
        "_",
        "*",
    ];
    let stored = with(
        with(person(61), "full_name", nasty[0]),
        "street_address",
        nasty[1],
    );
    load(&s, &key, std::slice::from_ref(&stored), None);
    let base = count(&s, &key);
    let demo_key = list(&s, &key, "limit=1").json()["records"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();

    for v in nasty {
        // As keys.
        get_rec(&s, &key, v).problem(404, "record-not-found");
        s.get(&format!("{}/history", rec_path(v)), Some(&key))
            .problem(404, "record-not-found");
        delete(&s, &key, v, None).problem(404, "record-not-found");
        as_of(&s, &key, v, "2999-01-01T00:00:00Z").problem(404, "record-not-found");
        // As filter values of free-text fields: equality, not patterns.
        let found =
            |field: &str| keys_of(&pages(&s, &key, &format!("limit=1000&{field}={}", enc(v))));
        let want_name: Vec<String> = if v == nasty[0] {
            vec![id_of(&stored)]
        } else {
            vec![]
        };
        assert_eq!(found("full_name"), want_name, "full_name={v}");
        let want_street: Vec<String> = if v == nasty[1] {
            vec![id_of(&stored)]
        } else {
            vec![]
        };
        assert_eq!(found("street_address"), want_street, "street_address={v}");
        // As filter values of coded or formatted fields: refused precisely.
        for field in ["province_code", "sex", "citizen_id", "date_of_birth"] {
            list(&s, &key, &format!("{field}={}", enc(v))).problem(422, "filter-value-invalid");
        }
        // As a field name and as a cursor.
        list(&s, &key, &format!("{}=1", enc(v))).problem(422, "filter-unknown-field");
        list(&s, &key, &format!("cursor={}", enc(v))).problem(422, "cursor-invalid");
    }
    // Nothing changed.
    assert_eq!(count(&s, &key), base);
    assert_eq!(get_rec(&s, &key, &demo_key).status, 200);
    let v = get_rec(&s, &key, &id_of(&stored)).json();
    assert_eq!(v["data"], stored_form(&stored));
    assert_eq!(v["version"], 1);
    assert_eq!(
        keys_of(&pages(&s, &key, "limit=1000")).len() as u64,
        base,
        "the list still holds every record"
    );
}

#[test]
fn owner_view_is_for_the_owners_providers_operators_and_auditors() {
    let s = Server::demo(1000);
    let provider = s.key("population-provider");
    let row = person(71);
    let id = id_of(&row);
    load(&s, &provider, std::slice::from_ref(&row), Some("acl-1"));
    let paths = [
        rec_path(&id),
        format!("{}/history", rec_path(&id)),
        format!("/api/v1/datasets/{POP}/records?limit=5"),
    ];
    let reference: Vec<String> = paths
        .iter()
        .map(|p| {
            let r = s.get(p, Some(&provider));
            assert_eq!(r.status, 200, "{p}: {}", r.body);
            r.body
        })
        .collect();
    for role in ["auditor", "operator"] {
        let k = s.key(role);
        for (p, want) in paths.iter().zip(&reference) {
            let r = s.get(p, Some(&k));
            assert_eq!(r.status, 200, "{role} {p}: {}", r.body);
            assert_eq!(&r.body, want, "{role} sees the same as the owner: {p}");
        }
    }
    for role in [
        "consumer-01",
        "consumer-79",
        "steward",
        "civil-service-provider",
        "business-provider",
    ] {
        let k = s.key(role);
        for p in &paths {
            s.get(p, Some(&k)).problem(403, "not-owner");
        }
        as_of(&s, &k, &id, "2999-01-01T00:00:00Z").problem(403, "not-owner");
    }
    for p in &paths {
        s.get(p, None).problem(401, "auth-missing");
    }
    // The population provider may not read another owner's view either.
    s.get(
        "/api/v1/datasets/businesses/records?limit=1",
        Some(&provider),
    )
    .problem(403, "not-owner");
    assert_eq!(
        get_rec(&s, &provider, &id).json()["data"],
        stored_form(&row)
    );
}
