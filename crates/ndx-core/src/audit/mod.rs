//! The audit log service: every access to data is recorded, durably, before it is answered.
//!
//! [`AuditLog::record`] hands an event to one appender thread (`appender`) and returns its
//! [`Receipt`] once the event is committed. After a group, and on a tick, the appender signs a
//! tree head when the tree has grown and the last head is at least [`HEAD_INTERVAL`] old. Roots
//! and proofs are read from the stored nodes with one store round trip each. The secrets live
//! in `keys`; the citizen's tracker and the auditors' reads in `tracker`.
//!
//! Services build their events from their capability with `AuditLog::event` and hand data back
//! only as [`Audited`], which needs the receipt of a recorded event: audit before answer is
//! checked by the compiler.

mod appender;
mod denials;
mod keys;
mod tracker;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ndx_audit::merkle::{self, Frontier, Hash, NodeReader, TreeError};
use ndx_audit::{AuditEvent, HeadSigner, SignedTreeHead};
use ndx_store::{AuditEntry, Store, StoreError, StoredHead};

use crate::error::Code;
use crate::error::{Error, Result};
use appender::{Appender, Job, Prepared, Slot, Ticket};

pub use denials::{
    Denial, MAX_BUCKETS, MAX_BUCKETS_PER_CLIENT, claimed_identity, is_recorded_refusal,
};
pub use keys::{AuditKeys, SIGNING_KEY_FILE, SUBJECT_KEY_FILE, SubjectKey};
pub use ndx_audit::{Actor, Outcome};
pub use tracker::{MAX_AUDIT_PAGE, SubjectAccessPage, SubjectAccessView};

/// A signed head is produced at least this often while events arrive.
pub const HEAD_INTERVAL: Duration = Duration::from_secs(1);

/// The clock the appender signs heads with (the binary passes the system clock, tests a fake).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

struct Shared {
    store: Store,
    keys: AuditKeys,
    clock: Clock,
    public_key: [u8; 32],
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    appender: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Refusals without a capability, counted per client and minute (`denials`).
    denials: Arc<Mutex<denials::DenialTable>>,
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
    Error::of(
        Code::AuditUnavailable,
        format!("the audit log cannot be written, so nothing is answered: {e}"),
    )
}

/// Reads stored tree nodes one by one (used to restore the frontier at start).
struct StoredNodes<'a>(&'a Store);

impl NodeReader for StoredNodes<'_> {
    type Error = StoreError;

    fn leaf_count(&self) -> Result<u64, StoreError> {
        self.0.audit().size()
    }

    fn node(&self, level: u32, index: u64) -> Result<Hash, StoreError> {
        self.0.audit().nodes(&[(level, index)])?[0].ok_or_else(|| {
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
        other => Error::of(Code::ProofRangeInvalid, other.to_string()),
    }
}

impl AuditLog {
    /// Opens the log of `store` and starts its appender thread.
    pub fn start(store: Store, keys: AuditKeys, clock: Clock) -> Result<AuditLog> {
        let size = store.audit().size()?;
        let frontier = Frontier::restore(size, &StoredNodes(&store)).map_err(|e| {
            Error::of(
                Code::AuditDamaged,
                format!("the audit log cannot be reopened: {e}; run `ndx audit verify`"),
            )
        })?;
        let last_head = store.audit().latest_head()?;
        let signer = HeadSigner::from_seed(keys.signing_seed);
        let public_key = signer.public_key();
        let (anchored, anchored_rows) = check_anchor(&store, &public_key, size)?;
        let subject_rows = store.audit().subject_count(size)?;
        if let Some(anchored_rows) = anchored_rows {
            let indexed = if anchored == size {
                subject_rows
            } else {
                store.audit().subject_count(anchored)?
            };
            if indexed != anchored_rows {
                return Err(Error::of(
                    Code::AuditDamaged,
                    format!(
                        "the data tracker holds {indexed} rows for the first {anchored} entries \
                         but the data store anchors {anchored_rows}: rows of the subject index \
                         were deleted or inserted; the server does not start on it: run `ndx \
                         audit verify`"
                    ),
                ));
            }
        }
        // A head the log holds beyond the anchor (the anchor was skipped or lost in a crash)
        // is anchored by the appender's first tick.
        let unanchored = match last_head.clone() {
            Some(h)
                if h.tree_size > anchored
                    && ndx_audit::verify_head(&public_key, &head_of(h.clone())).is_ok() =>
            {
                let subjects = if h.tree_size == size {
                    subject_rows
                } else {
                    store.audit().subject_count(h.tree_size)?
                };
                Some((h, subjects))
            }
            _ => None,
        };
        let (tx, rx) = mpsc::channel();
        let denials = Arc::new(Mutex::new(denials::DenialTable::default()));
        let appender = Appender {
            store: store.clone(),
            signer,
            frontier,
            last_head: last_head.map(|h| (h.tree_size, h.timestamp)),
            unanchored,
            subject_rows,
            denials: denials.clone(),
            keys: keys.clone(),
            clock: clock.clone(),
            checkpointer: appender::Checkpointer::start(store.clone())
                .map_err(|e| unavailable(format!("cannot start the checkpointer: {e}")))?,
            checkpointed: std::time::Instant::now(),
            unchecked: false,
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
                denials,
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
        self.submit(event)?.wait()
    }

    /// Hands `event` to the appender and returns at once: the receipt comes when the event's
    /// group is committed, to a thread that waits or a task that awaits it (so that an async
    /// request does not hold a blocking thread while the group's fsync runs).
    pub fn submit(&self, event: AuditEvent) -> Result<PendingReceipt> {
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
        let slot = Arc::new(Slot::default());
        // A refused send drops the job, whose ticket then answers "unavailable".
        self.send(Job::Append(prepared, Ticket::new(slot.clone())))?;
        Ok(PendingReceipt { slot })
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
        Ok(self.shared.store.audit().latest_head()?.map(head_of))
    }

    /// Signed heads from `from_size` on, ascending.
    pub fn heads(&self, from_size: u64, limit: usize) -> Result<Vec<SignedTreeHead>> {
        Ok(self
            .shared
            .store
            .audit()
            .heads(from_size, limit)?
            .into_iter()
            .map(head_of)
            .collect())
    }

    /// Number of entries.
    pub fn size(&self) -> Result<u64> {
        Ok(self.shared.store.audit().size()?)
    }

    /// Entries `start..end` (clipped to the log). Not public: callers read entries through
    /// [`crate::Core::audit_entries`], which records the reading.
    pub(crate) fn entries(&self, start: u64, end: u64) -> Result<Vec<AuditEntry>> {
        Ok(self.shared.store.audit().entries(start, end)?)
    }

    /// Runs `compute` over the nodes it needs, fetched in one store round trip.
    fn with_nodes<T>(
        &self,
        tree_size: u64,
        compute: impl Fn(&Prefetch) -> std::result::Result<T, TreeError<StoreError>>,
    ) -> Result<T> {
        let stored = self.size()?;
        if tree_size > stored {
            return Err(Error::of(
                Code::ProofRangeInvalid,
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
        let hashes = self.shared.store.audit().nodes(&wanted)?;
        let mut nodes = HashMap::with_capacity(wanted.len());
        for (addr, hash) in wanted.into_iter().zip(hashes) {
            let hash = hash.ok_or_else(|| {
                Error::of(
                    Code::AuditDamaged,
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
        Ok(self.shared.store.audit().subject_accesses(
            &self.shared.keys.subject_hash(citizen_id),
            before,
            limit,
        )?)
    }
}

/// Checks the log against the anchor the data store keeps (the latest head it has seen): its
/// signature, a log at least that long, the same root recomputed from the stored nodes, and
/// the head itself still in the log. Returns the anchored size (0 when none is anchored yet)
/// and the number of data-tracker rows anchored with it (checked by the caller, which counts
/// them once).
fn check_anchor(store: &Store, public_key: &[u8; 32], size: u64) -> Result<(u64, Option<u64>)> {
    let damaged = |what: String| {
        Error::of(
            Code::AuditDamaged,
            format!("{what}; the server does not start on it: run `ndx audit verify`"),
        )
    };
    let (anchor, subjects) = match store.audit().anchor()? {
        ndx_store::AuditAnchor::Unset => return Ok((0, None)),
        ndx_store::AuditAnchor::Missing => {
            return Err(damaged(
                "the data store's audit anchor is missing (its row was deleted), so the audit \
                 log cannot be checked against the data"
                    .into(),
            ));
        }
        ndx_store::AuditAnchor::Head { head, subjects } => (head, subjects),
    };
    let n = anchor.tree_size;
    if ndx_audit::verify_head(public_key, &head_of(anchor.clone())).is_err() {
        return Err(damaged(format!(
            "the signed head of size {n} anchored in the data store does not verify with this \
             node's public key (forged anchor, or another signing key)"
        )));
    }
    // Another node on the same store (PostgreSQL) may have appended and anchored since `size`
    // was read: only a log still behind the anchor now is damaged.
    let size = if n > size {
        store.audit().size()?
    } else {
        size
    };
    if n > size {
        return Err(damaged(format!(
            "the audit log holds {size} entries but the data store anchors a signed head of \
             {n}: entries {size}..{n} were deleted (the log was truncated, deleted or replaced)"
        )));
    }
    let root = merkle::root_at(&StoredNodes(store), n).map_err(|e| {
        damaged(format!(
            "the tree of the first {n} entries cannot be read: {e}"
        ))
    })?;
    if root != anchor.root_hash {
        return Err(damaged(format!(
            "the audit log's root over its first {n} entries differs from the signed head the \
             data store anchors: an entry below {n} was rewritten, dropped or inserted"
        )));
    }
    let stored = store.audit().heads(n, 1)?;
    if stored.first() != Some(&anchor) {
        return Err(damaged(format!(
            "the signed head of size {n} that the data store anchors is missing from the audit \
             log: its heads were deleted or replaced"
        )));
    }
    Ok((n, Some(subjects)))
}

fn head_of(h: StoredHead) -> SignedTreeHead {
    SignedTreeHead {
        tree_size: h.tree_size,
        timestamp: h.timestamp,
        root_hash: h.root_hash,
        signature: h.signature,
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
            agreement: None,
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
                agreement: None,
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
    /// The exchange context: the agreement decided under (format 2), its purpose and its
    /// legal basis.
    pub(crate) fn under(mut self, agreement: &ndx_types::exchange::Agreement) -> Self {
        self.event.purpose = Some(agreement.purpose.clone());
        self.event.legal_basis = Some(format!(
            "{} ({})",
            agreement.legal_basis.reference, agreement.legal_basis.text
        ));
        self.event = self.event.with_agreement(agreement.id.clone());
        self
    }
    /// The purpose the caller stated (when no agreement was found to decide under).
    pub(crate) fn purpose(mut self, purpose: Option<&str>) -> Self {
        self.event.purpose = purpose.map(str::to_owned);
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
    pub(crate) fn record(self) -> Result<Receipt> {
        self.submit()?.wait()
    }

    /// Records a refusal (built with [`EventBuilder::refused`]) durably; within
    /// [`crate::deferred::in_place`] it is only submitted, and the caller awaits it before the
    /// refusal is answered. Nobody needs a refusal's receipt.
    pub(crate) fn record_refusal(self) -> Result<()> {
        debug_assert!(!self.event.outcome.allowed, "only refusals are deferred");
        crate::deferred::refusal(self.submit()?)
    }

    /// Stamps the event with the log's clock and hands it to the appender; its receipt comes
    /// when it is durable.
    pub(crate) fn submit(mut self) -> Result<PendingReceipt> {
        self.event.subjects.sort();
        self.event.subjects.dedup();
        self.event.time = self.log.now();
        self.log.submit(self.event)
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

/// An event handed to the appender whose commit is still to come. Waiting for it (a blocking
/// [`PendingReceipt::wait`] or `.await`) gives the [`Receipt`], or the error that kept the
/// event from being written.
#[must_use = "an event is durable only once its receipt has come"]
pub struct PendingReceipt {
    slot: Arc<Slot>,
}

impl PendingReceipt {
    /// Blocks the thread until the event is durable.
    pub fn wait(self) -> Result<Receipt> {
        self.slot.wait().map(|index| Receipt { index })
    }

    /// Hands `value` out once this event is durable.
    pub(crate) fn attach<T>(self, value: T) -> Pending<T> {
        Pending {
            value: Some(value),
            receipt: self,
        }
    }
}

impl std::fmt::Debug for PendingReceipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingReceipt")
    }
}

impl<T> std::fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl std::future::Future for PendingReceipt {
    type Output = Result<Receipt>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.slot.poll(cx).map(|r| r.map(|index| Receipt { index }))
    }
}

/// Data to hand back once the audit event that records its release is durable: it becomes
/// [`Audited`] only through the event's receipt (`wait` or `.await`), so an answer still
/// cannot leave before its event.
#[must_use = "audited data is recorded as handed out: wait for its receipt and hand it out"]
pub struct Pending<T> {
    value: Option<T>,
    receipt: PendingReceipt,
}

impl<T> Pending<T> {
    /// Blocks the thread until the event is durable.
    pub fn wait(self) -> Result<Audited<T>> {
        let Pending { value, receipt } = self;
        let value = value.expect("a pending answer is taken once");
        Ok(receipt.wait()?.attach(value))
    }
}

impl<T: Unpin> std::future::Future for Pending<T> {
    type Output = Result<Audited<T>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = &mut *self;
        match this.receipt.slot.poll(cx) {
            std::task::Poll::Pending => std::task::Poll::Pending,
            std::task::Poll::Ready(r) => {
                let value = this
                    .value
                    .take()
                    .expect("a pending answer is polled to the end once");
                std::task::Poll::Ready(r.map(|index| Receipt { index }.attach(value)))
            }
        }
    }
}

/// Data a service hands back to a caller, with the receipt of the audit event that recorded
/// the access. Services that return record data or audit-log data return one of these, and the
/// only way to make one is `Receipt::attach` (private to this crate) on a receipt from [`AuditLog::record`]: a service
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

    /// Records a refusal no capability stands behind (a 401, or a citizen's 403), counted per
    /// client and minute so that a flood adds a bounded number of entries (see `denials`),
    /// then hands back the refusal; if it cannot be recorded, that failure is returned instead.
    pub fn audit_denied(&self, denial: &Denial<'_>, refusal: Error) -> Error {
        let now = self.audit.now();
        let (first, past) = self
            .audit
            .shared
            .denials
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .note(denial, &refusal, now);
        for event in past.into_iter().chain(first) {
            if let Err(e) = self.audit.submit(event).and_then(crate::deferred::refusal) {
                return e;
            }
        }
        refusal
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
            .record_refusal();
        match recorded {
            Ok(_) => refusal,
            Err(e) => e,
        }
    }
}
