//! Imports: a file a person of a provider uploads through the web UI, loaded as one batch of
//! the ingest service and kept in the catalogue ([`Import`]) with its counts and its rejected
//! rows. While it runs, the rows read so far are counted in this process, so that its page can
//! show progress; a provider comes back to a finished import's report at any time.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ndx_store::catalog::Page;
use ndx_store::catalog::import::attr;
use ndx_types::import::{Import, ImportCounts, ImportStatus, RejectedRow};
use ndx_types::registry::Role;

use crate::Core;
use crate::access::{Caller, DatasetWrite};
use crate::error::{Code, Error, Result};
use crate::ingest::{BatchStatus, IngestOptions, InputFormat, Mode};

/// Rejected rows kept per import.
const ROWS_KEPT: usize = 1000;
/// An import still `running` that this process is not reading and that started this long ago
/// was cut short by a stop of the server that read it.
const INTERRUPTED_AFTER: chrono::Duration = chrono::Duration::hours(2);

/// The rows read so far by the imports this process runs.
#[derive(Debug, Default)]
pub(crate) struct RunningImports {
    rows: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl RunningImports {
    fn start(&self, id: &str) -> Arc<AtomicU64> {
        let counter = Arc::new(AtomicU64::new(0));
        self.rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), counter.clone());
        counter
    }

    fn end(&self, id: &str) {
        self.rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    fn read_so_far(&self, id: &str) -> Option<u64> {
        self.rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .map(|c| c.load(Ordering::Relaxed))
    }
}

/// An import as its page shows it: the stored object and, while this process reads it, the
/// rows read so far.
#[derive(Debug, Clone)]
pub struct ImportView {
    /// The import.
    pub import: Import,
    /// Rows read so far, while it runs here.
    pub read_so_far: Option<u64>,
}

/// The format a file's name says it is in.
pub fn format_of_file(name: &str) -> Option<InputFormat> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        Some(InputFormat::Csv)
    } else if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
        Some(InputFormat::Ndjson)
    } else if lower.ends_with(".json") {
        Some(InputFormat::Json)
    } else {
        None
    }
}

fn upload_invalid(message: impl Into<String>) -> Error {
    Error::of(Code::UploadInvalid, message)
}

impl Core {
    /// Starts an import of `file_name` (`bytes` long) into `dataset` as `caller`, which must be
    /// allowed to load it (a refusal is audited). Returns the right to write and the stored
    /// import, `running`; [`Core::run_import`] reads the file.
    pub fn start_import(
        &self,
        caller: &Caller,
        dataset: &str,
        file_name: &str,
        bytes: u64,
        mode: Mode,
        now: DateTime<Utc>,
    ) -> Result<(DatasetWrite, Import)> {
        let schema = self.schema(dataset, None)?;
        let cap = caller
            .dataset_write(&schema)
            .map_err(|e| self.audit_refusal(caller, "records.write", Some(dataset), e))?;
        let name = file_name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(upload_invalid(
                "a file's name has 1 to 200 characters, none of them a control character",
            ));
        }
        if format_of_file(name).is_none() {
            return Err(upload_invalid(format!(
                "{name:?} is not a .csv, .ndjson, .jsonl or .json file"
            )));
        }
        let mut token = [0u8; 6];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut token);
        let import = Import {
            id: format!("web-{}-{}", now.format("%Y%m%dT%H%M%S"), hex::encode(token)),
            dataset: schema.dataset.clone(),
            owner: schema.owner.clone(),
            file_name: name.to_owned(),
            bytes,
            mode: match mode {
                Mode::Atomic => "atomic",
                Mode::PerRecord => "per-record",
            }
            .to_owned(),
            system: caller.system().code.clone(),
            by: caller.key_id.trim_start_matches("web:").to_owned(),
            started_at: now,
            finished_at: None,
            status: ImportStatus::Running,
            counts: ImportCounts::default(),
            rejected_rows: Vec::new(),
            rejected_truncated: false,
            failure: None,
        };
        self.store.catalog().insert(&import, now)?;
        self.imports_running.start(&import.id);
        Ok((cap, import))
    }

    /// Reads the file of a started import as one batch (its id is the batch id) and stores
    /// what it did. A file that cannot be read ends the import `failed`, with the reason.
    pub fn run_import(
        &self,
        cap: &DatasetWrite,
        started: Import,
        input: impl Read,
        now: DateTime<Utc>,
    ) -> Result<Import> {
        let counter = self
            .imports_running
            .rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&started.id)
            .cloned()
            .unwrap_or_default();
        let format = format_of_file(&started.file_name).unwrap_or(InputFormat::Csv);
        let mut opts = IngestOptions::new(format);
        opts.mode = if started.mode == "per-record" {
            Mode::PerRecord
        } else {
            Mode::Atomic
        };
        opts.batch_id = Some(started.id.clone());
        opts.max_listed_errors = ROWS_KEPT;
        let outcome = self.ingest(cap, input, &opts, now, &mut |p| {
            counter.store(p.received, Ordering::Relaxed)
        });
        let mut done = started.clone();
        done.finished_at = Some(Utc::now());
        match outcome {
            Ok(report) => {
                done.status = match report.status {
                    BatchStatus::Committed => ImportStatus::Committed,
                    BatchStatus::Rejected => ImportStatus::Rejected,
                };
                done.counts = ImportCounts {
                    received: report.received,
                    accepted: report.accepted,
                    rejected: report.rejected,
                    created: report.created,
                    updated: report.updated,
                    unchanged: report.unchanged,
                    deleted: report.deleted,
                };
                done.rejected_rows = report
                    .errors
                    .into_iter()
                    .map(|e| RejectedRow {
                        record: e.record,
                        line: e.line,
                        key: e.key,
                        field: e.field,
                        code: e.code,
                        message: e.message,
                    })
                    .collect();
                done.rejected_truncated = report.errors_truncated;
            }
            Err(e) => {
                done.status = ImportStatus::Failed;
                done.counts.received = counter.load(Ordering::Relaxed);
                done.failure = Some(format!("{}: {}", e.code.name(), e.message));
            }
        }
        let stored = self.store_finished_import(&done);
        self.imports_running.end(&started.id);
        stored?;
        Ok(done)
    }

    fn store_finished_import(&self, done: &Import) -> Result<()> {
        let catalog = self.store.catalog();
        let current = catalog
            .get::<Import>(&done.id)?
            .ok_or_else(|| Error::internal(format!("import {:?} vanished", done.id)))?;
        catalog.update(done, current.revision, Utc::now())?;
        Ok(())
    }

    fn may_see_imports(caller: &Caller, owner: &str) -> bool {
        caller.has(Role::Steward)
            || caller.has(Role::Operator)
            || (caller.has(Role::Provider) && caller.member().code == owner)
    }

    /// The imports of `dataset`, newest first, for its owner's providers, stewards and
    /// operators.
    pub fn imports(&self, caller: &Caller, dataset: &str) -> Result<Vec<ImportView>> {
        let schema = self.schema(dataset, None)?;
        if !Self::may_see_imports(caller, &schema.owner) {
            return Err(Error::of(
                Code::NotOwner,
                format!(
                    "the imports of {dataset:?} are for its owner {:?}'s providers",
                    schema.owner
                ),
            ));
        }
        let mut found: Vec<ImportView> = self
            .store
            .catalog()
            .find::<Import>(attr::DATASET, dataset, Page::ALL)?
            .into_iter()
            .map(|v| self.view_of(v.value))
            .collect();
        found.sort_by_key(|v| std::cmp::Reverse(v.import.started_at));
        Ok(found)
    }

    /// One import the caller may see.
    pub fn import(&self, caller: &Caller, id: &str) -> Result<ImportView> {
        match self.store.catalog().value::<Import>(id)? {
            Some(i) if Self::may_see_imports(caller, &i.owner) => Ok(self.view_of(i)),
            _ => Err(Error::of(
                Code::ImportNotFound,
                format!("import {id:?} does not exist or is not one of your member's"),
            )),
        }
    }

    fn view_of(&self, mut import: Import) -> ImportView {
        let read_so_far = self.imports_running.read_so_far(&import.id);
        if import.status == ImportStatus::Running
            && read_so_far.is_none()
            && Utc::now() - import.started_at > INTERRUPTED_AFTER
        {
            import.status = ImportStatus::Failed;
            import.failure = Some("interrupted: the server reading it stopped".into());
        }
        ImportView {
            import,
            read_so_far,
        }
    }
}
