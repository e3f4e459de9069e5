//! Governed exchange as pure rules: sharing agreements and their lifecycle, consents, transfer
//! assessments, and [`decide`], the one function that says whether a consumer's request is
//! granted and which fields leave, or why not. No I/O, no clock: the time is passed in.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dictionary::{DatasetSchema, Importance, Sensitivity};
use crate::registry::Jurisdiction;

/// What an agreement lets a consumer do with a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Read one record by its key.
    Lookup,
    /// Read pages of records matching filters.
    Search,
    /// Read the whole dataset as a stream.
    Extract,
    /// Follow the dataset's change feed (pull pages, or a Server-Sent Events stream).
    Subscribe,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 4] = [
        Operation::Lookup,
        Operation::Search,
        Operation::Extract,
        Operation::Subscribe,
    ];
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Lookup => "lookup",
            Operation::Search => "search",
            Operation::Extract => "extract",
            Operation::Subscribe => "subscribe",
        }
    }
}

/// Where an agreement stands. `Expired` is never stored: an approved agreement past its
/// `valid_until` is expired ([`Agreement::status_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgreementStatus {
    /// Asked for by the consumer, not yet decided.
    Requested,
    /// In force (within its validity period).
    Approved,
    /// Refused by the provider or the steward.
    Rejected,
    /// Paused by either side; can be approved again.
    Suspended,
    /// Ended for good by either side.
    Revoked,
    /// Approved, but its validity period is over.
    Expired,
}

impl AgreementStatus {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            AgreementStatus::Requested => "requested",
            AgreementStatus::Approved => "approved",
            AgreementStatus::Rejected => "rejected",
            AgreementStatus::Suspended => "suspended",
            AgreementStatus::Revoked => "revoked",
            AgreementStatus::Expired => "expired",
        }
    }
}

/// A change of an agreement's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transition {
    /// Put in force (a request, or a suspended agreement resumed).
    Approve,
    /// Refuse a request.
    Reject,
    /// Pause an agreement in force.
    Suspend,
    /// End an agreement for good.
    Revoke,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Transition; 4] = [
        Transition::Approve,
        Transition::Reject,
        Transition::Suspend,
        Transition::Revoke,
    ];

    /// The wire name (also the last segment of its route).
    pub fn name(self) -> &'static str {
        match self {
            Transition::Approve => "approve",
            Transition::Reject => "reject",
            Transition::Suspend => "suspend",
            Transition::Revoke => "revoke",
        }
    }

    /// The status after this transition from `from`, or `None` if it is not allowed:
    /// `requested → approved | rejected | revoked` (a consumer withdraws its request by
    /// revoking it), `approved → suspended | revoked`, `suspended → approved | revoked`.
    /// Rejected and revoked are final.
    pub fn apply(self, from: AgreementStatus) -> Option<AgreementStatus> {
        use AgreementStatus as S;
        match (from, self) {
            (S::Requested, Transition::Approve) | (S::Suspended, Transition::Approve) => {
                Some(S::Approved)
            }
            (S::Requested, Transition::Reject) => Some(S::Rejected),
            (S::Approved, Transition::Suspend) => Some(S::Suspended),
            (S::Requested | S::Approved | S::Suspended, Transition::Revoke) => Some(S::Revoked),
            _ => None,
        }
    }
}

/// The law under which data is shared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    /// What the law says, in words.
    pub text: String,
    /// Its reference, e.g. `Decree 47/2024/ND-CP, art. 12`.
    pub reference: String,
}

/// How much an agreement may be used per UTC day; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Requests answered per day.
    #[serde(default)]
    pub requests_per_day: Option<u64>,
    /// Records released per day.
    #[serde(default)]
    pub records_per_day: Option<u64>,
}

/// A sharing agreement: a provider's dataset to one consumer system, for one purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// Identifier, assigned when requested.
    pub id: String,
    /// The dataset shared.
    pub dataset: String,
    /// The member that owns the dataset.
    pub provider: String,
    /// The consumer system.
    pub consumer: String,
    /// The member owning the consumer system.
    pub consumer_member: String,
    /// The fields the consumer may receive (a subset of the schema's).
    pub fields: Vec<String>,
    /// What the consumer may do.
    pub operations: Vec<Operation>,
    /// The purpose: a code of the code list `purpose`.
    pub purpose: String,
    /// The law it rests on.
    pub legal_basis: LegalBasis,
    /// In force from.
    pub valid_from: DateTime<Utc>,
    /// In force until (exclusive); `None`: until revoked.
    pub valid_until: Option<DateTime<Utc>>,
    /// Use per day.
    pub quota: Quota,
    /// The stored status (never `Expired`).
    pub status: AgreementStatus,
    /// Why the last change was made (a rejection's or revocation's reason).
    #[serde(default)]
    pub reason: Option<String>,
    /// Sharing this data between state bodies is mandatory by law: the steward may decide the
    /// request in the provider's place.
    #[serde(default)]
    pub mandatory: bool,
    /// The system that asked for it.
    pub requested_by: String,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// The system that made the last change of status, and when.
    #[serde(default)]
    pub changed_by: Option<String>,
    /// When the status last changed.
    #[serde(default)]
    pub changed_at: Option<DateTime<Utc>>,
}

impl Agreement {
    /// The status at `now`: an approved agreement past its validity is expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> AgreementStatus {
        match (self.status, self.valid_until) {
            (AgreementStatus::Approved, Some(until)) if now >= until => AgreementStatus::Expired,
            (s, _) => s,
        }
    }
}

/// A data subject's consent to the release of consent-bound fields under one agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Identifier.
    pub id: String,
    /// The citizen ID of the data subject.
    pub subject: String,
    /// The agreement it covers.
    pub agreement: String,
    /// The consent-bound fields it covers; empty: every field of the agreement.
    #[serde(default)]
    pub fields: Vec<String>,
    /// When it was given.
    pub granted_at: DateTime<Utc>,
    /// When it was withdrawn.
    #[serde(default)]
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl Consent {
    /// Whether this consent lets `field` of the subject's record go out under `agreement`.
    pub fn covers(&self, agreement: &str, field: &str, now: DateTime<Utc>) -> bool {
        self.agreement == agreement
            && self.granted_at <= now
            && self.withdrawn_at.is_none_or(|w| w > now)
            && (self.fields.is_empty() || self.fields.iter().any(|f| f == field))
    }
}

/// A registered assessment that lets a dataset's important or personal data go to one foreign
/// member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferAssessment {
    /// Identifier.
    pub id: String,
    /// The dataset it covers.
    pub dataset: String,
    /// The foreign member that may receive it.
    pub recipient: String,
    /// Who approved it (a person or body, as the assessment names them).
    pub approved_by: String,
    /// What it covers, in words.
    pub scope: String,
    /// In force from.
    pub valid_from: DateTime<Utc>,
    /// In force until (exclusive).
    pub valid_until: DateTime<Utc>,
}

/// A standing rule of a provider (or the steward) that approves, as soon as they are made,
/// the requests it covers: a kind of consumer, some fields, operations and purposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPolicy {
    /// Identifier.
    pub id: String,
    /// The dataset it approves requests on.
    pub dataset: String,
    /// Only consumers whose member has this level (`None`: any level).
    #[serde(default)]
    pub consumer_level: Option<crate::registry::MemberLevel>,
    /// Only consumers whose member is in this country (`None`: any country; the sovereignty
    /// guard applies anyway).
    #[serde(default)]
    pub consumer_country: Option<String>,
    /// The fields a request may ask for.
    pub fields: Vec<String>,
    /// The operations a request may ask for.
    pub operations: Vec<Operation>,
    /// The purposes a request may state.
    pub purposes: Vec<String>,
    /// The longest validity approved, in days (`None`: any, open-ended included).
    #[serde(default)]
    pub max_days: Option<u32>,
    /// The system that made it.
    pub created_by: String,
}

impl ApprovalPolicy {
    /// Whether the policy approves this request of a consumer whose member is `consumer`.
    pub fn admits(&self, a: &Agreement, consumer: &crate::registry::Member) -> bool {
        a.dataset == self.dataset
            && self.consumer_level.is_none_or(|l| l == consumer.level)
            && self
                .consumer_country
                .as_ref()
                .is_none_or(|c| *c == consumer.jurisdiction.country)
            && a.fields.iter().all(|f| self.fields.contains(f))
            && a.operations.iter().all(|o| self.operations.contains(o))
            && self.purposes.contains(&a.purpose)
            && self.max_days.is_none_or(|days| {
                a.valid_until
                    .is_some_and(|u| u - a.valid_from <= chrono::Duration::days(i64::from(days)))
            })
    }
}

/// The exchange requests refused on one UTC day for the datasets of one member (its
/// providers' "exchange errors"; an empty member for requests on no known dataset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalCount {
    /// The member owning the datasets asked for.
    pub member: String,
    /// The UTC day.
    pub day: chrono::NaiveDate,
    /// Requests refused.
    pub refused: u64,
}

impl RefusalCount {
    /// The id it is kept under: `MEMBER@YYYY-MM-DD`.
    pub fn id_of(member: &str, day: chrono::NaiveDate) -> String {
        format!("{member}@{day}")
    }
}

/// What an agreement has used of its quota on one UTC day (kept so that a restart does not
/// start the day afresh).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaUsage {
    /// The agreement.
    pub agreement: String,
    /// The UTC day.
    pub day: chrono::NaiveDate,
    /// Requests answered.
    pub requests: u64,
    /// Records released.
    pub records: u64,
}

impl QuotaUsage {
    /// The id it is kept under: `AGREEMENT@YYYY-MM-DD`.
    pub fn id_of(agreement: &str, day: chrono::NaiveDate) -> String {
        format!("{agreement}@{day}")
    }
}

/// One request of a consumer, as [`decide`] sees it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The consumer system.
    pub consumer: &'a str,
    /// The operation asked for.
    pub operation: Operation,
    /// The purpose the consumer states.
    pub purpose: &'a str,
    /// The fields asked for; `None`: every field the agreement allows.
    pub fields: Option<&'a [String]>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Where the two parties are.
#[derive(Debug, Clone, Copy)]
pub struct Parties<'a> {
    /// The provider member's jurisdiction.
    pub provider: &'a Jurisdiction,
    /// The consumer member's jurisdiction.
    pub consumer: &'a Jurisdiction,
}

/// A granted request: which agreement, and what may leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The agreement it rests on.
    pub agreement: String,
    /// The fields released, in schema order.
    pub fields: Vec<String>,
    /// Of those, the fields a record releases only with its subject's consent.
    pub consent_fields: Vec<String>,
}

/// Why a request is refused. The variants are in the order [`decide`] checks them; among
/// several agreements, the refusal of the one that got furthest is given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// The consumer has no agreement on the dataset.
    NoAgreement,
    /// The only agreements were rejected.
    Rejected(String),
    /// The agreement is requested, not yet approved.
    Pending(String),
    /// The agreement was revoked.
    Revoked(String),
    /// The agreement is suspended.
    Suspended(String),
    /// The agreement is not in force yet (`valid_from` is later).
    NotYetValid(String, DateTime<Utc>),
    /// The agreement's validity is over.
    Expired(String, DateTime<Utc>),
    /// The purpose stated is not the agreement's.
    PurposeMismatch {
        /// The agreement.
        agreement: String,
        /// The purpose it is for.
        agreed: String,
    },
    /// The agreement does not cover the operation.
    OperationNotCovered(String),
    /// The agreement does not cover these fields.
    FieldNotCovered(String, Vec<String>),
    /// The data may not go to the consumer's jurisdiction.
    Sovereignty(String, String),
}

impl Refusal {
    /// The agreement the refusal is about, if any.
    pub fn agreement(&self) -> Option<&str> {
        match self {
            Refusal::NoAgreement => None,
            Refusal::Rejected(a)
            | Refusal::Pending(a)
            | Refusal::Revoked(a)
            | Refusal::Suspended(a)
            | Refusal::NotYetValid(a, _)
            | Refusal::Expired(a, _)
            | Refusal::OperationNotCovered(a)
            | Refusal::FieldNotCovered(a, _)
            | Refusal::Sovereignty(a, _) => Some(a),
            Refusal::PurposeMismatch { agreement, .. } => Some(agreement),
        }
    }

    /// How far the agreement got through the checks (a larger rank got further).
    fn rank(&self) -> u8 {
        match self {
            Refusal::NoAgreement => 0,
            Refusal::Rejected(_) => 1,
            Refusal::Pending(_) => 2,
            Refusal::Revoked(_) => 3,
            Refusal::Suspended(_) => 4,
            Refusal::NotYetValid(..) => 5,
            Refusal::Expired(..) => 6,
            Refusal::PurposeMismatch { .. } => 7,
            Refusal::OperationNotCovered(_) => 8,
            Refusal::FieldNotCovered(..) => 9,
            Refusal::Sovereignty(..) => 10,
        }
    }
}

/// Decides a consumer's request on one dataset from the consumer's agreements on it (others
/// are ignored). Granted by the first agreement, in id order, that passes every check;
/// otherwise refused with the reason of the agreement that got furthest.
pub fn decide(
    req: &Request<'_>,
    agreements: &[Agreement],
    schema: &DatasetSchema,
    parties: Parties<'_>,
    assessments: &[TransferAssessment],
) -> Result<Grant, Refusal> {
    let mut mine: Vec<&Agreement> = agreements
        .iter()
        .filter(|a| a.consumer == req.consumer && a.dataset == schema.dataset)
        .collect();
    mine.sort_by(|a, b| a.id.cmp(&b.id));
    let mut best = Refusal::NoAgreement;
    for a in mine {
        match check(req, a, schema, parties, assessments) {
            Ok(grant) => return Ok(grant),
            Err(r) if r.rank() > best.rank() => best = r,
            Err(_) => {}
        }
    }
    Err(best)
}

fn check(
    req: &Request<'_>,
    a: &Agreement,
    schema: &DatasetSchema,
    parties: Parties<'_>,
    assessments: &[TransferAssessment],
) -> Result<Grant, Refusal> {
    let id = || a.id.clone();
    match a.status_at(req.at) {
        AgreementStatus::Rejected => return Err(Refusal::Rejected(id())),
        AgreementStatus::Requested => return Err(Refusal::Pending(id())),
        AgreementStatus::Revoked => return Err(Refusal::Revoked(id())),
        AgreementStatus::Suspended => return Err(Refusal::Suspended(id())),
        AgreementStatus::Expired => {
            return Err(Refusal::Expired(id(), a.valid_until.unwrap_or(req.at)));
        }
        AgreementStatus::Approved => {}
    }
    if req.at < a.valid_from {
        return Err(Refusal::NotYetValid(id(), a.valid_from));
    }
    if req.purpose != a.purpose {
        return Err(Refusal::PurposeMismatch {
            agreement: id(),
            agreed: a.purpose.clone(),
        });
    }
    if !a.operations.contains(&req.operation) {
        return Err(Refusal::OperationNotCovered(id()));
    }
    let agreed: BTreeSet<&str> = a.fields.iter().map(String::as_str).collect();
    if let Some(asked) = req.fields {
        let missing: Vec<String> = asked
            .iter()
            .filter(|f| !agreed.contains(f.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Refusal::FieldNotCovered(id(), missing));
        }
    }
    let wanted = |name: &str| match req.fields {
        Some(asked) => asked.iter().any(|f| f == name),
        None => agreed.contains(name),
    };
    let released: Vec<&crate::dictionary::FieldDef> =
        schema.fields.iter().filter(|f| wanted(&f.name)).collect();
    sovereignty(a, schema, &released, parties, assessments, req.at)?;
    Ok(Grant {
        agreement: a.id.clone(),
        fields: released.iter().map(|f| f.name.clone()).collect(),
        consent_fields: released
            .iter()
            .filter(|f| f.consent)
            .map(|f| f.name.clone())
            .collect(),
    })
}

/// Core data stays in its country; important data, and personal fields, go abroad only under
/// an assessment in force for the dataset and the consumer's member.
fn sovereignty(
    a: &Agreement,
    schema: &DatasetSchema,
    released: &[&crate::dictionary::FieldDef],
    parties: Parties<'_>,
    assessments: &[TransferAssessment],
    at: DateTime<Utc>,
) -> Result<(), Refusal> {
    if parties.provider.country == parties.consumer.country {
        return Ok(());
    }
    let abroad = format!(
        "{} is in {}, {} in {}",
        a.consumer_member, parties.consumer.country, a.provider, parties.provider.country
    );
    if schema.importance == Importance::Core {
        return Err(Refusal::Sovereignty(
            a.id.clone(),
            format!(
                "dataset {:?} is core data, which never leaves {}: {abroad}",
                schema.dataset, parties.provider.country
            ),
        ));
    }
    let personal: Vec<&str> = released
        .iter()
        .filter(|f| {
            matches!(
                f.sensitivity,
                Sensitivity::Personal | Sensitivity::SensitivePersonal
            )
        })
        .map(|f| f.name.as_str())
        .collect();
    if schema.importance == Importance::Important || !personal.is_empty() {
        let assessed = assessments.iter().any(|t| {
            t.dataset == schema.dataset
                && t.recipient == a.consumer_member
                && t.valid_from <= at
                && at < t.valid_until
        });
        if !assessed {
            let what = if schema.importance == Importance::Important {
                format!("dataset {:?} is important data", schema.dataset)
            } else {
                format!("fields {personal:?} are personal data")
            };
            return Err(Refusal::Sovereignty(
                a.id.clone(),
                format!(
                    "{what}, which goes abroad only under a transfer assessment in force; none covers it: {abroad}"
                ),
            ));
        }
    }
    Ok(())
}

/// An agreement as an ODRL 2.2 policy in JSON-LD: an `Agreement` (a `Request` while it is
/// requested) from the provider (assigner) to the consumer system (assignee), one permission per
/// operation on the dataset restricted to the agreed fields, constrained by purpose and
/// validity period. Rejected, suspended, revoked and expired agreements are served with the
/// same rules as prohibitions, so a connector reads what ndx enforces now.
pub fn odrl(a: &Agreement, now: DateTime<Utc>) -> serde_json::Value {
    use serde_json::json;
    let status = a.status_at(now);
    let policy_type = match status {
        AgreementStatus::Requested => "Request",
        _ => "Agreement",
    };
    let mut constraints = vec![
        json!({"leftOperand": "purpose", "operator": "eq", "rightOperand": a.purpose}),
        json!({"leftOperand": "dateTime", "operator": "gteq",
               "rightOperand": {"@value": a.valid_from.to_rfc3339(), "@type": "xsd:dateTime"}}),
    ];
    if let Some(until) = a.valid_until {
        constraints.push(json!({"leftOperand": "dateTime", "operator": "lt",
            "rightOperand": {"@value": until.to_rfc3339(), "@type": "xsd:dateTime"}}));
    }
    if let Some(n) = a.quota.requests_per_day {
        constraints.push(
            json!({"leftOperand": "count", "operator": "lteq", "rightOperand": n,
                                "unit": "ndx:requestsPerDay"}),
        );
    }
    let rules: Vec<serde_json::Value> = a
        .operations
        .iter()
        .map(|op| {
            json!({
                "target": {
                    "@type": "AssetCollection",
                    "uid": format!("urn:ndx:dataset:{}", a.dataset),
                    "ndx:fields": a.fields,
                },
                "action": match op {
                    Operation::Lookup | Operation::Search => "read",
                    Operation::Extract => "extract",
                    // ODRL's common vocabulary: "to deliver the Asset in real-time".
                    Operation::Subscribe => "stream",
                },
                "ndx:operation": op.name(),
                "assigner": format!("urn:ndx:member:{}", a.provider),
                "assignee": format!("urn:ndx:system:{}", a.consumer),
                "constraint": constraints,
            })
        })
        .collect();
    let in_force = matches!(
        status,
        AgreementStatus::Approved | AgreementStatus::Requested
    );
    let mut policy = json!({
        "@context": ["http://www.w3.org/ns/odrl.jsonld",
                     {"ndx": "urn:ndx:vocab:", "xsd": "http://www.w3.org/2001/XMLSchema#"}],
        "@type": policy_type,
        "uid": format!("urn:ndx:agreement:{}", a.id),
        "assigner": format!("urn:ndx:member:{}", a.provider),
        "assignee": format!("urn:ndx:system:{}", a.consumer),
        "ndx:status": status.name(),
        "ndx:legalBasis": {"text": a.legal_basis.text, "reference": a.legal_basis.reference},
    });
    policy[if in_force {
        "permission"
    } else {
        "prohibition"
    }] = serde_json::Value::Array(rules);
    policy
}

#[cfg(test)]
mod tests;
