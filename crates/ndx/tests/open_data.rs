//! Open data (issue 15): packages defined by the source's owner, the privacy gate (direct
//! identifiers never leave; personal columns declared; k-anonymity and l-diversity reached by
//! generalisation and suppression, checked by an independent Python script; an unreachable
//! target refused with nothing kept), counts with small cells suppressed, and downloads with
//! digests, ETags and byte ranges.

mod common;

use std::collections::HashMap;

use common::{Resp, Server};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn ok(r: Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    r.json()
}

fn package(name: &str, columns: Value, shape: &str, privacy: Value) -> Value {
    json!({
        "name": name,
        "title_vi": "Mẫu dữ liệu dân cư ẩn danh",
        "title_en": "Anonymised population sample",
        "description_vi": "Mẫu vi dữ liệu đã ẩn danh hóa",
        "licence": "cc-by-4.0",
        "keywords": ["dân số", "population"],
        "theme": "SOCI",
        "publisher": "BCA",
        "contact": {"name": "Cục Cảnh sát QLHC về TTXH", "email": "opendata@bca.gov.vn"},
        "frequency": "yearly",
        "view": {"dataset": "population", "columns": columns, "shape": shape},
        "privacy": privacy,
    })
}

fn micro_columns() -> Value {
    json!([
        {"name": "born", "field": "date_of_birth"},
        {"name": "sex", "field": "sex"},
        {"name": "province", "field": "ward_code", "transform": "province"},
        {"name": "ethnic", "field": "ethnic_code"},
    ])
}

fn micro_privacy(k: u32) -> Value {
    json!({
        "quasi_identifiers": [
            {"column": "born", "ladder": "date"},
            {"column": "sex", "ladder": "value"},
            {"column": "province", "ladder": "value"},
        ],
        "sensitive": ["ethnic"],
        "k": k, "l": 2, "max_suppressed": 0.05,
    })
}

fn fetch(
    s: &Server,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<u8>, HashMap<String, String>) {
    let (status, headers, body) = s.request_bytes("GET", path, None, headers, None);
    (status, body, headers)
}

/// The file of a release in one format.
fn file_of(release: &Value, format: &str) -> Value {
    release["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["format"] == format)
        .unwrap_or_else(|| panic!("no {format} file in {release}"))
        .clone()
}

/// A Parquet file's rows as text, read by the Apache reader (a missing value as empty).
fn parquet_rows(file: Vec<u8>) -> Vec<Vec<String>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let reader = SerializedFileReader::new(bytes::Bytes::from(file)).expect("a Parquet file");
    reader
        .get_row_iter(None)
        .expect("rows")
        .map(|row| {
            row.expect("a row")
                .get_column_iter()
                .map(|(_, field)| match field {
                    Field::Null => String::new(),
                    Field::Str(s) => s.clone(),
                    Field::Long(n) => n.to_string(),
                    other => panic!("unexpected Parquet value {other:?}"),
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_release_with_personal_fields_is_k_anonymous_by_an_independent_check() {
    let s = Server::demo_with(3000, &["--no-open-data"]);
    let provider = s.key("population-provider");
    let created = ok(
        s.put_json(
            "/api/v1/packages/population-sample",
            Some(&provider),
            &package(
                "population-sample",
                micro_columns(),
                "rows",
                micro_privacy(5),
            ),
        ),
        201,
    );
    assert_eq!(created["name"], "population-sample");
    let listed = ok(s.get("/api/v1/packages", None), 200);
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "public, no key: {listed}"
    );

    let release = ok(
        s.request(
            "POST",
            "/api/v1/packages/population-sample/releases",
            Some(&provider),
            &[],
            None,
        ),
        201,
    );
    assert_eq!(release["number"], 1);
    let privacy = &release["privacy"];
    assert!(privacy["achieved_k"].as_u64().expect("k") >= 5, "{release}");
    assert!(privacy["achieved_l"].as_u64().expect("l") >= 2, "{release}");
    let rows = release["rows"].as_u64().expect("rows");
    let suppressed = privacy["suppressed"].as_u64().expect("suppressed");
    assert_eq!(rows + suppressed, 3000, "{release}");
    assert!(suppressed <= 150, "at most 5 % suppressed: {release}");
    let born = privacy["generalised"]
        .as_array()
        .expect("generalised")
        .iter()
        .find(|g| g["column"] == "born")
        .expect("born")["level"]
        .clone();
    assert_ne!(
        born, "as-is",
        "exact birth dates single people out: {release}"
    );

    let csv_file = file_of(&release, "csv");
    let path = format!(
        "/download/population-sample/1/{}",
        csv_file["name"].as_str().expect("name")
    );
    let (status, body, r) = fetch(&s, &path, &[]);
    assert_eq!(status, 200);
    assert_eq!(
        hex::encode(Sha256::digest(&body)),
        csv_file["sha256"].as_str().expect("sha")
    );
    assert_eq!(
        body.len() as u64,
        csv_file["bytes"].as_u64().expect("bytes")
    );
    let etag = r.get("etag").expect("etag").to_owned();
    assert_eq!(
        etag,
        format!("\"{}\"", csv_file["sha256"].as_str().expect("sha"))
    );
    let text = String::from_utf8(body.clone()).expect("utf-8");
    assert!(
        text.starts_with("born,sex,province,ethnic\n"),
        "{}",
        &text[..60]
    );
    assert!(!text.contains("0010"), "no citizen ID leaks");

    // The independent check.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("release.csv");
    std::fs::write(&file, &body).expect("write");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_k_anonymity.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&file)
        .args([
            "--qi",
            "born,sex,province",
            "--k",
            "5",
            "--sensitive",
            "ethnic",
            "--l",
            "2",
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Byte ranges, ETags.
    let (status, part, r) = fetch(&s, &path, &[("Range", "bytes=0-9")]);
    assert_eq!(status, 206);
    assert_eq!(part, body[..10]);
    assert_eq!(
        r.get("content-range").map(String::as_str),
        Some(format!("bytes 0-9/{}", body.len()).as_str())
    );
    let (status, tail, _) = fetch(&s, &path, &[("Range", "bytes=-5")]);
    assert_eq!(status, 206);
    assert_eq!(tail, body[body.len() - 5..]);
    let beyond = format!("bytes={}-", body.len());
    let (status, problem, _) = fetch(&s, &path, &[("Range", beyond.as_str())]);
    assert_eq!(status, 416);
    assert!(String::from_utf8_lossy(&problem).contains("range-not-satisfiable"));
    let (status, nothing, _) = fetch(&s, &path, &[("If-None-Match", etag.as_str())]);
    assert_eq!((status, nothing.len()), (304, 0));
    s.get("/download/population-sample/2/x.csv", None)
        .problem(404, "release-not-found");
    s.get("/download/population-sample/1/other.csv", None)
        .problem(404, "release-not-found");
    s.get("/download/population-sample/zero/x.csv", None)
        .problem(404, "release-not-found");
    let json_file = file_of(&release, "json");
    let (status, body, _) = fetch(
        &s,
        &format!(
            "/download/population-sample/1/{}",
            json_file["name"].as_str().expect("name")
        ),
        &[],
    );
    assert_eq!(status, 200);
    let parsed: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(parsed.as_array().map(Vec::len), Some(rows as usize));
}

#[test]
fn the_gate_refuses_identifiers_undeclared_personal_data_and_unreachable_privacy() {
    let s = Server::demo_with(300, &["--no-open-data"]);
    let provider = s.key("population-provider");
    let put = |key: &str, body: &Value| {
        s.put_json(
            &format!("/api/v1/packages/{}", body["name"].as_str().expect("name")),
            Some(key),
            body,
        )
    };
    let p = put(
        &provider,
        &package(
            "with-ids",
            json!([{"name": "id", "field": "citizen_id"}, {"name": "sex", "field": "sex"}]),
            "rows",
            json!({"quasi_identifiers": [{"column": "sex", "ladder": "value"}]}),
        ),
    )
    .problem(422, "definition-invalid");
    assert_eq!(p["errors"][0]["code"], "direct-identifier", "{p}");
    let p = put(
        &provider,
        &package(
            "names-by-year",
            json!([{"name": "name", "field": "full_name"}]),
            "counts",
            json!({}),
        ),
    )
    .problem(422, "definition-invalid");
    assert_eq!(
        p["errors"][0]["code"], "direct-identifier",
        "even counted: {p}"
    );
    let p = put(
        &provider,
        &package("undeclared", micro_columns(), "rows", json!({"k": 5})),
    )
    .problem(422, "definition-invalid");
    assert_eq!(p["errors"][0]["code"], "privacy-undeclared", "{p}");
    // The node can only keep a schedule it is given.
    let mut unscheduled = package(
        "no-frequency",
        json!([{"name": "sex", "field": "sex"}]),
        "counts",
        json!({}),
    );
    unscheduled["scheduled"] = json!(true);
    unscheduled.as_object_mut().map(|o| o.remove("frequency"));
    let p = put(&provider, &unscheduled).problem(422, "definition-invalid");
    assert_eq!(p["errors"][0]["code"], "schedule-without-frequency", "{p}");
    put(
        &s.key("business-provider"),
        &package("not-theirs", micro_columns(), "rows", micro_privacy(5)),
    )
    .problem(403, "not-owner");
    put(
        &s.key("consumer-01"),
        &package("not-a-provider", micro_columns(), "rows", micro_privacy(5)),
    )
    .problem(403, "role-required");
    s.put_json(
        "/api/v1/packages/anonymous",
        None,
        &package("anonymous", micro_columns(), "rows", micro_privacy(5)),
    )
    .problem(401, "auth-missing");
    put(&provider, &json!({"name": "mismatch"})).problem(422, "body-invalid");
    s.put_json(
        "/api/v1/packages/other-name",
        Some(&provider),
        &package(
            "population-sample",
            micro_columns(),
            "rows",
            micro_privacy(5),
        ),
    )
    .problem(422, "id-mismatch");

    // k larger than the register: unreachable, refused, and nothing kept.
    ok(
        put(
            &provider,
            &package("too-private", micro_columns(), "rows", micro_privacy(1000)),
        ),
        201,
    );
    let p = s
        .request(
            "POST",
            "/api/v1/packages/too-private/releases",
            Some(&provider),
            &[],
            None,
        )
        .problem(422, "anonymisation-unreachable");
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("k = 1000")),
        "{p}"
    );
    assert_eq!(
        ok(s.get("/api/v1/packages/too-private/releases", None), 200),
        json!([])
    );
    s.get("/download/too-private/1/too-private-r1.csv", None)
        .problem(404, "release-not-found");
    s.request(
        "POST",
        "/api/v1/packages/no-such/releases",
        Some(&provider),
        &[],
        None,
    )
    .problem(404, "package-not-found");

    // Counts: per province, sex and age band, cells under k suppressed.
    ok(
        put(
            &provider,
            &package(
                "population-by-province",
                json!([
                    {"name": "province", "field": "province_code"},
                    {"name": "sex", "field": "sex"},
                    {"name": "age", "field": "date_of_birth", "transform": "age-band", "band": 10},
                ]),
                "counts",
                json!({"k": 5}),
            ),
        ),
        201,
    );
    let release = ok(
        s.request(
            "POST",
            "/api/v1/packages/population-by-province/releases",
            Some(&provider),
            &[],
            None,
        ),
        201,
    );
    assert_eq!(
        release["columns"],
        json!(["province", "sex", "age", "count"])
    );
    let file = release["files"][0]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    let (status, body, _) = fetch(
        &s,
        &format!("/download/population-by-province/1/{file}"),
        &[],
    );
    assert_eq!(status, 200);
    let text = String::from_utf8(body).expect("utf-8");
    let counts: Vec<u64> = text
        .lines()
        .skip(1)
        .map(|l| {
            l.rsplit(',')
                .next()
                .expect("count")
                .parse()
                .expect("number")
        })
        .collect();
    assert!(!counts.is_empty());
    assert!(counts.iter().all(|c| *c >= 5), "{text}");
    let total: u64 = counts.iter().sum();
    assert!(total <= 300 && total > 0, "counts of real records: {total}");
    // The Parquet file holds the same table, read by the Apache reader: text columns as
    // strings, the count as a 64-bit integer.
    let parquet_file = file_of(&release, "parquet");
    assert_eq!(parquet_file["media_type"], "application/vnd.apache.parquet");
    let (status, body, headers) = fetch(
        &s,
        &format!(
            "/download/population-by-province/1/{}",
            parquet_file["name"].as_str().expect("name")
        ),
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(
        body.len() as u64,
        parquet_file["bytes"].as_u64().expect("bytes")
    );
    assert_eq!(
        headers.get("etag").map(String::as_str),
        Some(format!("\"{}\"", parquet_file["sha256"].as_str().expect("sha")).as_str())
    );
    let csv_rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert_eq!(parquet_rows(body), csv_rows);
    // A second release is numbered after the first.
    let second = ok(
        s.request(
            "POST",
            "/api/v1/packages/population-by-province/releases",
            Some(&provider),
            &[],
            None,
        ),
        201,
    );
    assert_eq!(second["number"], 2);
    assert_eq!(
        second["files"][0]["sha256"], release["files"][0]["sha256"],
        "same data, same file"
    );
}

#[test]
fn views_downloads_and_api_calls_are_counted_per_package_and_day_and_kept_across_a_restart() {
    let s = Server::demo(300);
    let name = "don-vi-hanh-chinh-2025";
    let usage = |s: &Server| {
        s.get(&format!("/api/v1/packages/{name}/usage"), None)
            .ok(200)
    };
    assert_eq!(
        usage(&s),
        json!({"package": name, "views": 0, "downloads": 0, "api_calls": 0, "days": []})
    );
    // Two views: the API and CKAN's package_show (which reports itself in its summary).
    s.get(&format!("/api/v1/packages/{name}"), None).ok(200);
    let shown = s
        .get(&format!("/api/3/action/package_show?id={name}"), None)
        .ok(200);
    assert_eq!(
        shown["result"]["tracking_summary"],
        json!({"total": 2, "recent": 2})
    );
    // Downloads count by their first byte: a whole file and a range from 0 count, a range that
    // resumes one and an unchanged file (304) do not.
    let file = format!("/download/{name}/1/{name}-r1.csv");
    let (status, body, headers) = fetch(&s, &file, &[]);
    assert_eq!(status, 200);
    assert!(!body.is_empty());
    assert_eq!(fetch(&s, &file, &[("Range", "bytes=0-99")]).0, 206);
    assert_eq!(fetch(&s, &file, &[("Range", "bytes=100-")]).0, 206);
    let etag = headers.get("etag").expect("etag").clone();
    assert_eq!(fetch(&s, &file, &[("If-None-Match", etag.as_str())]).0, 304);
    // API calls on its rows and resources.
    s.get(
        &format!("/api/3/action/datastore_search?resource_id={name}-r1-csv&limit=1"),
        None,
    )
    .ok(200);
    s.get(
        &format!("/api/3/action/resource_show?id={name}-r1-json"),
        None,
    )
    .ok(200);
    let today = chrono::Utc::now().date_naive().to_string();
    let expected = json!({"package": name, "views": 2, "downloads": 2, "api_calls": 2,
        "days": [{"package": name, "day": today, "views": 2, "downloads": 2, "api_calls": 2}]});
    assert_eq!(usage(&s), expected);
    // Nothing of another package moved; every package is in the overview.
    let overview = s.get("/api/v1/open-data/usage", None).ok(200);
    let all = overview.as_array().expect("packages");
    assert_eq!(all.len(), 4);
    for p in all {
        let views = if p["package"] == name { 2 } else { 0 };
        assert_eq!(p["views"], views, "{p}");
    }
    s.get("/api/v1/packages/nothing-here/usage", None)
        .problem(404, "package-not-found");
    // A server that stops writes what it counted; the next one reads it.
    let dir = s.stop_into_dir();
    let s = Server::serve_dir(dir);
    assert_eq!(usage(&s), expected);
}

#[test]
fn a_demo_country_too_small_for_the_privacy_gate_starts_with_its_micro_data_package_unreleased() {
    // Three people cannot reach k = 5: the package is defined, its release refused by the gate
    // (as a publisher's would be), and the demo still starts with its other packages released.
    let s = Server::demo(3);
    let micro = "mau-du-lieu-dan-cu-an-danh";
    ok(s.get(&format!("/api/v1/packages/{micro}"), None), 200);
    assert_eq!(
        ok(
            s.get(&format!("/api/v1/packages/{micro}/releases"), None),
            200
        ),
        json!([])
    );
    let units = ok(
        s.get("/api/v1/packages/don-vi-hanh-chinh-2025/releases", None),
        200,
    );
    assert_eq!(units.as_array().map(Vec::len), Some(1), "{units}");
}
