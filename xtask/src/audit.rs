//! `cargo xtask bench-audit`: the audit log benchmark of BENCHMARKS.md.
//!
//! 1. the machine's limit: groups of `--writers` events, each hashed (SHA-256 leaf hash) and
//!    appended to a file that is then `fdatasync`ed — what a durable group commit of that many
//!    concurrent requests can at best do here;
//! 2. durable appends: `--writers` threads each calling `AuditLog::record` (returns once the
//!    event is committed) on a fresh embedded store for `--seconds`;
//! 3. proof latency: inclusion and consistency proofs of random leaves of that log, through
//!    the same service the HTTP endpoints call;
//! 4. verification: a log of `--verify-entries` entries (written in large groups with heads
//!    every 10,000 entries) checked by `ndx audit verify`, timed from spawn to exit.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::ensure;
use clap::Args;
use ndx_audit::merkle::{Frontier, leaf_hash};
use ndx_audit::{Actor, AuditEvent, HeadSigner, Outcome};
use ndx_core::audit::{AuditKeys, AuditLog};
use ndx_store::{AuditAppend, AuditEntry, AuditNode, Store, StoredHead, SubjectAccess};
use rand::{Rng, SeedableRng};

use crate::harness::{self, thousands};
use crate::sys::{self, Machine};

/// A citizen whose data is read in every 1,000th event of the verified log: the data tracker's
/// pages are measured on it.
const HOT_SUBJECT: &str = "001090000001";

/// Target of durable appends with 64 concurrent writers, events/s.
const TARGET_APPENDS: f64 = 50_000.0;
/// Target time to verify 1,000,000 entries.
const TARGET_VERIFY_SECS: f64 = 10.0;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Concurrent writers.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Seconds each append measurement runs.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Entries of the log `ndx audit verify` checks.
    #[arg(long, default_value_t = 1_000_000)]
    verify_entries: u64,
    /// Print the block for BENCHMARKS.md.
    #[arg(long)]
    markdown: bool,
}

/// A realistic event: a record read by a provider, one subject, ten fields.
fn event(i: u64) -> AuditEvent {
    let citizen = format!("{:012}", 1_000_000_000 + i % 1_000_000);
    AuditEvent {
        agreement: None,
        actor: Some(Actor {
            member: "BCA".into(),
            system: "BCA-POPULATION".into(),
        }),
        dataset: Some("population".into()),
        fields: [
            "citizen_id",
            "full_name",
            "sex",
            "date_of_birth",
            "ethnicity",
            "province_code",
            "ward_code",
            "address",
            "phone",
            "email",
        ]
        .map(String::from)
        .to_vec(),
        keys: vec![citizen.clone()],
        legal_basis: None,
        operation: "record.read".into(),
        outcome: Outcome {
            allowed: true,
            reason: None,
        },
        purpose: None,
        query: None,
        request_id: format!("bench-{i:x}"),
        subjects: vec![citizen],
        time: chrono::Utc::now(),
        v: AuditEvent::FORMAT_VERSION,
    }
}

fn keys() -> AuditKeys {
    AuditKeys::from_seeds([7; 32], [9; 32])
}

/// Events/s of hashing and appending groups of `group` events to a file with one
/// `fdatasync` per group.
fn machine_limit(dir: &Path, group: usize, seconds: f64) -> anyhow::Result<f64> {
    use std::io::Write;
    let bytes: Vec<Vec<u8>> = (0..group as u64)
        .map(|i| event(i).canonical_bytes())
        .collect();
    let path = dir.join("fsync-limit.log");
    let mut file = std::fs::File::create(&path)?;
    let mut buf = Vec::new();
    let start = Instant::now();
    let mut events = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        buf.clear();
        for b in &bytes {
            buf.extend_from_slice(&leaf_hash(b));
            buf.extend_from_slice(b);
        }
        file.write_all(&buf)?;
        file.sync_data()?;
        events += group as u64;
    }
    let rate = events as f64 / start.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(rate)
}

/// Events/s of `writers` threads recording events durably for `seconds`.
fn appends(log: &AuditLog, writers: usize, seconds: f64) -> anyhow::Result<(f64, u64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(writers + 1));
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (log, stop, count, barrier) =
                (log.clone(), stop.clone(), count.clone(), barrier.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                barrier.wait();
                let mut i = w as u64 * 1_000_000_000;
                while !stop.load(Ordering::Relaxed) {
                    log.record(event(i))?;
                    count.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                Ok(())
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let done = count.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
    }
    Ok((done as f64 / elapsed, count.load(Ordering::Relaxed)))
}

/// (p50, p99) in microseconds of `samples` calls of `f`.
fn latency(
    samples: usize,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<(f64, f64)> {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[samples / 2], times[samples * 99 / 100]))
}

/// Writes a log of `n` entries straight through the store, in groups of 4,096, with a signed
/// head every 10,000 entries and at the end.
fn fill(store: &Store, n: u64) -> anyhow::Result<()> {
    let signer = HeadSigner::from_seed([7; 32]);
    let keys = keys();
    let mut frontier = Frontier::new();
    let mut next_head = 10_000;
    let mut i = 0;
    while i < n {
        let end = (i + 4096).min(n);
        let mut entries = Vec::new();
        let mut nodes = Vec::new();
        let mut subjects = Vec::new();
        for j in i..end {
            let mut e = event(j);
            if j.is_multiple_of(1000) {
                e.subjects = vec![HOT_SUBJECT.into()];
            }
            let bytes = e.canonical_bytes();
            for node in frontier.push(leaf_hash(&bytes)) {
                nodes.push(AuditNode {
                    level: node.level,
                    index: node.index,
                    hash: node.hash,
                });
            }
            subjects.push(SubjectAccess {
                subject: keys.subject_hash(&e.subjects[0]),
                index: j,
            });
            entries.push(AuditEntry { index: j, bytes });
        }
        store.audit().append(&AuditAppend {
            entries: &entries,
            nodes: &nodes,
            subjects: &subjects,
        })?;
        i = end;
        if i >= next_head || i == n {
            let h = signer.sign(i, frontier.root(), chrono::Utc::now())?;
            store.audit().put_head(&StoredHead {
                tree_size: h.tree_size,
                timestamp: h.timestamp,
                root_hash: h.root_hash,
                signature: h.signature,
            })?;
            next_head = i + 10_000;
        }
    }
    Ok(())
}

pub fn run(args: &AuditArgs) -> anyhow::Result<()> {
    ensure!(args.writers > 0, "--writers must be at least 1");
    let root = harness::workspace_root();
    let ndx = harness::build_ndx(&root)?;
    let out = harness::work_dir(&root, None, "bench-audit", harness::Backend::Sqlite)?;
    let machine = Machine::probe();

    eprintln!(
        "machine limit: SHA-256 + fdatasync per group of {}…",
        args.writers
    );
    sys::settle_disk()?;
    let limit = machine_limit(&out, args.writers, args.seconds)?;
    eprintln!("  {limit:.0} events/s");

    eprintln!(
        "durable appends, {} writers, {} s…",
        args.writers, args.seconds
    );
    let dir = out.join("appends");
    harness::remove(&dir)?;
    std::fs::create_dir_all(&dir)?;
    let store = Store::open_sqlite(dir.join("ndx.db"))?;
    let log = AuditLog::start(store.clone(), keys(), Arc::new(chrono::Utc::now))?;
    sys::settle_disk()?;
    let (rate, written) = appends(&log, args.writers, args.seconds)?;
    eprintln!("  {rate:.0} events/s ({} written)", thousands(written));

    let size = log.size()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(2030);
    let (inc50, inc99) = latency(1000, || {
        log.inclusion_proof(rng.random_range(0..size), size)?;
        Ok(())
    })?;
    let (con50, con99) = latency(1000, || {
        let first = rng.random_range(1..size);
        log.consistency_proof(first, size)?;
        Ok(())
    })?;
    log.close();
    eprintln!(
        "  inclusion proof p50 {inc50:.0} µs p99 {inc99:.0} µs; consistency p50 {con50:.0} µs p99 {con99:.0} µs"
    );

    eprintln!(
        "writing a log of {} entries…",
        thousands(args.verify_entries)
    );
    let vdir = out.join("verify");
    harness::remove(&vdir)?;
    std::fs::create_dir_all(&vdir)?;
    {
        let store = Store::open_sqlite(vdir.join("ndx.db"))?;
        fill(&store, args.verify_entries)?;
    }
    std::fs::write(
        vdir.join("audit-signing.key"),
        format!("{}\n", "07".repeat(32)),
    )?;
    std::fs::write(
        vdir.join("audit-subjects.key"),
        format!("{}\n", "09".repeat(32)),
    )?;
    // The data tracker: the newest 50 accesses of a citizen read in 1,000 of the entries, and a
    // page from the middle of their history, with the store reads the tracker service makes
    // (the service itself also records its own event, which `appends` measures).
    let (track50, track99) = {
        let store = Store::open_sqlite(vdir.join("ndx.db"))?;
        let subject = keys().subject_hash(HOT_SUBJECT);
        let middle = args.verify_entries / 2;
        let mut n = 0u64;
        latency(400, || {
            n += 1;
            let before = n.is_multiple_of(2).then_some(middle);
            for i in store.audit().subject_accesses(&subject, before, 50)? {
                let e = store.audit().entries(i, i + 1)?;
                AuditEvent::from_canonical(&e[0].bytes)?;
            }
            Ok(())
        })?
    };
    eprintln!("  data tracker page of 50: p50 {track50:.0} µs, p99 {track99:.0} µs");
    sys::settle_disk()?;
    eprintln!("ndx audit verify…");
    let start = Instant::now();
    let verified = std::process::Command::new(&ndx)
        .args(["audit", "verify", "--data-dir"])
        .arg(&vdir)
        .env("NDX_LOG", "warn")
        .output()?;
    let verify_secs = start.elapsed().as_secs_f64();
    ensure!(
        verified.status.success(),
        "ndx audit verify failed: {}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    eprintln!("  {verify_secs:.2} s");

    let verdict = |ok: bool| if ok { "MET" } else { "NOT MET" };
    let lines = [
        format!("machine: {}", machine.describe()),
        format!(
            "SHA-256 + fdatasync limit, groups of {}: {limit:.0} events/s",
            args.writers
        ),
        format!(
            "durable appends, {} concurrent writers, embedded store: {rate:.0} events/s = {:.2} × the limit — target ≥ {TARGET_APPENDS:.0}: {}",
            args.writers,
            rate / limit,
            verdict(rate >= TARGET_APPENDS)
        ),
        format!(
            "inclusion proof (log of {} entries): p50 {inc50:.0} µs, p99 {inc99:.0} µs; consistency proof: p50 {con50:.0} µs, p99 {con99:.0} µs",
            thousands(size)
        ),
        format!(
            "data tracker, newest 50 accesses of a citizen in a log of {} entries (1,000 of them theirs): p50 {track50:.0} µs, p99 {track99:.0} µs",
            thousands(args.verify_entries)
        ),
        format!(
            "ndx audit verify of {} entries: {verify_secs:.2} s — target < {TARGET_VERIFY_SECS:.0} s: {}",
            thousands(args.verify_entries),
            verdict(verify_secs < TARGET_VERIFY_SECS)
        ),
    ];
    println!();
    for l in &lines {
        if args.markdown {
            println!("- {l}");
        } else {
            println!("{l}");
        }
    }
    Ok(())
}
