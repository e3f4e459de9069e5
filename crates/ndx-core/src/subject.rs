//! What the platform holds about one citizen: the current records of every dataset that names
//! them in a field of the element `citizen-id` (the population register by its key, a
//! business by its owner, a civil servant by their ID), read for the citizen themself and
//! recorded on their own data tracker like any other access.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::Core;
use crate::access::SubjectRead;
use crate::audit::Audited;
use crate::error::{Error, Result};

/// The element that names a citizen.
const CITIZEN_ID: &str = "citizen-id";
/// Records shown per dataset and field.
const MAX_RECORDS: usize = 50;

/// The records of one dataset about a citizen.
#[derive(Debug, Clone)]
pub struct SubjectDataset {
    /// The dataset.
    pub dataset: String,
    /// Its title in Vietnamese.
    pub title_vi: String,
    /// Its title in English.
    pub title_en: String,
    /// The member that owns it (and answers a correction request).
    pub owner: String,
    /// The field that names the citizen.
    pub field: String,
    /// The records: key, when recorded, and the values.
    pub records: Vec<SubjectRecord>,
}

/// One record about the citizen.
#[derive(Debug, Clone)]
pub struct SubjectRecord {
    /// The record's key.
    pub key: String,
    /// When its current version was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Its values.
    pub data: Map<String, Value>,
}

impl Core {
    /// Every dataset's records about the citizen of `cap`, audited as `subject.records` on
    /// their tracker before the answer leaves.
    pub fn subject_records(&self, cap: &SubjectRead) -> Result<Audited<Vec<SubjectDataset>>> {
        let citizen = cap.citizen_id().to_owned();
        let mut found = Vec::new();
        let mut keys = Vec::new();
        for schema in self.datasets()? {
            for field in schema.fields.iter().filter(|f| f.element == CITIZEN_ID) {
                // The register keyed by the citizen ID is read by key; other datasets are
                // filtered on the field.
                let versions = if schema.key == [field.name.clone()] {
                    self.store
                        .records()
                        .record(&schema.dataset, &citizen, None)?
                        .into_iter()
                        .collect()
                } else {
                    let filters = self
                        .typed_filters(&schema.dataset, &[(field.name.clone(), citizen.clone())])?;
                    self.store
                        .records()
                        .list(&schema.dataset, &filters, None, MAX_RECORDS)?
                };
                let mut records = Vec::new();
                for v in versions {
                    let Some(body) = v.body else { continue };
                    let data: Map<String, Value> = serde_json::from_str(&body).map_err(|e| {
                        Error::internal(format!("a stored record is not JSON: {e}"))
                    })?;
                    keys.push(format!("{}/{}", schema.dataset, v.key));
                    records.push(SubjectRecord {
                        key: v.key,
                        recorded_at: v.recorded_at,
                        data,
                    });
                }
                if !records.is_empty() {
                    found.push(SubjectDataset {
                        dataset: schema.dataset.clone(),
                        title_vi: schema.title_vi.clone(),
                        title_en: schema.title_en.clone(),
                        owner: schema.owner.clone(),
                        field: field.name.clone(),
                        records,
                    });
                }
            }
        }
        let receipt = self
            .audit
            .event(cap, "subject.records")
            .keys(keys)
            .subjects(vec![citizen])
            .record()?;
        Ok(receipt.attach(found))
    }
}

/// What a citizen reports as wrong in one of their records.
#[derive(Debug, Clone)]
pub struct ErrorReportDraft {
    /// The dataset.
    pub dataset: String,
    /// The record's key.
    pub key: String,
    /// The field said to be wrong.
    pub field: String,
    /// What is wrong.
    pub description: String,
    /// The right value, if known.
    pub proposed: Option<String>,
}

/// An agreement in force that releases fields only with each citizen's consent, and the
/// citizen's consent to it, if any.
#[derive(Debug, Clone)]
pub struct ConsentChoice {
    /// The agreement.
    pub agreement: ndx_types::exchange::Agreement,
    /// Its consent-bound fields.
    pub fields: Vec<String>,
    /// The citizen's consent in force, if given.
    pub consent: Option<ndx_types::exchange::Consent>,
}

fn report_invalid(message: impl Into<String>) -> Error {
    Error::of(crate::error::Code::ReportInvalid, message)
}

fn check_text(what: &str, text: &str, required: bool) -> Result<()> {
    let n = text.chars().count();
    if required && text.trim().is_empty() {
        return Err(report_invalid(format!("{what} is required")));
    }
    if n > ndx_types::report::MAX_TEXT {
        return Err(report_invalid(format!(
            "{what} has {n} characters; at most {}",
            ndx_types::report::MAX_TEXT
        )));
    }
    ndx_types::text::check_characters(text, true)
        .map_err(|e| report_invalid(format!("{what} {}", e.describe())))
}

impl Core {
    /// Files a citizen's report of an error in one of their own records (a record of the
    /// dataset that names them in a `citizen-id` field): it reaches the owning agency.
    /// Audited as `subject.report` on their tracker.
    pub fn report_error(
        &self,
        cap: &SubjectRead,
        draft: ErrorReportDraft,
        now: DateTime<Utc>,
    ) -> Result<ndx_types::report::ErrorReport> {
        if cap.actor.is_some() {
            return Err(Error::of(
                crate::error::Code::NotYourData,
                "only the data subject reports an error in their data",
            ));
        }
        check_text("the description", &draft.description, true)?;
        if let Some(p) = &draft.proposed {
            check_text("the proposed value", p, false)?;
        }
        let schema = self.schema(&draft.dataset, None)?;
        let not_yours = || {
            Error::of(
                crate::error::Code::NotYourData,
                format!(
                    "record {:?} of {:?} is not one of yours",
                    draft.key, draft.dataset
                ),
            )
        };
        let version = self
            .store
            .records()
            .record(&schema.dataset, &draft.key, None)?
            .ok_or_else(not_yours)?;
        let data: Map<String, Value> = match &version.body {
            Some(body) => serde_json::from_str(body)
                .map_err(|e| Error::internal(format!("a stored record is not JSON: {e}")))?,
            None => return Err(not_yours()),
        };
        let names_citizen = schema
            .fields
            .iter()
            .filter(|f| f.element == CITIZEN_ID)
            .any(|f| data.get(&f.name).and_then(Value::as_str) == Some(cap.citizen_id()));
        if !names_citizen {
            return Err(not_yours());
        }
        if schema.field(&draft.field).is_none() {
            return Err(report_invalid(format!(
                "{:?} is not a field of {:?}",
                draft.field, draft.dataset
            )));
        }
        let mut token = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut token);
        let report = ndx_types::report::ErrorReport {
            id: format!("rpt-{}", hex::encode(token)),
            subject: cap.citizen_id().to_owned(),
            dataset: schema.dataset.clone(),
            owner: schema.owner.clone(),
            key: draft.key.clone(),
            current: data.get(&draft.field).map(text_of).unwrap_or_default(),
            field: draft.field,
            description: draft.description.trim().to_owned(),
            proposed: draft.proposed.filter(|p| !p.trim().is_empty()),
            status: ndx_types::report::ReportStatus::Open,
            reported_at: now,
            answer: None,
            settled_by: None,
            settled_at: None,
        };
        self.store.catalog().insert(&report, now)?;
        self.audit
            .event(cap, "subject.report")
            .dataset(Some(&report.dataset))
            .keys(vec![report.id.clone()])
            .subjects(vec![report.subject.clone()])
            .record()?;
        Ok(report)
    }

    /// The citizen's own reports, newest first.
    pub fn my_reports(&self, cap: &SubjectRead) -> Result<Vec<ndx_types::report::ErrorReport>> {
        let mut all = self
            .store
            .catalog()
            .find_values::<ndx_types::report::ErrorReport>(
                ndx_store::catalog::report::attr::SUBJECT,
                cap.citizen_id(),
            )?;
        all.sort_by_key(|r| std::cmp::Reverse(r.reported_at));
        Ok(all)
    }

    /// The reports on the caller's member's datasets (its providers'), open ones first, then
    /// newest first; reading them is audited with their subjects.
    pub fn agency_reports(
        &self,
        caller: &crate::access::Caller,
    ) -> Result<Audited<Vec<ndx_types::report::ErrorReport>>> {
        if !caller.has(ndx_types::registry::Role::Provider) {
            return Err(Error::of(
                crate::error::Code::RoleRequired,
                "error reports are settled by the owning agency's providers",
            ));
        }
        let mut all = self
            .store
            .catalog()
            .find_values::<ndx_types::report::ErrorReport>(
                ndx_store::catalog::report::attr::OWNER,
                &caller.member().code,
            )?;
        all.sort_by_key(|r| {
            (
                r.status != ndx_types::report::ReportStatus::Open,
                std::cmp::Reverse(r.reported_at),
            )
        });
        let mut subjects: Vec<String> = all.iter().map(|r| r.subject.clone()).collect();
        subjects.sort_unstable();
        subjects.dedup();
        let receipt = self
            .audit
            .event(caller, "report.list")
            .keys(all.iter().map(|r| r.id.clone()).collect())
            .subjects(subjects)
            .record()?;
        Ok(receipt.attach(all))
    }

    /// Settles an open report of the caller's member: `corrected` (the provider has loaded
    /// the right value) or declined, with an answer the citizen reads (required to decline).
    pub fn settle_report(
        &self,
        caller: &crate::access::Caller,
        id: &str,
        corrected: bool,
        answer: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<ndx_types::report::ErrorReport> {
        use ndx_types::report::{ErrorReport, ReportStatus};
        let found = self
            .store
            .catalog()
            .get::<ErrorReport>(id)?
            .filter(|r| {
                caller.has(ndx_types::registry::Role::Provider)
                    && r.value.owner == caller.member().code
            })
            .ok_or_else(|| {
                Error::of(
                    crate::error::Code::ReportNotFound,
                    format!("error report {id:?} does not exist or is not your agency's"),
                )
            })?;
        if found.value.status != ReportStatus::Open {
            return Err(Error::of(
                crate::error::Code::Conflict,
                format!("error report {id:?} is settled already"),
            ));
        }
        let answer = answer.filter(|a| !a.trim().is_empty());
        if let Some(a) = &answer {
            check_text("the answer", a, true)?;
        }
        if !corrected && answer.is_none() {
            return Err(report_invalid("declining a report gives the reason"));
        }
        let mut next = found.value.clone();
        next.status = if corrected {
            ReportStatus::Corrected
        } else {
            ReportStatus::Declined
        };
        next.answer = answer;
        next.settled_by = Some(caller.system().code.clone());
        next.settled_at = Some(now);
        self.store.catalog().update(&next, found.revision, now)?;
        self.audit
            .event(caller, "report.settle")
            .dataset(Some(&next.dataset))
            .keys(vec![next.id.clone()])
            .subjects(vec![next.subject.clone()])
            .record()?;
        Ok(next)
    }

    /// The agreements in force that release consent-bound fields, with the citizen's consent
    /// to each if given: what "my data" offers to grant or withdraw.
    pub fn consent_choices(
        &self,
        cap: &SubjectRead,
        now: DateTime<Utc>,
    ) -> Result<Vec<ConsentChoice>> {
        use ndx_types::exchange::{Agreement, AgreementStatus, Consent};
        let consents: Vec<Consent> = self.store.catalog().find_values::<Consent>(
            ndx_store::catalog::exchange::attr::SUBJECT,
            cap.citizen_id(),
        )?;
        let mut out = Vec::new();
        for agreement in self.store.catalog().values::<Agreement>()? {
            if agreement.status_at(now) != AgreementStatus::Approved {
                continue;
            }
            let schema = self.schema(&agreement.dataset, None)?;
            let fields: Vec<String> = agreement
                .fields
                .iter()
                .filter(|f| schema.field(f).is_some_and(|d| d.consent))
                .cloned()
                .collect();
            if fields.is_empty() {
                continue;
            }
            let consent = consents
                .iter()
                .filter(|c| c.agreement == agreement.id && c.withdrawn_at.is_none())
                .max_by_key(|c| c.granted_at)
                .cloned();
            out.push(ConsentChoice {
                agreement,
                fields,
                consent,
            });
        }
        Ok(out)
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
