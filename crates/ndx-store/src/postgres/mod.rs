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
//! Every connection plans without sequential or bitmap scans (`enable_seqscan`,
//! `enable_bitmapscan` off; a URL's `options` may set them back): each query of ndx has an index
//! that answers it in order, and plans must not depend on statistics being fresh.
//!
//! Semantics are those of the SQLite backend, outcome for outcome (the conformance suite runs
//! on both): a batch is one transaction that locks its dataset's row (`FOR NO KEY UPDATE`), so
//! writers of one dataset are serialized; every version is one row of `versions`, keyed by
//! (dataset, key, version), and the current version of a key is its highest. Text keys are
//! `COLLATE "C"` (keys sort by byte, as in SQLite). `datasets.live` counts the non-deleted
//! records (kept by each batch's commit), so `count` reads one row.
//!
//! Every connection has its own current-thread Tokio runtime that runs only while the calling
//! thread waits on it (like the `postgres` crate, but every wait has a deadline). The backend
//! is synchronous: call it from blocking threads, never from inside an async task.
//! Connections come from a small pool with connect and statement deadlines; broken
//! connections are discarded, so the store recovers when the server returns.
//!
//! Modules by concern: `url` (URL parameters and settings), `conn` (a connection with
//! deadlines), `pool`, `migrate` (at open, under an advisory lock), `catalog` (the catalogue's
//! SQL primitives), `records` (reads), `batch` (the tuned batch writer), `audit` (the audit log);
//! `plans` (tests) checks on a real server that the hot queries keep their index plans.

mod audit;
mod batch;
mod blobs;
mod catalog;
mod conn;
mod migrate;
#[cfg(test)]
mod plans;
mod pool;
mod records;
pub(crate) mod tls;
mod url;

use std::sync::{Arc, Condvar, Mutex};

use self::conn::Conn;
use self::migrate::{check_version, migrate};
use self::pool::{Pool, PoolState, Pooled};
use self::url::parse_url;
use crate::{OpenMode, Result};

pub(crate) struct PostgresBackend {
    pool: Arc<Pool>,
}

impl PostgresBackend {
    pub(crate) fn open(url: &str, mode: OpenMode) -> Result<Self> {
        let (mut config, settings) = parse_url(url)?;
        if mode == OpenMode::ReadOnly {
            // Every transaction of every session is read-only: the server refuses any write.
            let options = format!(
                "{} -c default_transaction_read_only=on",
                config.get_options().unwrap_or_default()
            );
            config.options(options.trim_start());
        }
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
        if mode == OpenMode::Create {
            migrate(&mut conn, &pool.settings)?;
        } else {
            check_version(&mut conn, &pool.settings, mode == OpenMode::ReadOnly)?;
            if mode == OpenMode::Existing {
                migrate(&mut conn, &pool.settings)?;
            }
        }
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
