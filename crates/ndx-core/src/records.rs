//! The owner's view of a dataset: the current version of a record, the version current at a
//! point in time, its whole history, and a filtered, cursor-paginated list. Every read hands its
//! data back as [`Audited`], so it cannot answer without recording its event first.

use chrono::{DateTime, Utc};
use ndx_store::{FieldFilter, RecordVersion};
use ndx_types::validate::RawValue;
use serde_json::Value;

use crate::Core;
use crate::access::DatasetRead;
use crate::audit::Audited;
use crate::error::Code;
use crate::error::{Error, Result};

/// Largest page of a list.
pub const MAX_PAGE: usize = 1000;

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    /// The records, in key order.
    pub records: Vec<RecordVersion>,
    /// Cursor for the next page, if there may be one.
    pub next_cursor: Option<String>,
}

impl Core {
    /// The current version of a record, or the one current at `as_of`.
    pub fn record(
        &self,
        cap: &DatasetRead,
        key: &str,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Audited<RecordVersion>> {
        let found = self.store.records().record(&cap.dataset, key, as_of)?;
        let body = found.as_ref().and_then(|v| v.body.as_deref());
        let returned = self.subjects_and_fields(&cap.schema, Some(key), body.into_iter())?;
        let receipt = self
            .audit
            .event(cap, "record.read")
            .keys(vec![key.to_owned()])
            .query(as_of.map(|t| format!("as_of={}", t.to_rfc3339())))
            .returned(returned)
            .record()?;
        match found {
            Some(v) if v.body.is_some() => Ok(receipt.attach(v)),
            Some(v) => Err(Error::of(
                Code::RecordDeleted,
                format!(
                    "record {key:?} of {:?} was deleted (version {}, {})",
                    cap.dataset,
                    v.version,
                    v.recorded_at.to_rfc3339()
                ),
            )),
            None => Err(Error::of(
                Code::RecordNotFound,
                match as_of {
                    Some(t) => format!(
                        "record {key:?} of {:?} did not exist at {}",
                        cap.dataset,
                        t.to_rfc3339()
                    ),
                    None => format!("record {key:?} of {:?} does not exist", cap.dataset),
                },
            )),
        }
    }

    /// Every version of a record, newest first.
    pub fn history(&self, cap: &DatasetRead, key: &str) -> Result<Audited<Vec<RecordVersion>>> {
        let h = self.store.records().history(&cap.dataset, key)?;
        let returned = self.subjects_and_fields(
            &cap.schema,
            Some(key),
            h.iter().filter_map(|v| v.body.as_deref()),
        )?;
        let receipt = self
            .audit
            .event(cap, "record.history")
            .keys(vec![key.to_owned()])
            .returned(returned)
            .record()?;
        if h.is_empty() {
            return Err(Error::of(
                Code::RecordNotFound,
                format!("record {key:?} of {:?} does not exist", cap.dataset),
            ));
        }
        Ok(receipt.attach(h))
    }

    /// Current records matching every `field = value` filter, in key order, after `cursor`.
    /// Filter values are text and are converted by the field's type, so `?active=true` or
    /// `?count=3` compare typed values.
    pub fn list(
        &self,
        cap: &DatasetRead,
        filters: &[(String, String)],
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Audited<Page>> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::of(
                Code::LimitInvalid,
                format!("limit must be between 1 and {MAX_PAGE}, found {limit}"),
            ));
        }
        let typed = self.typed_filters(&cap.dataset, filters)?;
        let after = self.list_position(&cap.dataset, cursor)?;
        let mut records =
            self.store
                .records()
                .list(&cap.dataset, &typed, after.as_deref(), limit + 1)?;
        let next_cursor = if records.len() > limit {
            records.truncate(limit);
            records
                .last()
                .map(|r| self.audit.keys().cursor(&cap.dataset, &r.key))
        } else {
            None
        };
        let returned = self.subjects_and_fields(
            &cap.schema,
            None,
            records.iter().filter_map(|v| v.body.as_deref()),
        )?;
        let mut query: Vec<String> = filters.iter().map(|(f, v)| format!("{f}={v}")).collect();
        if let Some(c) = cursor {
            query.push(format!("cursor={c}"));
        }
        query.push(format!("limit={limit}"));
        let receipt = self
            .audit
            .event(cap, "record.list")
            .keys(records.iter().map(|r| r.key.clone()).collect())
            .query(Some(query.join("&")))
            .returned(returned)
            .record()?;
        Ok(receipt.attach(Page {
            records,
            next_cursor,
        }))
    }
}

impl Core {
    /// Filter texts as typed values of the dataset's latest schema (the value validated as
    /// the field would be, then in its canonical form).
    pub(crate) fn typed_filters(
        &self,
        dataset: &str,
        filters: &[(String, String)],
    ) -> Result<Vec<FieldFilter>> {
        let schema = self.schema(dataset, None)?;
        let compiled = self.compiled(&schema)?;
        let mut typed = Vec::with_capacity(filters.len());
        for (field, text) in filters {
            let Some(i) = compiled.field_index(field) else {
                return Err(Error::of(
                    Code::FilterUnknownField,
                    format!("cannot filter on {field:?}: not a field of {dataset:?}"),
                ));
            };
            let mut values = vec![RawValue::Absent; compiled.len()];
            values[i] = RawValue::Text(text);
            // Validate the filter value as the field would be, then take its canonical form.
            let value = single_field_value(&compiled, &values, field).ok_or_else(|| {
                Error::of(
                    Code::FilterValueInvalid,
                    format!("{text:?} is not a valid value for {field:?}"),
                )
            })?;
            typed.push(FieldFilter {
                field: field.clone(),
                value,
            });
        }
        Ok(typed)
    }

    /// The key a list cursor of `dataset` resumes after (cursors are opaque and authenticated).
    pub(crate) fn list_position(
        &self,
        dataset: &str,
        cursor: Option<&str>,
    ) -> Result<Option<String>> {
        match cursor {
            Some(c) => Ok(Some(
                self.audit
                    .keys()
                    .cursor_position(dataset, c)
                    .ok_or_else(|| {
                        Error::of(
                            Code::CursorInvalid,
                            format!(
                                "cursor {:?} is not one this server issued for {dataset:?}",
                                shorten(c),
                            ),
                        )
                    })?,
            )),
            None => Ok(None),
        }
    }
}

/// Converts one field's text into its canonical JSON value by validating a record that holds
/// only that field; other fields' "required" errors are ignored.
fn single_field_value(
    compiled: &ndx_types::validate::CompiledSchema,
    values: &[RawValue<'_>],
    field: &str,
) -> Option<Value> {
    // A filter value is looked for, not stored: no date is too late to look for.
    let canonical = match compiled.validate(values, chrono::NaiveDate::MAX) {
        Ok(v) => v.canonical,
        Err(errors) => {
            if errors.iter().any(|e| e.field == field) {
                return None;
            }
            // Other fields failed (required): rebuild from the text directly.
            let RawValue::Text(t) = values[compiled.field_index(field)?] else {
                return None;
            };
            return Some(Value::String(ndx_types::text::nfc(t).into_owned()));
        }
    };
    let mut obj: serde_json::Map<String, Value> = serde_json::from_str(&canonical).ok()?;
    obj.remove(field)
}

/// A cursor as an error message quotes it: at most its first 40 characters.
fn shorten(c: &str) -> String {
    match c.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &c[..at]),
        None => c.to_owned(),
    }
}
