//! The catalogue: every governed object ndx stores — members, systems, API keys, data
//! elements, code lists, dataset schemas, and every kind to come — written once for every
//! engine.
//!
//! A kind of object is a Rust type that implements [`Kind`]: a stable kind name, an id, and
//! the [`Attribute`]s to index. That impl is the whole registration. [`Catalog`] stores any
//! kind in three tables with the same SQL on every engine (`sql.rs`):
//! - `catalog` (kind, id → revision, JSON body, created and updated times): the current
//!   revision of each object;
//! - `catalog_history` (kind, id, revision → body, time): every revision ever written, a
//!   deletion as a NULL body;
//! - `catalog_attrs` (kind, attribute name, value, id): the indexed attributes; unique ones
//!   under a partial unique index, references (`target` = the kind referred to) checked when
//!   the object is written and when the object referred to is deleted.
//!
//! Writes are optimistic: [`Catalog::update`] and [`Catalog::delete`] take the revision the
//! caller read and refuse a stale one with [`StoreError::Conflict`], so two writers never lose
//! each other's change. On PostgreSQL a write locks the objects it refers to (`FOR KEY SHARE`)
//! and a deletion locks its object before it looks for referrers, so a reference can never be
//! left dangling by two concurrent transactions; SQLite has one writer.

pub mod account;
pub mod connector;
pub mod exchange;
pub mod import;
mod kinds;
pub mod open;
pub mod quality;
pub mod reconcile;
pub mod report;
pub(crate) mod sql;
pub mod subscription;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

pub use kinds::{ApiKeyRecord, KeyHolder};
use sql::{CatalogEngine, Cell, Param, SqlConn};

use crate::{Result, StoreError};

/// A kind of object the catalogue stores. Implementing it is the registration of the kind.
pub trait Kind: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The kind's name in storage: stable forever once released, unique among kinds.
    const KIND: &'static str;
    /// What a person calls one object of the kind, for messages ("member", "data element").
    const NOUN: &'static str;
    /// The object's id, unique within its kind. Objects list in byte order of their ids.
    fn id(&self) -> String;
    /// The version of the stored shape of this kind: the JSON body the catalogue keeps. Raise
    /// it when the shape changes in a way serde defaults cannot read, and teach
    /// [`Kind::upgrade`] the earlier ones: every stored body stays readable.
    const FORMAT: u32 = 1;
    /// Turns a body stored in an earlier `format` into the current shape. By default no
    /// earlier format exists, and reading one is refused.
    fn upgrade(format: u32, body: serde_json::Value) -> Result<serde_json::Value> {
        let _ = body;
        Err(StoreError::Incompatible(format!(
            "a stored {} has format {format}, which this binary cannot read (it writes format {})",
            Self::NOUN,
            Self::FORMAT
        )))
    }
    /// Whether a write of this kind raises the catalogue's [`Catalog::generation`], which
    /// in-memory caches of catalogue objects check. Kinds written often and never cached
    /// (a citizen's consents, quota counters) opt out, so that their writers do not contend
    /// for the generation's row.
    const WATCHED: bool = true;
    /// The attributes the catalogue indexes for lookups by [`Catalog::find`].
    fn attributes(&self) -> Vec<Attribute> {
        Vec::new()
    }
    /// How a message names the object.
    fn describe(&self) -> String {
        format!("{} {:?}", Self::NOUN, self.id())
    }
}

/// An indexed attribute of an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Attribute {
    /// The attribute's name (stable once released).
    pub name: &'static str,
    /// Its value.
    pub value: String,
    /// At most one object of the kind may have this value for this attribute.
    pub unique: bool,
    /// The value is the id of an object of this kind, which must exist while it is referred to.
    pub target: Option<Target>,
}

/// The kind an attribute refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// The kind's storage name.
    pub kind: &'static str,
    /// What a person calls an object of it.
    pub noun: &'static str,
}

impl Attribute {
    /// An attribute to look objects up by.
    pub fn plain(name: &'static str, value: impl Into<String>) -> Self {
        Attribute {
            name,
            value: value.into(),
            unique: false,
            target: None,
        }
    }
    /// An attribute no two objects of the kind may share.
    pub fn unique(name: &'static str, value: impl Into<String>) -> Self {
        Attribute {
            unique: true,
            ..Self::plain(name, value)
        }
    }
    /// A reference to the object of kind `T` with this id.
    pub fn reference<T: Kind>(name: &'static str, id: impl Into<String>) -> Self {
        Attribute {
            target: Some(Target {
                kind: T::KIND,
                noun: T::NOUN,
            }),
            ..Self::plain(name, id)
        }
    }
}

/// An object with its revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The object.
    pub value: T,
    /// Its revision: 1 when created, one more at each update.
    pub revision: u64,
    /// When the object was created.
    pub created_at: DateTime<Utc>,
    /// When the current revision was written.
    pub updated_at: DateTime<Utc>,
}

/// One revision of an object in its history.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision<T> {
    /// The revision number.
    pub revision: u64,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// The object as written; `None` for a deletion.
    pub value: Option<T>,
}

/// Which objects of a listing: ids after a cursor, in ascending or descending id order, at
/// most `limit`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Page<'a> {
    /// Only ids after this one (before it, when descending).
    pub after: Option<&'a str>,
    /// At most this many objects.
    pub limit: Option<usize>,
    /// Largest id first.
    pub descending: bool,
}

impl Page<'_> {
    /// Every object, in id order.
    pub const ALL: Page<'static> = Page {
        after: None,
        limit: None,
        descending: false,
    };
    /// The object with the largest id.
    pub const LAST: Page<'static> = Page {
        after: None,
        limit: Some(1),
        descending: true,
    };
}

/// The catalogue of a store: typed, versioned objects of every registered kind.
#[derive(Clone)]
pub struct Catalog {
    engine: Arc<dyn CatalogEngine>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").finish_non_exhaustive()
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn time(cell: &Cell) -> Result<DateTime<Utc>> {
    let m = cell.int()?;
    Utc.timestamp_micros(m)
        .single()
        .ok_or_else(|| StoreError::Backend(format!("stored catalogue time {m} is out of range")))
}

fn revision(cell: &Cell) -> Result<u64> {
    let r = cell.int()?;
    u64::try_from(r).map_err(|_| StoreError::Backend(format!("stored revision {r} is negative")))
}

fn stored_revision(r: u64) -> Result<i64> {
    i64::try_from(r).map_err(|_| StoreError::Conflict(format!("revision {r} is out of range")))
}

fn limit(page: &Page<'_>) -> i64 {
    page.limit
        .map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX))
}

/// Decodes a row of [`sql::OBJECT_COLUMNS`].
fn object<T: Kind>(row: Vec<Cell>) -> Result<Versioned<T>> {
    let [id, rev, body, created, updated, format]: [Cell; 6] = row
        .try_into()
        .map_err(|_| StoreError::Backend("catalogue row has the wrong shape".into()))?;
    let id = id.text()?;
    Ok(Versioned {
        value: decode::<T>(&id, &body.text()?, &format)?,
        revision: revision(&rev)?,
        created_at: time(&created)?,
        updated_at: time(&updated)?,
    })
}

/// Reads a stored body of the given format into the current shape of `T`.
pub(crate) fn decode<T: Kind>(id: &str, body: &str, format: &Cell) -> Result<T> {
    let format = format.int()?;
    let unreadable = |e: serde_json::Error| {
        StoreError::Backend(format!("stored {} {id:?} is unreadable: {e}", T::NOUN))
    };
    match u32::try_from(format) {
        Ok(f) if f == T::FORMAT => serde_json::from_str(body).map_err(unreadable),
        Ok(f) if f < T::FORMAT => {
            let old: serde_json::Value = serde_json::from_str(body).map_err(unreadable)?;
            serde_json::from_value(T::upgrade(f, old)?).map_err(unreadable)
        }
        _ => Err(StoreError::Incompatible(format!(
            "stored {} {id:?} has format {format}, newer than this binary knows ({}): upgrade ndx",
            T::NOUN,
            T::FORMAT
        ))),
    }
}

/// Runs `f` through `run` (a read or a write of the engine) and hands its result back.
fn within<T>(
    run: impl FnOnce(&mut dyn FnMut(&mut dyn SqlConn) -> Result<()>) -> Result<()>,
    f: impl FnOnce(&mut dyn SqlConn) -> Result<T>,
) -> Result<T> {
    let mut f = Some(f);
    let mut out = None;
    run(&mut |conn| {
        let f = f
            .take()
            .ok_or_else(|| StoreError::Backend("a catalogue transaction ran twice".into()))?;
        out = Some(f(&mut NoNul(conn))?);
        Ok(())
    })?;
    out.ok_or_else(|| StoreError::Backend("a catalogue transaction did not run".into()))
}

/// The catalogue's connection as its code sees it: refuses a text parameter holding NUL before
/// the engine sees it (PostgreSQL cannot take one; SQLite would), so both answer alike.
struct NoNul<'a>(&'a mut dyn SqlConn);

impl NoNul<'_> {
    fn check(params: &[Param<'_>]) -> Result<()> {
        for p in params {
            if let Param::Text(t) = p {
                crate::keys::text("an identifier or value", t)?;
            }
        }
        Ok(())
    }
}

impl SqlConn for NoNul<'_> {
    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Vec<Cell>>> {
        Self::check(params)?;
        self.0.query(sql, params)
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        Self::check(params)?;
        self.0.execute(sql, params)
    }
}

/// One catalogue transaction ([`Catalog::transaction`]): its writes commit together or not at
/// all, and the objects it reads with [`Tx::get`] and [`Tx::find`] stay as read until it ends
/// (PostgreSQL locks them, `FOR UPDATE`; SQLite has one writer at a time), so a rule that spans
/// several objects ("not the last active operator key") holds across processes.
pub struct Tx<'a> {
    conn: &'a mut dyn SqlConn,
    dialect: sql::Dialect,
}

impl Tx<'_> {
    /// Adds an object as revision 1 at `at`. `Conflict` if one with its id exists or a unique
    /// attribute's value is taken; `NotFound` if an object it refers to does not exist.
    pub fn insert<T: Kind>(&mut self, value: &T, at: DateTime<Utc>) -> Result<Versioned<T>> {
        let id = value.id();
        let body = serde_json::to_string(value)?;
        let attrs = attributes(value);
        let lock = self.dialect.lock_shared;
        let c = &mut *self.conn;
        check_references(c, &attrs, lock)?;
        let last = c.query(
            sql::LAST_REVISION,
            &[Param::Text(T::KIND), Param::Text(&id)],
        )?;
        let revision = first_int(last)?.unwrap_or(0) + 1;
        let inserted = c.execute(
            sql::INSERT,
            &[
                Param::Text(T::KIND),
                Param::Text(&id),
                Param::Int(revision),
                Param::Text(&body),
                Param::Int(micros(at)),
                Param::Int(T::FORMAT.into()),
            ],
        )?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "{} already exists",
                value.describe()
            )));
        }
        write_history::<T>(c, &id, revision, Some(&body), at)?;
        write_attributes::<T>(c, &id, &attrs)?;
        Ok(Versioned {
            value: value.clone(),
            revision: revision as u64,
            created_at: at,
            updated_at: at,
        })
    }

    /// Replaces the object with the same id, which the caller read at `expected` revision.
    /// `NotFound` if it does not exist; `Conflict` if it has changed since (a stale update is
    /// refused, never lost) or a unique attribute's value is taken.
    pub fn update<T: Kind>(
        &mut self,
        value: &T,
        expected: u64,
        at: DateTime<Utc>,
    ) -> Result<Versioned<T>> {
        let id = value.id();
        let body = serde_json::to_string(value)?;
        let attrs = attributes(value);
        let expected_stored = stored_revision(expected)?;
        let lock = self.dialect.lock_shared;
        let c = &mut *self.conn;
        check_references(c, &attrs, lock)?;
        let changed = c.query(
            sql::UPDATE,
            &[
                Param::Text(T::KIND),
                Param::Text(&id),
                Param::Text(&body),
                Param::Int(micros(at)),
                Param::Int(expected_stored),
                Param::Int(T::FORMAT.into()),
            ],
        )?;
        let Some(created) = changed.into_iter().next() else {
            let now = c.query(sql::REVISION, &[Param::Text(T::KIND), Param::Text(&id)])?;
            return Err(match first_int(now)? {
                None => StoreError::NotFound(format!("{} does not exist", value.describe())),
                Some(current) => StoreError::Conflict(format!(
                    "{} is at revision {current}, not {expected}: read it again",
                    value.describe()
                )),
            });
        };
        let revision = expected_stored + 1;
        write_history::<T>(c, &id, revision, Some(&body), at)?;
        c.execute(sql::DELETE_ATTRS, &[Param::Text(T::KIND), Param::Text(&id)])?;
        write_attributes::<T>(c, &id, &attrs)?;
        Ok(Versioned {
            value: value.clone(),
            revision: revision as u64,
            created_at: time(created.first().unwrap_or(&Cell::Null))?,
            updated_at: at,
        })
    }

    /// Deletes the object of kind `T` with this id, which the caller read at `expected`
    /// revision; its history keeps every revision and the deletion. `NotFound` if it does not
    /// exist; `Conflict` if it has changed since or another object refers to it.
    pub fn delete<T: Kind>(&mut self, id: &str, expected: u64, at: DateTime<Utc>) -> Result<()> {
        let expected_stored = stored_revision(expected)?;
        let lock = self.dialect.lock_exclusive;
        let name = format!("{} {id:?}", T::NOUN);
        let c = &mut *self.conn;
        let current = c.query(
            &format!("{}{lock}", sql::REVISION),
            &[Param::Text(T::KIND), Param::Text(id)],
        )?;
        match first_int(current)? {
            None => return Err(StoreError::NotFound(format!("{name} does not exist"))),
            Some(r) if r != expected_stored => {
                return Err(StoreError::Conflict(format!(
                    "{name} is at revision {r}, not {expected}: read it again"
                )));
            }
            Some(_) => {}
        }
        let referrer = c.query(sql::REFERRER, &[Param::Text(T::KIND), Param::Text(id)])?;
        if let Some(row) = referrer.into_iter().next() {
            let mut cells = row.into_iter();
            let kind = cells.next().unwrap_or(Cell::Null).text()?;
            let other = cells.next().unwrap_or(Cell::Null).text()?;
            return Err(StoreError::Conflict(format!(
                "{name} cannot be deleted: {kind} {other:?} refers to it"
            )));
        }
        c.execute(sql::DELETE, &[Param::Text(T::KIND), Param::Text(id)])?;
        c.execute(sql::DELETE_ATTRS, &[Param::Text(T::KIND), Param::Text(id)])?;
        write_history::<T>(c, id, expected_stored + 1, None, at)
    }

    /// The object of kind `T` with this id, locked until the transaction ends.
    pub fn get<T: Kind>(&mut self, id: &str) -> Result<Option<Versioned<T>>> {
        let query = format!("{}{}", sql::GET, self.dialect.lock_exclusive);
        self.conn
            .query(&query, &[Param::Text(T::KIND), Param::Text(id)])?
            .into_iter()
            .next()
            .map(object)
            .transpose()
    }

    /// Objects of kind `T` whose attribute `name` has this value, in id order, locked until the
    /// transaction ends.
    pub fn find<T: Kind>(&mut self, name: &str, value: &str) -> Result<Vec<Versioned<T>>> {
        let query = format!("{}{}", find_sql(&Page::ALL), self.dialect.lock_rows);
        self.conn
            .query(
                &query,
                &[Param::Text(T::KIND), Param::Text(name), Param::Text(value)],
            )?
            .into_iter()
            .map(object)
            .collect()
    }
}

impl Catalog {
    pub(crate) fn new(engine: Arc<dyn CatalogEngine>) -> Self {
        Catalog { engine }
    }

    fn read<T>(&self, f: impl FnOnce(&mut dyn SqlConn) -> Result<T>) -> Result<T> {
        within(|g| self.engine.read(g), f)
    }

    fn write<T>(&self, f: impl FnOnce(&mut dyn SqlConn) -> Result<T>) -> Result<T> {
        within(|g| self.engine.write(g), f)
    }

    /// Runs `f` in one transaction: committed if it returns `Ok`, rolled back otherwise.
    pub fn transaction<R>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<R>) -> Result<R> {
        let dialect = self.engine.dialect();
        self.write(|conn| f(&mut Tx { conn, dialect }))
    }

    /// Adds an object as revision 1 at `at`, in a transaction of its own (see [`Tx::insert`]).
    pub fn insert<T: Kind>(&self, value: &T, at: DateTime<Utc>) -> Result<Versioned<T>> {
        self.transaction(|tx| tx.insert(value, at))
    }

    /// Replaces an object read at revision `expected`, in a transaction of its own (see
    /// [`Tx::update`]).
    pub fn update<T: Kind>(
        &self,
        value: &T,
        expected: u64,
        at: DateTime<Utc>,
    ) -> Result<Versioned<T>> {
        self.transaction(|tx| tx.update(value, expected, at))
    }

    /// Deletes an object read at revision `expected`, in a transaction of its own (see
    /// [`Tx::delete`]).
    pub fn delete<T: Kind>(&self, id: &str, expected: u64, at: DateTime<Utc>) -> Result<()> {
        self.transaction(|tx| tx.delete::<T>(id, expected, at))
    }

    /// The object of kind `T` with this id.
    pub fn get<T: Kind>(&self, id: &str) -> Result<Option<Versioned<T>>> {
        self.read(|c| {
            c.query(sql::GET, &[Param::Text(T::KIND), Param::Text(id)])?
                .into_iter()
                .next()
                .map(object)
                .transpose()
        })
    }

    /// The object of kind `T` with this id, without its revision.
    pub fn value<T: Kind>(&self, id: &str) -> Result<Option<T>> {
        Ok(self.get::<T>(id)?.map(|v| v.value))
    }

    /// Every object of kind `T` in id order, without their revisions.
    pub fn values<T: Kind>(&self) -> Result<Vec<T>> {
        Ok(self
            .list::<T>(Page::ALL)?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// Objects of kind `T` in id order, within `page`.
    pub fn list<T: Kind>(&self, page: Page<'_>) -> Result<Vec<Versioned<T>>> {
        let (cursor, order) = page_sql(&page, "c.id", 2);
        let query = format!(
            "SELECT {} FROM catalog c WHERE c.kind = $1{cursor} ORDER BY c.id{order} LIMIT {}",
            sql::OBJECT_COLUMNS,
            limit(&page)
        );
        let mut params = vec![Param::Text(T::KIND)];
        params.extend(page.after.map(Param::Text));
        self.read(|c| c.query(&query, &params)?.into_iter().map(object).collect())
    }

    /// Objects of kind `T` whose attribute `name` has this value, in id order, within `page`.
    pub fn find<T: Kind>(
        &self,
        name: &str,
        value: &str,
        page: Page<'_>,
    ) -> Result<Vec<Versioned<T>>> {
        let query = find_sql(&page);
        let mut params = vec![Param::Text(T::KIND), Param::Text(name), Param::Text(value)];
        params.extend(page.after.map(Param::Text));
        self.read(|c| c.query(&query, &params)?.into_iter().map(object).collect())
    }

    /// The generation of the watched kinds ([`Kind::WATCHED`]): it grows with every
    /// committed write of one of them, in this process or any other sharing the store. A
    /// cache filled after reading generation `g` is current as long as the generation is `g`.
    pub fn generation(&self) -> Result<u64> {
        self.read(|c| {
            let g = c
                .query(sql::GENERATION, &[])?
                .into_iter()
                .next()
                .and_then(|row| row.into_iter().next())
                .unwrap_or(Cell::Int(0))
                .int()?;
            Ok(g.max(0) as u64)
        })
    }

    /// Every object of kind `T` whose attribute `name` has this value, in id order, without
    /// their revisions.
    pub fn find_values<T: Kind>(&self, name: &str, value: &str) -> Result<Vec<T>> {
        Ok(self
            .find::<T>(name, value, Page::ALL)?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// The ids of every object of kind `T`, in order, without reading their bodies.
    pub fn ids<T: Kind>(&self) -> Result<Vec<String>> {
        self.read(|c| {
            c.query(sql::IDS, &[Param::Text(T::KIND)])?
                .into_iter()
                .map(|row| row.into_iter().next().unwrap_or(Cell::Null).text())
                .collect()
        })
    }

    /// Every revision of the object of kind `T` with this id, oldest first (empty if it never
    /// existed).
    pub fn history<T: Kind>(&self, id: &str) -> Result<Vec<Revision<T>>> {
        self.read(|c| {
            c.query(sql::HISTORY, &[Param::Text(T::KIND), Param::Text(id)])?
                .into_iter()
                .map(|row| {
                    let [rev, body, at, format]: [Cell; 4] = row.try_into().map_err(|_| {
                        StoreError::Backend("catalogue history row has the wrong shape".into())
                    })?;
                    Ok(Revision {
                        revision: revision(&rev)?,
                        at: time(&at)?,
                        value: body
                            .opt_text()?
                            .map(|b| decode::<T>(id, &b, &format))
                            .transpose()?,
                    })
                })
                .collect()
        })
    }
}

/// The query of objects by attribute: kind `$1`, name `$2`, value `$3`, then the cursor `$4`
/// if the page has one. The limit is written into the text: bound as a parameter it cost SQLite
/// several microseconds a call (measured with `--example key_lookup`).
fn find_sql(page: &Page<'_>) -> String {
    let (cursor, order) = page_sql(page, "a.id", 4);
    format!(
        "SELECT {} FROM catalog_attrs a JOIN catalog c ON c.kind = a.kind AND c.id = a.id
         WHERE a.kind = $1 AND a.name = $2 AND a.value = $3{cursor}
         ORDER BY a.id{order} LIMIT {}",
        sql::OBJECT_COLUMNS,
        limit(page)
    )
}

/// The cursor condition and order of a page over `column`; the cursor is parameter `$n`.
fn page_sql(page: &Page<'_>, column: &str, n: usize) -> (String, &'static str) {
    let cursor = match (page.after, page.descending) {
        (None, _) => String::new(),
        (Some(_), false) => format!(" AND {column} > ${n}"),
        (Some(_), true) => format!(" AND {column} < ${n}"),
    };
    (cursor, if page.descending { " DESC" } else { "" })
}

/// The attributes of an object, each stored once.
fn attributes<T: Kind>(value: &T) -> Vec<Attribute> {
    let mut attrs = value.attributes();
    attrs.sort();
    attrs.dedup_by(|a, b| a.name == b.name && a.value == b.value);
    attrs
}

fn first_int(rows: Vec<Vec<Cell>>) -> Result<Option<i64>> {
    rows.into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .map(|c| c.int())
        .transpose()
}

fn check_references(c: &mut dyn SqlConn, attrs: &[Attribute], lock: &str) -> Result<()> {
    for attr in attrs {
        let Some(target) = attr.target else { continue };
        let found = c.query(
            &format!("{}{lock}", sql::EXISTS),
            &[Param::Text(target.kind), Param::Text(&attr.value)],
        )?;
        if found.is_empty() {
            return Err(StoreError::NotFound(format!(
                "{} {:?} does not exist",
                target.noun, attr.value
            )));
        }
    }
    Ok(())
}

fn write_history<T: Kind>(
    c: &mut dyn SqlConn,
    id: &str,
    revision: i64,
    body: Option<&str>,
    at: DateTime<Utc>,
) -> Result<()> {
    c.execute(
        sql::INSERT_HISTORY,
        &[
            Param::Text(T::KIND),
            Param::Text(id),
            Param::Int(revision),
            body.map_or(Param::Null, Param::Text),
            Param::Int(micros(at)),
            Param::Int(T::FORMAT.into()),
        ],
    )
    .map_err(|e| match e {
        // Another writer deleted and re-created the object meanwhile.
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "{} {id:?} was changed by another writer: try again",
            T::NOUN
        )),
        e => e,
    })?;
    if T::WATCHED {
        c.execute(sql::RAISE_GENERATION, &[Param::Text(T::KIND)])?;
    }
    Ok(())
}

fn write_attributes<T: Kind>(c: &mut dyn SqlConn, id: &str, attrs: &[Attribute]) -> Result<()> {
    for attr in attrs {
        c.execute(
            sql::INSERT_ATTR,
            &[
                Param::Text(T::KIND),
                Param::Text(attr.name),
                Param::Text(&attr.value),
                Param::Text(id),
                Param::Int(i64::from(attr.unique)),
                attr.target.map_or(Param::Null, |t| Param::Text(t.kind)),
            ],
        )
        .map_err(|e| match e {
            // The value is not repeated: a unique attribute can be personal or secret-derived.
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "another {} already has this {}",
                T::NOUN,
                attr.name
            )),
            e => e,
        })?;
    }
    Ok(())
}
