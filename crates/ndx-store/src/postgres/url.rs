//! The store URL: what `tokio_postgres::Config` understands is passed on (with our defaults
//! for timeouts and keepalives), and our own parameters (`schema`, `statement_timeout`,
//! `pool_size`, `preload_keys`) become [`Settings`].

use std::time::Duration;

use tokio_postgres::Config;

use super::tls::{self, SslMode, Tls};

use super::conn::chain;
use crate::{Result, StoreError};

pub(super) const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
pub(super) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const DEFAULT_POOL_SIZE: usize = 16;

/// How long the client waits beyond the server's statement timeout before it gives up on a
/// server (or network) that does not answer at all: the server cancels first, with a clearer
/// error, when it can.
pub(super) fn client_grace(statement_timeout: Duration) -> Duration {
    (statement_timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(10))
}

/// What the URL says beyond what `tokio_postgres::Config` understands.
#[derive(Debug)]
pub(super) struct Settings {
    /// The URL with its password hidden, for messages.
    pub(super) display: String,
    pub(super) schema: Option<String>,
    pub(super) statement_timeout: Duration,
    pub(super) connect_deadline: Duration,
    pub(super) pool_size: usize,
    pub(super) preload_keys: i64,
    /// The connector `sslmode` needs (`tls.rs`).
    pub(super) tls: Tls,
}

pub(super) fn is_schema_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

/// Splits a store URL into the connection configuration and our own settings.
pub(super) fn parse_url(url: &str) -> Result<(Config, Settings)> {
    let display = crate::redact(url);
    let bad =
        |what: String| StoreError::Config(format!("invalid PostgreSQL URL {display:?}: {what}"));
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut schema = None;
    let mut statement_timeout = DEFAULT_STATEMENT_TIMEOUT;
    let mut pool_size = DEFAULT_POOL_SIZE;
    let mut preload_keys = DEFAULT_PRELOAD_KEYS;
    // libpq's default.
    let mut ssl_mode = SslMode::Prefer;
    let mut rootcert: Option<String> = None;
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
            "sslmode" => {
                ssl_mode = SslMode::parse(value).ok_or_else(|| {
                    bad(format!(
                        "sslmode {value:?} must be disable, allow, prefer, require, verify-ca or \
                         verify-full"
                    ))
                })?;
            }
            "sslrootcert" => {
                let path = percent_decode(value).map_err(|e| bad(format!("sslrootcert: {e}")))?;
                if path.is_empty() {
                    return Err(bad("sslrootcert must name a file".into()));
                }
                rootcert = Some(path);
            }
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
    config.ssl_mode(ssl_mode.negotiation());
    let tls = tls::connector(ssl_mode, rootcert.as_deref()).map_err(bad)?;
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
    // Every query of ndx has an index that answers it in key order; with statistics that are
    // stale (a dataset loaded since the last ANALYZE, a server without autovacuum) the planner
    // takes a big dataset for a small one and reads all of it, then sorts, to return the first
    // rows of a limit: a 1,025-row batch on 3 million keys took 1.4 s instead of 0.012 s.
    // Without sequential and bitmap scans the plan is the same whatever the statistics say
    // (`PLANNER_OPTIONS`; the plans test checks it on a real server).
    let mut options = format!(
        "-c statement_timeout={} -c synchronous_commit=on {PLANNER_OPTIONS}",
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
            tls,
        },
    ))
}

/// A URL query value with its `%XX` escapes decoded (a file path may hold `/` or spaces).
fn percent_decode(value: &str) -> std::result::Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("{value:?} has a bad %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{value:?} is not UTF-8 once decoded"))
}

/// Planner settings of every connection: plans that do not depend on fresh statistics, and no
/// JIT compilation. With sequential scans off, the scan of a table that has no index for the
/// query (the few rows of `catalog_generations`, read on every request) is costed at 10^10 and
/// crosses every JIT threshold: PostgreSQL then compiled that query with LLVM each time (tens of
/// milliseconds of CPU; governed lookups fell to 56 requests/s). ndx's queries are short index
/// scans, which JIT never speeds up.
pub(super) const PLANNER_OPTIONS: &str =
    "-c enable_seqscan=off -c enable_bitmapscan=off -c jit=off";

/// Datasets with at most this many keys have their current versions read once by a big batch
/// (the `preload_keys` URL parameter).
pub(super) const DEFAULT_PRELOAD_KEYS: i64 = 10_000;
