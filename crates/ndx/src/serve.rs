//! `ndx serve`: the HTTP server on the configured store, with graceful shutdown.

use std::io::Write;

use anyhow::Context;
use ndx_core::Core;
use ndx_core::registry::NewMember;
use ndx_types::registry::{Jurisdiction, MemberLevel};

use crate::config::Config;

/// Where the first operator key of a fresh installation is written.
pub const OPERATOR_KEY_FILE: &str = "operator.key";

/// The operating member's console system, which holds the operator keys.
pub const OPERATOR_SYSTEM: &str = "NDC-OPS";

pub fn run(cfg: &Config) -> anyhow::Result<()> {
    let core = crate::open_core(cfg, ndx_store::OpenMode::Create)?;
    if let Some(secret) = core.bootstrap(operating_member(), OPERATOR_SYSTEM, chrono::Utc::now())? {
        let path = cfg.data_dir.join(OPERATOR_KEY_FILE);
        write_secret(&path, &format!("{secret}\n"))?;
        eprintln!(
            "fresh installation: the operator key was written to {} (shown only there)",
            path.display()
        );
    }
    serve(cfg, core)
}

/// The member that operates a fresh installation.
pub fn operating_member() -> NewMember {
    NewMember {
        code: "NDC".into(),
        name_vi: "Trung tâm Dữ liệu quốc gia".into(),
        name_en: "National Data Centre".into(),
        level: MemberLevel::Central,
        jurisdiction: Jurisdiction {
            country: "VN".into(),
            province: None,
        },
    }
}

/// Writes a file readable by its owner only.
pub fn write_secret(path: &std::path::Path, content: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Serves until SIGTERM or Ctrl-C, then drains in-flight requests.
pub fn serve(cfg: &Config, core: Core) -> anyhow::Result<()> {
    // Without it jemalloc purges freed pages only when the process allocates again; an idle
    // server after a flood of connections would keep their memory.
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "jemalloc background thread not started");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(cfg.blocking_threads)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&cfg.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        if let Some(files) = open_files_limit()
            && cfg.limits.max_connections + 256 > files
        {
            tracing::warn!(
                max_connections = cfg.limits.max_connections,
                open_files_limit = files,
                "max_connections is close to the open-files limit: raise `ulimit -n` or lower \
                 max_connections, or accept errors will refuse connections before the bound does"
            );
        }
        // Tests and scripts read this line to learn the port.
        println!("listening on http://{addr}");
        std::io::stdout().flush()?;
        tracing::info!(%addr, store = core.engine_name(), "serving");
        let audit = core.audit().clone();
        let stopping = core.clone();
        let mut state = ndx_http::AppState::new(core, cfg.limits.clone());
        let mut fanout = Vec::new();
        if let Some(nats) = &cfg.nats {
            // A broker that was configured but cannot be reached is a start-up error, not a
            // silent single-process node.
            let bus = std::sync::Arc::new(
                ndx_bus::Bus::connect(nats)
                    .await
                    .with_context(|| format!("cannot use NATS JetStream at {}", nats.url))?,
            );
            tracing::info!(
                url = nats.url,
                prefix = nats.prefix,
                "coordinated through NATS JetStream"
            );
            state = state.with_bus(bus.clone());
            fanout = ndx_http::fanout::start(&state, bus);
        }
        let push = ndx_http::push::PushClient::new(
            cfg.push_timeout,
            cfg.push_root_ca_file.as_deref(),
            cfg.push.allow_loopback_http,
        )
        .map_err(|e| anyhow::anyhow!("push_root_ca_file: {e}"))?;
        let scheduler = tokio::spawn(ndx_http::connector::scheduler(state.clone()));
        let deliveries = tokio::spawn(ndx_http::push::deliveries(state.clone(), push));
        let quality = tokio::spawn(ndx_http::quality::worker(state.clone()));
        let releases = tokio::spawn(ndx_http::open::release_worker(state.clone()));
        let served = ndx_http::serve(listener, state, shutdown_signal()).await;
        scheduler.abort();
        deliveries.abort();
        quality.abort();
        releases.abort();
        for task in fanout {
            task.abort();
        }
        served?;
        // The day's quota counts outlive the process; the last events get their signed head.
        tokio::task::spawn_blocking(move || {
            if let Err(e) = stopping.save_quotas() {
                tracing::warn!("quota counts not saved at stop: {e}");
            }
            if let Err(e) = stopping.save_usage() {
                tracing::warn!("open-data usage not saved at stop: {e}");
            }
            audit.close()
        })
        .await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// The soft limit on open files of this process (Linux), to check `max_connections` against.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}
