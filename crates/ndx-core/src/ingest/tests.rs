//! Tests of the ingest pipeline over a real store in a temporary directory.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use ndx_types::dictionary::{
    DatasetSchema, FieldDef, Importance, Openness, SchemaVersion, Sensitivity,
};
use ndx_types::registry::{Jurisdiction, MemberLevel, Role};

use super::*;
use crate::Store;
use crate::audit::{AuditKeys, AuditLog};
use crate::registry::NewMember;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_760_000_000 + secs, 0).unwrap()
}

/// A core over a fresh SQLite store with one dataset, `people`, and the right to write it.
struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    core: Core,
    cap: DatasetWrite,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("ndx.db").to_str().unwrap()).unwrap();
    let audit = AuditLog::start(
        store.clone(),
        AuditKeys::from_seeds([1; 32], [2; 32]),
        Arc::new(|| at(0)),
    )
    .unwrap();
    let core = Core::new(store.clone(), audit);
    core.ensure_builtins(at(0)).unwrap();
    let member = NewMember {
        code: "NDC".into(),
        name_vi: "Trung tâm Dữ liệu quốc gia".into(),
        name_en: "National Data Centre".into(),
        level: MemberLevel::Central,
        jurisdiction: Jurisdiction {
            country: "VN".into(),
            province: None,
        },
    };
    core.bootstrap(member, "NDC-OPS", at(0)).unwrap().unwrap();
    let caller = core
        .local_caller("NDC-OPS", vec![Role::Operator, Role::Provider])
        .unwrap();
    let field = |name: &str, element: &str, required: bool| FieldDef {
        name: name.into(),
        element: element.into(),
        required,
        sensitivity: Sensitivity::Personal,
        consent: false,
        code_list: None,
        description: String::new(),
    };
    let schema = DatasetSchema {
        dataset: "people".into(),
        version: SchemaVersion { major: 1, minor: 0 },
        title_vi: "Người".into(),
        title_en: "People".into(),
        description: String::new(),
        owner: "NDC".into(),
        original: true,
        master: false,
        openness: Openness::Restricted,
        importance: Importance::Ordinary,
        key: vec!["citizen_id".into()],
        fields: vec![
            field("citizen_id", "citizen-id", true),
            field("full_name", "full-name", true),
            field("email", "email", false),
        ],
        rules: vec![],
        update_frequency: None,
    };
    let define = caller.dataset_define("NDC").unwrap();
    core.create_dataset(&define, schema, at(0)).unwrap();
    let schema = core.schema("people", None).unwrap();
    let cap = caller.dataset_write(&schema).unwrap();
    Fixture {
        _dir: dir,
        store,
        core,
        cap,
    }
}

/// Records that the second batch updates, leaves unchanged and deletes.
const FIRST: &str = r#"{"citizen_id":"001203012345","full_name":"Nguyễn Văn An"}
{"citizen_id":"001203012346","full_name":"Trần Thị Bình"}
{"citizen_id":"001203012347","full_name":"Lê Văn Cường"}
"#;

/// A per-record batch with one of each outcome: created, updated, unchanged, deleted, a
/// duplicate key and an invalid record.
const SECOND: &str = r#"{"citizen_id":"001203012345","full_name":"Nguyễn Văn An","email":"an@example.vn"}
{"citizen_id":"001203012346","full_name":"Trần Thị Bình"}
{"citizen_id":"001203012347","_op":"delete"}
{"citizen_id":"001203012348","full_name":"Phạm Thị Dung"}
{"citizen_id":"12345","full_name":"Võ Văn Em"}
{"citizen_id":"001203012348","full_name":"Phạm Thị Dung"}
"#;

fn ndjson(batch_id: &str, mode: Mode) -> IngestOptions {
    let mut opts = IngestOptions::new(InputFormat::Ndjson);
    opts.batch_id = Some(batch_id.into());
    opts.mode = mode;
    opts
}

fn request_hash(body: &str, opts: &IngestOptions) -> String {
    let mut hasher = request_hasher(opts);
    hasher.update(body.as_bytes());
    hex::encode(hasher.finalize())
}

/// What the store holds for a key now: (live, number of versions).
fn state(f: &Fixture, key: &str) -> (bool, usize) {
    let live = f
        .store
        .records()
        .record("people", key, None)
        .unwrap()
        .is_some_and(|v| v.body.is_some());
    (
        live,
        f.store.records().history("people", key).unwrap().len(),
    )
}

#[test]
fn the_request_hash_is_the_one_stored_batches_were_keyed_with() {
    // Taken from the store of a run of the code before the stored report had a version.
    assert_eq!(
        request_hash(SECOND, &ndjson("second", Mode::PerRecord)),
        "b96fbe5e9d649aa6fc36e1bff518e2dfa169b529a5ed8838c02320412be2c1dc"
    );
}

#[test]
fn a_batch_stored_with_an_unversioned_report_replays_that_report() {
    let f = fixture();
    let first = ndjson("first", Mode::Atomic);
    f.core
        .ingest(&f.cap, FIRST.as_bytes(), &first, at(1), &mut |_| {})
        .unwrap();
    // Batch `second` as the code before the version member stored it: the batch row with the
    // request hash and the report in its shape of then.
    let opts = ndjson("second", Mode::PerRecord);
    let meta = ndx_store::BatchMeta {
        batch_id: "second".into(),
        source_system: "NDC-OPS".into(),
        schema_version: SchemaVersion { major: 1, minor: 0 },
        at: at(2),
    };
    f.store
        .records()
        .begin_batch("people", meta)
        .unwrap()
        .commit(
            &request_hash(SECOND, &opts),
            super::stored::tests::UNVERSIONED,
        )
        .unwrap();
    let before = state(&f, "001203012348");

    let replayed = f
        .core
        .ingest(&f.cap, SECOND.as_bytes(), &opts, at(3), &mut |_| {})
        .unwrap();

    let mut expected = super::stored::tests::unversioned_report();
    expected.replayed = true;
    assert_eq!(replayed, expected);
    // A replay writes nothing.
    assert_eq!(state(&f, "001203012348"), before);
    // The same batch id with another body is still refused.
    let e = f
        .core
        .ingest(&f.cap, FIRST.as_bytes(), &opts, at(4), &mut |_| {})
        .unwrap_err();
    assert_eq!(e.code, Code::BatchIdReused);
}

#[test]
fn a_batch_applied_now_stores_version_1_and_replays_its_first_answer() {
    let f = fixture();
    f.core
        .ingest(
            &f.cap,
            FIRST.as_bytes(),
            &ndjson("first", Mode::Atomic),
            at(1),
            &mut |_| {},
        )
        .unwrap();
    let opts = ndjson("second", Mode::PerRecord);
    let answer = f
        .core
        .ingest(&f.cap, SECOND.as_bytes(), &opts, at(2), &mut |_| {})
        .unwrap();
    // The same report as the code before the version member gave (its stored form is the
    // fixture of `stored::tests`).
    assert_eq!(answer, super::stored::tests::unversioned_report());
    let stored = f
        .store
        .records()
        .batch("people", "second")
        .unwrap()
        .unwrap();
    assert!(stored.report.starts_with(r#"{"v":1,"#), "{}", stored.report);
    assert_eq!(stored.request_hash, request_hash(SECOND, &opts));

    let states: Vec<_> = ["001203012345", "001203012347", "001203012348"]
        .iter()
        .map(|k| state(&f, k))
        .collect();
    let replayed = f
        .core
        .ingest(&f.cap, SECOND.as_bytes(), &opts, at(3), &mut |_| {})
        .unwrap();
    assert!(replayed.replayed);
    assert_eq!(
        IngestReport {
            replayed: false,
            ..replayed
        },
        answer
    );
    let after: Vec<_> = ["001203012345", "001203012347", "001203012348"]
        .iter()
        .map(|k| state(&f, k))
        .collect();
    assert_eq!(after, states);
}
