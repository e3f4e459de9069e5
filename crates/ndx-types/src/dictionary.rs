//! The shared data dictionary: data elements (the ISO/IEC 11179 idea), code lists, dataset
//! schemas built from elements, the rules for evolving a schema, and its export as JSON Schema
//! 2020-12 and as a Frictionless Table Schema. A schema *is* the data-message standard.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::codes::{CodeListRef, Converter, Crosswalk};
use crate::reference;

/// The value type of a data element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueType {
    /// Unicode text, stored NFC-normalised.
    String,
    /// A whole number (64-bit).
    Integer,
    /// A finite decimal number.
    Decimal,
    /// `true` or `false`.
    Boolean,
    /// A full calendar date, `YYYY-MM-DD`.
    Date,
    /// A date as civil registers hold it: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    PartialDate,
    /// An RFC 3339 timestamp with offset.
    DateTime,
    /// A code from the element's code list.
    Code,
}

impl ValueType {
    /// The name used in messages and exports.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Integer => "integer",
            ValueType::Decimal => "decimal",
            ValueType::Boolean => "boolean",
            ValueType::Date => "date",
            ValueType::PartialDate => "partial-date",
            ValueType::DateTime => "date-time",
            ValueType::Code => "code",
        }
    }
}

/// A built-in format with precise validation, applicable to string elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// The 12-digit Vietnamese citizen identity number (CCCD).
    CitizenId,
    /// The enterprise tax code: 10 digits with check digit, optionally `-` and a 3-digit branch.
    TaxCode,
    /// A Vietnamese mobile number, `0xxxxxxxxx` or `+84xxxxxxxxx`.
    VnMobile,
    /// Any Vietnamese phone number: mobile or an 11-digit fixed line starting with `02`.
    VnPhone,
    /// An e-mail address.
    Email,
}

impl Format {
    /// A regular expression describing the shape (used in exports; validation is stricter).
    pub fn pattern(self) -> Option<&'static str> {
        match self {
            Format::CitizenId => Some("^[0-9]{12}$"),
            Format::TaxCode => Some("^[0-9]{10}(-[0-9]{3})?$"),
            Format::VnMobile => Some("^(0|\\+84)[35789][0-9]{8}$"),
            Format::VnPhone => Some("^(0|\\+84)([35789][0-9]{8}|2[0-9]{9})$"),
            Format::Email => None,
        }
    }
}

/// A data element: the unit of meaning every dataset field is built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataElement {
    /// Stable identifier, lowercase kebab-case, e.g. `citizen-id`.
    pub id: String,
    /// Name in Vietnamese.
    pub name_vi: String,
    /// Name in English.
    pub name_en: String,
    /// What the element means.
    #[serde(default)]
    pub definition: String,
    /// The value type.
    #[serde(rename = "type")]
    pub value_type: ValueType,
    /// A built-in format for string values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Unit of measure, e.g. `VND`, `m2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The code list values must come from (type `code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_list: Option<String>,
    /// Minimum length in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    /// Maximum length in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Smallest allowed number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Largest allowed number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// Example values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// Text that may span lines: line feeds and tabs are allowed (type `string` only). Other
    /// text is one line, as names and codes are.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multiline: bool,
    /// The earliest plausible date, written `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (date types only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// A date after the day the value is validated is refused (date types only): births,
    /// deaths and issue dates cannot lie in the future.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_in_future: bool,
    /// The value identifies a person directly (a citizen ID, a name, a phone number, an
    /// e-mail address, a street address): in a personal field it is never published as open
    /// data, however transformed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identifying: bool,
}

/// One entry of a code list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeEntry {
    /// The code as stored in records.
    pub code: String,
    /// Label in Vietnamese.
    pub label_vi: String,
    /// Label in English.
    #[serde(default)]
    pub label_en: String,
    /// Code of the parent entry (a ward's province), if the list is hierarchical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// A code list: versioned master data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeList {
    /// Stable identifier, e.g. `admin-ward-2025`.
    pub id: String,
    /// Version number, starting at 1; a new version replaces the entries.
    #[serde(default = "one")]
    pub version: u32,
    /// Name in Vietnamese.
    pub name_vi: String,
    /// Name in English.
    pub name_en: String,
    /// Where the list comes from (legal act, publisher).
    #[serde(default)]
    pub source: String,
    /// The entries; codes are unique.
    pub entries: Vec<CodeEntry>,
}

fn one() -> u32 {
    1
}

/// How sensitive a field is (decides who may ever receive it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sensitivity {
    /// May be published.
    Public,
    /// For government use.
    Internal,
    /// Personal data.
    Personal,
    /// Sensitive personal data (health, ethnicity, religion, …).
    SensitivePersonal,
}

/// How widely a dataset may be shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Openness {
    /// Open data, publishable.
    Open,
    /// Shared between agencies under agreements.
    Shared,
    /// Restricted to the owner and named parties.
    Restricted,
}

/// Sovereignty class of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Importance {
    /// Core data: never leaves its home jurisdiction.
    Core,
    /// Important data: leaves only with a transfer assessment.
    Important,
    /// Ordinary data.
    Ordinary,
}

/// One field of a dataset schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Field name as it appears in records (lowercase snake_case).
    pub name: String,
    /// The data element this field instantiates.
    pub element: String,
    /// Whether every record must carry it.
    #[serde(default)]
    pub required: bool,
    /// Classification of the field.
    pub sensitivity: Sensitivity,
    /// Released to a consumer only with the data subject's consent for the agreement.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub consent: bool,
    /// The code list version this field's values use (`ethnic-group@2`), for a coded element:
    /// the element's list at another version, or a list joined to it by a crosswalk. Filled
    /// on registration with the element's list at its latest version when absent, so that a
    /// later version of the list never re-reads stored values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_list: Option<CodeListRef>,
    /// Field-specific note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A rule across several fields of one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CrossRule {
    /// The citizen ID's century/sex digit and birth-year digits agree with the record.
    CitizenIdAgrees {
        /// Field holding the citizen ID.
        citizen_id: String,
        /// Field holding the date of birth (date or partial date).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        birth_date: Option<String>,
        /// Field holding the ISO/IEC 5218 sex code.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sex: Option<String>,
    },
    /// The ward belongs to the province (2025 administrative units).
    WardInProvince {
        /// Field holding the 2025 ward code.
        ward: String,
        /// Field holding the 2025 province code.
        province: String,
    },
    /// Plausibility, measured (never refuses a record): the age on the day the version is
    /// recorded lies between `min` and `max` years.
    AgeBetween {
        /// Field holding the date of birth (date or partial date).
        birth_date: String,
        /// Smallest plausible age in years.
        min: u32,
        /// Largest plausible age in years.
        max: u32,
    },
    /// Plausibility, measured: one date is not after another (a hiring after the birth).
    DateOrder {
        /// The date that comes first.
        earlier: String,
        /// The date that comes later (or the same day).
        later: String,
    },
    /// Across datasets, measured: the value is the key of a current record of `dataset`.
    ReferenceExists {
        /// Field holding the reference.
        field: String,
        /// The dataset it refers to.
        dataset: String,
    },
}

impl CrossRule {
    /// The rule's name as written (`citizen-id-agrees`, …).
    pub fn name(&self) -> &'static str {
        match self {
            CrossRule::CitizenIdAgrees { .. } => "citizen-id-agrees",
            CrossRule::WardInProvince { .. } => "ward-in-province",
            CrossRule::AgeBetween { .. } => "age-between",
            CrossRule::DateOrder { .. } => "date-order",
            CrossRule::ReferenceExists { .. } => "reference-exists",
        }
    }

    /// Whether the rule is measured by the quality model only, never refusing a record.
    pub fn is_measured(&self) -> bool {
        matches!(
            self,
            CrossRule::AgeBetween { .. }
                | CrossRule::DateOrder { .. }
                | CrossRule::ReferenceExists { .. }
        )
    }

    /// The fields the rule reads.
    pub fn fields(&self) -> Vec<&String> {
        match self {
            CrossRule::CitizenIdAgrees {
                citizen_id,
                birth_date,
                sex,
            } => std::iter::once(citizen_id)
                .chain(birth_date.iter())
                .chain(sex.iter())
                .collect(),
            CrossRule::WardInProvince { ward, province } => vec![ward, province],
            CrossRule::AgeBetween { birth_date, .. } => vec![birth_date],
            CrossRule::DateOrder { earlier, later } => vec![earlier, later],
            CrossRule::ReferenceExists { field, .. } => vec![field],
        }
    }
}

/// A schema version: `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SchemaVersion {
    /// Incremented by changes that could break a consumer.
    pub major: u32,
    /// Incremented by compatible changes.
    pub minor: u32,
}

impl std::fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A dataset's schema: what a conforming record looks like, and what the dataset is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSchema {
    /// Dataset identifier, lowercase kebab-case, e.g. `population`.
    pub dataset: String,
    /// Version, assigned by the dictionary on registration.
    #[serde(default = "first_version")]
    pub version: SchemaVersion,
    /// Title in Vietnamese.
    pub title_vi: String,
    /// Title in English.
    pub title_en: String,
    /// What the dataset holds.
    #[serde(default)]
    pub description: String,
    /// Code of the member that owns the dataset.
    pub owner: String,
    /// Whether this dataset is the original (authoritative) copy of its data.
    #[serde(default)]
    pub original: bool,
    /// Whether it is master data: the reference data other datasets take their values from
    /// (the strategy's "dữ liệu chủ").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub master: bool,
    /// How widely it may be shared.
    pub openness: Openness,
    /// Sovereignty class.
    pub importance: Importance,
    /// Key field names (one or more); key fields are always required.
    pub key: Vec<String>,
    /// The fields, in canonical order.
    pub fields: Vec<FieldDef>,
    /// Cross-field rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<CrossRule>,
    /// How often the dataset is expected to change: the measure of its freshness (*live*).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_frequency: Option<crate::quality::UpdateFrequency>,
}

fn first_version() -> SchemaVersion {
    SchemaVersion { major: 1, minor: 0 }
}

/// A problem with a dictionary definition (element, code list or schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct DefinitionError {
    /// Stable error code.
    pub code: &'static str,
    /// Where: a field name, rule index or entry code.
    pub path: String,
    /// Human message.
    pub message: String,
}

/// A definition fault at `path`.
pub(crate) fn def_err(
    code: &'static str,
    path: impl Into<String>,
    message: String,
) -> DefinitionError {
    DefinitionError {
        code,
        path: path.into(),
        message,
    }
}

/// Checks the characters of a definition's text with the rule record values follow
/// ([`crate::text::check_characters`]): names, titles and labels are one line; definitions and
/// descriptions may span lines. Empty text is for the caller to allow or refuse.
fn check_label(
    owner: &str,
    path: &str,
    value: &str,
    multiline: bool,
) -> Result<(), DefinitionError> {
    if value.is_empty() {
        return Ok(());
    }
    crate::text::check_characters(value, multiline).map_err(|fault| {
        def_err(
            fault.code(),
            path,
            format!("{owner}: {path} {}", fault.describe()),
        )
    })
}

/// Whether `s` is a valid identifier: 1–64 chars of `a-z`, `0-9`, `-`, starting with a letter.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `s` is a valid field name: 1–64 chars of `a-z`, `0-9`, `_`, starting with a letter.
pub fn is_field_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl DataElement {
    /// Checks the element is well formed on its own.
    pub fn check(&self) -> Result<(), DefinitionError> {
        if !is_identifier(&self.id) {
            return Err(def_err(
                "element-id-invalid",
                "id",
                format!(
                    "element id {:?} must be 1-64 lowercase letters, digits or '-'",
                    self.id
                ),
            ));
        }
        if self.name_vi.trim().is_empty() || self.name_en.trim().is_empty() {
            return Err(def_err(
                "element-name-missing",
                "name",
                format!(
                    "element {:?} needs a Vietnamese and an English name",
                    self.id
                ),
            ));
        }
        match (self.value_type, &self.code_list) {
            (ValueType::Code, None) => {
                return Err(def_err(
                    "element-code-list-missing",
                    "code_list",
                    format!("element {:?} has type code but names no code list", self.id),
                ));
            }
            (t, Some(_)) if t != ValueType::Code => {
                return Err(def_err(
                    "element-code-list-unexpected",
                    "code_list",
                    format!(
                        "element {:?} names a code list but has type {}",
                        self.id,
                        t.name()
                    ),
                ));
            }
            _ => {}
        }
        if self.format.is_some() && self.value_type != ValueType::String {
            return Err(def_err(
                "element-format-unexpected",
                "format",
                format!("element {:?}: a format applies only to strings", self.id),
            ));
        }
        if let (Some(a), Some(b)) = (self.min_length, self.max_length)
            && a > b
        {
            return Err(def_err(
                "element-length-range",
                "min_length",
                format!(
                    "element {:?}: min_length {a} exceeds max_length {b}",
                    self.id
                ),
            ));
        }
        if let (Some(a), Some(b)) = (self.minimum, self.maximum)
            && a > b
        {
            return Err(def_err(
                "element-range",
                "minimum",
                format!("element {:?}: minimum {a} exceeds maximum {b}", self.id),
            ));
        }
        let owner = format!("element {:?}", self.id);
        check_label(&owner, "name_vi", &self.name_vi, false)?;
        check_label(&owner, "name_en", &self.name_en, false)?;
        check_label(&owner, "definition", &self.definition, true)?;
        if self.multiline && self.value_type != ValueType::String {
            return Err(def_err(
                "element-multiline-unexpected",
                "multiline",
                format!("element {:?}: only strings may span lines", self.id),
            ));
        }
        let dated = matches!(
            self.value_type,
            ValueType::Date | ValueType::PartialDate | ValueType::DateTime
        );
        if (self.not_before.is_some() || self.not_in_future) && !dated {
            return Err(def_err(
                "element-date-bound-unexpected",
                if self.not_in_future {
                    "not_in_future"
                } else {
                    "not_before"
                },
                format!(
                    "element {:?}: date bounds apply only to dates, not to {}",
                    self.id,
                    self.value_type.name()
                ),
            ));
        }
        if let Some(b) = &self.not_before
            && let Err(e) = crate::formats::parse_partial_date(b)
        {
            return Err(def_err(
                "element-date-bound-invalid",
                "not_before",
                format!("element {:?}: not_before: {}", self.id, e.message),
            ));
        }
        Ok(())
    }
}

impl CodeList {
    /// Checks the list is well formed: valid id, non-empty, unique non-empty codes.
    pub fn check(&self) -> Result<(), DefinitionError> {
        if !is_identifier(&self.id) {
            return Err(def_err(
                "code-list-id-invalid",
                "id",
                format!(
                    "code list id {:?} must be 1-64 lowercase letters, digits or '-'",
                    self.id
                ),
            ));
        }
        if self.entries.is_empty() {
            return Err(def_err(
                "code-list-empty",
                "entries",
                format!("code list {:?} has no entries", self.id),
            ));
        }
        let owner = format!("code list {:?}", self.id);
        check_label(&owner, "name_vi", &self.name_vi, false)?;
        check_label(&owner, "name_en", &self.name_en, false)?;
        check_label(&owner, "source", &self.source, true)?;
        let mut seen = std::collections::HashSet::new();
        for e in &self.entries {
            check_label(&owner, &format!("{}.code", e.code), &e.code, false)?;
            check_label(&owner, &format!("{}.label_vi", e.code), &e.label_vi, false)?;
            check_label(&owner, &format!("{}.label_en", e.code), &e.label_en, false)?;
            if e.code.is_empty() || e.code.trim() != e.code {
                return Err(def_err(
                    "code-list-code-invalid",
                    e.code.clone(),
                    format!(
                        "code {:?} in list {:?} is empty or has surrounding spaces",
                        e.code, self.id
                    ),
                ));
            }
            if !seen.insert(e.code.as_str()) {
                return Err(def_err(
                    "code-list-duplicate-code",
                    e.code.clone(),
                    format!("code {:?} appears twice in list {:?}", e.code, self.id),
                ));
            }
        }
        Ok(())
    }
}

/// Looks up dictionary definitions while checking or compiling a schema.
pub trait DictionaryLookup {
    /// The element with this id.
    fn element(&self, id: &str) -> Option<DataElement>;
    /// The current version of this code list.
    fn code_list(&self, id: &str) -> Option<CodeList>;
    /// This version of a code list.
    fn code_list_version(&self, list: &CodeListRef) -> Option<CodeList>;
    /// The crosswalk registered from one list version to another (this direction only).
    fn crosswalk(&self, from: &CodeListRef, to: &CodeListRef) -> Option<Crosswalk>;
}

/// The code list version a field's values use: its pin, or else its element's list at the
/// latest version; `None` for a field that is not coded.
pub fn field_code_list(
    field: &FieldDef,
    element: &DataElement,
    dict: &dyn DictionaryLookup,
) -> Option<CodeListRef> {
    match (&field.code_list, &element.code_list) {
        (Some(pin), _) => Some(pin.clone()),
        (None, Some(id)) => dict
            .code_list(id)
            .map(|l| CodeListRef::new(&l.id, l.version)),
        (None, None) => None,
    }
}

/// A converter from one list version to another through a crosswalk registered in either
/// direction.
pub fn converter(
    dict: &dyn DictionaryLookup,
    from: &CodeListRef,
    to: &CodeListRef,
) -> Option<Converter> {
    if let Some(w) = dict.crosswalk(from, to) {
        return Some(Converter::new(&w, true));
    }
    dict.crosswalk(to, from).map(|w| Converter::new(&w, false))
}

impl DatasetSchema {
    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Checks the schema is well formed and every element it names exists.
    pub fn check(&self, dict: &dyn DictionaryLookup) -> Result<(), DefinitionError> {
        if !is_identifier(&self.dataset) {
            return Err(def_err(
                "dataset-id-invalid",
                "dataset",
                format!(
                    "dataset id {:?} must be 1-64 lowercase letters, digits or '-'",
                    self.dataset
                ),
            ));
        }
        let owner = format!("dataset {:?}", self.dataset);
        check_label(&owner, "title_vi", &self.title_vi, false)?;
        check_label(&owner, "title_en", &self.title_en, false)?;
        check_label(&owner, "description", &self.description, true)?;
        for f in &self.fields {
            check_label(
                &owner,
                &format!("{}.description", f.name),
                &f.description,
                true,
            )?;
        }
        if self.fields.is_empty() {
            return Err(def_err(
                "schema-no-fields",
                "fields",
                "a schema needs at least one field".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for f in &self.fields {
            if !is_field_name(&f.name) {
                return Err(def_err(
                    "field-name-invalid",
                    f.name.clone(),
                    format!(
                        "field name {:?} must be 1-64 lowercase letters, digits or '_'",
                        f.name
                    ),
                ));
            }
            if !names.insert(f.name.as_str()) {
                return Err(def_err(
                    "field-duplicate",
                    f.name.clone(),
                    format!("field {:?} is defined twice", f.name),
                ));
            }
            let Some(element) = dict.element(&f.element) else {
                return Err(def_err(
                    "element-unknown",
                    f.name.clone(),
                    format!(
                        "field {:?} uses unknown data element {:?}",
                        f.name, f.element
                    ),
                ));
            };
            if let Some(list) = &element.code_list
                && dict.code_list(list).is_none()
            {
                return Err(def_err(
                    "code-list-unknown",
                    f.name.clone(),
                    format!(
                        "field {:?}: element {:?} uses unknown code list {:?}",
                        f.name, element.id, list
                    ),
                ));
            }
            if let Some(pin) = &f.code_list {
                check_pin(f, pin, &element, dict)?;
            }
        }
        if self.key.is_empty() {
            return Err(def_err(
                "schema-no-key",
                "key",
                "a schema needs at least one key field".into(),
            ));
        }
        for k in &self.key {
            match self.field(k) {
                None => {
                    return Err(def_err(
                        "key-field-unknown",
                        k.clone(),
                        format!("key field {k:?} is not a field of the schema"),
                    ));
                }
                Some(f) if !f.required => {
                    return Err(def_err(
                        "key-field-optional",
                        k.clone(),
                        format!("key field {k:?} must be required"),
                    ));
                }
                Some(_) => {}
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            match rule {
                CrossRule::AgeBetween { min, max, .. } if min > max || *max > 150 => {
                    return Err(def_err(
                        "rule-invalid",
                        format!("rules[{i}]"),
                        format!("rule {i}: ages {min}..{max} are not a range within 0..150"),
                    ));
                }
                CrossRule::ReferenceExists { dataset, .. } if !is_identifier(dataset) => {
                    return Err(def_err(
                        "rule-invalid",
                        format!("rules[{i}]"),
                        format!("rule {i}: {dataset:?} is not a dataset id"),
                    ));
                }
                _ => {}
            }
            for n in rule.fields() {
                if self.field(n).is_none() {
                    return Err(def_err(
                        "rule-field-unknown",
                        format!("rules[{i}]"),
                        format!("rule {i} names unknown field {n:?}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A field's code list pin must name a list version that exists and is the element's list
/// (any version) or joined to one of its versions by a crosswalk.
fn check_pin(
    f: &FieldDef,
    pin: &CodeListRef,
    element: &DataElement,
    dict: &dyn DictionaryLookup,
) -> Result<(), DefinitionError> {
    let Some(own) = &element.code_list else {
        return Err(def_err(
            "code-list-not-applicable",
            format!("{}.code_list", f.name),
            format!(
                "field {:?}: element {:?} is not coded, so it names no code list",
                f.name, element.id
            ),
        ));
    };
    if dict.code_list_version(pin).is_none() {
        return Err(def_err(
            "code-list-unknown",
            format!("{}.code_list", f.name),
            format!("field {:?}: there is no code list {pin}", f.name),
        ));
    }
    if pin.id == *own {
        return Ok(());
    }
    let latest = dict.code_list(own).map_or(0, |l| l.version);
    let joined = (1..=latest).any(|v| {
        let r = CodeListRef::new(own, v);
        converter(dict, pin, &r).is_some()
    });
    if joined {
        Ok(())
    } else {
        Err(def_err(
            "code-list-not-applicable",
            format!("{}.code_list", f.name),
            format!(
                "field {:?}: {pin} is neither a version of {own:?} (the list of element {:?}) \
                 nor joined to it by a crosswalk",
                f.name, element.id
            ),
        ))
    }
}

/// How big a version step a schema change needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Evolution {
    /// Nothing that matters to a consumer changed.
    Unchanged,
    /// Compatible: a minor version.
    Minor(Vec<String>),
    /// Could break a consumer: a major version; each entry says why.
    Major(Vec<String>),
}

/// Compares two versions of a schema: which changes are compatible, which are breaking.
pub fn evolution(old: &DatasetSchema, new: &DatasetSchema) -> Evolution {
    let mut breaking = Vec::new();
    let mut compatible = Vec::new();
    if old.key != new.key {
        breaking.push(format!("key changed from {:?} to {:?}", old.key, new.key));
    }
    for f in &old.fields {
        match new.field(&f.name) {
            None => breaking.push(format!("field {:?} removed", f.name)),
            Some(n) => {
                if n.code_list != f.code_list {
                    breaking.push(format!(
                        "field {:?} changed code list from {} to {}: stored values would be \
                         read under another list",
                        f.name,
                        f.code_list
                            .as_ref()
                            .map_or("none".into(), ToString::to_string),
                        n.code_list
                            .as_ref()
                            .map_or("none".into(), ToString::to_string),
                    ));
                }
                if n.element != f.element {
                    breaking.push(format!(
                        "field {:?} changed element from {:?} to {:?}",
                        f.name, f.element, n.element
                    ));
                }
                if n.required != f.required {
                    breaking.push(format!(
                        "field {:?} changed from {} to {}",
                        f.name,
                        if f.required { "required" } else { "optional" },
                        if n.required { "required" } else { "optional" }
                    ));
                }
                if n.sensitivity != f.sensitivity {
                    compatible.push(format!(
                        "field {:?} reclassified from {:?} to {:?}",
                        f.name, f.sensitivity, n.sensitivity
                    ));
                }
                if n.consent != f.consent {
                    compatible.push(format!(
                        "field {:?} {} the data subject's consent",
                        f.name,
                        if n.consent {
                            "now needs"
                        } else {
                            "no longer needs"
                        }
                    ));
                }
                if n.description != f.description {
                    compatible.push(format!("field {:?} description changed", f.name));
                }
            }
        }
    }
    for n in &new.fields {
        if old.field(&n.name).is_none() {
            if n.required {
                breaking.push(format!("required field {:?} added", n.name));
            } else {
                compatible.push(format!("optional field {:?} added", n.name));
            }
        }
    }
    // A measured rule refuses nothing: adding one cannot break a provider.
    if new
        .rules
        .iter()
        .any(|r| !old.rules.contains(r) && !r.is_measured())
    {
        breaking.push("cross-field rule added or changed".into());
    }
    if new
        .rules
        .iter()
        .any(|r| !old.rules.contains(r) && r.is_measured())
    {
        compatible.push("measured rule added".into());
    }
    if old.update_frequency != new.update_frequency {
        compatible.push("update frequency changed".into());
    }
    if old.rules.iter().any(|r| !new.rules.contains(r)) {
        compatible.push("cross-field rule removed".into());
    }
    if old.owner != new.owner {
        breaking.push(format!(
            "owner changed from {:?} to {:?}",
            old.owner, new.owner
        ));
    }
    if old.openness != new.openness
        || old.importance != new.importance
        || old.original != new.original
        || old.master != new.master
    {
        compatible.push("dataset classification changed".into());
    }
    if old.title_vi != new.title_vi
        || old.title_en != new.title_en
        || old.description != new.description
    {
        compatible.push("titles or description changed".into());
    }
    let order_old: Vec<&str> = old.fields.iter().map(|f| f.name.as_str()).collect();
    let order_new: Vec<&str> = new
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| order_old.contains(n))
        .collect();
    if breaking.is_empty() && order_new != order_old {
        compatible.push("field order changed".into());
    }
    if !breaking.is_empty() {
        Evolution::Major(breaking)
    } else if !compatible.is_empty() {
        Evolution::Minor(compatible)
    } else {
        Evolution::Unchanged
    }
}

/// The entries of a flat list from (code, Vietnamese label, English label).
fn flat_entries(rows: &[(&str, &str, &str)]) -> Vec<CodeEntry> {
    rows.iter()
        .map(|(code, vi, en)| CodeEntry {
            code: (*code).into(),
            label_vi: (*vi).into(),
            label_en: (*en).into(),
            parent: None,
        })
        .collect()
}

/// The code lists every installation has, built from the embedded official reference data.
pub fn builtin_code_lists() -> Vec<CodeList> {
    let provinces = reference::provinces_2025()
        .iter()
        .map(|p| CodeEntry {
            code: p.code.clone(),
            label_vi: p.name.clone(),
            label_en: p.name_en.clone(),
            parent: None,
        })
        .collect();
    let wards = reference::wards_2025()
        .iter()
        .map(|w| CodeEntry {
            code: w.code.clone(),
            label_vi: w.name.clone(),
            label_en: crate::text::fold_diacritics(&w.name),
            parent: Some(w.province_code.clone()),
        })
        .collect();
    let legacy = reference::legacy_provinces()
        .iter()
        .map(|p| CodeEntry {
            code: p.cccd_prefix.clone(),
            label_vi: p.name.clone(),
            label_en: crate::text::fold_diacritics(&p.name),
            parent: Some(p.new_province_code.clone()),
        })
        .collect();
    let ethnic_entries = |groups: &[reference::EthnicGroup]| -> Vec<CodeEntry> {
        groups
            .iter()
            .map(|g| CodeEntry {
                code: g.code.clone(),
                label_vi: g.name.clone(),
                label_en: g.name_ascii.clone(),
                parent: None,
            })
            .collect()
    };
    let ethnic = ethnic_entries(reference::ethnic_groups());
    let ethnic_2008 = ethnic_entries(reference::ethnic_groups_2008());
    let legacy_provinces = reference::legacy_provinces()
        .iter()
        .map(|p| CodeEntry {
            code: p.code.clone(),
            label_vi: p.name.clone(),
            label_en: crate::text::fold_diacritics(&p.name),
            parent: None,
        })
        .collect();
    let mut legacy_wards: Vec<CodeEntry> = Vec::new();
    for c in reference::ward_conversions() {
        if legacy_wards
            .last()
            .is_some_and(|w| w.code == c.old_ward_code)
        {
            continue;
        }
        legacy_wards.push(CodeEntry {
            code: c.old_ward_code.clone(),
            label_vi: format!("{}, {}", c.old_ward_name, c.old_district_name),
            label_en: crate::text::fold_diacritics(&format!(
                "{}, {}",
                c.old_ward_name, c.old_district_name
            )),
            parent: Some(c.old_province_code.clone()),
        });
    }
    let sex = flat_entries(&[
        ("0", "Chưa xác định", "Not known"),
        ("1", "Nam", "Male"),
        ("2", "Nữ", "Female"),
        ("9", "Không áp dụng", "Not applicable"),
    ]);
    let gso = "General Statistics Office codes, administrative units in force since 1 July 2025";
    vec![
        CodeList {
            id: "admin-province-2025".into(),
            version: 1,
            name_vi: "Đơn vị hành chính cấp tỉnh (từ 01/7/2025)".into(),
            name_en: "Provinces (since 1 July 2025)".into(),
            source: gso.into(),
            entries: provinces,
        },
        CodeList {
            id: "admin-ward-2025".into(),
            version: 1,
            name_vi: "Đơn vị hành chính cấp xã (từ 01/7/2025)".into(),
            name_en: "Communes and wards (since 1 July 2025)".into(),
            source: gso.into(),
            entries: wards,
        },
        CodeList {
            id: "legacy-province-cccd".into(),
            version: 1,
            name_vi: "Mã tỉnh trên căn cước công dân (63 tỉnh trước 2025)".into(),
            name_en: "Citizen-ID province prefixes (63 provinces before 2025)".into(),
            source: "Circular 07/2016/TT-BCA; GSO province codes before 1 July 2025".into(),
            entries: legacy,
        },
        CodeList {
            id: "ethnic-group".into(),
            version: 1,
            name_vi: "Danh mục các dân tộc Việt Nam".into(),
            name_en: "Ethnic groups of Viet Nam".into(),
            source: "Decision 121-TCTK/PPCĐ of 2 March 1979".into(),
            entries: ethnic,
        },
        CodeList {
            id: "ethnic-group".into(),
            version: 2,
            name_vi: "Danh mục các dân tộc Việt Nam".into(),
            name_en: "Ethnic groups of Viet Nam".into(),
            source: "Decision 1019/QĐ-TCTK of 12 November 2008; the list QCVN 109:2017/BTTTT \
                     prescribes for citizen data exchanged with the national population database"
                .into(),
            entries: ethnic_2008,
        },
        CodeList {
            id: "admin-province-legacy".into(),
            version: 1,
            name_vi: "Đơn vị hành chính cấp tỉnh (trước 01/7/2025)".into(),
            name_en: "Provinces (until 30 June 2025)".into(),
            source: "General Statistics Office codes of the 63 provinces before 1 July 2025".into(),
            entries: legacy_provinces,
        },
        CodeList {
            id: "admin-ward-legacy".into(),
            version: 1,
            name_vi: "Đơn vị hành chính cấp xã (trước 01/7/2025)".into(),
            name_en: "Communes and wards (until 30 June 2025)".into(),
            source: "General Statistics Office codes of the commune-level units before 1 July \
                     2025, as the official conversion table lists them"
                .into(),
            entries: legacy_wards,
        },
        CodeList {
            id: "purpose".into(),
            version: 1,
            name_vi: "Mục đích khai thác, chia sẻ dữ liệu".into(),
            name_en: "Purposes of data sharing".into(),
            source: "ndx: the purposes a sharing agreement and each exchange request state".into(),
            entries: flat_entries(&[
                (
                    "public-service-delivery",
                    "Cung cấp dịch vụ công",
                    "Public service delivery",
                ),
                (
                    "administrative-procedure",
                    "Giải quyết thủ tục hành chính",
                    "Handling administrative procedures",
                ),
                (
                    "cross-checking",
                    "Đối soát, xác thực dữ liệu",
                    "Cross-checking and verification of registers",
                ),
                ("statistics", "Thống kê nhà nước", "Official statistics"),
                ("tax-administration", "Quản lý thuế", "Tax administration"),
                (
                    "social-insurance",
                    "Bảo hiểm xã hội, bảo hiểm y tế",
                    "Social and health insurance",
                ),
                (
                    "law-enforcement",
                    "Bảo đảm an ninh, trật tự",
                    "Security and law enforcement",
                ),
                (
                    "policy-planning",
                    "Xây dựng chính sách, quy hoạch",
                    "Policy making and planning",
                ),
                (
                    "scientific-research",
                    "Nghiên cứu khoa học",
                    "Scientific research",
                ),
                (
                    "emergency-response",
                    "Ứng phó tình huống khẩn cấp",
                    "Emergency response",
                ),
            ]),
        },
        CodeList {
            id: "licence".into(),
            version: 1,
            name_vi: "Giấy phép dữ liệu mở".into(),
            name_en: "Open data licences".into(),
            source: "ndx: the licences open data is published under (SPDX identifiers)".into(),
            entries: flat_entries(&[
                (
                    "cc-by-4.0",
                    "Creative Commons Ghi công 4.0",
                    "Creative Commons Attribution 4.0",
                ),
                (
                    "cc0-1.0",
                    "Creative Commons CC0 1.0 (từ bỏ quyền)",
                    "Creative Commons CC0 1.0 (public domain dedication)",
                ),
                (
                    "odc-by-1.0",
                    "Giấy phép Ghi công Open Data Commons 1.0",
                    "Open Data Commons Attribution License 1.0",
                ),
                (
                    "odbl-1.0",
                    "Giấy phép Cơ sở dữ liệu mở 1.0",
                    "Open Database License 1.0",
                ),
            ]),
        },
        CodeList {
            id: "data-theme".into(),
            version: 1,
            name_vi: "Chủ đề dữ liệu".into(),
            name_en: "Data themes".into(),
            source: "The DCAT-AP data themes (EU Publications Office, data-theme vocabulary)"
                .into(),
            entries: flat_entries(&[
                (
                    "AGRI",
                    "Nông nghiệp, thủy sản, lâm nghiệp và thực phẩm",
                    "Agriculture, fisheries, forestry and food",
                ),
                ("ECON", "Kinh tế và tài chính", "Economy and finance"),
                (
                    "EDUC",
                    "Giáo dục, văn hóa và thể thao",
                    "Education, culture and sport",
                ),
                ("ENER", "Năng lượng", "Energy"),
                ("ENVI", "Môi trường", "Environment"),
                (
                    "GOVE",
                    "Chính phủ và khu vực công",
                    "Government and public sector",
                ),
                ("HEAL", "Y tế", "Health"),
                ("INTR", "Vấn đề quốc tế", "International issues"),
                (
                    "JUST",
                    "Tư pháp, hệ thống pháp luật và an toàn công cộng",
                    "Justice, legal system and public safety",
                ),
                ("REGI", "Vùng và đô thị", "Regions and cities"),
                ("SOCI", "Dân số và xã hội", "Population and society"),
                ("TECH", "Khoa học và công nghệ", "Science and technology"),
                ("TRAN", "Giao thông vận tải", "Transport"),
            ]),
        },
        CodeList {
            id: "sex".into(),
            version: 1,
            name_vi: "Giới tính".into(),
            name_en: "Sex".into(),
            source: "ISO/IEC 5218".into(),
            entries: sex,
        },
    ]
}

fn element(
    id: &str,
    name_vi: &str,
    name_en: &str,
    definition: &str,
    value_type: ValueType,
) -> DataElement {
    DataElement {
        id: id.into(),
        name_vi: name_vi.into(),
        name_en: name_en.into(),
        definition: definition.into(),
        value_type,
        format: None,
        unit: None,
        code_list: None,
        min_length: None,
        max_length: None,
        minimum: None,
        maximum: None,
        examples: vec![],
        multiline: false,
        not_before: None,
        not_in_future: false,
        identifying: false,
    }
}

/// The data elements every installation has: the national standard elements.
pub fn builtin_elements() -> Vec<DataElement> {
    use ValueType::*;
    let with_format = |mut e: DataElement, f: Format, ex: &str| {
        e.format = Some(f);
        e.examples = vec![ex.into()];
        e
    };
    let with_list = |mut e: DataElement, list: &str, ex: &str| {
        e.code_list = Some(list.into());
        e.examples = vec![ex.into()];
        e
    };
    let with_len = |mut e: DataElement, max: u32| {
        e.min_length = Some(1);
        e.max_length = Some(max);
        e
    };
    vec![
        with_format(
            element(
                "citizen-id",
                "Số định danh cá nhân",
                "Citizen identity number",
                "12-digit personal identification number on the citizen identity card (CCCD)",
                String,
            ),
            Format::CitizenId,
            "001203012345",
        ),
        with_len(
            element(
                "full-name",
                "Họ, chữ đệm và tên",
                "Full name",
                "Family name, middle name(s) and given name as registered",
                String,
            ),
            200,
        ),
        with_list(
            element("sex", "Giới tính", "Sex", "Sex as ISO/IEC 5218 code", Code),
            "sex",
            "2",
        ),
        {
            let mut e = element(
                "date-of-birth",
                "Ngày, tháng, năm sinh",
                "Date of birth",
                "Date of birth; civil registers may hold only the year or year and month",
                PartialDate,
            );
            e.not_before = Some("1850".into());
            e.not_in_future = true;
            e
        },
        element("date", "Ngày", "Date", "A calendar date", Date),
        element(
            "date-time",
            "Thời điểm",
            "Timestamp",
            "An RFC 3339 timestamp",
            DateTime,
        ),
        with_list(
            element(
                "ethnic-group",
                "Dân tộc",
                "Ethnic group",
                "One of the 54 ethnic groups of Viet Nam",
                Code,
            ),
            "ethnic-group",
            "01",
        ),
        with_list(
            element(
                "province-code",
                "Mã tỉnh, thành phố",
                "Province code",
                "Province-level unit in force since 1 July 2025",
                Code,
            ),
            "admin-province-2025",
            "01",
        ),
        with_list(
            element(
                "ward-code",
                "Mã xã, phường, đặc khu",
                "Commune/ward code",
                "Commune-level unit in force since 1 July 2025",
                Code,
            ),
            "admin-ward-2025",
            "00004",
        ),
        {
            let mut e = with_len(
                element(
                    "street-address",
                    "Số nhà, đường phố, thôn xóm",
                    "Street address",
                    "House number, street, hamlet: the part of an address below the ward",
                    String,
                ),
                300,
            );
            e.multiline = true;
            e
        },
        with_len(
            element(
                "address-text",
                "Địa chỉ",
                "Address (free text)",
                "A full address as written, not yet normalised to administrative units",
                String,
            ),
            500,
        ),
        with_format(
            element(
                "mobile-phone",
                "Số điện thoại di động",
                "Mobile phone number",
                "Vietnamese mobile number in canonical form",
                String,
            ),
            Format::VnMobile,
            "0912345678",
        ),
        with_format(
            element(
                "phone-number",
                "Số điện thoại",
                "Phone number",
                "Vietnamese phone number, mobile or fixed line, in canonical form",
                String,
            ),
            Format::VnPhone,
            "02438253536",
        ),
        with_format(
            element(
                "email",
                "Thư điện tử",
                "E-mail address",
                "E-mail address",
                String,
            ),
            Format::Email,
            "an.nguyen@example.vn",
        ),
        with_format(
            element(
                "tax-code",
                "Mã số thuế",
                "Tax code",
                "Enterprise tax code: 10 digits with check digit, branches add -NNN",
                String,
            ),
            Format::TaxCode,
            "0100109106",
        ),
        with_len(
            element(
                "organisation-name",
                "Tên tổ chức",
                "Organisation name",
                "Registered name of an organisation or enterprise",
                String,
            ),
            300,
        ),
        with_len(
            element(
                "identifier",
                "Mã định danh",
                "Identifier",
                "A register's own identifier for a record",
                String,
            ),
            64,
        ),
        with_len(
            element(
                "short-text",
                "Văn bản ngắn",
                "Short text",
                "Free text up to 200 characters",
                String,
            ),
            200,
        ),
        element(
            "count",
            "Số lượng",
            "Count",
            "A whole number of items",
            Integer,
        ),
        element(
            "amount-vnd",
            "Số tiền",
            "Amount",
            "An amount of money in Vietnamese dong",
            Decimal,
        ),
        element("flag", "Cờ", "Flag", "Yes or no", Boolean),
    ]
    .into_iter()
    .map(|mut e| {
        if e.id == "amount-vnd" {
            e.unit = Some("VND".into());
        }
        if e.id == "count" {
            e.minimum = Some(0.0);
        }
        // What names, reaches or singles out a person by itself.
        e.identifying = matches!(
            e.id.as_str(),
            "citizen-id"
                | "full-name"
                | "street-address"
                | "address-text"
                | "mobile-phone"
                | "phone-number"
                | "email"
                | "tax-code"
        );
        e
    })
    .collect()
}

fn json_type(t: ValueType) -> &'static str {
    match t {
        ValueType::Integer => "integer",
        ValueType::Decimal => "number",
        ValueType::Boolean => "boolean",
        _ => "string",
    }
}

/// Code lists larger than this are exported by reference, not as an enumeration.
const MAX_EXPORTED_ENUM: usize = 5000;

/// Exports the schema as a JSON Schema (draft 2020-12) document for one record.
pub fn to_json_schema(schema: &DatasetSchema, dict: &dyn DictionaryLookup) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in &schema.fields {
        let mut p = Map::new();
        let el = dict.element(&f.element);
        if let Some(el) = &el {
            p.insert("title".into(), json!(el.name_en));
            p.insert(
                "description".into(),
                json!(if f.description.is_empty() {
                    el.definition.clone()
                } else {
                    f.description.clone()
                }),
            );
            p.insert("type".into(), json!(json_type(el.value_type)));
            match el.value_type {
                ValueType::Date => {
                    p.insert("format".into(), json!("date"));
                }
                ValueType::DateTime => {
                    p.insert("format".into(), json!("date-time"));
                }
                ValueType::PartialDate => {
                    p.insert(
                        "pattern".into(),
                        json!("^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$"),
                    );
                }
                _ => {}
            }
            if let Some(fmt) = el.format {
                if fmt == Format::Email {
                    p.insert("format".into(), json!("email"));
                }
                if let Some(pat) = fmt.pattern() {
                    p.insert("pattern".into(), json!(pat));
                }
            }
            if let Some(v) = el.min_length {
                p.insert("minLength".into(), json!(v));
            }
            if let Some(v) = el.max_length {
                p.insert("maxLength".into(), json!(v));
            }
            if let Some(v) = el.minimum {
                p.insert("minimum".into(), json!(v));
            }
            if let Some(v) = el.maximum {
                p.insert("maximum".into(), json!(v));
            }
            let pinned = field_code_list(f, el, dict);
            if let Some(list) = pinned.as_ref().and_then(|l| dict.code_list_version(l))
                && list.entries.len() <= MAX_EXPORTED_ENUM
            {
                p.insert(
                    "enum".into(),
                    json!(list.entries.iter().map(|e| &e.code).collect::<Vec<_>>()),
                );
            }
            p.insert("x-ndx-element".into(), json!(el.id));
            if let Some(l) = &pinned {
                p.insert("x-ndx-code-list".into(), json!(l.to_string()));
            }
            if let Some(fmt) = el.format {
                p.insert("x-ndx-format".into(), json!(fmt));
            }
        }
        p.insert("x-ndx-sensitivity".into(), json!(f.sensitivity));
        if f.consent {
            p.insert("x-ndx-consent".into(), json!(true));
        }
        if f.required {
            required.push(f.name.clone());
        }
        props.insert(f.name.clone(), Value::Object(p));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("urn:ndx:dataset:{}:{}", schema.dataset, schema.version),
        "title": schema.title_en,
        "description": schema.description,
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
        "x-ndx-key": schema.key,
        "x-ndx-owner": schema.owner,
        "x-ndx-original": schema.original,
        "x-ndx-master": schema.master,
        "x-ndx-openness": schema.openness,
        "x-ndx-importance": schema.importance,
        "x-ndx-version": schema.version.to_string(),
    })
}

/// Exports the schema as a Frictionless Table Schema descriptor.
pub fn to_table_schema(schema: &DatasetSchema, dict: &dyn DictionaryLookup) -> Value {
    let fields: Vec<Value> = schema
        .fields
        .iter()
        .map(|f| {
            let mut o = Map::new();
            o.insert("name".into(), json!(f.name));
            let mut constraints = Map::new();
            if f.required {
                constraints.insert("required".into(), json!(true));
            }
            if schema.key.len() == 1 && schema.key[0] == f.name {
                constraints.insert("unique".into(), json!(true));
            }
            if let Some(el) = dict.element(&f.element) {
                o.insert("title".into(), json!(el.name_en));
                o.insert(
                    "description".into(),
                    json!(if f.description.is_empty() {
                        el.definition.clone()
                    } else {
                        f.description.clone()
                    }),
                );
                let (ty, format) = match el.value_type {
                    ValueType::String | ValueType::Code => (
                        "string",
                        (el.format == Some(Format::Email)).then_some("email"),
                    ),
                    ValueType::Integer => ("integer", None),
                    ValueType::Decimal => ("number", None),
                    ValueType::Boolean => ("boolean", None),
                    ValueType::Date => ("date", None),
                    ValueType::DateTime => ("datetime", None),
                    ValueType::PartialDate => ("string", None),
                };
                o.insert("type".into(), json!(ty));
                if let Some(fm) = format {
                    o.insert("format".into(), json!(fm));
                }
                if let Some(p) = el.format.and_then(Format::pattern) {
                    constraints.insert("pattern".into(), json!(p));
                }
                if el.value_type == ValueType::PartialDate {
                    constraints.insert(
                        "pattern".into(),
                        json!("[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?"),
                    );
                }
                if let Some(v) = el.min_length {
                    constraints.insert("minLength".into(), json!(v));
                }
                if let Some(v) = el.max_length {
                    constraints.insert("maxLength".into(), json!(v));
                }
                if let Some(v) = el.minimum {
                    constraints.insert("minimum".into(), json!(v));
                }
                if let Some(v) = el.maximum {
                    constraints.insert("maximum".into(), json!(v));
                }
                if let Some(list) =
                    field_code_list(f, &el, dict).and_then(|l| dict.code_list_version(&l))
                    && list.entries.len() <= MAX_EXPORTED_ENUM
                {
                    constraints.insert(
                        "enum".into(),
                        json!(list.entries.iter().map(|e| &e.code).collect::<Vec<_>>()),
                    );
                }
            }
            if !constraints.is_empty() {
                o.insert("constraints".into(), Value::Object(constraints));
            }
            Value::Object(o)
        })
        .collect();
    json!({
        "fields": fields,
        "primaryKey": schema.key,
        "missingValues": [""],
    })
}

/// A dictionary held in memory: the built-ins plus whatever is added. Used by tests and tools
/// that validate without a store.
#[derive(Debug, Clone, Default)]
pub struct MemoryDictionary {
    /// Elements by id.
    pub elements: std::collections::HashMap<String, DataElement>,
    /// Code lists by id (the latest version of each).
    pub code_lists: std::collections::HashMap<String, CodeList>,
    /// Earlier versions of code lists.
    pub earlier_code_lists: Vec<CodeList>,
    /// Crosswalks between code list versions.
    pub crosswalks: Vec<Crosswalk>,
}

impl MemoryDictionary {
    /// The national built-in elements, code lists and crosswalks.
    pub fn builtin() -> Self {
        let mut d = MemoryDictionary {
            elements: builtin_elements()
                .into_iter()
                .map(|e| (e.id.clone(), e))
                .collect(),
            crosswalks: crate::codes::builtin_crosswalks(),
            ..MemoryDictionary::default()
        };
        // Built-in lists come in ascending versions: each later one pushes the earlier down.
        for l in builtin_code_lists() {
            if let Some(earlier) = d.code_lists.insert(l.id.clone(), l) {
                d.earlier_code_lists.push(earlier);
            }
        }
        d
    }
}

impl DictionaryLookup for MemoryDictionary {
    fn element(&self, id: &str) -> Option<DataElement> {
        self.elements.get(id).cloned()
    }
    fn code_list(&self, id: &str) -> Option<CodeList> {
        self.code_lists.get(id).cloned()
    }
    fn code_list_version(&self, list: &CodeListRef) -> Option<CodeList> {
        self.code_lists
            .get(&list.id)
            .into_iter()
            .chain(&self.earlier_code_lists)
            .find(|l| l.id == list.id && l.version == list.version)
            .cloned()
    }
    fn crosswalk(&self, from: &CodeListRef, to: &CodeListRef) -> Option<Crosswalk> {
        self.crosswalks
            .iter()
            .find(|w| w.from == *from && w.to == *to)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: &[(&str, &str, bool)]) -> DatasetSchema {
        DatasetSchema {
            dataset: "people".into(),
            version: first_version(),
            title_vi: "Người".into(),
            title_en: "People".into(),
            description: String::new(),
            owner: "BCA".into(),
            original: true,
            master: false,
            openness: Openness::Restricted,
            importance: Importance::Core,
            key: vec!["citizen_id".into()],
            fields: fields
                .iter()
                .map(|(n, e, r)| FieldDef {
                    name: (*n).into(),
                    element: (*e).into(),
                    required: *r,
                    sensitivity: Sensitivity::Personal,
                    consent: false,
                    code_list: None,
                    description: String::new(),
                })
                .collect(),
            rules: vec![],
            update_frequency: None,
        }
    }

    fn base() -> DatasetSchema {
        schema(&[
            ("citizen_id", "citizen-id", true),
            ("full_name", "full-name", true),
        ])
    }

    #[test]
    fn evolution_rules() {
        assert_eq!(evolution(&base(), &base()), Evolution::Unchanged);
        let added_optional = schema(&[
            ("citizen_id", "citizen-id", true),
            ("full_name", "full-name", true),
            ("email", "email", false),
        ]);
        assert!(matches!(
            evolution(&base(), &added_optional),
            Evolution::Minor(_)
        ));
        let added_required = schema(&[
            ("citizen_id", "citizen-id", true),
            ("full_name", "full-name", true),
            ("email", "email", true),
        ]);
        assert!(matches!(
            evolution(&base(), &added_required),
            Evolution::Major(_)
        ));
        let removed = schema(&[("citizen_id", "citizen-id", true)]);
        let Evolution::Major(why) = evolution(&base(), &removed) else {
            panic!("removal must be major");
        };
        assert_eq!(why, vec!["field \"full_name\" removed".to_string()]);
        let retyped = schema(&[
            ("citizen_id", "citizen-id", true),
            ("full_name", "short-text", true),
        ]);
        assert!(matches!(evolution(&base(), &retyped), Evolution::Major(_)));
        let relaxed = schema(&[
            ("citizen_id", "citizen-id", true),
            ("full_name", "full-name", false),
        ]);
        assert!(matches!(evolution(&base(), &relaxed), Evolution::Major(_)));
        let mut retitled = base();
        retitled.title_en = "Residents".into();
        assert!(matches!(evolution(&base(), &retitled), Evolution::Minor(_)));
    }

    #[test]
    fn schema_checks() {
        let dict = MemoryDictionary::builtin();
        assert_eq!(base().check(&dict), Ok(()));
        let mut s = base();
        s.key = vec!["email".into()];
        assert_eq!(s.check(&dict).unwrap_err().code, "key-field-unknown");
        let mut s = base();
        s.fields[1].element = "nope".into();
        assert_eq!(s.check(&dict).unwrap_err().code, "element-unknown");
        let mut s = base();
        s.fields.push(s.fields[1].clone());
        assert_eq!(s.check(&dict).unwrap_err().code, "field-duplicate");
        let mut s = base();
        s.dataset = "People!".into();
        assert_eq!(s.check(&dict).unwrap_err().code, "dataset-id-invalid");
        let mut s = base();
        s.fields[0].required = false;
        assert_eq!(s.check(&dict).unwrap_err().code, "key-field-optional");
    }

    #[test]
    fn exports() {
        let dict = MemoryDictionary::builtin();
        let mut s = base();
        s.fields.push(FieldDef {
            name: "sex".into(),
            element: "sex".into(),
            required: false,
            sensitivity: Sensitivity::Personal,
            consent: false,
            code_list: None,
            description: String::new(),
        });
        let js = to_json_schema(&s, &dict);
        assert_eq!(
            js["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(js["required"], json!(["citizen_id", "full_name"]));
        assert_eq!(js["additionalProperties"], json!(false));
        assert_eq!(js["properties"]["citizen_id"]["pattern"], "^[0-9]{12}$");
        assert_eq!(js["properties"]["sex"]["enum"], json!(["0", "1", "2", "9"]));
        let ts = to_table_schema(&s, &dict);
        assert_eq!(ts["primaryKey"], json!(["citizen_id"]));
        assert_eq!(ts["fields"][0]["constraints"]["unique"], json!(true));
        assert_eq!(
            ts["fields"][2]["constraints"]["enum"],
            json!(["0", "1", "2", "9"])
        );
    }

    #[test]
    fn builtin_code_lists_are_complete() {
        let lists = builtin_code_lists();
        let count = |id: &str| lists.iter().find(|l| l.id == id).map(|l| l.entries.len());
        assert_eq!(count("admin-province-2025"), Some(34));
        assert_eq!(count("admin-ward-2025"), Some(3321));
        assert_eq!(count("legacy-province-cccd"), Some(63));
        assert_eq!(count("ethnic-group"), Some(54));
        assert_eq!(count("purpose"), Some(10));
        for l in &lists {
            assert_eq!(l.check(), Ok(()), "{}", l.id);
        }
        for e in builtin_elements() {
            assert_eq!(e.check(), Ok(()), "{}", e.id);
        }
    }
}
