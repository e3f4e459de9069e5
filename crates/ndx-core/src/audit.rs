//! The audit log service: every access to data is recorded, durably, before it is answered.
//!
//! [`AuditLog::record`] hands an event to one appender thread and returns once the event is
//! committed. The appender takes whatever is queued (group commit: concurrent requests share one
//! transaction and one fsync), gives each event its leaf index, pushes the leaf hashes through
//! its [`Frontier`] and stores entries, the tree nodes they complete and the data-tracker rows
//! with [`Store::audit_append`]. After a group, and on a tick, it signs a tree head when the tree
//! has grown and the last head is at least [`HEAD_INTERVAL`] old. Roots and proofs are read from
//! the stored nodes with one store round trip each.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use ndx_audit::merkle::{self, Frontier, Hash, NodeReader, TreeError};
use ndx_audit::{AuditEvent, HeadSigner, SignedTreeHead};
use ndx_store::{AuditAppend, AuditEntry, AuditNode, Store, StoreError, StoredHead, SubjectAccess};
use sha2::Sha256;

use crate::error::{Error, Kind, Result};

pub use ndx_audit::{Actor, Outcome};

/// A signed head is produced at least this often while events arrive.
pub const HEAD_INTERVAL: Duration = Duration::from_secs(1);

/// Most events written in one transaction.
const MAX_GROUP: usize = 4096;

/// Longest a group waits for the callers of the previous group to come back.
const LINGER: Duration = Duration::from_micros(1000);

/// The clock the appender signs heads with (the binary passes the system clock, tests a fake).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The audit log's two secrets: the Ed25519 seed that signs tree heads, and the key of the
/// keyed hash that indexes data subjects (so the index never holds a citizen ID in clear) and
/// signs citizens' access tokens.
#[derive(Clone)]
pub struct AuditKeys {
    signing_seed: [u8; 32],
    subject_key: [u8; 32],
}

impl std::fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKeys").finish_non_exhaustive()
    }
}

/// Domain of the citizen-token MAC (the subject index uses its own).
const CITIZEN_TOKEN_DOMAIN: &[u8] = b"ndx-citizen-token\0";

/// File name of the head-signing seed in the data directory.
pub const SIGNING_KEY_FILE: &str = "audit-signing.key";
/// File name of the subject-index key in the data directory.
pub const SUBJECT_KEY_FILE: &str = "audit-subjects.key";

impl AuditKeys {
    /// Keys from known seeds (tests).
    pub fn from_seeds(signing_seed: [u8; 32], subject_key: [u8; 32]) -> Self {
        AuditKeys {
            signing_seed,
            subject_key,
        }
    }

    /// Reads the keys from `dir` (or the signing seed from `signing_file`), creating any that
    /// is missing from the operating system's random source, readable by the owner only.
    pub fn load_or_create(dir: &Path, signing_file: Option<&Path>) -> Result<Self> {
        let signing = signing_file.map_or_else(|| dir.join(SIGNING_KEY_FILE), Path::to_owned);
        Ok(AuditKeys {
            signing_seed: load_or_create_secret(&signing, signing_file.is_none())?,
            subject_key: load_or_create_secret(&dir.join(SUBJECT_KEY_FILE), true)?,
        })
    }

    /// The public key that verifies this log's heads.
    pub fn public_key(&self) -> [u8; 32] {
        HeadSigner::from_seed(self.signing_seed).public_key()
    }

    /// HMAC-SHA-256 under the subject key over `domain ‖ citizen_id`, not yet finalised.
    fn keyed(&self, domain: &[u8], citizen_id: &str) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.subject_key).expect("any key length");
        mac.update(domain);
        mac.update(citizen_id.as_bytes());
        mac
    }

    fn mac(&self, domain: &[u8], citizen_id: &str) -> [u8; 32] {
        self.keyed(domain, citizen_id)
            .finalize()
            .into_bytes()
            .into()
    }

    /// The keyed hash a data subject is indexed under.
    pub fn subject_hash(&self, citizen_id: &str) -> [u8; 32] {
        self.mac(b"ndx-subject\0", citizen_id)
    }

    /// The access token of a citizen for their own data tracker: `ndxc_<citizen id>.<mac>`.
    pub fn citizen_token(&self, citizen_id: &str) -> String {
        format!(
            "ndxc_{citizen_id}.{}",
            hex::encode(self.mac(CITIZEN_TOKEN_DOMAIN, citizen_id))
        )
    }

    /// The citizen a token belongs to, if it is genuine.
    pub fn citizen_of_token(&self, token: &str) -> Option<String> {
        let (citizen, tag) = token.strip_prefix("ndxc_")?.split_once('.')?;
        let tag = hex::decode(tag).ok()?;
        self.keyed(CITIZEN_TOKEN_DOMAIN, citizen)
            .verify_slice(&tag)
            .ok()?;
        Some(citizen.to_owned())
    }
}

fn key_error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::new(
        Kind::Internal,
        "audit-key",
        format!("audit key {}: {what}", path.display()),
    )
}

/// A 32-byte secret kept as hex in `path`; created when `create` and missing.
fn load_or_create_secret(path: &Path, create: bool) -> Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|e| key_error(path, e))?;
            bytes
                .try_into()
                .map_err(|_| key_error(path, "must hold 64 hex digits"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let mut seed = [0u8; 32];
            rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut seed)
                .map_err(|e| key_error(path, format!("no random source: {e}")))?;
            write_private(path, &format!("{}\n", hex::encode(seed)))?;
            // Another process may have created it first: whoever won, everybody uses the file.
            load_or_create_secret(path, false)
        }
        Err(e) => Err(key_error(path, e)),
    }
}

fn write_private(path: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| key_error(path, e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(content.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| key_error(path, e))?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(key_error(path, e)),
    }
}

/// An event made ready by the caller's thread (encoding and hashing run in parallel there;
/// the appender only orders and writes).
struct Prepared {
    bytes: Vec<u8>,
    leaf: Hash,
    /// Keyed hashes of its distinct data subjects.
    subjects: Vec<[u8; 32]>,
}

/// Answers of appended events by ticket: the appender fills in a whole group and wakes every
/// waiter with one broadcast (one wake-up call per group instead of one per event).
#[derive(Default)]
struct Answers {
    state: Mutex<AnswerState>,
    ready: Condvar,
}

#[derive(Default)]
struct AnswerState {
    by_ticket: HashMap<u64, Result<u64>>,
    /// The appender has stopped: nothing more will be answered.
    stopped: bool,
}

impl Answers {
    fn lock(&self) -> std::sync::MutexGuard<'_, AnswerState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn answer(&self, results: impl Iterator<Item = (u64, Result<u64>)>) {
        self.lock().by_ticket.extend(results);
        self.ready.notify_all();
    }

    fn wait(&self, ticket: u64) -> Result<u64> {
        let mut state = self.lock();
        loop {
            if let Some(r) = state.by_ticket.remove(&ticket) {
                return r;
            }
            if state.stopped {
                return Err(unavailable("the appender stopped"));
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// Marks the answers stopped when the appender thread ends, however it ends.
struct StopOnDrop(Arc<Answers>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.lock().stopped = true;
        self.0.ready.notify_all();
    }
}

enum Job {
    /// An event and the ticket its caller waits on.
    Append(Prepared, u64),
    /// Sign a head now if the tree grew since the last one.
    Sign(mpsc::SyncSender<Result<Option<SignedTreeHead>>>),
}

struct Shared {
    store: Store,
    keys: AuditKeys,
    clock: Clock,
    public_key: [u8; 32],
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    appender: Mutex<Option<std::thread::JoinHandle<()>>>,
    answers: Arc<Answers>,
    tickets: std::sync::atomic::AtomicU64,
}

/// The audit log of one store; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("public_key", &hex::encode(self.shared.public_key))
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::new(
        Kind::Unavailable,
        "audit-unavailable",
        format!("the audit log cannot be written, so nothing is answered: {e}"),
    )
}

/// Reads stored tree nodes one by one (used to restore the frontier at start).
struct StoredNodes<'a>(&'a Store);

impl NodeReader for StoredNodes<'_> {
    type Error = StoreError;

    fn leaf_count(&self) -> Result<u64, StoreError> {
        self.0.audit_size()
    }

    fn node(&self, level: u32, index: u64) -> Result<Hash, StoreError> {
        self.0.audit_nodes(&[(level, index)])?[0].ok_or_else(|| {
            StoreError::Incompatible(format!("audit tree node ({level}, {index}) is missing"))
        })
    }
}

/// The nodes of a proof, fetched in one round trip. Proofs read the same nodes whatever their
/// hashes, so a dry run that notes the addresses (answering zeros) tells what to fetch.
enum Prefetch {
    Recording {
        size: u64,
        wanted: RefCell<Vec<(u32, u64)>>,
    },
    Fetched {
        size: u64,
        nodes: HashMap<(u32, u64), Hash>,
    },
}

impl NodeReader for Prefetch {
    type Error = StoreError;

    fn leaf_count(&self) -> Result<u64, StoreError> {
        match self {
            Prefetch::Recording { size, .. } | Prefetch::Fetched { size, .. } => Ok(*size),
        }
    }

    fn node(&self, level: u32, index: u64) -> Result<Hash, StoreError> {
        match self {
            Prefetch::Recording { wanted, .. } => {
                wanted.borrow_mut().push((level, index));
                Ok([0; 32])
            }
            Prefetch::Fetched { nodes, .. } => {
                nodes.get(&(level, index)).copied().ok_or_else(|| {
                    StoreError::Incompatible(format!(
                        "audit tree node ({level}, {index}) is missing"
                    ))
                })
            }
        }
    }
}

fn tree_error(e: TreeError<impl std::fmt::Display>) -> Error {
    match e {
        TreeError::Read(e) => unavailable(e),
        other => Error::new(Kind::Invalid, "proof-range-invalid", other.to_string()),
    }
}

impl AuditLog {
    /// Opens the log of `store` and starts its appender thread.
    pub fn start(store: Store, keys: AuditKeys, clock: Clock) -> Result<AuditLog> {
        let size = store.audit_size()?;
        let frontier = Frontier::restore(size, &StoredNodes(&store)).map_err(|e| {
            Error::new(
                Kind::Internal,
                "audit-damaged",
                format!("the audit log cannot be reopened: {e}; run `ndx audit verify`"),
            )
        })?;
        let last_head = store.audit_latest_head()?;
        let signer = HeadSigner::from_seed(keys.signing_seed);
        let public_key = signer.public_key();
        let (tx, rx) = mpsc::channel();
        let answers = Arc::new(Answers::default());
        let appender = Appender {
            answers: answers.clone(),
            store: store.clone(),
            signer,
            frontier,
            last_head: last_head.map(|h| (h.tree_size, h.timestamp)),
            clock: clock.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("ndx-audit".into())
            .spawn(move || appender.run(rx))
            .map_err(|e| unavailable(format!("cannot start the appender: {e}")))?;
        Ok(AuditLog {
            shared: Arc::new(Shared {
                store,
                keys,
                clock: clock.clone(),
                public_key,
                jobs: Mutex::new(Some(tx)),
                appender: Mutex::new(Some(handle)),
                answers,
                tickets: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    fn send(&self, job: Job) -> Result<()> {
        let jobs = self.shared.jobs.lock().expect("audit queue poisoned");
        jobs.as_ref()
            .ok_or_else(|| unavailable("the log is closed"))?
            .send(job)
            .map_err(|_| unavailable("the appender stopped"))
    }

    /// Records `event` and returns its receipt (its leaf index) once it is durable.
    pub fn record(&self, event: AuditEvent) -> Result<Receipt> {
        let bytes = event.canonical_bytes();
        let mut subjects: Vec<[u8; 32]> = event
            .subjects
            .iter()
            .map(|s| self.shared.keys.subject_hash(s))
            .collect();
        subjects.sort_unstable();
        subjects.dedup();
        let prepared = Prepared {
            leaf: merkle::leaf_hash(&bytes),
            bytes,
            subjects,
        };
        let ticket = self
            .shared
            .tickets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.send(Job::Append(prepared, ticket))?;
        let index = self.shared.answers.wait(ticket)?;
        Ok(Receipt { index })
    }

    /// Signs a head now if the tree grew since the last one; returns the head signed.
    pub fn sign_head_now(&self) -> Result<Option<SignedTreeHead>> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Job::Sign(tx))?;
        rx.recv().map_err(|_| unavailable("the appender stopped"))?
    }

    /// Stops the appender after it has written what is queued and signed a last head.
    pub fn close(&self) {
        let tx = self
            .shared
            .jobs
            .lock()
            .expect("audit queue poisoned")
            .take();
        drop(tx);
        if let Some(h) = self
            .shared
            .appender
            .lock()
            .expect("audit appender poisoned")
            .take()
        {
            let _ = h.join();
        }
    }

    /// The keys (subject hashing, citizen tokens).
    pub fn keys(&self) -> &AuditKeys {
        &self.shared.keys
    }

    /// The public key that verifies this log's heads.
    pub fn public_key(&self) -> [u8; 32] {
        self.shared.public_key
    }

    /// The latest signed head, if any.
    pub fn latest_head(&self) -> Result<Option<SignedTreeHead>> {
        Ok(self.shared.store.audit_latest_head()?.map(head_of))
    }

    /// Signed heads from `from_size` on, ascending.
    pub fn heads(&self, from_size: u64, limit: usize) -> Result<Vec<SignedTreeHead>> {
        Ok(self
            .shared
            .store
            .audit_heads(from_size, limit)?
            .into_iter()
            .map(head_of)
            .collect())
    }

    /// Number of entries.
    pub fn size(&self) -> Result<u64> {
        Ok(self.shared.store.audit_size()?)
    }

    /// Entries `start..end` (clipped to the log). Not public: callers read entries through
    /// [`crate::Core::audit_entries`], which records the reading.
    pub(crate) fn entries(&self, start: u64, end: u64) -> Result<Vec<AuditEntry>> {
        Ok(self.shared.store.audit_entries(start, end)?)
    }

    /// Runs `compute` over the nodes it needs, fetched in one store round trip.
    fn with_nodes<T>(
        &self,
        tree_size: u64,
        compute: impl Fn(&Prefetch) -> std::result::Result<T, TreeError<StoreError>>,
    ) -> Result<T> {
        let stored = self.size()?;
        if tree_size > stored {
            return Err(Error::new(
                Kind::Invalid,
                "proof-range-invalid",
                format!("tree size {tree_size} is beyond the log's {stored} entries"),
            ));
        }
        let dry = Prefetch::Recording {
            size: tree_size,
            wanted: RefCell::new(Vec::new()),
        };
        compute(&dry).map_err(tree_error)?;
        let Prefetch::Recording { wanted, .. } = dry else {
            unreachable!("built as a recording")
        };
        let wanted = wanted.into_inner();
        let hashes = self.shared.store.audit_nodes(&wanted)?;
        let mut nodes = HashMap::with_capacity(wanted.len());
        for (addr, hash) in wanted.into_iter().zip(hashes) {
            let hash = hash.ok_or_else(|| {
                Error::new(
                    Kind::Internal,
                    "audit-damaged",
                    format!("audit tree node {addr:?} is missing; run `ndx audit verify`"),
                )
            })?;
            nodes.insert(addr, hash);
        }
        compute(&Prefetch::Fetched {
            size: tree_size,
            nodes,
        })
        .map_err(tree_error)
    }

    /// The root of the first `tree_size` entries.
    pub fn root_at(&self, tree_size: u64) -> Result<Hash> {
        self.with_nodes(tree_size, |r| merkle::root_at(r, tree_size))
    }

    /// The inclusion proof of entry `leaf_index` in the tree of `tree_size` entries.
    pub fn inclusion_proof(&self, leaf_index: u64, tree_size: u64) -> Result<Vec<Hash>> {
        self.with_nodes(tree_size, |r| {
            merkle::inclusion_proof(r, leaf_index, tree_size)
        })
    }

    /// The consistency proof between the trees of `first` and `second` entries.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>> {
        self.with_nodes(second, |r| merkle::consistency_proof(r, first, second))
    }

    /// Leaf indexes of the entries that touched `citizen_id`, newest first. Not public:
    /// callers read them through [`crate::Core::subject_accesses`], which records the reading.
    pub(crate) fn subject_entries(
        &self,
        citizen_id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>> {
        Ok(self.shared.store.subject_accesses(
            &self.shared.keys.subject_hash(citizen_id),
            before,
            limit,
        )?)
    }
}

fn head_of(h: StoredHead) -> SignedTreeHead {
    SignedTreeHead {
        tree_size: h.tree_size,
        timestamp: h.timestamp,
        root_hash: h.root_hash,
        signature: h.signature,
    }
}

struct Appender {
    answers: Arc<Answers>,
    store: Store,
    signer: HeadSigner,
    frontier: Frontier,
    /// Size and time of the last signed head.
    last_head: Option<(u64, DateTime<Utc>)>,
    clock: Clock,
}

impl Appender {
    fn run(mut self, jobs: mpsc::Receiver<Job>) {
        let _stop = StopOnDrop(self.answers.clone());
        // Events in the last group: how many callers are likely to come back at once.
        let mut expected = 1;
        loop {
            let first = match jobs.recv_timeout(HEAD_INTERVAL / 4) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.sign_if_due(false);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.sign_if_due(true);
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
                    let left = LINGER.saturating_sub(started.elapsed());
                    next = jobs.recv_timeout(left).ok();
                }
            }
            expected = events.len().max(1);
            if !events.is_empty() {
                match self.append(&events) {
                    Ok(first_index) => self.answers.answer(
                        waiters
                            .into_iter()
                            .enumerate()
                            .map(|(i, t)| (t, Ok(first_index + i as u64))),
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, events = events.len(), "audit append failed");
                        self.answers
                            .answer(waiters.into_iter().map(|t| (t, Err(unavailable(&e)))));
                    }
                }
            }
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
            match self.store.audit_append(&AuditAppend {
                entries: &entries,
                nodes: &nodes,
                subjects: &subjects,
            }) {
                Ok(()) => return Ok(first),
                Err(StoreError::Conflict(_)) => {
                    // Someone else appended: continue from the stored log.
                    let size = self.store.audit_size().map_err(|e| e.to_string())?;
                    self.frontier = Frontier::restore(size, &StoredNodes(&self.store))
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
            .map_err(|e| Error::new(Kind::Internal, "audit-clock", e.to_string()))?;
        let stored = StoredHead {
            tree_size: head.tree_size,
            timestamp: head.timestamp,
            root_hash: head.root_hash,
            signature: head.signature,
        };
        if let Err(e) = self.store.audit_put_head(&stored) {
            tracing::error!(error = %e, "signing an audit head failed");
            return Err(unavailable(e));
        }
        self.last_head = Some((head.tree_size, head.timestamp));
        Ok(Some(head))
    }
}

/// What every audit event of a request carries besides its operation.
pub(crate) struct EventParts<'a> {
    pub actor: Option<Actor>,
    pub request_id: &'a str,
    pub operation: &'a str,
    pub dataset: Option<&'a str>,
    pub keys: Vec<String>,
    pub query: Option<String>,
    pub fields: Vec<String>,
    pub subjects: Vec<String>,
    pub outcome: Outcome,
}

impl AuditLog {
    /// The time of the log's clock (the time events are stamped with).
    pub fn now(&self) -> DateTime<Utc> {
        (self.shared.clock)()
    }

    /// Records an event built from `parts`, stamped now (the ingest pipeline's events; read
    /// services use [`AuditLog::event`]).
    pub(crate) fn record_parts(&self, parts: EventParts<'_>) -> Result<u64> {
        let mut subjects = parts.subjects;
        subjects.sort();
        subjects.dedup();
        self.record(AuditEvent {
            actor: parts.actor,
            dataset: parts.dataset.map(str::to_owned),
            fields: parts.fields,
            keys: parts.keys,
            legal_basis: None,
            operation: parts.operation.to_owned(),
            outcome: parts.outcome,
            purpose: None,
            query: parts.query,
            request_id: parts.request_id.to_owned(),
            subjects,
            time: self.now(),
            v: AuditEvent::FORMAT_VERSION,
        })
        .map(|r| r.index)
    }

    /// Starts the event of `operation` done under capability `cap`: the capability names the
    /// actor, the request and the dataset, so no service spells them out by hand.
    pub(crate) fn event(&self, cap: &impl Audience, operation: &str) -> EventBuilder<'_> {
        EventBuilder {
            log: self,
            event: AuditEvent {
                actor: cap.audit_actor(),
                dataset: cap.audit_dataset().map(str::to_owned),
                fields: Vec::new(),
                keys: Vec::new(),
                legal_basis: None,
                operation: operation.to_owned(),
                outcome: allowed(None),
                purpose: None,
                query: None,
                request_id: cap.audit_request_id().to_owned(),
                subjects: Vec::new(),
                time: DateTime::<Utc>::MIN_UTC,
                v: AuditEvent::FORMAT_VERSION,
            },
        }
    }
}

/// What a capability (or a caller) tells the audit log about the request it serves: who acts,
/// in which request, on which dataset. Implemented by every capability type, so that
/// [`AuditLog::event`] builds an event from the capability alone.
pub(crate) trait Audience {
    /// Who acts (`None` for a citizen reading their own data).
    fn audit_actor(&self) -> Option<Actor>;
    /// The request.
    fn audit_request_id(&self) -> &str;
    /// The dataset the capability is for, if it is for one.
    fn audit_dataset(&self) -> Option<&str> {
        None
    }
}

/// An audit event under construction; [`EventBuilder::record`] writes it.
#[must_use = "an audit event is written only by `record`"]
pub(crate) struct EventBuilder<'a> {
    log: &'a AuditLog,
    event: AuditEvent,
}

impl EventBuilder<'_> {
    /// The dataset touched (when the capability does not name it).
    pub(crate) fn dataset(mut self, dataset: Option<&str>) -> Self {
        self.event.dataset = dataset.map(str::to_owned);
        self
    }
    /// The record keys (or registry ids) touched.
    pub(crate) fn keys(mut self, keys: Vec<String>) -> Self {
        self.event.keys = keys;
        self
    }
    /// The query, as the caller gave it.
    pub(crate) fn query(mut self, query: Option<String>) -> Self {
        self.event.query = query;
        self
    }
    /// The data subjects and the fields returned (see `Core::subjects_and_fields`).
    pub(crate) fn returned(mut self, (subjects, fields): (Vec<String>, Vec<String>)) -> Self {
        self.event.subjects = subjects;
        self.event.fields = fields;
        self
    }
    /// The data subjects touched.
    pub(crate) fn subjects(mut self, subjects: Vec<String>) -> Self {
        self.event.subjects = subjects;
        self
    }
    /// Why it was allowed (kept in the outcome).
    pub(crate) fn reason(mut self, reason: impl Into<String>) -> Self {
        self.event.outcome.reason = Some(reason.into());
        self
    }
    /// The operation was refused, for this reason.
    pub(crate) fn refused(mut self, refusal: &Error) -> Self {
        self.event.outcome = Outcome {
            allowed: false,
            reason: Some(format!("{}: {}", refusal.code, refusal.message)),
        };
        self
    }
    /// Stamps the event with the log's clock and records it durably.
    pub(crate) fn record(mut self) -> Result<Receipt> {
        self.event.subjects.sort();
        self.event.subjects.dedup();
        self.event.time = self.log.now();
        self.log.record(self.event)
    }
}

/// Proof that an audit event is durable: the leaf index it was written at. Only
/// [`AuditLog::record`] makes one, after the event is committed; it is not `Clone`, so one
/// event backs one answer.
///
/// A receipt cannot be made outside this module:
///
/// ```compile_fail
/// let forged = ndx_core::audit::Receipt { index: 0 };
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Receipt {
    index: u64,
}

impl Receipt {
    /// The leaf index of the event (its inclusion can be proven).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Hands `value` out under this receipt.
    pub(crate) fn attach<T>(self, value: T) -> Audited<T> {
        Audited {
            value,
            receipt: self,
        }
    }
}

/// Data a service hands back to a caller, with the receipt of the audit event that recorded
/// the access. Services that return record data or audit-log data return one of these, and the
/// only way to make one is [`Receipt::attach`] on a receipt from [`AuditLog::record`]: a service
/// that forgets to record its event does not compile. The HTTP edge takes the value out with
/// [`Audited::into_inner`].
///
/// An `Audited` value cannot be built without a receipt's `attach`:
///
/// ```compile_fail
/// fn forge(receipt: ndx_core::audit::Receipt) -> ndx_core::audit::Audited<u32> {
///     ndx_core::audit::Audited { value: 7, receipt }
/// }
/// ```
#[derive(Debug)]
#[must_use = "audited data is recorded as handed out: hand it out"]
pub struct Audited<T> {
    value: T,
    receipt: Receipt,
}

impl<T> Audited<T> {
    /// The data.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// The receipt of the event that recorded this access.
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    /// The data, to hand to the caller.
    pub fn into_inner(self) -> T {
        self.value
    }
}

/// The outcome of an allowed operation.
pub(crate) fn allowed(reason: Option<String>) -> Outcome {
    Outcome {
        allowed: true,
        reason,
    }
}

impl crate::Core {
    /// The data subjects of a read and the fields it returns: the citizen IDs in these record
    /// bodies (values of the dataset's citizen-ID fields), plus `key` when the dataset is keyed
    /// by a citizen ID alone (so that a lookup of a missing record still names its subject).
    pub(crate) fn subjects_and_fields<'b>(
        &self,
        schema: &ndx_types::dictionary::DatasetSchema,
        key: Option<&str>,
        bodies: impl Iterator<Item = &'b str>,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let compiled = self.compiled(schema)?;
        let subject_fields: Vec<&str> = compiled.subject_fields().collect();
        let mut subjects = Vec::new();
        let mut fields: Vec<String> = Vec::new();
        for body in bodies {
            let Ok(serde_json::Value::Object(map)) = serde_json::from_str(body) else {
                continue;
            };
            for (name, value) in &map {
                if !fields.contains(name) {
                    fields.push(name.clone());
                }
                if subject_fields.contains(&name.as_str())
                    && let Some(id) = value.as_str()
                {
                    subjects.push(id.to_owned());
                }
            }
        }
        if let (Some(key), [key_field]) = (key, schema.key.as_slice())
            && subject_fields.contains(&key_field.as_str())
        {
            subjects.push(key.to_owned());
        }
        Ok((subjects, fields))
    }

    /// Records that `caller` was refused `operation` (on `dataset`), then hands back the
    /// refusal; if the refusal cannot be recorded, that failure is returned instead.
    pub fn audit_refusal(
        &self,
        caller: &crate::access::Caller,
        operation: &str,
        dataset: Option<&str>,
        refusal: Error,
    ) -> Error {
        let recorded = self
            .audit
            .event(caller, operation)
            .dataset(dataset)
            .refused(&refusal)
            .record();
        match recorded {
            Ok(_) => refusal,
            Err(e) => e,
        }
    }
}

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
    /// The right to read one citizen's accesses, proven by the citizen's own token.
    pub fn citizen_subject_read(
        &self,
        token: &str,
        citizen_id: &str,
        request_id: &str,
    ) -> Result<crate::access::SubjectRead> {
        match self.audit.keys().citizen_of_token(token) {
            Some(owner) if owner == citizen_id => Ok(crate::access::SubjectRead::citizen(
                owner,
                request_id.to_owned(),
            )),
            Some(_) => Err(Error::forbidden(
                "not-your-data",
                "a citizen token reads its own citizen's accesses only",
            )),
            None => Err(Error::new(
                Kind::Unauthenticated,
                "token-invalid",
                "the citizen token is not valid",
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
            return Err(Error::invalid(
                "limit-invalid",
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
            return Err(Error::invalid(
                "range-invalid",
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
