//! End-to-end tests of `ndx import`: a file loaded as one idempotent batch into a demo data
//! directory, the summary and exit codes, the JSON report, and format detection; the result is
//! then read back through `ndx serve` on the same directory.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::Server;
use serde_json::Value;

const HEADER: &str =
    "citizen_id,full_name,sex,date_of_birth,province_code,ward_code,street_address";

/// A citizen ID of Hà Nội (prefix 001) born in 1905 (the demo country is born 1930 or later).
fn cid(serial: u32) -> String {
    let female = serial % 2 == 1;
    format!("001{}05{serial:06}", u32::from(female))
}

/// A valid CSV row of the population register for `serial` (odd serials are women).
fn row(serial: u32) -> String {
    let (name, sex) = if serial % 2 == 1 {
        ("Đỗ Thị Nhập", "2")
    } else {
        ("Hoàng Văn Nhập", "1")
    };
    format!("{},{name} {serial},{sex},1905,01,00004,", cid(serial))
}

fn json_row(serial: u32) -> String {
    let female = serial % 2 == 1;
    serde_json::json!({
        "citizen_id": cid(serial),
        "full_name": format!("Nhập JSON {serial}"),
        "sex": if female { "2" } else { "1" },
        "date_of_birth": "1905",
        "province_code": "01",
        "ward_code": "00004",
    })
    .to_string()
}

/// `ndx demo --no-serve` with 1,000 citizens into a fresh directory.
fn demo_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::run_ndx(&[
        "demo",
        "--no-serve",
        "--citizens",
        "1000",
        "--seed",
        "7",
        "--data-dir",
        path_str(dir.path()),
    ]);
    assert!(out.status.success(), "demo: {}", stderr(&out));
    dir
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write input");
    p
}

fn import(data: &Path, args: &[&str]) -> Output {
    let mut all = vec!["import", "--data-dir", path_str(data)];
    all.extend_from_slice(args);
    common::run_ndx(&all)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("report file")).expect("report JSON")
}

/// One listed error of a report: (record, line, key, field, code).
type ListedError<'a> = (u64, u64, Option<&'a str>, Option<&'a str>, &'a str);

/// received, accepted, rejected, created, updated, unchanged, deleted
fn counts(r: &Value) -> [u64; 7] {
    [
        "received",
        "accepted",
        "rejected",
        "created",
        "updated",
        "unchanged",
        "deleted",
    ]
    .map(|k| r[k].as_u64().unwrap_or_else(|| panic!("no {k} in {r}")))
}

fn get(s: &Server, key: &str, id: &str) -> (u16, Value) {
    let r = s.get(
        &format!("/api/v1/datasets/population/records/{id}"),
        Some(key),
    );
    let v = if r.status == 200 {
        r.json()
    } else {
        Value::Null
    };
    (r.status, v)
}

fn count(s: &Server, key: &str) -> u64 {
    let r = s.get("/api/v1/datasets/population", Some(key));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["records"].as_u64().expect("records")
}

#[test]
fn import_csv_batches_are_idempotent_atomic_or_per_record() {
    let data = demo_dir();
    let files = tempfile::tempdir().expect("tempdir");
    let f = files.path();

    // A valid file: one batch, summary on stderr.
    let ok = write(
        f,
        "ok.csv",
        &format!("{HEADER}\n{}\n{}\n{}\n", row(10), row(11), row(12)),
    );
    let out = import(
        data.path(),
        &[
            "--dataset",
            "population",
            path_str(&ok),
            "--batch-id",
            "imp-1",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("batch imp-1 into population (schema 1.0): committed"),
        "{err}"
    );
    assert!(
        err.contains("received 3  accepted 3  rejected 0  created 3"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The same file with the same batch id: already applied, nothing changed.
    let out = import(
        data.path(),
        &[
            "--dataset",
            "population",
            path_str(&ok),
            "--batch-id",
            "imp-1",
            "-q",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("already applied (nothing changed)"), "{err}");
    assert!(
        err.contains("created 3"),
        "the first report is replayed: {err}"
    );

    // The same batch id with other content or another mode: a conflict (exit 5).
    let changed = write(
        f,
        "changed.csv",
        &format!("{HEADER}\n{}\n{}\n", row(10), row(14)),
    );
    let out = import(
        data.path(),
        &[
            "--dataset",
            "population",
            path_str(&changed),
            "--batch-id",
            "imp-1",
            "-q",
        ],
    );
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already applied with a different body"),
        "{}",
        stderr(&out)
    );
    let out = import(
        data.path(),
        &[
            "--dataset",
            "population",
            path_str(&ok),
            "--batch-id",
            "imp-1",
            "--mode",
            "per-record",
            "-q",
        ],
    );
    assert_eq!(code(&out), 5, "{}", stderr(&out));

    // Atomic with one bad row: exit 3, nothing changed, the report still written.
    let bad = write(
        f,
        "bad.csv",
        &format!(
            "{HEADER}\n{}\n{}\n{}\n{}\n",
            row(20),
            row(21),
            row(22).replace(",1,1905,", ",5,1905,"),
            row(23)
        ),
    );
    let rejected = f.join("rejected.json");
    let out = import(
        data.path(),
        &[
            "--dataset",
            "population",
            path_str(&bad),
            "--report",
            path_str(&rejected),
            "-q",
        ],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("REJECTED (nothing changed)"), "{err}");
    assert!(
        err.contains(&format!(
            "record 3 (line 4) key \"{}\" field sex: [code-unknown]",
            cid(22)
        )),
        "{err}"
    );
    let rep = read_json(&rejected);
    assert_eq!(rep["status"], "rejected");
    assert_eq!(counts(&rep), [4, 3, 1, 0, 0, 0, 0], "{rep}");

    // Per-record: exit 0, the valid rows kept, the JSON report with exact row numbers.
    // Line 1 header; 2 row 30; 3-4 row 31 (multi-line address); 5 row 32 bad; 6 row 33;
    // 7 row 34 with a missing field.
    let mixed = write(
        f,
        "mixed.csv",
        &format!(
            "{HEADER}\n{}\n{}\"Số 5\nNgõ 7\"\n{}\n{}\n{}\n",
            row(30),
            row(31),
            row(32).replace(",01,00004,", ",01,25747,"),
            row(33),
            row(34).trim_end_matches(',')
        ),
    );
    let report = f.join("report.json");
    let out = import(
        data.path(),
        &[
            "--dataset",
            "population",
            path_str(&mixed),
            "--mode",
            "per-record",
            "--batch-id",
            "pr-1",
            "--report",
            path_str(&report),
            "-q",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rep = read_json(&report);
    assert_eq!(rep["status"], "committed");
    assert_eq!(rep["mode"], "per-record");
    assert_eq!(rep["batch_id"], "pr-1");
    assert_eq!(rep["replayed"], false);
    assert_eq!(counts(&rep), [5, 3, 2, 3, 0, 0, 0], "{rep}");
    let errors: Vec<ListedError<'_>> = rep["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["record"].as_u64().unwrap(),
                e["line"].as_u64().unwrap(),
                e.get("key").and_then(Value::as_str),
                e.get("field").and_then(Value::as_str),
                e["code"].as_str().unwrap(),
            )
        })
        .collect();
    let k32 = cid(32);
    assert_eq!(
        errors,
        [
            (
                3,
                5,
                Some(k32.as_str()),
                Some("ward_code"),
                "ward-not-in-province"
            ),
            (5, 7, None, None, "csv-field-count"),
        ]
    );
    assert!(
        stderr(&out).contains("record 3 (line 5)"),
        "{}",
        stderr(&out)
    );

    // --max-errors bounds the listed errors, not the counts.
    let few = f.join("few.json");
    let out = import(
        data.path(),
        &[
            "--dataset",
            "population",
            path_str(&mixed),
            "--mode",
            "per-record",
            "--max-errors",
            "1",
            "--report",
            path_str(&few),
            "-q",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rep = read_json(&few);
    assert_eq!(counts(&rep), [5, 3, 2, 0, 0, 3, 0], "{rep}");
    assert_eq!(rep["errors"].as_array().unwrap().len(), 1);
    assert_eq!(rep["errors_truncated"], true);
    assert!(stderr(&out).contains("2 errors in all"), "{}", stderr(&out));

    // Read it all back through the server.
    let s = Server::serve_dir(data);
    let key = s.key("population-provider");
    for n in [10, 11, 12] {
        let (status, v) = get(&s, &key, &cid(n));
        assert_eq!(status, 200);
        assert_eq!(v["version"], 1, "imported once: {v}");
        assert_eq!(v["batch_id"], "imp-1");
        assert_eq!(v["source_system"], "BCA-POPULATION");
        assert_eq!(
            v["data"]["full_name"],
            format!(
                "{} {n}",
                if n % 2 == 1 {
                    "Đỗ Thị Nhập"
                } else {
                    "Hoàng Văn Nhập"
                }
            )
        );
        assert!(
            v["data"].get("street_address").is_none(),
            "empty cell is absent: {v}"
        );
    }
    for n in [14, 20, 21, 22, 23, 32, 34] {
        assert_eq!(get(&s, &key, &cid(n)).0, 404, "{n} must not exist");
    }
    for n in [30, 31, 33] {
        let (status, v) = get(&s, &key, &cid(n));
        assert_eq!(status, 200);
        assert_eq!(v["batch_id"], "pr-1");
    }
    assert_eq!(
        get(&s, &key, &cid(31)).1["data"]["street_address"],
        "Số 5\nNgõ 7"
    );
    assert_eq!(count(&s, &key), 1000 + 6);
}

#[test]
fn import_detects_the_format_from_the_extension() {
    let data = demo_dir();
    let files = tempfile::tempdir().expect("tempdir");
    let f = files.path();
    let inputs = [
        write(f, "a.csv", &format!("{HEADER}\n{}\n", row(40))),
        write(f, "b.ndjson", &format!("{}\n", json_row(41))),
        write(f, "c.jsonl", &format!("{}\n", json_row(42))),
        write(
            f,
            "d.json",
            &format!("[{}, {}]", json_row(43), json_row(44)),
        ),
        write(f, "E.CSV", &format!("{HEADER}\n{}\n", row(46))),
    ];
    for (i, p) in inputs.iter().enumerate() {
        let id = format!("fmt-{i}");
        let out = import(
            data.path(),
            &[
                "--dataset",
                "population",
                path_str(p),
                "--batch-id",
                &id,
                "-q",
            ],
        );
        assert_eq!(code(&out), 0, "{}: {}", p.display(), stderr(&out));
        assert!(stderr(&out).contains("committed"), "{}", stderr(&out));
    }

    // An unknown extension needs --format.
    let txt = write(f, "e.txt", &format!("{HEADER}\n{}\n", row(45)));
    let out = import(
        data.path(),
        &["--dataset", "population", path_str(&txt), "-q"],
    );
    assert_ne!(code(&out), 0);
    let err = stderr(&out);
    assert!(
        err.contains("cannot tell the format") && err.contains("--format"),
        "{err}"
    );
    let out = import(
        data.path(),
        &[
            "--dataset",
            "population",
            path_str(&txt),
            "--format",
            "csv",
            "-q",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // --format overrides the extension: NDJSON in a .json file.
    let nd_in_json = write(
        f,
        "nd.json",
        &format!("{}\n{}\n", json_row(48), json_row(49)),
    );
    let out = import(
        data.path(),
        &["--dataset", "population", path_str(&nd_in_json), "-q"],
    );
    assert_eq!(
        code(&out),
        3,
        "read as a JSON array it is malformed: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("malformed"), "{}", stderr(&out));
    let out = import(
        data.path(),
        &[
            "--dataset",
            "population",
            path_str(&nd_in_json),
            "--format",
            "ndjson",
            "-q",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Standard input.
    let mut child = Command::new(common::ndx_bin())
        .args([
            "import",
            "--data-dir",
            path_str(data.path()),
            "--dataset",
            "population",
            "-",
            "--format",
            "ndjson",
            "--batch-id",
            "stdin-1",
            "-q",
        ])
        .env("NDX_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ndx import");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{}\n", json_row(47)).as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let s = Server::serve_dir(data);
    let key = s.key("population-provider");
    for (n, batch) in [
        (40, Some("fmt-0")),
        (41, Some("fmt-1")),
        (42, Some("fmt-2")),
        (43, Some("fmt-3")),
        (44, Some("fmt-3")),
        (46, Some("fmt-4")),
        (45, None),
        (47, Some("stdin-1")),
        (48, None),
        (49, None),
    ] {
        let (status, v) = get(&s, &key, &cid(n));
        assert_eq!(status, 200, "record {n}");
        if let Some(b) = batch {
            assert_eq!(v["batch_id"], b, "record {n}");
        }
    }
    assert_eq!(count(&s, &key), 1000 + 10);
}

#[test]
fn import_failures_have_distinct_exit_codes_and_change_nothing() {
    let data = demo_dir();
    let files = tempfile::tempdir().expect("tempdir");
    let f = files.path();
    let ok = write(f, "ok.csv", &format!("{HEADER}\n{}\n", row(50)));

    let out = import(data.path(), &["--dataset", "nope", path_str(&ok), "-q"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("\"nope\" does not exist"),
        "{}",
        stderr(&out)
    );

    let missing = f.join("missing.csv");
    let out = import(
        data.path(),
        &["--dataset", "population", path_str(&missing), "-q"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot open"), "{}", stderr(&out));

    let out = import(
        data.path(),
        &[
            "--dataset",
            "population",
            path_str(&ok),
            "--batch-id",
            "bad id!",
            "-q",
        ],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("batch id"), "{}", stderr(&out));

    let unknown_col = write(
        f,
        "col.csv",
        &format!("{HEADER},nickname\n{}Tí\n", row(51) + ","),
    );
    let out = import(
        data.path(),
        &["--dataset", "population", path_str(&unknown_col), "-q"],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("nickname"), "{}", stderr(&out));

    let empty = write(f, "empty.ndjson", "");
    let out = import(
        data.path(),
        &["--dataset", "population", path_str(&empty), "-q"],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("no records"), "{}", stderr(&out));

    // Usage errors (clap): exit 2.
    let out = import(data.path(), &[path_str(&ok)]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = import(
        data.path(),
        &[
            "--dataset",
            "population",
            path_str(&ok),
            "--mode",
            "lenient",
        ],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));

    let s = Server::serve_dir(data);
    let key = s.key("population-provider");
    assert_eq!(count(&s, &key), 1000);
    for n in [50, 51] {
        assert_eq!(get(&s, &key, &cid(n)).0, 404);
    }
}

/// Issue 11: `ndx import --report` to a path it cannot write committed the batch, then exited 1;
/// the report path is now checked before anything is written.
#[test]
fn a_report_path_that_cannot_be_written_stops_the_import_before_it_commits() {
    let data = demo_dir();
    let files = tempfile::tempdir().expect("tempdir");
    let f = files.path();
    let ok = write(f, "ok.csv", &format!("{HEADER}\n{}\n", row(60)));
    for bad in [f.join("no-such-dir").join("report.json"), f.to_path_buf()] {
        let out = import(
            data.path(),
            &[
                "--dataset",
                "population",
                path_str(&ok),
                "-q",
                "--report",
                path_str(&bad),
            ],
        );
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        assert!(stderr(&out).contains("report"), "{}", stderr(&out));
    }
    // A refused import leaves no report file behind that it created.
    let report = f.join("report.json");
    let bad = write(
        f,
        "bad.csv",
        &format!("{HEADER}\nnot-an-id,A,1,1905,01,00004,\n"),
    );
    let out = import(
        data.path(),
        &[
            "--dataset",
            "population",
            path_str(&bad),
            "-q",
            "--report",
            path_str(&report),
        ],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(report.exists(), "a rejected batch has a report");
    std::fs::remove_file(&report).expect("rm");
    let out = import(
        data.path(),
        &[
            "--dataset",
            "nope",
            path_str(&ok),
            "-q",
            "--report",
            path_str(&report),
        ],
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(!report.exists(), "no report for an import that never ran");

    let s = Server::serve_dir(data);
    let key = s.key("population-provider");
    assert_eq!(count(&s, &key), 1000);
    assert_eq!(get(&s, &key, &cid(60)).0, 404);
}

/// Issue 11: `ndx import` of an endless stream grew without bound. It stops at the same input
/// limit as an upload over HTTP (`max_batch_bytes`) and commits nothing.
#[test]
fn an_endless_input_stops_at_the_batch_limit_and_changes_nothing() {
    let data = demo_dir();
    let mut child = Command::new(common::ndx_bin())
        .args([
            "import",
            "--data-dir",
            path_str(data.path()),
            "--dataset",
            "population",
            "--format",
            "ndjson",
            "--mode",
            "per-record",
            "-q",
            "-",
        ])
        .env("NDX_MAX_BATCH_BYTES", "2000000")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ndx import");
    let mut stdin = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || {
        // Far more than the limit; the importer must stop reading long before the end.
        let mut sent = 0u64;
        for serial in 0..2_000_000u32 {
            let line = format!("{}\n", json_row(100_000 + serial));
            if stdin.write_all(line.as_bytes()).is_err() {
                return (sent, true);
            }
            sent += line.len() as u64;
        }
        (sent, false)
    });
    let out = child.wait_with_output().expect("wait");
    let (sent, stopped) = feeder.join().expect("feeder");
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exceeds 2000000 bytes"),
        "{}",
        stderr(&out)
    );
    assert!(
        stopped,
        "the importer read all {sent} bytes instead of stopping"
    );
    let s = Server::serve_dir(data);
    let key = s.key("population-provider");
    assert_eq!(count(&s, &key), 1000);
}

#[test]
fn import_converts_codes_from_the_list_the_file_names() {
    let data = demo_dir();
    let files = tempfile::tempdir().expect("tempdir");
    let mut record: Value = serde_json::from_str(&json_row(70)).expect("json");
    record["ethnic_code"] = "04".into();
    let file = write(files.path(), "ethnic-1979.ndjson", &format!("{record}\n"));
    let args = |lists: &str| {
        vec![
            "--dataset".to_owned(),
            "population".to_owned(),
            path_str(&file).to_owned(),
            "--code-lists".to_owned(),
            lists.to_owned(),
            "-q".to_owned(),
        ]
    };
    let run = |lists: &str| {
        let a = args(lists);
        import(
            data.path(),
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    // A malformed list is a usage error; one the dataset cannot use is refused: nothing is
    // written either way.
    let out = run("ethnic-group");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = run("purpose@1");
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("purpose@1"), "{}", stderr(&out));
    let out = run("ethnic-group@1");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let s = Server::serve_dir(data);
    let (status, v) = get(&s, &s.key("population-provider"), &cid(70));
    assert_eq!(status, 200);
    // 1979's 04 (Hoa) is the population's 2008 code 06.
    assert_eq!(v["data"]["ethnic_code"], "06", "{v}");
}
