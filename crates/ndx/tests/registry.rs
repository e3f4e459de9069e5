//! The registry over HTTP: the bootstrap operator key of a fresh installation, admitting
//! members, registering systems, issuing keys, and the precise problem of every refused request
//! (which never changes the registry).

mod common;

use chrono::{SecondsFormat, Utc};
use common::{Resp, Server};
use serde_json::{Value, json};

/// Members and systems as the registry lists them.
fn snapshot(s: &Server, key: &str) -> (Value, Value) {
    let m = s.get("/api/v1/members", Some(key));
    assert_eq!(m.status, 200, "{}", m.body);
    let y = s.get("/api/v1/systems", Some(key));
    assert_eq!(y.status, 200, "{}", y.body);
    (m.json(), y.json())
}

fn member(code: &str, level: &str, country: &str, province: Option<&str>) -> Value {
    let mut jurisdiction = json!({"country": country});
    if let Some(p) = province {
        jurisdiction["province"] = json!(p);
    }
    json!({
        "code": code,
        "name_vi": format!("Thành viên {code}"),
        "name_en": format!("Member {code}"),
        "level": level,
        "jurisdiction": jurisdiction,
    })
}

fn post_raw(s: &Server, path: &str, key: &str, content_type: &str, body: &[u8]) -> Resp {
    s.request("POST", path, Some(key), &[], Some((content_type, body)))
}

#[test]
fn bootstrap_key_admits_members_and_refusals_change_nothing() {
    let s = Server::fresh();
    let op = s.operator_key();
    assert!(op.starts_with("ndx_"), "{op}");

    // The bootstrap key: the operating member's console, with operator, steward and auditor.
    let r = s.get("/api/v1/me", Some(&op));
    assert_eq!(r.status, 200, "{}", r.body);
    let who = r.json();
    assert_eq!(who["member"], "NDC");
    assert_eq!(who["system"], "NDC-OPS");
    assert!(op.starts_with(&format!("ndx_{}_", who["key_id"].as_str().expect("id"))));
    let mut roles: Vec<String> = who["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .map(|r| r.as_str().expect("role").to_owned())
        .collect();
    roles.sort();
    assert_eq!(roles, ["auditor", "operator", "steward"]);
    let (members, systems) = snapshot(&s, &op);
    assert_eq!(members.as_array().map(Vec::len), Some(1), "{members}");
    assert_eq!(members[0]["code"], "NDC");
    assert_eq!(systems.as_array().map(Vec::len), Some(1), "{systems}");
    assert_eq!(systems[0]["code"], "NDC-OPS");
    assert_eq!(systems[0]["member"], "NDC");

    // Admit a province member: 201 with every field echoed.
    let body = member("UBND-31", "province", "VN", Some("31"));
    let r = s.post_json("/api/v1/members", Some(&op), &body);
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    for f in ["code", "name_vi", "name_en", "level", "jurisdiction"] {
        assert_eq!(created[f], body[f], "{f} of {created}");
    }
    assert!(
        created["created_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some(),
        "{created}"
    );
    let r = s.get("/api/v1/members/UBND-31", Some(&op));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), created);
    // A central member without a province, and a foreign one.
    for b in [
        member("BYT", "central", "VN", None),
        member("WHO-VN", "foreign", "CH", None),
    ] {
        let r = s.post_json("/api/v1/members", Some(&op), &b);
        assert_eq!(r.status, 201, "{}", r.body);
    }
    // And a system of it.
    let r = s.post_json(
        "/api/v1/systems",
        Some(&op),
        &json!({"code": "UBND-31-PORTAL", "member": "UBND-31", "name": "Cổng dịch vụ công"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let sys = r.json();
    assert_eq!(sys["code"], "UBND-31-PORTAL");
    assert_eq!(sys["member"], "UBND-31");
    assert_eq!(sys["name"], "Cổng dịch vụ công");

    let before = snapshot(&s, &op);
    let codes: Vec<&str> = before
        .0
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, ["BYT", "NDC", "UBND-31", "WHO-VN"]);
    let unchanged = |what: &str| {
        assert_eq!(
            snapshot(&s, &op),
            before,
            "the registry changed after {what}"
        );
    };

    // Duplicate member code.
    let mut dup = member("UBND-31", "province", "VN", Some("31"));
    dup["name_en"] = json!("Another name");
    s.post_json("/api/v1/members", Some(&op), &dup)
        .problem(409, "conflict");
    unchanged("a duplicate member");

    // Invalid codes.
    for code in ["bca", "B", "BC A", "1BC", "BC_A", "", &"A".repeat(65), "Bộ"] {
        let p = s
            .post_json(
                "/api/v1/members",
                Some(&op),
                &member(code, "central", "VN", None),
            )
            .problem(422, "code-invalid");
        assert_eq!(p["title"], "Invalid code");
        unchanged(&format!("member code {code:?}"));
    }
    // A VN province member in an unknown province (there are 34 since 2025; 99 is none).
    for p in ["99", "1", "XX"] {
        s.post_json(
            "/api/v1/members",
            Some(&op),
            &member("UBND-99", "province", "VN", Some(p)),
        )
        .problem(422, "province-unknown");
        unchanged(&format!("province {p:?}"));
    }
    // A pre-2025 province code (Ha Giang, 02, merged into Tuyen Quang) is not a 2025 province.
    s.post_json(
        "/api/v1/members",
        Some(&op),
        &member("UBND-02", "province", "VN", Some("02")),
    )
    .problem(422, "province-unknown");
    // Bad countries.
    for c in ["vn", "VNM", "V", "", "V1"] {
        s.post_json(
            "/api/v1/members",
            Some(&op),
            &member("XYZ", "central", c, None),
        )
        .problem(422, "country-invalid");
        unchanged(&format!("country {c:?}"));
    }
    // Missing names.
    let mut nameless = member("XYZ", "central", "VN", None);
    nameless["name_en"] = json!("  ");
    s.post_json("/api/v1/members", Some(&op), &nameless)
        .problem(422, "name-missing");
    // Names that would reorder, hide or break the text around them (issue 11).
    for bad in [
        "Bộ\u{202E}Tài chính",
        "Bộ\u{200B}",
        "Bộ\nTài chính",
        "\u{0301}Bộ",
        "\u{FEFF}",
    ] {
        let mut named = member("XYZ", "central", "VN", None);
        named["name_vi"] = json!(bad);
        s.post_json("/api/v1/members", Some(&op), &named)
            .problem(422, "text-invalid");
        unchanged(&format!("name {bad:?}"));
    }
    // Unknown field, unknown level, missing field, wrong type: the body's shape.
    let mut extra = member("XYZ", "central", "VN", None);
    extra["admin"] = json!(true);
    let p = s
        .post_json("/api/v1/members", Some(&op), &extra)
        .problem(422, "body-invalid");
    assert!(
        p["detail"].as_str().expect("detail").contains("admin"),
        "{p}"
    );
    let mut extra_jur = member("XYZ", "central", "VN", None);
    extra_jur["jurisdiction"]["district"] = json!("x");
    s.post_json("/api/v1/members", Some(&op), &extra_jur)
        .problem(422, "body-invalid");
    s.post_json(
        "/api/v1/members",
        Some(&op),
        &member("XYZ", "galactic", "VN", None),
    )
    .problem(422, "body-invalid");
    s.post_json("/api/v1/members", Some(&op), &json!({"code": "XYZ"}))
        .problem(422, "body-invalid");
    let mut typed = member("XYZ", "central", "VN", None);
    typed["code"] = json!(42);
    s.post_json("/api/v1/members", Some(&op), &typed)
        .problem(422, "body-invalid");
    unchanged("bodies of the wrong shape");
    // Malformed JSON.
    for bad in [
        &b"{not json"[..],
        b"{\"code\": \"XYZ\",",
        b"",
        b"{\"code\" \"XYZ\"}",
    ] {
        post_raw(&s, "/api/v1/members", &op, "application/json", bad)
            .problem(400, "body-malformed");
    }
    unchanged("malformed JSON");
    // Wrong content type: even a valid JSON body must say so.
    let valid = serde_json::to_vec(&member("XYZ", "central", "VN", None)).expect("json");
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "text/csv",
    ] {
        post_raw(&s, "/api/v1/members", &op, ct, &valid).problem(415, "unsupported-media-type");
    }
    let r = s.request(
        "POST",
        "/api/v1/members",
        Some(&op),
        &[],
        Some(("", &valid)),
    );
    assert_eq!(r.status, 415, "{}", r.body);
    unchanged("wrong content types");
    // Over the 4 MiB JSON limit.
    let mut huge = member("XYZ", "central", "VN", None);
    huge["name_vi"] = json!("x".repeat((4 << 20) + 1024));
    s.post_json("/api/v1/members", Some(&op), &huge)
        .problem(413, "body-too-large");
    unchanged("a body over the limit");
    // Just under the limit is read (and then refused for what it says, not for its size).
    let mut big = member("bad code", "central", "VN", None);
    big["name_vi"] = json!("x".repeat((4 << 20) - 1024));
    s.post_json("/api/v1/members", Some(&op), &big)
        .problem(422, "code-invalid");
    unchanged("a large body");

    // Systems: an unknown member, a duplicate code, an invalid code, unknown fields.
    let r = s.post_json(
        "/api/v1/systems",
        Some(&op),
        &json!({"code": "GHOST-SYS", "member": "GHOST", "name": "x"}),
    );
    let p = r.json();
    assert!(
        p["code"] == "member-not-found" || p["code"] == "not-found",
        "{p}"
    );
    r.problem(404, p["code"].as_str().expect("code"));
    unchanged("a system of an unknown member");
    s.post_json(
        "/api/v1/systems",
        Some(&op),
        &json!({"code": "UBND-31-PORTAL", "member": "BYT", "name": "x"}),
    )
    .problem(409, "conflict");
    s.post_json(
        "/api/v1/systems",
        Some(&op),
        &json!({"code": "portal", "member": "BYT", "name": "x"}),
    )
    .problem(422, "code-invalid");
    s.post_json(
        "/api/v1/systems",
        Some(&op),
        &json!({"code": "BYT-X", "member": "BYT", "name": "x", "owner": "NDC"}),
    )
    .problem(422, "body-invalid");
    unchanged("refused systems");

    // Unknown member.
    s.get("/api/v1/members/NOPE", Some(&op))
        .problem(404, "member-not-found");
}

#[test]
fn keys_are_issued_with_exactly_their_roles() {
    let s = Server::fresh();
    let op = s.operator_key();
    let r = s.post_json(
        "/api/v1/members",
        Some(&op),
        &member("BXD", "central", "VN", None),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.post_json(
        "/api/v1/systems",
        Some(&op),
        &json!({"code": "BXD-BUILDINGS", "member": "BXD", "name": "Buildings register"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let keys_path = "/api/v1/systems/BXD-BUILDINGS/keys";
    let listed = |s: &Server| -> Value {
        let r = s.get(keys_path, Some(&op));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    assert_eq!(listed(&s), json!([]));

    // Refused: no roles, an expiry in the past (or now), an unknown role, unknown fields.
    s.post_json(keys_path, Some(&op), &json!({"roles": []}))
        .problem(422, "roles-missing");
    s.post_json(keys_path, Some(&op), &json!({}))
        .problem(422, "body-invalid");
    let past = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    s.post_json(
        keys_path,
        Some(&op),
        &json!({"roles": ["provider"], "expires_at": past}),
    )
    .problem(422, "expiry-in-past");
    s.post_json(
        keys_path,
        Some(&op),
        &json!({"roles": ["provider"], "expires_at": "2000-01-01T00:00:00Z"}),
    )
    .problem(422, "expiry-in-past");
    s.post_json(
        keys_path,
        Some(&op),
        &json!({"roles": ["provider"], "expires_at": "tomorrow"}),
    )
    .problem(422, "body-invalid");
    s.post_json(keys_path, Some(&op), &json!({"roles": ["superuser"]}))
        .problem(422, "body-invalid");
    s.post_json(
        keys_path,
        Some(&op),
        &json!({"roles": ["provider"], "secret": "ndx_mine"}),
    )
    .problem(422, "body-invalid");
    s.post_json(
        "/api/v1/systems/NO-SUCH-SYSTEM/keys",
        Some(&op),
        &json!({"roles": ["provider"]}),
    )
    .problem(404, "system-not-found");
    assert_eq!(listed(&s), json!([]), "a refused key was stored");

    // A provider key (roles deduplicated) that expires next year.
    let next_year =
        (Utc::now() + chrono::Duration::days(365)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let r = s.post_json(
        keys_path,
        Some(&op),
        &json!({"roles": ["provider", "provider"], "label": "loader", "expires_at": next_year}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let issued = r.json();
    let provider = issued["secret"].as_str().expect("secret").to_owned();
    let key = &issued["key"];
    assert_eq!(key["system"], "BXD-BUILDINGS");
    assert_eq!(key["roles"], json!(["provider"]));
    assert_eq!(key["label"], "loader");
    assert!(key["revoked_at"].is_null());
    assert_eq!(
        key["expires_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()),
        chrono::DateTime::parse_from_rfc3339(&next_year).ok()
    );
    let r = s.get("/api/v1/me", Some(&provider));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"member": "BXD", "system": "BXD-BUILDINGS", "key_id": key["id"], "roles": ["provider"]})
    );
    // A provider is no operator and no steward.
    s.post_json(
        "/api/v1/members",
        Some(&provider),
        &member("BXD-2", "central", "VN", None),
    )
    .problem(403, "role-required");
    s.get(keys_path, Some(&provider))
        .problem(403, "role-required");
    s.put_json(
        "/api/v1/code-lists/colours",
        Some(&provider),
        &json!({"id": "colours", "name_vi": "Màu", "name_en": "Colours",
                "entries": [{"code": "R", "label_vi": "Đỏ"}]}),
    )
    .problem(403, "role-required");
    // But it defines its own member's datasets.
    let dataset = json!({
        "dataset": "buildings", "title_vi": "Công trình", "title_en": "Buildings",
        "owner": "BXD", "openness": "shared", "importance": "ordinary",
        "key": ["building_id"],
        "fields": [{"name": "building_id", "element": "identifier", "required": true, "sensitivity": "internal"}],
    });
    let r = s.post_json("/api/v1/datasets", Some(&provider), &dataset);
    assert_eq!(r.status, 201, "{}", r.body);

    // Two roles: sorted, exactly those.
    let r = s.post_json(
        "/api/v1/systems/NDC-OPS/keys",
        Some(&op),
        &json!({"roles": ["auditor", "steward"]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let steward = r.json()["secret"].as_str().expect("secret").to_owned();
    let r = s.get("/api/v1/me", Some(&steward));
    assert_eq!(r.json()["roles"], json!(["steward", "auditor"]));
    assert_eq!(r.json()["member"], "NDC");
    // A steward keeps the dictionary but does not run the registry.
    let r = s.put_json(
        "/api/v1/code-lists/colours",
        Some(&steward),
        &json!({"id": "colours", "name_vi": "Màu", "name_en": "Colours",
                "entries": [{"code": "R", "label_vi": "Đỏ"}]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    s.post_json(keys_path, Some(&steward), &json!({"roles": ["operator"]}))
        .problem(403, "role-required");
    s.post_json(
        "/api/v1/systems",
        Some(&steward),
        &json!({"code": "NDC-X", "member": "NDC", "name": "x"}),
    )
    .problem(403, "role-required");

    // The listing shows the one issued key of the system.
    let l = listed(&s);
    assert_eq!(l.as_array().map(Vec::len), Some(1), "{l}");
    assert_eq!(l[0]["id"], key["id"]);
    assert_eq!(&l[0], key);
}

/// RFC 9110 §8.3.1: media type and subtype are case-insensitive; and a type that merely starts
/// with `application/json` (such as `application/jsonl`) is not JSON.
#[test]
fn json_content_type_is_matched_by_media_type() {
    let s = Server::fresh();
    let op = s.operator_key();
    let body = serde_json::to_vec(&member("BYT", "central", "VN", None)).expect("json");
    let r = post_raw(
        &s,
        "/api/v1/members",
        &op,
        "Application/JSON; charset=utf-8",
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let body = serde_json::to_vec(&member("BNN", "central", "VN", None)).expect("json");
    post_raw(&s, "/api/v1/members", &op, "application/jsonl", &body)
        .problem(415, "unsupported-media-type");
}

/// Issues an operator key on NDC-OPS with `by`; returns (id, secret).
fn issue_operator(s: &Server, by: &str, label: &str) -> (String, String) {
    let r = s.post_json(
        "/api/v1/systems/NDC-OPS/keys",
        Some(by),
        &json!({"roles": ["operator", "auditor"], "label": label}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    (
        v["key"]["id"].as_str().expect("id").to_owned(),
        v["secret"].as_str().expect("secret").to_owned(),
    )
}

fn key_id(s: &Server, key: &str) -> String {
    let r = s.get("/api/v1/me", Some(key));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["key_id"].as_str().expect("key_id").to_owned()
}

fn revoke(s: &Server, by: &str, id: &str) -> Resp {
    s.request("DELETE", &format!("/api/v1/keys/{id}"), Some(by), &[], None)
}

/// The audit events of `operation`, read with `auditor`.
fn audit_events(s: &Server, auditor: &str, operation: &str) -> Vec<Value> {
    let sth = s.get("/api/v1/audit/sth", None);
    let size = if sth.status == 200 {
        sth.json()["tree_size"].as_u64().expect("tree_size")
    } else {
        0
    };
    // Events written after the last head are included: read past it.
    let r = s.get(
        &format!("/api/v1/audit/entries?start=0&end={}", size + 100),
        Some(auditor),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["event"].clone())
        .filter(|e| e["operation"] == operation)
        .collect()
}

#[test]
fn the_last_operator_key_cannot_be_revoked() {
    let s = Server::fresh();
    let op = s.operator_key();
    let op_id = key_id(&s, &op);

    // Revoking itself would leave the platform without an operator: refused, and it still works.
    let p = revoke(&s, &op, &op_id).problem(409, "last-operator-key");
    assert!(
        p["detail"].as_str().is_some_and(
            |d| d.contains(&format!("{op_id:?}")) && d.contains("last active operator key")
        ),
        "{p}"
    );
    assert_eq!(s.get("/api/v1/me", Some(&op)).status, 200);

    // With a second operator key, either may go, but not both.
    let (second_id, second) = issue_operator(&s, &op, "second operator");
    let r = revoke(&s, &second, &op_id);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get("/api/v1/me", Some(&op)).status, 401);
    revoke(&s, &second, &second_id).problem(409, "last-operator-key");
    assert_eq!(s.get("/api/v1/me", Some(&second)).status, 200);

    // A key that is not an operator key is revoked as before.
    let r = s.post_json(
        "/api/v1/systems/NDC-OPS/keys",
        Some(&second),
        &json!({"roles": ["auditor"], "label": "auditor"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let auditor_id = r.json()["key"]["id"].as_str().expect("id").to_owned();
    assert_eq!(revoke(&s, &second, &auditor_id).status, 200);

    // Issuances and revocations, the refused ones too, are in the audit log.
    let issued = audit_events(&s, &second, "key.issue");
    assert_eq!(
        issued.len(),
        3,
        "bootstrap, second operator, auditor: {issued:?}"
    );
    assert!(issued.iter().all(|e| e["outcome"]["allowed"] == true));
    let revocations = audit_events(&s, &second, "key.revoke");
    let refused: Vec<&Value> = revocations
        .iter()
        .filter(|e| e["outcome"]["allowed"] == false)
        .collect();
    assert_eq!(refused.len(), 2, "{revocations:?}");
    assert!(
        refused.iter().all(|e| e["outcome"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("last-operator-key: "))),
        "{refused:?}"
    );
    assert_eq!(revocations.len(), 4, "{revocations:?}");
}

#[test]
fn two_operator_keys_revoking_each_other_at_once_leave_one() {
    let s = Server::fresh();
    let mut survivor = s.operator_key();
    for round in 0..6 {
        let (new_id, new) = issue_operator(&s, &survivor, &format!("round {round}"));
        let survivor_id = key_id(&s, &survivor);
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| revoke(&s, &survivor, &new_id));
            let b = scope.spawn(|| revoke(&s, &new, &survivor_id));
            (a.join().expect("a"), b.join().expect("b"))
        });
        let statuses = [a.status, b.status];
        // Exactly one revocation passes; the other is refused as the last operator key's, or
        // (if its caller's key was revoked before it was authenticated) as a revoked key's.
        assert_eq!(
            statuses.iter().filter(|&&st| st == 200).count(),
            1,
            "round {round}: {} / {}",
            a.body,
            b.body
        );
        assert!(
            statuses.iter().all(|st| [200, 401, 409].contains(st)),
            "round {round}: {} / {}",
            a.body,
            b.body
        );
        survivor = if a.status == 200 { survivor } else { new };
        assert_eq!(
            s.get("/api/v1/me", Some(&survivor)).status,
            200,
            "round {round}"
        );
    }
}

#[test]
fn break_glass_issues_an_operator_key_on_the_stopped_store() {
    let s = Server::fresh();
    let first = s.operator_key();
    let first_id = key_id(&s, &first);
    // The operators lose their keys: a second one revokes the first, then is lost too.
    let (_, second) = issue_operator(&s, &first, "soon lost");
    assert_eq!(revoke(&s, &second, &first_id).status, 200);
    assert_eq!(s.get("/api/v1/me", Some(&first)).status, 401);
    drop(second);
    let stopped = s.stop();
    std::fs::remove_file(stopped.dir.path().join("operator.key")).expect("operator.key");

    let out = stopped.run(&["keys", "issue", "--role", "operator"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The secret, once, on stdout only.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let secret = lines[0].to_owned();
    assert!(secret.starts_with("ndx_"), "{stdout}");
    assert!(!stderr.contains(&secret), "{stderr}");

    let s = stopped.serve();
    let r = s.get("/api/v1/me", Some(&secret));
    assert_eq!(r.status, 200, "{}", r.body);
    let who = r.json();
    assert_eq!(who["system"], "NDC-OPS");
    assert_eq!(who["roles"], json!(["operator"]));
    let new_id = who["key_id"].as_str().expect("key_id").to_owned();
    // It is an operator key: it issues keys again.
    issue_operator(&s, &secret, "after break-glass");

    // The issuance is in the audit log, by the operating member's console, saying why.
    let issued = audit_events(&s, &secret, "key.issue");
    let event = issued
        .iter()
        .find(|e| e["keys"] == json!([new_id]))
        .unwrap_or_else(|| panic!("no key.issue event for {new_id}: {issued:?}"));
    assert_eq!(
        event["actor"],
        json!({"member": "NDC", "system": "NDC-OPS"})
    );
    assert_eq!(event["outcome"]["allowed"], true);
    assert!(
        event["outcome"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("break-glass")),
        "{event}"
    );
    assert!(
        event["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("local-"))
    );

    // And the log, with that event, verifies.
    let stopped = s.stop();
    let out = stopped.run(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn break_glass_names_a_missing_system() {
    let s = Server::fresh();
    let stopped = s.stop();
    let out = stopped.run(&["keys", "issue", "--role", "operator", "--system", "NOPE"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("system \"NOPE\" does not exist"),
        "{out:?}"
    );
}
