//! The catalogue area: registry and dictionary objects, and the generic layer under them.

use super::*;

pub(crate) fn registry(store: Store) {
    store.insert_member(&member("BCA")).expect("insert");
    assert!(matches!(
        store.insert_member(&member("BCA")),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.member("BCA").expect("get"), Some(member("BCA")));
    assert_eq!(store.member("NOPE").expect("get"), None);
    assert_eq!(store.members().expect("list").len(), 1);
    let sys = System {
        code: "BCA-POP".into(),
        member: "BCA".into(),
        name: "Dân cư".into(),
        created_at: t(1),
    };
    store.insert_system(&sys).expect("system");
    let orphan = System {
        member: "NOPE".into(),
        code: "X-1".into(),
        ..sys.clone()
    };
    assert!(matches!(
        store.insert_system(&orphan),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.insert_system(&sys),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.systems().expect("systems"), vec![sys.clone()]);
    let key = ApiKey {
        id: "k1".into(),
        system: "BCA-POP".into(),
        roles: vec![Role::Provider],
        label: "loader".into(),
        created_at: t(2),
        expires_at: None,
        revoked_at: None,
    };
    store.insert_api_key(&key, "hash-1").expect("key");
    assert_eq!(
        store.key_holder("hash-1").expect("lookup"),
        Some(KeyHolder {
            key: key.clone(),
            system: sys.clone(),
            member: member("BCA"),
        })
    );
    assert_eq!(store.key_holder("hash-2").expect("lookup"), None);
    let revoked = store
        .revoke_api_key("k1", t(5))
        .expect("revoke")
        .expect("known");
    assert_eq!(revoked.revoked_at, Some(t(5)));
    let again = store
        .revoke_api_key("k1", t(9))
        .expect("revoke")
        .expect("known");
    assert_eq!(
        again.revoked_at,
        Some(t(5)),
        "the first revocation time is kept"
    );
    assert_eq!(store.revoke_api_key("nope", t(9)).expect("revoke"), None);
    assert_eq!(
        store.api_keys("BCA-POP").expect("keys")[0].revoked_at,
        Some(t(5))
    );
}

pub(crate) fn dictionary(store: Store) {
    for e in builtin_elements() {
        store.insert_element(&e, t(0)).expect("element");
    }
    let dup = builtin_elements().remove(0);
    assert!(matches!(
        store.insert_element(&dup, t(0)),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.elements().expect("elements").len(),
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
    store.insert_code_list(&list, t(0)).expect("v1");
    assert!(matches!(
        store.insert_code_list(&list, t(0)),
        Err(StoreError::Conflict(_))
    ));
    list.version = 2;
    list.entries[0].label_en = "Crimson".into();
    store.insert_code_list(&list, t(1)).expect("v2");
    assert_eq!(
        store
            .code_list("colour", None)
            .expect("latest")
            .expect("some")
            .version,
        2
    );
    assert_eq!(
        store
            .code_list("colour", Some(1))
            .expect("v1")
            .expect("some")
            .entries[0]
            .label_en,
        "Red"
    );
    assert_eq!(store.code_list("colour", Some(3)).expect("v3"), None);
    assert_eq!(
        store.code_list_ids().expect("ids"),
        vec![("colour".to_string(), 2)]
    );

    store.insert_member(&member("BCA")).expect("member");
    store.insert_schema(&schema(V1), t(0)).expect("1.0");
    assert!(matches!(
        store.insert_schema(&schema(V1), t(0)),
        Err(StoreError::Conflict(_))
    ));
    let v11 = SchemaVersion { major: 1, minor: 1 };
    let v20 = SchemaVersion { major: 2, minor: 0 };
    store.insert_schema(&schema(v20), t(2)).expect("2.0");
    store.insert_schema(&schema(v11), t(1)).expect("1.1");
    assert_eq!(
        store.schema_versions("people").expect("versions"),
        vec![V1, v11, v20]
    );
    assert_eq!(
        store
            .schema("people", None)
            .expect("latest")
            .expect("some")
            .version,
        v20
    );
    assert_eq!(
        store
            .schema("people", Some(v11))
            .expect("1.1")
            .expect("some")
            .version,
        v11
    );
    assert_eq!(store.schema("nope", None).expect("none"), None);
    let all = store.datasets().expect("datasets");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].version, v20);
}

/// The catalog tests of the suite.
pub(crate) const SUITE: &[SuiteTest] = &[("registry", registry), ("dictionary", dictionary)];
