//! One server connection with deadlines: its own current-thread Tokio runtime that runs only
//! while the calling thread waits on it (like the `postgres` crate, but every wait has a
//! deadline: [`wait`]), its prepared statements, and the failures ([`Fail`]) that mark it
//! broken so the pool discards it.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use super::url::{Settings, client_grace};
use crate::{Result, StoreError};

pub(super) type Params<'a> = [&'a (dyn ToSql + Sync)];

/// An error and its causes on one line (tokio-postgres keeps the useful part in the cause).
pub(super) fn chain(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            s.push_str(&format!("; {detail}"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    s
}

/// A failed call on a connection.
#[derive(Debug)]
pub(super) enum Fail {
    Pg(tokio_postgres::Error),
    /// The server did not answer within the deadline.
    Timeout(Duration),
}

impl Fail {
    pub(super) fn is(&self, code: &SqlState) -> bool {
        matches!(self, Fail::Pg(e) if e.code() == Some(code))
    }

    /// Whether the connection can no longer be trusted: anything but an ordinary SQL error.
    pub(super) fn breaks_connection(&self) -> bool {
        match self {
            Fail::Timeout(_) => true,
            Fail::Pg(e) => e
                .as_db_error()
                .is_none_or(|db| db.severity() != "ERROR" || db.code().code().starts_with("08")),
        }
    }
}

impl From<Fail> for StoreError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Timeout(d) => StoreError::Backend(format!(
                "PostgreSQL did not answer within {}s (server or network down?); \
                 the connection was dropped",
                d.as_secs()
            )),
            Fail::Pg(e) if e.is_closed() => StoreError::Backend(
                "the connection to PostgreSQL was lost (server stopped or restarted?)".into(),
            ),
            Fail::Pg(e) if e.as_db_error().is_some() => {
                StoreError::Backend(format!("PostgreSQL: {}", chain(&e)))
            }
            Fail::Pg(e) => StoreError::Backend(format!(
                "the connection to PostgreSQL failed: {}",
                chain(&e)
            )),
        }
    }
}

/// Waits for `fut` on the connection's runtime, at most `limit`.
pub(super) fn wait<T>(
    rt: &tokio::runtime::Runtime,
    limit: Option<Duration>,
    fut: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
) -> std::result::Result<T, Fail> {
    match limit {
        Some(d) => rt
            .block_on(async { tokio::time::timeout(d, fut).await })
            .map_err(|_| Fail::Timeout(d))?
            .map_err(Fail::Pg),
        None => rt.block_on(fut).map_err(Fail::Pg),
    }
}

/// Connects with `tls` (whose stream type differs from plain TCP's) and drives the connection
/// on `rt`.
fn open<T>(
    rt: &tokio::runtime::Runtime,
    config: &Config,
    settings: &Settings,
    tls: T,
) -> Result<Client>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = wait(rt, Some(settings.connect_deadline), config.connect(tls))
        .map_err(|f| {
            let why = match f {
                Fail::Pg(e) => chain(&e),
                Fail::Timeout(d) => format!("no answer within {}s", d.as_secs()),
            };
            StoreError::Backend(format!(
                "cannot connect to PostgreSQL at {}: {why}",
                settings.display
            ))
        })?;
    rt.spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// One server connection with its runtime and its prepared statements.
pub(super) struct Conn {
    /// `Some` until dropped (shut down without blocking: drop may run anywhere).
    pub(super) rt: Option<tokio::runtime::Runtime>,
    pub(super) client: Client,
    pub(super) statements: HashMap<String, Statement>,
    /// The client-side deadline of one statement.
    pub(super) deadline: Duration,
    /// Set when the connection failed in a way that makes it unusable.
    pub(super) broken: bool,
    /// A transaction is open (rolled back if the connection goes back to the pool so).
    pub(super) in_tx: bool,
    pub(super) last_used: Instant,
}

impl Conn {
    pub(super) fn connect(config: &Config, settings: &Settings) -> Result<Conn> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot start the PostgreSQL client: {e}")))?;
        let client = match &settings.tls.0 {
            None => open(&rt, config, settings, NoTls)?,
            Some(tls) => open(&rt, config, settings, tls.clone())?,
        };
        Ok(Conn {
            rt: Some(rt),
            client,
            statements: HashMap::new(),
            deadline: settings.statement_timeout + client_grace(settings.statement_timeout),
            broken: false,
            in_tx: false,
            last_used: Instant::now(),
        })
    }

    pub(super) fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("runtime present until drop")
    }

    pub(super) fn check<T>(
        &mut self,
        r: std::result::Result<T, Fail>,
    ) -> std::result::Result<T, Fail> {
        if let Err(f) = &r
            && (f.breaks_connection() || self.client.is_closed())
        {
            self.broken = true;
        }
        r
    }

    pub(super) fn prepare(&mut self, sql: &str) -> std::result::Result<Statement, Fail> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let r = wait(self.rt(), Some(self.deadline), self.client.prepare(sql));
        let stmt = self.check(r)?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    pub(super) fn query_within(
        &mut self,
        limit: Option<Duration>,
        sql: &str,
        params: &Params<'_>,
    ) -> std::result::Result<Vec<Row>, Fail> {
        let stmt = self.prepare(sql)?;
        let r = wait(self.rt(), limit, self.client.query(&stmt, params));
        self.check(r)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> std::result::Result<Vec<Row>, Fail> {
        self.query_within(Some(self.deadline), sql, params)
    }

    pub(super) fn query_opt(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> std::result::Result<Option<Row>, Fail> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    pub(super) fn execute(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> std::result::Result<u64, Fail> {
        let stmt = self.prepare(sql)?;
        let r = wait(
            self.rt(),
            Some(self.deadline),
            self.client.execute(&stmt, params),
        );
        self.check(r)
    }

    /// Streams `rows` rows into `COPY … FROM STDIN (FORMAT binary)` (`sql`), whose columns
    /// have `types`; `row(i)` gives the values of row `i`. Returns the rows written.
    pub(super) fn copy_in<'a, const N: usize>(
        &mut self,
        sql: &str,
        types: &[Type; N],
        rows: usize,
        row: impl Fn(usize) -> [&'a (dyn ToSql + Sync); N],
    ) -> std::result::Result<u64, Fail> {
        let stmt = self.prepare(sql)?;
        let client = &self.client;
        let copy = async {
            let sink = client.copy_in(&stmt).await?;
            let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, types));
            for i in 0..rows {
                writer.as_mut().write_raw(row(i)).await?;
            }
            writer.finish().await
        };
        let r = wait(self.rt(), Some(self.deadline), copy);
        self.check(r)
    }

    /// Runs `begin` (statements without parameters that open a transaction), `sql` and COMMIT
    /// in one round trip (pipelined): for a transaction of one statement whose result needs no
    /// decision before the commit. If `sql` fails, the server ends the transaction with a
    /// rollback and its error is returned.
    pub(super) fn query_committed(
        &mut self,
        begin: &str,
        sql: &str,
        params: &Params<'_>,
    ) -> std::result::Result<Vec<Row>, Fail> {
        let stmt = self.prepare(sql)?;
        let client = &self.client;
        let pipelined = async {
            let (begun, rows, committed) = tokio::join!(
                client.batch_execute(begin),
                client.query(&stmt, params),
                client.batch_execute("COMMIT"),
            );
            begun?;
            let rows = rows?;
            committed?;
            Ok(rows)
        };
        self.in_tx = true;
        // The server cancels each of the three statements past its statement timeout, with an
        // error that rolls back; the client waits for all three before giving up, so that it
        // rarely gives up on a transaction the server goes on to commit.
        let r = wait(self.rt(), Some(self.deadline * 3), pipelined);
        let r = self.check(r);
        if r.is_ok() || !self.broken {
            // Committed, or rolled back by the server's COMMIT of a failed transaction.
            self.in_tx = false;
        }
        r
    }

    /// Runs SQL without parameters (several statements allowed).
    pub(super) fn simple(&mut self, sql: &str) -> std::result::Result<(), Fail> {
        self.simple_within(Some(self.deadline), sql)
    }

    /// [`Conn::simple`] with another client deadline (`None`: none).
    pub(super) fn simple_within(
        &mut self,
        limit: Option<Duration>,
        sql: &str,
    ) -> std::result::Result<(), Fail> {
        let r = wait(self.rt(), limit, self.client.batch_execute(sql));
        self.check(r)
    }

    pub(super) fn begin(&mut self, sql: &str) -> std::result::Result<(), Fail> {
        // Marked first: when `sql` holds several statements (BEGIN, then a lock or a SET), a
        // later one can fail after BEGIN succeeded, and the pool must roll that back.
        self.in_tx = true;
        self.simple(sql)
    }

    pub(super) fn commit(&mut self) -> std::result::Result<(), Fail> {
        let r = self.simple("COMMIT");
        self.in_tx = false;
        r
    }

    pub(super) fn rollback(&mut self) {
        if self.simple("ROLLBACK").is_err() {
            self.broken = true;
        }
        self.in_tx = false;
    }

    /// Whether the connection is still open as far as can be told without a round trip: lets
    /// the connection task read what the server sent while the connection was idle (a server
    /// that shuts down or terminates the session says so before closing).
    pub(super) fn looks_alive(&mut self) -> bool {
        self.rt().block_on(async {
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        });
        !self.client.is_closed()
    }

    /// Whether the server still answers (an empty query, one round trip).
    pub(super) fn ping(&mut self) -> bool {
        let limit = self.deadline.min(Duration::from_secs(5));
        let r = wait(self.rt(), Some(limit), self.client.simple_query(""));
        r.is_ok()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Reads column `i`, as an error (not a panic) if its type is unexpected.
pub(super) fn col<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<T> {
    row.try_get(i).map_err(|e| Fail::Pg(e).into())
}

/// Maps one SQLSTATE of a failed statement to a store error; other failures pass through.
pub(super) fn on_code<T>(
    r: std::result::Result<T, Fail>,
    code: &SqlState,
    err: impl FnOnce() -> StoreError,
) -> Result<T> {
    match r {
        Err(f) if f.is(code) => Err(err()),
        r => Ok(r?),
    }
}
