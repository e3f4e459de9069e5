//! Table tests of the exchange rules, and a property test: whatever the agreements, no grant
//! releases a field or serves a request the rules forbid.

use chrono::{Duration, TimeZone};
use proptest::prelude::*;

use super::*;
use crate::dictionary::{FieldDef, Openness, SchemaVersion};

fn t(day: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("time")
        + Duration::days(day)
}

fn field(name: &str, sensitivity: Sensitivity, consent: bool) -> FieldDef {
    FieldDef {
        name: name.into(),
        element: "e".into(),
        required: false,
        sensitivity,
        consent,
        code_list: None,
        description: String::new(),
    }
}

fn schema(importance: Importance) -> DatasetSchema {
    DatasetSchema {
        dataset: "population".into(),
        version: SchemaVersion { major: 1, minor: 0 },
        title_vi: "Dân cư".into(),
        title_en: "Population".into(),
        description: String::new(),
        owner: "BCA".into(),
        original: true,
        master: false,
        openness: Openness::Shared,
        importance,
        key: vec!["citizen_id".into()],
        fields: vec![
            field("citizen_id", Sensitivity::Personal, false),
            field("full_name", Sensitivity::Personal, false),
            field("birth_date", Sensitivity::Personal, false),
            field("ethnicity", Sensitivity::SensitivePersonal, true),
            field("province", Sensitivity::Internal, false),
        ],
        rules: vec![],
        update_frequency: None,
    }
}

fn agreement(id: &str) -> Agreement {
    Agreement {
        id: id.into(),
        dataset: "population".into(),
        provider: "BCA".into(),
        consumer: "HN-PORTAL".into(),
        consumer_member: "UBND-01".into(),
        fields: vec!["full_name".into(), "birth_date".into(), "ethnicity".into()],
        operations: vec![Operation::Lookup],
        purpose: "public-service-delivery".into(),
        legal_basis: LegalBasis {
            text: "Sharing of population data with public services".into(),
            reference: "Decree 47/2024/ND-CP".into(),
        },
        valid_from: t(0),
        valid_until: Some(t(365)),
        quota: Quota::default(),
        status: AgreementStatus::Approved,
        reason: None,
        mandatory: false,
        requested_by: "HN-PORTAL".into(),
        requested_at: t(-1),
        changed_by: None,
        changed_at: None,
    }
}

fn vn() -> Jurisdiction {
    Jurisdiction {
        country: "VN".into(),
        province: None,
    }
}

fn abroad() -> Jurisdiction {
    Jurisdiction {
        country: "SG".into(),
        province: None,
    }
}

fn request(at: DateTime<Utc>) -> Request<'static> {
    Request {
        consumer: "HN-PORTAL",
        operation: Operation::Lookup,
        purpose: "public-service-delivery",
        fields: None,
        at,
    }
}

fn home<'a>(j: &'a Jurisdiction) -> Parties<'a> {
    Parties {
        provider: j,
        consumer: j,
    }
}

#[test]
fn an_approved_agreement_grants_its_fields_in_schema_order() {
    let j = vn();
    let g = decide(
        &request(t(10)),
        &[agreement("A1")],
        &schema(Importance::Important),
        home(&j),
        &[],
    )
    .expect("granted");
    assert_eq!(g.agreement, "A1");
    assert_eq!(g.fields, ["full_name", "birth_date", "ethnicity"]);
    assert_eq!(g.consent_fields, ["ethnicity"]);
}

#[test]
fn each_refusal_has_its_reason() {
    let j = vn();
    let s = schema(Importance::Important);
    let refused = |a: Agreement, req: Request<'_>| decide(&req, &[a], &s, home(&j), &[]);
    assert_eq!(
        decide(&request(t(1)), &[], &s, home(&j), &[]),
        Err(Refusal::NoAgreement)
    );
    let mut other = agreement("A1");
    other.consumer = "ELSEWHERE".into();
    assert_eq!(refused(other, request(t(1))), Err(Refusal::NoAgreement));
    for (status, want) in [
        (AgreementStatus::Requested, Refusal::Pending("A1".into())),
        (AgreementStatus::Rejected, Refusal::Rejected("A1".into())),
        (AgreementStatus::Suspended, Refusal::Suspended("A1".into())),
        (AgreementStatus::Revoked, Refusal::Revoked("A1".into())),
    ] {
        let mut a = agreement("A1");
        a.status = status;
        assert_eq!(refused(a, request(t(1))), Err(want), "{status:?}");
    }
    assert_eq!(
        refused(agreement("A1"), request(t(-1))),
        Err(Refusal::NotYetValid("A1".into(), t(0)))
    );
    assert_eq!(
        refused(agreement("A1"), request(t(365))),
        Err(Refusal::Expired("A1".into(), t(365)))
    );
    let mut wrong_purpose = request(t(1));
    wrong_purpose.purpose = "tax-assessment";
    assert_eq!(
        refused(agreement("A1"), wrong_purpose),
        Err(Refusal::PurposeMismatch {
            agreement: "A1".into(),
            agreed: "public-service-delivery".into()
        })
    );
    let mut extract = request(t(1));
    extract.operation = Operation::Extract;
    assert_eq!(
        refused(agreement("A1"), extract),
        Err(Refusal::OperationNotCovered("A1".into()))
    );
    let asked = vec!["full_name".to_owned(), "province".to_owned()];
    let mut fields = request(t(1));
    fields.fields = Some(&asked);
    assert_eq!(
        refused(agreement("A1"), fields),
        Err(Refusal::FieldNotCovered(
            "A1".into(),
            vec!["province".into()]
        ))
    );
}

#[test]
fn asked_fields_narrow_the_release() {
    let j = vn();
    let asked = vec!["birth_date".to_owned()];
    let mut req = request(t(1));
    req.fields = Some(&asked);
    let g = decide(
        &req,
        &[agreement("A1")],
        &schema(Importance::Ordinary),
        home(&j),
        &[],
    )
    .expect("granted");
    assert_eq!(g.fields, ["birth_date"]);
    assert!(g.consent_fields.is_empty());
}

#[test]
fn the_furthest_agreement_explains_the_refusal_and_any_valid_one_grants() {
    let j = vn();
    let s = schema(Importance::Ordinary);
    let mut revoked = agreement("A0");
    revoked.status = AgreementStatus::Revoked;
    let mut other_purpose = agreement("A2");
    other_purpose.purpose = "cross-checking".into();
    let r = decide(
        &request(t(1)),
        &[revoked.clone(), other_purpose.clone()],
        &s,
        home(&j),
        &[],
    );
    assert!(
        matches!(r, Err(Refusal::PurposeMismatch { ref agreement, .. }) if agreement == "A2"),
        "{r:?}"
    );
    let g = decide(
        &request(t(1)),
        &[revoked, other_purpose, agreement("A9")],
        &s,
        home(&j),
        &[],
    )
    .expect("granted");
    assert_eq!(g.agreement, "A9");
}

#[test]
fn sovereignty_keeps_core_data_home_and_personal_data_under_assessment() {
    let (home_j, away) = (vn(), abroad());
    let parties = Parties {
        provider: &home_j,
        consumer: &away,
    };
    let assessment = TransferAssessment {
        id: "TA-1".into(),
        dataset: "population".into(),
        recipient: "UBND-01".into(),
        approved_by: "Ministry of Public Security".into(),
        scope: "identity fields for consular services".into(),
        valid_from: t(0),
        valid_until: t(100),
    };
    // Core: never, assessment or not.
    let r = decide(
        &request(t(1)),
        &[agreement("A1")],
        &schema(Importance::Core),
        parties,
        std::slice::from_ref(&assessment),
    );
    assert!(matches!(r, Err(Refusal::Sovereignty(..))), "{r:?}");
    // Important or personal: only under an assessment in force.
    for imp in [Importance::Important, Importance::Ordinary] {
        let s = schema(imp);
        let r = decide(&request(t(1)), &[agreement("A1")], &s, parties, &[]);
        assert!(matches!(r, Err(Refusal::Sovereignty(..))), "{imp:?} {r:?}");
        decide(
            &request(t(1)),
            &[agreement("A1")],
            &s,
            parties,
            std::slice::from_ref(&assessment),
        )
        .expect("assessed");
        let r = decide(
            &request(t(100)),
            &[{
                let mut a = agreement("A1");
                a.valid_until = None;
                a
            }],
            &s,
            parties,
            std::slice::from_ref(&assessment),
        );
        assert!(
            matches!(r, Err(Refusal::Sovereignty(..))),
            "assessment over: {r:?}"
        );
    }
    // Ordinary data without personal fields goes anywhere.
    let mut internal_only = agreement("A1");
    internal_only.fields = vec!["province".into()];
    decide(
        &request(t(1)),
        &[internal_only],
        &schema(Importance::Ordinary),
        parties,
        &[],
    )
    .expect("ordinary internal data");
}

#[test]
fn the_lifecycle_allows_only_its_transitions() {
    use AgreementStatus as S;
    use Transition as T;
    let all = [
        S::Requested,
        S::Approved,
        S::Rejected,
        S::Suspended,
        S::Revoked,
    ];
    let allowed = [
        (S::Requested, T::Approve, S::Approved),
        (S::Requested, T::Reject, S::Rejected),
        (S::Requested, T::Revoke, S::Revoked),
        (S::Approved, T::Suspend, S::Suspended),
        (S::Approved, T::Revoke, S::Revoked),
        (S::Suspended, T::Approve, S::Approved),
        (S::Suspended, T::Revoke, S::Revoked),
    ];
    for from in all {
        for tr in [T::Approve, T::Reject, T::Suspend, T::Revoke] {
            let want = allowed
                .iter()
                .find(|(f, t, _)| *f == from && *t == tr)
                .map(|(_, _, to)| *to);
            assert_eq!(tr.apply(from), want, "{from:?} {tr:?}");
        }
    }
}

#[test]
fn consent_covers_its_agreement_fields_and_time() {
    let c = Consent {
        id: "C1".into(),
        subject: "001090000001".into(),
        agreement: "A1".into(),
        fields: vec!["ethnicity".into()],
        granted_at: t(1),
        withdrawn_at: Some(t(5)),
    };
    assert!(c.covers("A1", "ethnicity", t(2)));
    assert!(!c.covers("A1", "ethnicity", t(0)), "before it was given");
    assert!(!c.covers("A1", "ethnicity", t(5)), "once withdrawn");
    assert!(!c.covers("A2", "ethnicity", t(2)), "another agreement");
    assert!(!c.covers("A1", "religion", t(2)), "another field");
}

#[test]
fn odrl_says_what_is_enforced() {
    let a = agreement("A1");
    let p = odrl(&a, t(1));
    assert_eq!(p["@type"], "Agreement");
    assert_eq!(p["uid"], "urn:ndx:agreement:A1");
    assert_eq!(p["assignee"], "urn:ndx:system:HN-PORTAL");
    let perm = &p["permission"][0];
    assert_eq!(perm["action"], "read");
    assert_eq!(perm["target"]["uid"], "urn:ndx:dataset:population");
    assert_eq!(perm["constraint"][0]["leftOperand"], "purpose");
    assert_eq!(
        perm["constraint"][0]["rightOperand"],
        "public-service-delivery"
    );
    let expired = odrl(&a, t(400));
    assert!(expired.get("permission").is_none());
    assert_eq!(expired["prohibition"][0]["action"], "read");
    assert_eq!(expired["ndx:status"], "expired");
}

fn arb_status() -> impl Strategy<Value = AgreementStatus> {
    prop_oneof![
        Just(AgreementStatus::Requested),
        Just(AgreementStatus::Approved),
        Just(AgreementStatus::Rejected),
        Just(AgreementStatus::Suspended),
        Just(AgreementStatus::Revoked),
    ]
}

const NAMES: [&str; 5] = [
    "citizen_id",
    "full_name",
    "birth_date",
    "ethnicity",
    "province",
];

fn arb_agreement() -> impl Strategy<Value = Agreement> {
    (
        0u8..4,
        prop::sample::subsequence(NAMES.to_vec(), 0..=5),
        prop::sample::subsequence(Operation::ALL.to_vec(), 0..=3),
        prop_oneof![Just("public-service-delivery"), Just("cross-checking")],
        arb_status(),
        -5i64..5,
        prop::option::of(0i64..10),
    )
        .prop_map(|(n, fields, ops, purpose, status, from, until)| {
            let mut a = agreement(&format!("A{n}"));
            a.consumer = if n == 3 { "OTHER" } else { "HN-PORTAL" }.into();
            a.fields = fields.into_iter().map(str::to_owned).collect();
            a.operations = ops;
            a.purpose = purpose.into();
            a.status = status;
            a.valid_from = t(from);
            a.valid_until = until.map(|d| t(from + d));
            a
        })
}

proptest! {
    /// Whatever the agreements, a grant rests on one of the consumer's agreements that is
    /// approved, in force, for the stated purpose and operation, and releases only fields that
    /// agreement names, the schema has and the request asked for; core data never goes abroad
    /// and personal data goes abroad only under an assessment.
    #[test]
    fn no_grant_exceeds_the_rules(
        agreements in prop::collection::vec(arb_agreement(), 0..5),
        op in prop::sample::select(Operation::ALL.to_vec()),
        purpose in prop_oneof![Just("public-service-delivery"), Just("cross-checking"), Just("tax")],
        asked in prop::option::of(prop::sample::subsequence(NAMES.to_vec(), 0..=5)),
        day in -6i64..16,
        importance in prop_oneof![Just(Importance::Core), Just(Importance::Important), Just(Importance::Ordinary)],
        foreign in any::<bool>(),
        assessed in any::<bool>(),
    ) {
        let s = schema(importance);
        let asked: Option<Vec<String>> = asked.map(|v| v.into_iter().map(str::to_owned).collect());
        let req = Request { consumer: "HN-PORTAL", operation: op, purpose, fields: asked.as_deref(), at: t(day) };
        let (home_j, away) = (vn(), abroad());
        let parties = Parties { provider: &home_j, consumer: if foreign { &away } else { &home_j } };
        let assessments = if assessed {
            vec![TransferAssessment { id: "TA".into(), dataset: "population".into(), recipient: "UBND-01".into(),
                 approved_by: "x".into(), scope: "x".into(), valid_from: t(-10), valid_until: t(20) }]
        } else { vec![] };
        match decide(&req, &agreements, &s, parties, &assessments) {
            Ok(g) => {
                let a = agreements.iter().find(|a| a.id == g.agreement && a.consumer == "HN-PORTAL"
                    && a.status_at(req.at) == AgreementStatus::Approved && a.valid_from <= req.at
                    && a.purpose == purpose && a.operations.contains(&op));
                let a = a.expect("a grant rests on an agreement in force for this request");
                for f in &g.fields {
                    prop_assert!(a.fields.contains(f));
                    prop_assert!(s.fields.iter().any(|d| &d.name == f));
                    if let Some(asked) = &asked { prop_assert!(asked.contains(f)); }
                }
                for f in &g.consent_fields {
                    prop_assert!(g.fields.contains(f));
                }
                if foreign {
                    prop_assert!(importance != Importance::Core);
                    let personal = g.fields.iter().any(|f| f != "province");
                    if importance == Importance::Important || personal { prop_assert!(assessed); }
                }
            }
            Err(r) => {
                // A refusal names one of the consumer's agreements, or none if it has none.
                match r.agreement() {
                    None => prop_assert!(!agreements.iter().any(|a| a.consumer == "HN-PORTAL")),
                    Some(id) => prop_assert!(agreements.iter().any(|a| a.id == id && a.consumer == "HN-PORTAL")),
                }
            }
        }
    }
}

#[test]
fn a_policy_admits_only_what_it_names() {
    use crate::registry::{Member, MemberLevel};
    let member = |level: MemberLevel, country: &str| Member {
        code: "UBND-01".into(),
        name_vi: "x".into(),
        name_en: "x".into(),
        level,
        jurisdiction: Jurisdiction {
            country: country.into(),
            province: Some("01".into()),
        },
        created_at: t(0),
    };
    let policy = ApprovalPolicy {
        id: "p1".into(),
        dataset: "population".into(),
        consumer_level: Some(MemberLevel::Province),
        consumer_country: Some("VN".into()),
        fields: vec!["full_name".into(), "birth_date".into(), "ethnicity".into()],
        operations: vec![Operation::Lookup],
        purposes: vec!["public-service-delivery".into()],
        max_days: Some(400),
        created_by: "BCA-POPULATION".into(),
    };
    let province = member(MemberLevel::Province, "VN");
    let mut a = agreement("A1");
    assert!(policy.admits(&a, &province));
    assert!(
        !policy.admits(&a, &member(MemberLevel::Central, "VN")),
        "level"
    );
    assert!(
        !policy.admits(&a, &member(MemberLevel::Province, "LA")),
        "country"
    );
    a.fields.push("province".into());
    assert!(!policy.admits(&a, &province), "a field beyond the policy");
    let mut a = agreement("A1");
    a.operations.push(Operation::Extract);
    assert!(
        !policy.admits(&a, &province),
        "an operation beyond the policy"
    );
    let mut a = agreement("A1");
    a.purpose = "statistics".into();
    assert!(!policy.admits(&a, &province), "another purpose");
    let mut a = agreement("A1");
    a.valid_until = None;
    assert!(!policy.admits(&a, &province), "open-ended beyond max_days");
    a.valid_until = Some(t(500));
    assert!(!policy.admits(&a, &province), "longer than max_days");
}
