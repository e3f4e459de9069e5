//! Numbered migrations, applied at open in one transaction under a transaction-scoped advisory
//! lock (per schema), so that two processes starting at once migrate once; a store newer than
//! this binary is refused.

use super::conn::{Conn, col};
use super::url::Settings;
use crate::{Result, StoreError};

/// Numbered migrations; applied in order at open, never edited once released.
pub(super) const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../migrations/postgres/0002_audit.sql")),
    (
        3,
        include_str!("../../migrations/postgres/0003_versions.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_catalog.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_audit_anchor.sql"),
    ),
    (
        6,
        include_str!("../../migrations/postgres/0006_catalog_generations.sql"),
    ),
    (7, include_str!("../../migrations/postgres/0007_feed.sql")),
    (8, include_str!("../../migrations/postgres/0008_blobs.sql")),
];

/// First key of the migration advisory lock ("ndx" in ASCII); the second is a hash of the
/// schema name, so that stores in different schemas migrate independently.
pub(super) const MIGRATION_LOCK: i32 = 0x006e_6478;

/// Checks with SELECTs only that a store exists at these settings (its schema-version table is
/// on the search path) and, when `exact`, that it needs no migration (a read-only open cannot
/// apply one).
pub(super) fn check_version(conn: &mut Conn, settings: &Settings, exact: bool) -> Result<()> {
    let rows = conn.query("SELECT to_regclass('ndx_schema_version') IS NOT NULL", &[])?;
    let exists: bool = match rows.first() {
        Some(row) => col(row, 0)?,
        None => false,
    };
    if !exists {
        return Err(StoreError::NotFound(format!(
            "no ndx store in {}: check --store (only `ndx serve` and `ndx demo` create a store)",
            settings.display
        )));
    }
    if !exact {
        return Ok(());
    }
    let rows = conn.query(
        "SELECT coalesce(max(version), 0) FROM ndx_schema_version",
        &[],
    )?;
    let current: i32 = match rows.first() {
        Some(row) => col(row, 0)?,
        None => 0,
    };
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    match current.cmp(&known) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(StoreError::Incompatible(format!(
            "the PostgreSQL store {} has schema version {current}, newer than this binary \
             knows ({known}): upgrade ndx",
            settings.display
        ))),
        std::cmp::Ordering::Less => Err(StoreError::Incompatible(format!(
            "the PostgreSQL store {} has schema version {current}, older than this binary's \
             ({known}): start `ndx serve` once to upgrade it, then verify",
            settings.display
        ))),
    }
}

pub(super) fn migrate(conn: &mut Conn, settings: &Settings) -> Result<()> {
    // A migration copies whole tables (0003 rewrites every record version) and a second process
    // waits for the first one's: neither has a time limit, as with the wait for a dataset's
    // writer (the connection's keepalives still notice a server that is gone).
    conn.begin("BEGIN; SET LOCAL statement_timeout = 0")?;
    let result = (|| -> Result<()> {
        // Two processes starting at once: the second waits here, then finds nothing to do.
        conn.query_within(
            None,
            "SELECT pg_advisory_xact_lock($1, hashtext(coalesce($2::text, current_schema()::text, '')))",
            &[&MIGRATION_LOCK, &settings.schema],
        )?;
        if let Some(schema) = &settings.schema {
            // A checked identifier ([a-z_][a-z0-9_]*): safe to quote into the statement.
            conn.simple(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))?;
        }
        conn.simple(
            "CREATE TABLE IF NOT EXISTS ndx_schema_version (
               version    integer PRIMARY KEY,
               applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )?;
        let rows = conn.query(
            "SELECT coalesce(max(version), 0) FROM ndx_schema_version",
            &[],
        )?;
        let current: i32 = match rows.first() {
            Some(row) => col(row, 0)?,
            None => 0,
        };
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > known {
            return Err(StoreError::Incompatible(format!(
                "the PostgreSQL store {} has schema version {current}, newer than this binary \
                 knows ({known}): upgrade ndx",
                settings.display
            )));
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            conn.simple_within(None, sql)?;
            conn.execute(
                "INSERT INTO ndx_schema_version(version) VALUES ($1)",
                &[version],
            )?;
            tracing::info!(version, "applied PostgreSQL store migration");
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(conn.commit()?),
        Err(e) => {
            conn.rollback();
            Err(e)
        }
    }
}
