//! The audit log as the store sees it: the stored shapes of entries, Merkle nodes, signed heads
//! and data-tracker rows, and the conversions between the log's unsigned indexes and the signed
//! 64-bit integers both databases store (with the errors that name a value out of range). The
//! hashing, proofs and head signatures are `ndx-audit`'s; each engine's `audit.rs` stores them.

use chrono::{DateTime, Utc};

use crate::{Result, StoreError};

/// One entry of the audit log as stored: its leaf index (0-based) and canonical bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Leaf index in the audit Merkle tree, 0 for the first entry.
    pub index: u64,
    /// The entry's canonical bytes (the leaf the tree hashes).
    pub bytes: Vec<u8>,
}

/// Hash of the complete subtree (level, index) of the audit Merkle tree: it covers leaves
/// [index·2^level, (index+1)·2^level); level 0 = leaf hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditNode {
    /// Height of the subtree: 0 for a leaf hash.
    pub level: u32,
    /// Position of the subtree among the subtrees of its level, from the left.
    pub index: u64,
    /// The subtree's hash.
    pub hash: [u8; 32],
}

/// A data-tracker row: the data subject with this keyed hash appears in that entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectAccess {
    /// Keyed hash of the data subject's identifier (never the identifier itself).
    pub subject: [u8; 32],
    /// Leaf index of the audit entry that touches the subject.
    pub index: u64,
}

/// A signed tree head as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHead {
    /// Number of entries the head covers.
    pub tree_size: u64,
    /// When the head was signed, to the millisecond.
    pub timestamp: DateTime<Utc>,
    /// Merkle root of the first `tree_size` entries.
    pub root_hash: [u8; 32],
    /// Ed25519 signature over size, time and root.
    pub signature: [u8; 64],
}

/// The audit anchor: the latest signed head of the audit log that the data store has seen.
/// It is written after the head is stored in the log (anchor ≤ log), only ever forward, so a
/// lost update (a crash, a busy data store) only leaves it older; a log that is behind it, or
/// disagrees with it, was deleted, truncated or rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditAnchor {
    /// The anchor row is gone: the data store was tampered with (every store has one from its
    /// creation or upgrade on).
    Missing,
    /// No head has been anchored yet (a new store, or a crash before its first anchor).
    Unset,
    /// The latest head the data store has seen.
    Head {
        /// The head.
        head: StoredHead,
        /// How many data-tracker rows the entries it covers have.
        subjects: u64,
    },
}

/// How the data tracker folds its log into sorted runs (engines that index it otherwise
/// ignore it). The defaults are what the server uses; tests make them small to reach every
/// step with a few rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldLimits {
    /// Rows in the tracker's log that make the folder sort them into a run.
    pub log_flush_rows: usize,
    /// Rows written per transaction while a run is built, and read per page of a merge: an
    /// append waits for at most one chunk.
    pub chunk: usize,
    /// Runs of one level merged into one run of the next.
    pub fanout: usize,
    /// Longest one call works before it returns (the next call goes on).
    pub budget: std::time::Duration,
}

impl Default for FoldLimits {
    fn default() -> Self {
        FoldLimits {
            log_flush_rows: 32_768,
            chunk: 2_048,
            fanout: 16,
            budget: std::time::Duration::from_millis(250),
        }
    }
}

/// What one call of the folder did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoldReport {
    /// Rows of the log sorted into new runs.
    pub flushed: u64,
    /// Rows of runs merged into runs of the next level.
    pub merged: u64,
    /// Rows deleted after they moved (from the log, or from merged runs).
    pub purged: u64,
    /// Runs abandoned because another process changed their sources meanwhile.
    pub abandoned: u64,
    /// The call stopped at its budget with work left: call again.
    pub pending: bool,
}

/// One group of appends, written in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct AuditAppend<'a> {
    /// New entries, with contiguous indexes starting at the current log size.
    pub entries: &'a [AuditEntry],
    /// Every subtree node these entries complete (leaf hashes included).
    pub nodes: &'a [AuditNode],
    /// Data-tracker rows of these entries (a repeated row is stored once).
    pub subjects: &'a [SubjectAccess],
}

// SQL both engines run as it is (SQLite binds `$1`, `$2`… as the parameters of those indexes
// when they appear in order, as they do here).

/// The log size: one past the largest leaf index (a backward step on the primary key).
pub(crate) const AUDIT_SIZE_SQL: &str = "SELECT coalesce(max(idx) + 1, 0) FROM audit_entries";

/// Entries with `$1 <= idx <= $2`, ascending.
pub(crate) const AUDIT_ENTRIES_SQL: &str =
    "SELECT idx, bytes FROM audit_entries WHERE idx >= $1 AND idx <= $2 ORDER BY idx";

/// An audit index as the databases store it (a signed 64-bit integer): an index beyond that
/// cannot be written.
pub(crate) fn stored_index(index: u64) -> Result<i64> {
    i64::try_from(index)
        .map_err(|_| StoreError::Conflict(format!("audit index {index} is out of range")))
}

/// The inclusive bounds of the index range `start..end` as stored integers; `None` when no
/// stored index can fall in it. Bounds beyond the stored range clip to it.
pub(crate) fn stored_range(start: u64, end: u64) -> Option<(i64, i64)> {
    let first = i64::try_from(start).ok()?;
    let last = end.checked_sub(1)?;
    let last = i64::try_from(last).unwrap_or(i64::MAX);
    (first <= last).then_some((first, last))
}

/// The largest stored index a `before` cursor admits (`idx <= last`): all of them without one.
pub(crate) fn last_before(before: Option<u64>) -> i64 {
    before.map_or(i64::MAX, |b| {
        i64::try_from(b.saturating_sub(1)).unwrap_or(i64::MAX)
    })
}

/// A read limit as a stored integer (a larger one cannot be reached anyway).
pub(crate) fn stored_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A stored index or size read back; negative means the row was not written by this crate.
pub(crate) fn loaded_index(value: i64) -> Result<u64> {
    u64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("stored audit index {value} is negative")))
}

/// A stored hash, key or signature read back, checked for its length.
pub(crate) fn loaded_bytes<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| {
        StoreError::Backend(format!(
            "stored audit {what} has {} bytes, not {N}",
            bytes.len()
        ))
    })
}
