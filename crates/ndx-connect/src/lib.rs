//! The drivers of connectors: they read the tables of agencies' own databases for
//! `ndx-core::connector` ([`Drivers`] implements its [`SourceOpener`]). PostgreSQL through
//! tokio-postgres with the store's libpq-style TLS, MariaDB / MySQL through mysql_async (rustls
//! on ring). Each reader runs its queries on a current-thread runtime of its own while the
//! calling (blocking) thread waits, with a deadline on connecting and on every statement, in a
//! read-only session. The server types the values: each row comes back as one JSON object
//! (`row_to_json`, `JSON_OBJECT`).
//!
//! Names are always quoted as identifiers and values compared against the cursor are always
//! bound (MariaDB) or written as escaped literals (PostgreSQL, whose binary parameters would
//! need the column's type): nothing from a definition or a source row is spliced into SQL as
//! it is.

mod mysql;
mod postgres;
mod url;

use std::time::Duration;

use ndx_core::connector::{SourceOpener, SourceReader};
use ndx_core::error::{Code, Error, Result};
use ndx_types::connector::{SourceEngine, SourceSpec};

/// The drivers, with their deadlines.
#[derive(Debug, Clone, Copy)]
pub struct Drivers {
    /// Longest wait for a connection (TCP, TLS, login).
    pub connect_timeout: Duration,
    /// Longest wait for one statement (one page of rows).
    pub statement_timeout: Duration,
}

impl Default for Drivers {
    /// 10 s to connect, 300 s per page.
    fn default() -> Self {
        Drivers {
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(300),
        }
    }
}

/// The problem every driver failure becomes.
pub(crate) fn unavailable(what: impl std::fmt::Display) -> Error {
    Error::of(Code::ConnectorSourceUnavailable, what.to_string())
}

/// The password of a source, from the environment variable its definition names.
fn password(spec: &SourceSpec) -> Result<Option<String>> {
    match &spec.password_env {
        None => Ok(None),
        Some(name) => std::env::var(name).map(Some).map_err(|_| {
            unavailable(format!(
                "the environment variable {name} (the source's password) is not set in the ndx \
                 process"
            ))
        }),
    }
}

impl SourceOpener for Drivers {
    fn open(&self, spec: &SourceSpec) -> Result<Box<dyn SourceReader>> {
        let pass = password(spec)?;
        let settings = url::split(&spec.url, *self)?;
        match spec.engine {
            SourceEngine::Postgres => Ok(Box::new(postgres::PgReader::connect(&settings, pass)?)),
            SourceEngine::Mysql => Ok(Box::new(mysql::MyReader::connect(&settings, pass)?)),
            // Dropped files are read by ndx-core itself, one file per run.
            SourceEngine::Folder => Err(unavailable(
                "a folder is not a database: its files are read by the run",
            )),
        }
    }
}

/// A runtime that runs only while the calling thread waits on it, and the wait with a deadline.
pub(crate) struct Waiter {
    rt: tokio::runtime::Runtime,
}

impl Waiter {
    pub(crate) fn new() -> Result<Waiter> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("a connector runtime: {e}")))?;
        Ok(Waiter { rt })
    }

    /// Runs `f` to its end, or gives up after `deadline` with `what` in the message.
    pub(crate) fn wait<T, E: std::fmt::Display>(
        &self,
        deadline: Duration,
        what: &str,
        f: impl std::future::Future<Output = std::result::Result<T, E>>,
    ) -> Result<T> {
        match self
            .rt
            .block_on(async { tokio::time::timeout(deadline, f).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(unavailable(format!("{what}: {e}"))),
            Err(_) => Err(unavailable(format!(
                "{what}: no answer within {} s",
                deadline.as_secs()
            ))),
        }
    }

    pub(crate) fn spawn<F>(&self, f: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.rt.spawn(f);
    }
}

/// A table or column name quoted as an identifier of a dialect whose identifier quote is
/// `quote` (the quote doubled inside), each part of `schema.name` on its own.
pub(crate) fn quoted(name: &str, quote: char) -> String {
    let doubled = format!("{quote}{quote}");
    name.split('.')
        .map(|p| format!("{quote}{}{quote}", p.replace(quote, &doubled)))
        .collect::<Vec<_>>()
        .join(".")
}

/// The rows of one page, each a JSON object text.
pub(crate) fn parse_rows(texts: Vec<String>) -> Result<Vec<ndx_core::connector::Row>> {
    texts
        .into_iter()
        .map(|t| match serde_json::from_str::<serde_json::Value>(&t) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            Ok(_) | Err(_) => Err(unavailable(
                "the source answered a row that is not a JSON object",
            )),
        })
        .collect()
}
