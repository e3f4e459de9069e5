//! The audit event and its canonical byte encoding, which is what the log's leaves hash.
//!
//! # Format (versions 1 and 2)
//!
//! An entry is the UTF-8 bytes of one JSON object serialised by RFC 8785 (JSON Canonicalization
//! Scheme): no whitespace anywhere, object members sorted by key (all keys are ASCII, so byte
//! order), every member always present
//! (`agreement` only in version 2, see below). The members, in their canonical order:
//!
//! | key           | JSON type                                 | meaning                                  |
//! |---------------|-------------------------------------------|------------------------------------------|
//! | `actor`       | `null` or `{"member":S,"system":S}`       | the authenticated caller; `null` if none |
//! | `agreement`   | string; **only in version 2**             | the sharing agreement of an exchange     |
//! | `dataset`     | `null` or string                          | the dataset touched                      |
//! | `fields`      | array of strings                          | the fields returned                      |
//! | `keys`        | array of strings                          | the record keys touched                  |
//! | `legal_basis` | `null` or string                          | the legal basis the caller invoked       |
//! | `operation`   | string                                    | what was done, e.g. `"record.read"`      |
//! | `outcome`     | `{"allowed":B,"reason":null or S}`        | the access decision and why              |
//! | `purpose`     | `null` or string                          | the purpose the caller declared          |
//! | `query`       | `null` or string                          | the query, for searches                  |
//! | `request_id`  | string                                    | the request this event belongs to        |
//! | `subjects`    | array of strings                          | the citizen IDs touched                  |
//! | `time`        | string                                    | when, see below                          |
//! | `v`           | the integer `1` or `2`                    | the format version                       |
//!
//! Version 2 is version 1 plus the `agreement` member: an entry has that member exactly when
//! its `v` is 2 (the events of governed exchange); every other entry is version 1, byte for
//! byte as before. A reader accepts both.
//!
//! - `time` is RFC 3339 in UTC with exactly six fractional digits and an upper-case `Z`:
//!   `YYYY-MM-DDTHH:MM:SS.ffffffZ`, e.g. `"2025-07-01T08:30:00.000000Z"`. Finer precision is
//!   truncated when encoding; years must lie in 0000..=9999.
//! - Arrays keep the order the service gave; they are not sorted or deduplicated.
//! - Strings are written as RFC 8785 (and ECMAScript `JSON.stringify`) write them: `"` and `\`
//!   are escaped as `\"` and `\\`; U+0008, U+0009, U+000A, U+000C, U+000D as `\b`, `\t`, `\n`,
//!   `\f`, `\r`; the other characters below U+0020 as `\u00XX` with lower-case hex; every other
//!   character, including `/`, U+007F, U+2028, U+2029 and all non-ASCII text, as its raw UTF-8
//!   bytes. Text is not Unicode-normalised.
//! - There are no numbers other than `v` and no floats.
//!
//! Python produces the same bytes with
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()`.
//!
//! Example (one line in reality):
//!
//! ```text
//! {"actor":{"member":"mof","system":"tax-portal"},"dataset":"citizens","fields":["name"],
//! "keys":["001090000001"],"legal_basis":"Decree 47/2024","operation":"record.read",
//! "outcome":{"allowed":true,"reason":null},"purpose":"tax assessment","query":null,
//! "request_id":"r-1","subjects":["001090000001"],"time":"2025-07-01T08:30:00.000000Z","v":1}
//! ```
//!
//! A reader must reject bytes that are not exactly the canonical encoding of the object they
//! parse to ([`AuditEvent::from_canonical`] does), so every event has exactly one encoding and
//! one leaf hash.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::merkle::{self, Hash};

/// The caller on whose behalf an operation ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// The member agency.
    pub member: String,
    /// The member's system that made the call.
    pub system: String,
}

/// The access decision for an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Whether the operation was allowed.
    pub allowed: bool,
    /// Why, when there is something to say (always when refused).
    #[serde(deserialize_with = "required")]
    pub reason: Option<String>,
}

/// One audited operation: who did what to which data, why, and whether it was allowed.
///
/// Fields are declared in the byte order of their names because serde writes struct fields in
/// declaration order, and that order is the canonical one (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// The authenticated caller; `None` for an unauthenticated request.
    #[serde(deserialize_with = "required")]
    pub actor: Option<Actor>,
    /// The sharing agreement an exchange request was decided under (format 2 only: present
    /// exactly when `v` is 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<String>,
    /// The dataset touched, if any.
    #[serde(deserialize_with = "required")]
    pub dataset: Option<String>,
    /// The fields returned.
    pub fields: Vec<String>,
    /// The record keys touched.
    pub keys: Vec<String>,
    /// The legal basis the caller invoked.
    #[serde(deserialize_with = "required")]
    pub legal_basis: Option<String>,
    /// What was done, e.g. `record.read`.
    pub operation: String,
    /// The access decision.
    pub outcome: Outcome,
    /// The purpose the caller declared.
    #[serde(deserialize_with = "required")]
    pub purpose: Option<String>,
    /// The query, for searches.
    #[serde(deserialize_with = "required")]
    pub query: Option<String>,
    /// The request this event belongs to.
    pub request_id: String,
    /// The citizen IDs touched.
    pub subjects: Vec<String>,
    /// When the operation happened; encoded to the microsecond.
    #[serde(with = "micros")]
    pub time: DateTime<Utc>,
    /// The format version: [`AuditEvent::FORMAT_VERSION`], or
    /// [`AuditEvent::AGREEMENT_FORMAT_VERSION`] for an event that names an agreement
    /// ([`AuditEvent::with_agreement`]).
    pub v: u32,
}

/// Why bytes are not a valid canonical audit entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The entry declares a format version this crate does not know.
    #[error("audit entry format version {found} is not supported, expected {expected}")]
    UnsupportedVersion {
        /// The version in the entry.
        found: u64,
        /// The version this crate reads.
        expected: u32,
    },
    /// Not JSON, or not the shape of an event: a syntax error, a missing, unknown or duplicate
    /// member, a wrong type, a malformed time. The message names the member and position.
    #[error("invalid audit entry: {0}")]
    Invalid(serde_json::Error),
    /// Valid, but not byte for byte the canonical encoding (whitespace, member order, escapes).
    #[error(
        "audit entry is not in canonical form: it differs from the canonical encoding at byte {offset}"
    )]
    NotCanonical {
        /// The first byte where the input and the canonical encoding differ.
        offset: usize,
    },
}

impl AuditEvent {
    /// The format version of an event without an agreement.
    pub const FORMAT_VERSION: u32 = 1;
    /// The format version of an event that names the agreement it was decided under.
    pub const AGREEMENT_FORMAT_VERSION: u32 = 2;

    /// The event, decided under `agreement` (format version 2).
    pub fn with_agreement(mut self, agreement: impl Into<String>) -> Self {
        self.agreement = Some(agreement.into());
        self.v = Self::AGREEMENT_FORMAT_VERSION;
        self
    }

    /// The canonical encoding: the bytes the log stores and hashes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Only maps with non-string keys or failing custom serialisers make serde_json fail;
        // the event has neither.
        serde_json::to_vec(self).expect("an audit event always serialises")
    }

    /// The Merkle leaf hash of the canonical encoding.
    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.canonical_bytes())
    }

    /// Parses a canonical encoding, rejecting anything that is not exactly the canonical
    /// encoding of a version 1 event (no `agreement`) or a version 2 event (with one).
    pub fn from_canonical(bytes: &[u8]) -> Result<Self, EntryError> {
        // The version first, so a newer format is reported as such and not as unknown members.
        #[derive(Deserialize)]
        struct VersionOnly {
            v: u64,
        }
        if let Ok(VersionOnly { v }) = serde_json::from_slice(bytes)
            && v != u64::from(Self::FORMAT_VERSION)
            && v != u64::from(Self::AGREEMENT_FORMAT_VERSION)
        {
            return Err(EntryError::UnsupportedVersion {
                found: v,
                expected: Self::AGREEMENT_FORMAT_VERSION,
            });
        }
        let event: Self = serde_json::from_slice(bytes).map_err(EntryError::Invalid)?;
        if (event.v == Self::AGREEMENT_FORMAT_VERSION) != event.agreement.is_some() {
            return Err(EntryError::Invalid(serde::de::Error::custom(format!(
                "a format {} entry {} an `agreement` member",
                event.v,
                if event.agreement.is_some() {
                    "may not have"
                } else {
                    "must have"
                }
            ))));
        }
        let canonical = event.canonical_bytes();
        if canonical != bytes {
            let offset = canonical
                .iter()
                .zip(bytes)
                .position(|(a, b)| a != b)
                .unwrap_or(canonical.len().min(bytes.len()));
            return Err(EntryError::NotCanonical { offset });
        }
        Ok(event)
    }
}

/// Deserialises an `Option` member that must be present (as `null` when empty). serde treats a
/// missing `Option` member as `None` unless a `deserialize_with` is given; this is that.
fn required<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// The `time` member: RFC 3339, UTC, six fractional digits, `Z`.
mod micros {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&time.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        let time = DateTime::parse_from_rfc3339(&text)
            .map_err(|e| D::Error::custom(format!("time {text:?} is not RFC 3339: {e}")))?
            .to_utc();
        let canonical = time.to_rfc3339_opts(SecondsFormat::Micros, true);
        if canonical != text {
            return Err(D::Error::custom(format!(
                "time {text:?} is not in canonical form {canonical:?}"
            )));
        }
        Ok(time)
    }
}
