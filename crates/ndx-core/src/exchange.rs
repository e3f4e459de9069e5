//! Governed exchange: the lifecycle of sharing agreements, the consumer's catalogue, and the
//! consumer's reads, each decided by `ndx_types::exchange::decide` and audited (with the
//! agreement, its purpose and legal basis, the fields released and the data subjects) before
//! anything leaves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use ndx_store::catalog::exchange::attr;
use ndx_store::catalog::{Page, Versioned};
use ndx_types::dictionary::{DatasetSchema, Openness};
use ndx_types::exchange::{
    self as rules, Agreement, AgreementStatus, ApprovalPolicy, Consent, LegalBasis, Operation,
    Parties, Quota, Refusal, TransferAssessment, Transition,
};
use ndx_types::registry::Role;
use rand::TryRngCore;
use serde_json::{Map, Value};

use crate::Core;
use crate::access::{Caller, ExchangeRead};
use crate::audit::{Audited, Pending};
use crate::error::{Code, Error, Result};
use ndx_types::codes::{CodeListRef, Direction};

/// The code list the purposes of agreements and requests come from.
pub const PURPOSE_LIST: &str = "purpose";

/// What a consumer asks for when it requests an agreement.
#[derive(Debug, Clone)]
pub struct AgreementDraft {
    /// The dataset.
    pub dataset: String,
    /// The fields wanted.
    pub fields: Vec<String>,
    /// The operations wanted.
    pub operations: Vec<Operation>,
    /// The purpose (a code of the code list `purpose`).
    pub purpose: String,
    /// The law it rests on.
    pub legal_basis: LegalBasis,
    /// In force from (default: now).
    pub valid_from: Option<DateTime<Utc>>,
    /// In force until (exclusive); `None`: until revoked.
    pub valid_until: Option<DateTime<Utc>>,
    /// Use per day.
    pub quota: Quota,
    /// The law makes sharing this data between state bodies mandatory (the steward may decide).
    pub mandatory: bool,
}

/// One record as a consumer receives it: the agreed fields only.
#[derive(Debug, Clone)]
pub struct ExchangeRecord {
    /// The record key.
    pub key: String,
    /// Its current version.
    pub version: u64,
    /// When that version was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The released fields.
    pub data: Map<String, Value>,
    /// The agreement it was released under.
    pub agreement: String,
}

/// A page of records released under an agreement.
#[derive(Debug, Clone)]
pub struct ExchangePage {
    /// The records released (a search's in key order, an extract's in the order they were
    /// recorded), agreed fields only.
    pub records: Vec<ExchangeRecord>,
    /// Records of the page withheld because their data subject has not consented.
    pub withheld: u64,
    /// Cursor for the next page of a search, if there may be one.
    pub next_cursor: Option<String>,
}

/// Where an extract stands: the change-feed position its records are a snapshot of, and the
/// position read up to (never shown to the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractCursor {
    /// The feed position the extract is consistent with: every record as it stood there.
    pub at: u64,
    /// The feed position read up to; the next page starts after it.
    pub after: u64,
}

/// One page of an extract, read and handed to the audit log: the page itself comes out once
/// its event is durable; where the next page starts is known at once, so the next page can
/// be read while this one's event is committed.
#[derive(Debug)]
pub struct ExtractStep {
    /// The page, released by its receipt.
    pub page: Pending<ExchangePage>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<ExtractCursor>,
}

/// Largest page of an exchange search.
pub const MAX_EXCHANGE_PAGE: usize = 1000;

/// Records an extract reads, releases and audits at a time: one audit event (and one durable
/// append, whose cost is mostly the data tracker's index rows) per page, a few MB of memory.
pub const EXTRACT_PAGE: usize = 5000;

/// What leaves of some record versions under an agreement.
struct Released {
    records: Vec<ExchangeRecord>,
    withheld: u64,
    subjects: Vec<String>,
    fields: Vec<String>,
}

/// A dataset as the consumer catalogue shows it: its description and schema, never a record.
#[derive(Debug, Clone)]
pub struct ExchangeDataset {
    /// The latest schema.
    pub schema: DatasetSchema,
}

/// Requests and records released per agreement and UTC day, counted in this process: a
/// reservation is checked and taken under one lock, so concurrent requests never go past a
/// quota and are never refused below it. The counts of every agreement are kept in the
/// catalogue (`QuotaUsage`: the sharing volume of the indicators, and the use of the quality
/// criterion "in common use"): read on the first request of the day in this process, written at
/// most once a second and when the server stops, as deltas (a conflicting write re-reads and
/// adds), so a restart loses at most the last second's count.
#[derive(Debug, Default)]
pub(crate) struct Quotas {
    used: Mutex<HashMap<(String, NaiveDate), Used>>,
    /// Refused exchange requests per (owning member, day): (all counted here, unsaved).
    refused: Mutex<HashMap<(String, NaiveDate), (u64, u64)>>,
    last_flush: Mutex<Option<std::time::Instant>>,
}

/// One (agreement, day): everything used, and what the catalogue does not have yet.
#[derive(Debug, Default, Clone, Copy)]
struct Used {
    requests: u64,
    records: u64,
    unsaved_requests: u64,
    unsaved_records: u64,
}

/// How often the counts are written to the catalogue.
const QUOTA_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Quotas {
    /// Whether this process answered a request under the agreement on `since` or later that
    /// the catalogue may not have yet.
    pub(crate) fn used_since(&self, agreement: &str, since: NaiveDate) -> bool {
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.iter()
            .any(|((a, day), u)| a == agreement && *day >= since && u.requests > 0)
    }

    /// Counts one refused exchange request on `member`'s datasets.
    fn count_refusal(&self, member: &str, day: NaiveDate) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused.retain(|(_, d), (_, unsaved)| *d >= day || *unsaved > 0);
        let entry = refused.entry((member.to_owned(), day)).or_default();
        entry.0 += 1;
        entry.1 += 1;
    }

    /// The refusals counted here today that the catalogue may not have yet, per member.
    pub(crate) fn unsaved_refusals(&self, day: NaiveDate) -> HashMap<String, u64> {
        let refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused
            .iter()
            .filter(|((_, d), _)| *d == day)
            .map(|((m, _), (_, unsaved))| (m.clone(), *unsaved))
            .collect()
    }

    fn take_unsaved_refusals(&self) -> Vec<((String, NaiveDate), u64)> {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused
            .iter_mut()
            .filter(|(_, (_, unsaved))| *unsaved > 0)
            .map(|(k, (_, unsaved))| (k.clone(), std::mem::take(unsaved)))
            .collect()
    }

    fn unsave_refusals(&self, key: (String, NaiveDate), n: u64) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused.entry(key).or_default().1 += n;
    }

    fn loaded(&self, agreement: &str, day: NaiveDate) -> bool {
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.contains_key(&(agreement.to_owned(), day))
    }

    fn load(&self, agreement: &str, day: NaiveDate, saved: Option<&rules::QuotaUsage>) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        // Days before this one are over: forget them.
        used.retain(|(_, d), _| *d >= day);
        used.entry((agreement.to_owned(), day)).or_insert(Used {
            requests: saved.map_or(0, |s| s.requests),
            records: saved.map_or(0, |s| s.records),
            ..Used::default()
        });
    }

    /// Takes one request and `records` records of `agreement`'s quota for `day`, or says which
    /// limit is reached.
    fn reserve(
        &self,
        agreement: &Agreement,
        day: NaiveDate,
        records: u64,
    ) -> std::result::Result<(), String> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let entry = used.entry((agreement.id.clone(), day)).or_default();
        if let Some(max) = agreement.quota.requests_per_day
            && entry.requests + 1 > max
        {
            return Err(format!("{max} requests a day, all used on {day}"));
        }
        if let Some(max) = agreement.quota.records_per_day
            && entry.records + records > max
        {
            return Err(format!(
                "{max} records a day, {} used on {day}, {records} asked",
                entry.records
            ));
        }
        entry.requests += 1;
        entry.records += records;
        entry.unsaved_requests += 1;
        entry.unsaved_records += records;
        Ok(())
    }

    /// Takes `records` more records of `agreement`'s quota for `day` (the request itself was
    /// counted when it was granted), or says that the limit is reached.
    pub(crate) fn reserve_records(
        &self,
        agreement: &Agreement,
        day: NaiveDate,
        records: u64,
    ) -> std::result::Result<(), String> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let entry = used.entry((agreement.id.clone(), day)).or_default();
        if let Some(max) = agreement.quota.records_per_day
            && entry.records + records > max
        {
            return Err(format!(
                "{max} records a day, {} used on {day}, {records} more asked",
                entry.records
            ));
        }
        entry.records += records;
        entry.unsaved_records += records;
        Ok(())
    }

    /// The unsaved counts, taken out (put back with [`Quotas::unsave`] if they cannot be
    /// written).
    fn take_unsaved(&self) -> Vec<((String, NaiveDate), u64, u64)> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.iter_mut()
            .filter(|(_, u)| u.unsaved_requests > 0 || u.unsaved_records > 0)
            .map(|(k, u)| {
                let taken = (k.clone(), u.unsaved_requests, u.unsaved_records);
                u.unsaved_requests = 0;
                u.unsaved_records = 0;
                taken
            })
            .collect()
    }

    fn unsave(&self, key: (String, NaiveDate), requests: u64, records: u64) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let entry = used.entry(key).or_default();
        entry.unsaved_requests += requests;
        entry.unsaved_records += records;
    }
}

fn refusal_error(r: &Refusal, dataset: &str, consumer: &str, purpose: &str) -> Error {
    match r {
        Refusal::NoAgreement => Error::of(
            Code::NoAgreement,
            format!(
                "system {consumer:?} has no sharing agreement on dataset {dataset:?}; request one at /api/v1/agreements"
            ),
        ),
        Refusal::Rejected(a) => Error::of(
            Code::AgreementRejected,
            format!("agreement {a:?} on {dataset:?} was rejected"),
        ),
        Refusal::Pending(a) => Error::of(
            Code::AgreementPending,
            format!("agreement {a:?} on {dataset:?} is requested and not yet approved"),
        ),
        Refusal::Revoked(a) => Error::of(
            Code::AgreementRevoked,
            format!("agreement {a:?} on {dataset:?} was revoked"),
        ),
        Refusal::Suspended(a) => Error::of(
            Code::AgreementSuspended,
            format!("agreement {a:?} on {dataset:?} is suspended"),
        ),
        Refusal::NotYetValid(a, from) => Error::of(
            Code::AgreementNotYetValid,
            format!(
                "agreement {a:?} on {dataset:?} is in force from {}",
                from.to_rfc3339()
            ),
        ),
        Refusal::Expired(a, until) => Error::of(
            Code::AgreementExpired,
            format!(
                "agreement {a:?} on {dataset:?} expired at {}",
                until.to_rfc3339()
            ),
        ),
        Refusal::PurposeMismatch { agreement, agreed } => Error::of(
            Code::PurposeMismatch,
            format!("agreement {agreement:?} is for purpose {agreed:?}, not {purpose:?}"),
        ),
        Refusal::OperationNotCovered(a) => Error::of(
            Code::OperationNotCovered,
            format!("agreement {a:?} on {dataset:?} does not cover this operation"),
        ),
        Refusal::FieldNotCovered(a, fields) => Error::of(
            Code::FieldNotCovered,
            format!("agreement {a:?} on {dataset:?} does not cover fields {fields:?}"),
        ),
        Refusal::Sovereignty(_, why) => Error::of(Code::Sovereignty, why.clone()),
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::of(Code::AgreementInvalid, message)
}

fn new_agreement_id() -> Result<String> {
    let mut bytes = [0u8; 6];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| Error::internal(format!("no randomness for an agreement id: {e}")))?;
    Ok(format!("agr-{}", hex::encode(bytes)))
}

impl Core {
    fn purpose_known(&self, generation: u64, purpose: &str) -> Result<bool> {
        let codes = self
            .catalog_cache
            .get(
                generation,
                |s| &mut s.codes,
                PURPOSE_LIST,
                || {
                    let list = self.code_list(PURPOSE_LIST, None)?;
                    Ok(Some(list.entries.into_iter().map(|e| e.code).collect()))
                },
            )?
            .unwrap_or_default();
        Ok(codes.contains(purpose))
    }

    /// Checks that `purpose` is a code of the code list `purpose` (400 otherwise).
    pub fn check_purpose(&self, purpose: Option<&str>) -> Result<String> {
        self.check_purpose_at(self.generation()?, purpose)
    }

    fn check_purpose_at(&self, generation: u64, purpose: Option<&str>) -> Result<String> {
        let p = stated_purpose(purpose, "an exchange request")?;
        if !self.purpose_known(generation, p)? {
            return Err(Error::of(
                Code::PurposeUnknown,
                format!("purpose {p:?} is not a code of the code list \"purpose\""),
            ));
        }
        Ok(p.to_owned())
    }

    /// The datasets named by the caller's own agreements (any status).
    pub(crate) fn agreed_datasets(&self, caller: &Caller) -> Result<Vec<String>> {
        Ok(self
            .store
            .catalog()
            .find::<Agreement>(attr::CONSUMER, &caller.system().code, Page::ALL)?
            .into_iter()
            .map(|v| v.value.dataset)
            .collect())
    }

    /// The datasets a caller may discover: every dataset that is not restricted, and the
    /// restricted ones its member owns or its system has an agreement on (restricted data is
    /// shared only with named parties); latest schema, no records.
    pub fn exchange_datasets(&self, caller: &Caller) -> Result<Vec<ExchangeDataset>> {
        let agreed = self.agreed_datasets(caller)?;
        Ok(self
            .datasets()?
            .into_iter()
            .filter(|s| {
                s.openness != Openness::Restricted
                    || s.owner == caller.member().code
                    || agreed.contains(&s.dataset)
            })
            .map(|schema| ExchangeDataset { schema })
            .collect())
    }

    /// One dataset of the consumer catalogue (a restricted one the caller may not discover is
    /// not found).
    pub fn exchange_dataset(&self, caller: &Caller, dataset: &str) -> Result<ExchangeDataset> {
        let schema = self.schema(dataset, None)?;
        if schema.openness == Openness::Restricted
            && schema.owner != caller.member().code
            && !self.agreed_datasets(caller)?.contains(&schema.dataset)
        {
            return Err(Error::of(
                Code::DatasetNotFound,
                format!("dataset {dataset:?} does not exist"),
            ));
        }
        Ok(ExchangeDataset { schema })
    }

    /// A consumer system asks for an agreement on a dataset. It starts as `requested`; the
    /// provider (or, for mandatory sharing, the steward) decides.
    pub fn request_agreement(
        &self,
        caller: &Caller,
        draft: AgreementDraft,
        now: DateTime<Utc>,
    ) -> Result<Versioned<Agreement>> {
        let result = self.request_agreement_checked(caller, draft, now);
        result.map_err(|e| {
            if e.kind == crate::Kind::Forbidden {
                self.audit_refusal(caller, "agreement.request", None, e)
            } else {
                e
            }
        })
    }

    fn request_agreement_checked(
        &self,
        caller: &Caller,
        draft: AgreementDraft,
        now: DateTime<Utc>,
    ) -> Result<Versioned<Agreement>> {
        caller.exchange_consumer("requesting an agreement")?;
        // A restricted dataset is not listed, but a party the law names may ask for it by name:
        // its provider decides.
        let schema = self.schema(&draft.dataset, None)?;
        if draft.fields.is_empty() {
            return Err(invalid("an agreement names at least one field"));
        }
        let unknown: Vec<&String> = draft
            .fields
            .iter()
            .filter(|f| schema.field(f).is_none())
            .collect();
        if !unknown.is_empty() {
            return Err(invalid(format!(
                "fields {unknown:?} are not fields of {:?}",
                schema.dataset
            )));
        }
        let mut fields: Vec<String> = schema
            .fields
            .iter()
            .filter(|f| draft.fields.contains(&f.name))
            .map(|f| f.name.clone())
            .collect();
        fields.dedup();
        let mut operations = draft.operations.clone();
        operations.sort();
        operations.dedup();
        if operations.is_empty() {
            return Err(invalid(
                "an agreement allows at least one operation (lookup, search, extract)",
            ));
        }
        if !self.purpose_known(self.generation()?, &draft.purpose)? {
            return Err(Error::of(
                Code::PurposeUnknown,
                format!(
                    "purpose {:?} is not a code of the code list \"purpose\"",
                    draft.purpose
                ),
            ));
        }
        for (name, text) in [
            ("legal_basis.text", &draft.legal_basis.text),
            ("legal_basis.reference", &draft.legal_basis.reference),
        ] {
            ndx_types::text::check_characters(text, false)
                .map_err(|e| invalid(format!("{name} {}", e.describe())))?;
            if text.chars().count() > 2000 {
                return Err(invalid(format!("{name} is longer than 2,000 characters")));
            }
        }
        let valid_from = draft.valid_from.unwrap_or(now);
        if let Some(until) = draft.valid_until
            && until <= valid_from
        {
            return Err(invalid(format!(
                "valid_until {} is not after valid_from {}",
                until.to_rfc3339(),
                valid_from.to_rfc3339()
            )));
        }
        if draft.quota.requests_per_day == Some(0) || draft.quota.records_per_day == Some(0) {
            return Err(invalid(
                "a quota of 0 allows nothing: leave it out for no limit",
            ));
        }
        let agreement = Agreement {
            id: new_agreement_id()?,
            dataset: schema.dataset.clone(),
            provider: schema.owner.clone(),
            consumer: caller.system().code.clone(),
            consumer_member: caller.member().code.clone(),
            fields,
            operations,
            purpose: draft.purpose,
            legal_basis: draft.legal_basis,
            valid_from,
            valid_until: draft.valid_until,
            quota: draft.quota,
            status: AgreementStatus::Requested,
            reason: None,
            mandatory: draft.mandatory,
            requested_by: caller.system().code.clone(),
            requested_at: now,
            changed_by: None,
            changed_at: None,
        };
        // A standing policy of the provider (or the steward) approves what it covers at once.
        let mut agreement = agreement;
        let policy = self
            .store
            .catalog()
            .find_values::<ApprovalPolicy>(attr::DATASET, &agreement.dataset)?
            .into_iter()
            .find(|p| p.admits(&agreement, caller.member()));
        if let Some(p) = &policy {
            agreement.status = AgreementStatus::Approved;
            agreement.reason = Some(format!("approved by policy {:?}", p.id));
            agreement.changed_by = Some(format!("policy:{}", p.id));
            agreement.changed_at = Some(now);
        }
        let stored = self.store.catalog().insert(&agreement, now)?;
        self.audit
            .event(caller, "agreement.request")
            .dataset(Some(&agreement.dataset))
            .keys(vec![agreement.id.clone()])
            .record()?;
        if let Some(p) = policy {
            self.audit
                .event(caller, "agreement.approve")
                .dataset(Some(&agreement.dataset))
                .keys(vec![agreement.id.clone(), p.id.clone()])
                .reason(format!("approved by policy {:?} of {}", p.id, p.created_by))
                .record()?;
        }
        Ok(stored)
    }

    /// Whether the caller may see an agreement: its consumer system, the provider member's
    /// providers, stewards, operators and auditors.
    fn sees(caller: &Caller, a: &Agreement) -> bool {
        (caller.has(Role::Consumer) && caller.system().code == a.consumer)
            || (caller.has(Role::Provider) && caller.member().code == a.provider)
            || caller.has(Role::Steward)
            || caller.has(Role::Operator)
            || caller.has(Role::Auditor)
    }

    /// The agreements the caller may see: a consumer its own, a provider those on its member's
    /// datasets, stewards, operators and auditors all; in id order.
    pub fn agreements(&self, caller: &Caller) -> Result<Vec<Versioned<Agreement>>> {
        let catalog = self.store.catalog();
        let mut all: Vec<Versioned<Agreement>> =
            if caller.has(Role::Steward) || caller.has(Role::Operator) || caller.has(Role::Auditor)
            {
                catalog.list::<Agreement>(Page::ALL)?
            } else {
                let mut v = Vec::new();
                if caller.has(Role::Consumer) {
                    v.extend(catalog.find::<Agreement>(
                        attr::CONSUMER,
                        &caller.system().code,
                        Page::ALL,
                    )?);
                }
                if caller.has(Role::Provider) {
                    v.extend(catalog.find::<Agreement>(
                        attr::PROVIDER,
                        &caller.member().code,
                        Page::ALL,
                    )?);
                }
                v
            };
        all.sort_by(|a, b| a.value.id.cmp(&b.value.id));
        all.dedup_by(|a, b| a.value.id == b.value.id);
        Ok(all)
    }

    /// One agreement the caller may see.
    pub fn agreement(&self, caller: &Caller, id: &str) -> Result<Versioned<Agreement>> {
        match self.store.catalog().get::<Agreement>(id)? {
            Some(a) if Self::sees(caller, &a.value) => Ok(a),
            _ => Err(Error::of(
                Code::AgreementNotFound,
                format!("agreement {id:?} does not exist or is not one of yours"),
            )),
        }
    }

    /// Changes an agreement's status. Approving and rejecting are the provider's (or, for
    /// mandatory sharing, the steward's); suspending and revoking are either party's (and the
    /// steward's for mandatory sharing); a consumer withdraws its own request by revoking it.
    /// `revision` is the revision the caller read (optimistic concurrency).
    pub fn change_agreement(
        &self,
        caller: &Caller,
        id: &str,
        transition: Transition,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Versioned<Agreement>> {
        let operation = format!("agreement.{}", transition.name());
        let current = self.agreement(caller, id)?;
        let a = &current.value;
        let provider = caller.has(Role::Provider) && caller.member().code == a.provider;
        let consumer = caller.has(Role::Consumer) && caller.system().code == a.consumer;
        let steward = a.mandatory && caller.has(Role::Steward);
        let allowed = match transition {
            Transition::Approve | Transition::Reject => provider || steward,
            Transition::Suspend | Transition::Revoke => provider || consumer || steward,
        };
        if !allowed {
            let e = Error::of(
                Code::AgreementNotYours,
                format!(
                    "system {:?} may not {} agreement {id:?}: {}",
                    caller.system().code,
                    transition.name(),
                    match transition {
                        Transition::Approve | Transition::Reject =>
                            "the provider decides (the steward too, for mandatory sharing)",
                        _ =>
                            "only its provider, its consumer or, for mandatory sharing, the steward",
                    }
                ),
            );
            return Err(self.audit_refusal(caller, &operation, Some(&a.dataset), e));
        }
        if let Some(r) = &reason {
            ndx_types::text::check_characters(r, true)
                .map_err(|e| invalid(format!("reason {}", e.describe())))?;
        }
        if transition == Transition::Reject && reason.is_none() {
            return Err(invalid("a rejection gives its reason"));
        }
        let Some(to) = transition.apply(a.status) else {
            return Err(Error::of(
                Code::AgreementTransitionInvalid,
                format!(
                    "agreement {id:?} is {}: it cannot be {}d",
                    a.status.name(),
                    transition.name().trim_end_matches('e')
                ),
            ));
        };
        let mut next = a.clone();
        next.status = to;
        next.reason = reason;
        next.changed_by = Some(caller.system().code.clone());
        next.changed_at = Some(now);
        let stored = self.store.catalog().update(&next, current.revision, now)?;
        self.audit
            .event(caller, &operation)
            .dataset(Some(&next.dataset))
            .keys(vec![next.id.clone()])
            .record()?;
        Ok(stored)
    }

    /// Decides an exchange request (a lookup names its `key`): the caller's agreements on the
    /// dataset, the purpose, the fields asked for, the sovereignty guard, then the quota.
    /// A refusal is audited (with the purpose, and the agreement when one was found) and
    /// returned; a grant is the capability to read.
    #[allow(clippy::too_many_arguments)]
    pub fn exchange_access(
        &self,
        caller: &Caller,
        dataset: &str,
        operation: Operation,
        key: Option<&str>,
        purpose: Option<&str>,
        fields: Option<Vec<String>>,
        now: DateTime<Utc>,
    ) -> Result<ExchangeRead> {
        let op_name = format!("exchange.{}", operation.name());
        // A refused lookup of a record keyed by a citizen ID is an attempt on that citizen's
        // data: it is on their tracker too.
        let key_subjects = || -> Vec<String> {
            let Some(k) = key else { return Vec::new() };
            let Ok(schema) = self.schema(dataset, None) else {
                return Vec::new();
            };
            let Ok(compiled) = self.compiled(&schema) else {
                return Vec::new();
            };
            match schema.key.as_slice() {
                [f] if compiled.subject_fields().any(|s| s == f)
                    && ndx_types::formats::parse_citizen_id(k).is_ok() =>
                {
                    vec![k.to_owned()]
                }
                _ => Vec::new(),
            }
        };
        let refuse = |e: Error, agreement: Option<&Agreement>| -> Error {
            let owner = match agreement {
                Some(a) => a.provider.clone(),
                None => self
                    .schema(dataset, None)
                    .map(|s| s.owner)
                    .unwrap_or_default(),
            };
            self.quotas.count_refusal(&owner, now.date_naive());
            self.save_quotas_now_and_then();
            let mut event = self
                .audit
                .event(caller, &op_name)
                .dataset(Some(dataset))
                .keys(key.map(|k| vec![k.to_owned()]).unwrap_or_default())
                .subjects(key_subjects())
                .purpose(purpose)
                .refused(&e);
            if let Some(a) = agreement {
                event = event.under(a).purpose(purpose);
            }
            match event.record_refusal() {
                Ok(()) => e,
                Err(audit) => audit,
            }
        };
        if let Err(e) = caller.exchange_consumer("the exchange API") {
            return Err(refuse(e, None));
        }
        // The catalogue as of the caller's authentication: the objects below come from the
        // cache unless something changed before it.
        let generation = match caller.generation {
            Some(g) => g,
            None => self.generation()?,
        };
        let purpose = match self.check_purpose_at(generation, purpose) {
            Ok(p) => p,
            Err(e) => return Err(refuse(e, None)),
        };
        let schema = (*self.latest_schema_at(generation, dataset)?).clone();
        let consumer_agreements = self
            .catalog_cache
            .get(
                generation,
                |s| &mut s.agreements,
                &caller.system().code,
                || {
                    Ok(Some(self.store.catalog().find_values::<Agreement>(
                        attr::CONSUMER,
                        &caller.system().code,
                    )?))
                },
            )?
            .unwrap_or_default();
        let mine: Vec<Agreement> = consumer_agreements
            .iter()
            .filter(|a| a.dataset == schema.dataset)
            .cloned()
            .collect();
        // A restricted dataset is not found by a stranger (as in the catalogue).
        if schema.openness == Openness::Restricted
            && schema.owner != caller.member().code
            && mine.is_empty()
        {
            return Err(Error::of(
                Code::DatasetNotFound,
                format!("dataset {dataset:?} does not exist"),
            ));
        }
        let provider = self.member_at(generation, &schema.owner)?;
        let consumer = caller.member();
        let assessments: Arc<Vec<TransferAssessment>> =
            if provider.jurisdiction.country != consumer.jurisdiction.country {
                self.catalog_cache
                    .get(
                        generation,
                        |s| &mut s.assessments,
                        &schema.dataset,
                        || {
                            Ok(Some(
                                self.store.catalog().find_values::<TransferAssessment>(
                                    attr::DATASET,
                                    &schema.dataset,
                                )?,
                            ))
                        },
                    )?
                    .unwrap_or_default()
            } else {
                Arc::default()
            };
        let request = rules::Request {
            consumer: &caller.system().code,
            operation,
            purpose: &purpose,
            fields: fields.as_deref(),
            at: now,
        };
        let parties = Parties {
            provider: &provider.jurisdiction,
            consumer: &consumer.jurisdiction,
        };
        let grant = match rules::decide(&request, &mine, &schema, parties, &assessments) {
            Ok(g) => g,
            Err(r) => {
                let e = refusal_error(&r, &schema.dataset, &caller.system().code, &purpose);
                let a = r
                    .agreement()
                    .and_then(|id| mine.iter().find(|a| a.id == id));
                return Err(refuse(e, a));
            }
        };
        let agreement = mine
            .into_iter()
            .find(|a| a.id == grant.agreement)
            .ok_or_else(|| Error::internal("the granting agreement vanished"))?;
        // A lookup takes its one record now; searches and extracts count what they release.
        let records = u64::from(operation == Operation::Lookup);
        self.load_quota(&agreement, now.date_naive())?;
        if let Err(limit) = self.quotas.reserve(&agreement, now.date_naive(), records) {
            let e = Error::of(
                Code::QuotaExhausted,
                format!("agreement {:?}: its quota is {limit}", agreement.id),
            );
            return Err(refuse(e, Some(&agreement)));
        }
        self.save_quotas_now_and_then();
        ExchangeRead {
            schema,
            agreement,
            grant,
            operation,
            actor: caller.actor(),
            request_id: caller.request_id().to_owned(),
            recode_out: None,
            recode_in: None,
            answer_lists: Vec::new(),
        }
        .with_answer_lists(self)
    }

    /// Answers in the code lists the caller names (`Ndx-Code-Lists`): the released values of
    /// each field whose list a crosswalk joins to a named one are converted into it, and
    /// filters written in the named lists are converted into the dataset's. Only a one-to-one
    /// conversion is allowed here (a 2025 ward has no single pre-2025 ward); a refusal is
    /// audited like every refusal of the exchange API.
    pub fn exchange_code_lists(
        &self,
        caller: &Caller,
        mut cap: ExchangeRead,
        lists: &[CodeListRef],
    ) -> Result<ExchangeRead> {
        if lists.is_empty() {
            return Ok(cap);
        }
        let made = (|| {
            let out = self.recoder(&cap.schema, lists, Direction::FromDataset)?;
            let into = self.recoder(&cap.schema, lists, Direction::IntoDataset)?;
            if let Some(r) = &out {
                for (_, name, conv) in r.fields() {
                    if !conv.is_total_function() {
                        return Err(Error::of(
                            Code::CodeListNotApplicable,
                            format!(
                                "field {name:?}: codes of {} do not each have a single \
                                 counterpart in {}, so they cannot be answered in it",
                                conv.from, conv.to
                            ),
                        ));
                    }
                }
            }
            Ok((out, into))
        })();
        match made {
            Ok((out, into)) => {
                cap.recode_out = out.map(Arc::new);
                cap.recode_in = into.map(Arc::new);
                Ok(cap.with_answer_lists(self)?)
            }
            Err(e) => {
                let refused = self
                    .audit
                    .event(caller, &format!("exchange.{}", cap.operation.name()))
                    .dataset(Some(&cap.schema.dataset))
                    .under(&cap.agreement)
                    .refused(&e)
                    .record_refusal();
                Err(match refused {
                    Ok(()) => e,
                    Err(audit) => audit,
                })
            }
        }
    }

    /// The consent-bound fields of a record its data subjects have not consented to release
    /// under the agreement (empty: everything granted may leave).
    fn consent_missing(
        &self,
        cap: &ExchangeRead,
        subjects: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        if cap.grant.consent_fields.is_empty() {
            return Ok(Vec::new());
        }
        let mut consents: Vec<Consent> = Vec::new();
        for s in subjects {
            consents.extend(
                self.store
                    .catalog()
                    .find_values::<Consent>(attr::SUBJECT, s)?,
            );
        }
        Ok(cap
            .grant
            .consent_fields
            .iter()
            .filter(|f| {
                subjects.is_empty()
                    || !subjects.iter().all(|s| {
                        consents
                            .iter()
                            .any(|c| &c.subject == s && c.covers(&cap.agreement.id, f, now))
                    })
            })
            .cloned()
            .collect())
    }

    /// Looks one record up under an agreement: only the agreed fields leave, only with consent
    /// where the dictionary asks for it, and only after the event (agreement, purpose, legal
    /// basis, fields, subject) is durable — the answer is [`Pending`] until then, so that the
    /// HTTP edge awaits the commit without holding a blocking thread. Refusals are recorded
    /// before they return.
    pub fn exchange_lookup(
        &self,
        cap: &ExchangeRead,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Pending<ExchangeRecord>> {
        self.exchange_lookup_read(cap, key, None, now)
    }

    /// The current version of a record with the catalogue generation of the same read (see
    /// `ndx_store::Records::current_with_generation`): a lookup authenticates and decides on
    /// that generation and answers that version ([`Core::exchange_lookup_read`]), one read
    /// instead of two. Read before anything is decided, it is never answered on its own.
    pub fn current_with_generation(
        &self,
        dataset: &str,
        key: &str,
    ) -> Result<Option<(ndx_store::RecordVersion, u64)>> {
        Ok(self.store.records().current_with_generation(dataset, key)?)
    }

    /// [`Core::exchange_lookup`] answering `read`, the current version read together with the
    /// generation the caller was authenticated and `cap` decided on; read here when `None`.
    pub fn exchange_lookup_read(
        &self,
        cap: &ExchangeRead,
        key: &str,
        read: Option<ndx_store::RecordVersion>,
        now: DateTime<Utc>,
    ) -> Result<Pending<ExchangeRecord>> {
        let found = match read.filter(|v| v.key == key) {
            Some(v) => Some(v),
            None => self
                .store
                .records()
                .record(&cap.schema.dataset, key, None)?,
        };
        let event = self
            .audit
            .event(cap, "exchange.lookup")
            .under(&cap.agreement)
            .keys(vec![key.to_owned()]);
        let Some(version) = found.filter(|v| v.body.is_some()) else {
            let e = Error::of(
                Code::RecordNotFound,
                format!("record {key:?} of {:?} does not exist", cap.schema.dataset),
            );
            event.refused(&e).record_refusal()?;
            return Err(e);
        };
        // The one projection search and extract use: the body is parsed once.
        let (mut released, withheld) = self.release(cap, vec![version], now)?;
        let Some(record) = released.records.pop() else {
            let missing = self.consent_missing(cap, &withheld, now)?;
            let e = Error::of(
                Code::ConsentMissing,
                format!(
                    "record {key:?} is withheld: its data subject has not consented to the release of {missing:?} under agreement {:?}",
                    cap.agreement.id
                ),
            );
            event.subjects(withheld).refused(&e).record_refusal()?;
            return Err(e);
        };
        let pending = event
            .returned((released.subjects, released.fields))
            .submit()?;
        Ok(pending.attach(record))
    }
}

fn new_consent_id() -> Result<String> {
    let mut bytes = [0u8; 6];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| Error::internal(format!("no randomness for a consent id: {e}")))?;
    Ok(format!("cns-{}", hex::encode(bytes)))
}

impl Core {
    /// A citizen consents to the release of consent-bound fields of their records under one
    /// agreement (`fields` empty: all of the agreement's consent-bound fields). Only the
    /// citizen, with their own token, consents; the event is on their tracker.
    pub fn grant_consent(
        &self,
        cap: &crate::access::SubjectRead,
        agreement: &str,
        fields: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<Audited<Consent>> {
        if cap.actor.is_some() {
            return Err(Error::of(
                Code::NotYourData,
                "only the data subject, with their own token, gives consent",
            ));
        }
        let not_found = || {
            Error::of(
                Code::AgreementNotFound,
                format!("agreement {agreement:?} does not exist"),
            )
        };
        let a = self
            .store
            .catalog()
            .value::<Agreement>(agreement)?
            .ok_or_else(not_found)?;
        let schema = self.schema(&a.dataset, None)?;
        let bound: Vec<&String> = a
            .fields
            .iter()
            .filter(|f| schema.field(f).is_some_and(|d| d.consent))
            .collect();
        if bound.is_empty() {
            return Err(invalid(format!(
                "agreement {agreement:?} releases no field that needs consent"
            )));
        }
        let stray: Vec<&String> = fields.iter().filter(|f| !bound.contains(f)).collect();
        if !stray.is_empty() {
            return Err(invalid(format!(
                "fields {stray:?} are not consent-bound fields of agreement {agreement:?} (those are {bound:?})"
            )));
        }
        let consent = Consent {
            id: new_consent_id()?,
            subject: cap.citizen_id.clone(),
            agreement: a.id.clone(),
            fields,
            granted_at: now,
            withdrawn_at: None,
        };
        self.store.catalog().insert(&consent, now)?;
        let receipt = self
            .audit
            .event(cap, "consent.grant")
            .dataset(Some(&a.dataset))
            .under(&a)
            .keys(vec![consent.id.clone()])
            .subjects(vec![cap.citizen_id.clone()])
            .record()?;
        Ok(receipt.attach(consent))
    }

    /// A citizen withdraws a consent: records are withheld from the next request on.
    pub fn withdraw_consent(
        &self,
        cap: &crate::access::SubjectRead,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Audited<Consent>> {
        if cap.actor.is_some() {
            return Err(Error::of(
                Code::NotYourData,
                "only the data subject, with their own token, withdraws consent",
            ));
        }
        let found = self
            .store
            .catalog()
            .get::<Consent>(id)?
            .filter(|c| c.value.subject == cap.citizen_id)
            .ok_or_else(|| {
                Error::of(
                    Code::NotFound,
                    format!("consent {id:?} does not exist or is not yours"),
                )
            })?;
        if found.value.withdrawn_at.is_some() {
            return Err(Error::of(
                Code::Conflict,
                format!("consent {id:?} is withdrawn already"),
            ));
        }
        let mut next = found.value.clone();
        next.withdrawn_at = Some(now);
        self.store.catalog().update(&next, found.revision, now)?;
        let mut event = self
            .audit
            .event(cap, "consent.withdraw")
            .keys(vec![next.id.clone()])
            .subjects(vec![cap.citizen_id.clone()]);
        if let Some(a) = self.store.catalog().value::<Agreement>(&next.agreement)? {
            event = event.dataset(Some(&a.dataset)).under(&a);
        }
        let receipt = event.record()?;
        Ok(receipt.attach(next))
    }

    /// A citizen's consents (the citizen, or an auditor), newest first.
    pub fn consents(&self, cap: &crate::access::SubjectRead) -> Result<Audited<Vec<Consent>>> {
        let mut all: Vec<Consent> = self
            .store
            .catalog()
            .find_values::<Consent>(attr::SUBJECT, &cap.citizen_id)?;
        all.sort_by_key(|c| std::cmp::Reverse(c.granted_at));
        let receipt = self
            .audit
            .event(cap, "subject.consents")
            .subjects(vec![cap.citizen_id.clone()])
            .record()?;
        Ok(receipt.attach(all))
    }
}

impl ExchangeRead {
    /// Works out the code list of each released coded field, as answered.
    fn with_answer_lists(mut self, core: &Core) -> Result<ExchangeRead> {
        let compiled = core.compiled(&self.schema)?;
        let mut lists: Vec<CodeListRef> = Vec::new();
        for (_, name, list) in compiled.coded_fields() {
            if !self.grant.fields.contains(&name) {
                continue;
            }
            let answered = self
                .recode_out
                .as_ref()
                .and_then(|r| {
                    r.fields()
                        .find(|(_, n, _)| *n == name)
                        .map(|(_, _, c)| c.to.clone())
                })
                .unwrap_or(list);
            if !lists.contains(&answered) {
                lists.push(answered);
            }
        }
        self.answer_lists = lists;
        Ok(self)
    }
}

/// What becomes of one stored version under an agreement.
pub(crate) enum Release {
    /// Released: the record (agreed fields only) and its data subjects.
    Record(ExchangeRecord, Vec<String>),
    /// Withheld for want of consent; its data subjects are still named (the access was
    /// attempted on their data).
    Withheld(Vec<String>),
    /// A deletion: the key alone, and the subject it names when the key is a citizen ID.
    Tombstone(Vec<String>),
}

/// Releases versions one by one under a read capability: the schema's subject fields worked
/// out once, the consents of each data subject read once.
pub(crate) struct Releaser<'a> {
    core: &'a Core,
    cap: &'a ExchangeRead,
    subject_fields: Vec<String>,
    key_is_subject: bool,
    consents: HashMap<String, Vec<Consent>>,
    now: DateTime<Utc>,
}

impl<'a> Releaser<'a> {
    pub(crate) fn new(
        core: &'a Core,
        cap: &'a ExchangeRead,
        now: DateTime<Utc>,
    ) -> Result<Releaser<'a>> {
        let compiled = core.compiled(&cap.schema)?;
        let subject_fields: Vec<String> = compiled.subject_fields().map(str::to_owned).collect();
        let key_is_subject = matches!(cap.schema.key.as_slice(), [k] if subject_fields.contains(k));
        Ok(Releaser {
            core,
            cap,
            subject_fields,
            key_is_subject,
            consents: HashMap::new(),
            now,
        })
    }

    /// Projects one version onto the granted fields, or withholds it when a data subject has
    /// not consented to a consent-bound field.
    pub(crate) fn release(&mut self, v: ndx_store::RecordVersion) -> Result<Release> {
        let cap = self.cap;
        let Some(body) = v.body.as_deref() else {
            let subjects = if self.key_is_subject {
                vec![v.key.clone()]
            } else {
                Vec::new()
            };
            return Ok(Release::Tombstone(subjects));
        };
        let mut full: Map<String, Value> = serde_json::from_str(body)
            .map_err(|e| Error::internal(format!("stored record {:?} is not JSON: {e}", v.key)))?;
        let mut subjects: Vec<String> = self
            .subject_fields
            .iter()
            .filter_map(|f| full.get(f).and_then(Value::as_str).map(str::to_owned))
            .collect();
        if self.key_is_subject && !subjects.contains(&v.key) {
            subjects.push(v.key.clone());
        }
        if !cap.grant.consent_fields.is_empty() {
            for s in &subjects {
                if !self.consents.contains_key(s) {
                    let found = self
                        .core
                        .store
                        .catalog()
                        .find_values::<Consent>(attr::SUBJECT, s)?
                        .into_iter()
                        .filter(|c| c.agreement == cap.agreement.id)
                        .collect();
                    self.consents.insert(s.clone(), found);
                }
            }
            let consented = !subjects.is_empty()
                && cap.grant.consent_fields.iter().all(|f| {
                    subjects.iter().all(|s| {
                        self.consents[s]
                            .iter()
                            .any(|c| c.covers(&cap.agreement.id, f, self.now))
                    })
                });
            if !consented {
                return Ok(Release::Withheld(subjects));
            }
        }
        let mut data: Map<String, Value> = cap
            .grant
            .fields
            .iter()
            .filter_map(|f| full.remove(f).map(|x| (f.clone(), x)))
            .collect();
        if let Some(r) = &cap.recode_out {
            ndx_types::codes::recode_object(r, &mut data).map_err(|e| {
                Error::of(
                    Code::CodeListNotApplicable,
                    format!("record {:?}: {}", v.key, e.message),
                )
            })?;
        }
        Ok(Release::Record(
            ExchangeRecord {
                key: v.key,
                version: v.version,
                recorded_at: v.recorded_at,
                data,
                agreement: cap.agreement.id.clone(),
            },
            subjects,
        ))
    }
}

/// The refusal of filters on fields the agreement does not release (filtering on a field
/// would reveal it), if any.
pub(crate) fn unreleased_filters(
    cap: &ExchangeRead,
    filters: &[(String, String)],
) -> Option<Error> {
    let hidden: Vec<&String> = filters
        .iter()
        .map(|(f, _)| f)
        .filter(|f| !cap.grant.fields.contains(f))
        .collect();
    (!hidden.is_empty()).then(|| {
        Error::of(
            Code::FieldNotCovered,
            format!(
                "agreement {:?} does not release {hidden:?}, so it cannot filter on them",
                cap.agreement.id
            ),
        )
    })
}

/// Adds the fields of `data` to `fields` (the released fields of a page, in first-seen order).
pub(crate) fn note_fields(fields: &mut Vec<String>, data: &Map<String, Value>) {
    for f in data.keys() {
        if !fields.contains(f) {
            fields.push(f.clone());
        }
    }
}

impl Core {
    /// Projects the current versions of a page (tombstones are skipped: a page of current
    /// records has none) onto the granted fields, withholding the records whose data subjects
    /// have not consented to a consent-bound field (their subjects are still named: the
    /// access was attempted on their data).
    fn release(
        &self,
        cap: &ExchangeRead,
        versions: Vec<ndx_store::RecordVersion>,
        now: DateTime<Utc>,
    ) -> Result<(Released, Vec<String>)> {
        let mut releaser = Releaser::new(self, cap, now)?;
        let mut out = Released {
            records: Vec::with_capacity(versions.len()),
            withheld: 0,
            subjects: Vec::new(),
            fields: Vec::new(),
        };
        let mut withheld_subjects = Vec::new();
        for v in versions {
            match releaser.release(v)? {
                Release::Record(record, subjects) => {
                    note_fields(&mut out.fields, &record.data);
                    out.subjects.extend(subjects);
                    out.records.push(record);
                }
                Release::Withheld(subjects) => {
                    out.withheld += 1;
                    withheld_subjects.extend(subjects);
                }
                Release::Tombstone(_) => {}
            }
        }
        Ok((out, withheld_subjects))
    }

    /// Records matching every `field = value` filter (on granted fields only), in key order,
    /// after `cursor`; the agreed fields of each, consent permitting. One audit event per page
    /// names every released record's data subject, so each citizen sees the search on their
    /// own tracker.
    pub fn exchange_search(
        &self,
        cap: &ExchangeRead,
        filters: &[(String, String)],
        cursor: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Audited<ExchangePage>> {
        let mut query: Vec<String> = filters.iter().map(|(f, v)| format!("{f}={v}")).collect();
        if let Some(c) = cursor {
            query.push(format!("cursor={c}"));
        }
        query.push(format!("limit={limit}"));
        let event = || {
            self.audit
                .event(cap, "exchange.search")
                .under(&cap.agreement)
                .query(Some(query.join("&")))
        };
        let refuse = |e: Error| match event().refused(&e).record_refusal() {
            Ok(()) => e,
            Err(audit) => audit,
        };
        if limit == 0 || limit > MAX_EXCHANGE_PAGE {
            return Err(Error::of(
                Code::LimitInvalid,
                format!("limit must be between 1 and {MAX_EXCHANGE_PAGE}, found {limit}"),
            ));
        }
        if let Some(e) = unreleased_filters(cap, filters) {
            return Err(refuse(e));
        }
        let converted;
        let filters = match &cap.recode_in {
            None => filters,
            Some(r) => {
                converted = filters
                    .iter()
                    .map(|(f, v)| match r.convert_named(f, v) {
                        None => Ok((f.clone(), v.clone())),
                        Some(Ok(code)) => Ok((f.clone(), code.to_owned())),
                        Some(Err(e)) => Err(Error::of(Code::FilterValueInvalid, e.message)),
                    })
                    .collect::<Result<Vec<_>>>()
                    .map_err(refuse)?;
                &converted[..]
            }
        };
        let typed = self.typed_filters(&cap.schema.dataset, filters)?;
        let after = self.list_position(&cap.schema.dataset, cursor)?;
        let mut versions =
            self.store
                .records()
                .list(&cap.schema.dataset, &typed, after.as_deref(), limit + 1)?;
        let more = versions.len() > limit;
        versions.truncate(limit);
        let last_key = versions.last().map(|v| v.key.clone());
        let next_cursor = if more {
            last_key
                .as_deref()
                .map(|k| self.audit.keys().cursor(&cap.schema.dataset, k))
        } else {
            None
        };
        let keys: Vec<String> = versions.iter().map(|v| v.key.clone()).collect();
        let (released, withheld_subjects) = self.release(cap, versions, now)?;
        if let Err(limit) = self.quotas.reserve_records(
            &cap.agreement,
            now.date_naive(),
            released.records.len() as u64,
        ) {
            return Err(refuse(Error::of(
                Code::QuotaExhausted,
                format!("agreement {:?}: its quota is {limit}", cap.agreement.id),
            )));
        }
        let mut subjects = released.subjects;
        subjects.extend(withheld_subjects);
        let mut e = event().keys(keys).returned((subjects, released.fields));
        if released.withheld > 0 {
            e = e.reason(format!(
                "{} records withheld: consent-missing",
                released.withheld
            ));
        }
        let receipt = e.record()?;
        Ok(receipt.attach(ExchangePage {
            records: released.records,
            withheld: released.withheld,
            next_cursor,
        }))
    }

    /// Where an extract starts: the dataset as it stands at the feed's head now, which fixes
    /// the snapshot every page of it reads.
    pub fn extract_start(&self, cap: &ExchangeRead) -> Result<ExtractCursor> {
        Ok(ExtractCursor {
            at: self.feed_head(cap)?,
            after: 0,
        })
    }

    /// One page of a bulk extract: up to `limit` records of the dataset as it stood at the
    /// snapshot's feed position, read from `from` (`None`: the first page, which takes the
    /// feed's head as the snapshot), in the order they were recorded, agreed fields only,
    /// consent permitting; handed back only once its event, naming every released record's
    /// subject, is durable ([`ExtractStep::page`]). Reading in storage order instead of key
    /// order is what keeps a whole-dataset read sequential; records changed while an extract
    /// runs appear as they stood at its position, and the change feed after it has the rest.
    pub fn exchange_extract_page(
        &self,
        cap: &ExchangeRead,
        from: Option<ExtractCursor>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<ExtractStep> {
        let limit = limit.clamp(1, EXTRACT_PAGE);
        let from = match from {
            Some(c) => c,
            None => self.extract_start(cap)?,
        };
        let snapshot =
            self.store
                .records()
                .snapshot(&cap.schema.dataset, from.at, from.after, limit)?;
        let versions = snapshot.versions;
        let keys: Vec<String> = versions.iter().map(|v| v.key.clone()).collect();
        let (released, withheld_subjects) = self.release(cap, versions, now)?;
        let event = self
            .audit
            .event(
                cap,
                if cap.operation == Operation::Subscribe {
                    "exchange.baseline"
                } else {
                    "exchange.extract"
                },
            )
            .under(&cap.agreement)
            .query(Some(format!("at={}&after={}", from.at, from.after)));
        if let Err(limit) = self.quotas.reserve_records(
            &cap.agreement,
            now.date_naive(),
            released.records.len() as u64,
        ) {
            let e = Error::of(
                Code::QuotaExhausted,
                format!("agreement {:?}: its quota is {limit}", cap.agreement.id),
            );
            event.refused(&e).record_refusal()?;
            return Err(e);
        }
        let mut subjects = released.subjects;
        subjects.extend(withheld_subjects);
        let mut e = event.keys(keys).returned((subjects, released.fields));
        if released.withheld > 0 {
            e = e.reason(format!(
                "{} records withheld: consent-missing",
                released.withheld
            ));
        }
        let next = (snapshot.reached < from.at).then_some(ExtractCursor {
            at: from.at,
            after: snapshot.reached,
        });
        Ok(ExtractStep {
            page: e.submit()?.attach(ExchangePage {
                records: released.records,
                withheld: released.withheld,
                next_cursor: None,
            }),
            next,
        })
    }
}

/// The purpose a request states, trimmed; `400 purpose-missing` (naming `what`) when it
/// states none. Whether it is a code of the code list is [`Core::check_purpose`]'s.
pub(crate) fn stated_purpose<'a>(purpose: Option<&'a str>, what: &str) -> Result<&'a str> {
    purpose.map(str::trim).filter(|p| !p.is_empty()).ok_or_else(|| {
        Error::of(
            Code::PurposeMissing,
            format!(
                "{what} states its purpose in the Ndx-Purpose header (a code of the code list \"purpose\")"
            ),
        )
    })
}

#[cfg(test)]
mod tests;

/// A transfer assessment to register.
#[derive(Debug, Clone)]
pub struct AssessmentDraft {
    /// The dataset it covers.
    pub dataset: String,
    /// The foreign member that may receive it.
    pub recipient: String,
    /// Who approved it.
    pub approved_by: String,
    /// What it covers, in words.
    pub scope: String,
    /// In force from (default: now).
    pub valid_from: Option<DateTime<Utc>>,
    /// In force until (exclusive).
    pub valid_until: DateTime<Utc>,
}

impl Core {
    /// Registers a transfer assessment (stewards and operators): the dataset's important or
    /// personal data may then go to the foreign member under its agreements, within the
    /// assessment's period. Core data never goes abroad, assessed or not.
    pub fn register_assessment(
        &self,
        caller: &Caller,
        draft: AssessmentDraft,
        now: DateTime<Utc>,
    ) -> Result<TransferAssessment> {
        if !(caller.has(Role::Steward) || caller.has(Role::Operator)) {
            let e = Error::of(
                Code::RoleRequired,
                "registering a transfer assessment needs role \"steward\" or \"operator\"",
            );
            return Err(self.audit_refusal(
                caller,
                "transfer-assessment.register",
                Some(&draft.dataset),
                e,
            ));
        }
        let schema = self.schema(&draft.dataset, None)?;
        let provider = self.member(&schema.owner)?;
        let recipient = self.member(&draft.recipient)?;
        if recipient.jurisdiction.country == provider.jurisdiction.country {
            return Err(invalid(format!(
                "member {:?} is in {}, as the dataset's owner: no transfer abroad to assess",
                recipient.code, recipient.jurisdiction.country
            )));
        }
        if schema.importance == ndx_types::dictionary::Importance::Core {
            return Err(invalid(format!(
                "dataset {:?} is core data, which never leaves {}: no assessment can allow it",
                schema.dataset, provider.jurisdiction.country
            )));
        }
        for (name, text) in [("approved_by", &draft.approved_by), ("scope", &draft.scope)] {
            ndx_types::text::check_characters(text, false)
                .map_err(|e| invalid(format!("{name} {}", e.describe())))?;
        }
        let valid_from = draft.valid_from.unwrap_or(now);
        if draft.valid_until <= valid_from {
            return Err(invalid(format!(
                "valid_until {} is not after valid_from {}",
                draft.valid_until.to_rfc3339(),
                valid_from.to_rfc3339()
            )));
        }
        let mut bytes = [0u8; 6];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| Error::internal(format!("no randomness for an id: {e}")))?;
        let t = TransferAssessment {
            id: format!("ta-{}", hex::encode(bytes)),
            dataset: schema.dataset.clone(),
            recipient: recipient.code,
            approved_by: draft.approved_by,
            scope: draft.scope,
            valid_from,
            valid_until: draft.valid_until,
        };
        self.store.catalog().insert(&t, now)?;
        self.audit
            .event(caller, "transfer-assessment.register")
            .dataset(Some(&t.dataset))
            .keys(vec![t.id.clone()])
            .record()?;
        Ok(t)
    }

    /// The transfer assessments: all for stewards, operators and auditors; a provider those of
    /// its member's datasets.
    pub fn assessments(&self, caller: &Caller) -> Result<Vec<TransferAssessment>> {
        let all: Vec<TransferAssessment> = self
            .store
            .catalog()
            .list::<TransferAssessment>(Page::ALL)?
            .into_iter()
            .map(|v| v.value)
            .collect();
        if caller.has(Role::Steward) || caller.has(Role::Operator) || caller.has(Role::Auditor) {
            return Ok(all);
        }
        if !caller.has(Role::Provider) {
            return Err(Error::of(
                Code::RoleRequired,
                "transfer assessments are for stewards, operators, auditors and providers",
            ));
        }
        let mut mine = Vec::new();
        for t in all {
            if self.schema(&t.dataset, None)?.owner == caller.member().code {
                mine.push(t);
            }
        }
        Ok(mine)
    }
}

/// An approval policy to create.
#[derive(Debug, Clone)]
pub struct PolicyDraft {
    /// The dataset.
    pub dataset: String,
    /// Only consumers of this member level.
    pub consumer_level: Option<ndx_types::registry::MemberLevel>,
    /// Only consumers in this country.
    pub consumer_country: Option<String>,
    /// The fields a request may ask for.
    pub fields: Vec<String>,
    /// The operations a request may ask for.
    pub operations: Vec<Operation>,
    /// The purposes a request may state.
    pub purposes: Vec<String>,
    /// The longest validity approved, in days.
    pub max_days: Option<u32>,
}

impl Core {
    /// Creates an approval policy: the dataset's provider, or the steward. From then on a
    /// request it covers is approved as it is made.
    pub fn create_policy(
        &self,
        caller: &Caller,
        draft: PolicyDraft,
        now: DateTime<Utc>,
    ) -> Result<ApprovalPolicy> {
        let schema = self.schema(&draft.dataset, None)?;
        let provider = caller.has(Role::Provider) && caller.member().code == schema.owner;
        if !(provider || caller.has(Role::Steward)) {
            let e = Error::of(
                Code::NotOwner,
                format!(
                    "approval policies on {:?} are for its provider ({}) or the steward",
                    schema.dataset, schema.owner
                ),
            );
            return Err(self.audit_refusal(
                caller,
                "approval-policy.create",
                Some(&schema.dataset),
                e,
            ));
        }
        let unknown: Vec<&String> = draft
            .fields
            .iter()
            .filter(|f| schema.field(f).is_none())
            .collect();
        if draft.fields.is_empty() || !unknown.is_empty() {
            return Err(invalid(format!(
                "a policy names fields of {:?}; unknown: {unknown:?}",
                schema.dataset
            )));
        }
        if draft.operations.is_empty() || draft.purposes.is_empty() {
            return Err(invalid(
                "a policy names at least one operation and one purpose",
            ));
        }
        for p in &draft.purposes {
            if !self.purpose_known(self.generation()?, p)? {
                return Err(Error::of(
                    Code::PurposeUnknown,
                    format!("purpose {p:?} is not a code of the code list \"purpose\""),
                ));
            }
        }
        if let Some(c) = &draft.consumer_country
            && !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(Error::of(
                Code::CountryInvalid,
                format!("{c:?} is not an ISO 3166 alpha-2 country"),
            ));
        }
        if draft.max_days == Some(0) {
            return Err(invalid("max_days must be at least 1"));
        }
        let mut bytes = [0u8; 6];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| Error::internal(format!("no randomness for an id: {e}")))?;
        let policy = ApprovalPolicy {
            id: format!("pol-{}", hex::encode(bytes)),
            dataset: schema.dataset.clone(),
            consumer_level: draft.consumer_level,
            consumer_country: draft.consumer_country,
            fields: draft.fields,
            operations: draft.operations,
            purposes: draft.purposes,
            max_days: draft.max_days,
            created_by: caller.system().code.clone(),
        };
        self.store.catalog().insert(&policy, now)?;
        self.audit
            .event(caller, "approval-policy.create")
            .dataset(Some(&policy.dataset))
            .keys(vec![policy.id.clone()])
            .record()?;
        Ok(policy)
    }

    /// The approval policies: on the datasets of the caller's member, or all for stewards,
    /// operators and auditors.
    pub fn policies(&self, caller: &Caller) -> Result<Vec<ApprovalPolicy>> {
        let all: Vec<ApprovalPolicy> = self
            .store
            .catalog()
            .list::<ApprovalPolicy>(Page::ALL)?
            .into_iter()
            .map(|v| v.value)
            .collect();
        if caller.has(Role::Steward) || caller.has(Role::Operator) || caller.has(Role::Auditor) {
            return Ok(all);
        }
        let mut mine = Vec::new();
        for p in all {
            if self.schema(&p.dataset, None)?.owner == caller.member().code {
                mine.push(p);
            }
        }
        Ok(mine)
    }
}

impl Core {
    /// What an agreement has used on `now`'s UTC day (requests answered, records released),
    /// as this process counts it on top of what the catalogue had.
    pub fn quota_used(&self, agreement: &Agreement, now: DateTime<Utc>) -> Result<(u64, u64)> {
        let day = now.date_naive();
        self.load_quota(agreement, day)?;
        let used = self.quotas.used.lock().unwrap_or_else(|e| e.into_inner());
        Ok(used
            .get(&(agreement.id.clone(), day))
            .map_or((0, 0), |u| (u.requests, u.records)))
    }

    /// Reads what an agreement has used today, the first time this process serves it today.
    fn load_quota(&self, agreement: &Agreement, day: NaiveDate) -> Result<()> {
        if self.quotas.loaded(&agreement.id, day) {
            return Ok(());
        }
        let saved = self
            .store
            .catalog()
            .value::<rules::QuotaUsage>(&rules::QuotaUsage::id_of(&agreement.id, day))?;
        self.quotas.load(&agreement.id, day, saved.as_ref());
        Ok(())
    }

    /// Writes the quota counts if the last write is a second old (called by requests, so an
    /// idle server writes nothing).
    fn save_quotas_now_and_then(&self) {
        {
            let mut last = self
                .quotas
                .last_flush
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < QUOTA_FLUSH_EVERY) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        // A request served in place leaves the write (a catalogue commit) to a blocking thread.
        if crate::deferred::quota_save() {
            return;
        }
        if let Err(e) = self.save_quotas() {
            tracing::warn!("quota counts not saved yet: {e}");
        }
    }

    /// Writes every unsaved quota count to the catalogue, adding it to what is stored (another
    /// node's write in between is re-read and added to). Call it when the server stops.
    pub fn save_quotas(&self) -> Result<()> {
        let mut first_error = None;
        for ((agreement, day), requests, records) in self.quotas.take_unsaved() {
            let saved = self.add_to_stored(
                &rules::QuotaUsage::id_of(&agreement, day),
                || rules::QuotaUsage {
                    agreement: agreement.clone(),
                    day,
                    requests: 0,
                    records: 0,
                },
                |q: &mut rules::QuotaUsage| {
                    q.requests += requests;
                    q.records += records;
                },
            );
            if let Err(e) = saved {
                self.quotas.unsave((agreement, day), requests, records);
                first_error.get_or_insert(e);
            }
        }
        for ((member, day), refused) in self.quotas.take_unsaved_refusals() {
            let saved = self.add_to_stored(
                &rules::RefusalCount::id_of(&member, day),
                || rules::RefusalCount {
                    member: member.clone(),
                    day,
                    refused: 0,
                },
                |r: &mut rules::RefusalCount| r.refused += refused,
            );
            if let Err(e) = saved {
                self.quotas.unsave_refusals((member, day), refused);
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
