//! Times the bulk write path of every backend: `cargo run --release -p ndx-store --example
//! bulk_load -- [RECORDS]` (default 200,000). Writes RECORDS new records through
//! `Records::begin_batch` + `BatchWriter::write` in chunks of 512 (as ingest does), then a second
//! batch over the same keys in which every other record changed, and prints the throughput.
//! SQLite runs in a temporary directory; PostgreSQL runs when `NDX_TEST_POSTGRES_URL` is set,
//! in a schema of its own that is dropped afterwards. No validation, no parsing: storage only.

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;

use chrono::{TimeZone, Utc};
use ndx_store::{BatchMeta, Store, WriteOp, WriteOutcome};
use ndx_types::dictionary::{
    DatasetSchema, FieldDef, Importance, Openness, SchemaVersion, Sensitivity,
};
use ndx_types::registry::{Jurisdiction, Member, MemberLevel};
use sha2::{Digest, Sha256};

const CHUNK: usize = 512;
const V1: SchemaVersion = SchemaVersion { major: 1, minor: 0 };

fn setup(store: &Store) {
    let at = Utc.timestamp_opt(1_767_225_600, 0).single().expect("time");
    store
        .catalog()
        .insert(
            &Member {
                code: "BCA".into(),
                name_vi: "Bộ Công an".into(),
                name_en: "Ministry of Public Security".into(),
                level: MemberLevel::Central,
                jurisdiction: Jurisdiction {
                    country: "VN".into(),
                    province: None,
                },
                created_at: at,
            },
            at,
        )
        .expect("member");
    store
        .catalog()
        .insert(
            &DatasetSchema {
                dataset: "people".into(),
                version: V1,
                title_vi: "Người".into(),
                title_en: "People".into(),
                description: String::new(),
                owner: "BCA".into(),
                original: true,
                master: false,
                openness: Openness::Restricted,
                importance: Importance::Core,
                key: vec!["citizen_id".into()],
                fields: vec![FieldDef {
                    name: "citizen_id".into(),
                    element: "identifier".into(),
                    required: true,
                    sensitivity: Sensitivity::Internal,
                    consent: false,
                    code_list: None,
                    description: String::new(),
                }],
                rules: vec![],
                update_frequency: None,
            },
            at,
        )
        .expect("schema");
}

/// A record shaped like the demo population (about 200 bytes of canonical JSON).
fn op(i: u64, rev: u64) -> WriteOp {
    let key = format!("{:012}", 1_090_000_000 + i * 7919 % 1_000_000_007);
    let body = format!(
        "{{\"citizen_id\":\"{key}\",\"full_name\":\"Nguyễn Văn {i}\",\"sex\":\"{}\",\
         \"date_of_birth\":\"19{:02}-0{}-1{}\",\"province_code\":\"{:02}\",\
         \"ward_code\":\"{:05}\",\"ethnicity\":\"01\",\"revision\":{rev}}}",
        i % 2 + 1,
        i % 100,
        i % 9 + 1,
        i % 10,
        i % 34 + 1,
        i % 3000,
    );
    WriteOp {
        key,
        hash: Sha256::digest(body.as_bytes()).into(),
        body: Some(body),
    }
}

fn batch(store: &Store, id: &str, n: u64, rev: impl Fn(u64) -> u64) -> (f64, [u64; 3]) {
    let at = Utc::now();
    let start = Instant::now();
    let mut w = store
        .records()
        .begin_batch(
            "people",
            BatchMeta {
                batch_id: id.into(),
                source_system: "BCA-POP".into(),
                schema_version: V1,
                at,
            },
        )
        .expect("begin");
    let mut out = Vec::with_capacity(CHUNK);
    let mut tally = [0u64; 3];
    let mut i = 0;
    while i < n {
        let ops: Vec<WriteOp> = (i..n.min(i + CHUNK as u64))
            .map(|j| op(j, rev(j)))
            .collect();
        out.clear();
        w.write(&ops, &mut out).expect("write");
        for o in &out {
            match o {
                WriteOutcome::Created => tally[0] += 1,
                WriteOutcome::Updated => tally[1] += 1,
                _ => tally[2] += 1,
            }
        }
        i += CHUNK as u64;
    }
    w.commit("h", "{}").expect("commit");
    (start.elapsed().as_secs_f64(), tally)
}

fn run(name: &str, store: &Store, n: u64) {
    setup(store);
    let (secs, tally) = batch(store, "load", n, |_| 0);
    println!(
        "{name:>10}: new      {n} records in {secs:6.2}s = {:>8.0} records/s {tally:?}",
        n as f64 / secs
    );
    let (secs, tally) = batch(store, "update", n, |j| j % 2);
    println!(
        "{name:>10}: half-upd {n} records in {secs:6.2}s = {:>8.0} records/s {tally:?}",
        n as f64 / secs
    );
    assert_eq!(store.records().count("people").expect("count"), n);
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("RECORDS is a number"))
        .unwrap_or(200_000);
    support::on_every_backend("bench", |name, store| run(name, store, n));
}
