//! Scheduled releases over a real store: the node makes a package's next release once its
//! frequency's period has passed since the last one and its source dataset changed since —
//! never the first, never twice, never without a change — as the system that made the releases
//! by hand, recorded as made by `schedule`.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ndx_types::dictionary::{
    DatasetSchema, FieldDef, Importance, Openness, SchemaVersion, Sensitivity,
};
use ndx_types::open::Package;
use ndx_types::registry::{Jurisdiction, MemberLevel, Role};

use crate::audit::{AuditKeys, AuditLog};
use crate::ingest::{IngestOptions, InputFormat};
use crate::registry::NewMember;
use crate::{Core, Store};

fn at(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
        .single()
        .expect("time")
        + Duration::hours(hours)
}

fn field(name: &str, element: &str) -> FieldDef {
    FieldDef {
        name: name.into(),
        element: element.into(),
        required: true,
        sensitivity: Sensitivity::Public,
        consent: false,
        code_list: None,
        description: String::new(),
    }
}

fn package(name: &str, scheduled: bool) -> Package {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "title_vi": "Doanh nghiệp", "title_en": "Businesses",
        "licence": "cc0-1.0", "theme": "ECON", "publisher": "PROV",
        "contact": {"name": "PROV", "email": "open@prov.gov.vn"},
        "frequency": "daily",
        "scheduled": scheduled,
        "view": {"dataset": "firms", "columns": [
            {"name": "tax_code", "field": "tax_code"}, {"name": "province", "field": "province_code"}]},
    }))
    .expect("package")
}

#[test]
fn a_scheduled_package_gets_its_next_release_when_due_and_its_source_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("ndx.db").to_str().expect("path")).expect("store");
    let audit = AuditLog::start(
        store.clone(),
        AuditKeys::from_seeds([7; 32], [8; 32]),
        Arc::new(|| at(0)),
    )
    .expect("audit");
    let core = Core::new(store, audit);
    core.ensure_builtins(at(-10)).expect("builtins");
    core.bootstrap(
        NewMember {
            code: "PROV".into(),
            name_vi: "PROV".into(),
            name_en: "PROV".into(),
            level: MemberLevel::Central,
            jurisdiction: Jurisdiction {
                country: "VN".into(),
                province: None,
            },
        },
        "PROV-SYS",
        at(-10),
    )
    .expect("bootstrap");
    let provider = core
        .local_caller("PROV-SYS", vec![Role::Operator, Role::Provider])
        .expect("provider");
    core.create_dataset(
        &provider.dataset_define("PROV").expect("define"),
        DatasetSchema {
            dataset: "firms".into(),
            version: SchemaVersion { major: 1, minor: 0 },
            title_vi: "firms".into(),
            title_en: "firms".into(),
            description: String::new(),
            owner: "PROV".into(),
            original: true,
            master: false,
            openness: Openness::Open,
            importance: Importance::Ordinary,
            key: vec!["tax_code".into()],
            fields: vec![
                field("tax_code", "tax-code"),
                field("province_code", "province-code"),
            ],
            rules: vec![],
            update_frequency: None,
        },
        at(-10),
    )
    .expect("dataset");
    let schema = core.schema("firms", None).expect("schema");
    let write = provider.dataset_write(&schema).expect("write");
    let ingest = |codes: &[&str], when: DateTime<Utc>| {
        let body: String = codes
            .iter()
            .map(|c| format!("{{\"tax_code\":\"{c}\",\"province_code\":\"01\"}}\n"))
            .collect();
        let report = core
            .ingest(
                &write,
                body.as_bytes(),
                &IngestOptions::new(InputFormat::Ndjson),
                when,
                &mut |_| {},
            )
            .expect("ingest");
        assert_eq!(report.errors.len(), 0, "{report:?}");
    };
    ingest(&["0100109106", "0100100079"], at(-5));
    core.put_package(&provider, package("scheduled", true), at(-4))
        .expect("scheduled");
    core.put_package(&provider, package("by-hand", false), at(-4))
        .expect("by hand");
    // Never the first release: that one is made by hand.
    assert!(core.publish_due(at(48)).expect("due").is_empty());
    let first = core
        .publish_release(&provider, "scheduled", at(0))
        .expect("first");
    core.publish_release(&provider, "by-hand", at(0))
        .expect("first by hand");
    assert_eq!(first.rows, 2);
    // Not before the period is over, nor without a change.
    assert!(core.publish_due(at(12)).expect("due").is_empty());
    assert!(core.publish_due(at(48)).expect("due").is_empty());
    // A change, then a day later: one release, of the scheduled package only.
    ingest(&["0100112437"], at(30));
    assert!(core.publish_due(at(23)).expect("due").is_empty());
    let made = core.publish_due(at(48)).expect("due");
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(
        (
            made[0].package.as_str(),
            made[0].number,
            made[0].rows,
            made[0].made_by.as_str()
        ),
        ("scheduled", 2, 3, "schedule")
    );
    assert_eq!(core.releases("by-hand").expect("releases").len(), 1);
    // Never twice for the same change.
    assert!(core.publish_due(at(100)).expect("due").is_empty());
    // A schedule needs a frequency.
    let mut without = package("no-frequency", true);
    without.frequency = None;
    let refused = core
        .put_package(&provider, without, at(50))
        .expect_err("refused");
    assert!(refused.to_string().contains("frequency"), "{refused}");
}
