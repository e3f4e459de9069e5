//! Quality on the six criteria (issue 14) over HTTP: scores per dataset, field, rule and
//! member; counts brought up to date after each batch (an insert, an update, a deletion each
//! move them exactly); measured rules (plausibility, cross-dataset) that never refuse a
//! record; the reconciliation and the use of agreements weighing in; the hourly history; who
//! may see what; and bad definitions refused.

mod common;

use common::{Resp, Server};
use serde_json::{Value, json};

const CS: &str = "civil-servants";

fn ok(r: Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    r.json()
}

fn quality(s: &Server, key: &str, dataset: &str) -> Value {
    ok(
        s.get(&format!("/api/v1/datasets/{dataset}/quality"), Some(key)),
        200,
    )
}

fn rule_failing(q: &Value, rule: &str) -> u64 {
    q["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["rule"] == rule)
        .and_then(|r| r["failing"].as_u64())
        .unwrap_or_else(|| panic!("no rule {rule} in {q}"))
}

fn field<'a>(q: &'a Value, name: &str) -> &'a Value {
    q["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {q}"))
}

fn post(s: &Server, key: &str, dataset: &str, rows: &[Value]) {
    let body: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let r = s.ingest(
        dataset,
        "",
        key,
        "application/x-ndjson",
        body.as_bytes(),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn each_batch_moves_the_counts_exactly_and_measured_rules_refuse_nothing() {
    let s = Server::demo(2000);
    let provider = s.key("civil-service-provider");
    let before = quality(&s, &provider, CS);
    let n = before["records"].as_u64().expect("records");
    assert!(n > 0, "{before}");
    for c in [
        "accurate",
        "complete",
        "clean",
        "live",
        "unified",
        "common_use",
        "overall",
    ] {
        let v = &before["criteria"][c];
        assert!(
            v.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)),
            "{c}: {before}"
        );
    }
    assert_eq!(before["update_frequency"], "monthly");
    // The demo injects citizen IDs that are missing or unknown to the population register:
    // the cross-dataset rule counts them, the completeness of the field shows the missing.
    let unknown = rule_failing(&before, "reference-exists");
    assert!(unknown > 0, "{before}");
    let citizen_id = field(&before, "citizen_id");
    assert!(
        citizen_id["filled"].as_u64().expect("filled") < n,
        "{before}"
    );
    assert!(citizen_id["complete"].as_f64().expect("complete") < 1.0);
    let head = |s: &Server| {
        let p = ok(
            s.get(
                &format!("/api/v1/datasets/{CS}/records?limit=1"),
                Some(&provider),
            ),
            200,
        );
        p["records"][0].clone()
    };
    let existing = head(&s);
    let mut teen = existing["data"].clone();
    teen["staff_id"] = json!("QA-0001");
    teen["date_of_birth"] = json!("2015-03-04");
    teen["hired_on"] = json!("2014-01-01");
    teen.as_object_mut().expect("object").remove("address");
    teen.as_object_mut().expect("object").remove("citizen_id");

    // An implausible record is accepted (a measured rule refuses nothing) and counted.
    post(&s, &provider, CS, std::slice::from_ref(&teen));
    let q = quality(&s, &provider, CS);
    assert_eq!(q["records"].as_u64(), Some(n + 1));
    assert_eq!(
        rule_failing(&q, "age-between"),
        rule_failing(&before, "age-between") + 1
    );
    assert_eq!(
        rule_failing(&q, "date-order"),
        rule_failing(&before, "date-order") + 1
    );
    assert_eq!(
        field(&q, "address")["filled"],
        field(&before, "address")["filled"],
        "the new record has no address"
    );
    assert_eq!(
        q["invalid_records"].as_u64(),
        before["invalid_records"].as_u64().map(|v| v + 1)
    );
    assert!(q["position"].as_u64() > before["position"].as_u64());

    // Corrected, it no longer counts; the replaced version is taken back exactly.
    let mut adult = teen.clone();
    adult["date_of_birth"] = json!("1985-03-04");
    adult["hired_on"] = json!("2010-01-01");
    adult["address"] = json!("12 Lê Lợi, Phường Sài Gòn, Thành phố Hồ Chí Minh");
    post(&s, &provider, CS, &[adult]);
    let q = quality(&s, &provider, CS);
    assert_eq!(q["records"].as_u64(), Some(n + 1));
    assert_eq!(
        rule_failing(&q, "age-between"),
        rule_failing(&before, "age-between")
    );
    assert_eq!(
        rule_failing(&q, "date-order"),
        rule_failing(&before, "date-order")
    );
    assert_eq!(
        field(&q, "address")["filled"].as_u64(),
        field(&before, "address")["filled"].as_u64().map(|v| v + 1)
    );
    assert_eq!(q["invalid_records"], before["invalid_records"]);

    // Deleted, the dataset's counts are those from before.
    let r = s.request(
        "DELETE",
        &format!("/api/v1/datasets/{CS}/records/QA-0001"),
        Some(&provider),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let q = quality(&s, &provider, CS);
    assert_eq!(q["records"].as_u64(), Some(n));
    assert_eq!(q["fields"], before["fields"]);
    assert_eq!(q["rules"], before["rules"]);

    // The trend: the hour's snapshot holds the latest measurement.
    let h = ok(
        s.get(
            &format!("/api/v1/datasets/{CS}/quality/history"),
            Some(&provider),
        ),
        200,
    );
    let h = h.as_array().expect("snapshots");
    assert!(!h.is_empty());
    assert_eq!(h.last().expect("last")["records"].as_u64(), Some(n));
    let none = ok(
        s.get(
            &format!("/api/v1/datasets/{CS}/quality/history?from=2999-01-01T00:00:00Z"),
            Some(&provider),
        ),
        200,
    );
    assert_eq!(none, json!([]));
    s.get(
        &format!("/api/v1/datasets/{CS}/quality/history?from=yesterday"),
        Some(&provider),
    )
    .problem(400, "query-invalid");
}

#[test]
fn reconciliation_and_use_weigh_in_and_each_key_sees_what_it_may() {
    let s = Server::demo(2000);
    let civil = s.key("civil-service-consumer");
    let provider = s.key("civil-service-provider");
    let before = quality(&s, &provider, CS);
    assert!(before["reconciliation"].is_null());
    let body = serde_json::to_vec(&json!({"target": CS, "reference": "population"})).expect("json");
    let r = s.request(
        "POST",
        "/api/v1/reconciliations",
        Some(&civil),
        &[("Ndx-Purpose", "cross-checking")],
        Some(("application/json", &body)),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let mut run = Value::Null;
    for _ in 0..600 {
        run = ok(
            s.get(&format!("/api/v1/reconciliations/{id}"), Some(&civil)),
            200,
        );
        if run["status"] != "running" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(run["status"], "done", "{run}");
    let q = quality(&s, &provider, CS);
    let rec = &q["reconciliation"];
    assert_eq!(rec["run"], id.as_str(), "{q}");
    let (exact, targets) = (
        rec["exact"].as_u64().expect("exact"),
        rec["targets"].as_u64().expect("targets"),
    );
    assert!(exact < targets, "the demo injects errors: {rec}");
    let valid_share =
        1.0 - q["invalid_records"].as_f64().expect("invalid") / q["records"].as_f64().expect("n");
    #[allow(clippy::cast_precision_loss)]
    let expected = f64::midpoint(valid_share, exact as f64 / targets as f64);
    let accurate = q["criteria"]["accurate"].as_f64().expect("accurate");
    assert!(
        (accurate - expected).abs() < 1e-9,
        "{accurate} vs {expected}"
    );
    assert!(rec["duplicates"].as_u64().expect("duplicates") > 0, "{rec}");
    assert!(q["criteria"]["clean"].as_f64().expect("clean") < 1.0);

    // Population is shared by agreements in force; once a consumer uses one, it is in common
    // use.
    let auditor = s.key("auditor");
    let pop = quality(&s, &auditor, "population");
    assert_eq!(pop["shared"], true);
    let consumer = s.key("consumer-01");
    let citizen = ok(
        s.get(
            "/api/v1/datasets/population/records?limit=1",
            Some(&s.key("population-provider")),
        ),
        200,
    )["records"][0]["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let r = s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/population/records/{citizen}"),
        Some(&consumer),
        &[("Ndx-Purpose", "public-service-delivery")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let pop = quality(&s, &auditor, "population");
    assert_eq!(pop["used"], true, "{pop}");
    assert_eq!(pop["criteria"]["common_use"], 1.0);

    // Who sees what: population is restricted (its owner, the parties of its agreements,
    // stewards, operators and auditors); the overview lists what the key may see.
    let business = s.key("business-provider");
    s.get("/api/v1/datasets/population/quality", Some(&business))
        .problem(404, "dataset-not-found");
    s.get(
        "/api/v1/datasets/population/quality/history",
        Some(&business),
    )
    .problem(404, "dataset-not-found");
    quality(&s, &consumer, "population");
    s.get("/api/v1/datasets/no-such/quality", Some(&auditor))
        .problem(404, "dataset-not-found");
    s.get("/api/v1/quality", None).problem(401, "auth-missing");
    let all = ok(s.get("/api/v1/quality", Some(&auditor)), 200);
    let names = |o: &Value| -> Vec<String> {
        o["datasets"]
            .as_array()
            .expect("datasets")
            .iter()
            .map(|d| d["dataset"].as_str().expect("dataset").to_owned())
            .collect()
    };
    assert!(names(&all).contains(&"population".to_owned()));
    assert!(all["members"]["BCA"]["overall"].is_number(), "{all}");
    assert!(all["overall"]["complete"].is_number(), "{all}");
    let theirs = ok(s.get("/api/v1/quality", Some(&business)), 200);
    assert!(!names(&theirs).contains(&"population".to_owned()));
    assert!(theirs["members"].get("BCA").is_none(), "{theirs}");
}

#[test]
fn rules_and_frequencies_are_checked_and_a_superseded_list_is_not_unified() {
    let s = Server::demo(20);
    let steward = s.key("steward");
    let schema = |rules: Value, frequency: Value, ethnic_list: &str| {
        json!({
            "dataset": "ethnic-survey",
            "title_vi": "Khảo sát dân tộc",
            "title_en": "Ethnicity survey",
            "owner": "BCA",
            "openness": "shared",
            "importance": "ordinary",
            "key": ["respondent"],
            "fields": [
                {"name": "respondent", "element": "identifier", "required": true, "sensitivity": "internal"},
                {"name": "born", "element": "date-of-birth", "required": false, "sensitivity": "personal"},
                {"name": "citizen_id", "element": "citizen-id", "required": false, "sensitivity": "personal"},
                {"name": "ethnic_code", "element": "ethnic-group", "required": false, "sensitivity": "sensitive-personal", "code_list": ethnic_list},
            ],
            "rules": rules,
            "update_frequency": frequency,
        })
    };
    let refused = |body: Value| {
        s.post_json("/api/v1/datasets", Some(&steward), &body)
            .problem(422, "definition-invalid")
    };
    let p = refused(schema(
        json!([{"rule": "age-between", "birth_date": "born", "min": 70, "max": 18}]),
        json!("yearly"),
        "ethnic-group@1",
    ));
    assert_eq!(p["errors"][0]["code"], "rule-invalid", "{p}");
    let p = refused(schema(
        json!([{"rule": "reference-exists", "field": "citizen_id", "dataset": "no-such"}]),
        json!("yearly"),
        "ethnic-group@1",
    ));
    assert_eq!(p["errors"][0]["code"], "rule-invalid", "{p}");
    let p = refused(schema(
        json!([{"rule": "date-order", "earlier": "born", "later": "nowhere"}]),
        json!("yearly"),
        "ethnic-group@1",
    ));
    assert_eq!(p["errors"][0]["code"], "rule-field-unknown", "{p}");
    s.post_json(
        "/api/v1/datasets",
        Some(&steward),
        &schema(json!([]), json!("hourly"), "ethnic-group@1"),
    )
    .problem(422, "body-invalid");

    // A dataset kept in the superseded 1979 list is not unified; its codes are still clean.
    let good = schema(
        json!([{"rule": "reference-exists", "field": "citizen_id", "dataset": "population"}]),
        json!("yearly"),
        "ethnic-group@1",
    );
    ok(s.post_json("/api/v1/datasets", Some(&steward), &good), 201);
    let provider = s.key("population-provider");
    post(
        &s,
        &provider,
        "ethnic-survey",
        &[
            json!({"respondent": "R1", "born": "1990", "ethnic_code": "04", "citizen_id": "001090000001"}),
            json!({"respondent": "R2", "ethnic_code": "06"}),
        ],
    );
    let q = quality(&s, &steward, "ethnic-survey");
    assert_eq!(q["records"], 2);
    assert_eq!(q["criteria"]["unified"], 0.0, "{q}");
    assert_eq!(q["criteria"]["clean"], 1.0, "{q}");
    assert_eq!(q["criteria"]["live"], 1.0, "{q}");
    assert_eq!(
        rule_failing(&q, "reference-exists"),
        1,
        "an unknown citizen: {q}"
    );
    assert_eq!(field(&q, "born")["complete"], 0.5);
    // A measured rule added later is a compatible change: the counts start afresh under it.
    let mut more = good.clone();
    more["rules"]
        .as_array_mut()
        .expect("rules")
        .push(json!({"rule": "age-between", "birth_date": "born", "min": 40, "max": 120}));
    let r = ok(
        s.put_json(
            "/api/v1/datasets/ethnic-survey/schema",
            Some(&steward),
            &more,
        ),
        201,
    );
    assert_eq!(
        r["schema"]["version"],
        json!({"major": 1, "minor": 1}),
        "{r}"
    );
    let q = quality(&s, &steward, "ethnic-survey");
    assert_eq!(
        rule_failing(&q, "age-between"),
        1,
        "born 1990 is under 40: {q}"
    );
    assert_eq!(q["records"], 2);
}
