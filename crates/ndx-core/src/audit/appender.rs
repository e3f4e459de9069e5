//! The appender thread: the one writer of the audit log. It takes whatever events are queued
//! (group commit: concurrent requests share one transaction and one fsync), gives each its leaf
//! index, pushes the leaf hashes through its [`Frontier`], stores entries, the tree nodes they
//! complete and the data-tracker rows with [`AuditStore::append`](ndx_store::AuditStore::append), answers each waiter of the
//! group (a thread or an async task), and signs a tree head when the tree has grown.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ndx_audit::merkle::{Frontier, Hash};
use ndx_audit::{HeadSigner, SignedTreeHead};
use ndx_store::{AuditAppend, AuditEntry, AuditNode, Store, StoreError, StoredHead, SubjectAccess};

use super::{Clock, HEAD_INTERVAL, StoredNodes, unavailable};
use crate::error::Code;
use crate::error::{Error, Result};

/// Most events written in one transaction.
const MAX_GROUP: usize = 4096;

/// Longest a group waits for the callers of the previous group to come back, by engine. On
/// SQLite lookups are answered in place and come back within a few hundred microseconds;
/// waiting longer only delayed the events already queued. On PostgreSQL a group's commit is a
/// round trip and a server commit, and larger groups pay: 1 ms there (BENCHMARKS.md,
/// "2026-12-08": 250 µs cost PostgreSQL a third of its lookups).
fn linger(engine: ndx_store::Engine) -> Duration {
    match engine {
        ndx_store::Engine::Sqlite => Duration::from_micros(250),
        ndx_store::Engine::Postgres => Duration::from_millis(1),
    }
}

/// Least time between two checkpoints of the log's write-ahead log (SQLite). About what
/// SQLite's own default (1,000 pages) comes to under a steady stream of audited reads, but
/// taken after a group's waiters are answered instead of inside its commit.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// The thread that checkpoints the log's write-ahead log while the appender goes on writing
/// (SQLite lets one checkpoint run beside the writer): a checkpoint's page copies and fsync
/// never hold up a group. It also folds the data tracker's log into sorted runs
/// (`AuditStore::fold_tracker`).
pub(super) struct Checkpointer {
    requests: Option<mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub(super) fn start(store: Store) -> std::io::Result<Checkpointer> {
        // One request waits at most: a request made while one waits is already served by it.
        let (requests, pending) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("ndx-audit-checkpoint".into())
            .spawn(move || {
                // Work the folder left at its budget is taken up at once, between requests.
                let mut more = false;
                loop {
                    let closed = if more {
                        matches!(pending.try_recv(), Err(mpsc::TryRecvError::Disconnected))
                    } else {
                        pending.recv().is_err()
                    };
                    if closed {
                        break;
                    }
                    if let Err(e) = store.audit().checkpoint() {
                        // The next request tries again.
                        tracing::warn!(error = %e, "checkpointing the audit log failed");
                    }
                    // The data tracker's log is folded into sorted runs here too, off the
                    // appender's thread, a chunk at a time beside its commits.
                    more = match store.audit().fold_tracker() {
                        Ok(r) => {
                            if r != ndx_store::FoldReport::default() {
                                tracing::debug!(?r, "folded the data tracker");
                            }
                            r.pending
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "folding the data tracker failed");
                            false
                        }
                    };
                }
            })?;
        Ok(Checkpointer {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    fn request(&self) {
        if let Some(requests) = &self.requests {
            let _ = requests.try_send(());
        }
    }

    /// Runs a last checkpoint and waits for the thread to end.
    fn finish(&mut self) {
        self.request();
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An event made ready by the caller's thread (encoding and hashing run in parallel there;
/// the appender only orders and writes).
pub(super) struct Prepared {
    pub(super) bytes: Vec<u8>,
    pub(super) leaf: Hash,
    /// Keyed hashes of its distinct data subjects.
    pub(super) subjects: Vec<[u8; 32]>,
}

/// Where the answer to one appended event lands: the appender fills it once the event's group
/// is committed (or failed), and wakes the one waiter — a thread blocked in [`Slot::wait`]
/// or a task polling [`Slot::poll`] — without waking anybody else's.
#[derive(Default)]
pub(super) struct Slot {
    state: Mutex<SlotState>,
    ready: Condvar,
}

#[derive(Default)]
struct SlotState {
    result: Option<Result<u64>>,
    waker: Option<Waker>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fill(&self, result: Result<u64>) {
        let waker = {
            let mut state = self.lock();
            state.result = Some(result);
            state.waker.take()
        };
        self.ready.notify_one();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Blocks until the event's group is committed; returns its leaf index.
    pub(super) fn wait(&self) -> Result<u64> {
        let mut state = self.lock();
        loop {
            if let Some(r) = state.result.take() {
                return r;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// The leaf index once the event's group is committed, without blocking the thread.
    pub(super) fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<u64>> {
        let mut state = self.lock();
        match state.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The appender's side of a slot. Dropped unanswered — the appender stopped, or the queue
/// was closed with the event still in it — it answers that the log is unavailable, so no
/// waiter is ever left hanging.
pub(super) struct Ticket(Option<Arc<Slot>>);

impl Ticket {
    pub(super) fn new(slot: Arc<Slot>) -> Ticket {
        Ticket(Some(slot))
    }

    fn answer(mut self, result: Result<u64>) {
        if let Some(slot) = self.0.take() {
            slot.fill(result);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.fill(Err(unavailable("the appender stopped")));
        }
    }
}

pub(super) enum Job {
    /// An event and the slot its caller waits on.
    Append(Prepared, Ticket),
    /// Sign a head now if the tree grew since the last one.
    Sign(mpsc::SyncSender<Result<Option<SignedTreeHead>>>),
}

pub(super) struct Appender {
    pub(super) store: Store,
    pub(super) signer: HeadSigner,
    pub(super) frontier: Frontier,
    /// Size and time of the last signed head.
    pub(super) last_head: Option<(u64, DateTime<Utc>)>,
    /// The last signed head not yet anchored in the data store (skipped while a batch held
    /// the store's writer): tried again on every tick.
    pub(super) unanchored: Option<(StoredHead, u64)>,
    /// Data-tracker rows of the entries written so far (anchored with each head).
    pub(super) subject_rows: u64,
    /// Refusals counted per client and minute: the appender writes a minute's counts once it
    /// is over, and what is left when the log closes.
    pub(super) denials: Arc<Mutex<super::denials::DenialTable>>,
    /// Hashes the data subjects of those events.
    pub(super) keys: super::AuditKeys,
    pub(super) clock: Clock,
    /// Checkpoints the log's write-ahead log beside the appender.
    pub(super) checkpointer: Checkpointer,
    /// When a checkpoint was last asked for, and whether a group was written since.
    pub(super) checkpointed: std::time::Instant,
    pub(super) unchecked: bool,
}

impl Appender {
    pub(super) fn run(mut self, jobs: mpsc::Receiver<Job>) {
        // Events in the last group: how many callers are likely to come back at once.
        let mut expected = 1;
        let linger = linger(self.store.engine());
        loop {
            let first = match jobs.recv_timeout(HEAD_INTERVAL / 4) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.write_denials(false);
                    let _ = self.sign_if_due(false);
                    self.anchor(false);
                    self.checkpoint(true);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.write_denials(true);
                    let _ = self.sign_if_due(true);
                    // The last head is anchored before the process ends: waiting is fine now.
                    self.anchor(true);
                    self.checkpointer.finish();
                    return;
                }
            };
            let mut events = Vec::new();
            let mut waiters = Vec::new();
            let mut signs = Vec::new();
            let mut next = Some(first);
            let started = std::time::Instant::now();
            while let Some(job) = next.take() {
                match job {
                    Job::Append(e, w) => {
                        events.push(e);
                        waiters.push(w);
                    }
                    Job::Sign(w) => signs.push(w),
                }
                if events.len() >= MAX_GROUP {
                    break;
                }
                next = jobs.try_recv().ok();
                // The callers of the last group are still waking up and sending: wait briefly
                // for as many as last time, so one commit serves them all.
                if next.is_none() && events.len() < expected {
                    let left = linger.saturating_sub(started.elapsed());
                    next = jobs.recv_timeout(left).ok();
                }
            }
            expected = events.len().max(1);
            if !events.is_empty() {
                match self.append(&events) {
                    Ok(first_index) => {
                        for (i, t) in waiters.into_iter().enumerate() {
                            t.answer(Ok(first_index + i as u64));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, events = events.len(), "audit append failed");
                        for t in waiters {
                            t.answer(Err(unavailable(&e)));
                        }
                    }
                }
            }
            self.checkpoint(false);
            if signs.is_empty() {
                let _ = self.sign_if_due(false);
            } else {
                let head = self.sign_if_due(true);
                for w in signs {
                    let _ = w.send(match &head {
                        Ok(h) => Ok(h.clone()),
                        Err(e) => Err(unavailable(e)),
                    });
                }
            }
        }
    }

    /// Writes a group; returns the first leaf index. Retries when another process appended
    /// first (PostgreSQL shared by several servers).
    fn append(&mut self, events: &[Prepared]) -> Result<u64, String> {
        let mut entries: Vec<AuditEntry> = events
            .iter()
            .map(|e| AuditEntry {
                index: 0,
                bytes: e.bytes.clone(),
            })
            .collect();
        for _ in 0..5 {
            let saved = self.frontier.clone();
            let first = self.frontier.size();
            let mut nodes = Vec::with_capacity(events.len() * 2);
            let mut subjects = Vec::new();
            for (i, (event, entry)) in events.iter().zip(&mut entries).enumerate() {
                entry.index = first + i as u64;
                for n in self.frontier.push(event.leaf) {
                    nodes.push(AuditNode {
                        level: n.level,
                        index: n.index,
                        hash: n.hash,
                    });
                }
                subjects.extend(event.subjects.iter().map(|&subject| SubjectAccess {
                    subject,
                    index: entry.index,
                }));
            }
            match self.store.audit().append(&AuditAppend {
                entries: &entries,
                nodes: &nodes,
                subjects: &subjects,
            }) {
                Ok(()) => {
                    self.subject_rows += subjects.len() as u64;
                    self.unchecked = true;
                    return Ok(first);
                }
                Err(StoreError::Conflict(_)) => {
                    // Someone else appended: continue from the stored log.
                    let size = self.store.audit().size().map_err(|e| e.to_string())?;
                    self.frontier = Frontier::restore(size, &StoredNodes(&self.store))
                        .map_err(|e| e.to_string())?;
                    self.subject_rows = self
                        .store
                        .audit()
                        .subject_count(size)
                        .map_err(|e| e.to_string())?;
                }
                Err(e) => {
                    self.frontier = saved;
                    return Err(e.to_string());
                }
            }
        }
        Err("the log kept changing under this appender".into())
    }

    /// Asks for a checkpoint of the log once its groups' waiters are answered: when the last
    /// one is older than [`CHECKPOINT_INTERVAL`], or whenever the log is idle.
    fn checkpoint(&mut self, idle: bool) {
        if !self.unchecked || (!idle && self.checkpointed.elapsed() < CHECKPOINT_INTERVAL) {
            return;
        }
        self.checkpointer.request();
        self.unchecked = false;
        self.checkpointed = std::time::Instant::now();
    }

    /// Writes the counts of refused requests of a minute that is over (of every minute when
    /// `all`, as the log closes). Nobody waits for these events.
    fn write_denials(&mut self, all: bool) {
        let events = {
            let mut table = self
                .denials
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if all {
                table.drain()
            } else {
                table.drain_if_over((self.clock)())
            }
        };
        if events.is_empty() {
            return;
        }
        let prepared: Vec<Prepared> = events
            .into_iter()
            .map(|event| {
                let bytes = event.canonical_bytes();
                let mut subjects: Vec<[u8; 32]> = event
                    .subjects
                    .iter()
                    .map(|s| self.keys.subject_hash(s))
                    .collect();
                subjects.sort_unstable();
                subjects.dedup();
                Prepared {
                    leaf: ndx_audit::merkle::leaf_hash(&bytes),
                    bytes,
                    subjects,
                }
            })
            .collect();
        if let Err(e) = self.append(&prepared) {
            tracing::error!(error = %e, "recording the counts of refused requests failed");
        }
    }

    /// Moves the data store's anchor to the last signed head, if it is not there yet. Without
    /// `wait` a busy data store (a batch holding its writer) is skipped: the next tick tries
    /// again, and the anchor is only older meanwhile, which "anchor ≤ log" allows.
    fn anchor(&mut self, wait: bool) {
        let Some((head, subjects)) = &self.unanchored else {
            return;
        };
        match self.store.audit().put_anchor(head, *subjects, wait) {
            Ok(true) => self.unanchored = None,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "anchoring the audit head in the data store failed")
            }
        }
    }

    /// Signs a head when the tree grew since the last one and the last is old enough (or
    /// `force`). Failures are logged: the next tick tries again.
    fn sign_if_due(&mut self, force: bool) -> Result<Option<SignedTreeHead>> {
        let size = self.frontier.size();
        let now = (self.clock)();
        let due = match self.last_head {
            None => size > 0,
            Some((last_size, at)) => {
                size > last_size
                    && (force
                        || now.signed_duration_since(at).to_std().unwrap_or_default()
                            >= HEAD_INTERVAL)
            }
        };
        if !due {
            return Ok(None);
        }
        let head = self
            .signer
            .sign(size, self.frontier.root(), now)
            .map_err(|e| Error::of(Code::AuditClock, e.to_string()))?;
        let stored = StoredHead {
            tree_size: head.tree_size,
            timestamp: head.timestamp,
            root_hash: head.root_hash,
            signature: head.signature,
        };
        if let Err(e) = self.store.audit().put_head(&stored) {
            tracing::error!(error = %e, "signing an audit head failed");
            return Err(unavailable(e));
        }
        self.last_head = Some((head.tree_size, head.timestamp));
        // Stored in the log first, anchored second: the anchor never gets ahead of the log.
        self.unanchored = Some((stored, self.subject_rows));
        self.anchor(false);
        Ok(Some(head))
    }
}
