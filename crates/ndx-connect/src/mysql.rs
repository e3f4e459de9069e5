//! A MariaDB / MySQL source: one connection in a read-only session with a statement time
//! limit, TLS by `sslmode` (`disable` by default; `require`, `verify-ca`, `verify-full` with
//! `sslrootcert`; MySQL clients have no `prefer`), rows as `JSON_OBJECT`, cursor values bound
//! as parameters.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, SslOpts};
use ndx_core::connector::{Row, SourceQuery, SourceReader};
use ndx_core::error::Result;
use ndx_store::pg_tls::SslMode;
use ndx_types::connector::Cursor;
use serde_json::Value;

use crate::url::{Settings, shown};
use crate::{Waiter, parse_rows, unavailable};

pub(crate) struct MyReader {
    waiter: Waiter,
    conn: Option<Conn>,
    settings: Settings,
}

/// `` `name` ``, or `` `schema`.`name` ``.
fn ident(name: &str) -> String {
    crate::quoted(name, '`')
}

/// A string literal for `JSON_OBJECT`'s member names (only validated column names reach it).
fn name_literal(name: &str) -> String {
    format!("'{}'", name.replace('\\', "\\\\").replace('\'', "''"))
}

/// A JSON value the source gave, bound as a parameter.
fn param(v: &Value) -> mysql_async::Value {
    match v {
        Value::Null => mysql_async::Value::NULL,
        Value::Bool(b) => mysql_async::Value::Int(i64::from(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                mysql_async::Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                mysql_async::Value::UInt(u)
            } else {
                mysql_async::Value::Double(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => mysql_async::Value::Bytes(s.clone().into_bytes()),
        other => mysql_async::Value::Bytes(other.to_string().into_bytes()),
    }
}

impl MyReader {
    pub(crate) fn connect(settings: &Settings, password: Option<String>) -> Result<MyReader> {
        let url = settings
            .url
            .strip_prefix("mariadb://")
            .map_or_else(|| settings.url.clone(), |rest| format!("mysql://{rest}"));
        let shown = shown(&url);
        let opts =
            Opts::from_url(&url).map_err(|e| unavailable(format!("source URL {shown:?}: {e}")))?;
        let ssl = match settings.ssl_mode.unwrap_or(SslMode::Disable) {
            SslMode::Disable => None,
            SslMode::Allow | SslMode::Prefer => {
                return Err(unavailable(
                    "a MariaDB / MySQL source takes sslmode disable, require, verify-ca or \
                     verify-full (its client cannot fall back from TLS)",
                ));
            }
            SslMode::Require => Some(SslOpts::default().with_danger_accept_invalid_certs(true)),
            mode @ (SslMode::VerifyCa | SslMode::VerifyFull) => {
                let root = settings.rootcert.clone().ok_or_else(|| {
                    unavailable("sslmode verify-ca and verify-full need sslrootcert")
                })?;
                Some(
                    SslOpts::default()
                        .with_root_certs(vec![std::path::PathBuf::from(root).into()])
                        .with_disable_built_in_roots(true)
                        .with_danger_skip_domain_validation(mode == SslMode::VerifyCa),
                )
            }
        };
        let builder = OptsBuilder::from_opts(opts)
            .pass(password)
            .ssl_opts(ssl)
            .stmt_cache_size(0);
        let waiter = Waiter::new()?;
        let mut conn = waiter.wait(
            settings.connect_timeout,
            &format!("connecting to {shown}"),
            Conn::new(builder),
        )?;
        let deadline = settings.statement_timeout;
        // MariaDB's limit in seconds, or MySQL's in milliseconds: whichever the server has.
        let limit_set = waiter.wait(
            deadline,
            "setting the statement time limit",
            conn.query_drop(format!(
                "SET SESSION max_statement_time = {}",
                deadline.as_secs()
            )),
        );
        if limit_set.is_err() {
            waiter.wait(
                deadline,
                "setting the statement time limit",
                conn.query_drop(format!(
                    "SET SESSION MAX_EXECUTION_TIME = {}",
                    deadline.as_millis()
                )),
            )?;
        }
        waiter.wait(
            deadline,
            "starting a read-only session",
            conn.query_drop("SET SESSION TRANSACTION READ ONLY"),
        )?;
        Ok(MyReader {
            waiter,
            conn: Some(conn),
            settings: settings.clone(),
        })
    }

    fn rows(&mut self, sql: String, params: Vec<mysql_async::Value>) -> Result<Vec<Row>> {
        let deadline = self.settings.statement_timeout + std::time::Duration::from_secs(5);
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| unavailable("the source connection was lost"))?;
        let fetched: Result<Vec<Option<String>>> = self.waiter.wait(
            deadline,
            "reading the source",
            conn.exec::<Option<String>, _, _>(sql, mysql_async::Params::Positional(params)),
        );
        let texts = match fetched {
            Ok(t) => t,
            Err(e) => {
                // A connection that missed its deadline may be mid-answer: never reuse it.
                self.conn = None;
                return Err(e);
            }
        };
        parse_rows(texts.into_iter().flatten().collect())
    }

    fn select(query: &SourceQuery, filter: &str, order: &[String], limit: usize) -> String {
        let members: Vec<String> = query
            .columns
            .iter()
            .map(|c| format!("{}, {}", name_literal(c), ident(c)))
            .collect();
        let order: Vec<String> = order.iter().map(|c| ident(c)).collect();
        format!(
            "SELECT JSON_OBJECT({}) FROM {}{filter} ORDER BY {} LIMIT {limit}",
            members.join(", "),
            ident(&query.table),
            order.join(", ")
        )
    }
}

/// `(a, b) > (?, ?)` over the given columns.
fn after(columns: &[String]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    let marks = vec!["?"; columns.len()];
    format!("({}) > ({})", cols.join(", "), marks.join(", "))
}

impl SourceReader for MyReader {
    fn after_change(
        &mut self,
        query: &SourceQuery,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Row>> {
        let (change, order) = query.change_order()?;
        let mut filter = format!(" WHERE {} IS NOT NULL", ident(&change));
        let mut params = Vec::new();
        if let Some(c) = cursor {
            filter.push_str(&format!(" AND {}", after(&order)));
            params.extend(c.values().iter().map(param));
        }
        let sql = Self::select(query, &filter, &order, limit);
        self.rows(sql, params)
    }

    fn after_key(
        &mut self,
        query: &SourceQuery,
        key: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Row>> {
        let (filter, params) = match key {
            None => (String::new(), Vec::new()),
            Some(k) => (
                format!(" WHERE {}", after(&query.key)),
                k.iter().map(param).collect(),
            ),
        };
        let sql = Self::select(query, &filter, &query.key, limit);
        self.rows(sql, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_values_bound() {
        assert_eq!(ident("db.t"), "`db`.`t`");
        assert_eq!(ident("a`b"), "`a``b`");
        assert_eq!(name_literal("o'k"), "'o''k'");
        assert_eq!(after(&["u".into(), "k".into()]), "(`u`, `k`) > (?, ?)");
    }
}
