//! Cross-checking a stored register against a reference register (capability 7): the caller's
//! own register (its member owns the target dataset) is read page by page as its owner reads
//! it, the reference is read as a bulk extract under the caller's agreement (so every released
//! record is decided, projected, consent-checked and on its citizen's tracker), and
//! `ndx-match` gives each target record one status. The run and its report are kept in the
//! catalogue (the report in parts of [`PART_ROWS`] rows); nothing in either register changes.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use ndx_match::{AddressInput, Config, Linker, PersonRecord};
use ndx_types::exchange::Operation;
use ndx_types::reconcile::{
    CorrectedField, Correction, Decision, PART_ROWS, Reconciliation, ReportPart, ReportRow,
    RowDifference, RunStatus, is_run_id,
};
use serde_json::{Map, Value};

use crate::Core;
use crate::access::{Caller, DatasetRead, ExchangeRead};
use crate::audit::Audited;
use crate::error::{Code, Error, Result};
use crate::exchange::EXTRACT_PAGE;
use ndx_types::registry::Role;

/// What to reconcile.
#[derive(Debug, Clone)]
pub struct ReconcileRequest {
    /// The caller's own register.
    pub target: String,
    /// The register to check it against, read under the caller's agreement.
    pub reference: String,
    /// The purpose stated (it must be the agreement's).
    pub purpose: Option<String>,
    /// The match probability from which a record without a usable key is `probable`
    /// (0.5–1, default 0.9).
    pub threshold: Option<f64>,
}

/// A started run and what it may read: [`Core::run_reconciliation`] carries it out.
#[derive(Debug)]
pub struct ReconcileJob {
    run: Reconciliation,
    target: DatasetRead,
    reference: ExchangeRead,
}

impl ReconcileJob {
    /// The run as started.
    pub fn run(&self) -> &Reconciliation {
        &self.run
    }
}

/// How long a run's lease lasts unless renewed: a run still `running` after it was stopped
/// with its process.
const RUN_LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// How often a running run's lease is renewed.
const RUN_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(15);

/// Target records read per page.
const TARGET_PAGE: usize = 1000;

fn text(data: &Map<String, Value>, field: &str) -> Option<String> {
    match data.get(field)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A stored record as the elements `ndx-match` compares: `citizen_id`, `full_name`,
/// `date_of_birth`, `sex`, and `address` or `street_address` + `ward_code` + `province_code`.
fn person(key: &str, data: &Map<String, Value>) -> PersonRecord {
    let address = match text(data, "address") {
        Some(t) => Some(AddressInput::Text(t)),
        None if data.contains_key("ward_code") || data.contains_key("province_code") => {
            Some(AddressInput::Codes {
                street: text(data, "street_address"),
                ward_code: text(data, "ward_code"),
                province_code: text(data, "province_code"),
            })
        }
        None => None,
    };
    PersonRecord {
        id: key.to_owned(),
        citizen_id: text(data, "citizen_id"),
        full_name: text(data, "full_name"),
        date_of_birth: text(data, "date_of_birth"),
        sex: text(data, "sex"),
        address,
    }
}

fn not_found(id: &str) -> Error {
    Error::of(
        Code::ReconciliationNotFound,
        format!("reconciliation {id:?} does not exist"),
    )
}

impl Core {
    /// Starts a reconciliation: the caller's member must own the target, and the caller's
    /// system must hold an agreement that allows `extract` of the reference for the stated
    /// purpose (refusals are audited and returned at once). The run is stored as `running`;
    /// [`Core::run_reconciliation`] carries it out.
    pub fn start_reconciliation(
        &self,
        caller: &Caller,
        request: &ReconcileRequest,
        now: DateTime<Utc>,
    ) -> Result<ReconcileJob> {
        // The request's shape first: a purpose stated (whether it is a known one is the
        // exchange decision's, after the datasets), a threshold in range.
        crate::exchange::stated_purpose(request.purpose.as_deref(), "a reconciliation")?;
        let threshold = request.threshold.unwrap_or(0.9);
        if !(0.5..=1.0).contains(&threshold) || threshold.is_nan() {
            return Err(Error::of(
                Code::ReconcileInputInvalid,
                format!("threshold {threshold} is outside 0.5–1"),
            ));
        }
        let schema = self.schema(&request.target, None)?;
        let target = caller
            .own_register(&schema, "cross-checking a register")
            .map_err(|e| self.audit_refusal(caller, "reconcile.start", Some(&request.target), e))?;
        let reference = self.exchange_access(
            caller,
            &request.reference,
            Operation::Extract,
            None,
            request.purpose.as_deref(),
            None,
            now,
        )?;
        let id = format!("rec-{}", crate::subscription::random_hex(8)?);
        let run = Reconciliation {
            id,
            member: caller.member().code.clone(),
            system: caller.system().code.clone(),
            target: request.target.clone(),
            reference: request.reference.clone(),
            agreement: reference.agreement().id.clone(),
            purpose: reference.agreement().purpose.clone(),
            threshold,
            status: RunStatus::Running,
            started_at: now,
            finished_at: None,
            error: None,
            targets: 0,
            references: 0,
            withheld: 0,
            statuses: BTreeMap::new(),
            findings: BTreeMap::new(),
            duplicates: 0,
            model: Vec::new(),
            parts: 0,
            lease_until: Some(now + RUN_LEASE),
        };
        self.store.catalog().insert(&run, now)?;
        self.audit
            .event(caller, "reconcile.start")
            .dataset(Some(&request.target))
            .keys(vec![run.id.clone()])
            .under(reference.agreement())
            .query(Some(format!("reference={}", request.reference)))
            .record()?;
        Ok(ReconcileJob {
            run,
            target,
            reference,
        })
    }

    /// Carries out a started run to its end: reads the target and the reference, decides,
    /// stores the report and the summary. A failure is stored on the run (status `failed`,
    /// no report) and returned.
    pub fn run_reconciliation(
        &self,
        job: ReconcileJob,
        clock: &dyn Fn() -> DateTime<Utc>,
    ) -> Result<Reconciliation> {
        let ReconcileJob {
            mut run,
            target,
            reference,
        } = job;
        // The lease is renewed while the work runs, and stops being renewed before the run's
        // end is written (so the two never race for the run's revision).
        let stop = (Mutex::new(false), Condvar::new());
        let run_id = run.id.clone();
        let result = std::thread::scope(|scope| {
            scope.spawn(|| self.hold_run(&run_id, &stop));
            let result = self.reconcile_into(&mut run, &target, &reference, clock);
            *stop.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
            stop.1.notify_all();
            result
        });
        run.lease_until = None;
        run.finished_at = Some(clock());
        if let Err(e) = &result {
            run.status = RunStatus::Failed;
            run.error = Some(e.to_string());
        }
        let stored = self
            .store
            .catalog()
            .get::<Reconciliation>(&run.id)?
            .ok_or_else(|| not_found(&run.id))?;
        self.store
            .catalog()
            .update(&run, stored.revision, clock())?;
        result.map(|()| run)
    }

    fn reconcile_into(
        &self,
        run: &mut Reconciliation,
        target: &DatasetRead,
        reference: &ExchangeRead,
        clock: &dyn Fn() -> DateTime<Utc>,
    ) -> Result<()> {
        let mut linker = Linker::new(Config {
            threshold: run.threshold,
            ..Config::default()
        });
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .list(target, &[], cursor.as_deref(), TARGET_PAGE)?
                .into_inner();
            for v in &page.records {
                let Some(body) = v.body.as_deref() else {
                    continue;
                };
                let data: Map<String, Value> = serde_json::from_str(body)
                    .map_err(|e| Error::internal(format!("stored record {:?}: {e}", v.key)))?;
                linker
                    .add_target(person(&v.key, &data))
                    .map_err(|e| Error::internal(format!("target {:?}: {e}", run.target)))?;
                run.targets += 1;
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut from = None;
        loop {
            let step = self.exchange_extract_page(reference, from, EXTRACT_PAGE, clock())?;
            let page = step.page.wait()?.into_inner();
            run.withheld += page.withheld;
            for r in &page.records {
                linker.add_reference(person(&r.key, &r.data));
                run.references += 1;
            }
            match step.next {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        let (outcomes, summary) = linker.finish();
        run.statuses = summary
            .by_status
            .iter()
            .map(|(s, n)| (s.as_str().to_owned(), *n as u64))
            .collect();
        run.findings = summary
            .by_finding
            .iter()
            .map(|(k, n)| (k.as_str().to_owned(), *n as u64))
            .collect();
        run.duplicates = summary.duplicates as u64;
        run.model = summary.model.describe();
        let mut rows = outcomes.into_iter().map(ReportRow::from).peekable();
        let mut number = 0u32;
        while rows.peek().is_some() {
            let part = ReportPart {
                run: run.id.clone(),
                number,
                rows: rows.by_ref().take(PART_ROWS).collect(),
            };
            self.store.catalog().insert(&part, clock())?;
            number += 1;
        }
        run.parts = number;
        run.status = RunStatus::Done;
        Ok(())
    }

    /// Renews a running run's lease every [`RUN_HEARTBEAT`] until `stop` is set.
    fn hold_run(&self, id: &str, stop: &(Mutex<bool>, Condvar)) {
        let mut stopped = stop.0.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let (guard, _) = stop
                .1
                .wait_timeout(stopped, RUN_HEARTBEAT)
                .unwrap_or_else(PoisonError::into_inner);
            stopped = guard;
            if *stopped {
                return;
            }
            let now = Utc::now();
            let renewed = self
                .store
                .catalog()
                .get::<Reconciliation>(id)
                .and_then(|stored| match stored {
                    Some(mut v) if v.value.status == RunStatus::Running => {
                        v.value.lease_until = Some(now + RUN_LEASE);
                        self.store
                            .catalog()
                            .update(&v.value, v.revision, now)
                            .map(|_| ())
                    }
                    _ => Ok(()),
                });
            if let Err(e) = renewed {
                tracing::warn!("reconciliation {id}: lease not renewed: {e}");
            }
        }
    }

    /// A run as it stands: one whose process stopped is settled as interrupted (and stored so).
    fn settled(&self, mut run: Reconciliation) -> Result<Reconciliation> {
        let now = Utc::now();
        if run.settle(now)
            && let Some(stored) = self.store.catalog().get::<Reconciliation>(&run.id)?
            && stored.value.status == RunStatus::Running
        {
            match self.store.catalog().update(&run, stored.revision, now) {
                // Renewed or finished meanwhile: what is stored now is the truth.
                Err(ndx_store::StoreError::Conflict(_)) => {
                    return self
                        .store
                        .catalog()
                        .value::<Reconciliation>(&run.id)?
                        .ok_or_else(|| not_found(&run.id));
                }
                other => {
                    other?;
                }
            }
        }
        Ok(run)
    }

    fn readable_run(&self, caller: &Caller, id: &str) -> Result<Reconciliation> {
        if !is_run_id(id) {
            return Err(not_found(id));
        }
        let run = self
            .store
            .catalog()
            .value::<Reconciliation>(id)?
            .ok_or_else(|| not_found(id))?;
        // Stewards act on every agency's reports (they decide corrections too).
        if run.member == caller.member().code
            || caller.has(Role::Operator)
            || caller.has(Role::Auditor)
            || caller.has(Role::Steward)
        {
            self.settled(run)
        } else {
            // Another member's run is not even said to exist.
            Err(not_found(id))
        }
    }

    /// The runs the caller may read (its member's; every run for operators, auditors and
    /// stewards), newest first.
    pub fn reconciliations(&self, caller: &Caller) -> Result<Vec<Reconciliation>> {
        let mut runs: Vec<Reconciliation> =
            if caller.has(Role::Operator) || caller.has(Role::Auditor) || caller.has(Role::Steward)
            {
                self.store.catalog().values::<Reconciliation>()?
            } else {
                self.store.catalog().find_values::<Reconciliation>(
                    ndx_store::catalog::reconcile::attr::MEMBER,
                    &caller.member().code,
                )?
            };
        runs.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
        runs.into_iter().map(|r| self.settled(r)).collect()
    }

    /// One run.
    pub fn reconciliation(&self, caller: &Caller, id: &str) -> Result<Reconciliation> {
        self.readable_run(caller, id)
    }

    /// Part `number` of a finished run's report, audited with the data subjects it names
    /// (the matched reference records' citizen IDs and the citizen IDs proposed as
    /// corrections).
    pub fn reconciliation_report_part(
        &self,
        caller: &Caller,
        id: &str,
        number: u32,
    ) -> Result<Audited<ReportPart>> {
        let run = self.readable_run(caller, id)?;
        if run.status != RunStatus::Done {
            return Err(Error::of(
                Code::ReconciliationNotDone,
                format!(
                    "reconciliation {id:?} is {:?}: it has no report",
                    run.status
                ),
            ));
        }
        if number >= run.parts {
            return Err(not_found(&ReportPart::id_of(id, number)));
        }
        let part = self
            .store
            .catalog()
            .value::<ReportPart>(&ReportPart::id_of(id, number))?
            .ok_or_else(|| not_found(&ReportPart::id_of(id, number)))?;
        let mut subjects: Vec<String> = part
            .rows
            .iter()
            .flat_map(|r| {
                r.reference_id.iter().cloned().chain(
                    r.differences
                        .iter()
                        .filter(|d| d.field == "citizen_id")
                        .map(|d| d.reference.clone()),
                )
            })
            .filter(|s| ndx_types::formats::parse_citizen_id(s).is_ok())
            .collect();
        subjects.sort_unstable();
        subjects.dedup();
        let receipt = self
            .audit
            .event(caller, "reconcile.report")
            .dataset(Some(&run.target))
            .keys(vec![ReportPart::id_of(id, number)])
            .subjects(subjects)
            .record()?;
        Ok(receipt.attach(part))
    }
}

/// A decision on the correction a report row proposes.
#[derive(Debug, Clone)]
pub struct CorrectionRequest {
    /// The target record (its key).
    pub target_id: String,
    /// Accept (write the reference's values) or reject.
    pub accept: bool,
    /// The fields to correct (default: every differing field the target's schema has).
    pub fields: Option<Vec<String>>,
    /// Why, in the steward's words.
    pub note: Option<String>,
}

/// How a reference value is written into the target's field: the report keeps the reference's
/// values as the target's elements read them (ISO dates, sex codes, the address in 2025
/// units), so they are written as they are.
fn corrected_value(difference: &RowDifference) -> Value {
    Value::String(difference.reference.clone())
}

impl Core {
    /// Decides the correction proposed by row `target_id` of a finished run: the target
    /// owner's providers and stewards decide. Accepting writes a new version of the target
    /// record with the reference's values of the chosen fields, in a batch named after the
    /// correction (so the version's lineage leads to it: the run, the reference record and
    /// the decision); rejecting only records the decision. Each row is decided once.
    pub fn decide_correction(
        &self,
        caller: &Caller,
        run_id: &str,
        request: &CorrectionRequest,
        now: DateTime<Utc>,
    ) -> Result<Correction> {
        if request
            .note
            .as_deref()
            .is_some_and(|n| n.chars().count() > 1000)
        {
            return Err(Error::of(
                Code::ReconcileInputInvalid,
                "a correction's note is at most 1,000 characters",
            ));
        }
        let run = self.readable_run(caller, run_id)?;
        let may_decide = caller.has(Role::Steward)
            || (caller.has(Role::Provider) && caller.member().code == run.member);
        if !may_decide {
            let e = Error::of(
                Code::RoleRequired,
                format!(
                    "corrections to {:?} are decided by its owner's providers and by stewards",
                    run.target
                ),
            );
            return Err(self.audit_refusal(caller, "reconcile.correction", Some(&run.target), e));
        }
        if run.status != RunStatus::Done {
            return Err(Error::of(
                Code::ReconciliationNotDone,
                format!(
                    "reconciliation {run_id:?} is {:?}: it proposes nothing",
                    run.status
                ),
            ));
        }
        let id = Correction::id_of(run_id, &request.target_id);
        if self.store.catalog().value::<Correction>(&id)?.is_some() {
            return Err(Error::of(
                Code::CorrectionDecided,
                format!(
                    "the correction of {:?} in {run_id:?} is already decided",
                    request.target_id
                ),
            ));
        }
        let row = self.report_row(&run, &request.target_id)?;
        let (Some(reference_id), false) = (row.reference_id.clone(), row.differences.is_empty())
        else {
            return Err(Error::of(
                Code::CorrectionNotApplicable,
                format!(
                    "record {:?} is {}: no correction is proposed for it",
                    request.target_id, row.status
                ),
            ));
        };
        let schema = self.schema(&run.target, None)?;
        let proposed: Vec<&RowDifference> = row
            .differences
            .iter()
            .filter(|d| schema.field(&d.field).is_some())
            .collect();
        let chosen: Vec<&RowDifference> = match &request.fields {
            None => proposed.clone(),
            Some(fields) => {
                let mut chosen = Vec::new();
                for f in fields {
                    match proposed.iter().find(|d| &d.field == f) {
                        Some(d) => chosen.push(*d),
                        None => {
                            return Err(Error::of(
                                Code::CorrectionNotApplicable,
                                format!(
                                    "record {:?}: no correction of field {f:?} is proposed (proposed: {})",
                                    request.target_id,
                                    proposed
                                        .iter()
                                        .map(|d| d.field.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            ));
                        }
                    }
                }
                chosen
            }
        };
        if request.accept && chosen.is_empty() {
            return Err(Error::of(
                Code::CorrectionNotApplicable,
                format!(
                    "record {:?}: no differing field is a field of {:?}",
                    request.target_id, run.target
                ),
            ));
        }
        // A batch id has a restricted alphabet; a record key has not.
        let batch_id = format!(
            "correction:{run_id}:{}",
            &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                request.target_id.as_bytes()
            ))[..16]
        );
        let mut version = None;
        if request.accept {
            let current = self
                .store
                .records()
                .record(&run.target, &request.target_id, None)?
                .and_then(|v| v.body)
                .ok_or_else(|| {
                    Error::of(
                        Code::RecordNotFound,
                        format!(
                            "record {:?} of {:?} no longer exists",
                            request.target_id, run.target
                        ),
                    )
                })?;
            let mut data: Map<String, Value> = serde_json::from_str(&current).map_err(|e| {
                Error::internal(format!("stored record {:?}: {e}", request.target_id))
            })?;
            for d in &chosen {
                data.insert(d.field.clone(), corrected_value(d));
            }
            let cap = crate::access::DatasetWrite {
                dataset: run.target.clone(),
                system: caller.system().code.clone(),
                actor: caller.actor(),
                request_id: caller.request_id.clone(),
            };
            let mut opts = crate::ingest::IngestOptions::new(crate::ingest::InputFormat::Ndjson);
            opts.batch_id = Some(batch_id.clone());
            let line = Value::Object(data).to_string();
            let report = self.ingest(&cap, line.as_bytes(), &opts, now, &mut |_| {})?;
            if report.status != crate::ingest::BatchStatus::Committed || report.rejected > 0 {
                return Err(Error::of(
                    Code::CorrectionNotApplicable,
                    format!(
                        "record {:?} with the reference's values does not validate against {:?}: {}",
                        request.target_id,
                        run.target,
                        report.rejection_message()
                    ),
                ));
            }
            version = self
                .store
                .records()
                .record(&run.target, &request.target_id, None)?
                .map(|v| v.version);
        }
        let correction = Correction {
            id,
            run: run_id.to_owned(),
            target: run.target.clone(),
            target_id: request.target_id.clone(),
            reference: run.reference.clone(),
            reference_id,
            decision: if request.accept {
                Decision::Accepted
            } else {
                Decision::Rejected
            },
            fields: chosen
                .iter()
                .map(|d| CorrectedField {
                    field: d.field.clone(),
                    kind: d.kind.clone(),
                    value: d.reference.clone(),
                })
                .collect(),
            note: request.note.clone(),
            decided_by: caller.system().code.clone(),
            decided_at: now,
            batch_id: request.accept.then_some(batch_id),
            version,
        };
        self.store.catalog().insert(&correction, now)?;
        let subjects: Vec<String> = [Some(correction.reference_id.clone())]
            .into_iter()
            .flatten()
            .filter(|s| ndx_types::formats::parse_citizen_id(s).is_ok())
            .collect();
        self.audit
            .event(caller, "reconcile.correction")
            .dataset(Some(&run.target))
            .keys(vec![request.target_id.clone()])
            .subjects(subjects)
            .reason(format!(
                "{} {} from {run_id}",
                if request.accept {
                    "accepted"
                } else {
                    "rejected"
                },
                correction
                    .fields
                    .iter()
                    .map(|f| f.field.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ))
            .record()?;
        Ok(correction)
    }

    /// The decided corrections of a run, in target order.
    pub fn corrections(&self, caller: &Caller, run_id: &str) -> Result<Vec<Correction>> {
        self.readable_run(caller, run_id)?;
        let mut list = self
            .store
            .catalog()
            .find_values::<Correction>(ndx_store::catalog::reconcile::attr::RUN, run_id)?;
        list.sort_by(|a, b| a.target_id.cmp(&b.target_id));
        Ok(list)
    }

    fn report_row(&self, run: &Reconciliation, target_id: &str) -> Result<ReportRow> {
        for number in 0..run.parts {
            let part = self
                .store
                .catalog()
                .value::<ReportPart>(&ReportPart::id_of(&run.id, number))?
                .ok_or_else(|| not_found(&ReportPart::id_of(&run.id, number)))?;
            if let Some(row) = part.rows.into_iter().find(|r| r.target_id == target_id) {
                return Ok(row);
            }
        }
        Err(Error::of(
            Code::RecordNotFound,
            format!("reconciliation {:?} has no record {target_id:?}", run.id),
        ))
    }
}
