//! Dictionary services: the built-in national elements and code lists, registering elements,
//! code list versions and dataset schemas (with the evolution rule: compatible changes make a
//! minor version, breaking ones are refused unless a new major version is asked for), exports.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ndx_store::{Store, StoreError};
use ndx_types::codes::{CodeListRef, Converter, Crosswalk};
use ndx_types::dictionary::{
    self as dict, CodeList, DataElement, DatasetSchema, DictionaryLookup, Evolution, SchemaVersion,
};
use ndx_types::validate::{CompiledSchema, FieldError};
use serde::Serialize;

use crate::Core;
use crate::access::{DatasetDefine, DictionaryAdmin};
use crate::error::{Code, Error, Result};

/// A dataset as the catalogue shows it (see [`Core::dataset_summary`]).
#[derive(Debug, Clone)]
pub struct DatasetSummary {
    /// The latest schema.
    pub schema: DatasetSchema,
    /// Every schema version, ascending.
    pub versions: Vec<SchemaVersion>,
    /// Current (non-deleted) records.
    pub records: u64,
}

/// A dictionary view over the store, loading code lists on demand.
pub struct StoreDictionary<'a> {
    store: &'a Store,
    elements: HashMap<String, DataElement>,
    lists: RefCell<HashMap<String, Option<CodeList>>>,
    versions: RefCell<HashMap<CodeListRef, Option<CodeList>>>,
    walks: RefCell<HashMap<(CodeListRef, CodeListRef), Option<Crosswalk>>>,
    failure: RefCell<Option<StoreError>>,
}

impl<'a> StoreDictionary<'a> {
    /// Loads the elements of the store.
    pub fn load(store: &'a Store) -> Result<Self> {
        let elements = store
            .catalog()
            .values::<DataElement>()?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        Ok(StoreDictionary {
            store,
            elements,
            lists: RefCell::default(),
            versions: RefCell::default(),
            walks: RefCell::default(),
            failure: RefCell::default(),
        })
    }

    /// Surfaces a storage failure that happened during lookups.
    pub fn finish(self) -> Result<()> {
        match self.failure.into_inner() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

impl DictionaryLookup for StoreDictionary<'_> {
    fn element(&self, id: &str) -> Option<DataElement> {
        self.elements.get(id).cloned()
    }
    fn code_list(&self, id: &str) -> Option<CodeList> {
        if let Some(l) = self.lists.borrow().get(id) {
            return l.clone();
        }
        let loaded = match self.store.catalog().code_list(id, None) {
            Ok(l) => l,
            Err(e) => {
                self.failure.borrow_mut().get_or_insert(e);
                None
            }
        };
        self.lists
            .borrow_mut()
            .insert(id.to_owned(), loaded.clone());
        loaded
    }
    fn code_list_version(&self, list: &CodeListRef) -> Option<CodeList> {
        if let Some(l) = self.versions.borrow().get(list) {
            return l.clone();
        }
        let loaded = self
            .remember(self.store.catalog().code_list(&list.id, Some(list.version)))
            .flatten();
        self.versions
            .borrow_mut()
            .insert(list.clone(), loaded.clone());
        loaded
    }
    fn crosswalk(&self, from: &CodeListRef, to: &CodeListRef) -> Option<Crosswalk> {
        let id = (from.clone(), to.clone());
        if let Some(w) = self.walks.borrow().get(&id) {
            return w.clone();
        }
        let loaded = self
            .remember(self.store.catalog().crosswalk(from, to))
            .flatten()
            .map(|w| w.value);
        self.walks.borrow_mut().insert(id, loaded.clone());
        loaded
    }
}

impl StoreDictionary<'_> {
    /// The value, or `None` with the failure kept for [`StoreDictionary::finish`].
    fn remember<T>(&self, r: std::result::Result<T, StoreError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.failure.borrow_mut().get_or_insert(e);
                None
            }
        }
    }
}

/// The whole dictionary as one document.
#[derive(Debug, Serialize)]
pub struct DictionaryExport {
    /// Every data element.
    pub elements: Vec<DataElement>,
    /// Every code list (latest version).
    pub code_lists: Vec<CodeList>,
    /// Every dataset schema (latest version).
    pub datasets: Vec<DatasetSchema>,
}

/// Which export of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaExport {
    /// The ndx schema itself.
    Native,
    /// JSON Schema 2020-12.
    JsonSchema,
    /// Frictionless Table Schema.
    TableSchema,
}

/// The outcome of registering a schema.
#[derive(Debug, Serialize)]
pub struct SchemaChange {
    /// The schema now current.
    pub schema: DatasetSchema,
    /// Whether a new version was stored (false when nothing changed).
    pub created: bool,
    /// What changed.
    pub changes: Vec<String>,
}

/// Pins every coded field that names no code list: to the list the previous schema version
/// pinned for it, else to its element's list at the latest version.
fn pin_code_lists(
    schema: &mut DatasetSchema,
    previous: Option<&DatasetSchema>,
    dict: &dyn DictionaryLookup,
) {
    for f in schema.fields.iter_mut().filter(|f| f.code_list.is_none()) {
        let inherited = previous
            .and_then(|p| p.field(&f.name))
            .filter(|p| p.element == f.element)
            .and_then(|p| p.code_list.clone());
        f.code_list = inherited.or_else(|| {
            let element = dict.element(&f.element)?;
            dict::field_code_list(f, &element, dict)
        });
    }
}

/// A catalogue insert that another process may have made first.
fn insert_once<T>(r: std::result::Result<T, StoreError>) -> Result<()> {
    match r {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn breaking_errors(reasons: &[String]) -> Vec<FieldError> {
    reasons
        .iter()
        .map(|r| FieldError {
            field: String::new(),
            code: Code::BreakingChange.name().into(),
            message: r.clone(),
        })
        .collect()
}

impl Core {
    /// Inserts the national elements and code lists that are missing, and brings stored
    /// national elements up to this binary's definition (a new revision, the old one kept in
    /// the history): they are the national standard, which no API edits. Idempotent.
    pub fn ensure_builtins(&self, now: DateTime<Utc>) -> Result<()> {
        let mut changed = false;
        for e in dict::builtin_elements() {
            match self.store.catalog().get::<DataElement>(&e.id)? {
                None => {
                    self.store.catalog().insert(&e, now)?;
                }
                Some(stored) if stored.value != e => {
                    match self.store.catalog().update(&e, stored.revision, now) {
                        // Another process serving the same store brought it up first.
                        Ok(_) | Err(ndx_store::StoreError::Conflict(_)) => changed = true,
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(_) => {}
            }
        }
        if changed {
            self.forget_compiled();
        }
        // Each built-in list version that is missing, in ascending versions (the national
        // lists are not edited through the API; a list of the same id registered locally keeps
        // its versions and the built-in one is not forced onto it).
        for l in dict::builtin_code_lists() {
            let stored = self.store.catalog().code_list(&l.id, Some(l.version))?;
            let latest = self.store.catalog().code_list(&l.id, None)?;
            if stored.is_none() && latest.is_none_or(|p| p.version + 1 == l.version) {
                insert_once(self.store.catalog().insert(&l, now))?;
                changed = true;
            }
        }
        for w in ndx_types::codes::builtin_crosswalks() {
            match self.store.catalog().crosswalk(&w.from, &w.to)? {
                None => insert_once(self.store.catalog().insert(&w, now))?,
                Some(stored) if stored.value != w => {
                    match self.store.catalog().update(&w, stored.revision, now) {
                        Ok(_) | Err(ndx_store::StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(_) => continue,
            }
            changed = true;
        }
        if changed {
            self.forget_compiled();
        }
        Ok(())
    }

    /// Registers a crosswalk between two code list versions, or replaces the one registered in
    /// that direction. Both versions must exist and every code must be in its list.
    pub fn put_crosswalk(
        &self,
        _cap: &DictionaryAdmin,
        w: Crosswalk,
        now: DateTime<Utc>,
    ) -> Result<(Crosswalk, bool)> {
        w.check()?;
        for (side, list) in [("from", &w.from), ("to", &w.to)] {
            let Some(stored) = self
                .store
                .catalog()
                .code_list(&list.id, Some(list.version))?
            else {
                return Err(Error::of(
                    Code::CodeListNotFound,
                    format!("the crosswalk's {side} list {list} does not exist"),
                ));
            };
            let codes: std::collections::HashSet<&str> =
                stored.entries.iter().map(|e| e.code.as_str()).collect();
            let unknown: Vec<&str> = w
                .pairs
                .iter()
                .map(|p| if side == "from" { &p.from } else { &p.to })
                .filter(|c| !codes.contains(c.as_str()))
                .map(String::as_str)
                .take(5)
                .collect();
            if !unknown.is_empty() {
                return Err(Error::of(
                    Code::CrosswalkInvalid,
                    format!("codes {unknown:?} are not in {list}"),
                ));
            }
        }
        if self.store.catalog().crosswalk(&w.to, &w.from)?.is_some() {
            return Err(Error::of(
                Code::CrosswalkInvalid,
                format!(
                    "a crosswalk from {} to {} exists; a crosswalk serves both directions",
                    w.to, w.from
                ),
            ));
        }
        let changed = match self.store.catalog().crosswalk(&w.from, &w.to)? {
            None => {
                self.store.catalog().insert(&w, now)?;
                true
            }
            Some(stored) if stored.value != w => {
                self.store.catalog().update(&w, stored.revision, now)?;
                true
            }
            Some(_) => false,
        };
        if changed {
            self.forget_compiled();
        }
        Ok((w, changed))
    }

    /// Every crosswalk.
    pub fn crosswalks(&self) -> Result<Vec<Crosswalk>> {
        Ok(self.store.catalog().values::<Crosswalk>()?)
    }

    /// The crosswalk between two list versions, registered in either direction, as it is
    /// registered.
    pub fn crosswalk(&self, from: &CodeListRef, to: &CodeListRef) -> Result<Crosswalk> {
        if let Some(w) = self.store.catalog().crosswalk(from, to)? {
            return Ok(w.value);
        }
        if let Some(w) = self.store.catalog().crosswalk(to, from)? {
            return Ok(w.value);
        }
        Err(Error::of(
            Code::CrosswalkNotFound,
            format!("there is no crosswalk between {from} and {to}"),
        ))
    }

    /// A converter from one list version to another (cached until the dictionary changes).
    pub(crate) fn converter(
        &self,
        from: &CodeListRef,
        to: &CodeListRef,
    ) -> Result<Option<Arc<Converter>>> {
        let id = (from.clone(), to.clone());
        if let Some(c) = self.converters.lock().expect("cache poisoned").get(&id) {
            return Ok(c.clone());
        }
        let lookup = StoreDictionary::load(&self.store)?;
        let found = dict::converter(&lookup, from, to).map(Arc::new);
        lookup.finish()?;
        self.converters
            .lock()
            .expect("cache poisoned")
            .insert(id, found.clone());
        Ok(found)
    }

    /// The recoder between a dataset's lists and the lists a caller names (`Ndx-Code-Lists`).
    pub(crate) fn recoder(
        &self,
        schema: &DatasetSchema,
        wanted: &[CodeListRef],
        direction: ndx_types::codes::Direction,
    ) -> Result<Option<ndx_types::codes::Recoder>> {
        if wanted.is_empty() {
            return Ok(None);
        }
        let compiled = self.compiled(schema)?;
        let failure = RefCell::new(None);
        let find = |a: &CodeListRef, b: &CodeListRef| match self.converter(a, b) {
            Ok(c) => c,
            Err(e) => {
                failure.borrow_mut().get_or_insert(e);
                None
            }
        };
        let made =
            ndx_types::codes::Recoder::new(&compiled.coded_fields(), wanted, direction, &find);
        if let Some(e) = failure.into_inner() {
            return Err(e);
        }
        made.map(|r| (!r.is_empty()).then_some(r))
            .map_err(|why| Error::of(Code::CodeListNotApplicable, why))
    }

    /// Registers a data element.
    pub fn create_element(
        &self,
        _cap: &DictionaryAdmin,
        e: DataElement,
        now: DateTime<Utc>,
    ) -> Result<DataElement> {
        e.check()?;
        if let Some(l) = &e.code_list
            && self.store.catalog().code_list(l, None)?.is_none()
        {
            return Err(Error::of(
                Code::CodeListUnknown,
                format!("element {:?} names unknown code list {l:?}", e.id),
            ));
        }
        self.store.catalog().insert(&e, now)?;
        Ok(e)
    }

    /// All data elements.
    pub fn elements(&self) -> Result<Vec<DataElement>> {
        Ok(self.store.catalog().values::<DataElement>()?)
    }

    /// One data element.
    pub fn element(&self, id: &str) -> Result<DataElement> {
        self.store
            .catalog()
            .values::<DataElement>()?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| {
                Error::of(
                    Code::ElementNotFound,
                    format!("data element {id:?} does not exist"),
                )
            })
    }

    /// Registers a code list, or a new version of it when the entries differ from the latest.
    /// The version number is assigned here.
    pub fn put_code_list(
        &self,
        _cap: &DictionaryAdmin,
        mut l: CodeList,
        now: DateTime<Utc>,
    ) -> Result<(CodeList, bool)> {
        l.check()?;
        let latest = self.store.catalog().code_list(&l.id, None)?;
        if let Some(prev) = &latest {
            l.version = prev.version;
            if *prev == l {
                return Ok((l, false));
            }
        }
        l.version = latest.map_or(1, |p| p.version + 1);
        self.store.catalog().insert(&l, now)?;
        self.forget_compiled();
        Ok((l, true))
    }

    /// A code list at a version or the latest.
    pub fn code_list(&self, id: &str, version: Option<u32>) -> Result<CodeList> {
        self.store.catalog().code_list(id, version)?.ok_or_else(|| {
            Error::of(
                Code::CodeListNotFound,
                match version {
                    Some(v) => format!("code list {id:?} has no version {v}"),
                    None => format!("code list {id:?} does not exist"),
                },
            )
        })
    }

    /// Every code list id with its latest version.
    pub fn code_lists(&self) -> Result<Vec<(String, u32)>> {
        Ok(self.store.catalog().code_list_ids()?)
    }

    /// Registers a new dataset with its first schema; refuses a dataset that exists (a new
    /// version of its schema goes through [`Core::put_schema`]).
    pub fn create_dataset(
        &self,
        cap: &DatasetDefine,
        schema: DatasetSchema,
        now: DateTime<Utc>,
    ) -> Result<SchemaChange> {
        if self.has_dataset(&schema.dataset)? {
            return Err(Error::of(
                Code::DatasetExists,
                format!(
                    "dataset {:?} already exists; PUT its schema to make a new version",
                    schema.dataset
                ),
            ));
        }
        self.put_schema(cap, schema, false, now)
    }

    /// Whether a dataset is registered.
    pub fn has_dataset(&self, dataset: &str) -> Result<bool> {
        Ok(self.store.catalog().schema(dataset, None)?.is_some())
    }

    /// A dataset as the catalogue shows it: its latest schema, every schema version and the
    /// number of current (non-deleted) records. No record data, so no audit event.
    pub fn dataset_summary(&self, dataset: &str) -> Result<DatasetSummary> {
        let schema = self.schema(dataset, None)?;
        let versions = self.store.catalog().schema_versions(dataset)?;
        let records = self.store.records().count(dataset)?;
        Ok(DatasetSummary {
            schema,
            versions,
            records,
        })
    }

    /// Registers a new dataset (version 1.0) or a new version of its schema. Compatible changes
    /// become a minor version; breaking changes are refused unless `new_major` is set.
    pub fn put_schema(
        &self,
        cap: &DatasetDefine,
        mut schema: DatasetSchema,
        new_major: bool,
        now: DateTime<Utc>,
    ) -> Result<SchemaChange> {
        if schema.owner != cap.owner {
            return Err(Error::of(
                Code::NotOwner,
                format!("this capability is for datasets of {:?}", cap.owner),
            ));
        }
        if self
            .store
            .catalog()
            .value::<ndx_types::registry::Member>(&schema.owner)?
            .is_none()
        {
            return Err(Error::of(
                Code::OwnerUnknown,
                format!("owner {:?} is not a member", schema.owner),
            ));
        }
        let latest = self.store.catalog().schema(&schema.dataset, None)?;
        let lookup = StoreDictionary::load(&self.store)?;
        let checked = schema.check(&lookup);
        if checked.is_ok() {
            pin_code_lists(&mut schema, latest.as_ref(), &lookup);
        }
        lookup.finish()?;
        checked?;
        for (i, rule) in schema.rules.iter().enumerate() {
            if let dict::CrossRule::ReferenceExists { dataset, .. } = rule
                && *dataset != schema.dataset
                && self.store.catalog().schema(dataset, None)?.is_none()
            {
                return Err(dict::DefinitionError {
                    code: "rule-invalid",
                    path: format!("rules[{i}]"),
                    message: format!(
                        "rule {i} refers to dataset {dataset:?}, which does not exist"
                    ),
                }
                .into());
            }
        }
        let (version, changes) = match &latest {
            None => (
                SchemaVersion { major: 1, minor: 0 },
                vec!["dataset registered".into()],
            ),
            Some(prev) => {
                if prev.owner != schema.owner {
                    return Err(Error::of(
                        Code::NotOwner,
                        format!("dataset {:?} is owned by {:?}", prev.dataset, prev.owner),
                    ));
                }
                match dict::evolution(prev, &schema) {
                    Evolution::Unchanged if !new_major => {
                        return Ok(SchemaChange {
                            schema: prev.clone(),
                            created: false,
                            changes: vec![],
                        });
                    }
                    Evolution::Unchanged => (
                        SchemaVersion {
                            major: prev.version.major + 1,
                            minor: 0,
                        },
                        vec!["new major version requested".into()],
                    ),
                    Evolution::Minor(c) if !new_major => (
                        SchemaVersion {
                            major: prev.version.major,
                            minor: prev.version.minor + 1,
                        },
                        c,
                    ),
                    Evolution::Minor(c) | Evolution::Major(c) if new_major => (
                        SchemaVersion {
                            major: prev.version.major + 1,
                            minor: 0,
                        },
                        c,
                    ),
                    Evolution::Major(reasons) => {
                        return Err(Error::of(
                            Code::SchemaBreakingChange,
                            format!(
                                "the new schema of {:?} could break consumers ({}); \
                                 register it as a new major version",
                                schema.dataset,
                                reasons.join("; ")
                            ),
                        )
                        .with_errors(breaking_errors(&reasons)));
                    }
                    Evolution::Minor(_) => unreachable!("guarded above"),
                }
            }
        };
        schema.version = version;
        self.store.catalog().insert(&schema, now)?;
        Ok(SchemaChange {
            schema,
            created: true,
            changes,
        })
    }

    /// A dataset's schema at a version or the latest. The latest comes from the catalogue
    /// cache while the catalogue's generation has not moved (every read and exchange request
    /// needs it).
    pub fn schema(&self, dataset: &str, version: Option<SchemaVersion>) -> Result<DatasetSchema> {
        match version {
            None => self
                .latest_schema_at(self.generation()?, dataset)
                .map(|s| (*s).clone()),
            Some(_) => self.schema_from_store(dataset, version),
        }
    }

    /// The latest schema of a dataset as of catalogue generation `generation` (or later).
    pub(crate) fn latest_schema_at(
        &self,
        generation: u64,
        dataset: &str,
    ) -> Result<std::sync::Arc<DatasetSchema>> {
        self.catalog_cache
            .get(
                generation,
                |s| &mut s.schemas,
                dataset,
                || Ok(self.store.catalog().schema(dataset, None)?),
            )?
            .ok_or_else(|| {
                Error::of(
                    Code::DatasetNotFound,
                    format!("dataset {dataset:?} does not exist"),
                )
            })
    }

    fn schema_from_store(
        &self,
        dataset: &str,
        version: Option<SchemaVersion>,
    ) -> Result<DatasetSchema> {
        self.store
            .catalog()
            .schema(dataset, version)?
            .ok_or_else(|| match version {
                Some(v) => Error::of(
                    Code::SchemaVersionNotFound,
                    format!("dataset {dataset:?} has no schema version {v}"),
                ),
                None => Error::of(
                    Code::DatasetNotFound,
                    format!("dataset {dataset:?} does not exist"),
                ),
            })
    }

    /// Every version of a dataset's schema.
    pub fn schema_versions(&self, dataset: &str) -> Result<Vec<SchemaVersion>> {
        self.schema(dataset, None)?;
        Ok(self.store.catalog().schema_versions(dataset)?)
    }

    /// The latest schema of every dataset.
    pub fn datasets(&self) -> Result<Vec<DatasetSchema>> {
        Ok(self.store.catalog().datasets()?)
    }

    /// Exports a schema in one of the supported forms.
    pub fn export_schema(
        &self,
        dataset: &str,
        version: Option<SchemaVersion>,
        form: SchemaExport,
    ) -> Result<serde_json::Value> {
        let schema = self.schema(dataset, version)?;
        let lookup = StoreDictionary::load(&self.store)?;
        let out = match form {
            SchemaExport::Native => {
                serde_json::to_value(&schema).map_err(|e| Error::internal(e.to_string()))?
            }
            SchemaExport::JsonSchema => dict::to_json_schema(&schema, &lookup),
            SchemaExport::TableSchema => dict::to_table_schema(&schema, &lookup),
        };
        lookup.finish()?;
        Ok(out)
    }

    /// The whole dictionary.
    pub fn export_dictionary(&self) -> Result<DictionaryExport> {
        let mut code_lists = Vec::new();
        for (id, _) in self.store.catalog().code_list_ids()? {
            code_lists.extend(self.store.catalog().code_list(&id, None)?);
        }
        Ok(DictionaryExport {
            elements: self.store.catalog().values::<DataElement>()?,
            code_lists,
            datasets: self.store.catalog().datasets()?,
        })
    }

    /// The compiled validator of a schema version, cached until the dictionary changes.
    pub(crate) fn compiled(&self, schema: &DatasetSchema) -> Result<Arc<CompiledSchema>> {
        let id = (schema.dataset.clone(), schema.version);
        if let Some(c) = self.compiled.lock().expect("cache poisoned").get(&id) {
            return Ok(c.clone());
        }
        let lookup = StoreDictionary::load(&self.store)?;
        let compiled = CompiledSchema::compile(schema, &lookup);
        lookup.finish()?;
        let compiled = Arc::new(compiled?);
        self.compiled
            .lock()
            .expect("cache poisoned")
            .insert(id, compiled.clone());
        Ok(compiled)
    }

    fn forget_compiled(&self) {
        self.compiled.lock().expect("cache poisoned").clear();
        self.converters.lock().expect("cache poisoned").clear();
        self.catalog_cache.forget();
    }
}
