//! Authentication and authorization at the HTTP edge: every way a request can be refused (each
//! with its own problem code), key expiry and revocation, the open operational endpoints, role
//! and ownership checks, request ids, and that a key's secret is never stored or listed.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::{Resp, Server};
use serde_json::{Value, json};

/// A well-formed key (prefix, 8-hex id, 64-hex secret) that no server ever issued.
const UNKNOWN_KEY: &str =
    "ndx_00000000_0000000000000000000000000000000000000000000000000000000000000000";

/// Sends `GET path` with a raw `Authorization` header value.
fn get_with_authorization(s: &Server, path: &str, authorization: &str) -> Resp {
    s.request("GET", path, None, &[("Authorization", authorization)], None)
}

/// Asserts a problem and that it carries the request id the `x-request-id` header names.
fn refused(r: &Resp, status: u16, code: &str) -> Value {
    let p = r.problem(status, code);
    let id = r
        .header("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id header on {}", r.body));
    assert!(!id.is_empty());
    assert_eq!(p["request_id"], id, "request_id of {}", r.body);
    p
}

/// Issues a key for `system` with the operator key; returns (metadata, secret).
fn issue(s: &Server, operator: &str, system: &str, body: &Value) -> (Value, String) {
    let r = s.post_json(
        &format!("/api/v1/systems/{system}/keys"),
        Some(operator),
        body,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let secret = v["secret"].as_str().expect("secret").to_owned();
    (v["key"].clone(), secret)
}

fn me(s: &Server, key: &str) -> Resp {
    s.get("/api/v1/me", Some(key))
}

#[test]
fn every_refusal_has_its_own_code_and_a_request_id() {
    let s = Server::demo(1000);

    // No credentials at all.
    let r = s.get("/api/v1/me", None);
    let p = refused(&r, 401, "auth-missing");
    assert_eq!(p["title"], "Authentication required");
    refused(&s.get("/api/v1/members", None), 401, "auth-missing");
    refused(
        &s.get("/api/v1/datasets/population/records", None),
        401,
        "auth-missing",
    );

    // Another scheme, or "Bearer" without the space and token.
    refused(
        &get_with_authorization(&s, "/api/v1/me", "Basic xyz"),
        401,
        "auth-scheme",
    );
    refused(
        &get_with_authorization(&s, "/api/v1/me", "Bearer"),
        401,
        "auth-scheme",
    );
    refused(
        &get_with_authorization(&s, "/api/v1/me", "Token ndx_abc"),
        401,
        "auth-scheme",
    );

    // A bearer token that is not an ndx key.
    refused(&me(&s, "garbage"), 401, "key-malformed");
    let too_long = format!("ndx_{}", "a".repeat(300));
    refused(&me(&s, &too_long), 401, "key-malformed");

    // Well formed, never issued.
    refused(&me(&s, UNKNOWN_KEY), 401, "key-unknown");
    // A real key with one character changed is unknown too.
    let real = s.key("population-provider");
    let mut altered = real.clone();
    let last = altered.pop().expect("non-empty");
    altered.push(if last == '0' { '1' } else { '0' });
    refused(&me(&s, &altered), 401, "key-unknown");
    // The real key works, and surrounding spaces after the scheme are tolerated.
    let r = get_with_authorization(&s, "/api/v1/me", &format!("Bearer   {real}  "));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["member"], "BCA");

    // Operational endpoints need no key.
    let h = s.get("/health", None);
    assert_eq!(h.status, 200, "{}", h.body);
    assert_eq!(h.json()["status"], "ok");
    let m = s.get("/metrics", None);
    assert_eq!(m.status, 200, "{}", m.body);
    assert!(
        m.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{:?}",
        m.headers
    );
    let o = s.get("/openapi.json", None);
    assert_eq!(o.status, 200, "{}", o.body);
    assert!(
        o.json()["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );

    // A consumer calling operator endpoints: authenticated, but the role is missing.
    let consumer = s.key("consumer-01");
    let p = refused(
        &s.get("/api/v1/systems/BCA-POPULATION/keys", Some(&consumer)),
        403,
        "role-required",
    );
    assert_eq!(p["title"], "Role required");
    let member = json!({
        "code": "EVIL", "name_vi": "Kẻ xấu", "name_en": "Evil",
        "level": "central", "jurisdiction": {"country": "VN"}
    });
    refused(
        &s.post_json("/api/v1/members", Some(&consumer), &member),
        403,
        "role-required",
    );
    refused(
        &s.post_json(
            "/api/v1/systems/UBND-01-PUBLIC-SERVICE/keys",
            Some(&consumer),
            &json!({"roles": ["operator"]}),
        ),
        403,
        "role-required",
    );
    // A provider is no operator either, and cannot keep the dictionary.
    let provider = s.key("population-provider");
    refused(
        &s.request(
            "DELETE",
            "/api/v1/keys/00000000",
            Some(&provider),
            &[],
            None,
        ),
        403,
        "role-required",
    );
    let element = json!({"id": "evil-element", "name_vi": "x", "name_en": "x", "type": "string"});
    refused(
        &s.post_json("/api/v1/dictionary/elements", Some(&provider), &element),
        403,
        "role-required",
    );
    // Nothing of that was created.
    let members = s.get("/api/v1/members", Some(&provider)).json();
    assert!(
        members
            .as_array()
            .expect("array")
            .iter()
            .all(|m| m["code"] != "EVIL")
    );
    let r = s.get("/api/v1/dictionary/elements/evil-element", Some(&provider));
    r.problem(404, "element-not-found");

    // A provider of BCA reads BCA's records, not BTC's.
    let r = s.get(
        "/api/v1/datasets/population/records?limit=1",
        Some(&provider),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    refused(
        &s.get("/api/v1/datasets/businesses/records", Some(&provider)),
        403,
        "not-owner",
    );
    let firm = s.get(
        "/api/v1/datasets/businesses/records?limit=1",
        Some(&s.key("business-provider")),
    );
    assert_eq!(firm.status, 200, "{}", firm.body);
    let tax_code = firm.json()["records"][0]["key"]
        .as_str()
        .expect("a business")
        .to_owned();
    refused(
        &s.get(
            &format!("/api/v1/datasets/businesses/records/{tax_code}"),
            Some(&provider),
        ),
        403,
        "not-owner",
    );
    refused(
        &s.get(
            &format!("/api/v1/datasets/businesses/records/{tax_code}/history"),
            Some(&provider),
        ),
        403,
        "not-owner",
    );
    // …and may not load them either.
    refused(
        &s.ingest(
            "businesses",
            "",
            &provider,
            "application/x-ndjson",
            b"{}\n",
            None,
        ),
        403,
        "not-owner",
    );
    // A consumer does not get the owner's view.
    refused(
        &s.get("/api/v1/datasets/population/records", Some(&consumer)),
        403,
        "not-owner",
    );
    // The auditor and the operator do.
    for role in ["auditor", "operator"] {
        let r = s.get(
            "/api/v1/datasets/businesses/records?limit=1",
            Some(&s.key(role)),
        );
        assert_eq!(r.status, 200, "{role}: {}", r.body);
    }

    // Request ids: a sane one is echoed in the header and the problem …
    let sane = "client-req_42.A:b";
    let r = s.request("GET", "/api/v1/me", None, &[("x-request-id", sane)], None);
    assert_eq!(r.header("x-request-id"), Some(sane));
    assert_eq!(refused(&r, 401, "auth-missing")["request_id"], sane);
    // … on success too …
    let r = s.request(
        "GET",
        "/api/v1/me",
        Some(&provider),
        &[("x-request-id", sane)],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some(sane));
    // … and an insane one (spaces, too long) is replaced by the server's own.
    for insane in ["has space", &"x".repeat(65)] {
        let r = s.request("GET", "/api/v1/me", None, &[("x-request-id", insane)], None);
        let p = refused(&r, 401, "auth-missing");
        let id = r.header("x-request-id").expect("x-request-id");
        assert_ne!(id, insane);
        assert!(id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(p["request_id"], id);
    }
    // Without one, every response gets a distinct id.
    let a = s.get("/api/v1/me", None);
    let b = s.get("/api/v1/me", None);
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
    // An unknown route is a problem too.
    refused(&s.get("/api/v1/nothing-here", None), 404, "route-not-found");
}

#[test]
fn keys_expire_and_revocation_is_final() {
    let s = Server::fresh();
    let operator = s.operator_key();

    // A key that expires in 2 s works now and is refused afterwards.
    let expires = Utc::now() + chrono::Duration::milliseconds(2000);
    let deadline = Instant::now() + Duration::from_millis(2000);
    let (meta, short_lived) = issue(
        &s,
        &operator,
        "NDC-OPS",
        &json!({
            "roles": ["auditor"],
            "label": "short-lived",
            "expires_at": expires.to_rfc3339_opts(SecondsFormat::Millis, true),
        }),
    );
    assert!(meta["expires_at"].is_string(), "{meta}");
    let r = me(&s, &short_lived);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["roles"], json!(["auditor"]));
    std::thread::sleep(
        deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(300),
    );
    let p = refused(&me(&s, &short_lived), 401, "key-expired");
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains(meta["id"].as_str().expect("id"))),
        "{p}"
    );

    // Revocation.
    let (meta, doomed) = issue(
        &s,
        &operator,
        "NDC-OPS",
        &json!({"roles": ["steward"], "label": "doomed"}),
    );
    let id = meta["id"].as_str().expect("id").to_owned();
    assert!(meta["revoked_at"].is_null(), "{meta}");
    assert_eq!(me(&s, &doomed).status, 200);
    let first = s.request(
        "DELETE",
        &format!("/api/v1/keys/{id}"),
        Some(&operator),
        &[],
        None,
    );
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json();
    assert_eq!(first["id"], id.as_str());
    let revoked_at = first["revoked_at"].as_str().expect("revoked_at").to_owned();
    refused(&me(&s, &doomed), 401, "key-revoked");
    std::thread::sleep(Duration::from_millis(20));
    let again = s.request(
        "DELETE",
        &format!("/api/v1/keys/{id}"),
        Some(&operator),
        &[],
        None,
    );
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["revoked_at"], revoked_at.as_str());
    // The listing shows the first revocation time as well.
    let keys = s
        .get("/api/v1/systems/NDC-OPS/keys", Some(&operator))
        .json();
    let listed = keys
        .as_array()
        .expect("array")
        .iter()
        .find(|k| k["id"] == id.as_str())
        .expect("revoked key listed")
        .clone();
    assert_eq!(listed["revoked_at"], revoked_at.as_str());
    refused(&me(&s, &doomed), 401, "key-revoked");
    // An unknown key id.
    refused(
        &s.request(
            "DELETE",
            "/api/v1/keys/ffffffff",
            Some(&operator),
            &[],
            None,
        ),
        404,
        "key-not-found",
    );
    // Other keys are unaffected.
    assert_eq!(me(&s, &operator).status, 200);
}

/// Every file under `dir`, recursively, with its bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn secrets_are_never_stored_in_clear_nor_listed() {
    let s = Server::fresh();
    let operator = s.operator_key();
    let label = "secret-scan-label-7f3a9c";
    let (meta, secret) = issue(
        &s,
        &operator,
        "NDC-OPS",
        &json!({"roles": ["consumer"], "label": label}),
    );
    let id = meta["id"].as_str().expect("id");
    // Shape: ndx_<id>_<64 hex>, the id being the visible prefix.
    let tail = secret
        .strip_prefix(&format!("ndx_{id}_"))
        .unwrap_or_else(|| panic!("secret {secret:?} does not start with ndx_{id}_"));
    assert_eq!(tail.len(), 64);
    assert!(tail.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(meta.get("secret").is_none() && meta.get("key_hash").is_none());
    // The key works, so it was written.
    assert_eq!(me(&s, &secret).status, 200);

    // The listing holds metadata only.
    let r = s.get("/api/v1/systems/NDC-OPS/keys", Some(&operator));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !r.body.contains(tail),
        "listing leaks the secret: {}",
        r.body
    );
    assert!(!r.body.contains(&operator[operator.len() - 64..]));
    let keys = r.json();
    let keys = keys.as_array().expect("array");
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().any(|k| k["id"] == id && k["label"] == label));
    for k in keys {
        let obj = k.as_object().expect("object");
        for f in obj.keys() {
            assert!(
                !f.contains("secret") && !f.contains("hash"),
                "field {f} in {k}"
            );
        }
    }

    // Neither the database nor its WAL holds the secret, while they do hold the key's label.
    let all = files(s.data_dir());
    let names: Vec<String> = all.iter().map(|(p, _)| p.display().to_string()).collect();
    assert!(
        all.iter().any(|(_, b)| contains(b, label.as_bytes())),
        "the key's metadata is in none of {names:?}"
    );
    for (path, bytes) in &all {
        assert!(
            !contains(bytes, secret.as_bytes()) && !contains(bytes, tail.as_bytes()),
            "{} holds the secret in clear",
            path.display()
        );
    }
    // The operator key file is the one place the bootstrap secret lives, readable by its owner
    // only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.data_dir().join("operator.key"))
            .expect("operator.key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "operator.key mode {mode:o}");
    }
    for (path, bytes) in &all {
        if path.file_name().is_some_and(|n| n != "operator.key") {
            assert!(
                !contains(bytes, operator.as_bytes()),
                "{} holds the operator secret",
                path.display()
            );
        }
    }
}

/// RFC 9110 §11.1: the authentication scheme is a case-insensitive token.
#[test]
fn bearer_scheme_is_case_insensitive() {
    let s = Server::fresh();
    let key = s.operator_key();
    for scheme in ["Bearer", "bearer", "BEARER", "BeArEr"] {
        let r = get_with_authorization(&s, "/api/v1/me", &format!("{scheme} {key}"));
        assert_eq!(r.status, 200, "scheme {scheme:?}: {}", r.body);
        assert_eq!(r.json()["member"], "NDC");
    }
}

/// RFC 9110 §15.5.2 / RFC 6750 §3: a 401 carries a `WWW-Authenticate` challenge.
#[test]
fn unauthorized_answers_carry_a_bearer_challenge() {
    let s = Server::fresh();
    let unknown = format!("Bearer {UNKNOWN_KEY}");
    for (authorization, code) in [
        (None, "auth-missing"),
        (Some("Basic xyz"), "auth-scheme"),
        (Some("Bearer garbage"), "key-malformed"),
        (Some(unknown.as_str()), "key-unknown"),
    ] {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let r = s.request("GET", "/api/v1/me", None, &headers, None);
        r.problem(401, code);
        let challenge = r
            .header("www-authenticate")
            .unwrap_or_else(|| panic!("401 {code} without WWW-Authenticate: {:?}", r.headers));
        assert!(
            challenge.to_ascii_lowercase().starts_with("bearer"),
            "{challenge}"
        );
    }
}
