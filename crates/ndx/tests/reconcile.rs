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
