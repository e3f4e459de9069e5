//! End-to-end tests of batch ingest over HTTP (`POST /api/v1/datasets/{dataset}/records`):
//! the three input formats, the atomic and per-record modes, the exact report, every
//! validation rule of the population register, idempotency, versions and metrics, against
//! the real `ndx` binary.

mod common;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Resp, Server};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Map, Value, json};

const POP: &str = "population";
const CSV: &str = "text/csv";
const NDJSON: &str = "application/x-ndjson";
const JSON: &str = "application/json";

use common::POPULATION_FIELDS as FIELDS;

// ---------------------------------------------------------------------------------------------
// Building population rows

use common::cid;

/// A valid citizen of Hà Nội (province 01, ward 00004 Phường Ba Đình), born in 1905: the demo
/// country is born 1930 or later, so these keys never collide with demo records. Odd serials
/// are women.
fn person(serial: u32) -> Value {
    let female = serial % 2 == 1;
    json!({
        "citizen_id": cid("001", female, 1905, serial),
        "full_name": if female { format!("Trần Thị Thử {serial}") } else { format!("Nguyễn Văn Thử {serial}") },
        "sex": if female { "2" } else { "1" },
        "date_of_birth": "1905-03-14",
        "province_code": "01",
        "ward_code": "00004",
    })
}

fn with(mut row: Value, field: &str, value: impl Into<Value>) -> Value {
    row[field] = value.into();
    row
}

fn without(mut row: Value, field: &str) -> Value {
    row.as_object_mut().expect("object").remove(field);
    row
}

fn id_of(row: &Value) -> String {
    row["citizen_id"].as_str().expect("citizen_id").to_owned()
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// CSV (written by the `csv` crate) with the schema fields any row has, in schema order, then
/// any other member (e.g. `_op`).
fn csv_body(rows: &[Value]) -> Vec<u8> {
    let mut cols: Vec<String> = FIELDS
        .iter()
        .filter(|f| rows.iter().any(|r| r.get(**f).is_some()))
        .map(|f| (*f).to_owned())
        .collect();
    for r in rows {
        for k in r.as_object().expect("object").keys() {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&cols).expect("header");
    for r in rows {
        w.write_record(cols.iter().map(|c| cell(r.get(c))))
            .expect("row");
    }
    w.into_inner().expect("csv")
}

fn ndjson_body(rows: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut out, r).expect("json");
        out.push(b'\n');
    }
    out
}

fn json_body(rows: &[Value]) -> Vec<u8> {
    serde_json::to_vec(rows).expect("json")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fmt {
    Csv,
    Ndjson,
    Json,
}

const FORMATS: [Fmt; 3] = [Fmt::Csv, Fmt::Ndjson, Fmt::Json];

impl Fmt {
    fn content_type(self) -> &'static str {
        match self {
            Fmt::Csv => CSV,
            Fmt::Ndjson => NDJSON,
            Fmt::Json => JSON,
        }
    }
    fn body(self, rows: &[Value]) -> Vec<u8> {
        match self {
            Fmt::Csv => csv_body(rows),
            Fmt::Ndjson => ndjson_body(rows),
            Fmt::Json => json_body(rows),
        }
    }
    /// The `line` an error of the n-th record (1-based) carries when every record is on one
    /// line: CSV counts the header as line 1, a JSON array has no lines.
    fn line_of(self, n: u64) -> Option<u64> {
        match self {
            Fmt::Csv => Some(n + 1),
            Fmt::Ndjson => Some(n),
            Fmt::Json => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading back

fn post(s: &Server, key: &str, fmt: Fmt, query: &str, rows: &[Value], idem: Option<&str>) -> Resp {
    s.ingest(POP, query, key, fmt.content_type(), &fmt.body(rows), idem)
}

/// Asserts a 200 report and returns it.
fn ok_report(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "ingest failed: {}", r.body);
    r.json()
}

/// received, accepted, rejected, created, updated, unchanged, deleted
fn counts(report: &Value) -> [u64; 7] {
    [
        "received",
        "accepted",
        "rejected",
        "created",
        "updated",
        "unchanged",
        "deleted",
    ]
    .map(|k| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("no count {k} in {report}"))
    })
}

/// One listed error: (record, line, key, field, code).
type ErrRow = (u64, Option<u64>, Option<String>, Option<String>, String);

fn errors(report: &Value) -> Vec<ErrRow> {
    report["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors list in {report}"))
        .iter()
        .map(|e| {
            assert!(
                e["message"].as_str().is_some_and(|m| !m.is_empty()),
                "error without message: {e}"
            );
            (
                e["record"].as_u64().expect("record"),
                e.get("line").and_then(Value::as_u64),
                e.get("key").and_then(Value::as_str).map(str::to_owned),
                e.get("field").and_then(Value::as_str).map(str::to_owned),
                e["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect()
}

fn err(
    record: u64,
    line: Option<u64>,
    key: Option<&str>,
    field: Option<&str>,
    code: &str,
) -> ErrRow {
    (
        record,
        line,
        key.map(str::to_owned),
        field.map(str::to_owned),
        code.to_owned(),
    )
}

fn count(s: &Server, key: &str) -> u64 {
    let r = s.get(&format!("/api/v1/datasets/{POP}"), Some(key));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["records"].as_u64().expect("records")
}

fn get_record(s: &Server, key: &str, id: &str) -> Resp {
    s.get(&format!("/api/v1/datasets/{POP}/records/{id}"), Some(key))
}

/// The current data of a record (asserting it exists).
fn data_of(s: &Server, key: &str, id: &str) -> Value {
    let r = get_record(s, key, id);
    assert_eq!(r.status, 200, "record {id}: {}", r.body);
    r.json()["data"].clone()
}

fn assert_absent(s: &Server, key: &str, id: &str) {
    get_record(s, key, id).problem(404, "record-not-found");
}

fn versions(s: &Server, key: &str, id: &str) -> Vec<u64> {
    let r = s.get(
        &format!("/api/v1/datasets/{POP}/records/{id}/history"),
        Some(key),
    );
    assert_eq!(r.status, 200, "history of {id}: {}", r.body);
    r.json()
        .as_array()
        .expect("history array")
        .iter()
        .map(|v| v["version"].as_u64().expect("version"))
        .collect()
}

/// A row as the store holds it: only schema fields, as sent (all population fields are text).
fn stored_form(row: &Value) -> Value {
    let mut m = Map::new();
    for f in FIELDS {
        if let Some(v) = row.get(f) {
            m.insert(f.to_string(), v.clone());
        }
    }
    Value::Object(m)
}

/// The value of a Prometheus sample line `name{dataset="population"} N`.
fn metric(s: &Server, name: &str) -> Option<u64> {
    let r = s.get("/metrics", None);
    assert_eq!(r.status, 200);
    let prefix = format!("{name}{{dataset=\"{POP}\"}} ");
    r.body
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse::<f64>().expect("metric value") as u64)
}

// ---------------------------------------------------------------------------------------------
// Valid batches

#[test]
fn valid_batches_commit_in_every_format_and_equal_content_is_equal_across_formats() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    let mut sent: Vec<(Fmt, Vec<Value>)> = Vec::new();
    for (i, fmt) in FORMATS.into_iter().enumerate() {
        let first = 100 + 10 * i as u32;
        let rows: Vec<Value> = (first..first + 3)
            .map(|n| {
                with(
                    person(n),
                    "street_address",
                    format!("Số {n} phố Điện Biên Phủ"),
                )
            })
            .collect();
        let batch_id = format!("valid-{fmt:?}");
        let rep = ok_report(&post(&s, &key, fmt, "", &rows, Some(&batch_id)));
        assert_eq!(counts(&rep), [3, 3, 0, 3, 0, 0, 0], "{fmt:?}: {rep}");
        assert_eq!(rep["status"], "committed");
        assert_eq!(rep["mode"], "atomic");
        assert_eq!(rep["dataset"], POP);
        assert_eq!(rep["schema_version"], "1.0");
        assert_eq!(rep["batch_id"], batch_id.as_str());
        assert_eq!(rep["replayed"], false);
        assert_eq!(rep["errors_truncated"], false);
        assert!(errors(&rep).is_empty());
        for r in &rows {
            assert_eq!(data_of(&s, &key, &id_of(r)), stored_form(r), "{fmt:?}");
            assert_eq!(versions(&s, &key, &id_of(r)), [1]);
        }
        sent.push((fmt, rows));
    }
    assert_eq!(count(&s, &key), base + 9);

    // The same content sent again in another format is the same canonical record: no version.
    for (i, (fmt, rows)) in sent.iter().enumerate() {
        let other = FORMATS[(i + 1) % 3];
        let rep = ok_report(&post(&s, &key, other, "", rows, None));
        assert_eq!(
            counts(&rep),
            [3, 3, 0, 0, 0, 3, 0],
            "{fmt:?} rows resent as {other:?}: {rep}"
        );
        assert!(
            rep["batch_id"].as_str().is_some_and(|b| !b.is_empty()),
            "a batch without Idempotency-Key still gets an id: {rep}"
        );
        for r in rows {
            assert_eq!(versions(&s, &key, &id_of(r)), [1]);
        }
    }
    assert_eq!(count(&s, &key), base + 9);

    // A content type with parameters is accepted.
    let rows = [person(150)];
    let r = s.ingest(
        POP,
        "",
        &key,
        "text/csv; charset=utf-8",
        &csv_body(&rows),
        None,
    );
    assert_eq!(counts(&ok_report(&r)), [1, 1, 0, 1, 0, 0, 0]);
}

// ---------------------------------------------------------------------------------------------
// Atomic mode

#[test]
fn atomic_batch_with_one_bad_row_changes_nothing_and_can_be_fixed_under_the_same_key() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    // An existing record that the refused batch would update.
    let existing = person(200);
    ok_report(&post(
        &s,
        &key,
        Fmt::Csv,
        "",
        std::slice::from_ref(&existing),
        None,
    ));
    let base = count(&s, &key);

    // What the existing record holds now (the first fixed batch renames it).
    let mut current = existing.clone();
    for (i, fmt) in FORMATS.into_iter().enumerate() {
        let n = 210 + 10 * i as u32;
        let bad = with(person(n + 2), "sex", "5");
        let rows = vec![
            person(n),
            with(existing.clone(), "full_name", format!("Đổi Tên {fmt:?}")),
            bad.clone(),
            person(n + 3),
        ];
        let batch_id = format!("atomic-{fmt:?}");
        let r = post(&s, &key, fmt, "", &rows, Some(&batch_id));
        let p = r.problem(422, "batch-rejected");
        let rep = &p["report"];
        assert_eq!(rep["status"], "rejected", "{fmt:?}: {rep}");
        assert_eq!(rep["batch_id"], batch_id.as_str());
        assert_eq!(rep["mode"], "atomic");
        // Counts are exact, and nothing is said to be created or updated.
        assert_eq!(counts(rep), [4, 3, 1, 0, 0, 0, 0], "{fmt:?}: {rep}");
        assert_eq!(
            errors(rep),
            [err(
                3,
                fmt.line_of(3),
                Some(&id_of(&bad)),
                Some("sex"),
                "code-unknown"
            )],
            "{fmt:?}"
        );
        // Nothing changed: the valid new rows are not readable, the update did not happen.
        let base_now = base + 3 * i as u64;
        assert_absent(&s, &key, &id_of(&rows[0]));
        assert_absent(&s, &key, &id_of(&rows[3]));
        assert_eq!(data_of(&s, &key, &id_of(&existing)), stored_form(&current));
        assert_eq!(count(&s, &key), base_now);

        // The same bad batch again is refused again (a refused batch is not stored).
        post(&s, &key, fmt, "", &rows, Some(&batch_id)).problem(422, "batch-rejected");

        // Fixed, under the same key: committed.
        let mut fixed = rows.clone();
        fixed[1] = with(existing.clone(), "full_name", "Đổi Tên");
        fixed[2] = with(bad, "sex", "1");
        let rep = ok_report(&post(&s, &key, fmt, "", &fixed, Some(&batch_id)));
        assert_eq!(rep["replayed"], false);
        assert_eq!(rep["batch_id"], batch_id.as_str());
        let updated = u64::from(i == 0);
        assert_eq!(
            counts(&rep),
            [4, 4, 0, 3, updated, 1 - updated, 0],
            "{fmt:?}: {rep}"
        );
        current = fixed[1].clone();
        for r in &fixed {
            assert_eq!(data_of(&s, &key, &id_of(r)), stored_form(r));
        }
        assert_eq!(versions(&s, &key, &id_of(&existing)), [2, 1]);
        assert_eq!(count(&s, &key), base_now + 3);
    }
}

// ---------------------------------------------------------------------------------------------
// Per-record mode and exact positions

#[test]
fn per_record_mode_reports_exact_record_and_physical_line_numbers() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    let header = "citizen_id,full_name,sex,date_of_birth,province_code,ward_code,street_address";
    let ids: Vec<String> = (300..306).map(|n| id_of(&person(n))).collect();
    // line 1: header
    // line 2: record 1, valid
    // lines 3-5: record 2, valid, a quoted field with two embedded newlines and a quote
    // line 6: record 3, sex 5
    // line 7: record 4, valid
    // line 8: record 5, two field errors (province unknown and a bad date)
    // lines 9-10: record 6, quoted multi-line name with a control character
    let csv = format!(
        "{header}\n\
         {id0},Nguyễn Văn Thử,1,1905-03-14,01,00004,Số 1\n\
         {id1},Trần Thị Thử,2,1905,01,00004,\"Tầng 2, \"\"Nhà A\"\"\nSố 5\nNgõ 7\"\n\
         {id2},Nguyễn Văn Thử,5,1905,01,00004,\n\
         {id3},Trần Thị Thử,2,1905-03,01,00004,\n\
         {id4},Nguyễn Văn Thử,1,1905-02-30,99,00004,\n\
         {id5},\"Trần\nThị\u{7}\",2,1905,01,00004,\n",
        id0 = ids[0],
        id1 = ids[1],
        id2 = ids[2],
        id3 = ids[3],
        id4 = ids[4],
        id5 = ids[5],
    );
    let rep = ok_report(&s.ingest(POP, "?mode=per-record", &key, CSV, csv.as_bytes(), None));
    assert_eq!(rep["mode"], "per-record");
    assert_eq!(rep["status"], "committed");
    assert_eq!(counts(&rep), [6, 3, 3, 3, 0, 0, 0], "{rep}");
    assert_eq!(
        errors(&rep),
        [
            err(3, Some(6), Some(&ids[2]), Some("sex"), "code-unknown"),
            err(
                5,
                Some(8),
                Some(&ids[4]),
                Some("date_of_birth"),
                "partial-date-invalid"
            ),
            err(
                5,
                Some(8),
                Some(&ids[4]),
                Some("province_code"),
                "code-unknown"
            ),
            err(
                6,
                Some(9),
                Some(&ids[5]),
                Some("full_name"),
                "control-character"
            ),
        ],
        "{rep}"
    );
    assert_eq!(
        data_of(&s, &key, &ids[1])["street_address"],
        "Tầng 2, \"Nhà A\"\nSố 5\nNgõ 7"
    );
    assert_eq!(data_of(&s, &key, &ids[3])["date_of_birth"], "1905-03");
    for bad in [2, 4, 5] {
        assert_absent(&s, &key, &ids[bad]);
    }
    assert_eq!(count(&s, &key), base + 3);

    // NDJSON: blank lines are skipped, so record and line numbers differ.
    let p = |n| person(n);
    let nd = format!(
        "{}\n\n{}\n   \n{}\n{}\n",
        serde_json::to_string(&p(310)).unwrap(),
        serde_json::to_string(&with(p(311), "ward_code", "25747")).unwrap(),
        serde_json::to_string(&p(312)).unwrap(),
        serde_json::to_string(&without(p(313), "full_name")).unwrap(),
    );
    let rep = ok_report(&s.ingest(POP, "?mode=per-record", &key, NDJSON, nd.as_bytes(), None));
    assert_eq!(counts(&rep), [4, 2, 2, 2, 0, 0, 0], "{rep}");
    assert_eq!(
        errors(&rep),
        [
            err(
                2,
                Some(3),
                Some(&id_of(&p(311))),
                Some("ward_code"),
                "ward-not-in-province"
            ),
            err(
                4,
                Some(6),
                Some(&id_of(&p(313))),
                Some("full_name"),
                "required"
            ),
        ]
    );
    assert_eq!(data_of(&s, &key, &id_of(&p(312))), stored_form(&p(312)));
    assert_absent(&s, &key, &id_of(&p(311)));

    // JSON array: record numbers, no lines.
    let rows = [
        with(p(320), "email", "khong-hop-le"),
        p(321),
        p(322),
        with(p(323), "phone", "0212345678"),
    ];
    let rep = ok_report(&post(&s, &key, Fmt::Json, "?mode=per-record", &rows, None));
    assert_eq!(counts(&rep), [4, 2, 2, 2, 0, 0, 0], "{rep}");
    assert_eq!(
        errors(&rep),
        [
            err(
                1,
                None,
                Some(&id_of(&p(320))),
                Some("email"),
                "email-invalid"
            ),
            err(
                4,
                None,
                Some(&id_of(&p(323))),
                Some("phone"),
                "mobile-prefix"
            ),
        ]
    );
    assert!(
        rep["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.get("line").is_none()),
        "JSON array errors carry no line: {rep}"
    );
    assert_eq!(count(&s, &key), base + 7);

    // max_errors bounds the list, never the counts.
    let rows: Vec<Value> = (330..336)
        .map(|n| {
            if n % 2 == 0 {
                with(p(n), "sex", "7")
            } else {
                p(n)
            }
        })
        .collect();
    let rep = ok_report(&post(
        &s,
        &key,
        Fmt::Ndjson,
        "?mode=per-record&max_errors=2",
        &rows,
        None,
    ));
    assert_eq!(counts(&rep), [6, 3, 3, 3, 0, 0, 0], "{rep}");
    assert_eq!(errors(&rep).len(), 2);
    assert_eq!(rep["errors_truncated"], true);
    s.ingest(
        POP,
        "?max_errors=10001",
        &key,
        NDJSON,
        &ndjson_body(&[p(340)]),
        None,
    )
    .problem(400, "max-errors-invalid");
}

/// Regression: the csv crate positions a record after a CRLF terminator on the line of the
/// previous record, so every line number of a Windows/Excel CSV was one too small.
#[test]
fn csv_line_numbers_count_crlf_line_endings() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let ids: Vec<String> = (400..404).map(|n| id_of(&person(n))).collect();
    let csv = format!(
        "citizen_id,full_name,sex,date_of_birth,province_code,ward_code\r\n\
         {},A,1,1905,01,00004\r\n\
         {},\"B\r\nC\",2,1905,01,00004\r\n\
         {},D,9x,1905,01,00004\r\n\
         {},E,2,1905,01,00004\r\n",
        ids[0], ids[1], ids[2], ids[3]
    );
    let rep = ok_report(&s.ingest(POP, "?mode=per-record", &key, CSV, csv.as_bytes(), None));
    // Record 2 starts on line 3 (and holds a CR, a control character); record 3 on line 5.
    assert_eq!(
        errors(&rep),
        [
            err(
                2,
                Some(3),
                Some(&ids[1]),
                Some("full_name"),
                "control-character"
            ),
            err(3, Some(5), Some(&ids[2]), Some("sex"), "code-unknown"),
        ],
        "{rep}"
    );
}

/// Regression: blank lines between CSV records are skipped, but the record after them was
/// reported at the line of the blank line.
#[test]
fn csv_line_numbers_count_blank_lines() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let ids: Vec<String> = (410..412).map(|n| id_of(&person(n))).collect();
    let csv = format!(
        "citizen_id,full_name,sex,date_of_birth,province_code,ward_code\n\
         \n\
         {},A,5,1905,01,00004\n\
         \n\
         \n\
         {},B,6,1905,01,00004\n",
        ids[0], ids[1]
    );
    let rep = ok_report(&s.ingest(POP, "?mode=per-record", &key, CSV, csv.as_bytes(), None));
    assert_eq!(
        errors(&rep),
        [
            err(1, Some(3), Some(&ids[0]), Some("sex"), "code-unknown"),
            err(2, Some(6), Some(&ids[1]), Some("sex"), "code-unknown"),
        ],
        "{rep}"
    );
}

// ---------------------------------------------------------------------------------------------
// Validation rules

#[test]
fn every_validation_rule_gives_its_code_for_bad_values_and_accepts_good_ones() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    let p = person;
    let long_name = "Ă".repeat(200);
    // (row, expected errors as (field, code)); an empty list means the row is valid.
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        // required
        (
            without(p(500), "full_name"),
            vec![("full_name", "required")],
        ),
        (with(p(501), "sex", Value::Null), vec![("sex", "required")]),
        (
            without(without(p(502), "ward_code"), "date_of_birth"),
            vec![("date_of_birth", "required"), ("ward_code", "required")],
        ),
        // wrong JSON type for a string field
        (
            with(p(503), "full_name", 123),
            vec![("full_name", "wrong-type")],
        ),
        (
            with(p(504), "province_code", 1),
            vec![("province_code", "wrong-type")],
        ),
        (
            with(p(505), "street_address", json!(["a"])),
            vec![("street_address", "wrong-type")],
        ),
        // citizen ID format
        (
            with(p(506), "citizen_id", "00100500050"),
            vec![("citizen_id", "citizen-id-length")],
        ),
        (
            with(p(507), "citizen_id", "0011050005070"),
            vec![("citizen_id", "citizen-id-length")],
        ),
        (
            with(p(508), "citizen_id", "00110500050A"),
            vec![("citizen_id", "citizen-id-not-digits")],
        ),
        (
            with(p(509), "citizen_id", cid("000", true, 1905, 509)),
            vec![("citizen_id", "citizen-id-province")],
        ),
        (
            with(p(510), "citizen_id", cid("099", false, 1905, 510)),
            vec![("citizen_id", "citizen-id-province")],
        ),
        // citizen ID agrees with birth year and sex
        (
            with(p(511), "date_of_birth", "1906-03-14"),
            vec![("citizen_id", "citizen-id-birth-year-mismatch")],
        ),
        (
            with(p(512), "date_of_birth", "1906"),
            vec![("citizen_id", "citizen-id-birth-year-mismatch")],
        ),
        // century digit 2 (a man born in the 2000s) with a 1905 birth date
        (
            with(p(514), "citizen_id", cid("001", false, 2005, 514)),
            vec![("citizen_id", "citizen-id-birth-year-mismatch")],
        ),
        (
            with(p(516), "sex", "2"),
            vec![("citizen_id", "citizen-id-sex-mismatch")],
        ),
        (
            with(p(517), "sex", "1"),
            vec![("citizen_id", "citizen-id-sex-mismatch")],
        ),
        // code lists
        (with(p(518), "sex", "5"), vec![("sex", "code-unknown")]),
        (
            with(p(519), "province_code", "99"),
            vec![("province_code", "code-unknown")],
        ),
        (
            with(p(520), "ward_code", "99999"),
            vec![("ward_code", "code-unknown")],
        ),
        (
            with(p(521), "ethnic_code", "99"),
            vec![("ethnic_code", "code-unknown")],
        ),
        // ward must belong to the province (25747 is in Hồ Chí Minh City, 79)
        (
            with(p(522), "ward_code", "25747"),
            vec![("ward_code", "ward-not-in-province")],
        ),
        (
            with(p(523), "province_code", "79"),
            vec![("ward_code", "ward-not-in-province")],
        ),
        // dates
        (
            with(p(524), "date_of_birth", "1905-02-30"),
            vec![("date_of_birth", "partial-date-invalid")],
        ),
        (
            with(p(525), "date_of_birth", "1905-13"),
            vec![("date_of_birth", "partial-date-invalid")],
        ),
        (
            with(p(526), "date_of_birth", "14/03/1905"),
            vec![("date_of_birth", "partial-date-invalid")],
        ),
        // e-mail
        (
            with(p(527), "email", "khong-phai-email"),
            vec![("email", "email-invalid")],
        ),
        (
            with(p(528), "email", "an@localhost"),
            vec![("email", "email-invalid")],
        ),
        // mobile
        (
            with(p(529), "phone", "0212345678"),
            vec![("phone", "mobile-prefix")],
        ),
        (
            with(p(530), "phone", "091234567"),
            vec![("phone", "mobile-shape")],
        ),
        (
            with(p(531), "phone", "0912 345 678"),
            vec![("phone", "mobile-shape")],
        ),
        (
            with(p(532), "phone", "+840912345678"),
            vec![("phone", "mobile-shape")],
        ),
        (
            with(p(533), "phone", "84912345678"),
            vec![("phone", "mobile-shape")],
        ),
        // length
        (
            with(p(534), "full_name", format!("{long_name}A")),
            vec![("full_name", "too-long")],
        ),
        // control characters (\n and \t are allowed in free text)
        (
            with(p(535), "full_name", "Nguyễn\u{7}Văn"),
            vec![("full_name", "control-character")],
        ),
        (
            with(p(536), "street_address", "Số 1\r\nNgõ 2"),
            vec![("street_address", "control-character")],
        ),
        (
            with(p(537), "street_address", "Số 1\u{0}"),
            vec![("street_address", "control-character")],
        ),
        // blank, invisible, reordering and out-of-place characters (issue 11)
        (
            with(p(540), "full_name", "   "),
            vec![("full_name", "blank")],
        ),
        (
            with(p(541), "full_name", "\t"),
            vec![("full_name", "control-character")],
        ),
        (
            with(p(542), "full_name", "\u{200B}"),
            vec![("full_name", "invisible-character")],
        ),
        (
            with(p(543), "full_name", "\u{FEFF}"),
            vec![("full_name", "invisible-character")],
        ),
        (
            with(p(544), "full_name", "\u{0301}"),
            vec![("full_name", "combining-mark-first")],
        ),
        (
            with(p(545), "full_name", "Nguyễn\nVăn"),
            vec![("full_name", "control-character")],
        ),
        (
            with(p(546), "full_name", "Nguyễn\tVăn"),
            vec![("full_name", "control-character")],
        ),
        (
            with(p(547), "full_name", "Nguyễn\u{2028}Văn"),
            vec![("full_name", "control-character")],
        ),
        (
            with(p(548), "full_name", "Nguyễn \u{202E}nắV"),
            vec![("full_name", "bidi-control")],
        ),
        (
            with(p(549), "email", "a\u{200b}@b.com"),
            vec![("email", "invisible-character")],
        ),
        (
            with(p(590), "street_address", "Số 1\u{202E}"),
            vec![("street_address", "bidi-control")],
        ),
        (
            with(p(591), "street_address", " \n "),
            vec![("street_address", "blank")],
        ),
        // dates that cannot be births
        (
            with(p(592), "date_of_birth", "2090-01-01"),
            vec![("date_of_birth", "date-in-future")],
        ),
        (
            with(p(593), "date_of_birth", "0000"),
            vec![("date_of_birth", "partial-date-invalid")],
        ),
        (
            with(p(594), "date_of_birth", "1849"),
            vec![("date_of_birth", "date-too-early")],
        ),
        (
            with(
                with(p(595), "citizen_id", cid("001", true, 2090, 595)),
                "date_of_birth",
                "2090",
            ),
            vec![
                ("citizen_id", "citizen-id-century"),
                ("date_of_birth", "date-in-future"),
            ],
        ),
        // several independent errors are all listed
        (
            with(with(p(538), "phone", "123"), "email", "@"),
            vec![("phone", "mobile-shape"), ("email", "email-invalid")],
        ),
        // ---- good values
        (with(p(550), "date_of_birth", "1905"), vec![]),
        (with(p(551), "date_of_birth", "1905-05"), vec![]),
        (with(p(552), "date_of_birth", "1905-12-31"), vec![]),
        (
            with(
                with(p(553), "citizen_id", cid("001", true, 2004, 553)),
                "date_of_birth",
                "2004-02-29",
            ),
            vec![],
        ),
        (
            with(
                with(
                    with(p(554), "citizen_id", cid("001", false, 2001, 554)),
                    "date_of_birth",
                    "2001",
                ),
                "sex",
                "1",
            ),
            vec![],
        ),
        // born in Hà Nội (prefix 001), living in Hồ Chí Minh City
        (
            with(with(p(556), "province_code", "79"), "ward_code", "25747"),
            vec![],
        ),
        (
            with(
                with(
                    with(p(558), "citizen_id", cid("079", false, 1905, 558)),
                    "province_code",
                    "79",
                ),
                "ward_code",
                "25750",
            ),
            vec![],
        ),
        (with(p(560), "phone", "0912345678"), vec![]),
        (with(p(561), "phone", "+84912345678"), vec![]),
        (with(p(562), "email", "an.nguyen@example.vn"), vec![]),
        (with(p(563), "full_name", long_name.clone()), vec![]),
        (
            with(p(564), "street_address", "Số 1\nNgõ 2\tPhòng 3"),
            vec![],
        ),
        (with(p(565), "ethnic_code", "01"), vec![]),
        (with(p(566), "street_address", Value::Null), vec![]),
    ];
    let rows: Vec<Value> = cases.iter().map(|(r, _)| r.clone()).collect();
    let rep = ok_report(&post(
        &s,
        &key,
        Fmt::Ndjson,
        "?mode=per-record",
        &rows,
        None,
    ));
    let bad = cases.iter().filter(|(_, e)| !e.is_empty()).count() as u64;
    let good = cases.len() as u64 - bad;
    assert_eq!(
        counts(&rep),
        [cases.len() as u64, good, bad, good, 0, 0, 0],
        "{rep}"
    );
    let listed = errors(&rep);
    for (i, (row, expected)) in cases.iter().enumerate() {
        let n = i as u64 + 1;
        let got: Vec<(String, String)> = listed
            .iter()
            .filter(|e| e.0 == n)
            .map(|e| {
                assert_eq!(e.1, Some(n), "NDJSON line of record {n}");
                (e.3.clone().unwrap_or_default(), e.4.clone())
            })
            .collect();
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
            .collect();
        assert_eq!(got, want, "record {n}: {row}");
        let id = row["citizen_id"].as_str().unwrap_or("");
        if expected.is_empty() {
            assert_eq!(
                data_of(&s, &key, id),
                stored_form(&without_nulls(row)),
                "record {n}"
            );
        } else if id.len() == 12 {
            let r = get_record(&s, &key, id);
            assert_eq!(r.status, 404, "refused record {n} was stored: {}", r.body);
        }
    }
    assert_eq!(count(&s, &key), base + good);

    // CSV: an empty cell is an absent value.
    let csv = format!(
        "citizen_id,full_name,sex,date_of_birth,province_code,ward_code,phone\n\
         {},,1,1905,01,00004,\n\
         {},Trần Thị Thử,2,1905,01,00004,\n",
        id_of(&p(570)),
        id_of(&p(571))
    );
    let rep = ok_report(&s.ingest(POP, "?mode=per-record", &key, CSV, csv.as_bytes(), None));
    assert_eq!(counts(&rep), [2, 1, 1, 1, 0, 0, 0], "{rep}");
    assert_eq!(
        errors(&rep),
        [err(
            1,
            Some(2),
            Some(&id_of(&p(570))),
            Some("full_name"),
            "required"
        )]
    );
    assert!(data_of(&s, &key, &id_of(&p(571))).get("phone").is_none());

    // Unknown JSON member: a record error naming the member, in NDJSON and in a JSON array.
    for fmt in [Fmt::Ndjson, Fmt::Json] {
        let rows = [p(580), with(p(581), "nickname", "Tí")];
        let rep = ok_report(&post(&s, &key, fmt, "?mode=per-record", &rows, None));
        assert_eq!(
            errors(&rep),
            [err(
                2,
                fmt.line_of(2),
                None,
                Some("nickname"),
                "unknown-field"
            )],
            "{fmt:?}"
        );
        assert_absent(&s, &key, &id_of(&rows[1]));
    }
}

fn without_nulls(row: &Value) -> Value {
    let mut m = row.as_object().expect("object").clone();
    m.retain(|_, v| !v.is_null());
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------------
// Structure of the input

#[test]
fn csv_header_problems_refuse_the_batch_and_change_nothing() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    let row = person(600);
    let id = id_of(&row);
    let valid = "Nguyễn Văn Thử,1,1905-03-14,01,00004";
    for mode in ["", "?mode=per-record"] {
        let unknown = format!(
            "citizen_id,full_name,sex,date_of_birth,province_code,ward_code,nickname\n{id},{valid},Tí\n"
        );
        let p = s
            .ingest(POP, mode, &key, CSV, unknown.as_bytes(), None)
            .problem(422, "csv-unknown-column");
        assert!(p["detail"].as_str().unwrap().contains("nickname"), "{p}");

        let missing = format!(
            "citizen_id,full_name,sex,date_of_birth,province_code\n{id},Nguyễn Văn Thử,1,1905,01\n"
        );
        let p = s
            .ingest(POP, mode, &key, CSV, missing.as_bytes(), None)
            .problem(422, "csv-missing-column");
        assert!(p["detail"].as_str().unwrap().contains("ward_code"), "{p}");

        let twice = format!(
            "citizen_id,full_name,sex,date_of_birth,province_code,ward_code,sex\n{id},{valid},1\n"
        );
        s.ingest(POP, mode, &key, CSV, twice.as_bytes(), None)
            .problem(422, "csv-duplicate-column");
    }
    assert_absent(&s, &key, &id);
    assert_eq!(count(&s, &key), base);

    // Optional columns may be left out; a header-only file holds no records.
    let header_only = "citizen_id,full_name,sex,date_of_birth,province_code,ward_code\n";
    s.ingest(POP, "", &key, CSV, header_only.as_bytes(), None)
        .problem(422, "batch-empty");
    assert_eq!(count(&s, &key), base);
}

#[test]
fn csv_field_count_is_a_record_error_and_a_bom_is_tolerated() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    let ids: Vec<String> = (610..614).map(|n| id_of(&person(n))).collect();
    let csv = format!(
        "\u{feff}citizen_id,full_name,sex,date_of_birth,province_code,ward_code\n\
         {},Nguyễn Văn Thử,1,1905,01,00004\n\
         {},Trần Thị Thử,2,1905,01\n\
         {},Nguyễn Văn Thử,1,1905,01,00004,thừa\n\
         {},Trần Thị Thử,2,1905,01,00004\n",
        ids[0], ids[1], ids[2], ids[3]
    );
    // Atomic: refused, nothing changed.
    let p = s
        .ingest(POP, "", &key, CSV, csv.as_bytes(), None)
        .problem(422, "batch-rejected");
    assert_eq!(counts(&p["report"]), [4, 2, 2, 0, 0, 0, 0], "{p}");
    assert_eq!(count(&s, &key), base);
    // Per-record: the two well-formed rows are kept.
    let rep = ok_report(&s.ingest(POP, "?mode=per-record", &key, CSV, csv.as_bytes(), None));
    assert_eq!(counts(&rep), [4, 2, 2, 2, 0, 0, 0], "{rep}");
    assert_eq!(
        errors(&rep),
        [
            err(2, Some(3), None, None, "csv-field-count"),
            err(3, Some(4), None, None, "csv-field-count"),
        ]
    );
    // The BOM did not end up in the first column's name or value.
    let d = data_of(&s, &key, &ids[0]);
    assert_eq!(d["citizen_id"], ids[0].as_str());
    assert_eq!(d["full_name"], "Nguyễn Văn Thử");
    assert_eq!(data_of(&s, &key, &ids[3])["sex"], "2");
    assert_absent(&s, &key, &ids[1]);
    assert_absent(&s, &key, &ids[2]);
    assert_eq!(count(&s, &key), base + 2);
}

#[test]
fn json_structure_errors() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    let good = serde_json::to_string(&person(620)).unwrap();
    let id = id_of(&person(620));
    // A malformed JSON array refuses the batch even in per-record mode, after a valid element.
    for mode in ["", "?mode=per-record"] {
        for body in [
            format!("[{good},"),
            format!("[{good}, {{\"citizen_id\": }}]"),
            format!("[{good}] trailing"),
            good.clone(),
            "nonsense".to_owned(),
        ] {
            let p = s
                .ingest(POP, mode, &key, JSON, body.as_bytes(), None)
                .problem(422, "json-malformed");
            assert!(p.get("report").is_none(), "{p}");
        }
    }
    assert_absent(&s, &key, &id);
    assert_eq!(count(&s, &key), base);

    // Non-object elements are record errors.
    let body = format!("[{good}, 5, \"x\", [1], null]");
    let rep = ok_report(&s.ingest(POP, "?mode=per-record", &key, JSON, body.as_bytes(), None));
    assert_eq!(counts(&rep), [5, 1, 4, 1, 0, 0, 0], "{rep}");
    assert_eq!(
        errors(&rep),
        (2..=5)
            .map(|n| err(n, None, None, None, "json-not-object"))
            .collect::<Vec<_>>()
    );
    assert_eq!(data_of(&s, &key, &id), stored_form(&person(620)));

    // NDJSON: a line that is not JSON and a non-object line are record errors.
    let good2 = serde_json::to_string(&person(621)).unwrap();
    let body = format!("{{\"citizen_id\": \n{good2}\nnot json\n[1, 2]\n42\n");
    let p = s
        .ingest(POP, "", &key, NDJSON, body.as_bytes(), None)
        .problem(422, "batch-rejected");
    assert_eq!(counts(&p["report"]), [5, 1, 4, 0, 0, 0, 0], "{p}");
    assert_absent(&s, &key, &id_of(&person(621)));
    let rep = ok_report(&s.ingest(POP, "?mode=per-record", &key, NDJSON, body.as_bytes(), None));
    assert_eq!(
        errors(&rep),
        [
            err(1, Some(1), None, None, "json-malformed"),
            err(3, Some(3), None, None, "json-malformed"),
            err(4, Some(4), None, None, "json-not-object"),
            err(5, Some(5), None, None, "json-not-object"),
        ],
        "{rep}"
    );
    assert_eq!(data_of(&s, &key, &id_of(&person(621)))["sex"], "2");
    assert_eq!(count(&s, &key), base + 2);
}

/// Issue 11: `{"citizen_id":"A","citizen_id":"B"}` was stored with the last value.
#[test]
fn a_json_member_named_twice_refuses_the_record_in_both_json_formats() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    let good = person(700);
    let twice = |serial: u32, member: &str, second: &str| {
        let row = person(serial);
        let text = serde_json::to_string(&row).expect("json");
        // The member again, at the end, with another value.
        format!("{},\"{member}\":\"{second}\"}}", &text[..text.len() - 1])
    };
    let twice_id = twice(701, "citizen_id", &id_of(&person(799)));
    let twice_name = twice(702, "full_name", "Tên Khác");
    // A nested object naming a member twice is found too.
    let nested = format!(
        "{},\"street_address\":{{\"a\":1,\"a\":2}}}}",
        &serde_json::to_string(&person(703)).expect("json")
            [..serde_json::to_string(&person(703)).expect("json").len() - 1]
    );
    let good_text = serde_json::to_string(&good).expect("json");
    let ndjson = format!("{good_text}\n{twice_id}\n{twice_name}\n{nested}\n");
    let array = format!("[{good_text},{twice_id},{twice_name},{nested}]");
    for (ct, body, lines) in [(NDJSON, ndjson, true), (JSON, array, false)] {
        // Atomic: refused, nothing stored.
        let p = s
            .ingest(POP, "", &key, ct, body.as_bytes(), None)
            .problem(422, "batch-rejected");
        assert_eq!(counts(&p["report"]), [4, 1, 3, 0, 0, 0, 0], "{p}");
        let line = |n: u64| lines.then_some(n);
        assert_eq!(
            errors(&p["report"]),
            [
                err(
                    2,
                    line(2),
                    None,
                    Some("citizen_id"),
                    "json-duplicate-member"
                ),
                err(3, line(3), None, Some("full_name"), "json-duplicate-member"),
                err(
                    4,
                    line(4),
                    None,
                    Some("street_address"),
                    "json-duplicate-member"
                ),
            ],
            "{p}"
        );
        for n in [700, 701, 702, 703, 799] {
            assert_absent(&s, &key, &id_of(&person(n)));
        }
    }
    assert_eq!(count(&s, &key), base);
}

/// Issue 11: `Ngu"yen` in an unquoted CSV field was accepted as it was.
#[test]
fn a_quote_where_rfc_4180_allows_none_is_a_record_error() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    let ids: Vec<String> = (710..715).map(|n| id_of(&person(n))).collect();
    let csv = format!(
        "citizen_id,full_name,sex,date_of_birth,province_code,ward_code,street_address\n\
         {},Ngu\"yen Văn A,1,1905,01,00004,\n\
         {},\"Trần Thị B\"x,2,1905,01,00004,\n\
         {},\"Lê \"\"Văn\"\" C\",1,1905,01,00004,\"Số 1, \"\"Nhà A\"\"\"\n\
         {},Phạm Thị D,2,1905,01,00004,Số \"5\"\n\
         {},Hồ Văn E,1,1905,01,00004,\n",
        ids[0], ids[1], ids[2], ids[3], ids[4]
    );
    let p = s
        .ingest(POP, "", &key, CSV, csv.as_bytes(), None)
        .problem(422, "batch-rejected");
    assert_eq!(counts(&p["report"]), [5, 2, 3, 0, 0, 0, 0], "{p}");
    assert_eq!(
        errors(&p["report"]),
        [
            err(1, Some(2), None, Some("full_name"), "csv-stray-quote"),
            err(2, Some(3), None, Some("full_name"), "csv-stray-quote"),
            err(4, Some(5), None, Some("street_address"), "csv-stray-quote"),
        ],
        "{p}"
    );
    assert_eq!(count(&s, &key), base);
    // Quotes written as RFC 4180 says are data.
    let rep = ok_report(&s.ingest(POP, "?mode=per-record", &key, CSV, csv.as_bytes(), None));
    assert_eq!(counts(&rep), [5, 2, 3, 2, 0, 0, 0], "{rep}");
    assert_eq!(data_of(&s, &key, &ids[2])["full_name"], "Lê \"Văn\" C");
    assert_eq!(
        data_of(&s, &key, &ids[2])["street_address"],
        "Số 1, \"Nhà A\""
    );
    // A quote in a header column refuses the batch.
    let header = format!("citizen_id,full\"name,sex\n{},A,1\n", ids[0]);
    let p = s
        .ingest(POP, "", &key, CSV, header.as_bytes(), None)
        .problem(422, "csv-header-invalid");
    assert!(
        p["detail"].as_str().unwrap_or("").contains("column 2"),
        "{p}"
    );
}

/// The peak resident memory of a process (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        * 1024
}

/// Issue 11: one CSV field or one JSON string of hundreds of MB was held whole in memory
/// (512 MB took the server to 605 MB). Every format reads one record within the record limit.
#[test]
fn one_huge_field_never_takes_its_size_in_memory() {
    const HUGE: usize = 96 << 20;
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    let filler = "x".repeat(HUGE);
    let good = person(720);
    let good_csv_row = format!("{},Nguyễn Văn Thử,1,1905,01,00004,", id_of(&good));
    let header = "citizen_id,full_name,sex,date_of_birth,province_code,ward_code,street_address";
    let bodies: Vec<(&str, &str, String, Option<&str>)> = vec![
        // A huge unquoted field, and a huge quoted one, in per-record mode: the record is
        // skipped and the next one is kept.
        (
            CSV,
            "?mode=per-record",
            format!(
                "{header}\n{},{filler},1,1905,01,00004,\n{good_csv_row}\n",
                id_of(&person(721))
            ),
            None,
        ),
        (
            CSV,
            "?mode=per-record",
            format!(
                "{header}\n{},\"{filler}\",1,1905,01,00004,\n{good_csv_row}\n",
                id_of(&person(721))
            ),
            None,
        ),
        // A huge header.
        (
            CSV,
            "",
            format!("citizen_id,{filler}\n"),
            Some("csv-header-invalid"),
        ),
        // A huge NDJSON line.
        (
            NDJSON,
            "?mode=per-record",
            format!(
                "{{\"citizen_id\":\"{filler}\"}}\n{}\n",
                serde_json::to_string(&good).expect("json")
            ),
            None,
        ),
        // A huge string in a JSON array: the array cannot be read past it.
        (
            JSON,
            "?mode=per-record",
            format!(
                "[{}, {{\"full_name\":\"{filler}\"}}]",
                serde_json::to_string(&good).expect("json")
            ),
            Some("record-too-large"),
        ),
    ];
    for (ct, query, body, refused) in bodies {
        let before = peak_rss(s.pid());
        let r = s.ingest(POP, query, &key, ct, body.as_bytes(), None);
        let grew = peak_rss(s.pid()).saturating_sub(before);
        match refused {
            Some(code) => {
                r.problem(422, code);
            }
            None => {
                let rep = ok_report(&r);
                assert_eq!(counts(&rep)[..3], [2, 1, 1], "{rep}");
                assert_eq!(errors(&rep)[0].4, "record-too-large", "{rep}");
            }
        }
        assert!(
            grew < (HUGE / 3) as u64,
            "{ct} {query}: the server's peak memory grew by {grew} bytes for a {HUGE}-byte field"
        );
    }
    assert_eq!(count(&s, &key), base + 1);
}

#[test]
fn empty_inputs_are_batch_empty() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    for (ct, body) in [
        (NDJSON, ""),
        (NDJSON, "\n\n  \n"),
        (JSON, "[]"),
        (JSON, " [ ] "),
        (
            CSV,
            "citizen_id,full_name,sex,date_of_birth,province_code,ward_code\n",
        ),
    ] {
        for mode in ["", "?mode=per-record"] {
            let r = s.ingest(POP, mode, &key, ct, body.as_bytes(), Some("empty-1"));
            r.problem(422, "batch-empty");
        }
    }
    // An empty batch is not stored: its id is still free.
    let rep = ok_report(&post(
        &s,
        &key,
        Fmt::Csv,
        "",
        &[person(630)],
        Some("empty-1"),
    ));
    assert_eq!(rep["replayed"], false);
    assert_eq!(count(&s, &key), base + 1);
}

/// Regression: a zero-byte CSV body was answered `csv-header-missing` while a zero-byte NDJSON
/// or JSON body is `batch-empty`; an empty body holds no records whatever its format.
#[test]
fn empty_csv_body_is_batch_empty() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    s.ingest(POP, "", &key, CSV, b"", None)
        .problem(422, "batch-empty");
}

#[test]
fn request_level_errors_are_precise_and_change_nothing() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    let rows = [person(640)];
    let csv = csv_body(&rows);
    let path = format!("/api/v1/datasets/{POP}/records");

    for ct in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
    ] {
        s.ingest(POP, "", &key, ct, &csv, None)
            .problem(415, "unsupported-media-type");
    }
    let r = s.request("POST", &path, Some(&key), &[], None);
    r.problem(415, "unsupported-media-type");
    s.ingest("no-such-dataset", "", &key, CSV, &csv, None)
        .problem(404, "dataset-not-found");
    s.ingest(POP, "?mode=all-or-nothing", &key, CSV, &csv, None)
        .problem(400, "mode-invalid");
    s.ingest(POP, "?mode=", &key, CSV, &csv, None)
        .problem(400, "mode-invalid");
    s.ingest(POP, "?dry_run=true", &key, CSV, &csv, None)
        .problem(400, "query-invalid");
    s.ingest(POP, "?max_errors=many", &key, CSV, &csv, None)
        .problem(400, "query-invalid");

    // Authentication and authorisation.
    s.request("POST", &path, None, &[], Some((CSV, &csv)))
        .problem(401, "auth-missing");
    for (role, code) in [
        ("consumer-01", "role-required"),
        ("auditor", "role-required"),
        ("operator", "role-required"),
        ("civil-service-provider", "not-owner"),
    ] {
        let k = s.key(role);
        s.ingest(POP, "", &k, CSV, &csv, None).problem(403, code);
    }
    assert_absent(&s, &key, &id_of(&rows[0]));
    assert_eq!(count(&s, &key), base);
}

// ---------------------------------------------------------------------------------------------
// Body size limit (a server of our own, started with NDX_MAX_BATCH_BYTES)

/// An `ndx serve` with a 1,000-byte batch limit over a small demo country.
struct Limited {
    child: Child,
    addr: String,
    key: String,
    _dir: tempfile::TempDir,
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn limited_server() -> Limited {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path").to_owned();
    let out = common::run_ndx(&[
        "demo",
        "--no-serve",
        "--citizens",
        "50",
        "--seed",
        "7",
        "--data-dir",
        &data,
    ]);
    assert!(
        out.status.success(),
        "demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = Command::new(common::ndx_bin())
        .args(["serve", "--data-dir", &data, "--listen", "127.0.0.1:0"])
        .env("NDX_LOG", "warn")
        .env("NDX_MAX_BATCH_BYTES", "1000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ndx serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(a) = line.strip_prefix("listening on http://") {
                    break a.trim().to_owned();
                }
            }
            _ => {
                let status = child.wait().expect("wait");
                panic!("ndx serve exited before listening: {status}");
            }
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let keys: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("demo-keys.json")).expect("keys"),
    )
    .expect("keys JSON");
    Limited {
        child,
        addr,
        key: keys["population-provider"]
            .as_str()
            .expect("key")
            .to_owned(),
        _dir: dir,
    }
}

/// A raw HTTP/1.1 exchange, so the body can be sent chunked (no Content-Length).
fn raw_request(
    addr: &str,
    method: &str,
    path: &str,
    key: &str,
    body: Option<(&str, &[u8], bool)>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n"
    )
    .into_bytes();
    match body {
        None => req.extend_from_slice(b"\r\n"),
        Some((ct, bytes, chunked)) => {
            req.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            if chunked {
                req.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for c in bytes.chunks(200) {
                    req.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    req.extend_from_slice(c);
                    req.extend_from_slice(b"\r\n");
                }
                req.extend_from_slice(b"0\r\n\r\n");
            } else {
                req.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", bytes.len()).as_bytes(),
                );
                req.extend_from_slice(bytes);
            }
        }
    }
    // The server may answer (and stop reading) before the whole body is sent.
    let _ = stream.write_all(&req);
    let mut resp = Vec::new();
    let _ = stream.read_to_end(&mut resp);
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(&resp)));
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let mut rest = &resp[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head:?}"));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        let mut out = Vec::new();
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = std::str::from_utf8(&rest[..eol]).unwrap_or("0").trim();
            let n = usize::from_str_radix(size, 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + n]);
            rest = &rest[(eol + 4 + n).min(rest.len())..];
        }
        out
    } else {
        rest.to_vec()
    };
    (status, String::from_utf8(body).expect("UTF-8 body"))
}

fn limited_count(l: &Limited) -> u64 {
    let (status, body) = raw_request(&l.addr, "GET", "/api/v1/datasets/population", &l.key, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).expect("json")["records"]
        .as_u64()
        .expect("records")
}

fn assert_too_large(status: u16, body: &str, what: &str) {
    assert_eq!(status, 413, "{what}: {body}");
    let p: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
    assert_eq!(p["code"], "body-too-large", "{what}: {p}");
    assert_eq!(p["status"], 413, "{what}: {p}");
}

fn big_batch(fmt: Fmt) -> Vec<u8> {
    let rows: Vec<Value> = (700..760).map(person).collect();
    let body = fmt.body(&rows);
    assert!(body.len() > 1000);
    body
}

#[test]
fn body_over_the_limit_is_413_and_changes_nothing() {
    let l = limited_server();
    let base = limited_count(&l);
    let path = "/api/v1/datasets/population/records";
    for fmt in [Fmt::Csv, Fmt::Ndjson] {
        let body = big_batch(fmt);
        for chunked in [false, true] {
            for mode in ["", "?mode=per-record"] {
                let (status, resp) = raw_request(
                    &l.addr,
                    "POST",
                    &format!("{path}{mode}"),
                    &l.key,
                    Some((fmt.content_type(), &body, chunked)),
                );
                assert_too_large(status, &resp, &format!("{fmt:?} chunked={chunked} {mode}"));
            }
        }
    }
    // A JSON array with a declared length over the limit.
    let (status, resp) = raw_request(
        &l.addr,
        "POST",
        path,
        &l.key,
        Some((JSON, &big_batch(Fmt::Json), false)),
    );
    assert_too_large(status, &resp, "JSON with Content-Length");
    assert_eq!(limited_count(&l), base);

    // Under the limit, chunked or not, a batch goes through.
    for (i, chunked) in [false, true].into_iter().enumerate() {
        let body = csv_body(&[person(770 + i as u32)]);
        assert!(body.len() < 1000);
        let (status, resp) =
            raw_request(&l.addr, "POST", path, &l.key, Some((CSV, &body, chunked)));
        assert_eq!(status, 200, "{resp}");
    }
    assert_eq!(limited_count(&l), base + 2);
}

/// Regression: a chunked JSON array over the limit was answered 422 `body-read-failed`: the
/// JSON reader wrapped the I/O error, hiding that the cause was the size limit.
#[test]
fn chunked_json_array_over_the_limit_is_413() {
    let l = limited_server();
    let base = limited_count(&l);
    for mode in ["", "?mode=per-record"] {
        let (status, resp) = raw_request(
            &l.addr,
            "POST",
            &format!("/api/v1/datasets/population/records{mode}"),
            &l.key,
            Some((JSON, &big_batch(Fmt::Json), true)),
        );
        assert_too_large(status, &resp, &format!("chunked JSON {mode}"));
    }
    assert_eq!(limited_count(&l), base);
}

/// Regression: a body found too large while streaming kept the title of the error kind it was
/// first mapped to ("Invalid input"), while the Content-Length check says "Payload Too Large";
/// one problem type has one title (RFC 9457).
#[test]
fn body_too_large_problems_have_one_title() {
    let l = limited_server();
    let path = "/api/v1/datasets/population/records";
    let body = big_batch(Fmt::Csv);
    let titles: Vec<String> = [false, true]
        .into_iter()
        .map(|chunked| {
            let (status, resp) =
                raw_request(&l.addr, "POST", path, &l.key, Some((CSV, &body, chunked)));
            assert_too_large(status, &resp, &format!("chunked={chunked}"));
            let p: Value = serde_json::from_str(&resp).expect("problem");
            p["title"].as_str().expect("title").to_owned()
        })
        .collect();
    assert_eq!(titles[0], titles[1]);
}

// ---------------------------------------------------------------------------------------------
// Idempotency, versions, metrics

#[test]
fn idempotency_keys_replay_refuse_reuse_and_validate() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    let rows: Vec<Value> = (800..804).map(person).collect();
    let first = post(&s, &key, Fmt::Csv, "", &rows, Some("lo-2025-07-01.a:1"));
    let rep1 = ok_report(&first);
    assert_eq!(counts(&rep1), [4, 4, 0, 4, 0, 0, 0]);
    assert_eq!(rep1["batch_id"], "lo-2025-07-01.a:1");
    assert_eq!(first.header("idempotent-replayed"), None);

    // Same key, same body: the first report, flagged as replayed; nothing written.
    for _ in 0..2 {
        let again = post(&s, &key, Fmt::Csv, "", &rows, Some("lo-2025-07-01.a:1"));
        let rep2 = ok_report(&again);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(rep2["replayed"], true);
        let mut expect = rep1.clone();
        expect["replayed"] = json!(true);
        assert_eq!(rep2, expect);
    }
    for r in &rows {
        assert_eq!(versions(&s, &key, &id_of(r)), [1]);
        assert_eq!(
            get_record(&s, &key, &id_of(r)).json()["batch_id"],
            "lo-2025-07-01.a:1"
        );
    }
    assert_eq!(count(&s, &key), base + 4);

    // Same key, another body, another format of the same rows, or another mode: refused.
    let changed = vec![with(rows[0].clone(), "full_name", "Tên Khác")];
    post(&s, &key, Fmt::Csv, "", &changed, Some("lo-2025-07-01.a:1"))
        .problem(409, "batch-id-reused");
    post(&s, &key, Fmt::Ndjson, "", &rows, Some("lo-2025-07-01.a:1"))
        .problem(409, "batch-id-reused");
    post(
        &s,
        &key,
        Fmt::Csv,
        "?mode=per-record",
        &rows,
        Some("lo-2025-07-01.a:1"),
    )
    .problem(409, "batch-id-reused");
    assert_eq!(data_of(&s, &key, &id_of(&rows[0])), stored_form(&rows[0]));

    // Invalid keys.
    let too_long = "k".repeat(129);
    for bad in [
        "bad key",
        "bad/key",
        "lô-1",
        "a+b",
        "x=y",
        too_long.as_str(),
    ] {
        let r = post(&s, &key, Fmt::Csv, "", &[person(810)], Some(bad));
        // One code, one status, whether or not the header could be read as text.
        let p = r.problem(400, "batch-id-invalid");
        assert!(p["detail"].as_str().is_some(), "{p}");
    }
    assert_absent(&s, &key, &id_of(&person(810)));
    let longest = "k".repeat(128);
    let rep = ok_report(&post(
        &s,
        &key,
        Fmt::Csv,
        "",
        &[person(810)],
        Some(&longest),
    ));
    assert_eq!(rep["batch_id"], longest.as_str());

    // Batch ids are per dataset: the same id may name a batch of another dataset.
    let other = s.key("business-provider");
    let r = s.ingest(
        "businesses",
        "",
        &other,
        NDJSON,
        b"{\"tax_code\": \"bad\"}\n",
        Some("lo-2025-07-01.a:1"),
    );
    let p = r.problem(422, "batch-rejected");
    assert!(
        errors(&p["report"])
            .iter()
            .any(|e| e.3.as_deref() == Some("tax_code")),
        "{p}"
    );

    // A per-record batch whose records were all refused is still a batch: it replays.
    let all_bad = vec![with(person(820), "sex", "5")];
    let rep = ok_report(&post(
        &s,
        &key,
        Fmt::Ndjson,
        "?mode=per-record",
        &all_bad,
        Some("all-bad"),
    ));
    assert_eq!(counts(&rep), [1, 0, 1, 0, 0, 0, 0]);
    let again = post(
        &s,
        &key,
        Fmt::Ndjson,
        "?mode=per-record",
        &all_bad,
        Some("all-bad"),
    );
    assert_eq!(ok_report(&again)["replayed"], true);
    assert_eq!(count(&s, &key), base + 5);

    // Metrics count what was done, not replays: accepted 4 + 1 (the 128-char batch) + 0.
    assert_eq!(metric(&s, "ndx_ingest_records_accepted_total"), Some(5));
    assert_eq!(metric(&s, "ndx_ingest_records_rejected_total"), Some(1));
    assert_eq!(metric(&s, "ndx_ingest_batches_committed_total"), Some(3));
}

#[test]
fn unchanged_content_makes_no_version_and_changed_content_makes_version_2() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    let rows: Vec<Value> = (900..905)
        .map(|n| with(person(n), "phone", "0912345678"))
        .collect();
    let rep = ok_report(&post(&s, &key, Fmt::Ndjson, "", &rows, Some("v-1")));
    assert_eq!(counts(&rep), [5, 5, 0, 5, 0, 0, 0]);
    let hash = |id: &str| get_record(&s, &key, id).json()["content_hash"].clone();
    let hash0 = hash(&id_of(&rows[0]));
    let hash1 = hash(&id_of(&rows[1]));

    // The same content, in another batch and format: unchanged, no version.
    let rep = ok_report(&post(&s, &key, Fmt::Csv, "", &rows, Some("v-2")));
    assert_eq!(counts(&rep), [5, 5, 0, 0, 0, 5, 0], "{rep}");
    for r in &rows {
        let rec = get_record(&s, &key, &id_of(r)).json();
        assert_eq!(rec["version"], 1);
        assert_eq!(
            rec["batch_id"], "v-1",
            "an unchanged record keeps its lineage"
        );
    }

    // One record changed, one field removed, one new: version 2 for the changed ones.
    let mut next = rows.clone();
    next[1] = with(next[1].clone(), "street_address", "Số 9 phố Hàng Bông");
    next[2] = without(next[2].clone(), "phone");
    next.push(person(906));
    let rep = ok_report(&post(&s, &key, Fmt::Json, "", &next, Some("v-3")));
    assert_eq!(counts(&rep), [6, 6, 0, 1, 2, 3, 0], "{rep}");
    for (i, r) in next.iter().enumerate() {
        let rec = get_record(&s, &key, &id_of(r)).json();
        let (version, batch) = match i {
            1 | 2 => (2, "v-3"),
            5 => (1, "v-3"),
            _ => (1, "v-1"),
        };
        assert_eq!(rec["version"], version, "row {i}: {rec}");
        assert_eq!(rec["batch_id"], batch, "row {i}: {rec}");
        assert_eq!(rec["data"], stored_form(r), "row {i}");
    }
    assert_eq!(versions(&s, &key, &id_of(&next[1])), [2, 1]);
    assert!(data_of(&s, &key, &id_of(&next[2])).get("phone").is_none());
    assert_eq!(hash(&id_of(&rows[0])), hash0);
    assert_ne!(hash(&id_of(&rows[1])), hash1);
    assert_eq!(count(&s, &key), base + 6);

    assert_eq!(metric(&s, "ndx_ingest_records_accepted_total"), Some(16));
    assert_eq!(metric(&s, "ndx_ingest_batches_committed_total"), Some(3));
}

#[test]
fn nfd_text_is_stored_as_nfc_and_resending_it_in_nfc_creates_no_version() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    // "Nguyễn Thị Hương" with every accent as a combining mark (NFD).
    let nfd = "Nguye\u{302}\u{303}n Thi\u{323} Hu\u{31b}o\u{31b}ng";
    let nfc = "Nguyễn Thị Hương";
    assert_ne!(nfd, nfc);
    assert_eq!(nfc.chars().count(), 16);
    let row = with(person(951), "full_name", nfd);
    let rep = ok_report(&post(
        &s,
        &key,
        Fmt::Csv,
        "",
        std::slice::from_ref(&row),
        None,
    ));
    assert_eq!(counts(&rep), [1, 1, 0, 1, 0, 0, 0]);
    let data = data_of(&s, &key, &id_of(&row));
    assert_eq!(data["full_name"], nfc);

    for fmt in FORMATS {
        let again = with(row.clone(), "full_name", nfc);
        let rep = ok_report(&post(&s, &key, fmt, "", &[again], None));
        assert_eq!(
            counts(&rep),
            [1, 1, 0, 0, 0, 1, 0],
            "NFC via {fmt:?}: {rep}"
        );
        let rep = ok_report(&post(&s, &key, fmt, "", std::slice::from_ref(&row), None));
        assert_eq!(
            counts(&rep),
            [1, 1, 0, 0, 0, 1, 0],
            "NFD via {fmt:?}: {rep}"
        );
    }
    assert_eq!(versions(&s, &key, &id_of(&row)), [1]);

    // A name of 200 characters in NFC is within the limit even if its NFD form is longer.
    let long_nfd = "e\u{302}\u{301}".repeat(200);
    let rep = ok_report(&post(
        &s,
        &key,
        Fmt::Ndjson,
        "",
        &[with(person(953), "full_name", long_nfd)],
        None,
    ));
    assert_eq!(counts(&rep), [1, 1, 0, 1, 0, 0, 0], "{rep}");
    assert_eq!(
        data_of(&s, &key, &id_of(&person(953)))["full_name"],
        "ế".repeat(200)
    );
}

// ---------------------------------------------------------------------------------------------
// Duplicates and deletions in a batch

#[test]
fn duplicate_keys_in_a_batch() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let base = count(&s, &key);
    for (i, fmt) in FORMATS.into_iter().enumerate() {
        let n = 1000 + 10 * i as u32;
        let first = with(person(n), "street_address", "lần đầu");
        let second = with(person(n), "street_address", "lần hai");
        let rows = vec![first.clone(), person(n + 2), second];
        let id = id_of(&first);
        // Atomic: refused.
        let p = post(&s, &key, fmt, "", &rows, None).problem(422, "batch-rejected");
        assert_eq!(counts(&p["report"]), [3, 2, 1, 0, 0, 0, 0], "{fmt:?}: {p}");
        assert_eq!(
            errors(&p["report"]),
            [err(
                3,
                fmt.line_of(3),
                Some(&id),
                None,
                "duplicate-key-in-batch"
            )]
        );
        assert_absent(&s, &key, &id);
        // Per-record: the first occurrence is kept.
        let rep = ok_report(&post(&s, &key, fmt, "?mode=per-record", &rows, None));
        assert_eq!(counts(&rep), [3, 2, 1, 2, 0, 0, 0], "{fmt:?}: {rep}");
        assert_eq!(
            errors(&rep),
            [err(
                3,
                fmt.line_of(3),
                Some(&id),
                None,
                "duplicate-key-in-batch"
            )]
        );
        assert_eq!(data_of(&s, &key, &id)["street_address"], "lần đầu");
        assert_eq!(versions(&s, &key, &id), [1]);
    }
    // A duplicate of an unchanged record is still a duplicate.
    let row = person(1000);
    let again = with(row.clone(), "street_address", "lần đầu");
    let rep = ok_report(&post(
        &s,
        &key,
        Fmt::Ndjson,
        "?mode=per-record",
        &[again.clone(), with(again, "street_address", "khác")],
        None,
    ));
    assert_eq!(counts(&rep), [2, 1, 1, 0, 0, 1, 0], "{rep}");
    assert_eq!(count(&s, &key), base + 6);
}

/// Regression: in atomic mode the writer is dropped at the first invalid record, so a later
/// duplicate key was no longer detected and counted as accepted; the report of a refused batch
/// must count the rest exactly, as per-record mode does.
#[test]
fn atomic_report_counts_duplicates_after_the_first_invalid_record() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let rows = vec![
        with(person(1100), "sex", "5"),
        person(1102),
        with(person(1102), "full_name", "Bản sao"),
    ];
    let p = post(&s, &key, Fmt::Ndjson, "", &rows, None).problem(422, "batch-rejected");
    let rep = &p["report"];
    assert_eq!(
        errors(rep)
            .iter()
            .map(|e| (e.0, e.4.as_str()))
            .collect::<Vec<_>>(),
        [(1, "code-unknown"), (3, "duplicate-key-in-batch")],
        "{rep}"
    );
    assert_eq!(counts(rep), [3, 1, 2, 0, 0, 0, 0], "{rep}");
    assert_absent(&s, &key, &id_of(&rows[1]));
    // Per-record mode counts the same rows so.
    let rep = ok_report(&post(
        &s,
        &key,
        Fmt::Ndjson,
        "?mode=per-record",
        &rows,
        None,
    ));
    assert_eq!(counts(&rep), [3, 1, 2, 1, 0, 0, 0], "{rep}");
}

#[test]
fn op_column_deletes_records() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let rows: Vec<Value> = (1200..1204).map(person).collect();
    ok_report(&post(&s, &key, Fmt::Csv, "", &rows, None));
    let base = count(&s, &key);

    // CSV with an `_op` column: an upsert, a deletion carrying only the key, an unknown op.
    let csv = format!(
        "citizen_id,full_name,sex,date_of_birth,province_code,ward_code,_op\n\
         {},Tên Mới,1,1905-03-14,01,00004,upsert\n\
         {},,,,,,delete\n\
         {},,,,,,remove\n",
        id_of(&rows[0]),
        id_of(&rows[1]),
        id_of(&rows[2])
    );
    let rep = ok_report(&s.ingest(POP, "?mode=per-record", &key, CSV, csv.as_bytes(), None));
    assert_eq!(counts(&rep), [3, 2, 1, 0, 1, 0, 1], "{rep}");
    assert_eq!(
        errors(&rep),
        [err(3, Some(4), None, Some("_op"), "op-invalid")]
    );
    assert_eq!(data_of(&s, &key, &id_of(&rows[0]))["full_name"], "Tên Mới");
    get_record(&s, &key, &id_of(&rows[1])).problem(410, "record-deleted");
    assert_eq!(data_of(&s, &key, &id_of(&rows[2])), stored_form(&rows[2]));
    assert_eq!(count(&s, &key), base - 1);

    // NDJSON: deleting a record twice in one batch is a duplicate; deleting an unknown key
    // deletes nothing; `_op` must be a string.
    let nd = format!(
        "{{\"citizen_id\":\"{a}\",\"_op\":\"delete\"}}\n\
         {{\"citizen_id\":\"{a}\",\"_op\":\"delete\"}}\n\
         {{\"citizen_id\":\"{u}\",\"_op\":\"delete\"}}\n\
         {{\"citizen_id\":\"{b}\",\"_op\":true}}\n\
         {{\"_op\":\"delete\"}}\n",
        a = id_of(&rows[2]),
        u = id_of(&person(1299)),
        b = id_of(&rows[3]),
    );
    let rep = ok_report(&s.ingest(POP, "?mode=per-record", &key, NDJSON, nd.as_bytes(), None));
    assert_eq!(rep["deleted"], 1, "{rep}");
    assert_eq!(rep["created"], 0, "{rep}");
    assert_eq!(
        errors(&rep)
            .iter()
            .map(|e| (e.0, e.4.as_str()))
            .collect::<Vec<_>>(),
        [
            (2, "duplicate-key-in-batch"),
            (4, "op-invalid"),
            (5, "delete-without-key")
        ],
        "{rep}"
    );
    get_record(&s, &key, &id_of(&rows[2])).problem(410, "record-deleted");
    assert_absent(&s, &key, &id_of(&person(1299)));
    assert_eq!(count(&s, &key), base - 2);

    // Re-creating a deleted record counts as created and makes a new version.
    let rep = ok_report(&post(&s, &key, Fmt::Json, "", &[rows[1].clone()], None));
    assert_eq!(counts(&rep), [1, 1, 0, 1, 0, 0, 0], "{rep}");
    assert_eq!(versions(&s, &key, &id_of(&rows[1])), [3, 2, 1]);
    assert_eq!(count(&s, &key), base - 1);
}

/// Regression: a deletion whose key cell is empty was accepted (and counted `unchanged`) as a
/// deletion of the key "", instead of being refused as `delete-without-key`.
#[test]
fn delete_row_with_an_empty_key_is_refused() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let csv = "citizen_id,full_name,sex,date_of_birth,province_code,ward_code,_op\n,,,,,,delete\n";
    let rep = ok_report(&s.ingest(POP, "?mode=per-record", &key, CSV, csv.as_bytes(), None));
    assert_eq!(counts(&rep), [1, 0, 1, 0, 0, 0, 0], "{rep}");
    assert_eq!(
        errors(&rep),
        [err(1, Some(2), None, None, "delete-without-key")]
    );
    let rep = ok_report(&s.ingest(
        POP,
        "?mode=per-record",
        &key,
        NDJSON,
        b"{\"citizen_id\":\"\",\"_op\":\"delete\"}\n",
        None,
    ));
    assert_eq!(counts(&rep), [1, 0, 1, 0, 0, 0, 0], "{rep}");
}

// ---------------------------------------------------------------------------------------------
// Property: CSV round trip of arbitrary text

fn text_char() -> impl Strategy<Value = char> {
    let vietnamese: Vec<char> =
        "aăâbcdđeêghiklmnoôơpqrstuưvxyÁÀẢÃẠẮẰẲẴẶẤẦẨẪẬĐÉÈẺẼẸẾỀỂỄỆÍÌỈĨỊÓÒỎÕỌỐỒỔỖỘỚỜỞỠỢÚÙỦŨỤỨỪỬỮỰÝỲỶỸỴ"
            .chars()
            .collect();
    prop_oneof![
        4 => any::<char>().prop_filter("control characters are refused", |c| !c.is_control()),
        3 => prop::sample::select(vec!['"', ',', '\n', '\t', ' ', '\'', ';', '\\', '#']),
        4 => prop::sample::select(vietnamese),
        // Combining marks, so the NFC form differs from the input.
        2 => prop::sample::select(vec!['\u{300}', '\u{301}', '\u{302}', '\u{303}', '\u{306}', '\u{309}', '\u{31b}', '\u{323}']),
        1 => prop::sample::select(vec!['😀', '🇻', '🇳', '👩', '\u{200d}', '💻', '\u{feff}']),
    ]
}

#[test]
fn csv_round_trip_of_arbitrary_text_stores_its_nfc_form() {
    let s = Server::demo(1000);
    let key = s.key("population-provider");
    let serial = Cell::new(0u32);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = prop::collection::vec(text_char(), 1..60).prop_map(String::from_iter);
    let result = runner.run(&strategy, |text| {
        let n = serial.get();
        serial.set(n + 1);
        let row = with(person(500_000 + n), "street_address", text.as_str());
        let r = s.ingest(
            POP,
            "",
            &key,
            CSV,
            &csv_body(std::slice::from_ref(&row)),
            None,
        );
        // The reference NFC is unicode-normalization's, as re-exported by ndx-types.
        let expected = ndx_types::text::nfc(&text).into_owned();
        // Text that is blank, starts with a mark, or holds invisible or bidirectional
        // characters is refused with the rule's code, whatever the CSV quoting did.
        if let Err(fault) = ndx_types::text::check_characters(&expected, true) {
            prop_assert_eq!(r.status, 422, "{}", r.body);
            let report = &r.json()["report"];
            prop_assert_eq!(
                report["errors"][0]["code"].as_str(),
                Some(fault.code()),
                "{}",
                r.body
            );
            return Ok(());
        }
        prop_assert_eq!(r.status, 200, "{}", r.body);
        prop_assert_eq!(counts(&r.json()), [1, 1, 0, 1, 0, 0, 0]);
        let data = data_of(&s, &key, &id_of(&row));
        prop_assert_eq!(data["street_address"].as_str(), Some(expected.as_str()));
        prop_assert_eq!(&data["full_name"], &row["full_name"]);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
