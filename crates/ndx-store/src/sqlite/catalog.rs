//! The catalogue on SQLite: the transactions and statements `catalog::SqlConn` asks for. The
//! SQL itself is the catalogue's, shared with every engine (`catalog/sql.rs`); catalogue
//! writes take the store's one writer connection, like batches.

use std::borrow::Cow;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use super::SqliteBackend;
use crate::catalog::sql::{CatalogEngine, Cell, Dialect, Param, SqlConn};
use crate::{Result, StoreError};

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Int(i) => ToSqlOutput::from(*i),
            Param::Text(s) => ToSqlOutput::from(*s),
            Param::Null => ToSqlOutput::from(rusqlite::types::Null),
        })
    }
}

/// `$N` placeholders (the catalogue's, PostgreSQL's) as SQLite's numbered `?N`.
fn numbered(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    // Only `$` is replaced, by `?`: both are one byte, so the text stays valid UTF-8.
    let mut out = sql.as_bytes().to_vec();
    for i in 0..out.len() {
        if out[i] == b'$' && out.get(i + 1).is_some_and(u8::is_ascii_digit) {
            out[i] = b'?';
        }
    }
    Cow::Owned(String::from_utf8(out).unwrap_or_else(|_| sql.to_owned()))
}

/// Statements this thread has rewritten already: the catalogue's texts are few and long (the
/// key holder's is 1.5 KB, run on every request), and looking one up costs less than rewriting
/// it again (profiled under `bench-reads`).
const REWRITTEN_KEPT: usize = 256;

thread_local! {
    static REWRITTEN: std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<str>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// [`numbered`], remembered per thread.
fn sqlite_text(sql: &str) -> std::rc::Rc<str> {
    REWRITTEN.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(text) = cache.get(sql) {
            return text.clone();
        }
        if cache.len() >= REWRITTEN_KEPT {
            cache.clear();
        }
        let text: std::rc::Rc<str> = numbered(sql).into();
        cache.insert(sql.to_owned(), text.clone());
        text
    })
}

struct Sql<'a>(&'a Connection);

impl SqlConn for Sql<'_> {
    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Vec<Cell>>> {
        let mut stmt = self.0.prepare_cached(&sqlite_text(sql))?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(columns);
            for i in 0..columns {
                cells.push(match row.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Text(t) => Cell::Text(
                        std::str::from_utf8(t)
                            .map_err(|e| StoreError::Backend(format!("stored text: {e}")))?
                            .to_owned(),
                    ),
                    other => {
                        return Err(StoreError::Backend(format!(
                            "catalogue column {i} has type {:?}",
                            other.data_type()
                        )));
                    }
                });
            }
            out.push(cells);
        }
        Ok(out)
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let mut stmt = self.0.prepare_cached(&sqlite_text(sql))?;
        match stmt.execute(rusqlite::params_from_iter(params)) {
            Ok(n) => Ok(n as u64),
            Err(rusqlite::Error::SqliteFailure(f, m))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::Conflict(m.unwrap_or_default()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl CatalogEngine for SqliteBackend {
    fn dialect(&self) -> Dialect {
        // One writer at a time: nothing can change between a check and the write after it.
        Dialect {
            lock_shared: "",
            lock_rows: "",
            lock_exclusive: "",
        }
    }

    fn read(&self, f: &mut dyn FnMut(&mut dyn SqlConn) -> Result<()>) -> Result<()> {
        SqliteBackend::read(self, |c| f(&mut Sql(c)))
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn SqlConn) -> Result<()>) -> Result<()> {
        SqliteBackend::write(self, |c| {
            c.execute_batch("BEGIN IMMEDIATE")?;
            let out = f(&mut Sql(c)).and_then(|()| Ok(c.execute_batch("COMMIT")?));
            if out.is_err() && !c.is_autocommit() {
                let _ = c.execute_batch("ROLLBACK");
            }
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_become_numbered() {
        assert_eq!(numbered("a = $1 AND b > $12"), "a = ?1 AND b > ?12");
        assert_eq!(numbered("price in $"), "price in $");
        assert_eq!(numbered("plain"), "plain");
    }
}
