//! Slow clients cannot stop the server (issue 11): thousands of half-open connections — a
//! request line and half a header, never finished — from many loopback addresses, while
//! `/health` and an authenticated read keep answering within a second; a connection that does
//! not finish its head is closed after the header-read timeout; one address beyond its share is
//! refused with a `503` problem; the metrics show it all; and the server's memory comes back
//! near its baseline once the connections close.
//!
//! The connections come from 127.0.0.2… (Linux routes all of 127/8 to the loopback), so the
//! per-address bound and the global one are exercised apart; the checks come from 127.0.0.1.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Half-open connections held at once (lowered if this process may not open that many).
const HELD: usize = 10_000;
/// Loopback addresses they come from.
const ADDRESSES: usize = 200;
/// Limits of the server under test: fewer slots than held connections, so the server holds
/// thousands of half-open connections and closes the oldest to make room for the rest.
const MAX_CONNECTIONS: usize = 6_000;
const MAX_PER_IP: usize = 64;
const HEADER_TIMEOUT_SECS: u64 = 10;
/// How far above its baseline the server's memory may stay once the connections are gone.
const SLACK_KIB: u64 = 4 * 1024;

/// The half head every slow client sends.
const HALF_HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHost: ndx\r\nX-Slow: aaaa";

struct Child_(Child);

impl Drop for Child_ {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// The soft limit on open files of this process.
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// A socket bound to `from`, on `port` when it is free: ports below the ephemeral range, so
/// thousands of them do not take ports the other tests' connections need.
fn bound(from: Ipv4Addr, port: u16) -> std::io::Result<TcpSocket> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    if socket.bind(SocketAddr::new(IpAddr::V4(from), port)).is_ok() {
        return Ok(socket);
    }
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
    Ok(socket)
}

/// A raw connection from `from` that sends half a head and stops.
async fn half_open(from: Ipv4Addr, port: u16, to: SocketAddr) -> std::io::Result<TcpStream> {
    let mut stream = bound(from, port)?.connect(to).await?;
    stream.write_all(HALF_HEAD).await?;
    Ok(stream)
}

/// Waits until the server closes `stream` (EOF or reset); `None` if it is still open after
/// `limit`. Bytes the server sends before closing are returned.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok().map(|()| got)
}

#[test]
fn half_open_connections_from_many_addresses_do_not_stop_the_server() {
    let held = HELD.min(open_files_limit().saturating_sub(500));
    assert!(
        held >= 5_000,
        "this process may open only {} files; the test needs thousands",
        open_files_limit()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(common::ndx_bin())
        .args(["demo", "--citizens", "50", "--seed", "7", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .env("NDX_LOG", "warn")
        .env("NDX_MAX_CONNECTIONS", MAX_CONNECTIONS.to_string())
        .env("NDX_MAX_CONNECTIONS_PER_IP", MAX_PER_IP.to_string())
        .env(
            "NDX_HEADER_READ_TIMEOUT_SECS",
            HEADER_TIMEOUT_SECS.to_string(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ndx");
    let base = common::wait_for_listening(&mut child);
    let pid = child.id();
    let _guard = Child_(child);
    let addr: SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .expect("listen address");
    let keys: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("demo-keys.json")).expect("demo keys"),
    )
    .expect("keys JSON");
    let key = keys["population-provider"]
        .as_str()
        .expect("provider key")
        .to_owned();

    // A check must answer within a second (ureq's whole-call timeout).
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(1)))
        .build()
        .into();
    let checks_answer = |when: &str| {
        let health = agent
            .get(format!("{base}/health"))
            .call()
            .unwrap_or_else(|e| panic!("{when}: /health did not answer within a second: {e}"));
        assert_eq!(health.status(), 200, "{when}: /health");
        let read = agent
            .get(format!("{base}/api/v1/datasets/population/records?limit=5"))
            .header("Authorization", format!("Bearer {key}"))
            .call()
            .unwrap_or_else(|e| panic!("{when}: an authenticated read did not answer: {e}"));
        assert_eq!(read.status(), 200, "{when}: authenticated read");
    };
    for _ in 0..20 {
        checks_answer("before");
    }
    std::thread::sleep(Duration::from_millis(500));
    let baseline = rss_kib(pid);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // One address beyond its share: the connections past the bound are refused with a 503.
    // (The extra ones send nothing, so the server's answer is not lost to a reset.)
    let refused = rt.block_on(async {
        let from = Ipv4Addr::new(127, 0, 1, 1);
        let mut conns = Vec::new();
        for j in 0..MAX_PER_IP {
            conns.push(
                half_open(from, 21_000 + j as u16, addr)
                    .await
                    .expect("connect"),
            );
        }
        let mut answer = None;
        for j in 0..8 {
            let socket = bound(from, 21_500 + j).expect("socket");
            let mut extra = socket.connect(addr).await.expect("connect");
            if let Some(bytes) = closed_within(&mut extra, Duration::from_secs(2)).await
                && !bytes.is_empty()
            {
                answer = Some(String::from_utf8_lossy(&bytes).into_owned());
                break;
            }
        }
        drop(conns);
        answer
    });
    let refused =
        refused.expect("a connection beyond the per-address bound is refused with an answer");
    assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
    assert!(refused.contains("application/problem+json"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    assert!(
        refused.contains("\"code\":\"too-many-connections\""),
        "{refused}"
    );

    // Thousands of half-open connections from many addresses, held.
    let started = Instant::now();
    let mut conns = rt.block_on(async {
        let mut conns = Vec::with_capacity(held);
        for i in 0..held {
            let n = 2 + (i % ADDRESSES) as u32;
            let from = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + n);
            let port = 20_000 + (i / ADDRESSES) as u16;
            match half_open(from, port, addr).await {
                Ok(c) => conns.push(c),
                Err(e) => panic!("connection {i} from {from}: {e}"),
            }
        }
        conns
    });
    eprintln!(
        "{} half-open connections opened in {:?}",
        conns.len(),
        started.elapsed()
    );
    let during = rss_kib(pid);
    for round in 0..5 {
        checks_answer(&format!("with {held} half-open connections, round {round}"));
    }

    // The first connection never finished its head: the server has closed it (made room for
    // newcomers, or the header-read timeout).
    let first_closed = rt.block_on(closed_within(
        &mut conns[0],
        Duration::from_secs(HEADER_TIMEOUT_SECS + 6),
    ));
    assert!(
        first_closed.is_some(),
        "a connection that sent half a head is still open {} s after the header-read timeout",
        HEADER_TIMEOUT_SECS + 6
    );
    // And the latest one too, once the header-read timeout has passed.
    let last = conns.len() - 1;
    let last_closed = rt.block_on(closed_within(
        &mut conns[last],
        Duration::from_secs(HEADER_TIMEOUT_SECS + 6),
    ));
    assert!(
        last_closed.is_some(),
        "the last half-open connection is still open after the header-read timeout"
    );
    checks_answer("after the header-read timeout");

    let metrics = agent
        .get(format!("{base}/metrics"))
        .call()
        .expect("metrics")
        .body_mut()
        .read_to_string()
        .expect("metrics text");
    let counter = |event: &str| -> u64 {
        let prefix = format!("ndx_http_connection_events_total{{event=\"{event}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(counter("refused_per_address") >= 1, "{metrics}");
    assert!(counter("evicted_idle") >= 1, "{metrics}");

    drop(conns);
    drop(rt);
    // Memory comes back near the baseline once the connections are gone (jemalloc's
    // background thread purges freed pages over about ten seconds).
    let near = |rss: u64| rss <= baseline + SLACK_KIB;
    let mut after = rss_kib(pid);
    let waited = Instant::now();
    while !near(after) && waited.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(500));
        after = rss_kib(pid);
    }
    eprintln!(
        "server RSS: baseline {baseline} KiB, with connections held {during} KiB, {after} KiB \
         {:?} after they closed",
        waited.elapsed()
    );
    checks_answer("after the connections closed");
    assert!(
        near(after),
        "the server kept its memory: baseline {baseline} KiB, during {during} KiB, after {after} KiB"
    );
}
