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
    let s = Server::demo(300);
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
    let via_get = ok(s.get("/api/3/action/package_show?id=dan-so-theo-tinh", None));
    let p = ok(post(
        &s,
        "/api/3/action/package_show",
        &json!({"id": "dan-so-theo-tinh"}),
    ));
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
    assert_eq!(p["num_resources"], 2);
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
