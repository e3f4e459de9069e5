//! The canonical encoding of audit events: round trips, and every way of being almost
//! canonical is refused with a precise error.

use chrono::{DateTime, TimeZone, Utc};
use ndx_audit::{Actor, AuditEvent, EntryError, Outcome};
use proptest::prelude::*;
use serde_json::Value;

fn sample() -> AuditEvent {
    AuditEvent {
        agreement: None,
        v: AuditEvent::FORMAT_VERSION,
        time: Utc.with_ymd_and_hms(2025, 7, 1, 8, 30, 0).unwrap()
            + chrono::Duration::microseconds(123_456),
        request_id: "r-1".into(),
        actor: Some(Actor {
            member: "mof".into(),
            system: "tax-portal".into(),
        }),
        operation: "record.read".into(),
        dataset: Some("citizens".into()),
        keys: vec!["001090000001".into()],
        query: None,
        fields: vec!["name".into()],
        purpose: Some("tax assessment".into()),
        legal_basis: Some("Decree 47/2024".into()),
        outcome: Outcome {
            allowed: true,
            reason: None,
        },
        subjects: vec!["001090000001".into()],
    }
}

const SAMPLE: &str = concat!(
    r#"{"actor":{"member":"mof","system":"tax-portal"},"dataset":"citizens","fields":["name"],"#,
    r#""keys":["001090000001"],"legal_basis":"Decree 47/2024","operation":"record.read","#,
    r#""outcome":{"allowed":true,"reason":null},"purpose":"tax assessment","query":null,"#,
    r#""request_id":"r-1","subjects":["001090000001"],"time":"2025-07-01T08:30:00.123456Z","v":1}"#
);

fn reject(bytes: &[u8]) -> EntryError {
    match AuditEvent::from_canonical(bytes) {
        Ok(event) => panic!("accepted {:?} as {event:?}", String::from_utf8_lossy(bytes)),
        Err(e) => e,
    }
}

/// The sample as a JSON value (member order kept: the workspace enables `preserve_order`).
fn sample_value() -> serde_json::Map<String, Value> {
    match serde_json::from_str(SAMPLE).unwrap() {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

fn invalid_message(bytes: &[u8]) -> String {
    match reject(bytes) {
        EntryError::Invalid(e) => e.to_string(),
        other => panic!("expected an invalid entry, got {other:?}"),
    }
}

#[test]
fn encodes_exactly_as_documented_and_round_trips() {
    let event = sample();
    assert_eq!(String::from_utf8(event.canonical_bytes()).unwrap(), SAMPLE);
    assert_eq!(
        AuditEvent::from_canonical(SAMPLE.as_bytes()).unwrap(),
        event
    );
    assert_eq!(
        event.leaf_hash(),
        ndx_audit::merkle::leaf_hash(SAMPLE.as_bytes())
    );
}

#[test]
fn all_nulls_and_empty_arrays_are_written_out() {
    let event = AuditEvent {
        agreement: None,
        actor: None,
        dataset: None,
        keys: vec![],
        fields: vec![],
        purpose: None,
        legal_basis: None,
        subjects: vec![],
        outcome: Outcome {
            allowed: false,
            reason: Some("unauthenticated".into()),
        },
        time: DateTime::UNIX_EPOCH,
        ..sample()
    };
    let bytes = event.canonical_bytes();
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        concat!(
            r#"{"actor":null,"dataset":null,"fields":[],"keys":[],"legal_basis":null,"#,
            r#""operation":"record.read","outcome":{"allowed":false,"reason":"unauthenticated"},"#,
            r#""purpose":null,"query":null,"request_id":"r-1","subjects":[],"#,
            r#""time":"1970-01-01T00:00:00.000000Z","v":1}"#
        )
    );
    assert_eq!(AuditEvent::from_canonical(&bytes).unwrap(), event);
}

#[test]
fn time_is_truncated_to_the_microsecond() {
    let event = AuditEvent {
        agreement: None,
        time: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::nanoseconds(999_999_999),
        ..sample()
    };
    let decoded = AuditEvent::from_canonical(&event.canonical_bytes()).unwrap();
    assert_eq!(
        decoded.time.to_rfc3339(),
        "2025-01-02T03:04:05.999999+00:00"
    );
}

#[test]
fn whitespace_is_not_canonical() {
    let pretty = serde_json::to_vec_pretty(&sample()).unwrap();
    assert!(matches!(
        reject(&pretty),
        EntryError::NotCanonical { offset: 1 }
    ));
    let spaced = SAMPLE.replace(r#""actor":{"#, r#""actor": {"#);
    assert!(matches!(
        reject(spaced.as_bytes()),
        EntryError::NotCanonical { offset: 9 }
    ));
    let trailing = format!("{SAMPLE}\n");
    assert!(matches!(
        reject(trailing.as_bytes()),
        EntryError::NotCanonical { offset } if offset == SAMPLE.len()
    ));
}

#[test]
fn reordered_members_are_not_canonical() {
    let mut map = sample_value();
    map.shift_remove("v");
    let mut reordered = serde_json::Map::new();
    reordered.insert("v".into(), Value::from(1));
    reordered.extend(map);
    let bytes = serde_json::to_vec(&reordered).unwrap();
    assert!(matches!(
        reject(&bytes),
        EntryError::NotCanonical { offset: 2 }
    ));

    let swapped = SAMPLE.replace(
        r#"{"member":"mof","system":"tax-portal"}"#,
        r#"{"system":"tax-portal","member":"mof"}"#,
    );
    assert!(matches!(
        reject(swapped.as_bytes()),
        EntryError::NotCanonical { offset: 11 }
    ));
}

#[test]
fn other_escapes_are_not_canonical() {
    for (from, to) in [
        ("r-1", r"r\u002d1"),
        ("r-1", r"r\/-1"),
        ("mof", r"\u006dof"),
    ] {
        let bytes = SAMPLE.replacen(from, to, 1);
        assert!(
            matches!(reject(bytes.as_bytes()), EntryError::NotCanonical { .. }),
            "{to}"
        );
    }
    let event = AuditEvent {
        agreement: None,
        request_id: "\u{1f}".into(),
        ..sample()
    };
    let lower = String::from_utf8(event.canonical_bytes()).unwrap();
    assert!(lower.contains(r#""request_id":"\u001f""#));
    let upper = lower.replace(r"\u001f", r"\u001F");
    assert!(matches!(
        reject(upper.as_bytes()),
        EntryError::NotCanonical { .. }
    ));
}

#[test]
fn missing_members_are_named() {
    for member in [
        "actor",
        "dataset",
        "fields",
        "keys",
        "legal_basis",
        "operation",
        "outcome",
        "purpose",
        "query",
        "request_id",
        "subjects",
        "time",
        "v",
    ] {
        let mut map = sample_value();
        map.shift_remove(member).unwrap();
        let message = invalid_message(&serde_json::to_vec(&map).unwrap());
        assert!(
            message.contains(&format!("missing field `{member}`")),
            "{message}"
        );
    }
    let without_reason = SAMPLE.replace(r#","reason":null"#, "");
    let message = invalid_message(without_reason.as_bytes());
    assert!(message.contains("missing field `reason`"), "{message}");
}

#[test]
fn unknown_and_duplicate_members_are_named() {
    let extra = SAMPLE.replacen('{', r#"{"extra":1,"#, 1);
    let message = invalid_message(extra.as_bytes());
    assert!(message.contains("unknown field `extra`"), "{message}");
    let nested = SAMPLE.replace(
        r#""system":"tax-portal""#,
        r#""system":"tax-portal","role":"x""#,
    );
    let message = invalid_message(nested.as_bytes());
    assert!(message.contains("unknown field `role`"), "{message}");
    let duplicate = SAMPLE.replace(r#""query":null,"#, r#""query":null,"query":null,"#);
    let message = invalid_message(duplicate.as_bytes());
    assert!(message.contains("duplicate field `query`"), "{message}");
}

#[test]
fn other_versions_are_refused_as_such() {
    let v3 = SAMPLE.replace(r#""v":1}"#, r#""v":3}"#);
    assert!(matches!(
        reject(v3.as_bytes()),
        EntryError::UnsupportedVersion {
            found: 3,
            expected: 2
        }
    ));
    // A future version with members this one does not know is still reported as a version.
    let v3_extra = v3.replacen('{', r#"{"zone":"x","#, 1);
    assert!(matches!(
        reject(v3_extra.as_bytes()),
        EntryError::UnsupportedVersion { found: 3, .. }
    ));
    for wrong in [r#""v":1.0}"#, r#""v":"1"}"#, r#""v":-1}"#] {
        let bytes = SAMPLE.replace(r#""v":1}"#, wrong);
        assert!(
            matches!(reject(bytes.as_bytes()), EntryError::Invalid(_)),
            "{wrong}"
        );
    }
}

#[test]
fn times_must_be_canonical() {
    for time in [
        "2025-07-01T08:30:00.123456+00:00",
        "2025-07-01T08:30:00.123456z",
        "2025-07-01T08:30:00.1234560Z",
        "2025-07-01T08:30:00.123Z",
        "2025-07-01T15:30:00.123456+07:00",
        "2025-07-01 08:30:00.123456Z",
        "yesterday",
    ] {
        let bytes = SAMPLE.replace("2025-07-01T08:30:00.123456Z", time);
        let message = invalid_message(bytes.as_bytes());
        assert!(message.contains(&format!("time {time:?}")), "{message}");
    }
}

#[test]
fn wrong_types_and_garbage_are_invalid() {
    for (from, to) in [
        (r#""allowed":true"#, r#""allowed":"yes""#),
        (r#""fields":["name"]"#, r#""fields":"name""#),
        (r#""fields":["name"]"#, r#""fields":null"#),
        (r#""request_id":"r-1""#, r#""request_id":null"#),
        (r#""query":null"#, r#""query":7"#),
    ] {
        let bytes = SAMPLE.replace(from, to);
        assert!(
            matches!(reject(bytes.as_bytes()), EntryError::Invalid(_)),
            "{to}"
        );
    }
    for garbage in [
        &b""[..],
        b"null",
        b"[]",
        b"{",
        &SAMPLE.as_bytes()[..100],
        b"\xff\xfe",
    ] {
        assert!(matches!(reject(garbage), EntryError::Invalid(_)));
    }
}

/// Every object's member names, depth first, in the order they were written.
fn member_orders(value: &Value, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            out.push(map.keys().cloned().collect());
            map.values().for_each(|v| member_orders(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| member_orders(v, out)),
        _ => {}
    }
}

fn text() -> impl Strategy<Value = String> {
    // Weighted towards what escaping gets wrong: controls, quotes, backslashes, separators.
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('/'),
                Just('\u{0}'),
                Just('\u{1f}'),
                Just('\u{7f}'),
                Just('\u{2028}'),
                Just('\u{2029}'),
                Just('ễ'),
                Just('😀'),
                (0u8..0x20).prop_map(char::from),
            ],
            0..12,
        )
        .prop_map(|chars| chars.into_iter().collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_events_round_trip_in_sorted_order(
        request_id in text(),
        member in text(),
        query in prop::option::of(text()),
        keys in prop::collection::vec(text(), 0..4),
        reason in prop::option::of(text()),
        allowed in any::<bool>(),
        micros in 0i64..253_402_300_799_999_999,
    ) {
        let event = AuditEvent {
            agreement: None,
            request_id,
            actor: Some(Actor { member, system: "s".into() }),
            query,
            keys,
            outcome: Outcome { allowed, reason },
            time: DateTime::from_timestamp_micros(micros).unwrap(),
            ..sample()
        };
        let bytes = event.canonical_bytes();
        prop_assert_eq!(AuditEvent::from_canonical(&bytes).unwrap(), event);
        let mut orders = Vec::new();
        member_orders(&serde_json::from_slice(&bytes).unwrap(), &mut orders);
        prop_assert_eq!(orders.len(), 3);
        for order in orders {
            let mut sorted = order.clone();
            sorted.sort();
            prop_assert_eq!(order, sorted);
        }
    }
}

/// Version 2 is version 1 plus `agreement`, present exactly when `v` is 2; version 1 entries
/// keep their bytes.
#[test]
fn version_2_names_the_agreement_and_only_version_2_does() {
    let v2 = sample().with_agreement("AGR-7");
    let bytes = v2.canonical_bytes();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with(r#"{"actor":{"member":"mof","system":"tax-portal"},"agreement":"AGR-7","#),
        "{text}"
    );
    assert!(text.ends_with(r#","v":2}"#), "{text}");
    assert_eq!(AuditEvent::from_canonical(&bytes).unwrap(), v2);
    assert_eq!(sample().canonical_bytes(), SAMPLE.as_bytes());

    let v2_without = SAMPLE.replace(r#""v":1}"#, r#""v":2}"#);
    let msg = invalid_message(v2_without.as_bytes());
    assert!(msg.contains("must have an `agreement`"), "{msg}");
    let v1_with = text.replace(r#""v":2}"#, r#""v":1}"#);
    let msg = invalid_message(v1_with.as_bytes());
    assert!(msg.contains("may not have an `agreement`"), "{msg}");
    let v3 = text.replace(r#""v":2}"#, r#""v":3}"#);
    assert!(matches!(
        reject(v3.as_bytes()),
        EntryError::UnsupportedVersion { found: 3, .. }
    ));
}
