//! The built-in kinds of the catalogue (registry and dictionary) and their typed lookups,
//! written once above [`Catalog`] for every engine.
//!
//! Ids: a member, system, API key or data element is stored under its own id; a code list
//! version under `ID@VVVVVVVVVV` and a schema version under `DATASET@MMMMMMMMMM.mmmmmmmmmm`
//! (zero-padded, so that ids sort by version; `@` is not allowed in identifiers), each with an
//! attribute naming its list or dataset.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use ndx_types::codes::{CodeListRef, Crosswalk, crosswalk_id};
use ndx_types::dictionary::{CodeList, DataElement, DatasetSchema, SchemaVersion};
use ndx_types::registry::{ApiKey, Member, System};
use serde::{Deserialize, Serialize};

use super::sql::{Cell, Param};
use super::{Attribute, Catalog, Kind, Page, Tx, Versioned};
use crate::{Result, StoreError};

impl Kind for Member {
    const KIND: &'static str = "member";
    const NOUN: &'static str = "member";
    fn id(&self) -> String {
        self.code.clone()
    }
}

impl Kind for System {
    const KIND: &'static str = "system";
    const NOUN: &'static str = "system";
    fn id(&self) -> String {
        self.code.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::reference::<Member>(SYSTEM_MEMBER, &self.member)]
    }
}

/// An API key as stored: its metadata and the SHA-256 of its secret (hex), by which a
/// request's key is found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// The key's metadata.
    #[serde(flatten)]
    pub key: ApiKey,
    /// Hash of the secret.
    pub key_hash: String,
}

impl ApiKeyRecord {
    /// The attribute that finds keys by role (one value per role of the key).
    pub const ROLE: &'static str = KEY_ROLE;
}

impl Kind for ApiKeyRecord {
    const KIND: &'static str = "api-key";
    const NOUN: &'static str = "api key";
    fn id(&self) -> String {
        self.key.id.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        let mut attrs = vec![
            Attribute::reference::<System>(KEY_SYSTEM, &self.key.system),
            Attribute::unique(KEY_HASH, &self.key_hash),
        ];
        attrs.extend(
            self.key
                .roles
                .iter()
                .map(|r| Attribute::plain(KEY_ROLE, r.name())),
        );
        attrs
    }
}

impl Kind for DataElement {
    const KIND: &'static str = "data-element";
    const NOUN: &'static str = "data element";
    fn id(&self) -> String {
        self.id.clone()
    }
}

impl Kind for CodeList {
    const KIND: &'static str = "code-list";
    const NOUN: &'static str = "code list";
    fn id(&self) -> String {
        code_list_id(&self.id, self.version)
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::plain(LIST, &self.id)]
    }
    fn describe(&self) -> String {
        format!("code list {:?} version {}", self.id, self.version)
    }
}

impl Kind for Crosswalk {
    const KIND: &'static str = "crosswalk";
    const NOUN: &'static str = "crosswalk";
    fn id(&self) -> String {
        Crosswalk::id(self)
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![
            Attribute::plain(LIST, &self.from.id),
            Attribute::plain(LIST, &self.to.id),
        ]
    }
    fn describe(&self) -> String {
        format!("crosswalk from {} to {}", self.from, self.to)
    }
}

impl Kind for DatasetSchema {
    const KIND: &'static str = "schema";
    const NOUN: &'static str = "schema";
    fn id(&self) -> String {
        schema_id(&self.dataset, self.version)
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::plain(DATASET, &self.dataset)]
    }
    fn describe(&self) -> String {
        format!("schema {:?} version {}", self.dataset, self.version)
    }
}

const SYSTEM_MEMBER: &str = "member";
const KEY_SYSTEM: &str = "system";
const KEY_HASH: &str = "key-hash";
/// One attribute per role of a key: [`ApiKeyRecord::ROLE`].
const KEY_ROLE: &str = "role";
const LIST: &str = "list";
const DATASET: &str = "dataset";

fn code_list_id(id: &str, version: u32) -> String {
    format!("{id}@{version:010}")
}

fn schema_id(dataset: &str, v: SchemaVersion) -> String {
    format!("{dataset}@{:010}.{:010}", v.major, v.minor)
}

/// An API key with the system that holds it and that system's member.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyHolder {
    /// The key (its state says whether it may still be used).
    pub key: ApiKey,
    /// The system the key belongs to.
    pub system: System,
    /// The member (organisation) that runs the system.
    pub member: Member,
}

/// The key, its system and its member from the hash of the key's secret (`$1`), in one query:
/// every authenticated request asks it.
fn key_holder_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        // Every step is a lookup by a full key, in an order no planner can change: the key's id
        // and system from its hash, the system's member, then each body by primary key. (Joins
        // left to the planner scanned every key's attributes on SQLite, which has no
        // statistics, and on PostgreSQL before its statistics exist.) LIMIT 1 keeps each
        // subquery from being merged into the one around it.
        let body = |kind: &str, id: &str| {
            format!(
                "(SELECT c.body FROM catalog c WHERE c.kind = '{kind}' AND c.id = x.{id}),
                 (SELECT c.format FROM catalog c WHERE c.kind = '{kind}' AND c.id = x.{id})"
            )
        };
        format!(
            "SELECT {key_body}, {system_body}, {member_body}
             FROM (SELECT y.key_id, y.system_id,
                          (SELECT a.value FROM catalog_attrs a WHERE a.kind = '{system}'
                             AND a.id = y.system_id AND a.name = '{SYSTEM_MEMBER}') AS member_id
                   FROM (SELECT h.id AS key_id,
                                (SELECT a.value FROM catalog_attrs a WHERE a.kind = h.kind
                                   AND a.id = h.id AND a.name = '{KEY_SYSTEM}') AS system_id
                         FROM catalog_attrs h
                         WHERE h.kind = '{key}' AND h.name = '{KEY_HASH}' AND h.value = $1
                         LIMIT 1) y
                   LIMIT 1) x",
            key_body = body(ApiKeyRecord::KIND, "key_id"),
            system_body = body(System::KIND, "system_id"),
            member_body = body(Member::KIND, "member_id"),
            system = System::KIND,
            key = ApiKeyRecord::KIND,
        )
    })
}

/// The next body and format of a key holder row, read as `T`.
fn body<T: Kind>(cells: &mut impl Iterator<Item = Cell>) -> Result<T> {
    let text = cells.next().unwrap_or(Cell::Null).text()?;
    let format = cells.next().unwrap_or(Cell::Null);
    super::decode::<T>("of a key holder", &text, &format)
}

/// The registry's writes that belong inside a caller's transaction.
impl Tx<'_> {
    /// Revokes a key the transaction has read (idempotent: the first revocation time is kept).
    pub fn revoke_api_key(
        &mut self,
        stored: Versioned<ApiKeyRecord>,
        at: DateTime<Utc>,
    ) -> Result<ApiKey> {
        if stored.value.key.revoked_at.is_some() {
            return Ok(stored.value.key);
        }
        let mut revoked = stored.value;
        revoked.key.revoked_at = Some(at);
        Ok(self.update(&revoked, stored.revision, at)?.value.key)
    }
}

/// The typed lookups of the registry and the dictionary.
impl Catalog {
    /// The key whose secret hashes to `key_hash`, with its system and member.
    pub fn key_holder(&self, key_hash: &str) -> Result<Option<KeyHolder>> {
        self.read(|c| {
            let Some(row) = c
                .query(key_holder_sql(), &[Param::Text(key_hash)])?
                .into_iter()
                .next()
            else {
                return Ok(None);
            };
            let mut cells = row.into_iter();
            Ok(Some(KeyHolder {
                key: body::<ApiKeyRecord>(&mut cells)?.key,
                system: body(&mut cells)?,
                member: body(&mut cells)?,
            }))
        })
    }

    /// The keys of a system, by id.
    pub fn api_keys(&self, system: &str) -> Result<Vec<ApiKey>> {
        Ok(self
            .find::<ApiKeyRecord>(KEY_SYSTEM, system, Page::ALL)?
            .into_iter()
            .map(|k| k.value.key)
            .collect())
    }

    /// Revokes a key at `at` (idempotent: the first revocation time is kept); `None` if there
    /// is no such key.
    pub fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<Option<ApiKey>> {
        self.transaction(|tx| {
            let Some(stored) = tx.get::<ApiKeyRecord>(id)? else {
                return Ok(None);
            };
            tx.revoke_api_key(stored, at).map(Some)
        })
    }

    /// A code list at a version, or its latest version.
    pub fn code_list(&self, id: &str, version: Option<u32>) -> Result<Option<CodeList>> {
        let found = match version {
            Some(v) => self.get::<CodeList>(&code_list_id(id, v))?,
            None => self.find::<CodeList>(LIST, id, Page::LAST)?.pop(),
        };
        Ok(found.map(|l| l.value))
    }

    /// The crosswalk registered from one code list version to another (this direction).
    pub fn crosswalk(
        &self,
        from: &CodeListRef,
        to: &CodeListRef,
    ) -> Result<Option<Versioned<Crosswalk>>> {
        self.get::<Crosswalk>(&crosswalk_id(from, to))
    }

    /// Every code list id with its latest version, by id.
    pub fn code_list_ids(&self) -> Result<Vec<(String, u32)>> {
        let mut out: Vec<(String, u32)> = Vec::new();
        // Ids come in order, the versions of one list together, oldest first.
        for id in self.ids::<CodeList>()? {
            let parsed = id
                .rsplit_once('@')
                .and_then(|(list, v)| Some((list.to_owned(), v.parse::<u32>().ok()?)));
            let Some((list, version)) = parsed else {
                return Err(StoreError::Backend(format!(
                    "stored code list id {id:?} is malformed"
                )));
            };
            match out.last_mut() {
                Some(last) if last.0 == list => last.1 = version,
                _ => out.push((list, version)),
            }
        }
        // `a-b@…` sorts before `a@…`: order by list id, as callers expect.
        out.sort();
        Ok(out)
    }

    /// A dataset's schema at a version, or its latest version.
    pub fn schema(
        &self,
        dataset: &str,
        version: Option<SchemaVersion>,
    ) -> Result<Option<DatasetSchema>> {
        let found = match version {
            Some(v) => self.get::<DatasetSchema>(&schema_id(dataset, v))?,
            None => self
                .find::<DatasetSchema>(DATASET, dataset, Page::LAST)?
                .pop(),
        };
        Ok(found.map(|s| s.value))
    }

    /// Every version of a dataset's schema, oldest first.
    pub fn schema_versions(&self, dataset: &str) -> Result<Vec<SchemaVersion>> {
        Ok(self
            .find::<DatasetSchema>(DATASET, dataset, Page::ALL)?
            .into_iter()
            .map(|s| s.value.version)
            .collect())
    }

    /// The latest schema of every dataset, by dataset id.
    pub fn datasets(&self) -> Result<Vec<DatasetSchema>> {
        let mut out: Vec<DatasetSchema> = Vec::new();
        for Versioned { value, .. } in self.list::<DatasetSchema>(Page::ALL)? {
            match out.last_mut() {
                Some(last) if last.dataset == value.dataset => *last = value,
                _ => out.push(value),
            }
        }
        out.sort_by(|a, b| a.dataset.cmp(&b.dataset));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_sort_by_version() {
        assert!(code_list_id("a", 9) < code_list_id("a", 10));
        let v = |major, minor| SchemaVersion { major, minor };
        assert!(schema_id("d", v(1, 9)) < schema_id("d", v(1, 10)));
        assert!(schema_id("d", v(1, 10)) < schema_id("d", v(2, 0)));
        assert!(schema_id("d", v(9, 0)) < schema_id("d", v(10, 0)));
    }

    #[test]
    fn kind_names_are_distinct() {
        let mut kinds = vec![
            Member::KIND,
            System::KIND,
            ApiKeyRecord::KIND,
            DataElement::KIND,
            CodeList::KIND,
            DatasetSchema::KIND,
        ];
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), 6);
    }
}
