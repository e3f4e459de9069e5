//! Times the audit log's group append on every backend: `cargo run --release -p ndx-store
//! --example audit_append -- [GROUPS]` (default 500). Each group is what the appender writes
//! under load: 64 entries of about 400 bytes, the ~128 subtree nodes they complete and one
//! data-subject row per entry, through one `AuditStore::append` (one transaction, one fsync
//! on SQLite). Prints the wall time per group and, on Linux, the CPU time of the calling
//! thread per group (all of SQLite's work; only the client's share for PostgreSQL).
//! SQLite runs in a temporary directory; PostgreSQL runs when `NDX_TEST_POSTGRES_URL` is set,
//! in a schema of its own that is dropped afterwards.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ndx_store::{AuditAppend, AuditEntry, AuditNode, Store, SubjectAccess};
use sha2::{Digest, Sha256};

const GROUP: u64 = 64;

fn hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Entries `start..start + GROUP` with the nodes they complete and their subject rows.
fn group(start: u64) -> (Vec<AuditEntry>, Vec<AuditNode>, Vec<SubjectAccess>) {
    let mut entries = Vec::new();
    let mut nodes = Vec::new();
    let mut subjects = Vec::new();
    for index in start..start + GROUP {
        let bytes = format!(
            "{{\"action\":\"records.read\",\"actor\":{{\"key\":\"k-{}\",\"system\":\"BCA-POP\"}},\
             \"at\":\"2026-01-01T00:00:00.000Z\",\"dataset\":\"people\",\"decision\":\"allow\",\
             \"index\":{index},\"keys\":[\"{:012}\"],\"purpose\":\"service delivery\",\
             \"request_id\":\"{:032x}\",\"subjects\":1,\"version\":1}}",
            index % 97,
            index * 7919 % 1_000_000_007,
            u128::from(index) * 0x9e37_79b9_7f4a_7c15,
        )
        .into_bytes();
        let mut level = 0;
        while (index + 1).is_multiple_of(1 << level) {
            nodes.push(AuditNode {
                level,
                index: index >> level,
                hash: hash(format!("{level}/{index}").as_bytes()),
            });
            level += 1;
        }
        subjects.push(SubjectAccess {
            subject: hash(&(index % 5000).to_be_bytes()),
            index,
        });
        entries.push(AuditEntry { index, bytes });
    }
    (entries, nodes, subjects)
}

/// User and system CPU time of the calling thread, where the platform tells them (Linux).
fn thread_cpu() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Option<Duration> {
        // USER_HZ is 100 on every Linux this runs on.
        Some(Duration::from_millis(
            fields.get(i)?.parse::<u64>().ok()? * 10,
        ))
    };
    Some((ticks(11)?, ticks(12)?))
}

fn run(name: &str, store: &Store, groups: u64) {
    let prepared: Vec<_> = (0..groups).map(|g| group(g * GROUP)).collect();
    let nodes: usize = prepared.iter().map(|g| g.1.len()).sum();
    let cpu = thread_cpu();
    let start = Instant::now();
    for (entries, nodes, subjects) in &prepared {
        store
            .audit()
            .append(&AuditAppend {
                entries,
                nodes,
                subjects,
            })
            .expect("append");
    }
    let wall = start.elapsed();
    let per_group = |d: Duration| (d / u32::try_from(groups).expect("groups")).as_secs_f64() * 1e3;
    let cpu = cpu.zip(thread_cpu()).map(|(before, after)| {
        format!(
            "{:.3} ms user + {:.3} ms system",
            per_group(after.0 - before.0),
            per_group(after.1 - before.1)
        )
    });
    assert_eq!(store.audit().size().expect("size"), groups * GROUP);
    println!(
        "{name:>10}: {groups} groups of {GROUP} entries (+{:.0} nodes), per group: {:.3} ms \
         wall, CPU of this thread {}",
        nodes as f64 / groups as f64,
        per_group(wall),
        cpu.unwrap_or_else(|| "unknown".into()),
    );
}

fn main() {
    let groups: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("GROUPS is a number"))
        .unwrap_or(500);
    support::on_every_backend("bench_audit", |name, store| run(name, store, groups));
}
