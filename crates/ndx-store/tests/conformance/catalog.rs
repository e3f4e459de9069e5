//! The catalogue area: registry and dictionary objects, and the generic layer under them.

use super::*;
use ndx_store::catalog::{ApiKeyRecord, Attribute, Kind, Page, Versioned};
use ndx_types::dictionary::DataElement;

pub(crate) fn registry(store: Store) {
    store
        .catalog()
        .insert(&member("BCA"), t(0))
        .expect("insert");
    assert!(matches!(
        store.catalog().insert(&member("BCA"), t(0)),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .catalog()
            .get::<Member>("BCA")
            .expect("get")
            .map(|m| m.value),
        Some(member("BCA"))
    );
    assert_eq!(store.catalog().get::<Member>("NOPE").expect("get"), None);
    assert_eq!(
        store
            .catalog()
            .list::<Member>(Page::ALL)
            .expect("list")
            .len(),
        1
    );
    let sys = System {
        code: "BCA-POP".into(),
        member: "BCA".into(),
        name: "Dân cư".into(),
        created_at: t(1),
    };
    store.catalog().insert(&sys, t(1)).expect("system");
    let orphan = System {
        member: "NOPE".into(),
        code: "X-1".into(),
        ..sys.clone()
    };
    assert!(matches!(
        store.catalog().insert(&orphan, t(1)),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.catalog().insert(&sys, t(1)),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .catalog()
            .list::<System>(Page::ALL)
            .expect("systems")
            .into_iter()
            .map(|s| s.value)
            .collect::<Vec<_>>(),
        vec![sys.clone()]
    );
    let key = ApiKey {
        id: "k1".into(),
        system: "BCA-POP".into(),
        roles: vec![Role::Provider],
        label: "loader".into(),
        created_at: t(2),
        expires_at: None,
        revoked_at: None,
    };
    store
        .catalog()
        .insert(
            &ApiKeyRecord {
                key: key.clone(),
                key_hash: "hash-1".into(),
            },
            t(2),
        )
        .expect("key");
    assert_eq!(
        store.catalog().key_holder("hash-1").expect("lookup"),
        Some(KeyHolder {
            key: key.clone(),
            system: sys.clone(),
            member: member("BCA"),
        })
    );
    assert_eq!(store.catalog().key_holder("hash-2").expect("lookup"), None);
    let revoked = store
        .catalog()
        .revoke_api_key("k1", t(5))
        .expect("revoke")
        .expect("known");
    assert_eq!(revoked.revoked_at, Some(t(5)));
    let again = store
        .catalog()
        .revoke_api_key("k1", t(9))
        .expect("revoke")
        .expect("known");
    assert_eq!(
        again.revoked_at,
        Some(t(5)),
        "the first revocation time is kept"
    );
    assert_eq!(
        store
            .catalog()
            .revoke_api_key("nope", t(9))
            .expect("revoke"),
        None
    );
    assert_eq!(
        store.catalog().api_keys("BCA-POP").expect("keys")[0].revoked_at,
        Some(t(5))
    );
}

pub(crate) fn dictionary(store: Store) {
    for e in builtin_elements() {
        store.catalog().insert(&e, t(0)).expect("element");
    }
    let dup = builtin_elements().remove(0);
    assert!(matches!(
        store.catalog().insert(&dup, t(0)),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .catalog()
            .list::<DataElement>(Page::ALL)
            .expect("elements")
            .len(),
        builtin_elements().len()
    );
    let mut list = CodeList {
        id: "colour".into(),
        version: 1,
        name_vi: "Màu".into(),
        name_en: "Colour".into(),
        source: String::new(),
        entries: vec![CodeEntry {
            code: "R".into(),
            label_vi: "Đỏ".into(),
            label_en: "Red".into(),
            parent: None,
        }],
    };
    store.catalog().insert(&list, t(0)).expect("v1");
    assert!(matches!(
        store.catalog().insert(&list, t(0)),
        Err(StoreError::Conflict(_))
    ));
    list.version = 2;
    list.entries[0].label_en = "Crimson".into();
    store.catalog().insert(&list, t(1)).expect("v2");
    assert_eq!(
        store
            .catalog()
            .code_list("colour", None)
            .expect("latest")
            .expect("some")
            .version,
        2
    );
    assert_eq!(
        store
            .catalog()
            .code_list("colour", Some(1))
            .expect("v1")
            .expect("some")
            .entries[0]
            .label_en,
        "Red"
    );
    assert_eq!(
        store.catalog().code_list("colour", Some(3)).expect("v3"),
        None
    );
    assert_eq!(
        store.catalog().code_list_ids().expect("ids"),
        vec![("colour".to_string(), 2)]
    );

    store
        .catalog()
        .insert(&member("BCA"), t(0))
        .expect("member");
    store.catalog().insert(&schema(V1), t(0)).expect("1.0");
    assert!(matches!(
        store.catalog().insert(&schema(V1), t(0)),
        Err(StoreError::Conflict(_))
    ));
    let v11 = SchemaVersion { major: 1, minor: 1 };
    let v20 = SchemaVersion { major: 2, minor: 0 };
    store.catalog().insert(&schema(v20), t(2)).expect("2.0");
    store.catalog().insert(&schema(v11), t(1)).expect("1.1");
    assert_eq!(
        store.catalog().schema_versions("people").expect("versions"),
        vec![V1, v11, v20]
    );
    assert_eq!(
        store
            .catalog()
            .schema("people", None)
            .expect("latest")
            .expect("some")
            .version,
        v20
    );
    assert_eq!(
        store
            .catalog()
            .schema("people", Some(v11))
            .expect("1.1")
            .expect("some")
            .version,
        v11
    );
    assert_eq!(store.catalog().schema("nope", None).expect("none"), None);
    let all = store.catalog().datasets().expect("datasets");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].version, v20);
}

/// The catalog tests of the suite.
/// A NUL in any identifier or value the catalogue is asked about is refused alike on every
/// engine (PostgreSQL cannot take one), and writes nothing.
pub(crate) fn hostile_ids_are_refused_alike(store: Store) {
    let c = store.catalog();
    c.insert(&member("BCA"), t(0)).expect("member");
    for id in ["\0", "BC\0A", "BCA\0"] {
        assert!(
            matches!(c.get::<Member>(id), Err(StoreError::TextInvalid(_))),
            "{id:?}"
        );
        assert!(
            matches!(c.history::<Member>(id), Err(StoreError::TextInvalid(_))),
            "{id:?}"
        );
        assert!(
            matches!(c.insert(&member(id), t(1)), Err(StoreError::TextInvalid(_))),
            "{id:?}"
        );
        assert!(
            matches!(
                c.delete::<Member>(id, 1, t(1)),
                Err(StoreError::TextInvalid(_))
            ),
            "{id:?}"
        );
    }
    assert!(matches!(
        c.key_holder("ab\0"),
        Err(StoreError::TextInvalid(_))
    ));
    assert_eq!(c.ids::<Member>().expect("ids"), vec!["BCA".to_owned()]);
    assert!(c.get::<Member>("BCA").expect("read").is_some());
}

pub(crate) const SUITE: &[SuiteTest] = &[
    (
        "generation_moves_with_watched_writes_only",
        generation_moves_with_watched_writes_only,
    ),
    (
        "hostile_ids_are_refused_alike",
        hostile_ids_are_refused_alike,
    ),
    ("registry", registry),
    ("dictionary", dictionary),
    (
        "new_kind_needs_no_engine_code",
        new_kind_needs_no_engine_code,
    ),
    (
        "concurrent_updates_lose_nothing",
        concurrent_updates_lose_nothing,
    ),
    (
        "transactions_are_all_or_nothing",
        transactions_are_all_or_nothing,
    ),
    (
        "transactions_keep_a_rule_across_writers",
        transactions_keep_a_rule_across_writers,
    ),
    ("stored_formats_stay_readable", stored_formats_stay_readable),
];

/// A kind that exists only in this test: it needs no engine code, no migration and no trait
/// method of the store, and gets everything the catalogue gives every kind.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Gadget {
    serial: String,
    owner: String,
    colour: String,
    tag: u32,
}

impl Kind for Gadget {
    const KIND: &'static str = "test-gadget";
    const NOUN: &'static str = "gadget";
    fn id(&self) -> String {
        self.serial.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![
            Attribute::reference::<Member>("owner", &self.owner),
            Attribute::plain("colour", &self.colour),
            Attribute::unique("tag", self.tag.to_string()),
        ]
    }
}

fn gadget(serial: &str, colour: &str, tag: u32) -> Gadget {
    Gadget {
        serial: serial.into(),
        owner: "BCA".into(),
        colour: colour.into(),
        tag,
    }
}

fn serials(found: Vec<Versioned<Gadget>>) -> Vec<String> {
    found.into_iter().map(|g| g.value.serial).collect()
}

pub(crate) fn new_kind_needs_no_engine_code(store: Store) {
    let cat = store.catalog();
    cat.insert(&member("BCA"), t(0)).expect("member");
    let g1 = gadget("g1", "red", 1);
    let stored = cat.insert(&g1, t(1)).expect("insert");
    assert_eq!((stored.revision, stored.created_at), (1, t(1)));
    let got = cat.get::<Gadget>("g1").expect("get").expect("stored");
    assert_eq!(
        (got.value, got.revision, got.updated_at),
        (g1.clone(), 1, t(1))
    );
    assert_eq!(cat.get::<Gadget>("nope").expect("get"), None);

    // Refused writes change nothing.
    let e = cat.insert(&g1, t(2)).expect_err("same id");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert!(
        e.to_string().contains("gadget \"g1\" already exists"),
        "{e}"
    );
    let orphan = Gadget {
        owner: "NOPE".into(),
        ..gadget("g9", "red", 9)
    };
    let e = cat.insert(&orphan, t(2)).expect_err("missing reference");
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    assert!(
        e.to_string().contains("member \"NOPE\" does not exist"),
        "{e}"
    );
    let e = cat
        .insert(&gadget("g2", "blue", 1), t(2))
        .expect_err("tag taken");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert_eq!(cat.get::<Gadget>("g2").expect("get"), None);
    assert_eq!(cat.get::<Gadget>("g9").expect("get"), None);
    assert_eq!(cat.history::<Gadget>("g2").expect("history"), vec![]);

    // Optimistic updates: the revision read must still be the current one.
    let blue = gadget("g1", "blue", 1);
    let updated = cat.update(&blue, 1, t(3)).expect("update");
    assert_eq!(
        (updated.revision, updated.created_at, updated.updated_at),
        (2, t(1), t(3))
    );
    let e = cat
        .update(&gadget("g1", "green", 1), 1, t(4))
        .expect_err("stale");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert!(e.to_string().contains("revision 2, not 1"), "{e}");
    let e = cat
        .update(&gadget("g7", "green", 7), 1, t(4))
        .expect_err("missing");
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    assert_eq!(
        cat.get::<Gadget>("g1").expect("get").expect("g1").value,
        blue
    );
    let history = cat.history::<Gadget>("g1").expect("history");
    assert_eq!(
        history
            .iter()
            .map(|r| (r.revision, r.at, r.value.clone()))
            .collect::<Vec<_>>(),
        vec![(1, t(1), Some(g1.clone())), (2, t(3), Some(blue.clone()))]
    );

    // Lookups by attribute follow updates.
    cat.insert(&gadget("g3", "red", 3), t(5)).expect("g3");
    cat.insert(&gadget("g2", "red", 2), t(5)).expect("g2");
    cat.insert(&gadget("g4", "blue", 4), t(5)).expect("g4");
    assert_eq!(
        serials(cat.find("colour", "red", Page::ALL).expect("red")),
        ["g2", "g3"]
    );
    assert_eq!(
        serials(cat.find("colour", "blue", Page::ALL).expect("blue")),
        ["g1", "g4"]
    );
    assert_eq!(
        serials(cat.find("owner", "BCA", Page::LAST).expect("last")),
        ["g4"]
    );
    assert_eq!(
        serials(cat.find("tag", "3", Page::ALL).expect("unique")),
        ["g3"]
    );
    assert_eq!(
        cat.find::<Gadget>("colour", "green", Page::ALL)
            .expect("none"),
        vec![]
    );

    // Listing in id order, with a cursor either way.
    assert_eq!(
        serials(cat.list(Page::ALL).expect("all")),
        ["g1", "g2", "g3", "g4"]
    );
    let page = Page {
        after: Some("g1"),
        limit: Some(2),
        descending: false,
    };
    assert_eq!(serials(cat.list(page).expect("page")), ["g2", "g3"]);
    let back = Page {
        after: Some("g3"),
        limit: Some(5),
        descending: true,
    };
    assert_eq!(serials(cat.list(back).expect("back")), ["g2", "g1"]);
    let page = Page {
        after: Some("g2"),
        limit: Some(1),
        descending: false,
    };
    assert_eq!(
        serials(cat.find("owner", "BCA", page).expect("find page")),
        ["g3"]
    );
    assert_eq!(cat.ids::<Gadget>().expect("ids"), ["g1", "g2", "g3", "g4"]);
    assert_eq!(cat.ids::<Member>().expect("ids"), ["BCA"]);

    // A referenced object cannot be deleted; a deletion is optimistic and kept in history.
    let e = cat
        .delete::<Member>("BCA", 1, t(6))
        .expect_err("referred to");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert!(e.to_string().contains("test-gadget"), "{e}");
    let e = cat.delete::<Gadget>("g1", 1, t(6)).expect_err("stale");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let e = cat.delete::<Gadget>("g8", 1, t(6)).expect_err("missing");
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    cat.delete::<Gadget>("g1", 2, t(7)).expect("delete");
    assert_eq!(cat.get::<Gadget>("g1").expect("get"), None);
    assert_eq!(
        serials(cat.find("colour", "blue", Page::ALL).expect("blue")),
        ["g4"]
    );
    // Its unique tag is free again, and the id comes back with the next revision.
    let again = cat
        .insert(&gadget("g1", "red", 1), t(8))
        .expect("re-insert");
    assert_eq!(again.revision, 4);
    let revisions: Vec<(u64, bool)> = cat
        .history::<Gadget>("g1")
        .expect("history")
        .into_iter()
        .map(|r| (r.revision, r.value.is_some()))
        .collect();
    assert_eq!(revisions, [(1, true), (2, true), (3, false), (4, true)]);
    for g in ["g1", "g2", "g3", "g4"] {
        let current = cat.get::<Gadget>(g).expect("get").expect("present");
        cat.delete::<Gadget>(g, current.revision, t(9))
            .expect("delete");
    }
    cat.delete::<Member>("BCA", 1, t(9))
        .expect("no longer referred to");
}

/// Two writers that read the same revision: exactly one update lands, the other is told.
pub(crate) fn concurrent_updates_lose_nothing(store: Store) {
    let cat = store.catalog();
    cat.insert(&member("BCA"), t(0)).expect("member");
    cat.insert(&gadget("g", "red", 0), t(0)).expect("gadget");
    let rounds = 20u32;
    let workers = 4;
    let outcomes: Vec<(u32, u32)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let cat = cat.clone();
                s.spawn(move || {
                    let (mut won, mut refused) = (0, 0);
                    for _ in 0..rounds {
                        let cur = cat.get::<Gadget>("g").expect("get").expect("g");
                        let next = Gadget {
                            colour: format!("w{w}"),
                            ..cur.value
                        };
                        match cat.update(&next, cur.revision, t(1)) {
                            Ok(_) => won += 1,
                            Err(StoreError::Conflict(_)) => refused += 1,
                            Err(e) => panic!("unexpected {e}"),
                        }
                    }
                    (won, refused)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let won: u32 = outcomes.iter().map(|o| o.0).sum();
    let total: u32 = outcomes.iter().map(|o| o.0 + o.1).sum();
    assert_eq!(total, rounds * workers);
    let last = cat.get::<Gadget>("g").expect("get").expect("g");
    assert_eq!(
        last.revision,
        1 + u64::from(won),
        "every accepted update is one revision"
    );
    assert_eq!(
        cat.history::<Gadget>("g").expect("history").len(),
        1 + won as usize
    );
}

/// What a store of the schema before the catalogue holds, as the code of that time wrote it:
/// `(member, system, keys with their hashes, elements, code lists, schemas)`.
pub(crate) struct OldCatalog {
    pub(crate) member: Member,
    pub(crate) system: System,
    pub(crate) keys: Vec<(ApiKey, &'static str)>,
    pub(crate) lists: Vec<CodeList>,
    pub(crate) schemas: Vec<DatasetSchema>,
}

pub(crate) fn old_catalog() -> OldCatalog {
    let mut member = member("BCA");
    // Microseconds survive the move.
    member.created_at = t(0) + Duration::microseconds(123_456);
    let system = System {
        code: "BCA-POP".into(),
        member: "BCA".into(),
        name: "Dân cư".into(),
        created_at: t(1),
    };
    let key = |id: &str, revoked: Option<DateTime<Utc>>| ApiKey {
        id: id.into(),
        system: "BCA-POP".into(),
        roles: vec![Role::Provider, Role::Operator],
        label: format!("key {id}"),
        created_at: t(2),
        expires_at: None,
        revoked_at: revoked,
    };
    let list = |version: u32, label: &str| CodeList {
        id: "colour".into(),
        version,
        name_vi: "Màu".into(),
        name_en: "Colour".into(),
        source: String::new(),
        entries: vec![CodeEntry {
            code: "R".into(),
            label_vi: "Đỏ".into(),
            label_en: label.into(),
            parent: None,
        }],
    };
    OldCatalog {
        member,
        system,
        keys: vec![
            (key("k1", None), "hash-1"),
            (key("k2", Some(t(3))), "hash-2"),
        ],
        lists: vec![list(1, "Red"), list(10, "Crimson")],
        schemas: vec![
            schema(V1),
            schema(SchemaVersion {
                major: 1,
                minor: 10,
            }),
            schema(SchemaVersion { major: 2, minor: 0 }),
        ],
    }
}

/// After the upgrade every object of [`old_catalog`] reads back through the catalogue, its
/// lookups work, and the catalogue takes new objects with the usual checks.
pub(crate) fn check_upgraded_catalog(store: &Store) {
    let old = old_catalog();
    let cat = store.catalog();
    let member = cat.get::<Member>("BCA").expect("member").expect("moved");
    assert_eq!(member.value, old.member);
    assert_eq!(
        (member.revision, member.created_at),
        (1, old.member.created_at)
    );
    assert_eq!(
        cat.list::<System>(Page::ALL).expect("systems")[0].value,
        old.system
    );
    let holder = cat.key_holder("hash-1").expect("lookup").expect("found");
    assert_eq!(
        (holder.key, holder.system, holder.member),
        (
            old.keys[0].0.clone(),
            old.system.clone(),
            old.member.clone()
        )
    );
    assert_eq!(
        cat.api_keys("BCA-POP").expect("keys"),
        vec![old.keys[0].0.clone(), old.keys[1].0.clone()]
    );
    let elements = cat.list::<DataElement>(Page::ALL).expect("elements");
    let mut builtin = builtin_elements();
    builtin.sort_by(|a, b| a.id.cmp(&b.id));
    let elements: Vec<DataElement> = elements.into_iter().map(|e| e.value).collect();
    assert!(elements == builtin, "every element moved, listed by id");
    assert_eq!(
        cat.code_list("colour", None).expect("latest"),
        Some(old.lists[1].clone())
    );
    assert_eq!(
        cat.code_list("colour", Some(1)).expect("v1"),
        Some(old.lists[0].clone())
    );
    assert_eq!(
        cat.code_list_ids().expect("ids"),
        vec![("colour".into(), 10)]
    );
    assert_eq!(
        cat.schema_versions("people").expect("versions"),
        old.schemas.iter().map(|s| s.version).collect::<Vec<_>>()
    );
    assert_eq!(
        cat.datasets().expect("datasets"),
        vec![old.schemas[2].clone()]
    );
    // New writes keep every rule.
    let e = cat.insert(&old.member, t(5)).expect_err("exists");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let e = cat.insert(
        &ApiKeyRecord {
            key: ApiKey {
                id: "k3".into(),
                ..old.keys[0].0.clone()
            },
            key_hash: "hash-1".into(),
        },
        t(5),
    );
    assert!(
        matches!(e, Err(StoreError::Conflict(_))),
        "a key hash stays unique"
    );
    let e = cat
        .delete::<System>("BCA-POP", 1, t(5))
        .expect_err("keys refer to it");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let operators = cat
        .find::<ApiKeyRecord>(ApiKeyRecord::ROLE, "operator", Page::ALL)
        .expect("by role");
    assert_eq!(operators.len(), 2, "keys are found by role after the move");
    let revoked = cat.revoke_api_key("k1", t(6)).expect("revoke").expect("k1");
    assert_eq!(revoked.revoked_at, Some(t(6)));
    assert_eq!(cat.history::<ApiKeyRecord>("k1").expect("history").len(), 2);
}

/// An object as the code before the catalogue stored it: its JSON.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("json")
}

/// A transaction's writes commit together or not at all.
pub(crate) fn transactions_are_all_or_nothing(store: Store) {
    let cat = store.catalog();
    cat.insert(&member("BCA"), t(0)).expect("member");
    cat.transaction(|tx| {
        tx.insert(&gadget("g1", "red", 1), t(1))?;
        tx.insert(&gadget("g2", "red", 2), t(1))?;
        Ok(())
    })
    .expect("both");
    assert_eq!(cat.ids::<Gadget>().expect("ids"), ["g1", "g2"]);
    let e = cat
        .transaction(|tx| {
            tx.update(&gadget("g1", "blue", 1), 1, t(2))?;
            tx.insert(&gadget("g3", "blue", 3), t(2))?;
            // The tag of g2: the whole transaction is refused.
            tx.insert(&gadget("g4", "blue", 2), t(2))?;
            Ok(())
        })
        .expect_err("unique tag");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert_eq!(cat.ids::<Gadget>().expect("ids"), ["g1", "g2"]);
    let g1 = cat.get::<Gadget>("g1").expect("get").expect("g1");
    assert_eq!((g1.revision, g1.value.colour.as_str()), (1, "red"));
    assert_eq!(cat.history::<Gadget>("g1").expect("history").len(), 1);
    // Reads inside a transaction see its own writes.
    let seen = cat
        .transaction(|tx| {
            tx.update(&gadget("g2", "blue", 2), 1, t(3))?;
            Ok(serials(tx.find::<Gadget>("colour", "blue")?))
        })
        .expect("read own write");
    assert_eq!(seen, ["g2"]);
}

/// A rule over several objects ("at least one gadget stays red") holds when writers that each
/// checked it run at once: what a transaction finds stays as it read it until it ends.
pub(crate) fn transactions_keep_a_rule_across_writers(store: Store) {
    let cat = store.catalog();
    cat.insert(&member("BCA"), t(0)).expect("member");
    let writers = 4u32;
    for n in 0..writers {
        cat.insert(&gadget(&format!("g{n}"), "red", n), t(0))
            .expect("gadget");
    }
    let start = std::sync::Barrier::new(writers as usize);
    let recoloured: u32 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|n| {
                let (cat, start) = (cat.clone(), &start);
                s.spawn(move || {
                    start.wait();
                    cat.transaction(|tx| {
                        let red = tx.find::<Gadget>("colour", "red")?;
                        let mine = format!("g{n}");
                        let Some(me) = red.iter().find(|g| g.value.serial == mine) else {
                            return Ok(0);
                        };
                        if red.len() <= 1 {
                            return Ok(0);
                        }
                        // Widen the window in which an unlocked read would go stale.
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        let blue = Gadget {
                            colour: "blue".into(),
                            ..me.value.clone()
                        };
                        tx.update(&blue, me.revision, t(1))?;
                        Ok(1)
                    })
                    .expect("transaction")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("writer")).sum()
    });
    let red = cat.find::<Gadget>("colour", "red", Page::ALL).expect("red");
    assert_eq!(red.len(), 1, "exactly one gadget stays red");
    assert_eq!(recoloured, writers - 1);
}

/// [`Gadget`] one shape later: `colour` became `colours`. Format 2 of the same kind reads what
/// format 1 stored, through `upgrade`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GadgetV2 {
    serial: String,
    owner: String,
    colours: Vec<String>,
    tag: u32,
}

impl Kind for GadgetV2 {
    const KIND: &'static str = Gadget::KIND;
    const NOUN: &'static str = Gadget::NOUN;
    const FORMAT: u32 = 2;
    fn id(&self) -> String {
        self.serial.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        let mut attrs = vec![
            Attribute::reference::<Member>("owner", &self.owner),
            Attribute::unique("tag", self.tag.to_string()),
        ];
        attrs.extend(self.colours.iter().map(|c| Attribute::plain("colour", c)));
        attrs
    }
    fn upgrade(format: u32, mut body: serde_json::Value) -> ndx_store::Result<serde_json::Value> {
        let object = body
            .as_object_mut()
            .filter(|_| format == 1)
            .ok_or_else(|| {
                StoreError::Incompatible(format!("gadget format {format} is unknown"))
            })?;
        let colour = object.remove("colour").unwrap_or_default();
        object.insert("colours".into(), serde_json::Value::Array(vec![colour]));
        Ok(body)
    }
}

/// A kind's stored shape is versioned: a binary with a newer format reads every earlier one,
/// and an older binary refuses a format it does not know instead of misreading it.
pub(crate) fn stored_formats_stay_readable(store: Store) {
    let cat = store.catalog();
    cat.insert(&member("BCA"), t(0)).expect("member");
    cat.insert(&gadget("g1", "red", 1), t(1)).expect("format 1");
    let read = cat.get::<GadgetV2>("g1").expect("read").expect("g1");
    assert_eq!(read.value.colours, ["red"]);
    assert_eq!(read.revision, 1);
    let two = GadgetV2 {
        colours: vec!["red".into(), "blue".into()],
        ..read.value
    };
    cat.update(&two, 1, t(2)).expect("written as format 2");
    let history = cat.history::<GadgetV2>("g1").expect("history");
    assert_eq!(
        history
            .iter()
            .map(|r| r.value.as_ref().map(|g| g.colours.len()))
            .collect::<Vec<_>>(),
        [Some(1), Some(2)],
        "every revision reads in the current shape"
    );
    assert_eq!(
        cat.find::<GadgetV2>("colour", "blue", Page::ALL)
            .expect("find")
            .len(),
        1
    );
    let e = cat.get::<Gadget>("g1").expect_err("a newer format");
    assert!(matches!(e, StoreError::Incompatible(_)), "{e}");
    assert!(e.to_string().contains("format 2"), "{e}");
    // Objects written in the old format are still read by the old type.
    cat.insert(&gadget("g2", "green", 2), t(3))
        .expect("format 1");
    assert_eq!(
        cat.get::<Gadget>("g2")
            .expect("read")
            .expect("g2")
            .value
            .colour,
        "green"
    );
}

/// A kind written often and never cached: its writes leave the generation alone.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Tick {
    id: String,
}

impl Kind for Tick {
    const KIND: &'static str = "test-tick";
    const NOUN: &'static str = "tick";
    const WATCHED: bool = false;
    fn id(&self) -> String {
        self.id.clone()
    }
}

/// Every committed write of a watched kind (insert, update, delete) raises the generation; a
/// rolled-back one and a write of an unwatched kind do not.
pub(crate) fn generation_moves_with_watched_writes_only(store: Store) {
    let g0 = store.catalog().generation().expect("generation");
    let m = store
        .catalog()
        .insert(&member("BCA"), t(0))
        .expect("insert");
    let g1 = store.catalog().generation().expect("generation");
    assert!(g1 > g0, "an insert moves it: {g0} → {g1}");
    let mut changed = m.value.clone();
    changed.name_vi = "Bộ Công an (đổi tên)".into();
    store
        .catalog()
        .update(&changed, m.revision, t(1))
        .expect("update");
    let g2 = store.catalog().generation().expect("generation");
    assert!(g2 > g1, "an update moves it: {g1} → {g2}");
    store
        .catalog()
        .insert(&Tick { id: "t1".into() }, t(2))
        .expect("tick");
    assert_eq!(store.catalog().generation().expect("generation"), g2);
    let refused: Result<(), StoreError> = store.catalog().transaction(|tx| {
        tx.insert(&member("BTP"), t(3))?;
        Err(StoreError::Conflict("changed my mind".into()))
    });
    assert!(refused.is_err());
    assert_eq!(
        store.catalog().generation().expect("generation"),
        g2,
        "a rolled-back write leaves it"
    );
    let m = store
        .catalog()
        .get::<Member>("BCA")
        .expect("get")
        .expect("member");
    store
        .catalog()
        .delete::<Member>("BCA", m.revision, t(4))
        .expect("delete");
    let g3 = store.catalog().generation().expect("generation");
    assert!(g3 > g2, "a deletion moves it: {g2} → {g3}");
}
