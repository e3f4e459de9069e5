//! What an engine provides to the catalogue, and the catalogue's SQL: one text for every
//! engine. Statements are written with PostgreSQL's `$1` placeholders; the SQLite engine reads
//! them as numbered parameters. Every value is an integer or a text (times are microseconds
//! since the epoch), so rows decode the same way on both engines.

use crate::Result;

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    /// A 64-bit integer (a `bigint` column).
    Int(i64),
    /// A text.
    Text(&'a str),
    /// SQL NULL.
    Null,
}

/// One cell of a result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    /// An integer.
    Int(i64),
    /// A text.
    Text(String),
    /// SQL NULL.
    Null,
}

impl Cell {
    pub(crate) fn int(&self) -> Result<i64> {
        match self {
            Cell::Int(i) => Ok(*i),
            other => Err(crate::StoreError::Backend(format!(
                "catalogue column holds {other:?} where an integer was expected"
            ))),
        }
    }

    pub(crate) fn text(self) -> Result<String> {
        match self {
            Cell::Text(s) => Ok(s),
            other => Err(crate::StoreError::Backend(format!(
                "catalogue column holds {other:?} where a text was expected"
            ))),
        }
    }

    pub(crate) fn opt_text(self) -> Result<Option<String>> {
        match self {
            Cell::Null => Ok(None),
            other => other.text().map(Some),
        }
    }
}

/// A connection inside one transaction (a write) or one consistent read.
pub(crate) trait SqlConn {
    /// Runs a query and returns every row.
    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Vec<Cell>>>;
    /// Runs a statement and returns the number of rows it changed. A unique or primary-key
    /// violation is `StoreError::Conflict` (the caller words the message).
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64>;
}

/// How an engine's SQL differs where the catalogue needs it to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    /// Appended to a SELECT of a referenced object: keeps it from being deleted until the
    /// transaction ends (PostgreSQL `FOR KEY SHARE`; empty where writers are serialised).
    pub(crate) lock_shared: &'static str,
    /// Appended to a SELECT of an object about to be deleted or changed (PostgreSQL
    /// `FOR UPDATE`).
    pub(crate) lock_exclusive: &'static str,
    /// Appended to a SELECT of objects (alias `c`) found by their attributes (alias `a`), to
    /// lock both (PostgreSQL `FOR UPDATE OF c, a`). Locking the attribute rows matters: an
    /// update replaces them, so a writer that waited skips the rows that no longer match
    /// instead of counting an object by a value it no longer has.
    pub(crate) lock_rows: &'static str,
}

/// The catalogue's access to an engine: transactions that run parameterised SQL.
pub(crate) trait CatalogEngine: Send + Sync {
    /// The engine's differences.
    fn dialect(&self) -> Dialect;
    /// Runs `f` on a connection for reading.
    fn read(&self, f: &mut dyn FnMut(&mut dyn SqlConn) -> Result<()>) -> Result<()>;
    /// Runs `f` in one transaction, committed if `f` succeeds and rolled back otherwise.
    fn write(&self, f: &mut dyn FnMut(&mut dyn SqlConn) -> Result<()>) -> Result<()>;
}

/// Columns of an object row, in the order [`crate::catalog`] decodes them.
pub(crate) const OBJECT_COLUMNS: &str =
    "c.id, c.revision, c.body, c.created_at, c.updated_at, c.format";

pub(crate) const GET: &str = "SELECT c.id, c.revision, c.body, c.created_at, c.updated_at, c.format
     FROM catalog c WHERE c.kind = $1 AND c.id = $2";
pub(crate) const EXISTS: &str = "SELECT 1 FROM catalog WHERE kind = $1 AND id = $2";
pub(crate) const REVISION: &str = "SELECT revision FROM catalog WHERE kind = $1 AND id = $2";
pub(crate) const LAST_REVISION: &str =
    "SELECT coalesce(max(revision), 0) FROM catalog_history WHERE kind = $1 AND id = $2";
pub(crate) const INSERT: &str =
    "INSERT INTO catalog(kind, id, revision, body, created_at, updated_at, format)
     VALUES ($1, $2, $3, $4, $5, $5, $6) ON CONFLICT (kind, id) DO NOTHING";
pub(crate) const UPDATE: &str =
    "UPDATE catalog SET revision = revision + 1, body = $3, updated_at = $4, format = $6
     WHERE kind = $1 AND id = $2 AND revision = $5 RETURNING created_at";
pub(crate) const DELETE: &str = "DELETE FROM catalog WHERE kind = $1 AND id = $2";
pub(crate) const INSERT_HISTORY: &str =
    "INSERT INTO catalog_history(kind, id, revision, body, at, format)
     VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const HISTORY: &str = "SELECT revision, body, at, format FROM catalog_history
     WHERE kind = $1 AND id = $2 ORDER BY revision";
pub(crate) const RAISE_GENERATION: &str =
    "INSERT INTO catalog_generations(kind, generation) VALUES ($1, 1)
     ON CONFLICT (kind) DO UPDATE SET generation = catalog_generations.generation + 1";
pub(crate) const GENERATION: &str =
    "SELECT CAST(coalesce(sum(generation), 0) AS BIGINT) FROM catalog_generations";
pub(crate) const INSERT_ATTR: &str = "INSERT INTO catalog_attrs(kind, name, value, id, uniq, target) VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const DELETE_ATTRS: &str = "DELETE FROM catalog_attrs WHERE kind = $1 AND id = $2";
pub(crate) const REFERRER: &str = "SELECT kind, id FROM catalog_attrs
     WHERE target = $1 AND value = $2 ORDER BY kind, id LIMIT 1";
pub(crate) const IDS: &str = "SELECT id FROM catalog WHERE kind = $1 ORDER BY id";
