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
        ("/api/v1/crosswalks", &["get"]),
        ("/api/v1/quality", &["get"]),
        ("/api/v1/packages", &["get"]),
        ("/api/v1/packages/{name}", &["get", "put"]),
        ("/api/v1/packages/{name}/releases", &["get", "post"]),
        ("/api/v1/packages/{name}/releases/{number}", &["get"]),
        ("/download/{name}/{number}/{file}", &["get"]),
        ("/catalog.jsonld", &["get"]),
        ("/catalog.ttl", &["get"]),
        ("/api/v1/data-lists", &["get"]),
        ("/api/v1/data-lists/{file}", &["get"]),
        ("/api/v1/packages/{name}/usage", &["get"]),
        ("/api/v1/open-data/usage", &["get"]),
        ("/api/v1/datasets/{dataset}/quality", &["get"]),
        ("/api/v1/datasets/{dataset}/quality/history", &["get"]),
        ("/api/v1/crosswalks/{from}/{to}", &["get", "put"]),
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
        ("/api/v1/exchange/datasets", &["get"]),
        ("/api/v1/exchange/datasets/{dataset}", &["get"]),
        (
            "/api/v1/exchange/datasets/{dataset}/records/{key}",
            &["get"],
        ),
        ("/api/v1/exchange/datasets/{dataset}/changes", &["get"]),
        (
            "/api/v1/exchange/datasets/{dataset}/changes/baseline",
            &["get"],
        ),
        ("/api/v1/agreements", &["get", "post"]),
        ("/api/v1/agreements/{id}", &["get"]),
        ("/api/v1/agreements/{id}/odrl", &["get"]),
        ("/api/v1/agreements/{id}/approve", &["post"]),
        ("/api/v1/agreements/{id}/reject", &["post"]),
        ("/api/v1/agreements/{id}/suspend", &["post"]),
        ("/api/v1/agreements/{id}/revoke", &["post"]),
        ("/api/v1/subjects/{citizen_id}/consents", &["get", "post"]),
        ("/api/v1/transfer-assessments", &["get", "post"]),
        ("/api/v1/approval-policies", &["get", "post"]),
        (
            "/api/v1/subjects/{citizen_id}/consents/{id}/withdraw",
            &["post"],
        ),
        ("/api/v1/connectors", &["get", "post"]),
        ("/api/v1/connectors/{id}", &["get", "delete"]),
        ("/api/v1/connectors/{id}/runs", &["get", "post"]),
        ("/api/v1/connectors/{id}/runs/{run}", &["get"]),
        ("/api/v1/connectors/{id}/runs/{run}/rejected", &["get"]),
        ("/api/v1/subscriptions", &["get", "post"]),
        ("/api/v1/subscriptions/{id}", &["get", "delete"]),
        ("/api/v1/subscriptions/{id}/pause", &["post"]),
        ("/api/v1/subscriptions/{id}/resume", &["post"]),
        ("/api/v1/subscriptions/{id}/replay", &["post"]),
        ("/api/v1/subscriptions/{id}/dead-letters", &["get"]),
        ("/api/v1/reconciliations", &["get", "post"]),
        ("/api/v1/reconciliations/{id}", &["get"]),
        ("/api/v1/reconciliations/{id}/report", &["get"]),
        ("/api/v1/reconciliations/{id}/corrections", &["get", "post"]),
        ("/api/v1/addresses/normalize", &["get"]),
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
    assert_eq!(paths.len(), 78, "a route was added: list it above");
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

fn errors_doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/errors.md")
}

/// `docs/errors.md`, generated from the table of codes.
fn errors_doc() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         Every error ndx answers over HTTP is an RFC 9457 `application/problem+json` document whose \
         `code` is one of these, and whose `type` is `urn:ndx:problem:<code>`. The same code always \
         has the same status. Record errors inside an ingest report use codes of this table \
         (`csv-field-count`, `duplicate-key-in-batch`, …) and the validation codes of the data \
         dictionary (`required`, `pattern`, …).\n\n\
         This file is generated from `ndx_core::error::Code`, the only place a code is spelled: \
         add a code there, then run `UPDATE_OPENAPI=1 cargo test -p ndx-http --test openapi`.\n\n\
         | code | status | title | meaning |\n| --- | --- | --- | --- |\n",
    );
    for &c in ndx_core::Code::ALL {
        out += &format!(
            "| `{}` | {} | {} | {} |\n",
            c.name(),
            ndx_http::problem::status_of_code(c).as_u16(),
            c.title(),
            c.description()
        );
    }
    out
}

#[test]
fn every_error_code_is_documented_once_and_in_the_openapi_document() {
    let generated = errors_doc();
    let path = errors_doc_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write docs/errors.md");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/errors.md is out of date: run UPDATE_OPENAPI=1 cargo test -p ndx-http --test openapi and commit it"
    );
    let doc = ndx_http::openapi::document();
    let listed: Vec<&str> = doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .expect("Problem.code enum")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for &c in ndx_core::Code::ALL {
        let name = c.name();
        assert!(seen.insert(name), "code {name:?} is in the table twice");
        assert!(
            listed.contains(&name),
            "code {name:?} is not in the OpenAPI document"
        );
        assert_eq!(
            committed.matches(&format!("| `{name}` |")).count(),
            1,
            "code {name:?} is not in docs/errors.md exactly once"
        );
    }
    assert_eq!(
        listed.len(),
        ndx_core::Code::ALL.len(),
        "a code is listed twice"
    );
}

/// Every request and response body is a named schema (or a list of one, or plain text), so the
/// committed document changes when a body's shape does.
#[test]
fn every_body_is_a_named_schema() {
    let doc = ndx_http::openapi::document();
    let named = |s: &serde_json::Value| {
        s.get("$ref").is_some()
            || s["items"].get("$ref").is_some()
            || s["type"] == "string"
            || (s["type"] == "array" && s["items"]["type"] == "string")
    };
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let bodies = op["responses"]
                .as_object()
                .into_iter()
                .flat_map(|r| r.values())
                .chain(op.get("requestBody"))
                .filter_map(|r| r["content"].as_object())
                .flat_map(|c| c.values());
            for b in bodies {
                assert!(
                    named(&b["schema"]),
                    "{method} {path}: a body is not a named schema: {}",
                    b["schema"]
                );
            }
        }
    }
}
