//! The read services over the log: the citizen's data tracker (who accessed my data) and the
//! auditors' entries. Both record their own reading and hand their answer back as
//! [`Audited`].

use chrono::{DateTime, Utc};
use ndx_audit::AuditEvent;
use ndx_store::AuditEntry;

use super::{Actor, Audited, Outcome};
use crate::error::Code;
use crate::error::{Error, Result};

/// One access to a data subject's data, as their tracker shows it.
#[derive(Debug, Clone)]
pub struct SubjectAccessView {
    /// Leaf index of the audit entry (its inclusion can be proven).
    pub entry: u64,
    /// When.
    pub time: DateTime<Utc>,
    /// Who: the member agency and its system (absent for a citizen's own request).
    pub actor: Option<Actor>,
    /// What was done, e.g. `record.read`.
    pub operation: String,
    /// In which dataset.
    pub dataset: Option<String>,
    /// Which fields were returned.
    pub fields: Vec<String>,
    /// The declared purpose.
    pub purpose: Option<String>,
    /// The legal basis invoked.
    pub legal_basis: Option<String>,
    /// The sharing agreement it was decided under (exchange requests).
    pub agreement: Option<String>,
    /// Whether it was allowed, and why not.
    pub outcome: Outcome,
}

/// A page of a data subject's accesses, newest first.
#[derive(Debug, Clone)]
pub struct SubjectAccessPage {
    /// The accesses.
    pub accesses: Vec<SubjectAccessView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<u64>,
}

/// Largest page of the data tracker and of audit entries.
pub const MAX_AUDIT_PAGE: u64 = 1000;

impl crate::Core {
    /// The right to read one citizen's accesses, proven by the citizen's own token. A refusal
    /// (a forged token: 401; another citizen's accesses: 403, about that citizen, so it shows
    /// in their tracker) is recorded, counted per client and minute.
    pub fn citizen_subject_read(
        &self,
        token: &str,
        citizen_id: &str,
        request_id: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<crate::access::SubjectRead> {
        self.citizen_subject(token, citizen_id, request_id, client, "subject.accesses")
    }

    /// The right to act on one citizen's own data (`operation`, for the audit of a refusal),
    /// proven by the citizen's token: reading their accesses, granting or withdrawing consent.
    pub fn citizen_subject(
        &self,
        token: &str,
        citizen_id: &str,
        request_id: &str,
        client: Option<std::net::IpAddr>,
        operation: &'static str,
    ) -> Result<crate::access::SubjectRead> {
        let denial = |subject, refusal| {
            self.audit_denied(
                &super::Denial {
                    client,
                    claimed: "citizen-token",
                    operation,
                    subject,
                    request_id,
                },
                refusal,
            )
        };
        match self.audit.keys().citizen_of_token(token) {
            Some(owner) if owner == citizen_id => Ok(crate::access::SubjectRead::citizen(
                owner,
                request_id.to_owned(),
            )),
            Some(_) => Err(denial(
                Some(citizen_id),
                Error::of(
                    Code::NotYourData,
                    "a citizen token reads its own citizen's accesses only",
                ),
            )),
            None => Err(denial(
                None,
                Error::of(Code::TokenInvalid, "the citizen token is not valid"),
            )),
        }
    }

    /// Who accessed a citizen's data: newest first, `limit` at most, older than `before`. The
    /// reading is itself recorded (after the lookup, so it is not in its own answer).
    pub fn subject_accesses(
        &self,
        cap: &crate::access::SubjectRead,
        before: Option<u64>,
        limit: u64,
    ) -> Result<Audited<SubjectAccessPage>> {
        if limit == 0 || limit > MAX_AUDIT_PAGE {
            return Err(Error::of(
                Code::LimitInvalid,
                format!("limit must be between 1 and {MAX_AUDIT_PAGE}, found {limit}"),
            ));
        }
        let mut indexes =
            self.audit
                .subject_entries(&cap.citizen_id, before, limit as usize + 1)?;
        let more = indexes.len() as u64 > limit;
        indexes.truncate(limit as usize);
        let mut accesses = Vec::with_capacity(indexes.len());
        for &i in &indexes {
            let entry = self.audit.entries(i, i + 1)?.pop().ok_or_else(|| {
                Error::internal(format!("audit entry {i} is indexed but missing"))
            })?;
            let e = AuditEvent::from_canonical(&entry.bytes)
                .map_err(|e| Error::internal(format!("audit entry {i}: {e}")))?;
            accesses.push(SubjectAccessView {
                entry: i,
                time: e.time,
                actor: e.actor,
                operation: e.operation,
                dataset: e.dataset,
                fields: e.fields,
                purpose: e.purpose,
                legal_basis: e.legal_basis,
                agreement: e.agreement,
                outcome: e.outcome,
            });
        }
        let receipt = self
            .audit
            .event(cap, "subject.accesses")
            .query(Some(format!(
                "before={}&limit={limit}",
                before.map_or_else(String::new, |b| b.to_string())
            )))
            .subjects(vec![cap.citizen_id.clone()])
            .record()?;
        Ok(receipt.attach(SubjectAccessPage {
            next_before: if more { indexes.last().copied() } else { None },
            accesses,
        }))
    }

    /// Audit entries `start..end` (at most [`MAX_AUDIT_PAGE`]); the reading is recorded.
    pub fn audit_entries(
        &self,
        cap: &crate::access::AuditRead,
        start: u64,
        end: u64,
    ) -> Result<Audited<Vec<AuditEntry>>> {
        if end < start || end - start > MAX_AUDIT_PAGE {
            return Err(Error::of(
                Code::RangeInvalid,
                format!(
                    "entries {start}..{end}: end must be at least start and at most \
                     {MAX_AUDIT_PAGE} after it"
                ),
            ));
        }
        let entries = self.audit.entries(start, end)?;
        let receipt = self
            .audit
            .event(cap, "audit.entries")
            .query(Some(format!("start={start}&end={end}")))
            .record()?;
        Ok(receipt.attach(entries))
    }
}
