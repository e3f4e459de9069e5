//! The PostgreSQL backend: `postgres://user[:password]@host[:port]/db[?params]`.
//!
//! Besides the parameters of `tokio-postgres` (`connect_timeout`, `application_name`,
//! `options`, `keepalives_idle`, `tcp_user_timeout`…), the URL takes:
//! - `schema=NAME` (`[a-z_][a-z0-9_]*`): created if missing and used as the `search_path` of
//!   every connection, so that several stores (or test runs) share one database;
//! - `statement_timeout=SECONDS` (default 60): the server cancels a longer statement, and the
//!   client gives up on a server that does not answer within that time plus a grace period;
//! - `pool_size=N` (default 16): the most connections this store opens;
//! - `preload_keys=N` (default 10,000): a batch of more than 1,024 records on a dataset of at
//!   most N keys reads their current versions once instead of looking keys up chunk by chunk
//!   (0: always look up).
//!
//! Semantics are those of the SQLite backend, outcome for outcome (the conformance suite runs
//! on both): a batch is one
//! transaction that locks its dataset's row (`FOR NO KEY UPDATE`), so writers of one dataset
//! are serialized; every version is one row of `versions`, keyed by (dataset, key, version), and
//! the current version of a key is its highest.
//!
//! Every connection has its own current-thread Tokio runtime that runs only while the calling
//! thread waits on it (like the `postgres` crate, but every wait has a deadline). The backend
//! is synchronous: call it from blocking threads, never from inside an async task.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use crate::{
    AuditAppend, AuditEntry, Backend, BatchBackend, BatchMeta, FieldFilter, RecordVersion, Result,
    StoreError, StoredBatch, StoredHead, WriteOp, WriteOutcome, loaded_bytes, loaded_index,
    stored_index, stored_limit, stored_range,
};

/// Numbered migrations; applied in order at open, never edited once released.
mod catalog;

const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_audit.sql")),
    (3, include_str!("../migrations/postgres/0003_versions.sql")),
    (4, include_str!("../migrations/postgres/0004_catalog.sql")),
];

/// First key of the migration advisory lock ("ndx" in ASCII); the second is a hash of the
/// schema name, so that stores in different schemas migrate independently.
const MIGRATION_LOCK: i32 = 0x006e_6478;

/// Begins an audit append: takes the transaction-scoped advisory lock that serialises the
/// appenders of this store's log across processes. The first key is "ndxa" in ASCII
/// (0x6e64_7861, not the migration lock's); the second is a hash of the schema, so that logs
/// in different schemas do not wait for each other. The lock is taken in a statement of its
/// own: a statement's snapshot is taken when it starts, and the size check must see every
/// append committed while this one waited.
const AUDIT_BEGIN: &str = "BEGIN; \
    SELECT pg_advisory_xact_lock(1852078177, hashtext(coalesce(current_schema()::text, '')))";

const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_POOL_SIZE: usize = 16;
/// A pooled connection idle this long is checked with an empty query before it is handed out
/// (one that the server closed is noticed without a query, whatever its idle time).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// How long the client waits beyond the server's statement timeout before it gives up on a
/// server (or network) that does not answer at all: the server cancels first, with a clearer
/// error, when it can.
fn client_grace(statement_timeout: Duration) -> Duration {
    (statement_timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(10))
}

type Params<'a> = [&'a (dyn ToSql + Sync)];

/// What the URL says beyond what `tokio_postgres::Config` understands.
#[derive(Debug)]
struct Settings {
    /// The URL with its password hidden, for messages.
    display: String,
    schema: Option<String>,
    statement_timeout: Duration,
    connect_deadline: Duration,
    pool_size: usize,
    preload_keys: i64,
}

fn is_schema_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

/// Splits a store URL into the connection configuration and our own settings.
fn parse_url(url: &str) -> Result<(Config, Settings)> {
    let display = crate::redact(url);
    let bad =
        |what: String| StoreError::Config(format!("invalid PostgreSQL URL {display:?}: {what}"));
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut schema = None;
    let mut statement_timeout = DEFAULT_STATEMENT_TIMEOUT;
    let mut pool_size = DEFAULT_POOL_SIZE;
    let mut preload_keys = DEFAULT_PRELOAD_KEYS;
    let mut passed = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "schema" => {
                if !is_schema_name(value) {
                    return Err(bad(format!(
                        "schema {value:?} must match [a-z_][a-z0-9_]* (at most 63 characters)"
                    )));
                }
                schema = Some(value.to_owned());
            }
            "statement_timeout" => match value.parse::<u64>() {
                Ok(s) if s > 0 => statement_timeout = Duration::from_secs(s),
                _ => {
                    return Err(bad(
                        "statement_timeout must be a number of seconds > 0".into()
                    ));
                }
            },
            "pool_size" => match value.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => pool_size = n,
                _ => return Err(bad("pool_size must be a number from 1 to 1000".into())),
            },
            "preload_keys" => match value.parse::<i64>() {
                Ok(n) if (0..=10_000_000).contains(&n) => preload_keys = n,
                _ => {
                    return Err(bad(
                        "preload_keys must be a number from 0 to 10000000".into()
                    ));
                }
            },
            _ => passed.push((key, pair)),
        }
    }
    let given = |k: &str| passed.iter().any(|(key, _)| *key == k);
    let rebuilt = if passed.is_empty() {
        base.to_owned()
    } else {
        let rest: Vec<&str> = passed.iter().map(|(_, pair)| *pair).collect();
        format!("{base}?{}", rest.join("&"))
    };
    let mut config: Config = rebuilt
        .parse()
        .map_err(|e: tokio_postgres::Error| bad(chain(&e)))?;
    if matches!(config.get_ssl_mode(), SslMode::Require) {
        return Err(bad(
            "sslmode=require, but this build of ndx has no TLS for PostgreSQL: connect on the \
             database's host or a trusted network (sslmode=disable or prefer), or through a \
             local TLS tunnel"
                .into(),
        ));
    }
    if !given("connect_timeout") {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    if !given("keepalives_idle") {
        config.keepalives_idle(Duration::from_secs(30));
    }
    if !given("keepalives_interval") {
        config.keepalives_interval(Duration::from_secs(10));
    }
    if !given("keepalives_retries") {
        config.keepalives_retries(3);
    }
    if !given("tcp_user_timeout") {
        config.tcp_user_timeout(statement_timeout + client_grace(statement_timeout));
    }
    if config.get_application_name().is_none() {
        config.application_name("ndx");
    }
    // Ours first so that the URL's own `options` win; the schema last so that it wins.
    let mut options = format!(
        "-c statement_timeout={} -c synchronous_commit=on",
        statement_timeout.as_millis()
    );
    if let Some(own) = config.get_options() {
        options = format!("{options} {own}");
    }
    if let Some(s) = &schema {
        options = format!("{options} -c search_path={s}");
    }
    config.options(options);
    // As with libpq, connect_timeout bounds the whole attempt (TCP, startup, authentication)
    // for each host; tokio-postgres alone bounds the TCP connection only.
    let connect_deadline = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
        * u32::try_from(config.get_hosts().len().max(1)).unwrap_or(1);
    Ok((
        config,
        Settings {
            display,
            schema,
            statement_timeout,
            connect_deadline,
            pool_size,
            preload_keys,
        },
    ))
}

/// An error and its causes on one line (tokio-postgres keeps the useful part in the cause).
fn chain(e: &tokio_postgres::Error) -> String {
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
enum Fail {
    Pg(tokio_postgres::Error),
    /// The server did not answer within the deadline.
    Timeout(Duration),
}

impl Fail {
    fn is(&self, code: &SqlState) -> bool {
        matches!(self, Fail::Pg(e) if e.code() == Some(code))
    }

    /// Whether the connection can no longer be trusted: anything but an ordinary SQL error.
    fn breaks_connection(&self) -> bool {
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
fn wait<T>(
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

/// One server connection with its runtime and its prepared statements.
struct Conn {
    /// `Some` until dropped (shut down without blocking: drop may run anywhere).
    rt: Option<tokio::runtime::Runtime>,
    client: Client,
    statements: HashMap<String, Statement>,
    /// The client-side deadline of one statement.
    deadline: Duration,
    /// Set when the connection failed in a way that makes it unusable.
    broken: bool,
    /// A transaction is open (rolled back if the connection goes back to the pool so).
    in_tx: bool,
    last_used: Instant,
}

impl Conn {
    fn connect(config: &Config, settings: &Settings) -> Result<Conn> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot start the PostgreSQL client: {e}")))?;
        let (client, connection) =
            wait(&rt, Some(settings.connect_deadline), config.connect(NoTls)).map_err(|f| {
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

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("runtime present until drop")
    }

    fn check<T>(&mut self, r: std::result::Result<T, Fail>) -> std::result::Result<T, Fail> {
        if let Err(f) = &r
            && (f.breaks_connection() || self.client.is_closed())
        {
            self.broken = true;
        }
        r
    }

    fn prepare(&mut self, sql: &str) -> std::result::Result<Statement, Fail> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let r = wait(self.rt(), Some(self.deadline), self.client.prepare(sql));
        let stmt = self.check(r)?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    fn query_within(
        &mut self,
        limit: Option<Duration>,
        sql: &str,
        params: &Params<'_>,
    ) -> std::result::Result<Vec<Row>, Fail> {
        let stmt = self.prepare(sql)?;
        let r = wait(self.rt(), limit, self.client.query(&stmt, params));
        self.check(r)
    }

    fn query(&mut self, sql: &str, params: &Params<'_>) -> std::result::Result<Vec<Row>, Fail> {
        self.query_within(Some(self.deadline), sql, params)
    }

    fn query_opt(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> std::result::Result<Option<Row>, Fail> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    fn execute(&mut self, sql: &str, params: &Params<'_>) -> std::result::Result<u64, Fail> {
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
    fn copy_in<'a, const N: usize>(
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
    fn query_committed(
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
    fn simple(&mut self, sql: &str) -> std::result::Result<(), Fail> {
        self.simple_within(Some(self.deadline), sql)
    }

    /// [`Conn::simple`] with another client deadline (`None`: none).
    fn simple_within(
        &mut self,
        limit: Option<Duration>,
        sql: &str,
    ) -> std::result::Result<(), Fail> {
        let r = wait(self.rt(), limit, self.client.batch_execute(sql));
        self.check(r)
    }

    fn begin(&mut self, sql: &str) -> std::result::Result<(), Fail> {
        // Marked first: when `sql` holds several statements (BEGIN, then a lock or a SET), a
        // later one can fail after BEGIN succeeded, and the pool must roll that back.
        self.in_tx = true;
        self.simple(sql)
    }

    fn commit(&mut self) -> std::result::Result<(), Fail> {
        let r = self.simple("COMMIT");
        self.in_tx = false;
        r
    }

    fn rollback(&mut self) {
        if self.simple("ROLLBACK").is_err() {
            self.broken = true;
        }
        self.in_tx = false;
    }

    /// Whether the connection is still open as far as can be told without a round trip: lets
    /// the connection task read what the server sent while the connection was idle (a server
    /// that shuts down or terminates the session says so before closing).
    fn looks_alive(&mut self) -> bool {
        self.rt().block_on(async {
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        });
        !self.client.is_closed()
    }

    /// Whether the server still answers (an empty query, one round trip).
    fn ping(&mut self) -> bool {
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

/// A small pool: at most `pool_size` connections, idle ones reused most-recent first.
struct Pool {
    config: Config,
    settings: Settings,
    state: Mutex<PoolState>,
    freed: Condvar,
}

struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

/// A connection checked out of the pool; it goes back (or is discarded if broken) on drop.
struct Pooled {
    pool: Arc<Pool>,
    conn: Option<Conn>,
}

impl std::ops::Deref for Pooled {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put(conn);
        }
    }
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(self: &Arc<Self>) -> Result<Pooled> {
        let since = Instant::now();
        // Waiting for a free connection is bounded like a statement.
        let patience = self.settings.statement_timeout;
        let mut state = self.lock();
        loop {
            if let Some(mut conn) = state.idle.pop() {
                drop(state);
                if conn.looks_alive() && (conn.last_used.elapsed() < IDLE_CHECK || conn.ping()) {
                    return Ok(Pooled {
                        pool: self.clone(),
                        conn: Some(conn),
                    });
                }
                tracing::info!("discarding a dead PostgreSQL connection");
                drop(conn);
                state = self.lock();
                state.open -= 1;
                continue;
            }
            if state.open < self.settings.pool_size {
                state.open += 1;
                drop(state);
                return match Conn::connect(&self.config, &self.settings) {
                    Ok(conn) => Ok(Pooled {
                        pool: self.clone(),
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let waited = since.elapsed();
            if waited >= patience {
                return Err(StoreError::Backend(format!(
                    "all {} connections to PostgreSQL are busy (waited {}s)",
                    self.settings.pool_size,
                    waited.as_secs()
                )));
            }
            state = self
                .freed
                .wait_timeout(state, patience - waited)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn put(&self, mut conn: Conn) {
        if conn.in_tx && !conn.broken {
            conn.rollback();
        }
        if conn.broken || conn.client.is_closed() {
            tracing::info!("discarding a broken PostgreSQL connection");
            drop(conn);
            self.lock().open -= 1;
        } else {
            conn.last_used = Instant::now();
            self.lock().idle.push(conn);
        }
        self.freed.notify_one();
    }
}

/// Reads column `i`, as an error (not a panic) if its type is unexpected.
fn col<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<T> {
    row.try_get(i).map_err(|e| Fail::Pg(e).into())
}

/// Maps one SQLSTATE of a failed statement to a store error; other failures pass through.
fn on_code<T>(
    r: std::result::Result<T, Fail>,
    code: &SqlState,
    err: impl FnOnce() -> StoreError,
) -> Result<T> {
    match r {
        Err(f) if f.is(code) => Err(err()),
        r => Ok(r?),
    }
}

fn migrate(conn: &mut Conn, settings: &Settings) -> Result<()> {
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

pub(crate) struct PostgresBackend {
    pool: Arc<Pool>,
}

impl PostgresBackend {
    pub(crate) fn open(url: &str) -> Result<Self> {
        let (config, settings) = parse_url(url)?;
        let pool = Arc::new(Pool {
            config,
            settings,
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        });
        let mut conn = pool.get()?;
        migrate(&mut conn, &pool.settings)?;
        drop(conn);
        Ok(PostgresBackend { pool })
    }

    fn conn(&self) -> Result<Pooled> {
        self.pool.get()
    }

    /// Runs `f` inside a transaction (committed if it succeeds, rolled back otherwise).
    fn transaction<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let mut c = self.conn()?;
        c.begin("BEGIN")?;
        match f(&mut c) {
            Ok(v) => {
                c.commit()?;
                Ok(v)
            }
            Err(e) => {
                c.rollback();
                Err(e)
            }
        }
    }
}

const VERSION_COLUMNS: &str = "r.version, b.created_at, b.source_system, b.batch_id, \
                               b.schema_version, r.hash, r.body, r.key";

fn version_from_row(r: &Row) -> Result<RecordVersion> {
    Ok(RecordVersion {
        version: col::<i64>(r, 0)? as u64,
        recorded_at: col(r, 1)?,
        source_system: col(r, 2)?,
        batch_id: col(r, 3)?,
        schema_version: col(r, 4)?,
        content_hash: hex::encode(col::<&[u8]>(r, 5)?),
        body: col(r, 6)?,
        key: col(r, 7)?,
    })
}

/// Whether version `r` is its key's current one. As a condition beside `ORDER BY r.key LIMIT n`
/// it is planned as one forward scan of `versions_key` with a probe of the next entry per row,
/// which stops after n rows (`DISTINCT ON (key)` is planned as a sort of the whole dataset).
/// The dataset must come from a subquery (an InitPlan), not a value: with a value, a dataset
/// loaded since the last ANALYZE looks empty to the planner, which then rescans the dataset
/// for every row instead of probing (measured: 48 s for 10,000 rows of a 20,000-row dataset).
const IS_CURRENT: &str = "NOT EXISTS (SELECT 1 FROM versions n
     WHERE n.dataset = r.dataset AND n.key = r.key AND n.version > r.version)";

/// The versions of one record (`$1` dataset name, `$2` key) with their batches, newest first.
const RECORD_VERSIONS: &str = "FROM versions r JOIN batches b ON b.seq = r.batch
     WHERE r.dataset = (SELECT id FROM datasets WHERE name = $1) AND r.key = $2";

impl Backend for PostgresBackend {
    fn begin_batch(&self, dataset: &str, meta: BatchMeta) -> Result<Box<dyn BatchBackend>> {
        let mut c = self.conn()?;
        // Waiting for the other writers of the dataset has no time limit (as with SQLite's
        // single writer); every later statement of the batch has the usual one. Statements
        // are planned for each chunk: a generic plan cached while the dataset was small would
        // scan the whole table for every chunk of a big load (the tables grow inside this
        // transaction, where no ANALYZE can refresh the plan).
        c.begin(
            "BEGIN; SET LOCAL statement_timeout = 0; \
             SET LOCAL plan_cache_mode = force_custom_plan",
        )?;
        let begun = (|| -> Result<(i32, i64)> {
            const LOCK: &str = "SELECT id FROM datasets WHERE name = $1 FOR NO KEY UPDATE";
            let mut row = c.query_within(None, LOCK, &[&dataset])?.into_iter().next();
            if row.is_none() {
                // A dataset's records begin with its first batch. Inserted only when missing:
                // a conflicting insert would still use up an identity value.
                c.execute(
                    "INSERT INTO datasets(name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                    &[&dataset],
                )?;
                row = c.query_within(None, LOCK, &[&dataset])?.into_iter().next();
            }
            let row =
                row.ok_or_else(|| StoreError::Backend(format!("dataset {dataset:?} has no row")))?;
            let id: i32 = col(&row, 0)?;
            let timeout = self.pool.settings.statement_timeout.as_millis();
            c.simple(&format!("SET LOCAL statement_timeout = {timeout}"))?;
            let r = c.query(
                "INSERT INTO batches(dataset, batch_id, request_hash, source_system,
                                     schema_version, created_at)
                 VALUES ($1, $2, '', $3, $4, $5) RETURNING seq",
                &[
                    &id,
                    &meta.batch_id,
                    &meta.source_system,
                    &meta.schema_version.to_string(),
                    &meta.at,
                ],
            );
            let rows = on_code(r, &SqlState::UNIQUE_VIOLATION, || {
                StoreError::Conflict(format!(
                    "batch {:?} was already applied to {dataset:?}",
                    meta.batch_id
                ))
            })?;
            let seq = match rows.first() {
                Some(row) => col(row, 0)?,
                None => return Err(StoreError::Backend("no batch sequence returned".into())),
            };
            Ok((id, seq))
        })();
        match begun {
            Ok((dataset, seq)) => Ok(Box::new(PgBatch {
                link: Link::Ready(Box::new(c)),
                dataset,
                seq,
                live_change: 0,
                unchanged: HashSet::new(),
                preload_keys: self.pool.settings.preload_keys,
                ops_seen: 0,
                known: None,
                pending: Vec::new(),
                pending_bytes: 0,
                failed: false,
            })),
            Err(e) => {
                c.rollback();
                Err(e)
            }
        }
    }

    fn batch(&self, dataset: &str, batch_id: &str) -> Result<Option<StoredBatch>> {
        let row = self.conn()?.query_opt(
            "SELECT b.batch_id, b.request_hash, b.report FROM batches b
             JOIN datasets d ON d.id = b.dataset
             WHERE d.name = $1 AND b.batch_id = $2 AND b.report IS NOT NULL",
            &[&dataset, &batch_id],
        )?;
        row.map(|r| {
            Ok(StoredBatch {
                batch_id: col(&r, 0)?,
                request_hash: col(&r, 1)?,
                report: col(&r, 2)?,
            })
        })
        .transpose()
    }

    fn record(
        &self,
        dataset: &str,
        key: &str,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Option<RecordVersion>> {
        let mut c = self.conn()?;
        let row = match as_of {
            None => c.query_opt(
                &format!(
                    "SELECT {VERSION_COLUMNS} {RECORD_VERSIONS} ORDER BY r.version DESC LIMIT 1"
                ),
                &[&dataset, &key],
            )?,
            // The newest version recorded at or before `t`: the first one met walking back.
            Some(t) => c.query_opt(
                &format!(
                    "SELECT {VERSION_COLUMNS} {RECORD_VERSIONS} AND b.created_at <= $3
                     ORDER BY r.version DESC LIMIT 1"
                ),
                &[&dataset, &key, &t],
            )?,
        };
        row.as_ref().map(version_from_row).transpose()
    }

    fn history(&self, dataset: &str, key: &str) -> Result<Vec<RecordVersion>> {
        let rows = self.conn()?.query(
            &format!("SELECT {VERSION_COLUMNS} {RECORD_VERSIONS} ORDER BY r.version DESC"),
            &[&dataset, &key],
        )?;
        rows.iter().map(version_from_row).collect()
    }

    fn list(
        &self,
        dataset: &str,
        filters: &[FieldFilter],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordVersion>> {
        let after = after.unwrap_or("");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut sql = format!(
            "SELECT {VERSION_COLUMNS} FROM versions r JOIN batches b ON b.seq = r.batch
             WHERE r.dataset = (SELECT id FROM datasets WHERE name = $1) AND r.key > $2
               AND r.body IS NOT NULL AND {IS_CURRENT}"
        );
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&dataset, &after];
        for f in filters {
            if f.value.is_null() {
                // As with SQLite's json_extract, a JSON null equals nothing.
                sql.push_str(" AND false");
                continue;
            }
            // Field name and value are both bound: neither reaches the SQL text. jsonb
            // equality is typed: "4" (a string) does not equal 4 (a number).
            sql.push_str(&format!(
                " AND (r.body::jsonb -> ${}::text) = ${}::jsonb",
                params.len() + 1,
                params.len() + 2
            ));
            params.push(&f.field);
            params.push(&f.value);
        }
        sql.push_str(&format!(" ORDER BY r.key LIMIT ${}", params.len() + 1));
        params.push(&limit);
        let rows = self.conn()?.query(&sql, &params)?;
        rows.iter().map(version_from_row).collect()
    }

    fn count(&self, dataset: &str) -> Result<u64> {
        let rows = self
            .conn()?
            .query("SELECT live FROM datasets WHERE name = $1", &[&dataset])?;
        match rows.first() {
            Some(r) => Ok(col::<i64>(r, 0)? as u64),
            None => Ok(0),
        }
    }

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
        let rows = self
            .conn()?
            .query("SELECT coalesce(max(idx) + 1, 0) FROM audit_entries", &[])?;
        match rows.first() {
            Some(r) => loaded_index(col(r, 0)?),
            None => Ok(0),
        }
    }

    fn audit_entries(&self, start: u64, end: u64) -> Result<Vec<AuditEntry>> {
        let Some((first, last)) = stored_range(start, end) else {
            return Ok(Vec::new());
        };
        let rows = self.conn()?.query(
            "SELECT idx, bytes FROM audit_entries WHERE idx >= $1 AND idx <= $2 ORDER BY idx",
            &[&first, &last],
        )?;
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

    fn audit_heads(&self, from_size: u64, limit: usize) -> Result<Vec<StoredHead>> {
        let Ok(from) = i64::try_from(from_size) else {
            return Ok(Vec::new());
        };
        let rows = self.conn()?.query(
            &format!(
                "SELECT {HEAD_COLUMNS} FROM audit_heads WHERE tree_size >= $1
                 ORDER BY tree_size LIMIT $2"
            ),
            &[&from, &stored_limit(limit)],
        )?;
        rows.iter().map(head_from_row).collect()
    }

    fn subject_accesses(
        &self,
        subject: &[u8; 32],
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>> {
        let last = crate::last_before(before);
        let rows = self.conn()?.query(
            "SELECT idx FROM subject_accesses WHERE subject = $1 AND idx <= $2
             ORDER BY idx DESC LIMIT $3",
            &[&&subject[..], &last, &stored_limit(limit)],
        )?;
        rows.iter().map(|r| loaded_index(col(r, 0)?)).collect()
    }
}

/// Appends a group in one statement (one round trip), run while holding the audit lock: the
/// log size is read in the statement's snapshot and every insert happens only if the group
/// starts there, so a refused group writes nothing; the caller compares the size returned
/// with `$1`. Rows travel as arrays, unnested on the server. A subject named twice for one
/// entry is one row of the tracker.
const AUDIT_APPEND: &str = "WITH s AS (
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
const AUDIT_NODES: &str = "SELECT (SELECT n.hash FROM audit_nodes n
                             WHERE n.level = a.level AND n.idx = a.idx)
    FROM unnest($1::integer[], $2::bigint[]) WITH ORDINALITY AS a(level, idx, ord)
   ORDER BY a.ord";

const HEAD_COLUMNS: &str = "tree_size, signed_at, root, signature";

fn head_from_row(r: &Row) -> Result<StoredHead> {
    Ok(StoredHead {
        tree_size: loaded_index(col(r, 0)?)?,
        timestamp: col(r, 1)?,
        root_hash: loaded_bytes(col(r, 2)?, "root hash")?,
        signature: loaded_bytes(col(r, 3)?, "signature")?,
    })
}

/// One open batch: a pooled connection inside its transaction, holding the dataset lock.
struct PgBatch {
    link: Link,
    dataset: i32,
    seq: i64,
    /// Records created minus records deleted so far: added to `datasets.live` at commit.
    live_change: i64,
    /// Keys this batch found unchanged: a second occurrence is still a duplicate.
    unchanged: HashSet<String>,
    /// Datasets of at most this many keys are read up front by a big batch.
    preload_keys: i64,
    /// Records handed to this batch so far.
    ops_seen: usize,
    /// Once the batch has proved big (more than [`READ_UP_FRONT_AFTER`] records), on a dataset
    /// of at most `preload_keys` keys: the current version of every key, read once (this batch
    /// is the only writer: it holds the dataset lock). Chunks then skip the lookup (a quarter of
    /// the database's time in bulk loads, BENCHMARKS.md).
    known: Option<Known>,
    /// Versions decided and not yet sent (`send_now`, `send_behind`), with the bytes of their
    /// keys and bodies.
    pending: Vec<PendingVersion>,
    pending_bytes: usize,
    /// A write failed: the transaction is aborted and must not be committed.
    failed: bool,
}

/// What a batch on a small dataset knows without asking the database.
struct Known {
    /// The dataset's current versions when they were read.
    existing: HashMap<String, Current>,
    /// Hashes of the keys this batch has written since (16 bytes or so a key, whatever its
    /// length): a key whose hash is here may have been written, and is looked up in the
    /// database, which knows for sure.
    written: HashSet<u64>,
}

/// Past this many keys written, a batch stops remembering them and looks keys up instead
/// (memory stays bounded whatever the size of the batch).
const MAX_REMEMBERED_KEYS: usize = 4_000_000;

fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// A batch of more records than this reads a small dataset's current versions once (a smaller
/// one looks its keys up: reading thousands of rows for a write of a few would cost more).
const READ_UP_FRONT_AFTER: usize = 1_024;

/// Versions a key may have on average for its dataset to be read up front (the read is bounded
/// by rows, not keys).
const VERSIONS_PER_KEY: i64 = 4;

/// Datasets with at most this many keys have their current versions read once by a big batch
/// (the `preload_keys` URL parameter).
const DEFAULT_PRELOAD_KEYS: i64 = 10_000;

/// The current version of a key as a chunk sees it.
#[derive(Clone)]
struct Current {
    version: i64,
    hash: Vec<u8>,
    batch: i64,
    deleted: bool,
}

impl Current {
    /// From a row of `key, version, hash, batch, deleted` (the key is column 0).
    fn from_row(row: &Row) -> Result<Current> {
        Ok(Current {
            version: col(row, 1)?,
            hash: col(row, 2)?,
            batch: col(row, 3)?,
            deleted: col(row, 4)?,
        })
    }
}

/// The current versions of a chunk's keys: one probe of `versions_key` per key.
/// (`key = ANY($2)` is planned from statistics, and a dataset that grows inside the batch's
/// transaction has none yet: PostgreSQL then reads the whole dataset for every chunk. A probe
/// inside a LATERAL subquery that cannot be flattened is planned the same way whatever the
/// stats.)
const LOOKUP: &str = "SELECT k.key, c.version, c.hash, c.batch, c.deleted
     FROM unnest($2::text[]) AS k(key)
     CROSS JOIN LATERAL (
       SELECT version, hash, batch, body IS NULL AS deleted FROM versions
        WHERE dataset = $1 AND versions.key = k.key ORDER BY version DESC LIMIT 1
     ) c";

/// Versions go in by binary COPY: PostgreSQL inserts them many to a page, as a bare COPY does.
/// The batch holds its dataset's lock and numbered each version from what it read, so no
/// conflict is possible (one that happened anyway would fail the batch on `versions_key`).
const COPY_VERSIONS: &str =
    "COPY versions(dataset, key, version, batch, hash, body) FROM STDIN (FORMAT binary)";
const VERSION_TYPES: [Type; 6] = [
    Type::INT4,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::BYTEA,
    Type::TEXT,
];

/// Decided versions are sent once this many have gathered (or this many bytes of keys and
/// bodies), before the batch next looks keys up, and at commit: fewer, larger COPYs.
const FLUSH_VERSIONS: usize = 8_192;
const FLUSH_BYTES: usize = 8 << 20;

/// A version decided by the batch and not yet sent to the server.
struct PendingVersion {
    key: String,
    version: i64,
    /// Empty for a tombstone.
    hash: Vec<u8>,
    body: Option<String>,
}

/// A batch's connection: between calls, or lent to the thread sending a group of versions
/// while the batch decides the next ones (the server inserts one group while ndx validates
/// and decides the next: neither waits for the other).
enum Link {
    Ready(Box<Pooled>),
    Sending(std::thread::JoinHandle<(Box<Pooled>, Result<()>)>),
    /// Committed, or the sending thread died.
    Gone,
}

fn no_connection() -> StoreError {
    StoreError::Backend("the batch has no connection any more".into())
}

/// Sends a group of versions.
fn send_versions(conn: &mut Conn, dataset: i32, seq: i64, group: &[PendingVersion]) -> Result<()> {
    conn.copy_in(COPY_VERSIONS, &VERSION_TYPES, group.len(), |i| {
        let v = &group[i];
        [&dataset, &v.key, &v.version, &seq, &v.hash, &v.body]
    })?;
    Ok(())
}

impl PgBatch {
    /// The connection, once the group being sent (if any) has been received by the server.
    fn ready(&mut self) -> Result<&mut Pooled> {
        match std::mem::replace(&mut self.link, Link::Gone) {
            Link::Sending(sending) => {
                let (conn, sent) = sending.join().map_err(|_| {
                    StoreError::Backend("the thread sending a batch's records panicked".into())
                })?;
                self.link = Link::Ready(conn);
                sent?;
            }
            other => self.link = other,
        }
        match &mut self.link {
            Link::Ready(conn) => Ok(conn),
            _ => Err(no_connection()),
        }
    }

    /// Takes the connection out of the batch (to a sending thread, or to commit).
    fn take_ready(&mut self) -> Result<Box<Pooled>> {
        self.ready()?;
        match std::mem::replace(&mut self.link, Link::Gone) {
            Link::Ready(conn) => Ok(conn),
            _ => Err(no_connection()),
        }
    }

    /// Sends the pending versions and waits for the server to have them (before a lookup,
    /// and at commit: a thread would only be waited for).
    fn send_now(&mut self) -> Result<()> {
        let (dataset, seq) = (self.dataset, self.seq);
        let group = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let conn = self.ready()?;
        if !group.is_empty() {
            send_versions(conn, dataset, seq, &group)?;
        }
        Ok(())
    }

    /// Hands the pending versions to a thread that sends them, after the previous group.
    fn send_behind(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut conn = self.take_ready()?;
        let group = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let (dataset, seq) = (self.dataset, self.seq);
        let sending = std::thread::Builder::new()
            .name("ndx-pg-batch".into())
            .spawn(move || {
                let sent = send_versions(&mut conn, dataset, seq, &group);
                (conn, sent)
            })
            .map_err(|e| StoreError::Backend(format!("cannot start a thread: {e}")))?;
        self.link = Link::Sending(sending);
        Ok(())
    }

    /// Reads the current version of every key of a dataset of at most `preload_keys` keys
    /// (the versions this batch decided so far included, sent first); on a bigger dataset the
    /// batch goes on looking keys up.
    fn read_up_front(&mut self) -> Result<()> {
        self.send_now()?;
        // Every version, newest first within a key, in the order of `versions_key`: one range
        // scan whatever the statistics (a dataset loaded since the last ANALYZE looks empty to
        // the planner, which then turns a "no newer version" condition into a rescan of the
        // dataset for every row). A dataset with more versions than this is not read.
        let (dataset, row_limit) = (self.dataset, (self.preload_keys + 1) * VERSIONS_PER_KEY);
        let rows = self.ready()?.query(
            "SELECT key, version, hash, batch, body IS NULL FROM versions
              WHERE dataset = $1 ORDER BY key, version DESC LIMIT $2",
            &[&dataset, &row_limit],
        )?;
        if rows.len() as i64 >= row_limit {
            return Ok(());
        }
        let mut existing: HashMap<String, Current> = HashMap::new();
        for row in &rows {
            let key: String = col(row, 0)?;
            if existing.contains_key(&key) {
                continue; // an older version: the newest came first
            }
            existing.insert(key, Current::from_row(row)?);
            if existing.len() as i64 > self.preload_keys {
                return Ok(());
            }
        }
        self.known = Some(Known {
            existing,
            written: HashSet::new(),
        });
        Ok(())
    }

    /// The current versions of `keys` as the database has them (every decided version sent
    /// first).
    fn look_up(&mut self, keys: &[&str]) -> Result<Vec<Row>> {
        self.send_now()?;
        let dataset = self.dataset;
        Ok(self.ready()?.query(LOOKUP, &[&dataset, &keys])?)
    }

    fn write_chunk(&mut self, ops: &[WriteOp], out: &mut Vec<WriteOutcome>) -> Result<()> {
        let seen_before = self.ops_seen;
        self.ops_seen += ops.len();
        if seen_before <= READ_UP_FRONT_AFTER
            && self.ops_seen > READ_UP_FRONT_AFTER
            && self.preload_keys > 0
        {
            self.read_up_front()?;
        }
        // 1. The current version of every key of the chunk: from what the batch read up front
        //    where it can, else one lookup.
        let mut state: HashMap<&str, Option<Current>> = HashMap::with_capacity(ops.len());
        for op in ops {
            state.entry(op.key.as_str()).or_insert(None);
        }
        let rows = match &self.known {
            Some(known) => {
                let mut maybe_written = Vec::new();
                for (key, slot) in state.iter_mut() {
                    if known.written.contains(&key_hash(key)) {
                        maybe_written.push(*key);
                    } else {
                        *slot = known.existing.get(*key).cloned();
                    }
                }
                if maybe_written.is_empty() {
                    Vec::new()
                } else {
                    self.look_up(&maybe_written)?
                }
            }
            None => {
                let keys: Vec<&str> = state.keys().copied().collect();
                self.look_up(&keys)?
            }
        };
        for row in &rows {
            let key: &str = col(row, 0)?;
            if let Some(slot) = state.get_mut(key) {
                *slot = Some(Current::from_row(row)?);
            }
        }
        // 2. Outcomes in order, exactly as the SQLite backend decides them.
        let written_before = self.pending.len();
        for op in ops {
            let key = op.key.as_str();
            let cur = state.get(key).and_then(Option::as_ref);
            if cur.is_some_and(|c| c.batch == self.seq) || self.unchanged.contains(key) {
                out.push(WriteOutcome::DuplicateInBatch);
                continue;
            }
            let outcome = match (&op.body, cur) {
                (None, Some(c)) if !c.deleted => WriteOutcome::Deleted,
                (None, _) => {
                    out.push(WriteOutcome::NotFound);
                    continue;
                }
                (Some(_), Some(c)) if !c.deleted && c.hash == op.hash => {
                    self.unchanged.insert(op.key.clone());
                    out.push(WriteOutcome::Unchanged);
                    continue;
                }
                (Some(_), Some(c)) if !c.deleted => WriteOutcome::Updated,
                (Some(_), _) => WriteOutcome::Created,
            };
            let version = cur.map_or(1, |c| c.version + 1);
            self.live_change += outcome.live_change();
            self.pending_bytes += op.key.len() + op.body.as_ref().map_or(0, String::len);
            self.pending.push(PendingVersion {
                key: op.key.clone(),
                version,
                hash: if op.body.is_some() {
                    op.hash.to_vec()
                } else {
                    Vec::new()
                },
                body: op.body.clone(),
            });
            state.insert(
                key,
                Some(Current {
                    version,
                    hash: Vec::new(),
                    batch: self.seq,
                    deleted: op.body.is_none(),
                }),
            );
            out.push(outcome);
        }
        if let Some(known) = &mut self.known {
            let new_keys = &self.pending[written_before..];
            known
                .written
                .extend(new_keys.iter().map(|v| key_hash(&v.key)));
            if known.written.len() > MAX_REMEMBERED_KEYS {
                self.known = None;
            }
        }
        // 3. Enough decided versions go to the server together.
        if self.pending.len() >= FLUSH_VERSIONS || self.pending_bytes >= FLUSH_BYTES {
            self.send_behind()?;
        }
        Ok(())
    }
}

impl Drop for PgBatch {
    /// A batch dropped uncommitted waits for the group being sent, so that its connection is
    /// back in the pool (rolled back, the dataset lock released) when the drop returns.
    fn drop(&mut self) {
        if let Link::Sending(sending) = std::mem::replace(&mut self.link, Link::Gone) {
            drop(sending.join());
        }
    }
}

impl BatchBackend for PgBatch {
    fn write(&mut self, ops: &[WriteOp], out: &mut Vec<WriteOutcome>) -> Result<()> {
        if self.failed {
            return Err(StoreError::Backend(
                "an earlier write of this batch failed: the batch is rolled back".into(),
            ));
        }
        let start = out.len();
        let r = self.write_chunk(ops, out);
        if r.is_err() {
            out.truncate(start);
            self.failed = true;
        }
        r
    }

    fn commit(mut self: Box<Self>, request_hash: &str, report: &str) -> Result<()> {
        if self.failed {
            return Err(StoreError::Backend(
                "an earlier write of this batch failed: the batch is rolled back".into(),
            ));
        }
        self.send_now()?;
        let mut conn = self.take_ready()?;
        // On failure the pooled connection rolls back (or is discarded) when dropped.
        conn.execute(
            "WITH d AS (UPDATE datasets SET live = live + $4 WHERE id = $5)
             UPDATE batches SET report = $2, request_hash = $3 WHERE seq = $1",
            &[
                &self.seq,
                &report,
                &request_hash,
                &self.live_change,
                &self.dataset,
            ],
        )?;
        conn.commit()?;
        Ok(())
    }
}
