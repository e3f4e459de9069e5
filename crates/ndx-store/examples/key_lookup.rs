//! Times the catalogue reads every authenticated record read makes — the key holder of the API
//! key and the latest schema of the dataset — and, for comparison, plain reads by id and
//! listings: `cargo run --release -p ndx-store --example key_lookup -- [STORE_URL] [N]`
//! (default: a temporary SQLite store, 100,000 of each).

use chrono::{TimeZone, Utc};
use ndx_store::catalog::Page;
use ndx_store::{ApiKeyRecord, Store};
use ndx_types::dictionary::{
    DatasetSchema, FieldDef, Importance, Openness, SchemaVersion, Sensitivity,
};
use ndx_types::registry::{ApiKey, Jurisdiction, Member, MemberLevel, Role, System};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("k.db").display()));
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let store = Store::open(&url).expect("open");
    let at = Utc.timestamp_opt(1_767_225_600, 0).single().expect("time");
    let cat = store.catalog();
    cat.insert(
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
    cat.insert(
        &System {
            code: "BCA-POP".into(),
            member: "BCA".into(),
            name: "Dân cư".into(),
            created_at: at,
        },
        at,
    )
    .expect("system");
    for i in 0..100 {
        cat.insert(
            &ApiKeyRecord {
                key: ApiKey {
                    id: format!("k{i}"),
                    system: "BCA-POP".into(),
                    roles: vec![Role::Provider],
                    label: "bench".into(),
                    created_at: at,
                    expires_at: None,
                    revoked_at: None,
                },
                key_hash: format!("{i:064x}"),
            },
            at,
        )
        .expect("key");
    }
    let schema = DatasetSchema {
        dataset: "people".into(),
        version: SchemaVersion { major: 1, minor: 0 },
        title_vi: "Người".into(),
        title_en: "People".into(),
        description: String::new(),
        owner: "BCA".into(),
        original: true,
        master: false,
        openness: Openness::Restricted,
        importance: Importance::Core,
        key: vec!["id".into()],
        fields: (0..12)
            .map(|i| FieldDef {
                name: format!("f{i}"),
                element: "identifier".into(),
                required: true,
                sensitivity: Sensitivity::Internal,
                consent: false,
                code_list: None,
                description: "a field of the benchmark".into(),
            })
            .collect(),
        rules: vec![],
        update_frequency: None,
    };
    cat.insert(&schema, at).expect("schema");
    let start = std::time::Instant::now();
    for _ in 0..n {
        assert!(cat.schema("people", None).expect("schema").is_some());
    }
    println!(
        "{n} latest-schema lookups (find, last): {:?} each",
        start.elapsed() / n as u32
    );
    let start = std::time::Instant::now();
    for _ in 0..n {
        let id = "people@0000000001.0000000000";
        assert!(cat.get::<DatasetSchema>(id).expect("schema").is_some());
    }
    println!(
        "{n} schema reads by id (get): {:?} each",
        start.elapsed() / n as u32
    );
    let start = std::time::Instant::now();
    for _ in 0..n {
        let found = cat.find::<DatasetSchema>("dataset", "people", Page::ALL);
        assert!(!found.expect("schema").is_empty());
    }
    println!(
        "{n} schema finds (all): {:?} each",
        start.elapsed() / n as u32
    );
    let start = std::time::Instant::now();
    for _ in 0..n {
        assert!(cat.list::<DatasetSchema>(Page::LAST).expect("schema").len() == 1);
    }
    println!(
        "{n} schema listings (last): {:?} each",
        start.elapsed() / n as u32
    );
    let start = std::time::Instant::now();
    for _ in 0..n {
        assert!(cat.get::<Member>("BCA").expect("m").is_some());
    }
    println!(
        "{n} member reads by id (get): {:?} each",
        start.elapsed() / n as u32
    );
    let start = std::time::Instant::now();
    for i in 0..n {
        let hash = format!("{:064x}", i % 100);
        assert!(cat.key_holder(&hash).expect("lookup").is_some());
    }
    let per = start.elapsed() / n as u32;
    println!("{n} key-holder lookups: {per:?} each");
}
