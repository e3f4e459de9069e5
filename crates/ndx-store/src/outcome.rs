//! The one rule that decides what a write of a batch does — created, updated, unchanged,
//! deleted, not found, or refused as a duplicate in its batch — from the key's current version
//! as the batch writer found it. Both engines' batch writers call it after they have looked a
//! key up (SQLite's insert-first path knows a successful insert is `Created` without one).
//!
//! It is pure and `#[inline]`: it runs once per record in the tuned bulk-write loops, so it
//! takes borrowed state, allocates nothing, and asks the caller's "found unchanged earlier in
//! this batch?" question (a set lookup) only where the answer matters, as the loops did before.

use crate::WriteOutcome;

/// The current version of a key, as a batch writer found it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found<'a> {
    /// Content hash of the current version (empty for a tombstone).
    pub(crate) hash: &'a [u8],
    /// The current version is a tombstone.
    pub(crate) deleted: bool,
    /// The current version was written by this batch.
    pub(crate) written_by_this_batch: bool,
}

/// What one write does.
///
/// - `upsert`: the content hash of an upsert; `None` for a deletion.
/// - `current`: the key's current version; `None` if the key has never been written.
/// - `seen_unchanged`: whether this batch already found the key unchanged (an unchanged write
///   writes nothing, so the current version alone cannot tell). Called only when the current
///   version was not written by this batch.
///
/// A key is written at most once per batch: a second write of it is `DuplicateInBatch`,
/// whether the first one wrote a version or found the content unchanged.
#[inline]
pub(crate) fn decide(
    upsert: Option<&[u8; 32]>,
    current: Option<Found<'_>>,
    seen_unchanged: impl FnOnce() -> bool,
) -> WriteOutcome {
    if current.is_some_and(|c| c.written_by_this_batch) || seen_unchanged() {
        return WriteOutcome::DuplicateInBatch;
    }
    // A tombstone is as good as no record: deleting it finds nothing, writing it creates.
    let live = current.filter(|c| !c.deleted);
    match (upsert, live) {
        (None, Some(_)) => WriteOutcome::Deleted,
        (None, None) => WriteOutcome::NotFound,
        (Some(hash), Some(c)) if c.hash == hash.as_slice() => WriteOutcome::Unchanged,
        (Some(_), Some(_)) => WriteOutcome::Updated,
        (Some(_), None) => WriteOutcome::Created,
    }
}

impl WriteOutcome {
    /// Whether the outcome writes a version (a record or a tombstone).
    #[inline]
    pub(crate) fn writes_version(self) -> bool {
        matches!(
            self,
            WriteOutcome::Created | WriteOutcome::Updated | WriteOutcome::Deleted
        )
    }

    /// How the outcome changes the number of non-deleted records of its dataset (the
    /// `datasets.live` counter each backend keeps at commit).
    #[inline]
    pub(crate) fn live_change(self) -> i64 {
        match self {
            WriteOutcome::Created => 1,
            WriteOutcome::Deleted => -1,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::{Found, decide};
    use crate::WriteOutcome::{self, *};

    const H: [u8; 32] = [1; 32];
    const OTHER: [u8; 32] = [2; 32];

    /// The current version in a case of the table.
    #[derive(Debug, Clone, Copy)]
    enum Cur {
        /// Never written.
        None,
        /// A live version with hash `H`, written before this batch.
        Live,
        /// A tombstone written before this batch.
        Tombstone,
        /// A live version written by this batch.
        LiveThisBatch,
        /// A tombstone written by this batch.
        TombstoneThisBatch,
    }

    fn found(cur: Cur) -> Option<Found<'static>> {
        let (deleted, written_by_this_batch) = match cur {
            Cur::None => return None,
            Cur::Live => (false, false),
            Cur::Tombstone => (true, false),
            Cur::LiveThisBatch => (false, true),
            Cur::TombstoneThisBatch => (true, true),
        };
        Some(Found {
            hash: if deleted { &[] } else { &H },
            deleted,
            written_by_this_batch,
        })
    }

    #[test]
    fn every_case() {
        // (write: Some(hash) upserts, None deletes; current; seen unchanged; outcome)
        #[rustfmt::skip]
        let table: &[(Option<&[u8; 32]>, Cur, bool, WriteOutcome)] = &[
            (Some(&H),     Cur::None,               false, Created),
            (Some(&H),     Cur::Tombstone,          false, Created),
            (Some(&OTHER), Cur::Tombstone,          false, Created),
            (Some(&H),     Cur::Live,               false, Unchanged),
            (Some(&OTHER), Cur::Live,               false, Updated),
            (None,         Cur::Live,               false, Deleted),
            (None,         Cur::None,               false, NotFound),
            (None,         Cur::Tombstone,          false, NotFound),
            // Written earlier in this batch: refused, whatever the write and content.
            (Some(&H),     Cur::LiveThisBatch,      false, DuplicateInBatch),
            (Some(&OTHER), Cur::LiveThisBatch,      false, DuplicateInBatch),
            (None,         Cur::LiveThisBatch,      false, DuplicateInBatch),
            (Some(&H),     Cur::TombstoneThisBatch, false, DuplicateInBatch),
            (None,         Cur::TombstoneThisBatch, false, DuplicateInBatch),
            // Found unchanged earlier in this batch: refused too.
            (Some(&H),     Cur::Live,               true,  DuplicateInBatch),
            (Some(&OTHER), Cur::Live,               true,  DuplicateInBatch),
            (None,         Cur::Live,               true,  DuplicateInBatch),
        ];
        for &(write, cur, seen, want) in table {
            let got = decide(write, found(cur), || seen);
            assert_eq!(
                got, want,
                "write {write:?}, current {cur:?}, seen unchanged {seen}"
            );
        }
    }

    #[test]
    fn asks_whether_seen_unchanged_only_when_not_written_by_this_batch() {
        for cur in [
            Cur::None,
            Cur::Live,
            Cur::Tombstone,
            Cur::LiveThisBatch,
            Cur::TombstoneThisBatch,
        ] {
            let asked = Cell::new(false);
            decide(Some(&H), found(cur), || {
                asked.set(true);
                false
            });
            let this_batch = matches!(cur, Cur::LiveThisBatch | Cur::TombstoneThisBatch);
            assert_eq!(asked.get(), !this_batch, "current {cur:?}");
        }
    }

    #[test]
    fn only_created_updated_and_deleted_write_a_version() {
        for (outcome, writes) in [
            (Created, true),
            (Updated, true),
            (Deleted, true),
            (Unchanged, false),
            (NotFound, false),
            (DuplicateInBatch, false),
        ] {
            assert_eq!(outcome.writes_version(), writes, "{outcome:?}");
        }
    }
}
