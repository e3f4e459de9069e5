//! End-to-end tests of `ndx reconcile` on two CSV files: the demo's civil-service register
//! against its population (the report's columns, statuses, differences and duplicates checked
//! against the ground truth), each status on a hand-made register, values as agencies write
//! them, and bad input refused with a precise message and no report.

mod common;

use std::collections::HashMap;
use std::path::Path;

use ndx_demo::{CIVIL_SERVANT_FIELDS, Country, POPULATION_FIELDS, write_csv};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `ndx reconcile` with the usual arguments plus `extra`.
fn reconcile(reference: &Path, target: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "reconcile",
        "--reference",
        path(reference),
        "--reference-id",
        "citizen_id",
        "--target",
        path(target),
        "--target-id",
        "staff_id",
        "--out",
        path(out),
    ];
    args.extend_from_slice(extra);
    common::run_ndx(&args)
}

fn read_report(out: &Path) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let mut reader = csv::Reader::from_path(out).expect("report");
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

#[test]
fn the_demo_register_reconciles_against_its_population() {
    let dir = tempfile::tempdir().unwrap();
    let country = Country::new(11, 30_000);
    let staff = country.civil_servants();
    let reference = dir.path().join("population.csv");
    let target = dir.path().join("civil-servants.csv");
    let report = dir.path().join("report.csv");
    write_csv(
        country.population(),
        POPULATION_FIELDS,
        std::fs::File::create(&reference).unwrap(),
    )
    .unwrap();
    write_csv(
        staff.iter().map(|s| s.record.clone()),
        CIVIL_SERVANT_FIELDS,
        std::fs::File::create(&target).unwrap(),
    )
    .unwrap();

    let out = reconcile(&reference, &target, &report, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stderr(&out);
    assert!(
        summary.contains(&format!(
            "reconciled {} target records against 30000 reference records",
            staff.len()
        )),
        "{summary}"
    );
    assert!(summary.contains("findings: "), "{summary}");

    let (header, rows) = read_report(&report);
    assert_eq!(
        header,
        [
            "target_id",
            "status",
            "reference_id",
            "score",
            "differences",
            "duplicate_of"
        ]
    );
    assert_eq!(rows.len(), staff.len());
    let mut right = 0;
    let mut statuses: HashMap<String, usize> = HashMap::new();
    for (s, row) in staff.iter().zip(&rows) {
        assert_eq!(row["target_id"], s.record["staff_id"].as_str().unwrap());
        *statuses.entry(row["status"].clone()).or_default() += 1;
        let truth = s
            .truth
            .person_index
            .map(|i| country.citizen_id(i))
            .unwrap_or_default();
        if row["reference_id"] == truth {
            right += 1;
        }
        match row["status"].as_str() {
            "exact" => assert!(row["differences"].is_empty()),
            "match_with_differences" | "probable" => {
                let d: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&row["differences"])
                        .expect("differences are a JSON object");
                assert!(!d.is_empty());
                let score: f64 = row["score"].parse().unwrap();
                assert!((0.5..=1.0).contains(&score));
            }
            _ => assert!(row["reference_id"].is_empty()),
        }
        // A record without a citizen ID that was found gets the person's ID as a correction.
        if s.record.get("citizen_id").is_none() && row["status"] == "probable" {
            let d: serde_json::Value = serde_json::from_str(&row["differences"]).unwrap();
            assert_eq!(d["citizen_id"], truth.as_str());
        }
    }
    assert!(
        right as f64 >= 0.99 * staff.len() as f64,
        "{right} of {}: {statuses:?}",
        staff.len()
    );
    for status in ["exact", "match_with_differences", "probable"] {
        assert!(
            statuses.get(status).copied().unwrap_or(0) > 0,
            "{statuses:?}"
        );
    }
    let duplicates = rows
        .iter()
        .filter(|r| !r["duplicate_of"].is_empty())
        .count();
    let injected = staff
        .iter()
        .filter(|s| s.truth.errors.contains(&ndx_demo::InjectedError::Duplicate))
        .count();
    assert!(
        duplicates >= injected * 95 / 100 && duplicates <= injected + 2,
        "{duplicates} of {injected}"
    );
}

const REFERENCE: &str = "\
citizen_id,full_name,sex,date_of_birth,address
001090000001,Nguyễn Văn An,1,1990-03-07,\"12 Lê Lợi, Phường Ba Đình, Thành phố Hà Nội\"
001190000002,Trần Thị Bích,2,1990-11-20,\"5 Hàng Bông, Phường Hoàn Kiếm, Thành phố Hà Nội\"
079085000003,Lê Văn Song,1,1985-05-05,\"3 Đường B, Phường Sài Gòn, Thành phố Hồ Chí Minh\"
079085000004,Lê Văn Song,1,1985-05-05,\"3 Đường B, Phường Sài Gòn, Thành phố Hồ Chí Minh\"
001075000005,Phạm Minh Châu,1,1975-01-15,\"7 Phó Đức Chính, Phường Hồng Hà, Thành phố Hà Nội\"
";

#[test]
fn each_status_from_values_as_agencies_write_them() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.csv");
    let target = dir.path().join("target.csv");
    let report = dir.path().join("report.ndjson");
    std::fs::write(&reference, REFERENCE).unwrap();
    // A byte-order mark, labels for sex, dd/mm/yyyy dates, a name without diacritics, an old
    // address with abbreviations.
    std::fs::write(
        &target,
        "\u{feff}staff_id,citizen_id,full_name,sex,date_of_birth,address\n\
         CB1,001090000001,Nguyễn Văn An,Nam,07/03/1990,\"12 Lê Lợi, P. Ba Đình, TP. Hà Nội\"\n\
         CB2,001190000002,Tran Thi Bich,Nữ,20/11/1990,\"5 Hàng Bông, Phường Hoàn Kiếm, Hà Nội\"\n\
         CB3,,Phạm Minh Châu,Nam,1975-01-15,\"7 Phó Đức Chính, P. Phúc Xá, Q. Ba Đình, TP Hà Nội\"\n\
         CB4,,Lê Văn Song,1,05/05/1985,\"3 Đường B, Phường Sài Gòn, TP.HCM\"\n\
         CB5,,Hoàng Thị Không Có,2,1901-01-01,\"1 A, Phường Ba Đình, Hà Nội\"\n\
         CB6,001090000001,Nguyen Van An,1,1990-03-07,\"12 Lê Lợi, Phường Ba Đình, Hà Nội\"\n",
    )
    .unwrap();
    let out = reconcile(
        &reference,
        &target,
        &report,
        &["--format", "ndjson", "--quiet"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "--quiet: {}", stderr(&out));
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by: HashMap<&str, &serde_json::Value> = rows
        .iter()
        .map(|r| (r["target_id"].as_str().unwrap(), r))
        .collect();
    assert_eq!(by["CB1"]["status"], "exact");
    assert_eq!(by["CB1"]["reference_id"], "001090000001");
    assert_eq!(by["CB2"]["status"], "match_with_differences");
    assert_eq!(
        by["CB2"]["findings"],
        serde_json::json!(["diacritics-lost"])
    );
    assert_eq!(by["CB2"]["differences"][0]["reference"], "Trần Thị Bích");
    assert_eq!(by["CB3"]["status"], "probable", "{}", by["CB3"]);
    assert_eq!(by["CB3"]["reference_id"], "001075000005");
    assert_eq!(
        by["CB3"]["findings"],
        serde_json::json!(["citizen-id-missing", "old-address"])
    );
    assert_eq!(
        by["CB3"]["differences"][1]["reference"],
        "7 Phó Đức Chính, Phường Hồng Hà, Thành phố Hà Nội"
    );
    assert_eq!(by["CB4"]["status"], "ambiguous");
    assert_eq!(by["CB4"]["reference_id"], serde_json::Value::Null);
    assert_eq!(by["CB4"]["plausible_candidates"], 2);
    assert_eq!(by["CB5"]["status"], "no_match");
    assert_eq!(by["CB6"]["status"], "match_with_differences");
    assert_eq!(by["CB6"]["duplicate_of"], "CB1");

    // The same run as CSV: the fixed columns, differences as a JSON object.
    let csv_report = dir.path().join("report.csv");
    let out = reconcile(&reference, &target, &csv_report, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, rows) = read_report(&csv_report);
    let cb2 = rows.iter().find(|r| r["target_id"] == "CB2").unwrap();
    assert_eq!(cb2["differences"], r#"{"full_name":"Trần Thị Bích"}"#);
    let cb4 = rows.iter().find(|r| r["target_id"] == "CB4").unwrap();
    assert_eq!(
        (cb4["reference_id"].as_str(), cb4["differences"].as_str()),
        ("", "")
    );
}

#[test]
fn bad_input_is_refused_with_a_precise_message_and_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.csv");
    std::fs::write(&reference, REFERENCE).unwrap();
    let header = "staff_id,citizen_id,full_name,sex,date_of_birth,address\n";
    let cases: &[(&str, String, &[&str], &str)] = &[
        (
            "no id column",
            "id,full_name\nA,An\n".into(),
            &[],
            "no id column \"staff_id\"",
        ),
        (
            "no name column",
            "staff_id,citizen_id\nA,001090000001\n".into(),
            &[],
            "no full_name column",
        ),
        (
            "ragged row",
            format!("{header}CB1,,An,1,1990\n"),
            &[],
            "found record with 5 fields",
        ),
        (
            "empty id",
            format!("{header},,An,1,1990,\n"),
            &[],
            "line 2: empty staff_id",
        ),
        (
            "repeated id",
            format!("{header}CB1,,An,1,1990,\nCB2,,Bình,1,1990,\nCB1,,Chi,2,1990,\n"),
            &[],
            "line 4: target id \"CB1\" appears twice (records 1 and 3)",
        ),
        (
            "threshold out of range",
            format!("{header}CB1,,An,1,1990,\n"),
            &["--threshold", "0.2"],
            "threshold 0.2 is outside 0.5–1",
        ),
    ];
    for (what, body, extra, message) in cases {
        let target = dir.path().join("target.csv");
        let report = dir.path().join("report.csv");
        std::fs::write(&target, body).unwrap();
        let out = reconcile(&reference, &target, &report, extra);
        assert_eq!(out.status.code(), Some(3), "{what}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{what}: {}", stderr(&out));
        assert!(!report.exists(), "{what}: a report was written");
    }
    // Invalid UTF-8 in the reference, and a missing file.
    let target = dir.path().join("target.csv");
    std::fs::write(&target, format!("{header}CB1,,An,1,1990,\n")).unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, b"citizen_id,full_name\n001090000001,\xff\xfe\n").unwrap();
    let report = dir.path().join("report.csv");
    let out = reconcile(&bad, &target, &report, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid UTF-8"), "{}", stderr(&out));
    assert!(!report.exists());
    let out = reconcile(&dir.path().join("missing.csv"), &target, &report, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot open reference"),
        "{}",
        stderr(&out)
    );
    assert!(!report.exists());
}

/// Polls a run until it is no longer running.
fn finished(s: &common::Server, key: &str, id: &str) -> serde_json::Value {
    for _ in 0..600 {
        let r = s.get(&format!("/api/v1/reconciliations/{id}"), Some(key));
        assert_eq!(r.status, 200, "{}", r.body);
        let run = r.json();
        if run["status"] != "running" {
            return run;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("reconciliation {id} did not finish");
}

fn start(s: &common::Server, key: &str, purpose: &str, body: &serde_json::Value) -> common::Resp {
    let b = serde_json::to_vec(body).unwrap();
    s.request(
        "POST",
        "/api/v1/reconciliations",
        Some(key),
        &[("Ndx-Purpose", purpose)],
        Some(("application/json", &b)),
    )
}

#[test]
fn stored_registers_reconcile_under_the_agreement_and_every_citizen_sees_it() {
    let s = common::Server::demo(3000);
    let civil = s.key("civil-service-consumer");
    let body = serde_json::json!({"target": "civil-servants", "reference": "population"});
    let r = start(&s, &civil, "cross-checking", &body);
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/reconciliations/{id}").as_str())
    );
    assert_eq!(r.json()["status"], "running");
    let run = finished(&s, &civil, &id);
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["targets"], 5000);
    assert_eq!(run["references"], 3000);
    assert_eq!(run["purpose"], "cross-checking");
    assert_eq!(
        run["agreement"],
        s.approved_agreement(&civil, "population").as_str()
    );
    let statuses = run["statuses"].as_object().unwrap();
    assert_eq!(
        statuses.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        5000
    );
    assert!(
        run["findings"]["citizen-id-missing"].as_u64().unwrap() > 1000,
        "{run}"
    );
    assert!(!run["model"].as_array().unwrap().is_empty());

    // The report, as CSV (the default) and as NDJSON.
    let r = s.get(
        &format!("/api/v1/reconciliations/{id}/report"),
        Some(&civil),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    let mut reader = csv::Reader::from_reader(r.body.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "target_id",
            "status",
            "reference_id",
            "score",
            "differences",
            "duplicate_of"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5000);
    let exact = rows.iter().filter(|r| &r[1] == "exact").count() as u64;
    assert_eq!(exact, statuses["exact"].as_u64().unwrap());
    let r = s.request(
        "GET",
        &format!("/api/v1/reconciliations/{id}/report"),
        Some(&civil),
        &[("Accept", "application/x-ndjson")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let lines: Vec<serde_json::Value> = r
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5000);
    assert!(lines.iter().any(|l| {
        l["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "citizen-id-missing")
    }));

    // The extract of the population under the agreement is on each citizen's tracker.
    let citizen = s.key("citizen");
    let cid = citizen
        .trim_start_matches("ndxc_")
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    let accesses = s.accesses(&cid);
    assert!(
        accesses
            .iter()
            .any(|a| a["operation"] == "exchange.extract" && a["purpose"] == "cross-checking"),
        "{accesses:?}"
    );

    // Listed for its member; another member's key does not see it, not even by id.
    let runs = s.get("/api/v1/reconciliations", Some(&civil)).json();
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id.as_str())
    );
    let other = s.key("consumer-01");
    assert!(
        s.get("/api/v1/reconciliations", Some(&other))
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    s.get(&format!("/api/v1/reconciliations/{id}"), Some(&other))
        .problem(404, "reconciliation-not-found");
    s.get(
        &format!("/api/v1/reconciliations/{id}/report"),
        Some(&other),
    )
    .problem(404, "reconciliation-not-found");
    s.get("/api/v1/reconciliations/rec-0000000000000000", Some(&civil))
        .problem(404, "reconciliation-not-found");
    s.get("/api/v1/reconciliations/nonsense", Some(&civil))
        .problem(404, "reconciliation-not-found");
    let r = s.request(
        "GET",
        &format!("/api/v1/reconciliations/{id}/report"),
        Some(&civil),
        &[("Accept", "image/png")],
        None,
    );
    r.problem(406, "not-acceptable");
    s.get("/api/v1/reconciliations", None)
        .problem(401, "auth-missing");

    // The same through the command line.
    let out = s.dir.path().join("report.csv");
    let cli = common::run_ndx(&[
        "reconcile",
        "--reference-dataset",
        "population",
        "--target-dataset",
        "civil-servants",
        "--purpose",
        "cross-checking",
        "--url",
        &s.base,
        "--key",
        &civil,
        "--out",
        path(&out),
    ]);
    assert!(cli.status.success(), "{}", stderr(&cli));
    assert!(
        stderr(&cli)
            .contains("reconciled 5000 records of civil-servants against 3000 of population"),
        "{}",
        stderr(&cli)
    );
    let (_, rows) = read_report(&out);
    assert_eq!(rows.len(), 5000);
}

#[test]
fn stored_reconciliation_refusals_are_precise_and_audited() {
    let s = common::Server::demo(50);
    let civil = s.key("civil-service-consumer");
    let body = serde_json::json!({"target": "civil-servants", "reference": "population"});
    // The purpose must be the agreement's.
    start(&s, &civil, "public-service-delivery", &body).problem(403, "purpose-mismatch");
    let b = serde_json::to_vec(&body).unwrap();
    s.request(
        "POST",
        "/api/v1/reconciliations",
        Some(&civil),
        &[],
        Some(("application/json", &b)),
    )
    .problem(400, "purpose-missing");
    // Only the owner's own register is checked.
    let province = s.key("consumer-01");
    start(&s, &province, "cross-checking", &body).problem(403, "not-owner");
    // The owner's provider system holds no agreement on the population.
    let provider = s.key("civil-service-provider");
    let r = start(&s, &provider, "cross-checking", &body);
    assert_eq!(r.status, 403, "{}", r.body);
    // Unknown datasets, bad bodies.
    start(
        &s,
        &civil,
        "cross-checking",
        &serde_json::json!({"target": "nope", "reference": "population"}),
    )
    .problem(404, "dataset-not-found");
    start(
        &s,
        &civil,
        "cross-checking",
        &serde_json::json!({"target": "civil-servants", "reference": "nope"}),
    )
    .problem(404, "dataset-not-found");
    start(&s, &civil, "cross-checking", &serde_json::json!({"target": "civil-servants", "reference": "population", "threshold": 0.2}))
        .problem(400, "reconcile-input-invalid");
    start(
        &s,
        &civil,
        "cross-checking",
        &serde_json::json!({"target": "civil-servants", "reference": "population", "extra": 1}),
    )
    .problem(422, "body-invalid");
    start(
        &s,
        &civil,
        "cross-checking",
        &serde_json::json!({"target": 5}),
    )
    .problem(422, "body-invalid");
    // Nothing was started by any of them.
    assert!(
        s.get("/api/v1/reconciliations", Some(&civil))
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The refusals are in the audit log.
    let auditor = s.key("auditor");
    // Refusals are recorded at once; a head is signed within a second.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let size = s.get("/api/v1/audit/sth", None).json()["tree_size"]
        .as_u64()
        .unwrap();
    let r = s.get(
        &format!(
            "/api/v1/audit/entries?start={}&end={size}",
            size.saturating_sub(200)
        ),
        Some(&auditor),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let entries = r.json();
    let refused: Vec<String> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["operation"] == "reconcile.start" || e["operation"] == "exchange.extract")
        .filter(|e| e["outcome"]["allowed"] == false)
        .map(|e| e["outcome"]["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(refused.len() >= 3, "{refused:?}");
}

#[test]
fn an_accepted_correction_is_a_new_version_with_its_lineage_and_the_rerun_shows_it() {
    let s = common::Server::demo(3000);
    let civil = s.key("civil-service-consumer");
    let provider = s.key("civil-service-provider");
    let body = serde_json::json!({"target": "civil-servants", "reference": "population"});
    let id = start(&s, &civil, "cross-checking", &body).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(finished(&s, &civil, &id)["status"], "done");
    let report = |id: &str| -> Vec<serde_json::Value> {
        let r = s.request(
            "GET",
            &format!("/api/v1/reconciliations/{id}/report"),
            Some(&civil),
            &[("Accept", "application/x-ndjson")],
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let rows = report(&id);
    // A record whose only error is a swapped birth date, and one that is exact.
    let swapped = rows
        .iter()
        .find(|r| {
            r["status"] == "match_with_differences"
                && r["differences"].as_array().unwrap().len() == 1
                && r["differences"][0]["kind"] == "day-month-swapped"
        })
        .expect("a swapped birth date");
    let target_id = swapped["target_id"].as_str().unwrap().to_owned();
    let exact = rows.iter().find(|r| r["status"] == "exact").unwrap()["target_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/reconciliations/{id}/corrections");
    let decide = |key: &str, body: serde_json::Value| s.post_json(&path, Some(key), &body);

    // Another member's key does not see the run; the owner's consumer system does not decide.
    decide(
        &s.key("consumer-01"),
        serde_json::json!({"target_id": target_id, "decision": "accept"}),
    )
    .problem(404, "reconciliation-not-found");
    decide(
        &civil,
        serde_json::json!({"target_id": target_id, "decision": "accept"}),
    )
    .problem(403, "role-required");
    // What is not proposed cannot be accepted.
    decide(
        &provider,
        serde_json::json!({"target_id": exact, "decision": "accept"}),
    )
    .problem(409, "correction-not-applicable");
    decide(
        &provider,
        serde_json::json!({"target_id": target_id, "decision": "accept", "fields": ["full_name"]}),
    )
    .problem(409, "correction-not-applicable");
    decide(
        &provider,
        serde_json::json!({"target_id": "CB-nobody", "decision": "accept"}),
    )
    .problem(404, "record-not-found");
    decide(
        &provider,
        serde_json::json!({"target_id": target_id, "decision": "maybe"}),
    )
    .problem(422, "body-invalid");

    // The owner's provider accepts: a new version whose batch leads back to the decision.
    let r = decide(
        &provider,
        serde_json::json!({"target_id": target_id, "decision": "accept", "note": "checked with the staff member"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let c = r.json();
    assert_eq!(c["decision"], "accepted");
    assert_eq!(c["fields"][0]["field"], "date_of_birth");
    assert_eq!(c["reference_id"], swapped["reference_id"]);
    let batch = c["batch_id"].as_str().unwrap().to_owned();
    let history = s
        .get(
            &format!("/api/v1/datasets/civil-servants/records/{target_id}/history"),
            Some(&provider),
        )
        .json();
    let versions = history.as_array().unwrap();
    let last = versions
        .iter()
        .max_by_key(|v| v["version"].as_u64())
        .unwrap();
    assert_eq!(last["batch_id"], batch.as_str());
    assert_eq!(last["version"], c["version"]);
    assert_eq!(
        last["data"]["date_of_birth"],
        swapped["differences"][0]["reference"]
    );
    assert_eq!(versions.len(), 2, "{history}");
    // Decided once.
    decide(
        &provider,
        serde_json::json!({"target_id": target_id, "decision": "reject"}),
    )
    .problem(409, "correction-decided");
    let decided = s.get(&path, Some(&civil)).json();
    assert_eq!(decided.as_array().unwrap().len(), 1);

    // Rerun: the corrected record is exact now.
    let again = start(&s, &civil, "cross-checking", &body).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(finished(&s, &civil, &again)["status"], "done");
    let row = report(&again)
        .into_iter()
        .find(|r| r["target_id"] == target_id.as_str())
        .unwrap();
    assert_eq!(row["status"], "exact", "{row}");
}

#[test]
fn addresses_normalize_to_the_2025_units_or_say_why_not() {
    let s = common::Server::demo(20);
    let key = s.key("consumer-01");
    let get = |text: &str| {
        let q: String = url_encode(text);
        s.get(&format!("/api/v1/addresses/normalize?text={q}"), Some(&key))
    };
    let r = get("5 Pho Duc Chinh, P. Phuc Xa, Q. Ba Dinh, TP Ha Noi");
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.json();
    assert_eq!(a["form"], "legacy");
    assert_eq!(a["resolution"], "resolved");
    assert_eq!(a["street"], "5 Pho Duc Chinh");
    assert_eq!(a["wards"][0]["code"], "00097");
    assert_eq!(a["province"]["code"], "01");
    assert_eq!(
        a["current"],
        "5 Pho Duc Chinh, Phường Hồng Hà, Thành phố Hà Nội"
    );
    // A pre-2025 ward split between several: every candidate, no guess.
    let split = ndx_types::reference::ward_conversions()
        .iter()
        .find(|c| ndx_types::reference::ward_conversions_from(&c.old_ward_code).len() > 1)
        .unwrap();
    let a = get(&format!(
        "1 A, {}, {}, {}",
        split.old_ward_name, split.old_district_name, split.old_province_name
    ))
    .json();
    assert_eq!(a["resolution"], "ambiguous", "{a}");
    assert!(a["wards"].as_array().unwrap().len() > 1);
    assert_eq!(a["current"], serde_json::Value::Null);
    let a = get("12 Lê Lợi, Phường Không Có, Hà Nội").json();
    assert_eq!(
        (a["resolution"].as_str(), a["reason"].as_str()),
        (Some("unresolved"), Some("unknown ward"))
    );
    // Bad input.
    s.get("/api/v1/addresses/normalize", Some(&key))
        .problem(400, "query-invalid");
    get(&"a".repeat(1001)).problem(400, "query-invalid");
    get("1 A\u{7}, Hà Nội").problem(400, "query-invalid");
    s.get("/api/v1/addresses/normalize?text=x&other=1", Some(&key))
        .problem(400, "query-invalid");
    s.get("/api/v1/addresses/normalize?text=x", None)
        .problem(401, "auth-missing");
    // The command line prints the same.
    let out = common::run_ndx(&[
        "address",
        "5 Phó Đức Chính, Phường Phúc Xá, Quận Ba Đình, Hà Nội",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        a["current"],
        "5 Phó Đức Chính, Phường Hồng Hà, Thành phố Hà Nội"
    );
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
