//! The OpenAPI document is generated from the code; a committed copy in `docs/openapi.json`
//! makes API changes deliberate. Regenerate with `UPDATE_OPENAPI=1 cargo test -p ndx-http --test openapi`.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[test]
fn committed_openapi_matches_the_code() {
    let generated =
        serde_json::to_string_pretty(&ndx_http::openapi::document()).expect("json") + "\n";
    let path = committed_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run UPDATE_OPENAPI=1 cargo test -p ndx-http --test openapi and commit it"
    );
}

#[test]
fn document_is_openapi_3_1_and_covers_the_api() {
    let doc = ndx_http::openapi::document();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in [
        ("/health", &["get"][..]),
        ("/metrics", &["get"]),
        ("/openapi.json", &["get"]),
        ("/api/v1/me", &["get"]),
        ("/api/v1/members", &["get", "post"]),
        ("/api/v1/members/{code}", &["get"]),
        ("/api/v1/systems", &["get", "post"]),
        ("/api/v1/systems/{code}/keys", &["get", "post"]),
        ("/api/v1/keys/{id}", &["delete"]),
        ("/api/v1/dictionary", &["get"]),
        ("/api/v1/dictionary/elements", &["get", "post"]),
        ("/api/v1/dictionary/elements/{id}", &["get"]),
        ("/api/v1/code-lists", &["get"]),
        ("/api/v1/code-lists/{id}", &["get", "put"]),
        ("/api/v1/datasets", &["get", "post"]),
        ("/api/v1/datasets/{dataset}", &["get"]),
        ("/api/v1/datasets/{dataset}/schema", &["get", "put"]),
        ("/api/v1/datasets/{dataset}/schema/versions", &["get"]),
        ("/api/v1/datasets/{dataset}/records", &["get", "post"]),
        (
            "/api/v1/datasets/{dataset}/records/{key}",
            &["get", "delete"],
        ),
        ("/api/v1/datasets/{dataset}/records/{key}/history", &["get"]),
        ("/api/v1/audit/sth", &["get"]),
        ("/api/v1/audit/heads", &["get"]),
        ("/api/v1/audit/public-key", &["get"]),
        ("/api/v1/audit/entries", &["get"]),
        ("/api/v1/audit/proof/inclusion", &["get"]),
        ("/api/v1/audit/proof/consistency", &["get"]),
        ("/api/v1/subjects/{citizen_id}/accesses", &["get"]),
    ] {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not documented"));
        for m in methods {
            let op = &item[*m];
            assert!(op.is_object(), "{m} {path} is not documented");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{m} {path} has no responses"
            );
        }
    }
    assert_eq!(paths.len(), 28, "a route was added: list it above");
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}
