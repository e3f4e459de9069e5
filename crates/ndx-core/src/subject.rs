//! What the platform holds about one citizen: the current records of every dataset that names
//! them in a field of the element `citizen-id` (the population register by its key, a
//! business by its owner, a civil servant by their ID), read for the citizen themself and
//! recorded on their own data tracker like any other access.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::Core;
use crate::access::SubjectRead;
use crate::audit::Audited;
use crate::error::{Error, Result};

/// The element that names a citizen.
const CITIZEN_ID: &str = "citizen-id";
/// Records shown per dataset and field.
const MAX_RECORDS: usize = 50;

/// The records of one dataset about a citizen.
#[derive(Debug, Clone)]
pub struct SubjectDataset {
    /// The dataset.
    pub dataset: String,
    /// Its title in Vietnamese.
    pub title_vi: String,
    /// Its title in English.
    pub title_en: String,
    /// The member that owns it (and answers a correction request).
    pub owner: String,
    /// The field that names the citizen.
    pub field: String,
    /// The records: key, when recorded, and the values.
    pub records: Vec<SubjectRecord>,
}

/// One record about the citizen.
#[derive(Debug, Clone)]
pub struct SubjectRecord {
    /// The record's key.
    pub key: String,
    /// When its current version was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Its values.
    pub data: Map<String, Value>,
}

impl Core {
    /// Every dataset's records about the citizen of `cap`, audited as `subject.records` on
    /// their tracker before the answer leaves.
    pub fn subject_records(&self, cap: &SubjectRead) -> Result<Audited<Vec<SubjectDataset>>> {
        let citizen = cap.citizen_id().to_owned();
        let mut found = Vec::new();
        let mut keys = Vec::new();
        for schema in self.datasets()? {
            for field in schema.fields.iter().filter(|f| f.element == CITIZEN_ID) {
                // The register keyed by the citizen ID is read by key; other datasets are
                // filtered on the field.
                let versions = if schema.key == [field.name.clone()] {
                    self.store
                        .records()
                        .record(&schema.dataset, &citizen, None)?
                        .into_iter()
                        .collect()
                } else {
                    let filters = self
                        .typed_filters(&schema.dataset, &[(field.name.clone(), citizen.clone())])?;
                    self.store
                        .records()
                        .list(&schema.dataset, &filters, None, MAX_RECORDS)?
                };
                let mut records = Vec::new();
                for v in versions {
                    let Some(body) = v.body else { continue };
                    let data: Map<String, Value> = serde_json::from_str(&body).map_err(|e| {
                        Error::internal(format!("a stored record is not JSON: {e}"))
                    })?;
                    keys.push(format!("{}/{}", schema.dataset, v.key));
                    records.push(SubjectRecord {
                        key: v.key,
                        recorded_at: v.recorded_at,
                        data,
                    });
                }
                if !records.is_empty() {
                    found.push(SubjectDataset {
                        dataset: schema.dataset.clone(),
                        title_vi: schema.title_vi.clone(),
                        title_en: schema.title_en.clone(),
                        owner: schema.owner.clone(),
                        field: field.name.clone(),
                        records,
                    });
                }
            }
        }
        let receipt = self
            .audit
            .event(cap, "subject.records")
            .keys(keys)
            .subjects(vec![citizen])
            .record()?;
        Ok(receipt.attach(found))
    }
}
