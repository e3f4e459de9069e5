//! The storage conformance suite: everything `Store` promises, written once and instantiated for
//! every backend. A backend is done when this whole suite passes on it.
//!
//! PostgreSQL runs when `NDX_TEST_POSTGRES_URL` names a server (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets a fresh schema, dropped after it.
//! Without the variable the PostgreSQL tests are replaced by one test that says they were
//! skipped (and fails when `CI=true`). The harness is libtest-mimic because the list of tests
//! depends on that variable.

use chrono::{DateTime, Duration, TimeZone, Utc};
mod audit;
mod blobs;
mod catalog;
mod engine_postgres;
mod engine_sqlite;
mod records;

use libtest_mimic::{Arguments, Failed, Trial};
use ndx_store::{
    AuditAnchor, AuditAppend, AuditEntry, AuditNode, BatchMeta, FieldFilter, FoldLimits, KeyHolder,
    Store, StoreError, StoredHead, SubjectAccess, WriteOp, WriteOutcome,
};
use ndx_types::dictionary::{
    CodeEntry, CodeList, DatasetSchema, FieldDef, Importance, Openness, SchemaVersion, Sensitivity,
    builtin_elements,
};
use ndx_types::registry::{ApiKey, Jurisdiction, Member, MemberLevel, Role, System};
use sha2::{Digest, Sha256};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600 + secs, 0)
        .single()
        .expect("time")
}

fn member(code: &str) -> Member {
    Member {
        code: code.into(),
        name_vi: "Bộ Công an".into(),
        name_en: "Ministry of Public Security".into(),
        level: MemberLevel::Central,
        jurisdiction: Jurisdiction {
            country: "VN".into(),
            province: None,
        },
        created_at: t(0),
    }
}

fn schema(version: SchemaVersion) -> DatasetSchema {
    DatasetSchema {
        dataset: "people".into(),
        version,
        title_vi: "Người".into(),
        title_en: "People".into(),
        description: String::new(),
        owner: "BCA".into(),
        original: true,
        master: false,
        openness: Openness::Restricted,
        importance: Importance::Core,
        key: vec!["id".into()],
        fields: vec![FieldDef {
            name: "id".into(),
            element: "identifier".into(),
            required: true,
            sensitivity: Sensitivity::Internal,
            consent: false,
            code_list: None,
            description: String::new(),
        }],
        rules: vec![],
        update_frequency: None,
    }
}

const V1: SchemaVersion = SchemaVersion { major: 1, minor: 0 };

fn meta(batch: &str, at: DateTime<Utc>) -> BatchMeta {
    BatchMeta {
        batch_id: batch.into(),
        source_system: "BCA-POP".into(),
        schema_version: V1,
        at,
    }
}

fn body(id: &str, n: u32) -> String {
    format!(
        "{{\"id\":\"{id}\",\"n\":{n},\"city\":\"{}\"}}",
        if n.is_multiple_of(2) {
            "Hà Nội"
        } else {
            "Huế"
        }
    )
}

fn hash(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// A store with the people dataset registered.
fn with_dataset(store: &Store) {
    store
        .catalog()
        .insert(&member("BCA"), t(0))
        .expect("member");
    store.catalog().insert(&schema(V1), t(0)).expect("schema");
}

/// Writes records `ids` with value `n` in one committed batch.
fn load(store: &Store, batch: &str, at: DateTime<Utc>, ids: &[&str], n: u32) -> Vec<WriteOutcome> {
    let mut w = store
        .records()
        .begin_batch("people", meta(batch, at))
        .expect("begin");
    let out = ids
        .iter()
        .map(|id| {
            let b = body(id, n);
            w.upsert(id, &b, &hash(&b)).expect("upsert")
        })
        .collect();
    w.commit("h", &format!("{{\"batch\":\"{batch}\"}}"))
        .expect("commit");
    out
}

/// One test of the suite: its name and the function that runs it on a fresh store.
type SuiteTest = (&'static str, fn(Store));

/// The whole suite, written once: every backend runs every test.
fn suite() -> impl Iterator<Item = &'static SuiteTest> {
    catalog::SUITE
        .iter()
        .chain(records::SUITE)
        .chain(audit::SUITE)
        .chain(blobs::SUITE)
}

/// Instantiates the whole suite for one backend: one test per entry of [`suite`], named
/// `BACKEND::TEST`, each on a store of its own (`$open` returns it with a guard that cleans
/// up when dropped, after the store).
macro_rules! conformance {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use super::*;
            pub(super) fn trials() -> Vec<Trial> {
                suite()
                    .map(|&(name, test)| {
                        Trial::test(format!("{}::{name}", stringify!($backend)), move || {
                            let (store, _guard): (Store, Box<dyn std::any::Any>) = $open();
                            test(store);
                            Ok(())
                        })
                    })
                    .collect()
            }
        }
    };
}
conformance!(sqlite, engine_sqlite::open_sqlite);
conformance!(postgres, engine_postgres::open_postgres);
conformance!(postgres_lookups, engine_postgres::open_postgres_lookups);

fn plain(f: fn()) -> impl FnOnce() -> Result<(), Failed> + Send + 'static {
    move || {
        f();
        Ok(())
    }
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = sqlite::trials();
    trials.push(Trial::test(
        "sqlite::reopening_keeps_everything_and_refuses_newer_schemas",
        plain(engine_sqlite::reopening_keeps_everything_and_refuses_newer_schemas),
    ));
    trials.push(Trial::test(
        "sqlite::version_1_store_is_upgraded",
        plain(engine_sqlite::version_1_store_is_upgraded),
    ));
    trials.push(Trial::test(
        "sqlite::version_2_catalog_is_upgraded",
        plain(engine_sqlite::version_2_catalog_is_upgraded),
    ));
    trials.push(Trial::test(
        "sqlite::audit_file_reopens_and_refuses_newer_schemas",
        plain(engine_sqlite::audit_file_reopens_and_refuses_newer_schemas),
    ));
    trials.push(Trial::test(
        "sqlite::audit_commits_leave_checkpoints_to_the_appender",
        plain(engine_sqlite::audit_commits_leave_checkpoints_to_the_appender),
    ));
    trials.push(Trial::test(
        "sqlite::the_folded_tracker_answers_as_one_index",
        plain(engine_sqlite::the_folded_tracker_answers_as_one_index),
    ));
    trials.push(Trial::test(
        "sqlite::version_1_audit_file_is_upgraded",
        plain(engine_sqlite::version_1_audit_file_is_upgraded),
    ));
    trials.push(Trial::test(
        "sqlite::open_modes_refuse_a_missing_store_and_read_only_writes_nothing",
        plain(engine_sqlite::open_modes_refuse_a_missing_store_and_read_only_writes_nothing),
    ));
    trials.push(Trial::test(
        "sqlite::a_refused_big_batch_gives_its_wal_space_back",
        plain(engine_sqlite::a_refused_big_batch_gives_its_wal_space_back),
    ));
    trials.push(Trial::test(
        "unknown_engines_are_clear_errors",
        plain(engine_sqlite::unknown_engines_are_clear_errors),
    ));
    trials.extend(engine_postgres::postgres_trials());
    libtest_mimic::run(&args, trials).exit();
}
