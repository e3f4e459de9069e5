//! The JSON wire types of the registry and the dictionary: what a request body holds and what
//! an answer says, each a named schema in the OpenAPI document. They mirror the domain types of
//! `ndx-types` today and convert from and to them, so the wire can change (a renamed field, a
//! new representation) without touching the core, and a change of a domain type cannot change
//! the API without a change here (the committed OpenAPI document catches it).

use chrono::{DateTime, Utc};
use ndx_types::dictionary as d;
use ndx_types::registry as r;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An enum of the wire, kebab-case, with its conversions both ways.
macro_rules! wire_enum {
    ($(#[doc = $doc:literal])* $wire:ident <=> $domain:path { $( $(#[doc = $vdoc:literal])* $v:ident ),* $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "kebab-case")]
        pub enum $wire { $( $(#[doc = $vdoc])* $v, )* }
        impl From<$domain> for $wire {
            fn from(x: $domain) -> Self { match x { $( <$domain>::$v => $wire::$v, )* } }
        }
        impl From<$wire> for $domain {
            fn from(x: $wire) -> Self { match x { $( $wire::$v => <$domain>::$v, )* } }
        }
    };
}

wire_enum! {
    /// The level of a member agency.
    MemberLevel <=> r::MemberLevel {
        /// A ministry or central agency.
        Central,
        /// A province.
        Province,
        /// A commune.
        Commune,
        /// An enterprise.
        Enterprise,
        /// A foreign partner.
        Foreign,
    }
}

wire_enum! {
    /// A role an API key grants.
    Role <=> r::Role {
        /// Administers the registry.
        Operator,
        /// Keeps the data dictionary.
        Steward,
        /// Loads its member's datasets.
        Provider,
        /// Reads through the exchange.
        Consumer,
        /// Reads the audit log.
        Auditor,
    }
}

wire_enum! {
    /// The value type of a data element.
    ValueType <=> d::ValueType {
        /// Text.
        String,
        /// A whole number.
        Integer,
        /// A decimal number.
        Decimal,
        /// True or false.
        Boolean,
        /// An ISO 8601 date.
        Date,
        /// A date of which the day or month may be unknown.
        PartialDate,
        /// An RFC 3339 time.
        DateTime,
        /// A code of a code list.
        Code,
    }
}

wire_enum! {
    /// A checked format of a string element.
    Format <=> d::Format {
        /// A 12-digit citizen ID.
        CitizenId,
        /// An enterprise tax code.
        TaxCode,
        /// A Vietnamese mobile number.
        VnMobile,
        /// A Vietnamese phone number.
        VnPhone,
        /// An e-mail address.
        Email,
    }
}

wire_enum! {
    /// How sensitive a field is.
    Sensitivity <=> d::Sensitivity {
        /// Public.
        Public,
        /// Internal to the administration.
        Internal,
        /// Personal data.
        Personal,
        /// Sensitive personal data.
        SensitivePersonal,
    }
}

wire_enum! {
    /// How open a dataset is.
    Openness <=> d::Openness {
        /// Open data.
        Open,
        /// Shared between agencies.
        Shared,
        /// Restricted.
        Restricted,
    }
}

wire_enum! {
    /// How important a dataset is.
    Importance <=> d::Importance {
        /// A core (national) dataset.
        Core,
        /// An important dataset.
        Important,
        /// An ordinary dataset.
        Ordinary,
    }
}

/// Where a member sits.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Jurisdiction {
    /// ISO 3166-1 alpha-2 country code.
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: String,
    /// 2025 province code (Vietnamese members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
}

impl From<r::Jurisdiction> for Jurisdiction {
    fn from(j: r::Jurisdiction) -> Self {
        Jurisdiction {
            country: j.country,
            province: j.province,
        }
    }
}

impl From<Jurisdiction> for r::Jurisdiction {
    fn from(j: Jurisdiction) -> Self {
        r::Jurisdiction {
            country: j.country,
            province: j.province,
        }
    }
}

/// A member agency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    /// Code: uppercase letters, digits, `-`.
    pub code: String,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Level.
    pub level: MemberLevel,
    /// Jurisdiction.
    pub jurisdiction: Jurisdiction,
    /// When it was admitted.
    pub created_at: DateTime<Utc>,
}

impl From<r::Member> for Member {
    fn from(m: r::Member) -> Self {
        Member {
            code: m.code,
            name_vi: m.name_vi,
            name_en: m.name_en,
            level: m.level.into(),
            jurisdiction: m.jurisdiction.into(),
            created_at: m.created_at,
        }
    }
}

/// An information system of a member.
#[derive(Debug, Serialize, ToSchema)]
pub struct System {
    /// Code, unique platform-wide.
    pub code: String,
    /// Owning member.
    pub member: String,
    /// Human name.
    pub name: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

impl From<r::System> for System {
    fn from(s: r::System) -> Self {
        System {
            code: s.code,
            member: s.member,
            name: s.name,
            created_at: s.created_at,
        }
    }
}

/// An API key's metadata (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    /// Key id.
    pub id: String,
    /// The system it belongs to.
    pub system: String,
    /// Roles it grants.
    pub roles: Vec<Role>,
    /// Label for people.
    pub label: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it expires, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<r::ApiKey> for ApiKey {
    fn from(k: r::ApiKey) -> Self {
        ApiKey {
            id: k.id,
            system: k.system,
            roles: k.roles.into_iter().map(Role::from).collect(),
            label: k.label,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A data element: one kind of value, defined once and used by many datasets.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataElement {
    /// Identifier: lowercase letters, digits, `-`.
    #[schema(pattern = "^[a-z][a-z0-9-]{0,63}$")]
    pub id: String,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Definition.
    #[serde(default)]
    pub definition: String,
    /// Value type.
    #[serde(rename = "type")]
    pub value_type: ValueType,
    /// Checked format of a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Unit of a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Code list of a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_list: Option<String>,
    /// Shortest length of a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    /// Longest length of a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Smallest number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Largest number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// Example values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// Text that may span lines (line feeds and tabs allowed; strings only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multiline: bool,
    /// Earliest plausible date, `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (date types only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "1850")]
    pub not_before: Option<String>,
    /// Dates after the day of validation are refused (date types only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_in_future: bool,
    /// The value identifies a person directly (citizen ID, name, phone, e-mail, street
    /// address): in a personal field it is never published as open data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identifying: bool,
}

impl From<d::DataElement> for DataElement {
    fn from(e: d::DataElement) -> Self {
        DataElement {
            id: e.id,
            name_vi: e.name_vi,
            name_en: e.name_en,
            definition: e.definition,
            value_type: e.value_type.into(),
            format: e.format.map(Format::from),
            unit: e.unit,
            code_list: e.code_list,
            min_length: e.min_length,
            max_length: e.max_length,
            minimum: e.minimum,
            maximum: e.maximum,
            examples: e.examples,
            multiline: e.multiline,
            not_before: e.not_before,
            not_in_future: e.not_in_future,
            identifying: e.identifying,
        }
    }
}

impl From<DataElement> for d::DataElement {
    fn from(e: DataElement) -> Self {
        d::DataElement {
            id: e.id,
            name_vi: e.name_vi,
            name_en: e.name_en,
            definition: e.definition,
            value_type: e.value_type.into(),
            format: e.format.map(d::Format::from),
            unit: e.unit,
            code_list: e.code_list,
            min_length: e.min_length,
            max_length: e.max_length,
            minimum: e.minimum,
            maximum: e.maximum,
            examples: e.examples,
            multiline: e.multiline,
            not_before: e.not_before,
            not_in_future: e.not_in_future,
            identifying: e.identifying,
        }
    }
}

/// One entry of a code list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeEntry {
    /// The code.
    pub code: String,
    /// Vietnamese label.
    pub label_vi: String,
    /// English label.
    #[serde(default)]
    pub label_en: String,
    /// The parent entry's code, in a hierarchy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// A versioned list of codes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeList {
    /// Identifier.
    pub id: String,
    /// Version, assigned by the server (ignored in a request).
    #[serde(default = "one")]
    #[schema(minimum = 1)]
    pub version: u32,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Where the codes come from.
    #[serde(default)]
    pub source: String,
    /// The entries.
    pub entries: Vec<CodeEntry>,
}

fn one() -> u32 {
    1
}

/// One pair of a crosswalk: a code of the source list and the code of the target list that
/// stands for it (or for part of it, when a code has several pairs).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodePair {
    /// Code in the source list.
    pub from: String,
    /// Code in the target list.
    pub to: String,
}

/// A crosswalk between two code list versions (usable both ways).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Crosswalk {
    /// The source list version, `id@version`.
    #[schema(value_type = String, example = "ethnic-group@1")]
    pub from: ndx_types::codes::CodeListRef,
    /// The target list version, `id@version`.
    #[schema(value_type = String, example = "ethnic-group@2")]
    pub to: ndx_types::codes::CodeListRef,
    /// Where the correspondence comes from.
    #[serde(default)]
    pub source: String,
    /// The pairs.
    pub pairs: Vec<CodePair>,
}

impl From<ndx_types::codes::Crosswalk> for Crosswalk {
    fn from(w: ndx_types::codes::Crosswalk) -> Self {
        Crosswalk {
            from: w.from,
            to: w.to,
            source: w.source,
            pairs: w
                .pairs
                .into_iter()
                .map(|p| CodePair {
                    from: p.from,
                    to: p.to,
                })
                .collect(),
        }
    }
}

impl From<Crosswalk> for ndx_types::codes::Crosswalk {
    fn from(w: Crosswalk) -> Self {
        ndx_types::codes::Crosswalk {
            from: w.from,
            to: w.to,
            source: w.source,
            pairs: w
                .pairs
                .into_iter()
                .map(|p| ndx_types::codes::CodePair {
                    from: p.from,
                    to: p.to,
                })
                .collect(),
        }
    }
}

impl From<d::CodeList> for CodeList {
    fn from(l: d::CodeList) -> Self {
        CodeList {
            id: l.id,
            version: l.version,
            name_vi: l.name_vi,
            name_en: l.name_en,
            source: l.source,
            entries: l
                .entries
                .into_iter()
                .map(|e| CodeEntry {
                    code: e.code,
                    label_vi: e.label_vi,
                    label_en: e.label_en,
                    parent: e.parent,
                })
                .collect(),
        }
    }
}

impl From<CodeList> for d::CodeList {
    fn from(l: CodeList) -> Self {
        d::CodeList {
            id: l.id,
            version: l.version,
            name_vi: l.name_vi,
            name_en: l.name_en,
            source: l.source,
            entries: l
                .entries
                .into_iter()
                .map(|e| d::CodeEntry {
                    code: e.code,
                    label_vi: e.label_vi,
                    label_en: e.label_en,
                    parent: e.parent,
                })
                .collect(),
        }
    }
}

/// A field of a dataset schema.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Field name: lowercase letters, digits, `_`.
    pub name: String,
    /// The data element it holds.
    pub element: String,
    /// Whether a record must have it.
    #[serde(default)]
    pub required: bool,
    /// How sensitive it is.
    pub sensitivity: Sensitivity,
    /// Released to a consumer only with the data subject's consent for the agreement.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub consent: bool,
    /// The code list version the values use, `id@version` (coded elements only); filled on
    /// registration with the element's list at its latest version when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[a-z][a-z0-9-]{0,63}@[1-9][0-9]*$", example = "ethnic-group@2")]
    pub code_list: Option<ndx_types::codes::CodeListRef>,
    /// Description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A rule across fields of a record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "rule", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CrossRule {
    /// The citizen ID's century/sex digit and year agree with the birth date and sex.
    CitizenIdAgrees {
        /// The citizen ID field.
        citizen_id: String,
        /// The birth date field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        birth_date: Option<String>,
        /// The sex field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sex: Option<String>,
    },
    /// The ward lies in the province.
    WardInProvince {
        /// The ward field.
        ward: String,
        /// The province field.
        province: String,
    },
    /// Measured by the quality model (never refuses a record): the age on the day the
    /// version is recorded lies between `min` and `max` years.
    AgeBetween {
        /// The birth date field.
        birth_date: String,
        /// Smallest plausible age.
        #[schema(maximum = 150)]
        min: u32,
        /// Largest plausible age.
        #[schema(maximum = 150)]
        max: u32,
    },
    /// Measured: one date is not after another.
    DateOrder {
        /// The date that comes first.
        earlier: String,
        /// The date that comes later (or the same day).
        later: String,
    },
    /// Measured: the value is the key of a current record of another dataset.
    ReferenceExists {
        /// The field holding the reference.
        field: String,
        /// The dataset it refers to.
        dataset: String,
    },
}

impl From<d::CrossRule> for CrossRule {
    fn from(r: d::CrossRule) -> Self {
        match r {
            d::CrossRule::CitizenIdAgrees {
                citizen_id,
                birth_date,
                sex,
            } => CrossRule::CitizenIdAgrees {
                citizen_id,
                birth_date,
                sex,
            },
            d::CrossRule::WardInProvince { ward, province } => {
                CrossRule::WardInProvince { ward, province }
            }
            d::CrossRule::AgeBetween {
                birth_date,
                min,
                max,
            } => CrossRule::AgeBetween {
                birth_date,
                min,
                max,
            },
            d::CrossRule::DateOrder { earlier, later } => CrossRule::DateOrder { earlier, later },
            d::CrossRule::ReferenceExists { field, dataset } => {
                CrossRule::ReferenceExists { field, dataset }
            }
        }
    }
}

impl From<CrossRule> for d::CrossRule {
    fn from(r: CrossRule) -> Self {
        match r {
            CrossRule::CitizenIdAgrees {
                citizen_id,
                birth_date,
                sex,
            } => d::CrossRule::CitizenIdAgrees {
                citizen_id,
                birth_date,
                sex,
            },
            CrossRule::WardInProvince { ward, province } => {
                d::CrossRule::WardInProvince { ward, province }
            }
            CrossRule::AgeBetween {
                birth_date,
                min,
                max,
            } => d::CrossRule::AgeBetween {
                birth_date,
                min,
                max,
            },
            CrossRule::DateOrder { earlier, later } => d::CrossRule::DateOrder { earlier, later },
            CrossRule::ReferenceExists { field, dataset } => {
                d::CrossRule::ReferenceExists { field, dataset }
            }
        }
    }
}

/// A schema version, `MAJOR.MINOR`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaVersion {
    /// Incremented by a breaking change.
    pub major: u32,
    /// Incremented by a compatible change.
    pub minor: u32,
}

fn first_version() -> SchemaVersion {
    SchemaVersion { major: 1, minor: 0 }
}

/// A dataset schema: the data-message standard of one dataset.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetSchema {
    /// Dataset id: lowercase letters, digits, `-`.
    pub dataset: String,
    /// Version, assigned by the server.
    #[serde(default = "first_version")]
    pub version: SchemaVersion,
    /// Vietnamese title.
    pub title_vi: String,
    /// English title.
    pub title_en: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Owning member.
    pub owner: String,
    /// Whether the owner is the original source of the data.
    #[serde(default)]
    pub original: bool,
    /// Whether it is master data: the reference other datasets take their values from.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub master: bool,
    /// How open it is.
    pub openness: Openness,
    /// How important it is.
    pub importance: Importance,
    /// The key fields.
    pub key: Vec<String>,
    /// The fields, in order.
    pub fields: Vec<FieldDef>,
    /// Rules across fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<CrossRule>,
    /// How often the dataset is expected to change: `daily`, `weekly`, `monthly`, `quarterly`
    /// or `yearly` (the measure of its freshness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(daily|weekly|monthly|quarterly|yearly)$")]
    pub update_frequency: Option<ndx_types::quality::UpdateFrequency>,
}

impl From<d::DatasetSchema> for DatasetSchema {
    fn from(s: d::DatasetSchema) -> Self {
        DatasetSchema {
            dataset: s.dataset,
            version: SchemaVersion {
                major: s.version.major,
                minor: s.version.minor,
            },
            title_vi: s.title_vi,
            title_en: s.title_en,
            description: s.description,
            owner: s.owner,
            original: s.original,
            master: s.master,
            openness: s.openness.into(),
            importance: s.importance.into(),
            key: s.key,
            fields: s
                .fields
                .into_iter()
                .map(|f| FieldDef {
                    name: f.name,
                    element: f.element,
                    required: f.required,
                    sensitivity: f.sensitivity.into(),
                    consent: f.consent,
                    code_list: f.code_list,
                    description: f.description,
                })
                .collect(),
            rules: s.rules.into_iter().map(CrossRule::from).collect(),
            update_frequency: s.update_frequency,
        }
    }
}

impl From<DatasetSchema> for d::DatasetSchema {
    fn from(s: DatasetSchema) -> Self {
        d::DatasetSchema {
            dataset: s.dataset,
            version: d::SchemaVersion {
                major: s.version.major,
                minor: s.version.minor,
            },
            title_vi: s.title_vi,
            title_en: s.title_en,
            description: s.description,
            owner: s.owner,
            original: s.original,
            master: s.master,
            openness: s.openness.into(),
            importance: s.importance.into(),
            key: s.key,
            fields: s
                .fields
                .into_iter()
                .map(|f| d::FieldDef {
                    name: f.name,
                    element: f.element,
                    required: f.required,
                    sensitivity: f.sensitivity.into(),
                    consent: f.consent,
                    code_list: f.code_list,
                    description: f.description,
                })
                .collect(),
            rules: s.rules.into_iter().map(d::CrossRule::from).collect(),
            update_frequency: s.update_frequency,
        }
    }
}

/// The outcome of registering a schema.
#[derive(Debug, Serialize, ToSchema)]
pub struct SchemaChange {
    /// The schema now current.
    pub schema: DatasetSchema,
    /// Whether a new version was stored (false when nothing changed).
    pub created: bool,
    /// What changed.
    pub changes: Vec<String>,
}

impl From<ndx_core::dictionary::SchemaChange> for SchemaChange {
    fn from(c: ndx_core::dictionary::SchemaChange) -> Self {
        SchemaChange {
            schema: c.schema.into(),
            created: c.created,
            changes: c.changes,
        }
    }
}

/// The whole dictionary as one document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dictionary {
    /// Every data element.
    pub elements: Vec<DataElement>,
    /// Every code list (latest version).
    pub code_lists: Vec<CodeList>,
    /// Every dataset schema (latest version).
    pub datasets: Vec<DatasetSchema>,
}

impl From<ndx_core::dictionary::DictionaryExport> for Dictionary {
    fn from(x: ndx_core::dictionary::DictionaryExport) -> Self {
        Dictionary {
            elements: x.elements.into_iter().map(DataElement::from).collect(),
            code_lists: x.code_lists.into_iter().map(CodeList::from).collect(),
            datasets: x.datasets.into_iter().map(DatasetSchema::from).collect(),
        }
    }
}

/// A JSON object whose members the OpenAPI document does not list (their names come from a
/// dataset schema or another standard): a named schema of `type: object`.
macro_rules! open_object {
    ($(#[doc = $doc:literal])* $name:ident) => {
        $(#[doc = $doc])*
        #[derive(Debug, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub serde_json::Value);

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Object)
                    .description(Some(concat!($($doc),*).trim()))
                    .additional_properties(Some(
                        utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
                    ))
                    .into()
            }
        }

        impl ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

open_object! {
    /// A schema export: the native schema, a JSON Schema 2020-12 document or a Frictionless
    /// Table Schema, as `format` asked; each is a JSON object of its own standard.
    SchemaDocument
}

open_object! {
    /// A record's fields, typed by the dataset schema (an object keyed by field name).
    RecordData
}

open_object! {
    /// An audit event as stored: the RFC 8785 JSON of an `ndx-audit` event (the crate docs of
    /// `ndx-audit` are its specification).
    AuditEvent
}

open_object! {
    /// An OpenAPI 3.1 document.
    OpenApiDocument
}

wire_enum! {
    /// What an agreement lets a consumer do.
    Operation <=> ndx_types::exchange::Operation {
        /// Read one record by key.
        Lookup,
        /// Read pages of records matching filters.
        Search,
        /// Read the whole dataset as a stream.
        Extract,
        /// Follow the dataset's change feed.
        Subscribe,
    }
}

wire_enum! {
    /// Where an agreement stands (`expired`: approved, past its validity).
    AgreementStatus <=> ndx_types::exchange::AgreementStatus {
        /// Asked for, not yet decided.
        Requested,
        /// In force.
        Approved,
        /// Refused.
        Rejected,
        /// Paused.
        Suspended,
        /// Ended for good.
        Revoked,
        /// Past its validity.
        Expired,
    }
}
