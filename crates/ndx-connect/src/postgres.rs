//! A PostgreSQL source: one connection in a read-only session with a statement timeout, TLS
//! as libpq's `sslmode` (default `prefer`, as libpq), rows as `row_to_json`.

use ndx_core::connector::{Row, SourceQuery, SourceReader};
use ndx_core::error::Result;
use ndx_store::pg_tls::{SslMode, make_connect};
use ndx_types::connector::Cursor;
use serde_json::Value;
use tokio_postgres::{Client, Config};

use crate::url::{Settings, shown};
use crate::{Waiter, parse_rows, unavailable};

pub(crate) struct PgReader {
    waiter: Waiter,
    client: Client,
    settings: Settings,
}

/// `"name"`, or `"schema"."name"`.
fn ident(name: &str) -> String {
    crate::quoted(name, '"')
}

/// A JSON value the source gave, written back as an SQL literal the server casts to the
/// column's type (the session has `standard_conforming_strings` on, so only `'` is special).
fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

fn chain(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    s
}

struct PgError(tokio_postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&chain(&self.0))
    }
}

impl PgReader {
    pub(crate) fn connect(settings: &Settings, password: Option<String>) -> Result<PgReader> {
        let shown = shown(&settings.url);
        let mut config: Config = settings.url.parse().map_err(|e: tokio_postgres::Error| {
            unavailable(format!("source URL {shown:?}: {}", chain(&e)))
        })?;
        if let Some(p) = password {
            config.password(p);
        }
        let mode = settings.ssl_mode.unwrap_or(SslMode::Prefer);
        config.ssl_mode(mode.negotiation());
        config.connect_timeout(settings.connect_timeout);
        config.application_name("ndx-connector");
        config.options(format!(
            "-c statement_timeout={} -c default_transaction_read_only=on -c standard_conforming_strings=on",
            settings.statement_timeout.as_millis()
        ));
        let tls = make_connect(mode, settings.rootcert.as_deref())
            .map_err(|e| unavailable(format!("source {shown:?}: {e}")))?;
        let waiter = Waiter::new()?;
        let what = format!("connecting to {shown}");
        let client = match tls {
            None => {
                let (client, conn) = waiter.wait(settings.connect_timeout, &what, async {
                    config.connect(tokio_postgres::NoTls).await.map_err(PgError)
                })?;
                waiter.spawn(async move {
                    let _ = conn.await;
                });
                client
            }
            Some(tls) => {
                let (client, conn) = waiter.wait(settings.connect_timeout, &what, async {
                    config.connect(tls).await.map_err(PgError)
                })?;
                waiter.spawn(async move {
                    let _ = conn.await;
                });
                client
            }
        };
        Ok(PgReader {
            waiter,
            client,
            settings: settings.clone(),
        })
    }

    fn rows(&mut self, sql: &str) -> Result<Vec<Row>> {
        let deadline = self.settings.statement_timeout + std::time::Duration::from_secs(5);
        let client = &self.client;
        let rows = self.waiter.wait(deadline, "reading the source", async {
            client.query(sql, &[]).await.map_err(PgError)
        })?;
        let texts: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<_, String>(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| unavailable(format!("reading the source: {}", chain(&e))))?;
        parse_rows(texts)
    }

    fn select(query: &SourceQuery, filter: &str, order: &[String], limit: usize) -> String {
        let cols: Vec<String> = query.columns.iter().map(|c| ident(c)).collect();
        let order: Vec<String> = order.iter().map(|c| ident(c)).collect();
        format!(
            "SELECT row_to_json(s)::text FROM (SELECT {} FROM {}{filter} ORDER BY {} LIMIT {limit}) s",
            cols.join(", "),
            ident(&query.table),
            order.join(", ")
        )
    }
}

/// `WHERE (a, b) > (x, y)` over the given columns and values.
fn after(columns: &[String], values: &[Value]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    let vals: Vec<String> = values.iter().map(literal).collect();
    format!("({}) > ({})", cols.join(", "), vals.join(", "))
}

impl SourceReader for PgReader {
    fn after_change(
        &mut self,
        query: &SourceQuery,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Row>> {
        let (change, order) = query.change_order()?;
        let mut filter = format!(" WHERE {} IS NOT NULL", ident(&change));
        if let Some(c) = cursor {
            filter.push_str(&format!(" AND {}", after(&order, &c.values())));
        }
        let sql = Self::select(query, &filter, &order, limit);
        self.rows(&sql)
    }

    fn after_key(
        &mut self,
        query: &SourceQuery,
        key: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Row>> {
        let filter = key.map_or_else(String::new, |k| format!(" WHERE {}", after(&query.key, k)));
        let sql = Self::select(query, &filter, &query.key, limit);
        self.rows(&sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_quoted() {
        assert_eq!(ident("a"), "\"a\"");
        assert_eq!(ident("s.t"), "\"s\".\"t\"");
        assert_eq!(ident("x\"y"), "\"x\"\"y\"");
        assert_eq!(literal(&Value::from("o'neil")), "'o''neil'");
        assert_eq!(literal(&Value::from(12)), "12");
        assert_eq!(
            after(
                &["u".into(), "k".into()],
                &[Value::from("t"), Value::from(1)]
            ),
            "(\"u\", \"k\") > ('t', 1)"
        );
    }
}
