//! PostgreSQL for the benchmarks: an administrative connection (schemas, checkpoints, the WAL
//! position, waiting for a client's sessions to end), one fresh schema per store that is
//! dropped afterwards, and the bare `COPY` baseline (`xtask bare-copy`).

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::SinkExt;
use tokio_postgres::{Client, Config, NoTls};

use crate::sys;

/// The server the benchmarks use unless `--pg-url` says otherwise.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `application_name` of every ndx process a benchmark starts on PostgreSQL: its sessions are
/// waited for by this name before the server's CPU time is read.
pub const NDX_APP: &str = "ndx-bench";
/// `application_name` of the bare COPY child.
pub const BARE_APP: &str = "ndx-bench-bare-copy";
/// `application_name` of the benchmark's own administrative connections.
const ADMIN_APP: &str = "ndx-bench-admin";

/// One connection on its own current-thread runtime.
pub struct Admin {
    rt: tokio::runtime::Runtime,
    client: Client,
}

impl Admin {
    /// Connects to `url` (a plain tokio-postgres URL, no ndx parameters).
    pub fn connect(url: &str) -> anyhow::Result<Admin> {
        Self::connect_as(url, ADMIN_APP)
    }

    fn connect_as(url: &str, app: &str) -> anyhow::Result<Admin> {
        let mut config: Config = url
            .parse()
            .with_context(|| format!("invalid PostgreSQL URL {url:?}"))?;
        config
            .application_name(app)
            .connect_timeout(Duration::from_secs(10))
            .options("-c synchronous_commit=on");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (client, connection) = rt
            .block_on(config.connect(NoTls))
            .with_context(|| format!("cannot connect to {url}"))?;
        rt.spawn(async move {
            let _ = connection.await;
        });
        Ok(Admin { rt, client })
    }

    /// The text of the first column of the first row of a query without parameters.
    pub fn query_text(&self, sql: &str) -> anyhow::Result<String> {
        let row = self
            .rt
            .block_on(self.client.query_one(sql, &[]))
            .with_context(|| format!("query failed: {sql}"))?;
        Ok(row.try_get::<_, String>(0)?)
    }

    /// Runs statements without parameters.
    pub fn execute(&self, sql: &str) -> anyhow::Result<()> {
        self.rt
            .block_on(self.client.batch_execute(sql))
            .with_context(|| format!("PostgreSQL: {sql}"))
    }

    /// The first column of the first row of `sql`, as a bigint.
    pub fn query_i64(&self, sql: &str) -> anyhow::Result<i64> {
        let row = self
            .rt
            .block_on(self.client.query_one(sql, &[]))
            .with_context(|| format!("PostgreSQL: {sql}"))?;
        Ok(row.try_get(0)?)
    }

    /// The first column of every row of `sql` (with one text parameter), as text.
    pub fn query_strings(&self, sql: &str, param: &str) -> anyhow::Result<Vec<String>> {
        let rows = self
            .rt
            .block_on(self.client.query(sql, &[&param]))
            .with_context(|| format!("PostgreSQL: {sql}"))?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(Into::into))
            .collect()
    }

    /// `server_version` and the settings that matter for write throughput, for the report.
    pub fn describe(&self) -> anyhow::Result<String> {
        let rows = self.rt.block_on(self.client.query(
            "SELECT name, setting, unit FROM pg_settings WHERE name IN
               ('server_version', 'shared_buffers', 'synchronous_commit', 'fsync',
                'full_page_writes', 'wal_level', 'max_wal_size', 'autovacuum')
             ORDER BY name",
            &[],
        ))?;
        let mut parts = Vec::new();
        let mut version = String::new();
        for r in rows {
            let name: String = r.try_get(0)?;
            let setting: String = r.try_get(1)?;
            let unit: Option<String> = r.try_get(2)?;
            let value = match (name.as_str(), unit.as_deref()) {
                // shared_buffers is in 8 kB pages, max_wal_size in MB.
                ("shared_buffers", Some("8kB")) => {
                    format!("{} MiB", setting.parse::<u64>().unwrap_or(0) * 8 / 1024)
                }
                (_, Some("MB")) => format!("{setting} MB"),
                _ => setting,
            };
            if name == "server_version" {
                version = value;
            } else {
                parts.push(format!("{name}={value}"));
            }
        }
        Ok(format!("PostgreSQL {version} ({})", parts.join(", ")))
    }

    /// `CHECKPOINT`: every measured step starts with no dirty buffers of the previous one.
    pub fn checkpoint(&self) -> anyhow::Result<()> {
        self.execute("CHECKPOINT")
    }

    /// Sessions of the server other than this one and the named benchmark clients (other
    /// users of a shared server would disturb the figures).
    pub fn other_sessions(&self) -> anyhow::Result<i64> {
        self.query_i64(&format!(
            "SELECT count(*) FROM pg_stat_activity
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
               AND application_name NOT IN ('{NDX_APP}', '{BARE_APP}', '{ADMIN_APP}')"
        ))
    }

    /// Waits until no session named `app` is left (a client's backend ends a moment after
    /// the client exits; its CPU time is the server's only once it has been reaped).
    pub fn wait_gone(&self, app: &str) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let n = self.query_i64(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"
            ))?;
            if n == 0 {
                // The postmaster reaps the exited backend (and adds its CPU time to its own
                // children's) just after it leaves pg_stat_activity.
                std::thread::sleep(Duration::from_millis(50));
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(10) {
                bail!("{n} PostgreSQL sessions of {app} still open after 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's CPU time and WAL position now.
    pub fn meter(&self) -> anyhow::Result<Meter> {
        Ok(Meter {
            cpu: sys::postgres_cpu()?,
            wal: self.wal_position()?,
        })
    }

    /// Bytes of WAL written since the start of time (`pg_current_wal_lsn()`).
    fn wal_position(&self) -> anyhow::Result<u64> {
        let lsn = self.query_i64("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")?;
        Ok(u64::try_from(lsn)?)
    }
}

/// Server CPU time and WAL position at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    cpu: Duration,
    wal: u64,
}

/// What the server did between two [`Meter`]s.
#[derive(Debug, Clone, Copy)]
pub struct ServerUse {
    /// CPU time of every PostgreSQL process (backends, WAL writer, checkpointer…).
    pub cpu: Duration,
    /// WAL bytes written.
    pub wal_bytes: u64,
}

impl Meter {
    /// What the server did since `self`, as `now` reads it.
    pub fn until(&self, now: &Meter) -> ServerUse {
        ServerUse {
            cpu: now.cpu.saturating_sub(self.cpu),
            wal_bytes: now.wal.saturating_sub(self.wal),
        }
    }
}

/// A schema of its own for one store or baseline, dropped (with everything in it) when this
/// value is dropped.
pub struct Schema {
    base_url: String,
    /// The schema name.
    pub name: String,
}

impl Schema {
    /// A fresh, unused name `ndx_bench_<pid>_<time>_<tag>`; nothing is created yet (the ndx
    /// store creates its schema itself).
    pub fn new(base_url: &str, tag: &str) -> anyhow::Result<Schema> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        let name = format!(
            "ndx_bench_{}_{}_{}",
            std::process::id(),
            now.as_millis() % 1_000_000_000,
            tag
        );
        ensure!(name.len() <= 63, "schema name {name} is too long");
        Ok(Schema {
            base_url: base_url.to_owned(),
            name,
        })
    }

    /// The ndx store URL of this schema, with `extra` store parameters (`pool_size=40`…).
    pub fn store_url(&self, extra: Option<&str>) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let extra = extra.map(|e| format!("&{e}")).unwrap_or_default();
        format!(
            "{}{sep}schema={}&application_name={NDX_APP}{extra}",
            self.base_url, self.name
        )
    }

    /// The tables of the schema.
    pub fn tables(&self, admin: &Admin) -> anyhow::Result<Vec<String>> {
        admin.query_strings(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
            &self.name,
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let dropped = Admin::connect(&self.base_url)
            .and_then(|a| a.execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name)));
        if let Err(e) = dropped {
            eprintln!("warning: schema {} was not dropped: {e:#}", self.name);
        }
    }
}

/// Checks that `--pg-url` is a plain server URL (the benchmark adds the schema itself), and
/// that `--pg-params` does not name the schema or the application either.
pub fn check_urls(url: &str, params: Option<&str>) -> anyhow::Result<()> {
    ensure!(
        url.starts_with("postgres://") || url.starts_with("postgresql://"),
        "--pg-url must be a postgres:// URL"
    );
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let ours = |p: &str| p.starts_with("schema=") || p.starts_with("application_name=");
    ensure!(
        !query.split('&').any(ours) && !params.unwrap_or("").split('&').any(ours),
        "--pg-url and --pg-params must not name a schema or application_name: every run uses \
         fresh schemas"
    );
    Ok(())
}

/// The bare baseline, run as `xtask bare-copy URL CSV SCHEMA`: creates `SCHEMA.population`
/// (a normal, logged table: the CSV's first column `text COLLATE "C" PRIMARY KEY`, as ndx
/// keys are, the others `text`), then streams the file through
/// `COPY … FROM STDIN (FORMAT csv, HEADER)` in one transaction, committed with
/// `synchronous_commit=on`. Prints the row count.
pub fn bare_copy(url: &str, csv_path: &Path, schema: &str) -> anyhow::Result<()> {
    let header: Vec<String> = csv::Reader::from_path(csv_path)?
        .headers()?
        .iter()
        .map(str::to_owned)
        .collect();
    ensure!(!header.is_empty(), "the CSV has no header");
    let columns = crate::harness::bare_columns(&header, "text COLLATE \"C\" PRIMARY KEY", "text");
    let admin = Admin::connect_as(url, BARE_APP)?;
    admin.execute(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.population ({});",
        columns.join(", ")
    ))?;
    admin.execute("BEGIN")?;
    let mut file = std::fs::File::open(csv_path)?;
    let copied = admin.rt.block_on(async {
        let sink = admin
            .client
            .copy_in(&format!(
                "COPY {schema}.population FROM STDIN (FORMAT csv, HEADER)"
            ))
            .await?;
        let mut sink = std::pin::pin!(sink);
        loop {
            let mut buf = vec![0u8; 1 << 18];
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            sink.send(std::io::Cursor::new(buf)).await?;
        }
        anyhow::Ok(sink.as_mut().finish().await?)
    })?;
    admin.execute("COMMIT")?;
    println!("{copied}");
    Ok(())
}
