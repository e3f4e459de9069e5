//! Connectors: keeping a dataset in step with a table of an agency's own database. The
//! lifecycle (add, list, show, remove; every change audited), and the runs: incremental by a
//! change column, or a snapshot comparison that also finds deletions. Every run is a sequence
//! of ordinary batches through [`Core::ingest`] (validation, versions, lineage, audit), so a
//! connector can write nothing a file import could not.
//!
//! The source is reached through [`SourceOpener`] / [`SourceReader`], implemented for
//! PostgreSQL and MariaDB/MySQL by `ndx-connect`: this module never sees SQL.
//!
//! Crash safety (see ARCHITECTURE.md, "Connectors"): before an incremental chunk is ingested
//! the state records it as `pending` with the cursor after it; a later run that finds it asks
//! the store whether that batch committed, and either moves the cursor or reads the chunk
//! again. A snapshot compares before it writes, so running it again after a crash writes only
//! what is still different.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use ndx_store::StoreError;
use ndx_store::catalog::{Page, Versioned};
use ndx_types::connector::{
    Connector, ConnectorRun, ConnectorState, Cursor, FOLDER_EXTENSIONS, Lease, MAX_LISTED_REJECTED,
    PendingChunk, RejectedRow, RunKind, RunStatus, SourceSpec,
};
use ndx_types::dictionary::DatasetSchema;
use ndx_types::registry::{Role, System};
use ndx_types::validate::{CompiledSchema, RawValue};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Core;
use crate::access::{Caller, DatasetWrite};
use crate::error::{Code, Error, Result};
use crate::ingest::{IngestOptions, IngestReport, InputFormat, Mode, OP_FIELD};

/// One source row: column name → value, typed by the source server.
pub type Row = Map<String, Value>;

/// What a reader reads: the table, its columns, the key columns (in the schema's key order)
/// and the change column.
#[derive(Debug, Clone)]
pub struct SourceQuery {
    /// Table or view, maybe schema-qualified.
    pub table: String,
    /// Every column to read.
    pub columns: Vec<String>,
    /// The key columns.
    pub key: Vec<String>,
    /// The change column.
    pub change: Option<String>,
}

impl SourceQuery {
    /// A row's key columns' values, in key order (`NULL` for a missing one).
    pub fn key_of(&self, row: &Row) -> Vec<Value> {
        self.key
            .iter()
            .map(|k| row.get(k).cloned().unwrap_or(Value::Null))
            .collect()
    }

    /// The change column, and the columns an incremental read is ordered by: the change
    /// column, then the key columns.
    pub fn change_order(&self) -> Result<(String, Vec<String>)> {
        let change = self
            .change
            .clone()
            .ok_or_else(|| Error::internal("an incremental read without a change column"))?;
        let mut order = vec![change.clone()];
        order.extend(self.key.iter().cloned());
        Ok((change, order))
    }
}

/// A connection to a source database, reading pages of rows.
pub trait SourceReader: Send {
    /// Rows whose (change column, key columns) come after `after` (every row with a non-null
    /// change column when `None`), in that order, at most `limit`.
    fn after_change(
        &mut self,
        query: &SourceQuery,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Row>>;
    /// Rows whose key columns come after `after` (from the first when `None`), in key order,
    /// at most `limit`.
    fn after_key(
        &mut self,
        query: &SourceQuery,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Row>>;
}

/// Opens readers for source definitions (the drivers of `ndx-connect`).
pub trait SourceOpener: Send + Sync {
    /// A connection to the source, or `connector-source-unavailable`.
    fn open(&self, source: &SourceSpec) -> Result<Box<dyn SourceReader>>;
}

/// How long a run's lease lasts unless renewed (each chunk renews it), unless configured
/// ([`Core::with_connector_lease`]).
pub const DEFAULT_LEASE: Duration = Duration::seconds(120);
/// Runs kept per connector; older ones are deleted when a run starts.
pub const RUNS_KEPT: usize = 500;

/// This process, as a lease holder: host, process id and a random part (two processes of one
/// host, or a restarted one with a reused pid, never look alike).
pub(crate) fn holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        let mut random = [0u8; 8];
        // Without randomness the pid alone still tells processes of one host apart.
        let _ = rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut random);
        format!("{host}/{}/{}", std::process::id(), hex::encode(random))
    })
}

fn invalid(errors: Vec<ndx_types::dictionary::DefinitionError>) -> Error {
    Error::definition_faults(Code::ConnectorInvalid, errors)
}

fn not_found(id: &str) -> Error {
    Error::of(
        Code::ConnectorNotFound,
        format!("no connector {id:?} (or not one this key may see)"),
    )
}

/// A connector with its state, as its owner sees it.
#[derive(Debug, Clone)]
pub struct ConnectorView {
    /// The definition.
    pub connector: Versioned<Connector>,
    /// Its state.
    pub state: ConnectorState,
    /// Its latest run.
    pub last_run: Option<ConnectorRun>,
}

impl Core {
    /// Whether `caller` may manage connectors of `owner`'s datasets: the owner's providers.
    /// Operators and auditors may read them.
    fn connector_manager(&self, caller: &Caller, owner: &str, what: &str) -> Result<()> {
        if caller.has(Role::Provider) && caller.member().code == owner {
            return Ok(());
        }
        Err(Error::of(
            Code::NotOwner,
            format!("{what} is for the providers of the dataset's owner ({owner})"),
        ))
    }

    fn connector_reader(&self, caller: &Caller, c: &Connector) -> Result<()> {
        let reads_all = caller.has(Role::Operator) || caller.has(Role::Auditor);
        if reads_all || (caller.has(Role::Provider) && caller.member().code == c.owner) {
            Ok(())
        } else {
            Err(not_found(&c.id))
        }
    }

    /// Adds a connector: checked against the dataset's schema and the owner's systems.
    pub fn add_connector(
        &self,
        caller: &Caller,
        mut draft: Connector,
        now: DateTime<Utc>,
    ) -> Result<Connector> {
        let schema = self.schema(&draft.dataset, None)?;
        if let Err(e) = self.connector_manager(caller, &schema.owner, "adding a connector") {
            return Err(self.audit_refusal(caller, "connector.create", Some(&schema.dataset), e));
        }
        draft.owner = schema.owner.clone();
        draft.check(&schema).map_err(invalid)?;
        if let Some(dir) = draft.folder() {
            self.check_drop_folder(dir)?;
        }
        let system = self.store.catalog().value::<System>(&draft.system)?;
        if system.as_ref().is_none_or(|s| s.member != schema.owner) {
            return Err(invalid(vec![ndx_types::dictionary::DefinitionError {
                code: "system-unknown",
                path: "system".into(),
                message: format!(
                    "{:?} is not a system of {:?}, the dataset's owner",
                    draft.system, schema.owner
                ),
            }]));
        }
        let state = ConnectorState {
            connector: draft.id.clone(),
            ..ConnectorState::default()
        };
        self.store
            .catalog()
            .transaction(|tx| {
                tx.insert(&draft, now)?;
                tx.insert(&state, now)?;
                Ok(())
            })
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::of(
                    Code::ConnectorExists,
                    format!("connector {:?} exists", draft.id),
                ),
                e => e.into(),
            })?;
        self.audit
            .event(caller, "connector.create")
            .dataset(Some(&draft.dataset))
            .keys(vec![draft.id.clone()])
            .record()?;
        Ok(draft)
    }

    /// A folder connector's folder lies under the drop root; it is created if missing.
    fn check_drop_folder(&self, dir: &str) -> Result<()> {
        let refuse = |why: String| {
            invalid(vec![ndx_types::dictionary::DefinitionError {
                code: "source-url",
                path: "source.url".into(),
                message: why,
            }])
        };
        let Some(root) = &self.drop_root else {
            return Err(refuse(
                "this node has no drop root: folder connectors are off".into(),
            ));
        };
        let path = std::path::Path::new(dir);
        if !path.starts_with(root) || path == root.as_path() {
            return Err(refuse(format!(
                "a folder must lie under the drop root {} (setting drop_root)",
                root.display()
            )));
        }
        std::fs::create_dir_all(path).map_err(|e| {
            Error::of(
                Code::ConnectorSourceUnavailable,
                format!("folder {dir} cannot be created: {e}"),
            )
        })
    }

    /// The connectors `caller` may see: its member's, or all for operators and auditors.
    pub fn connectors(&self, caller: &Caller) -> Result<Vec<ConnectorView>> {
        let mut out = Vec::new();
        for c in self.store.catalog().list::<Connector>(Page::ALL)? {
            if self.connector_reader(caller, &c.value).is_ok() {
                out.push(self.view(c)?);
            }
        }
        Ok(out)
    }

    fn view(&self, connector: Versioned<Connector>) -> Result<ConnectorView> {
        let state = self
            .store
            .catalog()
            .value::<ConnectorState>(&connector.value.id)?
            .unwrap_or_default();
        let last_run = match state.runs {
            0 => None,
            n => self
                .store
                .catalog()
                .value::<ConnectorRun>(&ConnectorRun::id_of(&connector.value.id, n))?,
        };
        Ok(ConnectorView {
            connector,
            state,
            last_run,
        })
    }

    fn visible_connector(&self, caller: &Caller, id: &str) -> Result<Versioned<Connector>> {
        let c = self
            .store
            .catalog()
            .get::<Connector>(id)?
            .ok_or_else(|| not_found(id))?;
        self.connector_reader(caller, &c.value)?;
        Ok(c)
    }

    /// One connector with its state and latest run.
    pub fn connector(&self, caller: &Caller, id: &str) -> Result<ConnectorView> {
        let c = self.visible_connector(caller, id)?;
        self.view(c)
    }

    /// Removes a connector, its state and its runs (the batches it wrote stay, as does the
    /// audit log's account of them). Refused while a run holds its lease.
    pub fn remove_connector(&self, caller: &Caller, id: &str, now: DateTime<Utc>) -> Result<()> {
        let c = self.visible_connector(caller, id)?;
        if let Err(e) = self.connector_manager(caller, &c.value.owner, "removing a connector") {
            return Err(self.audit_refusal(caller, "connector.remove", Some(&c.value.dataset), e));
        }
        let runs: Vec<Versioned<ConnectorRun>> =
            self.store
                .catalog()
                .find::<ConnectorRun>("connector", id, Page::ALL)?;
        self.store
            .catalog()
            .transaction(|tx| {
                if let Some(state) = tx.get::<ConnectorState>(id)? {
                    if let Some(lease) = state.value.lease.as_ref().filter(|l| l.until > now) {
                        return Err(StoreError::Conflict(format!(
                            "run {} holds the connector until {}",
                            lease.run, lease.until
                        )));
                    }
                    tx.delete::<ConnectorState>(id, state.revision, now)?;
                }
                for r in &runs {
                    tx.delete::<ConnectorRun>(&run_id(r), r.revision, now)?;
                }
                tx.delete::<Connector>(id, c.revision, now)
            })
            .map_err(|e| match e {
                StoreError::Conflict(m) => Error::of(Code::ConnectorBusy, m),
                e => e.into(),
            })?;
        self.audit
            .event(caller, "connector.remove")
            .dataset(Some(&c.value.dataset))
            .keys(vec![id.to_owned()])
            .record()?;
        Ok(())
    }

    /// A connector's runs, newest first, at most `limit`.
    pub fn connector_runs(
        &self,
        caller: &Caller,
        id: &str,
        limit: usize,
    ) -> Result<Vec<ConnectorRun>> {
        self.visible_connector(caller, id)?;
        let page = Page {
            after: None,
            limit: Some(limit),
            descending: true,
        };
        Ok(self
            .store
            .catalog()
            .find::<ConnectorRun>("connector", id, page)?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// One run of a connector.
    pub fn connector_run(&self, caller: &Caller, id: &str, number: u64) -> Result<ConnectorRun> {
        self.visible_connector(caller, id)?;
        self.store
            .catalog()
            .value::<ConnectorRun>(&ConnectorRun::id_of(id, number))?
            .ok_or_else(|| {
                Error::of(
                    Code::ConnectorRunNotFound,
                    format!("connector {id:?} has no run {number}"),
                )
            })
    }

    /// Starts a run asked for by `caller` (the owner's providers, or an operator): takes the
    /// lease and records the run as running. [`Core::execute_connector_run`] does the work.
    pub fn start_connector_run(
        &self,
        caller: &Caller,
        id: &str,
        kind: Option<RunKind>,
        now: DateTime<Utc>,
    ) -> Result<ConnectorRun> {
        let c = self.visible_connector(caller, id)?;
        if !caller.has(Role::Operator)
            && let Err(e) = self.connector_manager(caller, &c.value.owner, "running a connector")
        {
            return Err(self.audit_refusal(caller, "connector.run", Some(&c.value.dataset), e));
        }
        self.begin_run(&c.value, kind, "manual", now)
    }

    /// The connectors whose schedule makes a run due at `now` (for `ndx serve`), each with the
    /// kind of run that is due.
    pub fn due_connectors(&self, now: DateTime<Utc>) -> Result<Vec<(Connector, RunKind)>> {
        let mut due = Vec::new();
        for c in self.store.catalog().values::<Connector>()? {
            let folder = c.folder().is_some();
            if c.schedule.is_none() && !folder {
                continue;
            }
            let state = self
                .store
                .catalog()
                .value::<ConnectorState>(&c.id)?
                .unwrap_or_default();
            if state.lease.as_ref().is_some_and(|l| l.until > now) {
                continue;
            }
            // A folder is watched at every tick: a run is due when a file waits.
            if folder {
                if waiting_file(&c, now).ok().flatten().is_some() {
                    due.push((c, RunKind::Snapshot));
                }
                continue;
            }
            let Some(schedule) = c.schedule else { continue };
            let since = |t: Option<DateTime<Utc>>, secs: u64| {
                t.is_none_or(|t| now - t >= Duration::seconds(secs as i64))
            };
            let kind = match (&c.change_column, schedule.snapshot_every_seconds) {
                (None, _) => RunKind::Snapshot,
                (Some(_), Some(snap)) if since(state.last_snapshot_at, snap) => RunKind::Snapshot,
                (Some(_), _) => RunKind::Incremental,
            };
            if since(state.last_run_at, schedule.every_seconds) {
                due.push((c, kind));
            }
        }
        Ok(due)
    }

    /// Starts a scheduled run (see [`Core::due_connectors`]); `connector-busy` when another
    /// process took it first.
    pub fn start_scheduled_run(
        &self,
        connector: &Connector,
        kind: RunKind,
        now: DateTime<Utc>,
    ) -> Result<ConnectorRun> {
        self.begin_run(connector, Some(kind), "schedule", now)
    }

    fn begin_run(
        &self,
        c: &Connector,
        kind: Option<RunKind>,
        trigger: &str,
        now: DateTime<Utc>,
    ) -> Result<ConnectorRun> {
        let kind = match (kind, &c.change_column) {
            (Some(RunKind::Incremental), None) => {
                return Err(invalid(vec![ndx_types::dictionary::DefinitionError {
                    code: "change-column",
                    path: "kind".into(),
                    message: format!(
                        "connector {:?} has no change column: its runs are snapshots",
                        c.id
                    ),
                }]));
            }
            (Some(k), _) => k,
            (None, Some(_)) => RunKind::Incremental,
            (None, None) => RunKind::Snapshot,
        };
        let source_file = match c.folder() {
            None => None,
            Some(dir) => Some(waiting_file(c, now)?.ok_or_else(|| {
                Error::of(
                    Code::ConnectorNoFile,
                    format!(
                        "no file {}*.{{{}}} waits in {dir}",
                        c.source.table,
                        FOLDER_EXTENSIONS.join(",")
                    ),
                )
            })?),
        };
        let catalog = self.store.catalog();
        let run = catalog
            .transaction(|tx| {
                let Some(state) = tx.get::<ConnectorState>(&c.id)? else {
                    return Err(StoreError::NotFound(format!("connector {:?}", c.id)));
                };
                let mut s = state.value;
                if let Some(lease) = s.lease.as_ref().filter(|l| l.until > now) {
                    return Err(StoreError::Conflict(format!(
                        "run {} of connector {:?} is running (its lease lasts until {})",
                        lease.run, c.id, lease.until
                    )));
                }
                // A run whose lease ran out was stopped with its process.
                if let Some(lease) = s.lease.take()
                    && let Some(old) =
                        tx.get::<ConnectorRun>(&ConnectorRun::id_of(&c.id, lease.run))?
                    && old.value.status == RunStatus::Running
                {
                    let mut closed = old.value.clone();
                    closed.status = RunStatus::Interrupted;
                    closed.finished_at = Some(lease.until);
                    closed.error = Some("its process stopped before the run ended".into());
                    tx.update(&closed, old.revision, now)?;
                }
                s.runs += 1;
                s.lease = Some(Lease {
                    holder: holder().to_owned(),
                    run: s.runs,
                    until: now + self.connector_lease,
                });
                s.last_run_at = Some(now);
                if kind == RunKind::Snapshot {
                    s.last_snapshot_at = Some(now);
                }
                let run = ConnectorRun {
                    connector: c.id.clone(),
                    number: s.runs,
                    kind,
                    trigger: trigger.to_owned(),
                    status: RunStatus::Running,
                    started_at: now,
                    finished_at: None,
                    read: 0,
                    created: 0,
                    updated: 0,
                    unchanged: 0,
                    deleted: 0,
                    rejected: 0,
                    batches: Vec::new(),
                    cursor_from: s.cursor.clone(),
                    cursor_to: None,
                    error: None,
                    source_file: source_file.clone(),
                    rejected_rows: Vec::new(),
                    rejected_truncated: false,
                };
                tx.update(&s, state.revision, now)?;
                tx.insert(&run, now)?;
                Ok(run)
            })
            .map_err(|e| match e {
                StoreError::Conflict(m) => Error::of(Code::ConnectorBusy, m),
                StoreError::NotFound(_) => not_found(&c.id),
                e => e.into(),
            })?;
        self.prune_runs(&c.id, now);
        Ok(run)
    }

    /// Deletes runs beyond the newest [`RUNS_KEPT`] (best effort: a failure is logged).
    fn prune_runs(&self, id: &str, now: DateTime<Utc>) {
        let catalog = self.store.catalog();
        let pruned = catalog
            .find::<ConnectorRun>("connector", id, Page::ALL)
            .and_then(|mut runs| {
                if runs.len() <= RUNS_KEPT {
                    return Ok(());
                }
                runs.sort_by_key(|r| r.value.number);
                let old = runs.len() - RUNS_KEPT;
                catalog.transaction(|tx| {
                    for r in &runs[..old] {
                        tx.delete::<ConnectorRun>(&run_id(r), r.revision, now)?;
                    }
                    Ok(())
                })
            });
        if let Err(e) = pruned {
            tracing::warn!(connector = id, "old connector runs not pruned: {e}");
        }
    }

    /// Does the work of a started run on the calling thread (blocking: it reads the source and
    /// writes batches), records how it ended, releases the lease and audits the run. The run
    /// as it ended is returned; a failure is in its `status` and `error`.
    pub fn execute_connector_run(
        &self,
        id: &str,
        number: u64,
        sources: &dyn SourceOpener,
        clock: &dyn Fn() -> DateTime<Utc>,
    ) -> Result<ConnectorRun> {
        let catalog = self.store.catalog();
        let c = catalog
            .value::<Connector>(id)?
            .ok_or_else(|| not_found(id))?;
        let mut run = catalog
            .value::<ConnectorRun>(&ConnectorRun::id_of(id, number))?
            .ok_or_else(|| {
                Error::of(
                    Code::ConnectorRunNotFound,
                    format!("connector {id:?} has no run {number}"),
                )
            })?;
        let cap = DatasetWrite {
            dataset: c.dataset.clone(),
            system: c.system.clone(),
            actor: ndx_audit::entry::Actor {
                member: c.owner.clone(),
                system: c.system.clone(),
            },
            request_id: format!("connector.{id}.run.{number}"),
        };
        let mut runner = Runner {
            core: self,
            connector: &c,
            cap: &cap,
            run: &mut run,
            clock,
        };
        let outcome = runner.run(sources);
        let now = clock();
        run.finished_at = Some(now);
        match &outcome {
            Ok(()) => run.status = RunStatus::Succeeded,
            Err(e) => {
                run.status = RunStatus::Failed;
                run.error = Some(format!("{}: {}", e.code.name(), e.message));
            }
        }
        if let Some(e) = file_away(&c, &run) {
            tracing::warn!(
                connector = id,
                run = number,
                "the dropped file was not moved: {e}"
            );
        }
        let released = self.finish_run(&c, &run, now);
        let reason = format!(
            "{} run {} {}: read {}, created {}, updated {}, unchanged {}, deleted {}, rejected {}{}",
            match run.kind {
                RunKind::Incremental => "incremental",
                RunKind::Snapshot => "snapshot",
            },
            number,
            match run.status {
                RunStatus::Succeeded => "succeeded",
                _ => "failed",
            },
            run.read,
            run.created,
            run.updated,
            run.unchanged,
            run.deleted,
            run.rejected,
            run.error
                .as_ref()
                .map_or_else(String::new, |e| format!("; {e}"))
        );
        // A scheduled look that found nothing new read and wrote nothing: its run record says
        // so, and the audit log is not filled with one event every few seconds per connector.
        let idle = run.status == RunStatus::Succeeded && run.read == 0;
        let audited = if idle {
            Ok(())
        } else {
            self.audit
                .event(&cap, "connector.run")
                .keys(vec![id.to_owned()])
                .query(Some(format!("run={number}")))
                .reason(reason)
                .record()
                .map(|_| ())
        };
        released?;
        audited?;
        Ok(run)
    }

    /// Stores how a run ended and releases its lease (if it still holds it).
    fn finish_run(&self, c: &Connector, run: &ConnectorRun, now: DateTime<Utc>) -> Result<()> {
        self.store.catalog().transaction(|tx| {
            let id = ConnectorRun::id_of(&c.id, run.number);
            if let Some(stored) = tx.get::<ConnectorRun>(&id)? {
                tx.update(run, stored.revision, now)?;
            }
            if let Some(state) = tx.get::<ConnectorState>(&c.id)? {
                let mut s = state.value;
                if s.lease
                    .as_ref()
                    .is_some_and(|l| l.run == run.number && l.holder == holder())
                {
                    s.lease = None;
                    tx.update(&s, state.revision, now)?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// The catalogue id of a stored run.
fn run_id(r: &Versioned<ConnectorRun>) -> String {
    ConnectorRun::id_of(&r.value.connector, r.value.number)
}

/// The work of one run.
struct Runner<'a> {
    core: &'a Core,
    connector: &'a Connector,
    cap: &'a DatasetWrite,
    run: &'a mut ConnectorRun,
    clock: &'a dyn Fn() -> DateTime<Utc>,
}

/// A chunk of rows on its way into a batch: the CSV text and each row's source key.
struct Chunk {
    csv: csv::Writer<Vec<u8>>,
    keys: Vec<String>,
    /// Whether it has the `_op` column (snapshots delete).
    with_op: bool,
}

impl Runner<'_> {
    fn run(&mut self, sources: &dyn SourceOpener) -> Result<()> {
        let schema = self.core.schema(&self.connector.dataset, None)?;
        let compiled = self.core.compiled(&schema)?;
        let query = SourceQuery {
            table: self.connector.source.table.clone(),
            columns: self.connector.columns(),
            key: self.connector.key_columns(&schema),
            change: self.connector.change_column.clone(),
        };
        let mut reader: Box<dyn SourceReader> =
            match (self.connector.folder(), &self.run.source_file) {
                (Some(dir), Some(file)) => Box::new(FileReader::open(dir, file)?),
                (Some(_), None) => {
                    return Err(Error::internal("a folder run without its file"));
                }
                (None, _) => sources.open(&self.connector.source)?,
            };
        match self.run.kind {
            RunKind::Incremental => self.incremental(&query, reader.as_mut()),
            RunKind::Snapshot => self.snapshot(&schema, &compiled, &query, reader.as_mut()),
        }
    }

    /// Reads the state, checks the lease is still this run's, lets `change` edit it and
    /// writes it with a renewed lease.
    fn with_state<T>(&self, change: impl FnOnce(&mut ConnectorState) -> T) -> Result<T> {
        let now = (self.clock)();
        let catalog = self.core.store.catalog();
        let state = catalog
            .get::<ConnectorState>(&self.connector.id)?
            .ok_or_else(|| not_found(&self.connector.id))?;
        let mut s = state.value;
        let ours = s
            .lease
            .as_ref()
            .is_some_and(|l| l.run == self.run.number && l.holder == holder());
        if !ours {
            return Err(Error::of(
                Code::ConnectorBusy,
                format!(
                    "run {} lost its lease on connector {:?} (it ran out, or the connector was \
                     taken over)",
                    self.run.number, self.connector.id
                ),
            ));
        }
        let out = change(&mut s);
        if let Some(l) = s.lease.as_mut() {
            l.until = now + self.core.connector_lease;
        }
        catalog
            .update(&s, state.revision, now)
            .map_err(|e| match e {
                StoreError::Conflict(m) => Error::of(Code::ConnectorBusy, m),
                e => e.into(),
            })?;
        Ok(out)
    }

    /// Saves the run's counts so far (a reader of the run sees its progress).
    fn save_progress(&self) -> Result<()> {
        let now = (self.clock)();
        let catalog = self.core.store.catalog();
        let id = ConnectorRun::id_of(&self.connector.id, self.run.number);
        if let Some(stored) = catalog.get::<ConnectorRun>(&id)? {
            catalog.update(&*self.run, stored.revision, now)?;
        }
        Ok(())
    }

    fn incremental(&mut self, query: &SourceQuery, reader: &mut dyn SourceReader) -> Result<()> {
        let (change, _) = query.change_order()?;
        let dataset = self.connector.dataset.clone();
        let id = self.connector.id.clone();
        // A chunk written before the last run stopped: committed or not? The cursor is read
        // once here and kept in step below; each state write renews the lease.
        let (pending, mut cursor) = self.with_state(|s| (s.pending.clone(), s.cursor.clone()))?;
        if let Some(p) = pending {
            let committed = self
                .core
                .store
                .records()
                .batch(&dataset, &ConnectorState::batch_id(&id, p.batch))?
                .is_some();
            if committed {
                cursor = Some(p.cursor.clone());
            }
            self.with_state(|s| {
                s.cursor = cursor.clone();
                s.pending = None;
            })?;
            self.run.cursor_from = cursor.clone();
        }
        let limit = self.connector.batch_rows as usize;
        loop {
            let rows = reader.after_change(query, cursor.as_ref(), limit)?;
            let Some(last) = rows.last() else { break };
            let next = Cursor {
                change: last.get(&change).cloned().unwrap_or(Value::Null),
                key: query.key_of(last),
            };
            let full = rows.len() == limit;
            self.run.read += rows.len() as u64;
            let mut chunk = self.chunk(false)?;
            for row in &rows {
                self.push_row(&mut chunk, query, row)?;
            }
            let batch = self.with_state(|s| {
                s.batches += 1;
                s.pending = Some(PendingChunk {
                    batch: s.batches,
                    cursor: next.clone(),
                });
                s.batches
            })?;
            self.write_batch(chunk, batch)?;
            self.with_state(|s| {
                s.cursor = Some(next.clone());
                s.pending = None;
            })?;
            cursor = Some(next.clone());
            self.run.cursor_to = Some(next);
            self.save_progress()?;
            if !full {
                break;
            }
        }
        Ok(())
    }

    fn snapshot(
        &mut self,
        schema: &DatasetSchema,
        compiled: &CompiledSchema,
        query: &SourceQuery,
        reader: &mut dyn SourceReader,
    ) -> Result<()> {
        let dataset = self.connector.dataset.clone();
        // The dataset as it is: key → content hash.
        let mut current: HashMap<String, [u8; 32]> = HashMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .core
                .store
                .records()
                .list(&dataset, &[], after.as_deref(), 10_000)?;
            let Some(last) = page.last() else { break };
            after = Some(last.key.clone());
            for v in page {
                let mut hash = [0u8; 32];
                if hex::decode_to_slice(&v.content_hash, &mut hash).is_ok() {
                    current.insert(v.key, hash);
                }
            }
        }
        self.with_state(|_| ())?;
        let today = crate::ingest::validation_day((self.clock)());
        let limit = self.connector.batch_rows as usize;
        let mut chunk = self.chunk(true)?;
        let mut after_key: Option<Vec<Value>> = None;
        loop {
            let rows = reader.after_key(query, after_key.as_deref(), limit)?;
            let Some(last) = rows.last() else { break };
            after_key = Some(query.key_of(last));
            let full = rows.len() == limit;
            self.run.read += rows.len() as u64;
            for row in &rows {
                let texts = self.field_texts(compiled, row);
                let values: Vec<RawValue<'_>> = texts
                    .iter()
                    .map(|t| t.as_deref().map_or(RawValue::Absent, RawValue::Text))
                    .collect();
                match compiled.validate(&values, today) {
                    Ok(valid) => {
                        let hash: [u8; 32] = Sha256::digest(valid.canonical.as_bytes()).into();
                        if current.remove(&valid.key) == Some(hash) {
                            self.run.unchanged += 1;
                            continue;
                        }
                    }
                    Err(_) => {
                        // An invalid row is reported by the batch; its record is kept, not
                        // deleted as if the source had lost it.
                        if let Some(key) = compiled.raw_key(&values) {
                            current.remove(ndx_types::text::nfc(&key).as_ref());
                        }
                    }
                }
                self.push_row(&mut chunk, query, row)?;
                if chunk.keys.len() >= limit {
                    chunk = self.flush_snapshot_chunk(chunk)?;
                }
            }
            if !full {
                break;
            }
        }
        if self.run.read == 0 && self.run.source_file.is_some() && !current.is_empty() {
            return Err(Error::of(
                Code::ConnectorFileInvalid,
                "the file holds no row: as a complete export it would delete every record; \
                 refused"
                    .to_owned(),
            ));
        }
        // Keys the source no longer has.
        let mut gone: Vec<String> = current.into_keys().collect();
        gone.sort();
        for key in gone {
            let parts: Vec<&str> = key.splitn(schema.key.len(), '|').collect();
            let mut record = Vec::with_capacity(schema.fields.len() + 1);
            for f in self.fields() {
                match schema.key.iter().position(|k| k == f) {
                    Some(i) => record.push(parts.get(i).copied().unwrap_or("").to_owned()),
                    None => record.push(String::new()),
                }
            }
            record.push("delete".into());
            chunk.csv.write_record(&record).map_err(csv_error)?;
            chunk.keys.push(key);
            if chunk.keys.len() >= limit {
                chunk = self.flush_snapshot_chunk(chunk)?;
            }
        }
        if !chunk.keys.is_empty() {
            self.flush_snapshot_chunk(chunk)?;
        }
        self.save_progress()?;
        Ok(())
    }

    fn flush_snapshot_chunk(&mut self, chunk: Chunk) -> Result<Chunk> {
        let batch = self.with_state(|s| {
            s.batches += 1;
            s.batches
        })?;
        self.write_batch(chunk, batch)?;
        self.save_progress()?;
        self.chunk(true)
    }

    /// The mapped fields, in mapping order (the CSV header).
    fn fields(&self) -> impl Iterator<Item = &String> {
        self.connector.mapping.iter().map(|m| &m.field)
    }

    fn chunk(&self, with_op: bool) -> Result<Chunk> {
        let mut csv = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<&str> = self.fields().map(String::as_str).collect();
        if with_op {
            header.push(OP_FIELD);
        }
        csv.write_record(&header).map_err(csv_error)?;
        Ok(Chunk {
            csv,
            keys: Vec::new(),
            with_op,
        })
    }

    /// A row's values as field texts aligned with the compiled schema's fields.
    fn field_texts(&self, compiled: &CompiledSchema, row: &Row) -> Vec<Option<String>> {
        let mut texts = vec![None; compiled.len()];
        for m in &self.connector.mapping {
            if let Some(i) = compiled.field_index(&m.field) {
                texts[i] = row.get(&m.column).and_then(|v| Connector::field_text(m, v));
            }
        }
        texts
    }

    fn push_row(&self, chunk: &mut Chunk, query: &SourceQuery, row: &Row) -> Result<()> {
        let mut record: Vec<String> = self
            .connector
            .mapping
            .iter()
            .map(|m| {
                row.get(&m.column)
                    .and_then(|v| Connector::field_text(m, v))
                    .unwrap_or_default()
            })
            .collect();
        if chunk.with_op {
            record.push("upsert".into());
        }
        chunk.csv.write_record(&record).map_err(csv_error)?;
        chunk.keys.push(Connector::source_key(&query.key_of(row)));
        Ok(())
    }

    /// Ingests a chunk as batch `n` and adds its report to the run.
    fn write_batch(&mut self, chunk: Chunk, n: u64) -> Result<()> {
        let Chunk { csv, keys, .. } = chunk;
        let bytes = csv
            .into_inner()
            .map_err(|e| Error::internal(format!("a connector chunk: {e}")))?;
        let batch_id = ConnectorState::batch_id(&self.connector.id, n);
        let mut opts = IngestOptions::new(InputFormat::Csv);
        opts.mode = Mode::PerRecord;
        opts.batch_id = Some(batch_id.clone());
        opts.max_listed_errors = MAX_LISTED_REJECTED;
        let now = (self.clock)();
        let report = self
            .core
            .ingest(self.cap, bytes.as_slice(), &opts, now, &mut |_| {})?;
        self.tally(&report, &keys);
        self.run.batches.push(batch_id);
        Ok(())
    }

    fn tally(&mut self, report: &IngestReport, keys: &[String]) {
        let run = &mut *self.run;
        run.created += report.created;
        run.updated += report.updated;
        run.unchanged += report.unchanged;
        run.deleted += report.deleted;
        run.rejected += report.rejected;
        run.rejected_truncated |= report.errors_truncated;
        for e in &report.errors {
            if run.rejected_rows.len() >= MAX_LISTED_REJECTED {
                run.rejected_truncated = true;
                break;
            }
            let index = usize::try_from(e.record.saturating_sub(1)).unwrap_or(usize::MAX);
            let column = e.field.as_ref().and_then(|f| {
                self.connector
                    .mapping
                    .iter()
                    .find(|m| &m.field == f)
                    .map(|m| m.column.clone())
            });
            run.rejected_rows.push(RejectedRow {
                source_key: keys
                    .get(index)
                    .cloned()
                    .or_else(|| e.key.clone())
                    .unwrap_or_default(),
                column,
                field: e.field.clone(),
                code: e.code.clone(),
                message: e.message.clone(),
            });
        }
    }
}

fn csv_error(e: csv::Error) -> Error {
    Error::internal(format!("a connector chunk could not be written: {e}"))
}

/// The longest NDJSON line of a dropped file (as ingest's record limit).
const MAX_FILE_LINE: usize = 1 << 20;

/// Files younger than this may still be being written: they wait for the next look.
const FILE_SETTLE: Duration = Duration::seconds(2);

/// The oldest file waiting in a folder connector's folder: a regular file whose name starts
/// with the connector's `table` and ends with a known extension, last written at least
/// [`FILE_SETTLE`] before `now`.
fn waiting_file(c: &Connector, now: DateTime<Utc>) -> Result<Option<String>> {
    let Some(dir) = c.folder() else {
        return Ok(None);
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::of(
            Code::ConnectorSourceUnavailable,
            format!("folder {dir}: {e}"),
        )
    })?;
    let mut oldest: Option<(std::time::SystemTime, String)> = None;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ext_ok = name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| FOLDER_EXTENSIONS.contains(&ext));
        if !name.starts_with(&c.source.table) || !ext_ok {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let Ok(modified) = meta.modified() else {
            continue;
        };
        let settled = DateTime::<Utc>::from(modified) + FILE_SETTLE <= now;
        if !meta.is_file() || !settled {
            continue;
        }
        if oldest
            .as_ref()
            .is_none_or(|(t, n)| (modified, &name) < (*t, n))
        {
            oldest = Some((modified, name));
        }
    }
    Ok(oldest.map(|(_, n)| n))
}

/// Moves a folder run's file into `done/` (succeeded) or `failed/` with the run beside it as
/// JSON, named after the run so that a file dropped again under the same name never clashes.
/// An interrupted run leaves its file where it is: the next run imports it again (a snapshot is
/// idempotent). The error, if the file could not be moved.
fn file_away(c: &Connector, run: &ConnectorRun) -> Option<String> {
    let (dir, file) = (c.folder()?, run.source_file.as_ref()?);
    let sub = match run.status {
        RunStatus::Succeeded => "done",
        RunStatus::Failed => "failed",
        RunStatus::Running | RunStatus::Interrupted => return None,
    };
    let target = std::path::Path::new(dir).join(sub);
    let name = format!("{:06}-{file}", run.number);
    let moved = std::fs::create_dir_all(&target)
        .and_then(|()| std::fs::rename(std::path::Path::new(dir).join(file), target.join(&name)))
        .and_then(|()| {
            let json = serde_json::to_vec_pretty(run).map_err(std::io::Error::other)?;
            std::fs::write(target.join(format!("{name}.run.json")), json)
        });
    moved.err().map(|e| e.to_string())
}

/// A dropped file read as rows, a page at a time in file order: CSV with a header row (every
/// value text, an empty cell `NULL`), or NDJSON (one object per line, values as typed).
struct FileReader {
    rows: Box<dyn Iterator<Item = Result<Row>> + Send>,
}

fn file_invalid(file: &str, what: impl std::fmt::Display) -> Error {
    Error::of(Code::ConnectorFileInvalid, format!("file {file}: {what}"))
}

impl FileReader {
    fn open(dir: &str, file: &str) -> Result<FileReader> {
        let path = std::path::Path::new(dir).join(file);
        let f = std::fs::File::open(&path).map_err(|e| {
            Error::of(
                Code::ConnectorSourceUnavailable,
                format!("file {}: {e}", path.display()),
            )
        })?;
        let name = file.to_owned();
        let rows: Box<dyn Iterator<Item = Result<Row>> + Send> = if file.ends_with(".csv") {
            let mut csv = csv::ReaderBuilder::new().flexible(false).from_reader(f);
            let header: Vec<String> = csv
                .headers()
                .map_err(|e| file_invalid(&name, e))?
                .iter()
                .map(|h| h.trim_start_matches('\u{feff}').to_owned())
                .collect();
            if header.is_empty() || header.iter().all(String::is_empty) {
                return Err(file_invalid(&name, "no header row"));
            }
            Box::new(csv.into_records().map(move |r| {
                let r = r.map_err(|e| file_invalid(&name, e))?;
                Ok(header
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| {
                        let v = if v.is_empty() {
                            Value::Null
                        } else {
                            Value::String(v.to_owned())
                        };
                        (h.clone(), v)
                    })
                    .collect())
            }))
        } else {
            let mut lines = std::io::BufReader::new(f);
            let mut number = 0usize;
            Box::new(std::iter::from_fn(move || {
                use std::io::{BufRead, Read};
                loop {
                    number += 1;
                    let mut line = Vec::new();
                    let read = (&mut lines)
                        .take(MAX_FILE_LINE as u64 + 1)
                        .read_until(b'\n', &mut line);
                    match read {
                        Err(e) => return Some(Err(file_invalid(&name, e))),
                        Ok(0) => return None,
                        Ok(_) if line.len() > MAX_FILE_LINE => {
                            return Some(Err(file_invalid(
                                &name,
                                format!("line {number} is longer than {MAX_FILE_LINE} bytes"),
                            )));
                        }
                        Ok(_) if line.iter().all(u8::is_ascii_whitespace) => continue,
                        Ok(_) => {
                            return Some(match serde_json::from_slice::<Value>(&line) {
                                Ok(Value::Object(m)) => Ok(m),
                                _ => Err(file_invalid(
                                    &name,
                                    format!("line {number} is not a JSON object"),
                                )),
                            });
                        }
                    }
                }
            }))
        };
        Ok(FileReader { rows })
    }
}

impl SourceReader for FileReader {
    fn after_change(
        &mut self,
        _query: &SourceQuery,
        _after: Option<&Cursor>,
        _limit: usize,
    ) -> Result<Vec<Row>> {
        Err(Error::internal("a dropped file has no change column"))
    }

    /// The next `limit` rows of the file (a file is read once, in its order).
    fn after_key(
        &mut self,
        _query: &SourceQuery,
        _after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Row>> {
        self.rows.by_ref().take(limit).collect()
    }
}
