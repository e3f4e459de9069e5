//! Numbered migrations of the store file and of the audit file, applied at open (each file's
//! `user_version` says which it has); a file newer than this binary is refused.

use rusqlite::Connection;

use crate::{Result, StoreError};

/// Numbered migrations; applied in order at open, never edited once released.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_live_count.sql"),
    ),
    (3, include_str!("../../migrations/sqlite/0003_catalog.sql")),
    (
        4,
        include_str!("../../migrations/sqlite/0004_audit_anchor.sql"),
    ),
    (
        5,
        include_str!("../../migrations/sqlite/0005_catalog_generations.sql"),
    ),
    (6, include_str!("../../migrations/sqlite/0006_feed.sql")),
    (
        7,
        include_str!("../../migrations/sqlite/0007_superseded.sql"),
    ),
];

/// Numbered migrations of the audit file, versioned by that file's own `user_version`.
pub(super) const AUDIT_MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../migrations/sqlite-audit/0001_audit.sql"),
    ),
    (
        2,
        include_str!("../../migrations/sqlite-audit/0002_tracker_runs.sql"),
    ),
];

/// Checks, without changing anything, that a file opened read-only is of this binary's schema
/// version: an older one needs the migrations a read-only open cannot apply.
pub(super) fn check_version(
    conn: &Connection,
    migrations: &[(i64, &str)],
    what: &str,
) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = migrations.last().map_or(0, |m| m.0);
    match current.cmp(&known) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(StoreError::Incompatible(format!(
            "{what} has schema version {current}, newer than this binary knows ({known}): \
             upgrade ndx"
        ))),
        std::cmp::Ordering::Less if current == 0 => Err(StoreError::Incompatible(format!(
            "{what} holds no ndx schema (it is empty or not an ndx file)"
        ))),
        std::cmp::Ordering::Less => Err(StoreError::Incompatible(format!(
            "{what} has schema version {current}, older than this binary's ({known}): start \
             `ndx serve` once to upgrade it, then verify"
        ))),
    }
}

/// Applies the `migrations` a file lacks (its `user_version` says which it has); `what` names
/// the file in the message that refuses one newer than this binary.
pub(super) fn migrate(conn: &mut Connection, migrations: &[(i64, &str)], what: &str) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = migrations.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::Incompatible(format!(
            "{what} has schema version {current}, newer than this binary knows ({known}): \
             upgrade ndx"
        )));
    }
    for (version, sql) in migrations.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}
