//! Validation of one record against a dataset schema and the dictionary: type, format, code
//! list, length and range, required fields and cross-field rules. The output is the canonical
//! record: fields in schema order, typed JSON values, NFC text, absent optional fields omitted.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::codes::CodeListRef;
use crate::dictionary::{
    CrossRule, DataElement, DatasetSchema, DefinitionError, DictionaryLookup, Format, ValueType,
};
use crate::formats::{self, FormatError, Sex};
use crate::text::{TextFault, nfc};
use chrono::NaiveDate;

/// One value of an incoming record, before validation.
#[derive(Debug, Clone, Copy)]
pub enum RawValue<'a> {
    /// The field is not present (or an empty CSV cell, or JSON null).
    Absent,
    /// Text from a text format (CSV): parsed according to the element's type.
    Text(&'a str),
    /// A JSON value: its JSON type must match the element's type.
    Json(&'a Value),
}

/// Why one field of one record was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field (or the first field of a cross-field rule).
    pub field: String,
    /// Stable error code, e.g. `required`, `citizen-id-province`.
    pub code: String,
    /// Human message, naming the value.
    pub message: String,
}

impl FieldError {
    fn new(field: &str, code: &str, message: String) -> Self {
        FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message,
        }
    }
    fn from_format(field: &str, e: FormatError) -> Self {
        FieldError::new(field, e.code, format!("{field}: {}", e.message))
    }
}

/// A record that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRecord {
    /// The record key: the key field values joined with `|`.
    pub key: String,
    /// Canonical JSON object text.
    pub canonical: String,
}

/// A typed value after validation; text borrows the input when it is already NFC.
#[derive(Debug, Clone, PartialEq)]
enum Typed<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Num(f64),
    Bool(bool),
}

impl Typed<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Typed::Str(s) => Some(s),
            _ => None,
        }
    }
    fn write_json(&self, out: &mut String) {
        match self {
            Typed::Str(s) => write_json_string(out, s),
            Typed::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Typed::Num(n) => out.push_str(
                &serde_json::Number::from_f64(*n)
                    .map_or_else(|| "null".to_string(), |n| n.to_string()),
            ),
            Typed::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }
    fn key_text(&self) -> String {
        match self {
            Typed::Str(s) => s.to_string(),
            Typed::Int(i) => i.to_string(),
            Typed::Num(n) => n.to_string(),
            Typed::Bool(b) => b.to_string(),
        }
    }
}

/// Bytes that must be escaped inside a JSON string: the control characters, `"` and `\\`.
const fn needs_escape() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
}

static NEEDS_ESCAPE: [bool; 256] = needs_escape();

/// Appends `s` as a JSON string literal.
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !NEEDS_ESCAPE[b as usize] {
            continue;
        }
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Code → parent code; foldhash because lookups are hot and the keys are fixed master data.
type CodeMap = HashMap<String, Option<String>, foldhash::fast::RandomState>;

struct FieldRule {
    name: String,
    required: bool,
    element: DataElement,
    /// code → parent code, for code-typed elements.
    codes: Option<Arc<CodeMap>>,
    /// The code list version the values use, for code-typed elements.
    list: Option<CodeListRef>,
    /// The first day of the element's `not_before` bound.
    earliest: Option<NaiveDate>,
}

enum CompiledRule {
    CitizenIdAgrees {
        citizen_id: usize,
        birth_date: Option<usize>,
        sex: Option<usize>,
    },
    WardInProvince {
        ward: usize,
        province: usize,
    },
    AgeBetween {
        birth_date: usize,
        min: u32,
        max: u32,
    },
    DateOrder {
        earlier: usize,
        later: usize,
    },
    ReferenceExists {
        field: usize,
    },
}

/// What the quality model reads of one record: per field whether it has a value and whether
/// it fails the field's rules, per rule of the schema whether the record breaks it (a
/// `reference-exists` rule is the caller's to check: its value is in `references`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Measured {
    /// Per field: has a value.
    pub filled: Vec<bool>,
    /// Per field: fails the field's rules.
    pub invalid: Vec<bool>,
    /// Per rule: broken (always false for `reference-exists`, see `references`).
    pub rules: Vec<bool>,
    /// (rule position, value) of each `reference-exists` rule whose field has a value.
    pub references: Vec<(usize, String)>,
}

/// A schema compiled against the dictionary, ready to validate records quickly.
pub struct CompiledSchema {
    schema: DatasetSchema,
    fields: Vec<FieldRule>,
    index: HashMap<String, usize>,
    key: Vec<usize>,
    rules: Vec<CompiledRule>,
}

impl CompiledSchema {
    /// Compiles `schema`, resolving its elements and code lists in `dict`.
    pub fn compile(
        schema: &DatasetSchema,
        dict: &dyn DictionaryLookup,
    ) -> Result<Self, DefinitionError> {
        schema.check(dict)?;
        let mut lists: HashMap<CodeListRef, Arc<CodeMap>> = HashMap::new();
        let mut fields = Vec::with_capacity(schema.fields.len());
        for f in &schema.fields {
            let element = dict.element(&f.element).ok_or_else(|| DefinitionError {
                code: "element-unknown",
                path: f.name.clone(),
                message: format!("unknown data element {:?}", f.element),
            })?;
            let list_ref = crate::dictionary::field_code_list(f, &element, dict);
            let codes = match &list_ref {
                None => None,
                Some(r) => Some(match lists.get(r) {
                    Some(c) => c.clone(),
                    None => {
                        let list = dict.code_list_version(r).ok_or_else(|| DefinitionError {
                            code: "code-list-unknown",
                            path: f.name.clone(),
                            message: format!("unknown code list {r}"),
                        })?;
                        let map: CodeMap = list
                            .entries
                            .into_iter()
                            .map(|e| (e.code, e.parent))
                            .collect();
                        let map = Arc::new(map);
                        lists.insert(r.clone(), map.clone());
                        map
                    }
                }),
            };
            let earliest = element
                .not_before
                .as_deref()
                .and_then(|b| formats::parse_partial_date(b).ok())
                .and_then(|b| b.first_day());
            fields.push(FieldRule {
                name: f.name.clone(),
                required: f.required,
                element,
                codes,
                list: list_ref,
                earliest,
            });
        }
        let index: HashMap<String, usize> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        let key = schema.key.iter().map(|k| index[k]).collect();
        let rules = schema
            .rules
            .iter()
            .map(|r| match r {
                CrossRule::CitizenIdAgrees {
                    citizen_id,
                    birth_date,
                    sex,
                } => CompiledRule::CitizenIdAgrees {
                    citizen_id: index[citizen_id],
                    birth_date: birth_date.as_ref().map(|b| index[b]),
                    sex: sex.as_ref().map(|s| index[s]),
                },
                CrossRule::WardInProvince { ward, province } => CompiledRule::WardInProvince {
                    ward: index[ward],
                    province: index[province],
                },
                CrossRule::AgeBetween {
                    birth_date,
                    min,
                    max,
                } => CompiledRule::AgeBetween {
                    birth_date: index[birth_date],
                    min: *min,
                    max: *max,
                },
                CrossRule::DateOrder { earlier, later } => CompiledRule::DateOrder {
                    earlier: index[earlier],
                    later: index[later],
                },
                CrossRule::ReferenceExists { field, .. } => CompiledRule::ReferenceExists {
                    field: index[field],
                },
            })
            .collect();
        Ok(CompiledSchema {
            schema: schema.clone(),
            fields,
            index,
            key,
            rules,
        })
    }

    /// The schema this was compiled from.
    pub fn schema(&self) -> &DatasetSchema {
        &self.schema
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the schema has no fields (never true for a checked schema).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Position of the field with this name.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Field names in canonical order.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }

    /// The coded fields with the code list version each one's values use: (position, name,
    /// list).
    pub fn coded_fields(&self) -> Vec<(usize, String, CodeListRef)> {
        self.fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.list.clone().map(|l| (i, f.name.clone(), l)))
            .collect()
    }

    /// Names of the fields that hold citizen IDs (their element has the citizen-ID format):
    /// whose values are the data subjects of a record.
    pub fn subject_fields(&self) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .filter(|f| f.element.format == Some(Format::CitizenId))
            .map(|f| f.name.as_str())
    }

    /// Extracts the key from raw values without full validation (for error reports).
    pub fn raw_key(&self, values: &[RawValue<'_>]) -> Option<String> {
        let mut parts = Vec::with_capacity(self.key.len());
        for &k in &self.key {
            match values.get(k)? {
                RawValue::Absent | RawValue::Text("") => return None,
                RawValue::Json(Value::String(s)) if s.is_empty() => return None,
                RawValue::Text(t) => parts.push((*t).to_owned()),
                RawValue::Json(Value::String(s)) => parts.push(s.clone()),
                RawValue::Json(Value::Number(n)) => parts.push(n.to_string()),
                RawValue::Json(_) => return None,
            }
        }
        Some(parts.join("|"))
    }

    /// Validates one record given as values aligned with the schema's fields, on the day
    /// `today` (dates after it are refused where the element says so).
    pub fn validate(
        &self,
        values: &[RawValue<'_>],
        today: NaiveDate,
    ) -> Result<ValidRecord, Vec<FieldError>> {
        debug_assert_eq!(values.len(), self.fields.len());
        let mut errors = Vec::new();
        let mut typed: Vec<Option<Typed<'_>>> = Vec::with_capacity(self.fields.len());
        for (rule, raw) in self.fields.iter().zip(values) {
            match check_field(rule, *raw, today) {
                Ok(v) => typed.push(v),
                Err(e) => {
                    errors.push(e);
                    typed.push(None);
                }
            }
        }
        let failed: Vec<bool> = errors.iter().map(|e| e.field.clone()).fold(
            vec![false; self.fields.len()],
            |mut acc, f| {
                if let Some(i) = self.index.get(&f) {
                    acc[*i] = true;
                }
                acc
            },
        );
        for rule in &self.rules {
            if let Err(e) = self.check_rule(rule, &typed, &failed, today) {
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut canonical = String::with_capacity(64 + 24 * self.fields.len());
        canonical.push('{');
        let mut first = true;
        for (rule, v) in self.fields.iter().zip(&typed) {
            if let Some(v) = v {
                if !first {
                    canonical.push(',');
                }
                first = false;
                write_json_string(&mut canonical, &rule.name);
                canonical.push(':');
                v.write_json(&mut canonical);
            }
        }
        canonical.push('}');
        let key = if self.key.len() == 1 {
            typed[self.key[0]]
                .as_ref()
                .map(Typed::key_text)
                .unwrap_or_default()
        } else {
            self.key
                .iter()
                .map(|&k| typed[k].as_ref().map(Typed::key_text).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("|")
        };
        if let Err(why) = crate::text::check_record_key(&key) {
            let field = &self.fields[self.key[0]].name;
            return Err(vec![FieldError::new(
                field,
                "key-invalid",
                format!("{field}: the record key {why}"),
            )]);
        }
        Ok(ValidRecord { key, canonical })
    }

    /// Measures one record for the quality model (values aligned with the schema's fields),
    /// on the day `today`: every field and every rule, the measured ones included.
    pub fn measure(&self, values: &[RawValue<'_>], today: NaiveDate) -> Measured {
        let mut m = Measured {
            filled: Vec::with_capacity(self.fields.len()),
            invalid: Vec::with_capacity(self.fields.len()),
            rules: Vec::with_capacity(self.rules.len()),
            references: Vec::new(),
        };
        let mut typed: Vec<Option<Typed<'_>>> = Vec::with_capacity(self.fields.len());
        for (rule, raw) in self.fields.iter().zip(values) {
            m.filled.push(match raw {
                RawValue::Absent => false,
                RawValue::Text(t) => !t.is_empty(),
                RawValue::Json(Value::String(t)) => !t.is_empty(),
                RawValue::Json(Value::Null) => false,
                RawValue::Json(_) => true,
            });
            match check_field(rule, *raw, today) {
                Ok(v) => {
                    typed.push(v);
                    m.invalid.push(false);
                }
                Err(_) => {
                    typed.push(None);
                    m.invalid.push(true);
                }
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if let CompiledRule::ReferenceExists { field } = *rule
                && let Some(v) = typed[field].as_ref()
            {
                let mut text = String::new();
                v.write_json(&mut text);
                let value = match v.as_str() {
                    Some(s) => s.to_owned(),
                    None => text,
                };
                m.references.push((i, value));
            }
            m.rules.push(
                self.check_rule(rule, &typed, &m.invalid, today).is_err()
                    || self.check_measured(rule, &typed, today),
            );
        }
        m
    }

    /// Whether a measured rule is broken (`false` for the enforced ones and
    /// `reference-exists`, which the caller checks).
    fn check_measured(
        &self,
        rule: &CompiledRule,
        typed: &[Option<Typed<'_>>],
        today: NaiveDate,
    ) -> bool {
        let date = |i: usize| {
            typed[i]
                .as_ref()
                .and_then(Typed::as_str)
                .and_then(|d| formats::parse_partial_date(d).ok())
        };
        match *rule {
            CompiledRule::AgeBetween {
                birth_date,
                min,
                max,
            } => {
                let Some(born) = date(birth_date) else {
                    return false;
                };
                // A partial date is implausible only if every day it may mean is.
                let (Some(first), Some(last)) = (born.first_day(), born.last_day()) else {
                    return false;
                };
                let age = |b: NaiveDate| today.years_since(b).unwrap_or(0);
                age(first) < min || age(last) > max
            }
            CompiledRule::DateOrder { earlier, later } => {
                match (
                    date(earlier).and_then(|d| d.first_day()),
                    date(later).and_then(|d| d.last_day()),
                ) {
                    (Some(a), Some(b)) => a > b,
                    _ => false,
                }
            }
            _ => false,
        }
    }

    fn check_rule(
        &self,
        rule: &CompiledRule,
        typed: &[Option<Typed<'_>>],
        failed: &[bool],
        _today: NaiveDate,
    ) -> Result<(), FieldError> {
        match *rule {
            // Measured only: the quality model reads them through `measure`.
            CompiledRule::AgeBetween { .. }
            | CompiledRule::DateOrder { .. }
            | CompiledRule::ReferenceExists { .. } => Ok(()),
            CompiledRule::CitizenIdAgrees {
                citizen_id,
                birth_date,
                sex,
            } => {
                if failed[citizen_id]
                    || birth_date.is_some_and(|b| failed[b])
                    || sex.is_some_and(|s| failed[s])
                {
                    return Ok(());
                }
                let Some(id) = typed[citizen_id].as_ref().and_then(Typed::as_str) else {
                    return Ok(());
                };
                let Ok(parsed) = formats::parse_citizen_id(id) else {
                    return Ok(());
                };
                let year = birth_date
                    .and_then(|b| typed[b].as_ref())
                    .and_then(Typed::as_str)
                    .and_then(|d| formats::parse_partial_date(d).ok())
                    .map(|d| d.year());
                let sex_value = sex
                    .and_then(|s| typed[s].as_ref())
                    .and_then(Typed::as_str)
                    .and_then(Sex::from_iso5218);
                parsed
                    .check_agrees(year, sex_value)
                    .map_err(|e| FieldError::from_format(&self.fields[citizen_id].name, e))
            }
            CompiledRule::WardInProvince { ward, province } => {
                if failed[ward] || failed[province] {
                    return Ok(());
                }
                let (Some(w), Some(p)) = (
                    typed[ward].as_ref().and_then(Typed::as_str),
                    typed[province].as_ref().and_then(Typed::as_str),
                ) else {
                    return Ok(());
                };
                let parent = self.fields[ward]
                    .codes
                    .as_ref()
                    .and_then(|c| c.get(w).cloned().flatten());
                match parent {
                    Some(parent) if parent != p => Err(FieldError::new(
                        &self.fields[ward].name,
                        "ward-not-in-province",
                        format!(
                            "{}: ward {w:?} belongs to province {parent:?}, not {p:?}",
                            self.fields[ward].name
                        ),
                    )),
                    _ => Ok(()),
                }
            }
        }
    }
}

fn type_error(field: &str, expected: ValueType, found: &str) -> FieldError {
    FieldError::new(
        field,
        "wrong-type",
        format!("{field}: expected {}, found {found}", expected.name()),
    )
}

fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn check_field<'a>(
    rule: &FieldRule,
    raw: RawValue<'a>,
    today: NaiveDate,
) -> Result<Option<Typed<'a>>, FieldError> {
    let name = rule.name.as_str();
    let el = &rule.element;
    // An empty value is no value, whatever the format: CSV cannot tell "" from absent, so
    // JSON "" and null mean the same, and canonical records never hold empty strings.
    let raw = match raw {
        RawValue::Json(Value::Null) => RawValue::Absent,
        RawValue::Json(Value::String(s)) if s.is_empty() => RawValue::Absent,
        RawValue::Text("") => RawValue::Absent,
        other => other,
    };
    let typed = match raw {
        RawValue::Absent => {
            return if rule.required {
                Err(FieldError::new(
                    name,
                    "required",
                    format!("{name}: a value is required"),
                ))
            } else {
                Ok(None)
            };
        }
        RawValue::Text(t) => match el.value_type {
            ValueType::Integer => Typed::Int(
                t.parse::<i64>()
                    .map_err(|_| type_error(name, el.value_type, &format!("{t:?}")))?,
            ),
            ValueType::Decimal => {
                let n = t
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| type_error(name, el.value_type, &format!("{t:?}")))?;
                Typed::Num(n)
            }
            ValueType::Boolean => match t {
                "true" => Typed::Bool(true),
                "false" => Typed::Bool(false),
                _ => return Err(type_error(name, el.value_type, &format!("{t:?}"))),
            },
            _ => Typed::Str(nfc(t)),
        },
        RawValue::Json(v) => match (el.value_type, v) {
            (ValueType::Integer, Value::Number(n)) => Typed::Int(
                n.as_i64()
                    .ok_or_else(|| type_error(name, el.value_type, &json_kind(v)))?,
            ),
            (ValueType::Decimal, Value::Number(n)) => Typed::Num(
                n.as_f64()
                    .ok_or_else(|| type_error(name, el.value_type, &json_kind(v)))?,
            ),
            (ValueType::Boolean, Value::Bool(b)) => Typed::Bool(*b),
            (
                ValueType::String
                | ValueType::Code
                | ValueType::Date
                | ValueType::PartialDate
                | ValueType::DateTime,
                Value::String(s),
            ) => Typed::Str(nfc(s)),
            _ => return Err(type_error(name, el.value_type, &json_kind(v))),
        },
    };
    match &typed {
        Typed::Str(s) => check_text(rule, s, today)?,
        Typed::Int(i) => check_range(rule, *i as f64)?,
        Typed::Num(n) => check_range(rule, *n)?,
        Typed::Bool(_) => {}
    }
    Ok(Some(typed))
}

fn check_range(rule: &FieldRule, n: f64) -> Result<(), FieldError> {
    let name = rule.name.as_str();
    if let Some(min) = rule.element.minimum
        && n < min
    {
        return Err(FieldError::new(
            name,
            "below-minimum",
            format!("{name}: {n} is below the minimum {min}"),
        ));
    }
    if let Some(max) = rule.element.maximum
        && n > max
    {
        return Err(FieldError::new(
            name,
            "above-maximum",
            format!("{name}: {n} is above the maximum {max}"),
        ));
    }
    Ok(())
}

/// Checks a date against the element's plausibility bounds; `first` and `last` are the first
/// and last day the (possibly partial) date may mean.
fn check_date_bounds(
    rule: &FieldRule,
    s: &str,
    first: Option<NaiveDate>,
    last: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(), FieldError> {
    let name = rule.name.as_str();
    if let (Some(earliest), Some(last)) = (rule.earliest, last)
        && last < earliest
    {
        return Err(FieldError::new(
            name,
            "date-too-early",
            format!(
                "{name}: {s:?} is before {}, the earliest plausible date",
                rule.element.not_before.as_deref().unwrap_or_default()
            ),
        ));
    }
    if rule.element.not_in_future
        && let Some(first) = first
        && first > today
    {
        return Err(FieldError::new(
            name,
            "date-in-future",
            format!("{name}: {s:?} lies in the future (today is {today})"),
        ));
    }
    Ok(())
}

fn check_text(rule: &FieldRule, s: &str, today: NaiveDate) -> Result<(), FieldError> {
    let name = rule.name.as_str();
    let el = &rule.element;
    if el.min_length.is_some() || el.max_length.is_some() {
        let len = s.chars().count() as u32;
        if let Some(min) = el.min_length
            && len < min
        {
            return Err(FieldError::new(
                name,
                "too-short",
                format!("{name}: {s:?} has {len} characters, at least {min} required"),
            ));
        }
        if let Some(max) = el.max_length
            && len > max
        {
            return Err(FieldError::new(
                name,
                "too-long",
                format!("{name}: value has {len} characters, at most {max} allowed"),
            ));
        }
    }
    if let Err(fault) = crate::text::check_characters(s, el.multiline) {
        let message = match fault {
            TextFault::Blank if rule.required => {
                format!(
                    "{name}: a value is required, and {s:?} {}",
                    fault.describe()
                )
            }
            TextFault::Blank => format!(
                "{name}: {s:?} {}; leave the field empty for no value",
                fault.describe()
            ),
            _ => format!("{name}: the value {}", fault.describe()),
        };
        return Err(FieldError::new(name, fault.code(), message));
    }
    let fe = |e| FieldError::from_format(name, e);
    match el.value_type {
        ValueType::Date => {
            let d = formats::parse_iso_date(s).map_err(fe)?;
            check_date_bounds(rule, s, Some(d), Some(d), today)?;
        }
        ValueType::PartialDate => {
            let d = formats::parse_partial_date(s).map_err(fe)?;
            check_date_bounds(rule, s, d.first_day(), d.last_day(), today)?;
        }
        ValueType::DateTime => {
            let t = formats::parse_datetime(s).map_err(fe)?;
            let d = t.naive_utc().date();
            check_date_bounds(rule, s, Some(d), Some(d), today)?;
        }
        ValueType::Code => {
            if let Some(codes) = &rule.codes
                && !codes.contains_key(s)
            {
                return Err(FieldError::new(
                    name,
                    "code-unknown",
                    match &rule.list {
                        Some(l) => format!("{name}: {s:?} is not a code of list {l}"),
                        None => format!("{name}: {s:?} is not a code of its list"),
                    },
                ));
            }
        }
        _ => {}
    }
    match el.format {
        Some(Format::CitizenId) => {
            use chrono::Datelike;
            formats::parse_citizen_id(s)
                .and_then(|id| id.check_not_born_after(today.year()))
                .map_err(fe)?;
        }
        Some(Format::TaxCode) => formats::validate_tax_code(s).map_err(fe)?,
        Some(Format::VnMobile) => formats::validate_vn_mobile(s).map_err(fe)?,
        Some(Format::VnPhone) => formats::validate_vn_phone(s).map_err(fe)?,
        Some(Format::Email) => formats::validate_email(s).map_err(fe)?,
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dictionary::{
        FieldDef, Importance, MemoryDictionary, Openness, SchemaVersion, Sensitivity,
    };

    fn field(name: &str, element: &str, required: bool) -> FieldDef {
        FieldDef {
            name: name.into(),
            element: element.into(),
            required,
            sensitivity: Sensitivity::Personal,
            consent: false,
            code_list: None,
            description: String::new(),
        }
    }

    /// The day the tests validate on.
    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 4).expect("date")
    }

    fn people() -> CompiledSchema {
        let schema = DatasetSchema {
            dataset: "people".into(),
            version: SchemaVersion { major: 1, minor: 0 },
            title_vi: "Người".into(),
            title_en: "People".into(),
            description: String::new(),
            owner: "BCA".into(),
            original: true,
            master: false,
            openness: crate::dictionary::Openness::Restricted,
            importance: Importance::Core,
            key: vec!["citizen_id".into()],
            fields: vec![
                field("citizen_id", "citizen-id", true),
                field("full_name", "full-name", true),
                field("sex", "sex", true),
                field("date_of_birth", "date-of-birth", true),
                field("province_code", "province-code", false),
                field("ward_code", "ward-code", false),
                field("phone", "mobile-phone", false),
                field("landline", "phone-number", false),
                field("email", "email", false),
                field("tax_code", "tax-code", false),
                field("children", "count", false),
                field("income", "amount-vnd", false),
                field("active", "flag", false),
                field("registered_at", "date-time", false),
                field("issued_on", "date", false),
            ],
            rules: vec![
                CrossRule::CitizenIdAgrees {
                    citizen_id: "citizen_id".into(),
                    birth_date: Some("date_of_birth".into()),
                    sex: Some("sex".into()),
                },
                CrossRule::WardInProvince {
                    ward: "ward_code".into(),
                    province: "province_code".into(),
                },
            ],
            update_frequency: None,
        };
        let _ = Openness::Open;
        CompiledSchema::compile(&schema, &MemoryDictionary::builtin()).expect("compiles")
    }

    /// Validates a record given as (field, text) pairs on top of a valid base record; returns
    /// the error codes, or "ok".
    fn check(pairs: &[(&str, &str)]) -> String {
        let c = people();
        let mut base: Vec<(&str, &str)> = vec![
            ("citizen_id", "001090012345"),
            ("full_name", "Nguyễn Văn An"),
            ("sex", "1"),
            ("date_of_birth", "1990-05-17"),
        ];
        for (f, v) in pairs {
            base.retain(|(g, _)| g != f);
            base.push((f, v));
        }
        let mut values = vec![RawValue::Absent; c.len()];
        for (f, v) in &base {
            values[c.field_index(f).expect("field")] = RawValue::Text(v);
        }
        match c.validate(&values, today()) {
            Ok(_) => "ok".into(),
            Err(errors) => errors
                .iter()
                .map(|e| e.code.as_str())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    #[test]
    fn measured_rules_are_judged_but_never_refuse() {
        let mut schema = people().schema().clone();
        schema.rules.extend([
            CrossRule::AgeBetween {
                birth_date: "date_of_birth".into(),
                min: 18,
                max: 65,
            },
            CrossRule::DateOrder {
                earlier: "date_of_birth".into(),
                later: "issued_on".into(),
            },
            CrossRule::ReferenceExists {
                field: "tax_code".into(),
                dataset: "businesses".into(),
            },
        ]);
        let c = CompiledSchema::compile(&schema, &MemoryDictionary::builtin()).expect("compiles");
        let measure = |pairs: &[(&str, &str)]| {
            let mut values = vec![RawValue::Absent; c.len()];
            for (f, v) in pairs {
                values[c.field_index(f).expect("field")] = RawValue::Text(v);
            }
            let verdict = c
                .validate(&values, today())
                .map(|_| ())
                .map_err(|e| e.iter().map(|x| x.code.clone()).collect::<Vec<_>>());
            (verdict, c.measure(&values, today()))
        };
        let base = [
            ("citizen_id", "001090012345"),
            ("full_name", "Nguyễn Văn An"),
            ("sex", "1"),
            ("date_of_birth", "1990-05-17"),
        ];
        let (valid, m) = measure(&base);
        assert_eq!(valid, Ok(()));
        assert_eq!(m.rules, [false, false, false, false, false]);
        assert_eq!(m.filled.iter().filter(|f| **f).count(), 4);
        assert!(m.references.is_empty(), "no tax code, nothing to look up");

        // Issued before birth; too old on the day of measurement: counted, still valid.
        let mut old = base.to_vec();
        old.retain(|(f, _)| *f != "date_of_birth" && *f != "citizen_id");
        old.extend([
            ("citizen_id", "001040012345"),
            ("date_of_birth", "1940-01-01"),
            ("issued_on", "1939-12-31"),
            ("tax_code", "0100109106"),
        ]);
        let (valid, m) = measure(&old);
        assert_eq!(valid, Ok(()), "measured rules refuse nothing");
        assert_eq!(m.rules, [false, false, true, true, false]);
        assert_eq!(m.references, [(4, "0100109106".to_owned())]);

        // A partial date is implausible only when every day it may mean is: born in 2008,
        // one is 18 on the day of measurement or not yet.
        let mut partial = base.to_vec();
        partial.retain(|(f, _)| *f != "date_of_birth" && *f != "citizen_id");
        partial.extend([("citizen_id", "001208012345"), ("date_of_birth", "2008")]);
        let (_, m) = measure(&partial);
        assert!(!m.rules[2], "{m:?}");
        partial.retain(|(f, _)| *f != "date_of_birth");
        partial.push(("date_of_birth", "2009-06"));
        let (_, m) = measure(&partial);
        assert!(m.rules[2], "at most 17: {m:?}");

        // A field that fails its own rules is invalid, and the enforced rule depending on it
        // is not judged twice.
        let mut bad = base.to_vec();
        bad.push(("ward_code", "99999"));
        let (valid, m) = measure(&bad);
        assert!(valid.is_err());
        assert!(m.invalid[c.field_index("ward_code").expect("ward")]);
        assert!(!m.rules[1]);
    }

    #[test]
    fn every_rule_with_good_and_bad_values() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "ok"),
            (&[("full_name", "")], "required"),
            (&[("citizen_id", "00109001234")], "citizen-id-length"),
            (&[("citizen_id", "0010900123a5")], "citizen-id-not-digits"),
            (&[("citizen_id", "003090012345")], "citizen-id-province"),
            (
                &[("citizen_id", "001091012345")],
                "citizen-id-birth-year-mismatch",
            ),
            (&[("citizen_id", "001190012345")], "citizen-id-sex-mismatch"),
            (&[("sex", "2"), ("citizen_id", "001190012345")], "ok"),
            (
                &[
                    ("citizen_id", "001290012345"),
                    ("date_of_birth", "2090-01-01"),
                ],
                "citizen-id-century,date-in-future",
            ),
            // plausibility of dates and characters of text
            (&[("date_of_birth", "2026-12-05")], "date-in-future"),
            (&[("date_of_birth", "2027")], "date-in-future"),
            (
                &[("citizen_id", "001226012345"), ("date_of_birth", "2026")],
                "ok",
            ),
            (
                &[("date_of_birth", "2026-12-04")],
                "citizen-id-birth-year-mismatch",
            ),
            (&[("date_of_birth", "0000")], "partial-date-invalid"),
            (&[("date_of_birth", "0000-01-01")], "partial-date-invalid"),
            (&[("date_of_birth", "1849-12-31")], "date-too-early"),
            (&[("issued_on", "0000-02-01")], "date-invalid"),
            (
                &[("registered_at", "0000-01-01T00:00:00Z")],
                "datetime-invalid",
            ),
            (&[("full_name", "   ")], "blank"),
            (&[("full_name", "\t")], "control-character"),
            (&[("full_name", "\u{200B}")], "invisible-character"),
            (&[("full_name", "\u{FEFF}")], "invisible-character"),
            (&[("full_name", "\u{0301}")], "combining-mark-first"),
            (&[("full_name", "Nguyễn\nAn")], "control-character"),
            (&[("full_name", "Nguyễn\u{2028}An")], "control-character"),
            (&[("full_name", "Nguyễn\u{202E}An")], "bidi-control"),
            (&[("email", "a\u{200b}@b.com")], "invisible-character"),
            (&[("email", "   ")], "blank"),
            (&[("date_of_birth", "1990")], "ok"),
            (&[("date_of_birth", "1990-05")], "ok"),
            (&[("date_of_birth", "1990-13")], "partial-date-invalid"),
            (
                &[("date_of_birth", "1991")],
                "citizen-id-birth-year-mismatch",
            ),
            (&[("sex", "5")], "code-unknown"),
            (&[("province_code", "01"), ("ward_code", "00004")], "ok"),
            (
                &[("province_code", "79"), ("ward_code", "00004")],
                "ward-not-in-province",
            ),
            (&[("province_code", "99")], "code-unknown"),
            (&[("phone", "0912345678")], "ok"),
            (&[("phone", "+84912345678")], "ok"),
            (&[("phone", "0112345678")], "mobile-prefix"),
            (&[("phone", "091234567")], "mobile-shape"),
            (&[("landline", "02438253536")], "ok"),
            (&[("landline", "0243825353")], "phone-shape"),
            (&[("email", "an.nguyen@example.vn")], "ok"),
            (&[("email", "an.nguyen@")], "email-invalid"),
            (&[("tax_code", "0100233488")], "ok"),
            (&[("tax_code", "0100233489")], "tax-code-check-digit"),
            (&[("tax_code", "0314409058-002")], "ok"),
            (&[("tax_code", "0314409058-000")], "tax-code-branch"),
            (&[("children", "3")], "ok"),
            (&[("children", "-1")], "below-minimum"),
            (&[("children", "three")], "wrong-type"),
            (&[("income", "12.5")], "ok"),
            (&[("income", "NaN")], "wrong-type"),
            (&[("active", "true")], "ok"),
            (&[("active", "yes")], "wrong-type"),
            (&[("registered_at", "2025-07-01T08:00:00+07:00")], "ok"),
            (&[("registered_at", "2025-07-01 08:00")], "datetime-invalid"),
            (&[("issued_on", "2024-02-29")], "ok"),
            (&[("issued_on", "2023-02-29")], "date-invalid"),
            (&[("full_name", "Nguyễn\u{0007}An")], "control-character"),
            (&[("full_name", &"A".repeat(201))], "too-long"),
        ];
        for (pairs, want) in cases {
            assert_eq!(check(pairs), *want, "{pairs:?}");
        }
    }

    #[test]
    fn json_types_must_match() {
        let c = people();
        let obj = serde_json::json!({
            "citizen_id": 1090012345u64, "full_name": "An", "sex": "1",
            "date_of_birth": "1990-05-17", "children": "3", "active": 1
        });
        let mut values = vec![RawValue::Absent; c.len()];
        for (k, v) in obj.as_object().expect("object") {
            values[c.field_index(k).expect("field")] = RawValue::Json(v);
        }
        let errors = c.validate(&values, today()).expect_err("invalid");
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("citizen_id", "wrong-type"),
                ("children", "wrong-type"),
                ("active", "wrong-type")
            ]
        );
    }

    #[test]
    fn canonical_form_is_ordered_typed_and_nfc() {
        let c = people();
        let decomposed = "Nguye\u{0302}\u{0303}n"; // "Nguyễn" in NFD
        let children = serde_json::json!(2);
        let active = serde_json::json!(true);
        let mut values = vec![RawValue::Absent; c.len()];
        values[c.field_index("active").expect("f")] = RawValue::Json(&active);
        values[c.field_index("children").expect("f")] = RawValue::Json(&children);
        values[c.field_index("citizen_id").expect("f")] = RawValue::Text("001090012345");
        values[c.field_index("full_name").expect("f")] = RawValue::Text(decomposed);
        values[c.field_index("sex").expect("f")] = RawValue::Text("1");
        values[c.field_index("date_of_birth").expect("f")] = RawValue::Text("1990");
        values[c.field_index("income").expect("f")] = RawValue::Text("1e3");
        let v = c.validate(&values, today()).expect("valid");
        assert_eq!(v.key, "001090012345");
        assert_eq!(
            v.canonical,
            "{\"citizen_id\":\"001090012345\",\"full_name\":\"Nguyễn\",\"sex\":\"1\",\
             \"date_of_birth\":\"1990\",\"children\":2,\"income\":1000.0,\"active\":true}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&v.canonical).expect("valid JSON");
        assert_eq!(parsed["full_name"], "Nguyễn");
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        write_json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é\"");
        let back: String = serde_json::from_str(&out).expect("json");
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }
}
