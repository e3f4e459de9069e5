//! CKAN's DataStore over releases (`datastore_search`): the rows of a release, read once from
//! its CSV file into memory — a release never changes, so a table once read answers every
//! later query — and searched by exact filters, by whole words (folded like package search:
//! "ha noi" finds "Hà Nội"; "ba" finds "Ba Đình", not "Bắc") over the whole row or per column,
//! sorted and paged. Tables are kept while
//! their estimated size fits the budget, the least recently used dropped first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use ndx_types::open::Release;
use ndx_types::text::fold_lowercase;

use crate::Core;
use crate::error::{Code, Error, Result};

/// The memory the cached tables may take, estimated from their text.
const TABLE_BUDGET: usize = 512 << 20;

/// A release's rows in memory.
pub struct ReleaseTable {
    /// Column names.
    pub columns: Vec<String>,
    /// Whether the last column is a count (an integer).
    pub counted: bool,
    rows: Vec<Vec<String>>,
    /// Each row's words folded (lower case, no diacritics), each between spaces.
    folded: Vec<String>,
    bytes: usize,
}

impl ReleaseTable {
    fn column(&self, name: &str) -> Result<usize> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            Error::of(
                Code::FilterUnknownField,
                format!(
                    "the resource has no column {name:?}; its columns are {:?}",
                    self.columns
                ),
            )
        })
    }

    /// Whether column `j` holds integers.
    pub fn is_integer(&self, j: usize) -> bool {
        self.counted && j + 1 == self.columns.len()
    }
}

/// What `datastore_search` asks.
#[derive(Debug, Clone, Default)]
pub struct DatastoreQuery {
    /// Words every matching row holds (folded, each a whole word of a cell).
    pub q: Option<String>,
    /// Words per column.
    pub q_fields: Vec<(String, String)>,
    /// Exact values per column (a row matches one of each column's values).
    pub filters: Vec<(String, Vec<String>)>,
    /// The columns answered (all when `None`); `_id` is always first.
    pub fields: Option<Vec<String>>,
    /// Order: columns, each ascending or (`true`) descending; `_id` by default.
    pub sort: Vec<(String, bool)>,
    /// Rows answered.
    pub limit: usize,
    /// Rows skipped.
    pub offset: usize,
}

/// What `datastore_search` answers.
#[derive(Debug, Clone)]
pub struct DatastoreAnswer {
    /// The columns answered, each with whether it holds integers.
    pub fields: Vec<(String, bool)>,
    /// The rows: their `_id` (1-based position in the release) and cells (`None`: missing).
    pub records: Vec<(u64, Vec<Option<String>>)>,
    /// Rows matching, before paging.
    pub total: usize,
}

/// The tables read, most recently used last.
#[derive(Default)]
pub(crate) struct ReleaseTables(Mutex<VecDeque<(String, Arc<ReleaseTable>)>>);

impl ReleaseTables {
    fn get(&self, id: &str) -> Option<Arc<ReleaseTable>> {
        let mut cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let at = cached.iter().position(|(k, _)| k == id)?;
        let entry = cached.remove(at)?;
        let table = entry.1.clone();
        cached.push_back(entry);
        Some(table)
    }

    fn put(&self, id: String, table: Arc<ReleaseTable>) {
        let mut cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        cached.retain(|(k, _)| *k != id);
        cached.push_back((id, table));
        let mut total: usize = cached.iter().map(|(_, t)| t.bytes).sum();
        while total > TABLE_BUDGET && cached.len() > 1 {
            if let Some((_, dropped)) = cached.pop_front() {
                total -= dropped.bytes;
            }
        }
    }
}

fn words(text: &str) -> Vec<String> {
    fold_lowercase(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A text's words, folded, each between spaces: `" ba dinh "`, so that a word is found whole.
fn spaced_words(text: &str) -> String {
    let mut out = String::from(" ");
    for w in words(text) {
        out.push_str(&w);
        out.push(' ');
    }
    out
}

impl Core {
    /// A release's rows, read from its CSV file the first time.
    pub fn release_table(&self, release: &Release) -> Result<Arc<ReleaseTable>> {
        let id = Release::id_of(&release.package, release.number);
        if let Some(table) = self.release_tables.get(&id) {
            return Ok(table);
        }
        let file = release
            .files
            .iter()
            .find(|f| f.format == "csv")
            .ok_or_else(|| Error::internal(format!("release {id} has no CSV file")))?;
        let mut bytes = Vec::with_capacity(usize::try_from(file.bytes).unwrap_or(0));
        self.read_release_file(file, 0, file.bytes, &mut bytes)?;
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| Error::internal(format!("release {id}'s CSV: {e}")))?
            .iter()
            .map(str::to_owned)
            .collect();
        let mut rows = Vec::with_capacity(usize::try_from(release.rows).unwrap_or(0));
        let mut folded = Vec::with_capacity(rows.capacity());
        let mut size = 0;
        for record in reader.records() {
            let record = record.map_err(|e| Error::internal(format!("release {id}'s CSV: {e}")))?;
            let row: Vec<String> = record.iter().map(str::to_owned).collect();
            let text = spaced_words(&row.join(" "));
            size += record.as_slice().len() + text.len() + 24 * (row.len() + 2);
            rows.push(row);
            folded.push(text);
        }
        let table = Arc::new(ReleaseTable {
            counted: release.shape == ndx_types::open::Shape::Counts,
            columns,
            rows,
            folded,
            bytes: size,
        });
        self.release_tables.put(id, table.clone());
        Ok(table)
    }

    /// CKAN's `datastore_search` on one release's rows.
    pub fn datastore_search(
        &self,
        release: &Release,
        query: &DatastoreQuery,
    ) -> Result<DatastoreAnswer> {
        let table = self.release_table(release)?;
        let filters: Vec<(usize, &[String])> = query
            .filters
            .iter()
            .map(|(c, values)| Ok((table.column(c)?, values.as_slice())))
            .collect::<Result<_>>()?;
        let whole = |text: &str| -> Vec<String> {
            words(text).into_iter().map(|w| format!(" {w} ")).collect()
        };
        let everywhere = query.q.as_deref().map(whole).unwrap_or_default();
        let per_column: Vec<(usize, Vec<String>)> = query
            .q_fields
            .iter()
            .map(|(c, text)| Ok((table.column(c)?, whole(text))))
            .collect::<Result<_>>()?;
        // `None`: the row's `_id`.
        let sort: Vec<(Option<usize>, bool)> = query
            .sort
            .iter()
            .map(|(c, desc)| {
                Ok((
                    if c == "_id" {
                        None
                    } else {
                        Some(table.column(c)?)
                    },
                    *desc,
                ))
            })
            .collect::<Result<_>>()?;
        let shown: Vec<usize> = match &query.fields {
            None => (0..table.columns.len()).collect(),
            Some(names) => names
                .iter()
                .filter(|n| *n != "_id")
                .map(|n| table.column(n))
                .collect::<Result<_>>()?,
        };
        let mut matching: Vec<usize> = (0..table.rows.len())
            .filter(|&i| {
                let row = &table.rows[i];
                filters
                    .iter()
                    .all(|(j, values)| values.iter().any(|v| *v == row[*j]))
                    && everywhere
                        .iter()
                        .all(|w| table.folded[i].contains(w.as_str()))
                    && per_column.iter().all(|(j, ws)| {
                        let cell = spaced_words(&row[*j]);
                        ws.iter().all(|w| cell.contains(w.as_str()))
                    })
            })
            .collect();
        if !sort.is_empty() {
            let key = |i: usize, j: usize| -> (Option<i64>, &str) {
                let cell = table.rows[i][j].as_str();
                (
                    if table.is_integer(j) {
                        cell.parse().ok()
                    } else {
                        None
                    },
                    cell,
                )
            };
            matching.sort_by(|&a, &b| {
                for &(j, desc) in &sort {
                    let order = match j {
                        Some(j) => key(a, j).cmp(&key(b, j)),
                        None => a.cmp(&b),
                    };
                    let order = if desc { order.reverse() } else { order };
                    if order.is_ne() {
                        return order;
                    }
                }
                a.cmp(&b)
            });
        }
        let total = matching.len();
        let records = matching
            .into_iter()
            .skip(query.offset)
            .take(query.limit)
            .map(|i| {
                let row = &table.rows[i];
                (
                    i as u64 + 1,
                    shown
                        .iter()
                        .map(|&j| Some(row[j].clone()).filter(|c| !c.is_empty()))
                        .collect(),
                )
            })
            .collect();
        Ok(DatastoreAnswer {
            fields: shown
                .iter()
                .map(|&j| (table.columns[j].clone(), table.is_integer(j)))
                .collect(),
            records,
            total,
        })
    }
}
