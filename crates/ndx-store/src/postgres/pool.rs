//! A small pool of connections: at most `pool_size`, idle ones reused most-recent first and
//! checked before reuse; broken ones are discarded, so the store recovers when the server
//! returns. Waiting for a free connection is bounded like a statement.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio_postgres::Config;

use super::conn::Conn;
use super::url::Settings;
use crate::{Result, StoreError};

/// A pooled connection idle this long is checked with an empty query before it is handed out
/// (one that the server closed is noticed without a query, whatever its idle time).
pub(super) const IDLE_CHECK: Duration = Duration::from_secs(1);

/// A small pool: at most `pool_size` connections, idle ones reused most-recent first.
pub(super) struct Pool {
    pub(super) config: Config,
    pub(super) settings: Settings,
    pub(super) state: Mutex<PoolState>,
    pub(super) freed: Condvar,
}

pub(super) struct PoolState {
    pub(super) idle: Vec<Conn>,
    pub(super) open: usize,
}

/// A connection checked out of the pool; it goes back (or is discarded if broken) on drop.
pub(super) struct Pooled {
    pub(super) pool: Arc<Pool>,
    pub(super) conn: Option<Conn>,
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
    pub(super) fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn get(self: &Arc<Self>) -> Result<Pooled> {
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

    pub(super) fn put(&self, mut conn: Conn) {
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
