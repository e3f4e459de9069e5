//! The audit log on PostgreSQL. An append is one round trip: BEGIN with the audit advisory
//! lock, one statement that inserts only if the log's size is the expected one, and COMMIT,
//! pipelined.
//!
//! The audit anchor (`audit_anchor`, migration 5) is the latest signed head the store has
//! seen, a row apart from `audit_heads`: it is moved forward (never back) by one autocommit
//! UPDATE after the head is stored. Only anchor writers lock that row, briefly, so nothing
//! waits behind a batch.

use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::PostgresBackend;
use super::conn::{col, on_code};
use crate::audit::{AUDIT_ENTRIES_SQL, AUDIT_SIZE_SQL, loaded_bytes, loaded_index, stored_index};
use crate::{
    AuditAnchor, AuditAppend, AuditBackend, AuditEntry, Result, StoreError, StoredHead,
    SubjectAccess,
};

// The data tracker is one B-tree here, keyed by (subject, idx): PostgreSQL's buffer pool
// absorbs the scattered inserts that SQLite's LSM (`sqlite/tracker.rs`) avoids.

/// Leaf indexes of the entries touching subject `$1`, at most `$2`, newest first, at most `$3`.
const SUBJECT_ACCESSES_SQL: &str = "SELECT idx FROM subject_accesses
     WHERE subject = $1 AND idx <= $2 ORDER BY idx DESC LIMIT $3";

/// Subject-index rows after (`$1` subject, `$2` index) in primary-key order, at most `$3`.
const SUBJECT_ROWS_SQL: &str = "SELECT subject, idx FROM subject_accesses
     WHERE (subject, idx) > ($1, $2) ORDER BY subject, idx LIMIT $3";

/// The number of data-tracker rows of the entries below index `$1`.
const SUBJECT_COUNT_SQL: &str = "SELECT count(*) FROM subject_accesses WHERE idx < $1";

/// Begins an audit append: takes the transaction-scoped advisory lock that serialises the
/// appenders of this store's log across processes. The first key is "ndxa" in ASCII
/// (0x6e64_7861, not the migration lock's); the second is a hash of the schema, so that logs
/// in different schemas do not wait for each other. The lock is taken in a statement of its
/// own: a statement's snapshot is taken when it starts, and the size check must see every
/// append committed while this one waited.
pub(super) const AUDIT_BEGIN: &str = "BEGIN; \
    SELECT pg_advisory_xact_lock(1852078177, hashtext(coalesce(current_schema()::text, '')))";

impl AuditBackend for PostgresBackend {
    fn audit_append(&self, append: &AuditAppend<'_>) -> Result<()> {
        let Some(first) = append.entries.first() else {
            return Ok(());
        };
        let first = stored_index(first.index)?;
        let entry_indexes = append
            .entries
            .iter()
            .map(|e| stored_index(e.index))
            .collect::<Result<Vec<i64>>>()?;
        let entry_bytes: Vec<&[u8]> = append.entries.iter().map(|e| &e.bytes[..]).collect();
        let node_levels = append
            .nodes
            .iter()
            .map(|n| {
                i32::try_from(n.level).map_err(|_| {
                    StoreError::Conflict(format!("audit node level {} is out of range", n.level))
                })
            })
            .collect::<Result<Vec<i32>>>()?;
        let node_indexes = append
            .nodes
            .iter()
            .map(|n| stored_index(n.index))
            .collect::<Result<Vec<i64>>>()?;
        let node_hashes: Vec<&[u8]> = append.nodes.iter().map(|n| &n.hash[..]).collect();
        let subjects: Vec<&[u8]> = append.subjects.iter().map(|a| &a.subject[..]).collect();
        let subject_indexes = append
            .subjects
            .iter()
            .map(|a| stored_index(a.index))
            .collect::<Result<Vec<i64>>>()?;
        let mut c = self.conn()?;
        // The append inserts nothing unless the log's size is `first`: the commit that follows
        // it in the same round trip never commits a gap.
        let r = c.query_committed(
            AUDIT_BEGIN,
            AUDIT_APPEND,
            &[
                &first,
                &entry_indexes,
                &entry_bytes,
                &node_levels,
                &node_indexes,
                &node_hashes,
                &subjects,
                &subject_indexes,
            ],
        );
        let rows = on_code(r, &SqlState::UNIQUE_VIOLATION, || {
            StoreError::Conflict("a node of the audit group is already stored".into())
        })?;
        let size: i64 = match rows.first() {
            Some(row) => col(row, 0)?,
            None => return Err(StoreError::Backend("no audit log size returned".into())),
        };
        if size != first {
            return Err(StoreError::Conflict(format!(
                "audit entries start at index {first} but the log holds {size}"
            )));
        }
        Ok(())
    }

    fn audit_size(&self) -> Result<u64> {
        let rows = self.conn()?.query(AUDIT_SIZE_SQL, &[])?;
        match rows.first() {
            Some(r) => loaded_index(col(r, 0)?),
            None => Ok(0),
        }
    }

    fn audit_entries(&self, first: i64, last: i64) -> Result<Vec<AuditEntry>> {
        let rows = self.conn()?.query(AUDIT_ENTRIES_SQL, &[&first, &last])?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    index: loaded_index(col(r, 0)?)?,
                    bytes: col(r, 1)?,
                })
            })
            .collect()
    }

    fn audit_nodes(&self, addresses: &[(u32, u64)]) -> Result<Vec<Option<[u8; 32]>>> {
        // An address no row can have (beyond the stored integers) probes as -1: never stored.
        let levels: Vec<i32> = addresses
            .iter()
            .map(|&(level, _)| i32::try_from(level).unwrap_or(-1))
            .collect();
        let indexes: Vec<i64> = addresses
            .iter()
            .map(|&(_, index)| i64::try_from(index).unwrap_or(-1))
            .collect();
        let rows = self.conn()?.query(AUDIT_NODES, &[&levels, &indexes])?;
        if rows.len() != addresses.len() {
            return Err(StoreError::Backend(format!(
                "{} audit nodes asked for, {} answered",
                addresses.len(),
                rows.len()
            )));
        }
        rows.iter()
            .map(|r| {
                col::<Option<&[u8]>>(r, 0)?
                    .map(|h| loaded_bytes(h, "node hash"))
                    .transpose()
            })
            .collect()
    }

    fn audit_put_head(&self, head: &StoredHead) -> Result<()> {
        let size = stored_index(head.tree_size)?;
        let mut c = self.conn()?;
        let inserted = c.execute(
            "INSERT INTO audit_heads(tree_size, signed_at, root, signature)
             VALUES ($1, $2, $3, $4) ON CONFLICT (tree_size) DO NOTHING",
            &[
                &size,
                &head.timestamp,
                &&head.root_hash[..],
                &&head.signature[..],
            ],
        )?;
        if inserted == 1 {
            return Ok(());
        }
        // The size has a head already (committed: ON CONFLICT waited for it if it was not).
        let stored = c.query(
            &format!("SELECT {HEAD_COLUMNS} FROM audit_heads WHERE tree_size = $1"),
            &[&size],
        )?;
        match stored.first().map(head_from_row).transpose()? {
            Some(same) if same == *head => Ok(()),
            _ => Err(StoreError::Conflict(format!(
                "another tree head is stored for size {size}"
            ))),
        }
    }

    fn audit_latest_head(&self) -> Result<Option<StoredHead>> {
        let rows = self.conn()?.query(
            &format!("SELECT {HEAD_COLUMNS} FROM audit_heads ORDER BY tree_size DESC LIMIT 1"),
            &[],
        )?;
        rows.first().map(head_from_row).transpose()
    }

    fn audit_heads(&self, from: i64, limit: i64) -> Result<Vec<StoredHead>> {
        let rows = self.conn()?.query(
            &format!(
                "SELECT {HEAD_COLUMNS} FROM audit_heads WHERE tree_size >= $1
                 ORDER BY tree_size LIMIT $2"
            ),
            &[&from, &limit],
        )?;
        rows.iter().map(head_from_row).collect()
    }

    fn subject_rows(&self, subject: &[u8], index: i64, limit: i64) -> Result<Vec<SubjectAccess>> {
        let rows = self
            .conn()?
            .query(SUBJECT_ROWS_SQL, &[&subject, &index, &limit])?;
        rows.iter()
            .map(|r| {
                Ok(SubjectAccess {
                    subject: loaded_bytes(col(r, 0)?, "subject hash")?,
                    index: loaded_index(col(r, 1)?)?,
                })
            })
            .collect()
    }

    fn audit_anchor(&self) -> Result<AuditAnchor> {
        let rows = self.conn()?.query(
            "SELECT tree_size, signed_at, root, signature, subjects FROM audit_anchor
              WHERE id = 1",
            &[],
        )?;
        let Some(r) = rows.first() else {
            return Ok(AuditAnchor::Missing);
        };
        let size: i64 = col(r, 0)?;
        let at: Option<chrono::DateTime<chrono::Utc>> = col(r, 1)?;
        let root: Option<&[u8]> = col(r, 2)?;
        let signature: Option<&[u8]> = col(r, 3)?;
        let subjects: i64 = col(r, 4)?;
        Ok(match (at, root, signature) {
            (Some(timestamp), Some(root), Some(signature)) if size > 0 => AuditAnchor::Head {
                head: StoredHead {
                    tree_size: loaded_index(size)?,
                    timestamp,
                    root_hash: loaded_bytes(root, "anchor root hash")?,
                    signature: loaded_bytes(signature, "anchor signature")?,
                },
                subjects: loaded_index(subjects)?,
            },
            _ => AuditAnchor::Unset,
        })
    }

    fn audit_put_anchor(&self, head: &StoredHead, subjects: i64, _wait: bool) -> Result<bool> {
        let size = stored_index(head.tree_size)?;
        self.conn()?.execute(
            "UPDATE audit_anchor SET tree_size = $1, signed_at = $2, root = $3, signature = $4,
                    subjects = $5
              WHERE id = 1 AND tree_size < $1",
            &[
                &size,
                &head.timestamp,
                &&head.root_hash[..],
                &&head.signature[..],
                &subjects,
            ],
        )?;
        Ok(true)
    }

    fn subject_count(&self, end: i64) -> Result<u64> {
        let rows = self.conn()?.query(SUBJECT_COUNT_SQL, &[&end])?;
        match rows.first() {
            Some(r) => loaded_index(col(r, 0)?),
            None => Ok(0),
        }
    }

    fn audit_checkpoint(&self) -> Result<()> {
        // PostgreSQL's own checkpointer runs apart from the commits.
        Ok(())
    }

    fn subject_accesses(&self, subject: &[u8; 32], last: i64, limit: i64) -> Result<Vec<u64>> {
        let rows = self
            .conn()?
            .query(SUBJECT_ACCESSES_SQL, &[&&subject[..], &last, &limit])?;
        rows.iter().map(|r| loaded_index(col(r, 0)?)).collect()
    }
}

/// Appends a group in one statement (one round trip), run while holding the audit lock: the
/// log size is read in the statement's snapshot and every insert happens only if the group
/// starts there, so a refused group writes nothing; the caller compares the size returned
/// with `$1`. Rows travel as arrays, unnested on the server. A subject named twice for one
/// entry is one row of the tracker.
pub(super) const AUDIT_APPEND: &str = "WITH s AS (
    SELECT coalesce(max(idx) + 1, 0) AS size FROM audit_entries
  ), e AS (
    INSERT INTO audit_entries(idx, bytes)
    SELECT u.idx, u.bytes FROM s, unnest($2::bigint[], $3::bytea[]) AS u(idx, bytes)
     WHERE s.size = $1
  ), n AS (
    INSERT INTO audit_nodes(level, idx, hash)
    SELECT u.level, u.idx, u.hash
      FROM s, unnest($4::integer[], $5::bigint[], $6::bytea[]) AS u(level, idx, hash)
     WHERE s.size = $1
  ), a AS (
    INSERT INTO subject_accesses(subject, idx)
    SELECT u.subject, u.idx FROM s, unnest($7::bytea[], $8::bigint[]) AS u(subject, idx)
     WHERE s.size = $1
    ON CONFLICT DO NOTHING
  )
  SELECT size FROM s";

/// The hashes of a list of node addresses, in request order, NULL where none is stored: one
/// primary-key probe per address (a scalar subquery), whatever the statistics.
pub(super) const AUDIT_NODES: &str = "SELECT (SELECT n.hash FROM audit_nodes n
                             WHERE n.level = a.level AND n.idx = a.idx)
    FROM unnest($1::integer[], $2::bigint[]) WITH ORDINALITY AS a(level, idx, ord)
   ORDER BY a.ord";

pub(super) const HEAD_COLUMNS: &str = "tree_size, signed_at, root, signature";

pub(super) fn head_from_row(r: &Row) -> Result<StoredHead> {
    Ok(StoredHead {
        tree_size: loaded_index(col(r, 0)?)?,
        timestamp: col(r, 1)?,
        root_hash: loaded_bytes(col(r, 2)?, "root hash")?,
        signature: loaded_bytes(col(r, 3)?, "signature")?,
    })
}
