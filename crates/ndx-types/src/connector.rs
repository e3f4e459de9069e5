//! Connectors: the definition of a synchronisation from a table or view of an agency's own
//! database into an ndx dataset, its state between runs, the record of each run, and the pure
//! checks of a definition against the dataset's schema. No I/O: the drivers that read the
//! source live in `ndx-connect`, the runs in `ndx-core::connector`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dictionary::{DatasetSchema, DefinitionError, is_identifier};

/// The database engine of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceEngine {
    /// PostgreSQL (9.5 or later).
    Postgres,
    /// MariaDB (10.2 or later) or MySQL (5.7 or later).
    Mysql,
    /// A folder the agency drops complete exports into (CSV with a header row, or NDJSON),
    /// for agencies whose systems can only export files.
    Folder,
}

/// Where a connector reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// The engine.
    pub engine: SourceEngine,
    /// The connection URL, without a password; for a folder, `file:///ABSOLUTE/PATH` (`postgres://user@host:5432/db?sslmode=verify-full`,
    /// `mysql://user@host:3306/db?sslmode=require`). TLS parameters as libpq's: `sslmode`,
    /// `sslrootcert`.
    pub url: String,
    /// The environment variable of the ndx process that holds the password, if one is needed:
    /// a password is never stored in the catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// The table or view, optionally schema-qualified (`welfare.recipients`); for a folder,
    /// the start of the names of the files to import (`recipients` takes
    /// `recipients-2026-12-06.csv`).
    pub table: String,
}

/// One source column and the dataset field it fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMap {
    /// The source column.
    pub column: String,
    /// The dataset field.
    pub field: String,
    /// Local values and the codes they stand for (`{"M": "1", "F": "2"}`); a value not
    /// listed passes unchanged and is validated like any other.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
}

/// When `ndx serve` runs a connector by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Seconds between the starts of two runs (at least 1).
    pub every_seconds: u64,
    /// Seconds between two snapshot comparisons (which also find deletions), when the connector
    /// has a change column; at least 60. Without a change column every run is a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_every_seconds: Option<u64>,
}

/// The shortest schedule interval.
pub const MIN_EVERY_SECONDS: u64 = 1;
/// The shortest snapshot interval.
pub const MIN_SNAPSHOT_SECONDS: u64 = 60;
/// The largest chunk of rows one batch of a run carries.
pub const MAX_BATCH_ROWS: u32 = 100_000;
/// The chunk size when none is given.
pub const DEFAULT_BATCH_ROWS: u32 = 10_000;

fn default_batch_rows() -> u32 {
    DEFAULT_BATCH_ROWS
}

/// A connector: a table of an agency's database kept in step with a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    /// Identifier, lowercase kebab-case.
    pub id: String,
    /// The dataset it writes.
    pub dataset: String,
    /// The member owning the dataset (set from the schema when the connector is added).
    #[serde(default)]
    pub owner: String,
    /// The owner's system recorded as the source of every batch (the agency's database).
    pub system: String,
    /// Where it reads.
    pub source: SourceSpec,
    /// Which column fills which field.
    pub mapping: Vec<ColumnMap>,
    /// A column that grows with every change of a row (an updated-at time or a monotonic id):
    /// runs read only rows past the last one seen. Without it every run compares a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_column: Option<String>,
    /// Rows per batch.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: u32,
    /// Runs of its own in `ndx serve`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

/// Where an incremental run resumes: the change column's value and the key columns' values
/// of the last row written, as the source gave them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The change column's value.
    pub change: Value,
    /// The key columns' values, in the schema's key order.
    pub key: Vec<Value>,
}

impl Cursor {
    /// The values compared with a row's (change column, key columns), in that order.
    pub fn values(&self) -> Vec<Value> {
        let mut v = Vec::with_capacity(1 + self.key.len());
        v.push(self.change.clone());
        v.extend(self.key.iter().cloned());
        v
    }
}

/// A chunk whose batch may or may not have committed when its run stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChunk {
    /// The batch's number (its id is `connector.<id>.<number>`).
    pub batch: u64,
    /// The cursor after the chunk.
    pub cursor: Cursor,
}

/// Who runs a connector now, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The process holding it (host, process id and a random part).
    pub holder: String,
    /// The run it is for.
    pub run: u64,
    /// When it runs out unless renewed.
    pub until: DateTime<Utc>,
}

/// A connector's state between and during runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConnectorState {
    /// The connector.
    pub connector: String,
    /// Where the next incremental run starts; `None` before the first.
    #[serde(default)]
    pub cursor: Option<Cursor>,
    /// Batches numbered so far.
    #[serde(default)]
    pub batches: u64,
    /// Runs numbered so far.
    #[serde(default)]
    pub runs: u64,
    /// A chunk written to a batch whose commit is not yet known.
    #[serde(default)]
    pub pending: Option<PendingChunk>,
    /// The running run's lease.
    #[serde(default)]
    pub lease: Option<Lease>,
    /// When the last run started.
    #[serde(default)]
    pub last_run_at: Option<DateTime<Utc>>,
    /// When the last snapshot comparison started.
    #[serde(default)]
    pub last_snapshot_at: Option<DateTime<Utc>>,
}

impl ConnectorState {
    /// The id of batch `n` of connector `id`.
    pub fn batch_id(connector: &str, n: u64) -> String {
        format!("connector.{connector}.{n}")
    }
}

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    /// Rows past the cursor of the change column.
    Incremental,
    /// Every row compared with the dataset: changed rows written, missing keys deleted.
    Snapshot,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Running now (or its process died: see its lease).
    Running,
    /// Done; every row read was written or rejected.
    Succeeded,
    /// Stopped by an error (the source unreachable, the store unavailable…); what its committed
    /// batches wrote stays, and the next run goes on from there.
    Failed,
    /// Its process stopped before it ended; found and closed by a later run.
    Interrupted,
}

/// A source row that did not pass validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRow {
    /// The row's key columns' values, joined by `|`.
    pub source_key: String,
    /// The source column at fault, when the error is about one field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The dataset field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Stable error code.
    pub code: String,
    /// Human message.
    pub message: String,
}

/// How many rejected rows a run lists (counts are always exact).
pub const MAX_LISTED_REJECTED: usize = 1000;

/// One run of a connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorRun {
    /// The connector.
    pub connector: String,
    /// 1 for the first run.
    pub number: u64,
    /// Incremental or snapshot.
    pub kind: RunKind,
    /// `manual` (CLI, HTTP) or `schedule`.
    pub trigger: String,
    /// Where it stands.
    pub status: RunStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Source rows read.
    #[serde(default)]
    pub read: u64,
    /// Records created.
    #[serde(default)]
    pub created: u64,
    /// Records updated.
    #[serde(default)]
    pub updated: u64,
    /// Rows identical to their record (read again, nothing written).
    #[serde(default)]
    pub unchanged: u64,
    /// Records deleted (keys the source no longer has).
    #[serde(default)]
    pub deleted: u64,
    /// Rows refused by validation.
    #[serde(default)]
    pub rejected: u64,
    /// The batches it committed.
    #[serde(default)]
    pub batches: Vec<String>,
    /// The cursor it started from (incremental).
    #[serde(default)]
    pub cursor_from: Option<Cursor>,
    /// The cursor it reached (incremental).
    #[serde(default)]
    pub cursor_to: Option<Cursor>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// The file a folder run imports (its name in the folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_file: Option<String>,
    /// The first [`MAX_LISTED_REJECTED`] rejected rows.
    #[serde(default)]
    pub rejected_rows: Vec<RejectedRow>,
    /// Whether more rows were rejected than are listed.
    #[serde(default)]
    pub rejected_truncated: bool,
}

impl ConnectorRun {
    /// The catalogue id of run `number` of `connector`: ids sort in run order.
    pub fn id_of(connector: &str, number: u64) -> String {
        format!("{connector}/{number:012}")
    }
}

fn err(code: &'static str, path: impl Into<String>, message: String) -> DefinitionError {
    DefinitionError {
        code,
        path: path.into(),
        message,
    }
}

/// Whether `s` names a column or table part: a letter or `_`, then letters, digits, `_` or `$`,
/// at most 63 bytes (PostgreSQL's limit; MariaDB allows 64). Names are always quoted when
/// sent, so this is the set ndx accepts, not what keeps SQL safe.
pub fn is_source_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        && s.len() <= 63
}

fn is_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_uppercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && s.len() <= 128
}

/// Whether a connection URL carries a password (`scheme://user:password@host`).
fn url_has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// The extensions of the files a folder source imports, and their formats.
pub const FOLDER_EXTENSIONS: [&str; 3] = ["csv", "ndjson", "jsonl"];

impl Connector {
    /// The folder of a folder source (`file:///srv/drop` → `/srv/drop`).
    pub fn folder(&self) -> Option<&str> {
        match self.source.engine {
            SourceEngine::Folder => self.source.url.strip_prefix("file://"),
            _ => None,
        }
    }

    /// The source columns of the key fields, in the schema's key order.
    pub fn key_columns(&self, schema: &DatasetSchema) -> Vec<String> {
        schema
            .key
            .iter()
            .filter_map(|k| self.mapping.iter().find(|m| &m.field == k))
            .map(|m| m.column.clone())
            .collect()
    }

    /// Every column read: the mapped ones, then the change column if it is not mapped.
    pub fn columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = self.mapping.iter().map(|m| m.column.clone()).collect();
        if let Some(c) = &self.change_column
            && !cols.contains(c)
        {
            cols.push(c.clone());
        }
        cols
    }

    /// Checks the definition on its own and against the dataset's schema; every problem is
    /// listed, with the path of the member at fault.
    pub fn check(&self, schema: &DatasetSchema) -> Result<(), Vec<DefinitionError>> {
        let mut errors = Vec::new();
        if !is_identifier(&self.id) {
            errors.push(err(
                "connector-id",
                "id",
                format!(
                    "connector id {:?} must be 1–64 characters of a-z, 0-9 and -, starting with a letter",
                    self.id
                ),
            ));
        }
        let url = &self.source.url;
        let schemes: &[&str] = match self.source.engine {
            SourceEngine::Postgres => &["postgres://", "postgresql://"],
            SourceEngine::Mysql => &["mysql://", "mariadb://"],
            SourceEngine::Folder => &["file:///"],
        };
        if !schemes.iter().any(|s| url.starts_with(s)) {
            errors.push(err(
                "source-url",
                "source.url",
                format!(
                    "a {} source URL starts with {}",
                    match self.source.engine {
                        SourceEngine::Postgres => "postgres",
                        SourceEngine::Mysql => "mysql",
                        SourceEngine::Folder => "folder",
                    },
                    schemes.join(" or ")
                ),
            ));
        }
        if self.source.engine == SourceEngine::Folder {
            let path = url.strip_prefix("file://").unwrap_or("");
            if path.split('/').any(|p| p == ".." || p == ".") || url.contains(['?', '#', '%']) {
                errors.push(err(
                    "source-url",
                    "source.url",
                    "a folder is an absolute path without . or .. parts, query or escapes".into(),
                ));
            }
            if self.source.password_env.is_some() {
                errors.push(err(
                    "source-password-env",
                    "source.password_env",
                    "a folder has no password".into(),
                ));
            }
            if self.change_column.is_some() {
                errors.push(err(
                    "change-column",
                    "change_column",
                    "a folder's files are complete exports, compared as snapshots: no change column"
                        .into(),
                ));
            }
        }
        if url_has_password(url) {
            errors.push(err(
                "source-url-password",
                "source.url",
                "the source URL holds a password; the catalogue never stores one: put it in an \
                 environment variable of the ndx process and name it in source.password_env"
                    .into(),
            ));
        }
        if url.chars().any(char::is_control) || url.len() > 2048 {
            errors.push(err(
                "source-url",
                "source.url",
                "the source URL holds a control character or is longer than 2,048 bytes".into(),
            ));
        }
        if let Some(env) = &self.source.password_env
            && !is_env_name(env)
        {
            errors.push(err(
                "source-password-env",
                "source.password_env",
                format!("{env:?} is not an environment variable name ([A-Z_][A-Z0-9_]*)"),
            ));
        }
        let parts: Vec<&str> = match self.source.engine {
            // A file name prefix: one part.
            SourceEngine::Folder => vec![self.source.table.as_str()],
            _ => self.source.table.split('.').collect(),
        };
        if parts.len() > 2 || !parts.iter().all(|p| is_source_identifier(p)) {
            errors.push(err(
                "source-table",
                "source.table",
                format!(
                    "table {:?} must be NAME or SCHEMA.NAME, each a letter or _ then letters, digits, _ or $",
                    self.source.table
                ),
            ));
        }
        if self.mapping.is_empty() {
            errors.push(err(
                "mapping-empty",
                "mapping",
                "the mapping names no column".into(),
            ));
        }
        let mut fields = BTreeSet::new();
        let mut columns = BTreeSet::new();
        for (i, m) in self.mapping.iter().enumerate() {
            let path = format!("mapping[{i}]");
            if !is_source_identifier(&m.column) {
                errors.push(err(
                    "mapping-column",
                    format!("{path}.column"),
                    format!(
                        "column {:?} must be a letter or _ then letters, digits, _ or $",
                        m.column
                    ),
                ));
            }
            if !columns.insert(m.column.as_str()) {
                errors.push(err(
                    "mapping-column-twice",
                    format!("{path}.column"),
                    format!("column {:?} is mapped twice", m.column),
                ));
            }
            if !schema.fields.iter().any(|f| f.name == m.field) {
                errors.push(err(
                    "mapping-field-unknown",
                    format!("{path}.field"),
                    format!("dataset {:?} has no field {:?}", schema.dataset, m.field),
                ));
            }
            if !fields.insert(m.field.as_str()) {
                errors.push(err(
                    "mapping-field-twice",
                    format!("{path}.field"),
                    format!("field {:?} is filled by two columns", m.field),
                ));
            }
            for (local, code) in &m.values {
                if local.chars().any(char::is_control) || code.chars().any(char::is_control) {
                    errors.push(err(
                        "mapping-value",
                        format!("{path}.values"),
                        format!("value map {local:?} → {code:?} holds a control character"),
                    ));
                }
            }
        }
        for k in &schema.key {
            if !fields.contains(k.as_str()) {
                errors.push(err(
                    "mapping-key-missing",
                    "mapping",
                    format!("key field {k:?} is filled by no column"),
                ));
            }
        }
        if let Some(c) = &self.change_column
            && !is_source_identifier(c)
        {
            errors.push(err(
                "change-column",
                "change_column",
                format!("column {c:?} must be a letter or _ then letters, digits, _ or $"),
            ));
        }
        if !(1..=MAX_BATCH_ROWS).contains(&self.batch_rows) {
            errors.push(err(
                "batch-rows",
                "batch_rows",
                format!("batch_rows must be from 1 to {MAX_BATCH_ROWS}"),
            ));
        }
        if let Some(s) = &self.schedule {
            if !(MIN_EVERY_SECONDS..=7 * 86_400).contains(&s.every_seconds) {
                errors.push(err(
                    "schedule",
                    "schedule.every_seconds",
                    format!("every_seconds must be from {MIN_EVERY_SECONDS} to 604800 (a week)"),
                ));
            }
            if let Some(snap) = s.snapshot_every_seconds
                && !(MIN_SNAPSHOT_SECONDS..=31 * 86_400).contains(&snap)
            {
                errors.push(err(
                    "schedule",
                    "schedule.snapshot_every_seconds",
                    format!(
                        "snapshot_every_seconds must be from {MIN_SNAPSHOT_SECONDS} to 2678400 (31 days)"
                    ),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The value a source value gives its field: the text of the value (numbers in decimal,
    /// booleans as `true`/`false`), through the column's value map. `None` for SQL NULL.
    pub fn field_text(map: &ColumnMap, value: &Value) -> Option<String> {
        let text = match value {
            Value::Null => return None,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => other.to_string(),
        };
        Some(map.values.get(&text).cloned().unwrap_or(text))
    }

    /// How a rejected row names its source row: the key columns' values joined by `|`.
    pub fn source_key(key: &[Value]) -> String {
        key.iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dictionary::{FieldDef, Importance, Openness, SchemaVersion, Sensitivity};

    fn schema() -> DatasetSchema {
        let field = |name: &str| FieldDef {
            name: name.into(),
            element: name.into(),
            required: false,
            sensitivity: Sensitivity::Personal,
            consent: false,
            code_list: None,
            description: String::new(),
        };
        DatasetSchema {
            dataset: "welfare".into(),
            version: SchemaVersion { major: 1, minor: 0 },
            title_vi: "t".into(),
            title_en: "t".into(),
            description: String::new(),
            owner: "p79".into(),
            original: true,
            master: false,
            openness: Openness::Restricted,
            importance: Importance::Ordinary,
            key: vec!["citizen_id".into()],
            fields: vec![field("citizen_id"), field("sex"), field("amount")],
            rules: Vec::new(),
            update_frequency: None,
        }
    }

    fn connector() -> Connector {
        Connector {
            id: "welfare-sync".into(),
            dataset: "welfare".into(),
            owner: "p79".into(),
            system: "p79-db".into(),
            source: SourceSpec {
                engine: SourceEngine::Postgres,
                url: "postgres://ndx@127.0.0.1:5432/test".into(),
                password_env: Some("WELFARE_DB_PASSWORD".into()),
                table: "public.recipients".into(),
            },
            mapping: vec![
                ColumnMap {
                    column: "cccd".into(),
                    field: "citizen_id".into(),
                    values: BTreeMap::new(),
                },
                ColumnMap {
                    column: "gioi_tinh".into(),
                    field: "sex".into(),
                    values: [("M".to_owned(), "1".to_owned())].into(),
                },
            ],
            change_column: Some("updated_at".into()),
            batch_rows: 500,
            schedule: Some(Schedule {
                every_seconds: 30,
                snapshot_every_seconds: Some(3600),
            }),
        }
    }

    fn codes(c: &Connector) -> Vec<&'static str> {
        c.check(&schema())
            .err()
            .unwrap_or_default()
            .iter()
            .map(|e| e.code)
            .collect()
    }

    #[test]
    fn a_sound_definition_passes() {
        assert_eq!(codes(&connector()), Vec::<&str>::new());
        assert_eq!(connector().key_columns(&schema()), vec!["cccd"]);
        assert_eq!(
            connector().columns(),
            vec!["cccd", "gioi_tinh", "updated_at"]
        );
    }

    #[test]
    fn every_fault_is_named() {
        let mut c = connector();
        c.source.url = "postgres://ndx:secret@127.0.0.1/test".into();
        assert_eq!(codes(&c), vec!["source-url-password"]);
        c.source.url = "mysql://ndx@127.0.0.1/test".into();
        assert_eq!(codes(&c), vec!["source-url"]);
        let mut c = connector();
        c.source.table = "a.b.c".into();
        assert_eq!(codes(&c), vec!["source-table"]);
        c.source.table = "x\"; drop table y; --".into();
        assert_eq!(codes(&c), vec!["source-table"]);
        let mut c = connector();
        c.mapping[1].column = "gioi tinh".into();
        c.mapping[1].field = "citizen_id".into();
        assert_eq!(codes(&c), vec!["mapping-column", "mapping-field-twice"]);
        let mut c = connector();
        c.mapping.remove(0);
        assert_eq!(codes(&c), vec!["mapping-key-missing"]);
        let mut c = connector();
        c.mapping[1].field = "nope".into();
        c.batch_rows = 0;
        c.schedule = Some(Schedule {
            every_seconds: 0,
            snapshot_every_seconds: Some(10),
        });
        c.source.password_env = Some("lower".into());
        assert_eq!(
            codes(&c),
            vec![
                "source-password-env",
                "mapping-field-unknown",
                "batch-rows",
                "schedule",
                "schedule"
            ]
        );
    }

    #[test]
    fn a_folder_is_an_absolute_path_of_complete_exports() {
        let mut c = connector();
        c.source.engine = SourceEngine::Folder;
        c.source.url = "file:///srv/drop/welfare".into();
        c.source.password_env = None;
        c.source.table = "recipients".into();
        c.change_column = None;
        assert_eq!(codes(&c), Vec::<&str>::new());
        assert_eq!(c.folder(), Some("/srv/drop/welfare"));
        c.source.url = "file:///srv/../etc".into();
        c.change_column = Some("updated_at".into());
        c.source.table = "a.b".into();
        assert_eq!(
            codes(&c),
            vec!["source-url", "change-column", "source-table"]
        );
        c.source.url = "postgres://x@y/z".into();
        assert_eq!(codes(&c)[0], "source-url");
    }

    #[test]
    fn values_become_text_through_the_value_map() {
        let c = connector();
        let sex = &c.mapping[1];
        assert_eq!(
            Connector::field_text(sex, &Value::from("M")),
            Some("1".into())
        );
        assert_eq!(
            Connector::field_text(sex, &Value::from("X")),
            Some("X".into())
        );
        assert_eq!(Connector::field_text(sex, &Value::Null), None);
        assert_eq!(
            Connector::field_text(&c.mapping[0], &Value::from(12)),
            Some("12".into())
        );
        assert_eq!(
            Connector::source_key(&[Value::from("a"), Value::from(3)]),
            "a|3"
        );
    }
}
