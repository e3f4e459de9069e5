//! The exchange over a real store, as a property: whatever the schema, agreements, consents,
//! jurisdictions and records, no answer — lookup, search, extract — holds a field or a record
//! the rules forbid, and every answer's audit event names its agreement, purpose, released
//! fields and every released record's data subject.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ndx_audit::AuditEvent;
use ndx_types::dictionary::{
    DatasetSchema, FieldDef, Importance, Openness, SchemaVersion, Sensitivity,
};
use ndx_types::exchange::{Operation, TransferAssessment};
use ndx_types::registry::{Jurisdiction, MemberLevel, Role};
use proptest::prelude::*;

use super::*;
use crate::Store;
use crate::access::SubjectRead;
use crate::audit::{AuditKeys, AuditLog, Receipt};
use crate::ingest::{IngestOptions, InputFormat};
use crate::registry::NewMember;

fn at(days: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
        .single()
        .expect("time")
        + Duration::days(days)
}

const PURPOSES: [&str; 2] = ["public-service-delivery", "cross-checking"];
const NAMES: [&str; 6] = ["An", "Bình", "Cường", "Dung", "Hoa", "Minh"];

/// One generated field: (sensitivity, consent-bound).
type FieldSpec = (Sensitivity, bool);

/// One generated agreement: consumer index (0: at home, 1: abroad), fields (indexes),
/// operations, purpose index, what happens to it (0 stays requested, 1 approved, 2 approved then
/// suspended, 3 approved then revoked, 4 rejected), validity offsets.
type AgreementSpec = (
    usize,
    Vec<usize>,
    Vec<Operation>,
    usize,
    u8,
    i64,
    Option<i64>,
);

#[derive(Debug, Clone)]
struct World {
    fields: Vec<FieldSpec>,
    importance: Importance,
    records: Vec<Vec<usize>>,
    agreements: Vec<AgreementSpec>,
    consents: Vec<(usize, usize)>,
    assessed: bool,
    asks: Vec<(usize, Operation, usize, Option<Vec<usize>>)>,
}

fn arb_world() -> impl Strategy<Value = World> {
    let sensitivity = prop_oneof![
        Just(Sensitivity::Public),
        Just(Sensitivity::Internal),
        Just(Sensitivity::Personal),
        Just(Sensitivity::SensitivePersonal)
    ];
    (
        prop::collection::vec((sensitivity, any::<bool>()), 1..5),
        prop_oneof![
            Just(Importance::Core),
            Just(Importance::Important),
            Just(Importance::Ordinary)
        ],
        prop::collection::vec(prop::collection::vec(0usize..6, 5), 1..12),
        prop::collection::vec(
            (
                0usize..2,
                prop::collection::vec(0usize..5, 1..5),
                prop::sample::subsequence(Operation::ALL.to_vec(), 1..=3),
                0usize..2,
                0u8..5,
                -3i64..2,
                prop::option::of(1i64..5),
            ),
            0..5,
        ),
        prop::collection::vec((0usize..12, 0usize..5), 0..10),
        any::<bool>(),
        prop::collection::vec(
            (
                0usize..2,
                prop::sample::select(Operation::ALL.to_vec()),
                0usize..2,
                prop::option::of(prop::collection::vec(0usize..5, 1..3)),
            ),
            1..6,
        ),
    )
        .prop_map(
            |(fields, importance, records, agreements, consents, assessed, asks)| World {
                fields,
                importance,
                records,
                agreements,
                consents,
                assessed,
                asks,
            },
        )
}

fn citizen(i: usize) -> String {
    format!("001090{:06}", 100 + i)
}

struct Built {
    _dir: tempfile::TempDir,
    core: Core,
    schema: DatasetSchema,
    consumers: [Caller; 2],
    agreements: Vec<Agreement>,
    consents: Vec<Consent>,
    assessments: Vec<TransferAssessment>,
    citizens: Vec<String>,
}

fn build(w: &World) -> Built {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("ndx.db").to_str().expect("path")).expect("store");
    let audit = AuditLog::start(
        store.clone(),
        AuditKeys::from_seeds([7; 32], [8; 32]),
        Arc::new(|| at(0)),
    )
    .expect("audit");
    let core = Core::new(store, audit);
    core.ensure_builtins(at(-10)).expect("builtins");
    let member = |code: &str, country: &str| NewMember {
        code: code.into(),
        name_vi: code.into(),
        name_en: code.into(),
        level: if country == "VN" {
            MemberLevel::Central
        } else {
            MemberLevel::Foreign
        },
        jurisdiction: Jurisdiction {
            country: country.into(),
            province: None,
        },
    };
    core.bootstrap(member("PROV", "VN"), "PROV-SYS", at(-10))
        .expect("bootstrap");
    let operator = core
        .local_caller("PROV-SYS", vec![Role::Operator, Role::Provider])
        .expect("op");
    let admin = operator.registry_admin().expect("admin");
    for (code, country, system) in [("HOME", "VN", "HOME-SYS"), ("AWAY", "LA", "AWAY-SYS")] {
        core.create_member(&admin, member(code, country), at(-10))
            .expect("member");
        core.create_system(&admin, code, system, system, at(-10))
            .expect("system");
    }
    let mut fields = vec![FieldDef {
        name: "citizen_id".into(),
        element: "citizen-id".into(),
        required: true,
        sensitivity: Sensitivity::Personal,
        consent: false,
        code_list: None,
        description: String::new(),
    }];
    for (i, (sensitivity, consent)) in w.fields.iter().enumerate() {
        fields.push(FieldDef {
            name: format!("f{i}"),
            element: "full-name".into(),
            required: false,
            sensitivity: *sensitivity,
            consent: *consent,
            code_list: None,
            description: String::new(),
        });
    }
    let schema = DatasetSchema {
        dataset: "ds".into(),
        version: SchemaVersion { major: 1, minor: 0 },
        title_vi: "ds".into(),
        title_en: "ds".into(),
        description: String::new(),
        owner: "PROV".into(),
        original: true,
        master: false,
        openness: Openness::Shared,
        importance: w.importance,
        key: vec!["citizen_id".into()],
        fields,
        rules: vec![],
        update_frequency: None,
    };
    core.create_dataset(
        &operator.dataset_define("PROV").expect("define"),
        schema,
        at(-10),
    )
    .expect("dataset");
    let schema = core.schema("ds", None).expect("schema");
    let mut body = String::new();
    let citizens: Vec<String> = (0..w.records.len()).map(citizen).collect();
    for (i, values) in w.records.iter().enumerate() {
        let mut rec = serde_json::Map::new();
        rec.insert("citizen_id".into(), citizens[i].clone().into());
        for f in 0..w.fields.len() {
            rec.insert(
                format!("f{f}"),
                format!("{} {}", NAMES[values[f]], NAMES[(values[f] + i) % 6]).into(),
            );
        }
        body.push_str(&serde_json::to_string(&rec).expect("json"));
        body.push('\n');
    }
    let write = operator.dataset_write(&schema).expect("write");
    let report = core
        .ingest(
            &write,
            body.as_bytes(),
            &IngestOptions::new(InputFormat::Ndjson),
            at(-5),
            &mut |_| {},
        )
        .expect("ingest");
    assert_eq!(report.errors.len(), 0, "{report:?}");

    let consumers = [
        core.local_caller("HOME-SYS", vec![Role::Consumer])
            .expect("home"),
        core.local_caller("AWAY-SYS", vec![Role::Consumer])
            .expect("away"),
    ];
    let mut agreements = Vec::new();
    for (who, fs, ops, purpose, fate, from, until) in &w.agreements {
        let names: Vec<String> = fs
            .iter()
            .filter(|f| **f < w.fields.len())
            .map(|f| format!("f{f}"))
            .chain(std::iter::once("citizen_id".to_owned()))
            .collect();
        let a = core
            .request_agreement(
                &consumers[*who],
                AgreementDraft {
                    dataset: "ds".into(),
                    fields: names,
                    operations: ops.clone(),
                    purpose: PURPOSES[*purpose].into(),
                    legal_basis: LegalBasis {
                        text: "t".into(),
                        reference: "r".into(),
                    },
                    valid_from: Some(at(*from)),
                    valid_until: until.map(|u| at(*from + u)),
                    quota: Quota::default(),
                    mandatory: false,
                },
                at(-4),
            )
            .expect("request");
        let id = a.value.id.clone();
        let steps: &[Transition] = match fate {
            1 => &[Transition::Approve],
            2 => &[Transition::Approve, Transition::Suspend],
            3 => &[Transition::Approve, Transition::Revoke],
            4 => &[Transition::Reject],
            _ => &[],
        };
        for t in steps {
            let reason = (*t == Transition::Reject).then(|| "no".to_owned());
            core.change_agreement(&operator, &id, *t, reason, at(-3))
                .expect("change");
        }
        agreements.push(
            core.store
                .catalog()
                .value::<Agreement>(&id)
                .expect("read")
                .expect("agreement"),
        );
    }
    let mut consents = Vec::new();
    for (r, a) in &w.consents {
        let (Some(c), Some(a)) = (citizens.get(*r), agreements.get(*a)) else {
            continue;
        };
        let cap = SubjectRead::citizen(c.clone(), "test".into());
        if let Ok(given) = core.grant_consent(&cap, &a.id, Vec::new(), at(-2)) {
            consents.push(given.into_inner());
        }
    }
    let mut assessments = Vec::new();
    if w.assessed {
        let t = TransferAssessment {
            id: "ta-1".into(),
            dataset: "ds".into(),
            recipient: "AWAY".into(),
            approved_by: "the steward".into(),
            scope: "all".into(),
            valid_from: at(-10),
            valid_until: at(10),
        };
        core.store
            .catalog()
            .insert(&t, at(-10))
            .expect("assessment");
        assessments.push(t);
    }
    Built {
        _dir: dir,
        core,
        schema,
        consumers,
        agreements,
        consents,
        assessments,
        citizens,
    }
}

/// The event a receipt stands for.
fn event_of(core: &Core, receipt: &Receipt) -> AuditEvent {
    let i = receipt.index();
    let e = core.audit.entries(i, i + 1).expect("entries");
    AuditEvent::from_canonical(&e[0].bytes).expect("canonical")
}

/// What the rules allow a released record to carry under `a` for `consumer`, checked
/// independently of `decide`.
fn check_release(
    b: &Built,
    consumer: usize,
    a: &Agreement,
    (op, purpose, asked): (Operation, &str, Option<&[String]>),
    record: &ExchangeRecord,
    now: DateTime<Utc>,
) {
    let system = ["HOME-SYS", "AWAY-SYS"][consumer];
    assert_eq!(
        a.consumer, system,
        "released under another consumer's agreement"
    );
    assert_eq!(a.status_at(now), AgreementStatus::Approved);
    assert!(a.valid_from <= now);
    assert_eq!(a.purpose, purpose);
    assert!(a.operations.contains(&op));
    for f in record.data.keys() {
        assert!(a.fields.contains(f), "field {f} is not agreed");
        if let Some(asked) = asked {
            assert!(asked.contains(f), "field {f} was not asked for");
        }
    }
    let schema = &b.schema;
    let released: Vec<&FieldDef> = schema
        .fields
        .iter()
        .filter(|f| record.data.contains_key(&f.name))
        .collect();
    if consumer == 1 {
        assert_ne!(schema.importance, Importance::Core, "core data went abroad");
        let personal = released.iter().any(|f| {
            matches!(
                f.sensitivity,
                Sensitivity::Personal | Sensitivity::SensitivePersonal
            )
        });
        if schema.importance == Importance::Important || personal {
            assert!(
                !b.assessments.is_empty(),
                "important or personal data abroad without assessment"
            );
        }
    }
    // Consent: the grant's consent-bound fields are the agreed ∩ asked ones with `consent`.
    let bound = schema.fields.iter().filter(|f| {
        f.consent && a.fields.contains(&f.name) && asked.is_none_or(|x| x.contains(&f.name))
    });
    for f in bound {
        assert!(
            b.consents
                .iter()
                .any(|c| c.subject == record.key && c.covers(&a.id, &f.name, now)),
            "record {} released without consent for {}",
            record.key,
            f.name
        );
    }
}

fn check_event(e: &AuditEvent, a: &Agreement, purpose: &str, records: &[ExchangeRecord]) {
    assert_eq!(e.agreement.as_deref(), Some(a.id.as_str()));
    assert_eq!(e.v, AuditEvent::AGREEMENT_FORMAT_VERSION);
    assert_eq!(e.purpose.as_deref(), Some(purpose));
    assert!(e.outcome.allowed);
    for r in records {
        assert!(
            e.subjects.contains(&r.key),
            "subject {} is not on the event",
            r.key
        );
        for f in r.data.keys() {
            assert!(
                e.fields.contains(f),
                "released field {f} is not on the event"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn no_answer_exceeds_the_rules_and_every_answer_is_audited(w in arb_world()) {
        let b = build(&w);
        let now = at(0);
        for (consumer, op, purpose, asked) in &w.asks {
            let purpose = PURPOSES[*purpose];
            let asked: Option<Vec<String>> = asked.as_ref().map(|v| {
                v.iter().filter(|f| **f < w.fields.len()).map(|f| format!("f{f}")).collect::<BTreeSet<_>>().into_iter().collect()
            }).filter(|v: &Vec<String>| !v.is_empty());
            let caller = &b.consumers[*consumer];
            let cap = match b.core.exchange_access(caller, "ds", *op, None, Some(purpose), asked.clone(), now) {
                Ok(cap) => cap,
                Err(e) => {
                    prop_assert!(e.kind == crate::Kind::Forbidden, "{e}");
                    continue;
                }
            };
            let a = b.agreements.iter().find(|a| a.id == cap.agreement.id).expect("known agreement").clone();
            let mut released: Vec<ExchangeRecord> = Vec::new();
            match op {
                Operation::Lookup => {
                    for c in &b.citizens {
                        match b.core.exchange_lookup(&cap, c, now).and_then(|p| p.wait()) {
                            Ok(r) => {
                                let e = event_of(&b.core, r.receipt());
                                check_event(&e, &a, purpose, std::slice::from_ref(r.get()));
                                released.push(r.into_inner());
                            }
                            Err(e) => prop_assert_eq!(e.code, Code::ConsentMissing),
                        }
                    }
                }
                Operation::Search => {
                    let mut cursor: Option<String> = None;
                    loop {
                        let page = b.core.exchange_search(&cap, &[], cursor.as_deref(), 3, now).expect("search");
                        let e = event_of(&b.core, page.receipt());
                        check_event(&e, &a, purpose, &page.get().records);
                        let page = page.into_inner();
                        released.extend(page.records);
                        match page.next_cursor { Some(c) => cursor = Some(c), None => break }
                    }
                }
                Operation::Subscribe => {
                    let mut after = 0u64;
                    loop {
                        let page = b.core.exchange_changes(&cap, &[], after, 4, now).expect("changes");
                        let records: Vec<ExchangeRecord> = page.get().changes.iter()
                            .filter(|c| c.op == crate::feed::ChangeOp::Upsert)
                            .map(|c| ExchangeRecord { key: c.key.clone(), version: c.version, recorded_at: c.recorded_at, data: c.data.clone(), agreement: a.id.clone() })
                            .collect();
                        let e = event_of(&b.core, page.receipt());
                        check_event(&e, &a, purpose, &records);
                        released.extend(records);
                        let page = page.into_inner();
                        if page.next == after { break }
                        after = page.next;
                    }
                }
                Operation::Extract => {
                    let mut from = None;
                    loop {
                        let step = b.core.exchange_extract_page(&cap, from, 4, now).expect("extract");
                        let page = step.page.wait().expect("durable");
                        let e = event_of(&b.core, page.receipt());
                        check_event(&e, &a, purpose, &page.get().records);
                        let page = page.into_inner();
                        released.extend(page.records);
                        match step.next { Some(next) => from = Some(next), None => break }
                    }
                }
            }
            for r in &released {
                check_release(&b, *consumer, &a, (*op, purpose, asked.as_deref()), r, now);
            }
        }
    }
}
