//! Governed exchange end to end (issue 12): the demo's agreements, a consumer's lookup under
//! one (only the agreed fields, audited with the agreement, purpose and legal basis, on the
//! citizen's tracker), every refusal with its own code and its audit event, the lifecycle
//! (request, approve, suspend, resume, revoke) taking effect on the very next request, ODRL,
//! and a quota that holds under concurrency. `.ci/run` runs this file on PostgreSQL too.

mod common;

use common::{Resp, Server};
use serde_json::{Value, json};

const POP: &str = "population";

fn lookup(s: &Server, key: &str, dataset: &str, record: &str, purpose: Option<&str>) -> Resp {
    let path = format!("/api/v1/exchange/datasets/{dataset}/records/{record}");
    match purpose {
        Some(p) => s.request("GET", &path, Some(key), &[("Ndx-Purpose", p)], None),
        None => s.get(&path, Some(key)),
    }
}

fn a_citizen(s: &Server) -> String {
    let page = s
        .get(
            &format!("/api/v1/datasets/{POP}/records?limit=1"),
            Some(&s.key("population-provider")),
        )
        .json();
    page["records"][0]["key"]
        .as_str()
        .expect("a citizen")
        .to_owned()
}

fn agreements(s: &Server, key: &str) -> Vec<Value> {
    let r = s.get("/api/v1/agreements", Some(key));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().as_array().expect("list").clone()
}

/// The last audit entry (as the auditor reads it).
fn last_entry(s: &Server) -> Value {
    let auditor = s.key("auditor");
    let mut start = 0u64;
    let mut last = Value::Null;
    loop {
        let r = s.get(
            &format!("/api/v1/audit/entries?start={start}&end={}", start + 1000),
            Some(&auditor),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.json().as_array().expect("entries").clone();
        if let Some(e) = page.last() {
            last = e["event"].clone();
        }
        if page.len() < 1000 {
            return last;
        }
        start += 1000;
    }
}

#[test]
fn a_consumer_looks_up_only_the_agreed_fields_and_the_citizen_sees_it() {
    let s = Server::demo(30);
    let consumer = s.key("consumer-01");
    let citizen = a_citizen(&s);

    let mine = agreements(&s, &consumer);
    assert_eq!(mine.len(), 1, "{mine:?}");
    let agreement = mine[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(mine[0]["status"], "approved");
    assert_eq!(mine[0]["consumer"], "UBND-01-PUBLIC-SERVICE");
    assert_eq!(mine[0]["purpose"], "public-service-delivery");

    let r = lookup(
        &s,
        &consumer,
        POP,
        &citizen,
        Some("public-service-delivery"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["key"], citizen.as_str());
    assert_eq!(v["agreement"], agreement.as_str());
    assert!(v["version"].as_u64().is_some() && v["recorded_at"].is_string());
    let data = v["data"].as_object().expect("data");
    let agreed = [
        "full_name",
        "date_of_birth",
        "province_code",
        "ward_code",
        "street_address",
    ];
    assert!(
        data.keys().all(|k| agreed.contains(&k.as_str())),
        "{data:?}"
    );
    for must in ["full_name", "date_of_birth", "province_code", "ward_code"] {
        assert!(data.contains_key(must), "{must} missing: {data:?}");
    }
    for never in ["citizen_id", "phone", "email", "ethnic_code", "sex"] {
        assert!(!data.contains_key(never), "{never} leaked: {data:?}");
    }

    // The audit entry names the agreement, purpose, legal basis, fields and subject.
    let e = last_entry(&s);
    assert_eq!(e["operation"], "exchange.lookup");
    assert_eq!(e["v"], 2);
    assert_eq!(e["agreement"], agreement.as_str());
    assert_eq!(e["purpose"], "public-service-delivery");
    assert!(
        e["legal_basis"]
            .as_str()
            .is_some_and(|l| l.contains("Decree 47/2024")),
        "{e}"
    );
    assert_eq!(e["subjects"], json!([citizen]));
    assert_eq!(e["outcome"]["allowed"], true);

    // Asking for fewer fields narrows the answer.
    let r = s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/{POP}/records/{citizen}?fields=full_name"),
        Some(&consumer),
        &[("Ndx-Purpose", "public-service-delivery")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["data"]
            .as_object()
            .expect("data")
            .keys()
            .collect::<Vec<_>>(),
        ["full_name"]
    );

    // The citizen sees the lookup on their own tracker, with the agreement's purpose.
    let auditor = s.key("auditor");
    let accesses = s
        .get(
            &format!("/api/v1/subjects/{citizen}/accesses"),
            Some(&auditor),
        )
        .json();
    let lookups: Vec<&Value> = accesses["accesses"]
        .as_array()
        .expect("accesses")
        .iter()
        .filter(|a| a["operation"] == "exchange.lookup")
        .collect();
    assert_eq!(lookups.len(), 2, "{accesses}");
    assert_eq!(lookups[0]["purpose"], "public-service-delivery");
    assert_eq!(lookups[0]["actor"]["system"], "UBND-01-PUBLIC-SERVICE");
}

#[test]
fn each_refusal_has_its_code_and_is_audited() {
    let s = Server::demo(30);
    let citizen = a_citizen(&s);
    let cases: Vec<(&str, &str, Option<&str>, u16, &str)> = vec![
        ("consumer-01", POP, None, 400, "purpose-missing"),
        ("consumer-01", POP, Some("gossip"), 400, "purpose-unknown"),
        (
            "consumer-01",
            POP,
            Some("cross-checking"),
            403,
            "purpose-mismatch",
        ),
        (
            "consumer-01",
            "businesses",
            Some("public-service-delivery"),
            403,
            "no-agreement",
        ),
        (
            "consumer-48",
            "businesses",
            Some("public-service-delivery"),
            403,
            "agreement-revoked",
        ),
        (
            "consumer-79",
            "civil-servants",
            Some("policy-planning"),
            403,
            "agreement-pending",
        ),
        (
            "foreign-consumer",
            POP,
            Some("law-enforcement"),
            403,
            "sovereignty",
        ),
        (
            "population-provider",
            POP,
            Some("public-service-delivery"),
            403,
            "consumer-required",
        ),
        (
            "consumer-79",
            POP,
            Some("social-insurance"),
            403,
            "consent-missing",
        ),
    ];
    for (key, dataset, purpose, status, code) in cases {
        let record = if dataset == POP {
            citizen.as_str()
        } else {
            "0100000001"
        };
        let p = lookup(&s, &s.key(key), dataset, record, purpose).problem(status, code);
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()), "{p}");
        let e = last_entry(&s);
        assert_eq!(e["outcome"]["allowed"], false, "{key} {code}: {e}");
        assert!(
            e["outcome"]["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with(code)),
            "{key} {code}: {e}"
        );
        if let Some(p) = purpose {
            assert_eq!(e["purpose"], p, "{key} {code}: {e}");
        }
    }
    // A refused lookup of a citizen's record is on that citizen's tracker.
    let tracker = s
        .get(
            &format!("/api/v1/subjects/{citizen}/accesses"),
            Some(&s.key("auditor")),
        )
        .json();
    assert!(
        tracker["accesses"]
            .as_array()
            .expect("accesses")
            .iter()
            .any(|a| {
                a["operation"] == "exchange.lookup"
                    && a["allowed"] == false
                    && a["reason"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("purpose-mismatch"))
            }),
        "{tracker}"
    );
    // A field outside the agreement.
    let r = s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/{POP}/records/{citizen}?fields=full_name,phone"),
        Some(&s.key("consumer-01")),
        &[("Ndx-Purpose", "public-service-delivery")],
        None,
    );
    let p = r.problem(403, "field-not-covered");
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("phone")),
        "{p}"
    );
    // The sovereignty refusal says why.
    let p = lookup(
        &s,
        &s.key("foreign-consumer"),
        POP,
        &citizen,
        Some("law-enforcement"),
    )
    .problem(403, "sovereignty");
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("core data")),
        "{p}"
    );
    // No key at all.
    s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/{POP}/records/{citizen}"),
        None,
        &[("Ndx-Purpose", "public-service-delivery")],
        None,
    )
    .problem(401, "auth-missing");
}

#[test]
fn the_lifecycle_takes_effect_on_the_very_next_request() {
    let s = Server::demo(30);
    let consumer = s.key("consumer-01");
    let business = s.key("business-provider");
    let firm = s
        .get(
            "/api/v1/datasets/businesses/records?limit=1",
            Some(&business),
        )
        .json()["records"][0]["key"]
        .as_str()
        .expect("a firm")
        .to_owned();
    let draft = json!({
        "dataset": "businesses",
        "fields": ["tax_code", "name", "status"],
        "operations": ["lookup"],
        "purpose": "administrative-procedure",
        "legal_basis": {"text": "Business checks in procedures", "reference": "Decree 47/2024/ND-CP"}
    });
    let r = s.post_json("/api/v1/agreements", Some(&consumer), &draft);
    assert_eq!(r.status, 201, "{}", r.body);
    let a = r.json();
    let id = a["id"].as_str().expect("id").to_owned();
    assert_eq!(a["status"], "requested");
    assert_eq!(a["provider"], "BTC");
    let go = || {
        lookup(
            &s,
            &consumer,
            "businesses",
            &firm,
            Some("administrative-procedure"),
        )
    };
    go().problem(403, "agreement-pending");

    let act = |key: &str, action: &str, body: Option<Value>| -> Resp {
        let path = format!("/api/v1/agreements/{id}/{action}");
        match body {
            Some(b) => s.post_json(&path, Some(key), &b),
            None => s.request("POST", &path, Some(key), &[], None),
        }
    };
    act(&consumer, "approve", None).problem(403, "agreement-not-yours");
    // Not a party: it does not even see the agreement.
    act(&s.key("population-provider"), "approve", None).problem(404, "agreement-not-found");
    act(&business, "reject", None).problem(422, "agreement-invalid");
    let r = act(&business, "approve", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "approved");
    assert_eq!(r.json()["changed_by"], "BTC-BUSINESS");
    let ok = go();
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.json()["data"]
            .as_object()
            .expect("data")
            .keys()
            .collect::<Vec<_>>(),
        ["tax_code", "name", "status"]
    );

    let r = act(
        &consumer,
        "suspend",
        Some(json!({"reason": "audit of our system"})),
    );
    assert_eq!(r.json()["status"], "suspended", "{}", r.body);
    go().problem(403, "agreement-suspended");
    assert_eq!(act(&business, "approve", None).json()["status"], "approved");
    assert_eq!(go().status, 200);
    let r = act(
        &business,
        "revoke",
        Some(json!({"reason": "no longer needed"})),
    );
    assert_eq!(r.json()["status"], "revoked", "{}", r.body);
    assert_eq!(r.json()["reason"], "no longer needed");
    go().problem(403, "agreement-revoked");
    act(&business, "approve", None).problem(409, "agreement-transition-invalid");

    // Every revision is kept and the ODRL form says what is enforced now.
    let got = s
        .get(&format!("/api/v1/agreements/{id}"), Some(&consumer))
        .json();
    assert_eq!(got["revision"], 5, "{got}");
    let odrl = s.get(&format!("/api/v1/agreements/{id}/odrl"), Some(&business));
    assert_eq!(odrl.status, 200, "{}", odrl.body);
    assert_eq!(odrl.header("content-type"), Some("application/ld+json"));
    let o = odrl.json();
    assert_eq!(o["@type"], "Agreement");
    assert_eq!(o["uid"], format!("urn:ndx:agreement:{id}"));
    assert!(
        o.get("permission").is_none() && o["prohibition"].is_array(),
        "{o}"
    );

    // Others do not see it.
    s.get(
        &format!("/api/v1/agreements/{id}"),
        Some(&s.key("consumer-79")),
    )
    .problem(404, "agreement-not-found");
}

#[test]
fn agreement_requests_are_checked_before_anything_is_stored() {
    let s = Server::demo(10);
    let consumer = s.key("consumer-01");
    let before = agreements(&s, &consumer).len();
    let good = json!({
        "dataset": "businesses",
        "fields": ["tax_code"],
        "operations": ["lookup"],
        "purpose": "administrative-procedure",
        "legal_basis": {"text": "t", "reference": "r"}
    });
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    for (body, status, code) in [
        (
            with("fields", json!(["tax_code", "secret"])),
            422,
            "agreement-invalid",
        ),
        (with("fields", json!([])), 422, "agreement-invalid"),
        (with("operations", json!([])), 422, "agreement-invalid"),
        (with("operations", json!(["publish"])), 422, "body-invalid"),
        (with("purpose", json!("gossip")), 400, "purpose-unknown"),
        (with("dataset", json!("nope")), 404, "dataset-not-found"),
        (
            with("legal_basis", json!({"text": "   ", "reference": "r"})),
            422,
            "agreement-invalid",
        ),
        (
            with("valid_until", json!("2000-01-01T00:00:00Z")),
            422,
            "agreement-invalid",
        ),
        (
            with("quota", json!({"requests_per_day": 0})),
            422,
            "agreement-invalid",
        ),
        (with("extra", json!(1)), 422, "body-invalid"),
    ] {
        s.post_json("/api/v1/agreements", Some(&consumer), &body)
            .problem(status, code);
    }
    s.request(
        "POST",
        "/api/v1/agreements",
        Some(&consumer),
        &[],
        Some(("application/json", b"{\"dataset\":")),
    )
    .problem(400, "body-malformed");
    // A provider is not a consumer: refused before its body is read.
    s.request(
        "POST",
        "/api/v1/agreements",
        Some(&s.key("population-provider")),
        &[],
        Some(("application/json", b"not json")),
    )
    .problem(403, "consumer-required");
    assert_eq!(agreements(&s, &consumer).len(), before);
}

#[test]
fn a_quota_is_never_exceeded_nor_refused_below_under_concurrency() {
    let s = Server::demo(10);
    let consumer = s.key("consumer-48");
    let business = s.key("business-provider");
    let firm = s
        .get(
            "/api/v1/datasets/businesses/records?limit=1",
            Some(&business),
        )
        .json()["records"][0]["key"]
        .as_str()
        .expect("a firm")
        .to_owned();
    let r = s.post_json(
        "/api/v1/agreements",
        Some(&consumer),
        &json!({
            "dataset": "businesses", "fields": ["name"], "operations": ["lookup"],
            "purpose": "statistics", "quota": {"requests_per_day": 7},
            "legal_basis": {"text": "t", "reference": "r"}
        }),
    );
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let r = s.request(
        "POST",
        &format!("/api/v1/agreements/{id}/approve"),
        Some(&business),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| lookup(&s, &consumer, "businesses", &firm, Some("statistics"))))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                let r = h.join().expect("thread");
                if r.status == 429 {
                    r.problem(429, "quota-exhausted");
                }
                r.status
            })
            .collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        13,
        "{statuses:?}"
    );
}

#[test]
fn the_consumer_catalogue_shows_schemas_and_hides_restricted_data_from_strangers() {
    let s = Server::demo(10);
    let names = |key: &str| -> Vec<String> {
        let r = s.get("/api/v1/exchange/datasets", Some(key));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
            .as_array()
            .expect("list")
            .iter()
            .map(|d| d["dataset"].as_str().expect("name").to_owned())
            .collect()
    };
    // Population is restricted: shown to parties with an agreement on it, not to others.
    assert!(names(&s.key("consumer-01")).contains(&POP.to_owned()));
    assert!(!names(&s.key("business-provider")).contains(&POP.to_owned()));
    assert!(names(&s.key("business-provider")).contains(&"civil-servants".to_owned()));
    s.get(
        &format!("/api/v1/exchange/datasets/{POP}"),
        Some(&s.key("business-provider")),
    )
    .problem(404, "dataset-not-found");
    let d = s
        .get(
            &format!("/api/v1/exchange/datasets/{POP}"),
            Some(&s.key("consumer-01")),
        )
        .json();
    assert_eq!(d["owner"], "BCA");
    assert_eq!(d["original"], true);
    assert_eq!(d["importance"], "core");
    assert!(d.get("records").is_none(), "{d}");
    let ethnic = d["schema"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "ethnic_code")
        .expect("ethnic_code")
        .clone();
    assert_eq!(ethnic["consent"], true);
}

#[test]
fn consent_releases_a_bound_field_and_its_withdrawal_withholds_the_next_answer() {
    let s = Server::demo(20);
    let token = s.key("citizen");
    let citizen = token
        .strip_prefix("ndxc_")
        .and_then(|t| t.split_once('.'))
        .expect("citizen token")
        .0
        .to_owned();
    let hcmc = s.key("consumer-79");
    let social = agreements(&s, &hcmc)
        .into_iter()
        .find(|a| a["purpose"] == "social-insurance")
        .expect("the consent-bound agreement");
    let agreement = social["id"].as_str().expect("id").to_owned();
    let ask = || lookup(&s, &hcmc, POP, &citizen, Some("social-insurance"));
    let p = ask().problem(403, "consent-missing");
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("ethnic_code")),
        "{p}"
    );

    let consents = format!("/api/v1/subjects/{citizen}/consents");
    // Only the citizen consents: not an auditor, not another citizen's token, not a consumer.
    let body = json!({"agreement": agreement});
    s.post_json(&consents, Some(&s.key("auditor")), &body)
        .problem(403, "not-your-data");
    s.post_json(&consents, Some(&hcmc), &body)
        .problem(403, "role-required");
    s.post_json(
        &consents,
        Some(&token),
        &json!({"agreement": agreement, "fields": ["full_name"]}),
    )
    .problem(422, "agreement-invalid");
    s.post_json(&consents, Some(&token), &json!({"agreement": "agr-nope"}))
        .problem(404, "agreement-not-found");
    let r = s.post_json(&consents, Some(&token), &body);
    assert_eq!(r.status, 201, "{}", r.body);
    let consent = r.json()["id"].as_str().expect("id").to_owned();

    let r = ask();
    assert_eq!(r.status, 200, "{}", r.body);
    let data = r.json()["data"].clone();
    assert!(data.get("ethnic_code").is_some(), "{data}");

    let listed = s.get(&consents, Some(&token)).json();
    assert_eq!(listed[0]["id"], consent.as_str());
    assert!(listed[0]["withdrawn_at"].is_null());
    let r = s.request(
        "POST",
        &format!("{consents}/{consent}/withdraw"),
        Some(&token),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["withdrawn_at"].is_string());
    ask().problem(403, "consent-missing");
    s.request(
        "POST",
        &format!("{consents}/{consent}/withdraw"),
        Some(&token),
        &[],
        None,
    )
    .problem(409, "conflict");

    // The tracker shows the consent given and withdrawn, and the released lookup.
    let seen: Vec<String> = s
        .get(
            &format!("/api/v1/subjects/{citizen}/accesses?limit=100"),
            Some(&token),
        )
        .json()["accesses"]
        .as_array()
        .expect("accesses")
        .iter()
        .map(|a| a["operation"].as_str().unwrap_or("").to_owned())
        .collect();
    for op in ["consent.grant", "consent.withdraw", "exchange.lookup"] {
        assert!(
            seen.iter().any(|s| s == op),
            "{op} not on the tracker: {seen:?}"
        );
    }
}

fn pop_keys(s: &Server) -> Vec<String> {
    let page = s
        .get(
            &format!("/api/v1/datasets/{POP}/records?limit=1000"),
            Some(&s.key("population-provider")),
        )
        .json();
    page["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["key"].as_str().expect("key").to_owned())
        .collect()
}

/// Every audit event of `operation` (as the auditor reads them).
fn events(s: &Server, operation: &str) -> Vec<Value> {
    let auditor = s.key("auditor");
    let mut out = Vec::new();
    let mut start = 0u64;
    loop {
        let page = s
            .get(
                &format!("/api/v1/audit/entries?start={start}&end={}", start + 1000),
                Some(&auditor),
            )
            .json();
        let page = page.as_array().expect("entries").clone();
        out.extend(
            page.iter()
                .map(|e| e["event"].clone())
                .filter(|e| e["operation"] == operation),
        );
        if page.len() < 1000 {
            return out;
        }
        start += 1000;
    }
}

#[test]
fn a_search_pages_through_agreed_fields_and_every_subject_is_audited() {
    let s = Server::demo(40);
    let civil = s.key("civil-service-consumer");
    let all = pop_keys(&s);
    let search = |query: &str| {
        s.request(
            "GET",
            &format!("/api/v1/exchange/datasets/{POP}/records?{query}"),
            Some(&civil),
            &[("Ndx-Purpose", "cross-checking")],
            None,
        )
    };
    let mut seen = Vec::new();
    let mut query = "limit=7".to_owned();
    loop {
        let r = search(&query);
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.json();
        assert_eq!(page["withheld"], 0);
        for rec in page["records"].as_array().expect("records") {
            let data = rec["data"].as_object().expect("data");
            assert!(
                data.keys()
                    .all(|k| ["citizen_id", "full_name", "sex", "date_of_birth"]
                        .contains(&k.as_str())),
                "{data:?}"
            );
            seen.push(rec["key"].as_str().expect("key").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("limit=7&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, all, "every record once, in key order");
    // Every released record's citizen is named by a search event.
    let audited: Vec<String> = events(&s, "exchange.search")
        .iter()
        .flat_map(|e| e["subjects"].as_array().expect("subjects").clone())
        .map(|v| v.as_str().expect("subject").to_owned())
        .collect();
    for k in &all {
        assert!(audited.contains(k), "{k} is not on any search event");
    }
    // ...and so on that citizen's own tracker.
    let auditor = s.key("auditor");
    let tracker = s
        .get(
            &format!("/api/v1/subjects/{}/accesses", all[3]),
            Some(&auditor),
        )
        .json();
    assert!(
        tracker["accesses"]
            .as_array()
            .expect("accesses")
            .iter()
            .any(|a| a["operation"] == "exchange.search" && a["purpose"] == "cross-checking"),
        "{tracker}"
    );

    // Filters: typed, on released fields only.
    let one = &all[0];
    let r = search(&format!("citizen_id={one}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["records"].as_array().map(Vec::len), Some(1));
    search("province_code=01").problem(403, "field-not-covered");
    search("nope=1").problem(403, "field-not-covered");
    search("cursor=00").problem(422, "cursor-invalid");
    search("limit=0").problem(400, "limit-invalid");
    // The province systems may only look up.
    s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/{POP}/records?limit=5"),
        Some(&s.key("consumer-01")),
        &[("Ndx-Purpose", "public-service-delivery")],
        None,
    )
    .problem(403, "operation-not-covered");
}

#[test]
fn an_extract_streams_every_record_as_ndjson_or_csv_with_the_agreed_fields() {
    let s = Server::demo(2500);
    let civil = s.key("civil-service-consumer");
    let all = pop_keys(&s);
    let total = s
        .get(
            &format!("/api/v1/datasets/{POP}"),
            Some(&s.key("population-provider")),
        )
        .json()["records"]
        .as_u64()
        .expect("count");
    assert_eq!(total, 2500);
    let path = format!("/api/v1/exchange/datasets/{POP}/extract");
    let r = s.request(
        "GET",
        &path,
        Some(&civil),
        &[
            ("Ndx-Purpose", "cross-checking"),
            ("Accept", "application/x-ndjson"),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = r
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len() as u64, total);
    let keys: Vec<&str> = lines
        .iter()
        .map(|l| l["key"].as_str().expect("key"))
        .collect();
    // Every record once, in the order they were recorded (the dataset at the extract's feed
    // position).
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), keys.len(), "no record twice");
    assert!(
        all.iter()
            .all(|k| sorted.binary_search(&k.as_str()).is_ok()),
        "every record"
    );
    for l in &lines {
        let data = l["data"].as_object().expect("data");
        assert!(
            data.keys()
                .all(|k| ["citizen_id", "full_name", "sex", "date_of_birth"].contains(&k.as_str())),
            "{data:?}"
        );
    }
    // Every citizen released is on an extract event (one per page of 5,000).
    let extract_events = events(&s, "exchange.extract");
    assert_eq!(extract_events.len(), 1, "one event per page");
    let mut audited: Vec<String> = extract_events
        .iter()
        .flat_map(|e| e["subjects"].as_array().expect("subjects").clone())
        .map(|v| v.as_str().expect("subject").to_owned())
        .collect();
    audited.sort();
    let mut released: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    released.sort();
    assert_eq!(audited, released);
    assert!(
        extract_events
            .iter()
            .all(|e| e["v"] == 2 && e["purpose"] == "cross-checking")
    );

    // CSV: a header row, then one row per record.
    let r = s.request(
        "GET",
        &format!("{path}?fields=full_name,citizen_id"),
        Some(&civil),
        &[("Ndx-Purpose", "cross-checking"), ("Accept", "text/csv")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut rows = r.body.lines();
    assert_eq!(
        rows.next(),
        Some("key,version,recorded_at,citizen_id,full_name")
    );
    assert_eq!(rows.count() as u64, total);

    // Refusals come before the stream starts.
    s.request(
        "GET",
        &path,
        Some(&civil),
        &[
            ("Ndx-Purpose", "cross-checking"),
            ("Accept", "application/xml"),
        ],
        None,
    )
    .problem(406, "not-acceptable");
    s.request(
        "GET",
        &path,
        Some(&s.key("consumer-01")),
        &[("Ndx-Purpose", "public-service-delivery")],
        None,
    )
    .problem(403, "operation-not-covered");
}

#[test]
fn the_cli_drives_the_lifecycle_through_the_api() {
    let s = Server::demo(10);
    let ndx = |key: &str, args: &[&str]| {
        let mut all = vec!["agreements", "--url", &s.base, "--key", key];
        all.extend_from_slice(args);
        common::run_ndx(&all)
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let draft = dir.path().join("draft.json");
    std::fs::write(
        &draft,
        json!({
            "dataset": "businesses", "fields": ["tax_code", "name"], "operations": ["lookup"],
            "purpose": "statistics",
            "legal_basis": {"text": "Enterprise statistics", "reference": "Law on Statistics 2015"}
        })
        .to_string(),
    )
    .expect("write");
    let consumer = s.key("consumer-01");
    let out = ndx(&consumer, &["request", draft.to_str().expect("path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = a["id"].as_str().expect("id").to_owned();
    assert_eq!(a["status"], "requested");

    // The consumer may not approve its own request: the problem's code, exit code 1 (403).
    let out = ndx(&consumer, &["approve", &id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("may not approve"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let business = s.key("business-provider");
    let out = ndx(&business, &["approve", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ndx(&business, &["revoke", &id, "--reason", "done"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value =
        serde_json::from_slice(&ndx(&consumer, &["show", &id]).stdout).expect("json");
    assert_eq!(shown["status"], "revoked");
    assert_eq!(shown["reason"], "done");
    let odrl: Value = serde_json::from_slice(&ndx(&consumer, &["odrl", &id]).stdout).expect("json");
    assert_eq!(odrl["uid"], format!("urn:ndx:agreement:{id}"));
    // A transition the status does not allow: conflict, exit code 5.
    let out = ndx(&business, &["approve", &id]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&ndx(&consumer, &["list"]).stdout).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
}

#[test]
fn a_transfer_assessment_lets_important_data_abroad_but_never_core_data() {
    let s = Server::demo(10);
    let foreign = s.key("foreign-consumer");
    let civil = s.key("civil-service-provider");
    let staff = s
        .get(
            "/api/v1/datasets/civil-servants/records?limit=1",
            Some(&civil),
        )
        .json()["records"][0]["key"]
        .as_str()
        .expect("a civil servant")
        .to_owned();
    let r = s.post_json(
        "/api/v1/agreements",
        Some(&foreign),
        &json!({
            "dataset": "civil-servants", "fields": ["staff_id", "agency_code", "position"],
            "operations": ["lookup"], "purpose": "law-enforcement",
            "legal_basis": {"text": "Consular cooperation", "reference": "Agreement of 2019"}
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let r = s.request(
        "POST",
        &format!("/api/v1/agreements/{id}/approve"),
        Some(&civil),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let ask = || {
        lookup(
            &s,
            &foreign,
            "civil-servants",
            &staff,
            Some("law-enforcement"),
        )
    };
    let p = ask().problem(403, "sovereignty");
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("transfer assessment")),
        "{p}"
    );

    let steward = s.key("steward");
    let until = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let assessment = |dataset: &str, recipient: &str| {
        json!({"dataset": dataset, "recipient": recipient, "approved_by": "Ministry of Home Affairs",
               "scope": "staff identity for consular checks", "valid_until": until})
    };
    let path = "/api/v1/transfer-assessments";
    s.post_json(
        path,
        Some(&foreign),
        &assessment("civil-servants", "LA-MPS"),
    )
    .problem(403, "role-required");
    s.post_json(path, Some(&steward), &assessment("population", "LA-MPS"))
        .problem(422, "agreement-invalid");
    s.post_json(
        path,
        Some(&steward),
        &assessment("civil-servants", "UBND-01"),
    )
    .problem(422, "agreement-invalid");
    s.post_json(path, Some(&steward), &assessment("civil-servants", "NOPE"))
        .problem(404, "member-not-found");
    let r = s.post_json(
        path,
        Some(&steward),
        &assessment("civil-servants", "LA-MPS"),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = ask();
    assert_eq!(r.status, 200, "{}", r.body);
    let listed = s.get(path, Some(&civil)).json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    // Core data stays home whatever is registered.
    lookup(&s, &foreign, POP, &a_citizen(&s), Some("law-enforcement")).problem(403, "sovereignty");
}

#[test]
fn an_approval_policy_approves_what_it_covers_as_it_is_requested() {
    let s = Server::demo(10);
    // The demo's province agreements were approved by the population policy.
    let a = &agreements(&s, &s.key("consumer-48"))
        .into_iter()
        .find(|a| a["dataset"] == POP)
        .expect("population agreement");
    assert_eq!(a["status"], "approved");
    assert!(
        a["changed_by"]
            .as_str()
            .is_some_and(|c| c.starts_with("policy:")),
        "{a}"
    );

    let business = s.key("business-provider");
    let policy = json!({
        "dataset": "businesses", "consumer_level": "province", "consumer_country": "VN",
        "fields": ["tax_code", "name", "status"], "operations": ["lookup", "search"],
        "purposes": ["administrative-procedure"], "max_days": 365
    });
    s.post_json(
        "/api/v1/approval-policies",
        Some(&s.key("consumer-01")),
        &policy,
    )
    .problem(403, "role-required");
    s.post_json(
        "/api/v1/approval-policies",
        Some(&s.key("population-provider")),
        &policy,
    )
    .problem(403, "not-owner");
    let r = s.post_json("/api/v1/approval-policies", Some(&business), &policy);
    assert_eq!(r.status, 201, "{}", r.body);
    let until = (chrono::Utc::now() + chrono::Duration::days(100)).to_rfc3339();
    let request = |fields: Value| {
        s.post_json(
            "/api/v1/agreements",
            Some(&s.key("consumer-48")),
            &json!({"dataset": "businesses", "fields": fields, "operations": ["lookup"],
                    "purpose": "administrative-procedure", "valid_until": until,
                    "legal_basis": {"text": "t", "reference": "r"}}),
        )
        .json()
    };
    let covered = request(json!(["tax_code", "name"]));
    assert_eq!(covered["status"], "approved", "{covered}");
    let beyond = request(json!(["tax_code", "owner_citizen_id"]));
    assert_eq!(beyond["status"], "requested", "{beyond}");
    // Not a province: the policy does not apply.
    let civil = s.post_json(
        "/api/v1/agreements",
        Some(&s.key("civil-service-consumer")),
        &json!({"dataset": "businesses", "fields": ["name"], "operations": ["lookup"],
                "purpose": "administrative-procedure", "valid_until": until,
                "legal_basis": {"text": "t", "reference": "r"}}),
    );
    assert_eq!(civil.json()["status"], "requested", "{}", civil.body);
    assert_eq!(
        s.get("/api/v1/approval-policies", Some(&business))
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn a_quota_outlives_a_restart() {
    let s = Server::demo(10);
    let consumer = s.key("consumer-48");
    let business = s.key("business-provider");
    let firm = s
        .get(
            "/api/v1/datasets/businesses/records?limit=1",
            Some(&business),
        )
        .json()["records"][0]["key"]
        .as_str()
        .expect("a firm")
        .to_owned();
    let r = s.post_json(
        "/api/v1/agreements",
        Some(&consumer),
        &json!({
            "dataset": "businesses", "fields": ["name"], "operations": ["lookup"],
            "purpose": "statistics", "quota": {"requests_per_day": 3},
            "legal_basis": {"text": "t", "reference": "r"}
        }),
    );
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let r = s.request(
        "POST",
        &format!("/api/v1/agreements/{id}/approve"),
        Some(&business),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let ask = |s: &Server| lookup(s, &consumer, "businesses", &firm, Some("statistics"));
    assert_eq!(ask(&s).status, 200);
    assert_eq!(ask(&s).status, 200);
    let s = s.stop().serve();
    assert_eq!(ask(&s).status, 200, "the third of three");
    ask(&s).problem(429, "quota-exhausted");
}
