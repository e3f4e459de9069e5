//! Open data, pure: a package (what is published, of which dataset, for whom, under which
//! licence), its view (columns, filters, rows or counts), its privacy declaration, the checks
//! that keep direct identifiers and undeclared personal data out, and the anonymisation gate
//! ([`anonymise`]).

pub mod anonymise;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::dictionary::{
    DatasetSchema, DefinitionError, DictionaryLookup, Sensitivity, ValueType, def_err,
};
use crate::quality::UpdateFrequency;

pub use anonymise::{Ladder, Outcome, Target, Unreachable};

/// How a column is made from its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Transform {
    /// The value as it is.
    #[default]
    AsIs,
    /// A date's year.
    Year,
    /// A date's year and month.
    Month,
    /// A birth date's age on the release day, in bands of `band` years (`25-29`).
    AgeBand,
    /// A ward code's province (through its code list).
    Province,
}

/// One column of a published table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Column {
    /// The column's name in the files (lowercase snake_case).
    pub name: String,
    /// The source field.
    pub field: String,
    /// How it is made from the field.
    #[serde(default)]
    pub transform: Transform,
    /// Years per band of an `age-band` (1–50; default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<u32>,
}

/// Rows, or counts per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Shape {
    /// One published row per record (micro-data).
    #[default]
    Rows,
    /// The number of records per combination of the columns (a `count` column is added).
    Counts,
}

/// What is published of the source dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct View {
    /// The source dataset (the publisher's own).
    pub dataset: String,
    /// The columns, in order.
    pub columns: Vec<Column>,
    /// Only records whose field equals the value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    /// `rows` (micro-data, the default) or `counts` per combination of the columns.
    #[serde(default)]
    pub shape: Shape,
    /// Micro-data of a fraction of the records only (0 < sample ≤ 1), chosen by
    /// [`in_sample`]: the same records stay in every release of the same fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<f64>,
}

/// Whether the record of `key` in `dataset` belongs to a sample of `fraction`: the first
/// 64 bits of SHA-256 over the dataset and the key, read as a share of 2⁶⁴, fall below it.
/// The choice depends on nothing else, so every release — and every package of the same
/// dataset at the same fraction — holds the same people, and joining two of them reveals
/// no one more.
pub fn in_sample(dataset: &str, key: &str, fraction: f64) -> bool {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(dataset.as_bytes())
        .chain_update([0u8])
        .chain_update(key.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // Dividing by 2⁶⁴ keeps the share below 1, so a fraction of 1 takes every record.
    (u64::from_be_bytes(first) as f64 / 18_446_744_073_709_551_616.0) < fraction
}

/// An equality filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Filter {
    /// The field.
    pub field: String,
    /// The value it must have.
    pub value: String,
}

/// A quasi-identifier: a column that, with others, could single a person out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuasiIdentifier {
    /// The column.
    pub column: String,
    /// How it may be generalised.
    pub ladder: Ladder,
}

/// The privacy a release must reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Privacy {
    /// The quasi-identifier columns.
    #[serde(default)]
    pub quasi_identifiers: Vec<QuasiIdentifier>,
    /// The sensitive columns (l-diversity).
    #[serde(default)]
    pub sensitive: Vec<String>,
    /// Every combination of quasi-identifiers is shared by at least k rows (counts under k are
    /// suppressed).
    #[serde(default = "default_k")]
    pub k: u32,
    /// Distinct sensitive values per class.
    #[serde(default = "default_l")]
    pub l: u32,
    /// The largest share of rows that may be suppressed (0–0.2).
    #[serde(default = "default_suppression")]
    pub max_suppressed: f64,
}

fn default_k() -> u32 {
    5
}
fn default_l() -> u32 {
    2
}
fn default_suppression() -> f64 {
    0.01
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            quasi_identifiers: Vec::new(),
            sensitive: Vec::new(),
            k: default_k(),
            l: default_l(),
            max_suppressed: default_suppression(),
        }
    }
}

/// A contact point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contact {
    /// Name of the unit or person.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

/// A period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Period {
    /// First day.
    pub start: NaiveDate,
    /// Last day, if it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<NaiveDate>,
}

/// An open-data package: a view of one dataset, described for the world, published in
/// immutable releases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Package {
    /// Name, CKAN's rules: 2–100 of `a-z`, `0-9`, `-`, `_`.
    pub name: String,
    /// Title in Vietnamese.
    pub title_vi: String,
    /// Title in English.
    pub title_en: String,
    /// Description in Vietnamese.
    #[serde(default)]
    pub description_vi: String,
    /// Description in English.
    #[serde(default)]
    pub description_en: String,
    /// A code of the code list `licence`.
    pub licence: String,
    /// Keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// A code of the code list `data-theme`.
    pub theme: String,
    /// The publishing member (the source dataset's owner).
    pub publisher: String,
    /// Who answers questions about it.
    pub contact: Contact,
    /// Province codes covered; empty for the whole country.
    #[serde(default)]
    pub spatial: Vec<String>,
    /// The period the data covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporal: Option<Period>,
    /// How often a release follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<UpdateFrequency>,
    /// Whether the node makes the releases after the first: one each `frequency` period in
    /// which the source dataset changed (otherwise every release is asked for).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scheduled: bool,
    /// What is published.
    pub view: View,
    /// The privacy a release must reach.
    #[serde(default)]
    pub privacy: Privacy,
    /// When it was registered.
    #[serde(default = "Utc::now")]
    pub created_at: DateTime<Utc>,
}

/// Whether `s` is a package name CKAN accepts.
pub fn is_package_name(s: &str) -> bool {
    (2..=100).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Package {
    /// Checks the package against its source dataset's schema and the dictionary: names,
    /// columns of existing fields with transforms that fit their type, no direct identifier,
    /// every personal column declared a quasi-identifier or sensitive, a sound privacy target.
    pub fn check(
        &self,
        schema: &DatasetSchema,
        dict: &dyn DictionaryLookup,
    ) -> Result<(), DefinitionError> {
        if !is_package_name(&self.name) {
            return Err(def_err(
                "package-name-invalid",
                "name",
                format!(
                    "package name {:?} must be 2-100 lowercase letters, digits, '-' or '_'",
                    self.name
                ),
            ));
        }
        if self.scheduled && self.frequency.is_none() {
            return Err(def_err(
                "schedule-without-frequency",
                "scheduled",
                "a scheduled package needs a frequency (daily, weekly, monthly, quarterly, yearly)"
                    .into(),
            ));
        }
        for (path, text) in [("title_vi", &self.title_vi), ("title_en", &self.title_en)] {
            crate::text::check_characters(text, false)
                .map_err(|f| def_err("text-invalid", path, format!("{path}: {}", f.describe())))?;
        }
        for (path, text) in [
            ("description_vi", &self.description_vi),
            ("description_en", &self.description_en),
        ] {
            if !text.is_empty() {
                crate::text::check_characters(text, true).map_err(|f| {
                    def_err("text-invalid", path, format!("{path}: {}", f.describe()))
                })?;
            }
        }
        for (path, list, code) in [
            ("licence", "licence", &self.licence),
            ("theme", "data-theme", &self.theme),
        ] {
            let known = dict
                .code_list(list)
                .is_some_and(|l| l.entries.iter().any(|e| e.code == *code));
            if !known {
                return Err(def_err(
                    "code-unknown",
                    path,
                    format!("{code:?} is not a code of list {list:?}"),
                ));
            }
        }
        for (i, k) in self.keywords.iter().enumerate() {
            if k.is_empty()
                || k.chars().count() > 100
                || crate::text::check_characters(k, false).is_err()
            {
                return Err(def_err(
                    "text-invalid",
                    format!("keywords[{i}]"),
                    format!("keyword {k:?} must be 1-100 visible characters"),
                ));
            }
        }
        for (i, p) in self.spatial.iter().enumerate() {
            if crate::reference::province_2025(p).is_none() {
                return Err(def_err(
                    "code-unknown",
                    format!("spatial[{i}]"),
                    format!("{p:?} is not a 2025 province code"),
                ));
            }
        }
        if let Some(Period {
            start,
            end: Some(end),
        }) = self.temporal
            && end < start
        {
            return Err(def_err(
                "period-invalid",
                "temporal",
                format!("the period ends ({end}) before it starts ({start})"),
            ));
        }
        if crate::formats::validate_email(&self.contact.email).is_err() {
            return Err(def_err(
                "contact-invalid",
                "contact.email",
                format!("{:?} is not an e-mail address", self.contact.email),
            ));
        }
        if self.publisher != schema.owner {
            return Err(def_err(
                "not-owner",
                "publisher",
                format!(
                    "dataset {:?} is {:?}'s: only its owner publishes it",
                    schema.dataset, schema.owner
                ),
            ));
        }
        if self.view.columns.is_empty() {
            return Err(def_err(
                "view-invalid",
                "view.columns",
                "a view needs a column".into(),
            ));
        }
        if let Some(fraction) = self.view.sample {
            if !(fraction > 0.0 && fraction <= 1.0) {
                return Err(def_err(
                    "view-invalid",
                    "view.sample",
                    format!("a sample is a fraction above 0 and at most 1, not {fraction}"),
                ));
            }
            if self.view.shape == Shape::Counts {
                return Err(def_err(
                    "view-invalid",
                    "view.sample",
                    "counts are of every record: a sample is of micro-data (shape rows)".into(),
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        let mut personal: Vec<&str> = Vec::new();
        for (i, c) in self.view.columns.iter().enumerate() {
            let path = format!("view.columns[{i}]");
            if !crate::dictionary::is_field_name(&c.name) || c.name == "count" {
                return Err(def_err(
                    "view-invalid",
                    &path,
                    format!(
                        "column name {:?} must be lowercase snake_case (and not count)",
                        c.name
                    ),
                ));
            }
            if !names.insert(c.name.as_str()) {
                return Err(def_err(
                    "view-invalid",
                    &path,
                    format!("column {:?} twice", c.name),
                ));
            }
            let Some(field) = schema.field(&c.field) else {
                return Err(def_err(
                    "view-invalid",
                    &path,
                    format!("dataset {:?} has no field {:?}", schema.dataset, c.field),
                ));
            };
            let element = dict.element(&field.element).ok_or_else(|| {
                def_err(
                    "element-unknown",
                    &path,
                    format!("unknown element {:?}", field.element),
                )
            })?;
            let fits = match c.transform {
                Transform::AsIs => true,
                Transform::Year | Transform::Month | Transform::AgeBand => {
                    matches!(element.value_type, ValueType::Date | ValueType::PartialDate)
                }
                Transform::Province => {
                    field
                        .code_list
                        .as_ref()
                        .is_some_and(|l| l.id.starts_with("admin-ward"))
                        || element
                            .code_list
                            .as_deref()
                            .is_some_and(|l| l.starts_with("admin-ward"))
                }
            };
            if let Some(width) = c.band
                && (c.transform != Transform::AgeBand || !(1..=50).contains(&width))
            {
                return Err(def_err(
                    "view-invalid",
                    &path,
                    format!("bands of {width} years: only an age-band, of 1 to 50 years"),
                ));
            }
            if !fits {
                return Err(def_err(
                    "view-invalid",
                    &path,
                    format!("{:?} cannot be made from field {:?}", c.transform, c.field),
                ));
            }
            let is_personal = matches!(
                field.sensitivity,
                Sensitivity::Personal | Sensitivity::SensitivePersonal
            );
            if is_personal && element.identifying {
                return Err(def_err(
                    "direct-identifier",
                    &path,
                    format!(
                        "field {:?} ({}) identifies a person directly: it is never published, \
                         transformed or not",
                        c.field, element.id
                    ),
                ));
            }
            if is_personal {
                personal.push(c.name.as_str());
            }
        }
        for f in &self.view.filters {
            if schema.field(&f.field).is_none() {
                return Err(def_err(
                    "view-invalid",
                    "view.filters",
                    format!("dataset {:?} has no field {:?}", schema.dataset, f.field),
                ));
            }
        }
        let p = &self.privacy;
        if !(2..=1000).contains(&p.k)
            || !(1..=100).contains(&p.l)
            || !(0.0..=0.2).contains(&p.max_suppressed)
        {
            return Err(def_err(
                "privacy-invalid",
                "privacy",
                format!(
                    "k must be 2-1000 (found {}), l 1-100 (found {}), max_suppressed 0-0.2 (found {})",
                    p.k, p.l, p.max_suppressed
                ),
            ));
        }
        let declared: Vec<&str> = p
            .quasi_identifiers
            .iter()
            .map(|q| q.column.as_str())
            .chain(p.sensitive.iter().map(String::as_str))
            .collect();
        for d in &declared {
            if !names.contains(d) {
                return Err(def_err(
                    "privacy-invalid",
                    "privacy",
                    format!("{d:?} is not a column of the view"),
                ));
            }
        }
        if self.view.shape == Shape::Rows
            && let Some(undeclared) = personal.iter().find(|c| !declared.contains(c))
        {
            return Err(def_err(
                "privacy-undeclared",
                "privacy",
                format!(
                    "column {undeclared:?} holds personal data: declare it a quasi-identifier \
                     or sensitive"
                ),
            ));
        }
        Ok(())
    }
}

/// One file of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseFile {
    /// `csv`, `json` or `parquet`.
    pub format: String,
    /// The name it is downloaded as (`population-by-province-r3.csv`).
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Where the store keeps it (its blob name).
    pub blob: String,
}

/// How far one quasi-identifier column was generalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Generalised {
    /// The column.
    pub column: String,
    /// The level applied: `as-is`, `month`, `year`, `5-year-band`, `10-year-band`,
    /// `province` or `suppressed` (the value withheld).
    pub level: String,
}

/// What the gate did to a release, as published in its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppliedPrivacy {
    /// The k required.
    pub k: u32,
    /// The smallest class (or count) published.
    pub achieved_k: u64,
    /// The l required (0 when no column is sensitive).
    pub l: u32,
    /// The fewest distinct sensitive values in a class published.
    pub achieved_l: u64,
    /// Per quasi-identifier column, the generalisation applied.
    pub generalised: Vec<Generalised>,
    /// Rows (or count cells) suppressed.
    pub suppressed: u64,
}

/// An immutable release of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Release {
    /// The package.
    pub package: String,
    /// 1 for the first release, then one more.
    pub number: u32,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who made it (`system` or `schedule`).
    pub made_by: String,
    /// The source dataset's change-feed position it reflects.
    pub source_position: u64,
    /// Rows published.
    pub rows: u64,
    /// Rows, or counts (the last column then holds the count).
    #[serde(default)]
    pub shape: Shape,
    /// The columns, in order.
    pub columns: Vec<String>,
    /// What the privacy gate did.
    pub privacy: AppliedPrivacy,
    /// The files.
    pub files: Vec<ReleaseFile>,
}

/// How much one package was used on one day (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PackageUsage {
    /// The package.
    pub package: String,
    /// The day.
    pub day: NaiveDate,
    /// Reads of its description (`GET /api/v1/packages/{name}`, CKAN's `package_show`).
    pub views: u64,
    /// Downloads of its files (from the first byte).
    pub downloads: u64,
    /// API calls on its rows and resources (`datastore_search`, `resource_show`).
    pub api_calls: u64,
}

impl PackageUsage {
    /// The id it is kept under: `PACKAGE@YYYY-MM-DD`.
    pub fn id_of(package: &str, day: NaiveDate) -> String {
        format!("{package}@{day}")
    }
}

impl Package {
    /// Whether the node is to make this package's next release at `now`: it is scheduled, its
    /// last release (made by hand the first time) is a frequency's period old, and its source
    /// dataset's feed moved past the position that release reflects.
    pub fn release_due(
        &self,
        last: Option<&Release>,
        source_head: u64,
        now: DateTime<Utc>,
    ) -> bool {
        let (true, Some(frequency), Some(last)) = (self.scheduled, self.frequency, last) else {
            return false;
        };
        now - last.created_at >= frequency.period() && source_head > last.source_position
    }
}

impl Release {
    /// Who makes a scheduled release.
    pub const SCHEDULE: &'static str = "schedule";

    /// The id it is kept under: `PACKAGE@NNNNNNNNNN`.
    pub fn id_of(package: &str, number: u32) -> String {
        format!("{package}@{number:010}")
    }
}

/// A column's value in a record (a JSON object as stored), on the release day: empty when the
/// field is absent or cannot be read.
pub fn column_value(
    column: &Column,
    record: &serde_json::Map<String, serde_json::Value>,
    release_day: NaiveDate,
    province_of: &dyn Fn(&str) -> Option<String>,
) -> String {
    let raw = match record.get(&column.field) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => return String::new(),
        Some(other) => other.to_string(),
    };
    match column.transform {
        Transform::AsIs => raw,
        Transform::Year => raw.get(..4).map(str::to_owned).unwrap_or_default(),
        Transform::Month => raw.get(..7).map(str::to_owned).unwrap_or_default(),
        Transform::Province => province_of(&raw).unwrap_or_default(),
        Transform::AgeBand => {
            let Ok(born) = crate::formats::parse_partial_date(&raw) else {
                return String::new();
            };
            // The youngest the person may be: a partial date counts from its last day.
            let Some(last) = born.last_day() else {
                return String::new();
            };
            let Some(age) = release_day.years_since(last) else {
                return String::new();
            };
            let width = column.band.unwrap_or(5).max(1);
            let from = age - age % width;
            format!("{from}-{}", from + width - 1)
        }
    }
}

/// Counts the rows per combination of their values (the `count` column last), sorted; the
/// combinations counted fewer than `k` times are suppressed. Returns the table and the number
/// of cells suppressed.
pub fn counts(rows: Vec<Vec<String>>, k: u32) -> (Vec<Vec<String>>, u64, u64) {
    let mut by: std::collections::BTreeMap<Vec<String>, u64> = std::collections::BTreeMap::new();
    for r in rows {
        *by.entry(r).or_default() += 1;
    }
    let mut suppressed = 0;
    let mut smallest = u64::MAX;
    let out = by
        .into_iter()
        .filter_map(|(mut r, n)| {
            if n < u64::from(k) {
                suppressed += 1;
                None
            } else {
                smallest = smallest.min(n);
                r.push(n.to_string());
                Some(r)
            }
        })
        .collect();
    (
        out,
        suppressed,
        if smallest == u64::MAX { 0 } else { smallest },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dictionary::{Importance, MemoryDictionary, Openness, SchemaVersion};

    fn field(name: &str, element: &str, sensitivity: Sensitivity) -> crate::dictionary::FieldDef {
        crate::dictionary::FieldDef {
            name: name.into(),
            element: element.into(),
            required: false,
            sensitivity,
            consent: false,
            code_list: None,
            description: String::new(),
        }
    }

    fn population() -> DatasetSchema {
        DatasetSchema {
            dataset: "population".into(),
            version: SchemaVersion { major: 1, minor: 0 },
            title_vi: "Dân cư".into(),
            title_en: "Population".into(),
            description: String::new(),
            owner: "BCA".into(),
            original: true,
            master: false,
            openness: Openness::Restricted,
            importance: Importance::Core,
            key: vec!["citizen_id".into()],
            fields: vec![
                field("citizen_id", "citizen-id", Sensitivity::Personal),
                field("full_name", "full-name", Sensitivity::Personal),
                field("sex", "sex", Sensitivity::Personal),
                field("date_of_birth", "date-of-birth", Sensitivity::Personal),
                field(
                    "ethnic_code",
                    "ethnic-group",
                    Sensitivity::SensitivePersonal,
                ),
                field("ward_code", "ward-code", Sensitivity::Internal),
                field("province_code", "province-code", Sensitivity::Internal),
            ],
            rules: vec![],
            update_frequency: None,
        }
    }

    fn column(name: &str, field: &str, transform: Transform) -> Column {
        Column {
            name: name.into(),
            field: field.into(),
            transform,
            band: None,
        }
    }

    fn package(columns: Vec<Column>, shape: Shape, privacy: Privacy) -> Package {
        Package {
            name: "population-sample".into(),
            title_vi: "Mẫu dân cư".into(),
            title_en: "Population sample".into(),
            description_vi: String::new(),
            description_en: String::new(),
            licence: "cc-by-4.0".into(),
            keywords: vec!["dân số".into()],
            theme: "SOCI".into(),
            publisher: "BCA".into(),
            contact: Contact {
                name: "Cục Cảnh sát QLHC".into(),
                email: "opendata@bca.gov.vn".into(),
            },
            spatial: vec![],
            temporal: None,
            frequency: None,
            scheduled: false,
            view: View {
                dataset: "population".into(),
                columns,
                filters: vec![],
                shape,
                sample: None,
            },
            privacy,
            created_at: Utc::now(),
        }
    }

    fn check(p: &Package) -> Result<(), &'static str> {
        p.check(&population(), &MemoryDictionary::builtin())
            .map_err(|e| e.code)
    }

    #[test]
    fn direct_identifiers_never_leave_and_personal_columns_must_be_declared() {
        let micro = |cols, privacy| package(cols, Shape::Rows, privacy);
        assert_eq!(
            check(&micro(
                vec![column("id", "citizen_id", Transform::AsIs)],
                Privacy::default()
            )),
            Err("direct-identifier")
        );
        assert_eq!(
            check(&micro(
                vec![column("name", "full_name", Transform::AsIs)],
                Privacy::default()
            )),
            Err("direct-identifier")
        );
        let cols = vec![
            column("born", "date_of_birth", Transform::Year),
            column("sex", "sex", Transform::AsIs),
            column("ethnic", "ethnic_code", Transform::AsIs),
            column("province", "ward_code", Transform::Province),
        ];
        assert_eq!(
            check(&micro(cols.clone(), Privacy::default())),
            Err("privacy-undeclared")
        );
        let declared = Privacy {
            quasi_identifiers: vec![
                QuasiIdentifier {
                    column: "born".into(),
                    ladder: Ladder::Date,
                },
                QuasiIdentifier {
                    column: "sex".into(),
                    ladder: Ladder::Value,
                },
            ],
            sensitive: vec!["ethnic".into()],
            ..Privacy::default()
        };
        assert_eq!(check(&micro(cols.clone(), declared.clone())), Ok(()));
        // Counts publish no row: personal columns need no declaration there.
        assert_eq!(
            check(&package(cols.clone(), Shape::Counts, Privacy::default())),
            Ok(())
        );
        let mut bad = micro(cols.clone(), declared.clone());
        bad.view.columns[0].transform = Transform::Province;
        assert_eq!(check(&bad), Err("view-invalid"), "a date has no province");
        let mut bad = micro(cols.clone(), declared.clone());
        bad.licence = "all-rights-reserved".into();
        assert_eq!(check(&bad), Err("code-unknown"));
        let mut bad = micro(cols.clone(), declared.clone());
        bad.publisher = "BTC".into();
        assert_eq!(check(&bad), Err("not-owner"));
        let mut bad = micro(cols.clone(), declared.clone());
        bad.privacy.k = 1;
        assert_eq!(check(&bad), Err("privacy-invalid"));
        let mut bad = micro(cols, declared);
        bad.name = "Population Sample".into();
        assert_eq!(check(&bad), Err("package-name-invalid"));
    }

    #[test]
    fn columns_are_made_on_the_release_day_and_small_counts_are_suppressed() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).expect("day");
        let rec =
            serde_json::json!({"date_of_birth": "1990-12-08", "ward_code": "00004", "sex": "2"});
        let rec = rec.as_object().expect("object");
        let ward = |w: &str| (w == "00004").then(|| "01".to_owned());
        let mut age = column("age", "date_of_birth", Transform::AgeBand);
        assert_eq!(
            column_value(&age, rec, day, &ward),
            "35-39",
            "35 until tomorrow"
        );
        age.band = Some(10);
        assert_eq!(column_value(&age, rec, day, &ward), "30-39");
        assert_eq!(
            column_value(
                &column("p", "ward_code", Transform::Province),
                rec,
                day,
                &ward
            ),
            "01"
        );
        assert_eq!(
            column_value(
                &column("y", "date_of_birth", Transform::Year),
                rec,
                day,
                &ward
            ),
            "1990"
        );
        assert_eq!(
            column_value(&column("x", "missing", Transform::AsIs), rec, day, &ward),
            ""
        );
        let rows = [["01", "1"]; 6]
            .iter()
            .chain([["01", "2"]; 2].iter())
            .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
            .collect();
        let (table, suppressed, smallest) = counts(rows, 5);
        assert_eq!(
            table,
            vec![vec!["01".to_owned(), "1".to_owned(), "6".to_owned()]]
        );
        assert_eq!((suppressed, smallest), (1, 6));
    }

    #[test]
    fn a_sample_is_a_fraction_of_micro_data_chosen_by_key_alone() {
        let cols = vec![column("sex", "sex", Transform::AsIs)];
        let sex_declared = Privacy {
            quasi_identifiers: vec![QuasiIdentifier {
                column: "sex".into(),
                ladder: Ladder::Value,
            }],
            ..Privacy::default()
        };
        let mut p = package(cols, Shape::Rows, sex_declared);
        for bad in [0.0, -0.1, 1.5, f64::NAN] {
            p.view.sample = Some(bad);
            assert_eq!(check(&p), Err("view-invalid"), "sample {bad}");
        }
        p.view.sample = Some(0.1);
        assert_eq!(check(&p), Ok(()));
        p.view.shape = Shape::Counts;
        assert_eq!(check(&p), Err("view-invalid"), "counts are never sampled");

        let keys: Vec<String> = (0..20_000).map(|i| format!("{i:012}")).collect();
        let tenth: Vec<&String> = keys
            .iter()
            .filter(|k| in_sample("population", k, 0.1))
            .collect();
        assert!(
            (1_800..=2_200).contains(&tenth.len()),
            "about a tenth: {}",
            tenth.len()
        );
        let again = keys
            .iter()
            .filter(|k| in_sample("population", k, 0.1))
            .count();
        assert_eq!(again, tenth.len(), "the same records every time");
        assert!(
            tenth.iter().all(|k| in_sample("population", k, 0.2)),
            "a larger sample holds the smaller one"
        );
        assert!(keys.iter().all(|k| in_sample("population", k, 1.0)));
        let other = keys
            .iter()
            .filter(|k| in_sample("businesses", k, 0.1))
            .filter(|k| in_sample("population", k, 0.1))
            .count();
        assert!(other < 400, "another dataset's sample is another: {other}");
    }
}
