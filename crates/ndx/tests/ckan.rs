//! CKAN's Action API as clients call it (issue 15): GET with query parameters and POST with a
//! JSON body under `/api/3/action/` and `/api/action/`, CKAN's envelope and field names, a
//! package's resources downloadable at their absolute URLs, and CKAN's errors.

mod common;

use common::{Resp, Server};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn ok(r: Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["success"], true, "{v}");
    assert!(
        v["help"]
            .as_str()
            .is_some_and(|h| h.contains("/api/3/action/help_show?name=")),
        "{v}"
    );
    v["result"].clone()
}

fn post(s: &Server, path: &str, body: &Value) -> Resp {
    s.post_json(path, None, body)
}

/// A demo with one package published (population counts by province and sex).
fn published() -> Server {
    let s = Server::demo_with(300, &["--no-open-data"]);
    let provider = s.key("population-provider");
    let r = s.put_json(
        "/api/v1/packages/dan-so-theo-tinh",
        Some(&provider),
        &json!({
            "name": "dan-so-theo-tinh",
            "title_vi": "Dân số theo tỉnh và giới tính",
            "title_en": "Population by province and sex",
            "description_vi": "Số người theo tỉnh, giới tính",
            "licence": "cc-by-4.0",
            "keywords": ["dân số", "Hà Nội"],
            "theme": "SOCI",
            "publisher": "BCA",
            "contact": {"name": "BCA", "email": "opendata@bca.gov.vn"},
            "spatial": ["01"],
            "view": {"dataset": "population", "shape": "counts", "columns": [
                {"name": "province", "field": "province_code"}, {"name": "sex", "field": "sex"}]},
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.request(
        "POST",
        "/api/v1/packages/dan-so-theo-tinh/releases",
        Some(&provider),
        &[],
        None,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    s
}

#[test]
fn ckan_clients_list_show_and_download_as_they_do_from_ckan() {
    let s = published();
    for prefix in ["/api/3/action", "/api/action"] {
        let status = ok(s.get(&format!("{prefix}/status_show"), None));
        assert_eq!(status["ckan_version"], "2.10.4");
        assert_eq!(
            ok(s.get(&format!("{prefix}/package_list"), None)),
            json!(["dan-so-theo-tinh"])
        );
        assert_eq!(
            ok(post(&s, &format!("{prefix}/package_list"), &json!({}))),
            json!(["dan-so-theo-tinh"])
        );
    }
    assert_eq!(
        ok(s.get("/api/3/action/package_list?limit=1&offset=1", None)),
        json!([])
    );
    let mut via_get = ok(s.get("/api/3/action/package_show?id=dan-so-theo-tinh", None));
    let mut p = ok(post(
        &s,
        "/api/3/action/package_show",
        &json!({"id": "dan-so-theo-tinh"}),
    ));
    // Each show is a view, counted in the summary it answers.
    assert_eq!(
        via_get["tracking_summary"],
        json!({"total": 1, "recent": 1})
    );
    assert_eq!(p["tracking_summary"], json!({"total": 2, "recent": 2}));
    for dict in [&mut p, &mut via_get] {
        dict.as_object_mut().map(|o| o.remove("tracking_summary"));
    }
    assert_eq!(p, via_get, "GET and POST answer alike");
    assert_eq!(p["name"], "dan-so-theo-tinh");
    assert_eq!(p["title"], "Dân số theo tỉnh và giới tính");
    assert_eq!(p["license_id"], "cc-by-4.0");
    assert_eq!(p["type"], "dataset");
    assert_eq!(p["state"], "active");
    assert_eq!(p["private"], false);
    assert_eq!(p["owner_org"], "bca");
    assert_eq!(p["organization"]["is_organization"], true);
    assert_eq!(p["num_tags"], 2);
    assert_eq!(p["tags"][0]["name"], "dân số");
    assert_eq!(p["groups"][0]["name"], "soci");
    assert_eq!(p["num_resources"], 3);
    let csv = p["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["format"] == "CSV")
        .expect("csv")
        .clone();
    let url = csv["url"].as_str().expect("url");
    assert!(url.starts_with("http://127.0.0.1:"), "absolute: {url}");
    let path = &url[url.find("/download/").expect("download path")..];
    let file = s.get(path, None);
    assert_eq!(file.status, 200);
    assert_eq!(
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(file.body.as_bytes()))
        ),
        csv["hash"].as_str().expect("hash")
    );
    assert_eq!(csv["size"].as_u64(), Some(file.body.len() as u64));
    let r = ok(s.get(
        &format!(
            "/api/3/action/resource_show?id={}",
            csv["id"].as_str().expect("id")
        ),
        None,
    ));
    assert_eq!(r, csv);
    let extras: Vec<&str> = p["extras"]
        .as_array()
        .expect("extras")
        .iter()
        .map(|e| e["key"].as_str().expect("key"))
        .collect();
    assert!(
        extras.contains(&"k_anonymity") && extras.contains(&"spatial"),
        "{extras:?}"
    );

    let orgs = ok(s.get("/api/3/action/organization_list", None));
    assert_eq!(orgs, json!(["bca"]));
    let orgs = ok(s.get("/api/3/action/organization_list?all_fields=true", None));
    assert_eq!(orgs[0]["package_count"], 1);
    let org = ok(post(
        &s,
        "/api/3/action/organization_show",
        &json!({"id": "bca", "include_datasets": true}),
    ));
    assert_eq!(org["packages"][0]["name"], "dan-so-theo-tinh");
    assert_eq!(ok(s.get("/api/3/action/group_list", None)), json!(["soci"]));
    assert_eq!(
        ok(s.get("/api/3/action/tag_list", None)),
        json!(["Hà Nội", "dân số"])
    );
    assert_eq!(
        ok(s.get("/api/3/action/tag_list?query=ha%20noi", None)),
        json!(["Hà Nội"])
    );
}

#[test]
fn ckan_errors_keep_the_envelope() {
    let s = published();
    let err = |r: Resp, status: u16, kind: &str| {
        assert_eq!(r.status, status, "{}", r.body);
        let v = r.json();
        assert_eq!(v["success"], false, "{v}");
        assert_eq!(v["error"]["__type"], kind, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    };
    err(
        s.get("/api/3/action/package_show?id=no-such", None),
        404,
        "Not Found Error",
    );
    err(
        s.get("/api/3/action/package_show", None),
        409,
        "Validation Error",
    );
    err(
        s.get("/api/3/action/resource_show?id=nothing", None),
        404,
        "Not Found Error",
    );
    err(
        s.get("/api/3/action/organization_show?id=zzz", None),
        404,
        "Not Found Error",
    );
    err(
        s.get("/api/3/action/package_list?limit=many", None),
        409,
        "Validation Error",
    );
    err(
        s.get("/api/3/action/no_such_action", None),
        400,
        "Not Found Error",
    );
    err(
        post(&s, "/api/3/action/package_show", &json!(["id"])),
        409,
        "Validation Error",
    );
    let r = s.request(
        "POST",
        "/api/3/action/package_show",
        None,
        &[],
        Some(("application/json", b"{not json")),
    );
    err(r, 400, "Bad request");
}

/// Publishes a second package, of another member (business counts by province and legal form).
fn with_businesses(s: &Server) {
    let provider = s.key("business-provider");
    let r = s.put_json(
        "/api/v1/packages/doanh-nghiep-theo-loai-hinh",
        Some(&provider),
        &json!({
            "name": "doanh-nghiep-theo-loai-hinh",
            "title_vi": "Doanh nghiệp theo loại hình",
            "title_en": "Businesses by legal form",
            "licence": "cc0-1.0",
            "keywords": ["doanh nghiệp"],
            "theme": "ECON",
            "publisher": "BTC",
            "contact": {"name": "BTC", "email": "opendata@mof.gov.vn"},
            "view": {"dataset": "businesses", "shape": "counts", "columns": [
                {"name": "province", "field": "province_code"}, {"name": "legal_form", "field": "legal_form"}]},
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.request(
        "POST",
        "/api/v1/packages/doanh-nghiep-theo-loai-hinh/releases",
        Some(&provider),
        &[],
        None,
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

fn names(result: &Value) -> Vec<String> {
    result["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn package_search_folds_diacritics_filters_pages_and_counts_facets() {
    let s = published();
    with_businesses(&s);
    let search = |query: &str| ok(s.get(&format!("/api/3/action/package_search?{query}"), None));
    let all = search("");
    assert_eq!(all["count"], 2);
    assert_eq!(all["results"][0]["num_resources"], 3, "full package dicts");
    assert_eq!(
        names(&search("q=ha%20noi")),
        ["dan-so-theo-tinh"],
        "no diacritics typed"
    );
    assert_eq!(
        names(&search("q=H%C3%80%20N%E1%BB%98I")),
        ["dan-so-theo-tinh"],
        "upper case"
    );
    assert_eq!(
        names(&search("q=doanh%20nghiep")),
        ["doanh-nghiep-theo-loai-hinh"]
    );
    assert_eq!(
        names(&search("q=businesses")),
        ["doanh-nghiep-theo-loai-hinh"],
        "English titles"
    );
    assert_eq!(search("q=khong%20co%20gi")["count"], 0);
    assert_eq!(
        names(&search("fq=organization:btc")),
        ["doanh-nghiep-theo-loai-hinh"]
    );
    assert_eq!(
        names(&search("fq=tags:%22d%C3%A2n%20s%E1%BB%91%22")),
        ["dan-so-theo-tinh"],
        "a quoted tag"
    );
    assert_eq!(search("fq=res_format:CSV%20license_id:cc0-1.0")["count"], 1);
    assert_eq!(
        names(&search("sort=name%20asc")),
        ["dan-so-theo-tinh", "doanh-nghiep-theo-loai-hinh"]
    );
    let page = search("sort=name%20asc&rows=1&start=1");
    assert_eq!(
        (page["count"].as_u64(), names(&page)),
        (Some(2), vec!["doanh-nghiep-theo-loai-hinh".to_owned()])
    );
    let faceted = search("facet.field=%5B%22organization%22,%22res_format%22%5D");
    assert_eq!(
        faceted["facets"]["organization"],
        json!({"bca": 1, "btc": 1})
    );
    assert_eq!(faceted["facets"]["res_format"]["CSV"], 2);
    let items = &faceted["search_facets"]["organization"]["items"];
    assert_eq!(items.as_array().map(Vec::len), Some(2), "{faceted}");
    assert!(items[0]["count"].is_number() && items[0]["display_name"].is_string());
    // POST with a JSON body, as ckanapi sends it.
    let posted = ok(post(
        &s,
        "/api/3/action/package_search",
        &json!({"q": "dan so", "rows": 5, "facet.field": ["groups"]}),
    ));
    assert_eq!(names(&posted), ["dan-so-theo-tinh"]);
    assert_eq!(posted["facets"]["groups"], json!({"soci": 1}));
    for bad in [
        "fq=owner:bca",
        "fq=tags:%22open",
        "sort=popularity%20desc",
        "rows=ten",
        "facet.field=organization",
    ] {
        let r = s.get(&format!("/api/3/action/package_search?{bad}"), None);
        assert_eq!(r.status, 409, "{bad}: {}", r.body);
        assert_eq!(r.json()["error"]["__type"], "Validation Error", "{bad}");
    }
}

/// The real `ckanapi` client (PyPI). Outside CI a machine without it skips and says so; in
/// CI (`CI=true`) a missing client is a failure (`.ci/run` installs it).
#[test]
fn the_ckanapi_client_lists_searches_shows_and_downloads() {
    if !common::python_module("ckanapi", "ckanapi==4.8") {
        return;
    }
    let s = published();
    with_businesses(&s);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ckanapi_client.py");
    let out = std::process::Command::new("python3")
        .args([script, s.base_url(), "dan-so-theo-tinh"])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "ckanapi: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    for step in [
        "package_list",
        "package_search",
        "package_show",
        "download",
        "NotFound",
    ] {
        assert!(said.contains(step), "{said}");
    }
}

/// The rows of a resource's CSV download, without its header.
fn csv_rows(s: &Server, resource: &Value) -> Vec<Vec<String>> {
    let url = resource["url"].as_str().expect("url");
    let path = &url[url.find("/download/").expect("a download URL")..];
    let r = s.get(path, None);
    assert_eq!(r.status, 200);
    csv::Reader::from_reader(r.body.as_bytes())
        .records()
        .map(|r| r.expect("a row").iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn datastore_search_filters_folds_sorts_and_pages_a_release() {
    let s = published();
    let package = ok(s.get("/api/3/action/package_show?id=dan-so-theo-tinh", None));
    let resources = package["resources"].as_array().expect("resources");
    assert_eq!(
        resources
            .iter()
            .map(|r| r["format"].clone())
            .collect::<Vec<_>>(),
        vec![json!("CSV"), json!("JSON"), json!("PARQUET")]
    );
    assert!(resources.iter().all(|r| r["datastore_active"] == true));
    let id = resources[0]["id"].as_str().expect("id").to_owned();
    let rows = csv_rows(&s, &resources[0]);
    assert!(rows.len() > 2, "{rows:?}");

    // Everything, as CKAN answers it: _id first, the count an integer.
    let all = ok(s.get(
        &format!("/api/3/action/datastore_search?resource_id={id}"),
        None,
    ));
    assert_eq!(
        all["fields"],
        json!([{"id": "_id", "type": "int"}, {"id": "province", "type": "text"},
               {"id": "sex", "type": "text"}, {"id": "count", "type": "int"}])
    );
    assert_eq!(all["total"], rows.len());
    assert_eq!(all["limit"], 100);
    assert_eq!(all["records_format"], "objects");
    assert_eq!(all["total_was_estimated"], false);
    let first = &all["records"][0];
    assert_eq!(first["_id"], 1);
    assert_eq!(first["province"], rows[0][0]);
    assert_eq!(first["count"], rows[0][2].parse::<u64>().expect("count"));
    assert_eq!(
        all["_links"]["next"],
        format!("/api/3/action/datastore_search?resource_id={id}&offset=100")
    );

    // POST with a JSON body: filters (one value or several), fields, sort, paging.
    let province = rows[0][0].clone();
    let expected = rows.iter().filter(|r| r[0] == province).count();
    let filtered = ok(post(
        &s,
        "/api/action/datastore_search",
        &json!({"resource_id": id, "filters": {"province": province}, "fields": ["sex", "count"]}),
    ));
    assert_eq!(filtered["total"], expected);
    for r in filtered["records"].as_array().expect("records") {
        assert_eq!(
            r.as_object().expect("object").keys().collect::<Vec<_>>(),
            ["_id", "sex", "count"]
        );
    }
    let two = ok(post(
        &s,
        "/api/3/action/datastore_search",
        &json!({"resource_id": id, "filters": {"province": [rows[0][0], rows[rows.len() - 1][0]]}}),
    ));
    let both = rows
        .iter()
        .filter(|r| r[0] == rows[0][0] || r[0] == rows[rows.len() - 1][0])
        .count();
    assert_eq!(two["total"], both);
    let sorted = ok(post(
        &s,
        "/api/3/action/datastore_search",
        &json!({"resource_id": id, "sort": "count desc", "limit": 3, "offset": 1}),
    ));
    let mut counts: Vec<u64> = rows.iter().map(|r| r[2].parse().expect("count")).collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let page: Vec<u64> = sorted["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["count"].as_u64().expect("count"))
        .collect();
    assert_eq!(page, counts[1..4].to_vec());
    assert_eq!(sorted["offset"], 1);
    let lists = ok(s.get(
        &format!("/api/3/action/datastore_search?resource_id={id}&records_format=lists&limit=1"),
        None,
    ));
    assert_eq!(lists["records"][0][0], 1);
    assert_eq!(lists["records"][0][1], rows[0][0]);

    // Words, folded: a register of businesses (public fields only) searched without diacritics.
    let provider = s.key("business-provider");
    let r = s.put_json(
        "/api/v1/packages/danh-ba-doanh-nghiep",
        Some(&provider),
        &json!({
            "name": "danh-ba-doanh-nghiep",
            "title_vi": "Danh bạ doanh nghiệp",
            "title_en": "Business directory",
            "licence": "cc-by-4.0",
            "theme": "ECON",
            "publisher": "BTC",
            "contact": {"name": "BTC", "email": "opendata@mof.gov.vn"},
            "view": {"dataset": "businesses", "columns": [
                {"name": "tax_code", "field": "tax_code"}, {"name": "name", "field": "name"},
                {"name": "province", "field": "province_code"}]},
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.request(
        "POST",
        "/api/v1/packages/danh-ba-doanh-nghiep/releases",
        Some(&provider),
        &[],
        None,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let directory = csv_rows(
        &s,
        &ok(s.get(
            "/api/3/action/resource_show?id=danh-ba-doanh-nghiep-r1-csv",
            None,
        )),
    );
    // Whole words: a name holds "công" and "ty" as words of its own.
    let with_words = |wanted: &[&str]| {
        directory
            .iter()
            .filter(|r| {
                let name = r[1].to_lowercase();
                let words: Vec<&str> = name.split(|c: char| !c.is_alphanumeric()).collect();
                wanted.iter().all(|w| words.contains(w))
            })
            .count()
    };
    let expected = with_words(&["công", "ty"]);
    assert!(expected > 0, "{directory:?}");
    let found = ok(s.get(
        "/api/3/action/datastore_search?resource_id=danh-ba-doanh-nghiep-r1-json&q=cong%20ty&limit=5",
        None,
    ));
    assert_eq!(found["total"], expected);
    assert!(
        found["records"]
            .as_array()
            .expect("records")
            .iter()
            .all(|r| r["name"]
                .as_str()
                .is_some_and(|n| n.to_lowercase().contains("công ty")))
    );
    let per_column = ok(post(
        &s,
        "/api/3/action/datastore_search",
        &json!({"resource_id": "danh-ba-doanh-nghiep-r1-csv", "q": {"name": "CONG TY"}}),
    ));
    assert_eq!(per_column["total"], expected);

    // Precise errors, in CKAN's envelope.
    for (query, status, kind) in [
        ("resource_id=nothing", 404, "Not Found Error"),
        (
            "resource_id=dan-so-theo-tinh-r9-csv",
            404,
            "Not Found Error",
        ),
        ("", 409, "Validation Error"),
        (
            &*format!("resource_id={id}&filters=%7B%22nope%22%3A%221%22%7D"),
            409,
            "Validation Error",
        ),
        (
            &*format!("resource_id={id}&filters=not-json"),
            409,
            "Validation Error",
        ),
        (
            &*format!("resource_id={id}&sort=count%20sideways"),
            409,
            "Validation Error",
        ),
        (
            &*format!("resource_id={id}&fields=nope"),
            409,
            "Validation Error",
        ),
        (
            &*format!("resource_id={id}&limit=-1"),
            409,
            "Validation Error",
        ),
        (
            &*format!("resource_id={id}&records_format=xml"),
            409,
            "Validation Error",
        ),
    ] {
        let r = s.get(&format!("/api/3/action/datastore_search?{query}"), None);
        assert_eq!(r.status, status, "{query}: {}", r.body);
        let v = r.json();
        assert_eq!(v["success"], false);
        assert_eq!(v["error"]["__type"], kind, "{query}: {v}");
    }
}
