//! Code lists across versions and sources: which list (and version) a coded value belongs to
//! ([`CodeListRef`], written `id@version`), crosswalks between two list versions
//! ([`Crosswalk`]), the built-in ones (ethnic groups 1979 → 2008, pre-2025 → 2025
//! administrative units), and the [`Recoder`] that converts a record's coded values from the
//! lists a caller uses into a dataset's lists, or back. A code is never guessed: one with
//! several counterparts (a split ward) or none is an error naming what was found.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::dictionary::{DefinitionError, is_identifier};
use crate::reference;
use crate::validate::RawValue;

/// A code list at one version: `ethnic-group@2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodeListRef {
    /// The list's id.
    pub id: String,
    /// Its version (from 1).
    pub version: u32,
}

impl CodeListRef {
    /// `id@version`.
    pub fn new(id: &str, version: u32) -> Self {
        CodeListRef {
            id: id.to_owned(),
            version,
        }
    }
}

impl fmt::Display for CodeListRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.version)
    }
}

impl FromStr for CodeListRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (id, version) = s
            .split_once('@')
            .ok_or_else(|| format!("{s:?} is not a code list version: write it `id@version`"))?;
        if !is_identifier(id) {
            return Err(format!(
                "{id:?} is not a code list id (lowercase kebab-case)"
            ));
        }
        match version.parse::<u32>() {
            Ok(v) if v >= 1 && !version.starts_with('0') => Ok(CodeListRef::new(id, v)),
            _ => Err(format!(
                "{version:?} in {s:?} is not a version (a whole number from 1)"
            )),
        }
    }
}

impl Serialize for CodeListRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CodeListRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a comma-separated list of `id@version` (the `Ndx-Code-Lists` header, `ndx import
/// --code-lists`); blanks around commas are ignored; a list named twice is refused.
pub fn parse_refs(text: &str) -> Result<Vec<CodeListRef>, String> {
    let mut refs: Vec<CodeListRef> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let r: CodeListRef = part.parse()?;
        if refs.iter().any(|x| x.id == r.id) {
            return Err(format!("code list {:?} is named twice", r.id));
        }
        refs.push(r);
    }
    Ok(refs)
}

/// One pair of a crosswalk: a code of the source list and a code of the target list that
/// stands for the same thing (or for part of it, when a code has several pairs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodePair {
    /// The code in the source list.
    pub from: String,
    /// The code in the target list.
    pub to: String,
}

/// A crosswalk between two code list versions: which codes of one stand for which of the
/// other. Usable in both directions; a code with several counterparts in the direction of use
/// cannot be converted on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crosswalk {
    /// The source list version.
    pub from: CodeListRef,
    /// The target list version.
    pub to: CodeListRef,
    /// Where the correspondence comes from (legal act, publisher, method).
    #[serde(default)]
    pub source: String,
    /// The pairs; each (from, to) once.
    pub pairs: Vec<CodePair>,
}

impl Crosswalk {
    /// The crosswalk's id: `FROM>TO`.
    pub fn id(&self) -> String {
        crosswalk_id(&self.from, &self.to)
    }

    /// Checks the crosswalk on its own: two different lists, pairs present, none repeated.
    pub fn check(&self) -> Result<(), DefinitionError> {
        let bad = |path: &str, message: String| DefinitionError {
            code: "crosswalk-invalid",
            path: path.into(),
            message,
        };
        if self.from == self.to {
            return Err(bad(
                "to",
                "a crosswalk joins two different list versions".into(),
            ));
        }
        if self.pairs.is_empty() {
            return Err(bad("pairs", "a crosswalk needs at least one pair".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.pairs.iter().enumerate() {
            if p.from.is_empty() || p.to.is_empty() {
                return Err(bad(&format!("pairs[{i}]"), "a code cannot be empty".into()));
            }
            if !seen.insert((p.from.as_str(), p.to.as_str())) {
                return Err(bad(
                    &format!("pairs[{i}]"),
                    format!("the pair {:?} → {:?} is repeated", p.from, p.to),
                ));
            }
        }
        Ok(())
    }
}

/// The id of the crosswalk from one list version to another: `FROM>TO`.
pub fn crosswalk_id(from: &CodeListRef, to: &CodeListRef) -> String {
    format!("{from}>{to}")
}

/// What a code becomes under a [`Converter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Converted<'a> {
    /// Exactly one counterpart.
    Code(&'a str),
    /// Several counterparts (a split unit): not convertible on its own.
    Ambiguous(&'a [String]),
    /// The source list has no such code, or the crosswalk does not pair it.
    Unknown,
}

/// One direction of a crosswalk, indexed: code → its counterparts.
#[derive(Debug)]
pub struct Converter {
    /// The list the values come in.
    pub from: CodeListRef,
    /// The list they are converted into.
    pub to: CodeListRef,
    map: HashMap<String, Vec<String>>,
}

impl Converter {
    /// Indexes `walk` in its own direction (`forward`) or the reverse one.
    pub fn new(walk: &Crosswalk, forward: bool) -> Converter {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for p in &walk.pairs {
            let (a, b) = if forward {
                (&p.from, &p.to)
            } else {
                (&p.to, &p.from)
            };
            map.entry(a.clone()).or_default().push(b.clone());
        }
        for targets in map.values_mut() {
            targets.sort();
            targets.dedup();
        }
        let (from, to) = if forward {
            (walk.from.clone(), walk.to.clone())
        } else {
            (walk.to.clone(), walk.from.clone())
        };
        Converter { from, to, map }
    }

    /// What `code` becomes.
    pub fn convert(&self, code: &str) -> Converted<'_> {
        match self.map.get(code).map(Vec::as_slice) {
            Some([one]) => Converted::Code(one),
            Some(many) if !many.is_empty() => Converted::Ambiguous(many),
            _ => Converted::Unknown,
        }
    }

    /// Whether every code converts to exactly one (the crosswalk is a function this way).
    pub fn is_total_function(&self) -> bool {
        self.map.values().all(|t| t.len() == 1)
    }
}

/// Why one value could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecodeError {
    /// The field.
    pub field: String,
    /// `code-ambiguous` or `code-unknown`.
    pub code: &'static str,
    /// What was found.
    pub message: String,
}

/// Converts the coded fields of records between the lists a caller uses and the lists a
/// dataset's fields declare: one [`Converter`] per field that needs one.
#[derive(Debug, Default)]
pub struct Recoder {
    /// (field position, field name, converter).
    fields: Vec<(usize, String, Arc<Converter>)>,
}

/// Where a [`Recoder`] converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the caller's lists into the dataset's (ingest).
    IntoDataset,
    /// From the dataset's lists into the caller's (exchange).
    FromDataset,
}

impl Recoder {
    /// A recoder for a dataset whose coded fields are `(position, name, list)` and a caller
    /// who uses `wanted`. Each wanted list must apply to at least one field: the same list at
    /// another version, or a list joined to the field's by a crosswalk found by `crosswalk`
    /// (either direction). A wanted list equal to a field's is accepted and changes nothing.
    pub fn new(
        fields: &[(usize, String, CodeListRef)],
        wanted: &[CodeListRef],
        direction: Direction,
        crosswalk: &dyn Fn(&CodeListRef, &CodeListRef) -> Option<Arc<Converter>>,
    ) -> Result<Recoder, String> {
        let mut out = Recoder::default();
        for w in wanted {
            let mut applies = false;
            for (pos, name, list) in fields {
                if list == w {
                    applies = true;
                    continue;
                }
                let (from, to) = match direction {
                    Direction::IntoDataset => (w, list),
                    Direction::FromDataset => (list, w),
                };
                if let Some(conv) = crosswalk(from, to) {
                    applies = true;
                    out.fields.push((*pos, name.clone(), conv));
                } else if list.id == w.id {
                    return Err(format!(
                        "field {name:?} uses {list}; there is no crosswalk between it and {w}"
                    ));
                }
            }
            if !applies {
                return Err(format!(
                    "no field of this dataset is coded in {w} or in a list with a crosswalk to it"
                ));
            }
        }
        Ok(out)
    }

    /// Whether nothing is converted.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The converted fields: (position, name, converter).
    pub fn fields(&self) -> impl Iterator<Item = (usize, &str, &Converter)> {
        self.fields
            .iter()
            .map(|(p, n, c)| (*p, n.as_str(), c.as_ref()))
    }

    /// Converts one value of the field named `field` (`None` when the field is not
    /// converted).
    pub fn convert_named<'a>(
        &'a self,
        field: &str,
        value: &str,
    ) -> Option<Result<&'a str, RecodeError>> {
        let (_, name, conv) = self.fields.iter().find(|(_, n, _)| n == field)?;
        Some(convert_one(name, conv, value))
    }

    /// Converts one value of the field at `position` (empty values pass unchanged). `Ok(None)`
    /// when the field is not converted.
    pub fn convert<'a>(
        &'a self,
        position: usize,
        value: &str,
    ) -> Option<Result<&'a str, RecodeError>> {
        let (_, name, conv) = self.fields.iter().find(|(p, _, _)| *p == position)?;
        Some(convert_one(name, conv, value))
    }
}

fn convert_one<'a>(field: &str, conv: &'a Converter, value: &str) -> Result<&'a str, RecodeError> {
    match conv.convert(value) {
        Converted::Code(c) => Ok(c),
        Converted::Ambiguous(many) => Err(RecodeError {
            field: field.to_owned(),
            code: "code-ambiguous",
            message: format!(
                "{value:?} of {} stands for several codes of {}: {}; state which one",
                conv.from,
                conv.to,
                many.join(", ")
            ),
        }),
        Converted::Unknown => Err(RecodeError {
            field: field.to_owned(),
            code: "code-unknown",
            message: format!(
                "{value:?} is not a code of {} that converts into {}",
                conv.from, conv.to
            ),
        }),
    }
}

impl Recoder {
    /// The values of one record (aligned with the schema's fields) with the converted fields'
    /// codes replaced; every value that cannot be converted is an error.
    pub fn recode_raw<'x>(
        &'x self,
        values: &[RawValue<'x>],
    ) -> Result<Vec<RawValue<'x>>, Vec<RecodeError>> {
        let mut out = values.to_vec();
        let mut errors = Vec::new();
        for (pos, name, conv) in &self.fields {
            let code = match values.get(*pos) {
                Some(RawValue::Text(t)) if !t.is_empty() => *t,
                Some(RawValue::Json(serde_json::Value::String(t))) if !t.is_empty() => t.as_str(),
                // Absent, empty or of another JSON type: validation says what is wrong.
                _ => continue,
            };
            match convert_one(name, conv, code) {
                Ok(to) => out[*pos] = RawValue::Text(to),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

/// Converts a record's coded values (a JSON object, as stored and as exchanged) in place.
pub fn recode_object(
    recoder: &Recoder,
    record: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), RecodeError> {
    for (_, name, conv) in &recoder.fields {
        if let Some(serde_json::Value::String(v)) = record.get_mut(name.as_str())
            && !v.is_empty()
        {
            let to = convert_one(name, conv, v)?;
            *v = to.to_owned();
        }
    }
    Ok(())
}

fn folded_name(name: &str) -> String {
    crate::text::fold_diacritics(name)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The crosswalks every installation has.
pub fn builtin_crosswalks() -> Vec<Crosswalk> {
    let by_name: HashMap<String, &str> = reference::ethnic_groups_2008()
        .iter()
        .map(|g| (folded_name(&g.name), g.code.as_str()))
        .collect();
    let ethnic = reference::ethnic_groups()
        .iter()
        .filter_map(|g| {
            by_name.get(&folded_name(&g.name)).map(|to| CodePair {
                from: g.code.clone(),
                to: (*to).to_owned(),
            })
        })
        .collect();
    let provinces = reference::legacy_provinces()
        .iter()
        .map(|p| CodePair {
            from: p.code.clone(),
            to: p.new_province_code.clone(),
        })
        .collect();
    let wards = reference::ward_conversions()
        .iter()
        .map(|c| CodePair {
            from: c.old_ward_code.clone(),
            to: c.new_ward_code.clone(),
        })
        .collect();
    vec![
        Crosswalk {
            from: CodeListRef::new("ethnic-group", 1),
            to: CodeListRef::new("ethnic-group", 2),
            source: "The same 54 groups paired by name: Decision 121-TCTK/PPCĐ (1979) and \
                     Decision 1019/QĐ-TCTK (2008)"
                .into(),
            pairs: ethnic,
        },
        Crosswalk {
            from: CodeListRef::new("admin-province-legacy", 1),
            to: CodeListRef::new("admin-province-2025", 1),
            source: "Resolution 202/2025/QH15 on the arrangement of provinces: each of the 63 \
                     provinces lies in one of the 34"
                .into(),
            pairs: provinces,
        },
        Crosswalk {
            from: CodeListRef::new("admin-ward-legacy", 1),
            to: CodeListRef::new("admin-ward-2025", 1),
            source: "The statistics office's conversion table of commune-level units (1 July \
                     2025); a ward split between several new wards has one pair per new ward"
                .into(),
            pairs: wards,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse_and_print() {
        let r: CodeListRef = "ethnic-group@2".parse().unwrap();
        assert_eq!(r, CodeListRef::new("ethnic-group", 2));
        assert_eq!(r.to_string(), "ethnic-group@2");
        for bad in [
            "ethnic-group",
            "ethnic-group@0",
            "ethnic-group@02",
            "Ethnic@1",
            "x@y",
            "@1",
        ] {
            assert!(bad.parse::<CodeListRef>().is_err(), "{bad}");
        }
        assert_eq!(
            parse_refs(" ethnic-group@1 , admin-ward-legacy@1,")
                .unwrap()
                .len(),
            2
        );
        assert!(parse_refs("ethnic-group@1,ethnic-group@2").is_err());
    }

    #[test]
    fn ethnic_groups_pair_one_to_one_and_renumber() {
        let walks = builtin_crosswalks();
        let w = &walks[0];
        assert_eq!(w.pairs.len(), 54, "every 1979 group has its 2008 code");
        w.check().unwrap();
        let fwd = Converter::new(w, true);
        let back = Converter::new(w, false);
        assert!(fwd.is_total_function() && back.is_total_function());
        assert_eq!(back.map.len(), 54, "no two 1979 groups share a 2008 code");
        // 1979: 04 Hoa, 06 Mường; 2008: 04 Mường, 06 Hoa.
        assert_eq!(fwd.convert("04"), Converted::Code("06"));
        assert_eq!(fwd.convert("06"), Converted::Code("04"));
        assert_eq!(fwd.convert("01"), Converted::Code("01"));
        assert_eq!(back.convert("54"), Converted::Code("53"), "Ơ Đu");
        assert_eq!(fwd.convert("55"), Converted::Unknown);
    }

    #[test]
    fn split_wards_are_ambiguous_never_guessed() {
        let walks = builtin_crosswalks();
        let wards = Converter::new(&walks[2], true);
        let split = reference::ward_conversions()
            .windows(2)
            .find(|w| w[0].old_ward_code == w[1].old_ward_code)
            .unwrap();
        assert!(matches!(
            wards.convert(&split[0].old_ward_code),
            Converted::Ambiguous(many) if many.len() >= 2
        ));
        let provinces = Converter::new(&walks[1], true);
        assert!(provinces.is_total_function());
        assert_eq!(
            provinces.convert("79"),
            Converted::Code("79"),
            "Hồ Chí Minh"
        );
        assert_eq!(provinces.convert("74"), Converted::Code("79"), "Bình Dương");
    }

    #[test]
    fn recoder_converts_in_the_direction_asked_and_refuses_what_does_not_apply() {
        let walks = builtin_crosswalks();
        let find = |a: &CodeListRef, b: &CodeListRef| {
            walks.iter().find_map(|w| {
                (w.from == *a && w.to == *b)
                    .then(|| Arc::new(Converter::new(w, true)))
                    .or_else(|| {
                        (w.to == *a && w.from == *b).then(|| Arc::new(Converter::new(w, false)))
                    })
            })
        };
        let fields = vec![(
            3,
            "ethnic_code".to_owned(),
            CodeListRef::new("ethnic-group", 2),
        )];
        let into = Recoder::new(
            &fields,
            &[CodeListRef::new("ethnic-group", 1)],
            Direction::IntoDataset,
            &find,
        )
        .unwrap();
        assert_eq!(into.convert(3, "04").unwrap().unwrap(), "06");
        assert!(into.convert(2, "04").is_none());
        let err = into.convert(3, "99").unwrap().unwrap_err();
        assert_eq!(err.code, "code-unknown");
        let out = Recoder::new(
            &fields,
            &[CodeListRef::new("ethnic-group", 1)],
            Direction::FromDataset,
            &find,
        )
        .unwrap();
        let mut rec = serde_json::json!({"ethnic_code": "06", "name": "x"});
        recode_object(&out, rec.as_object_mut().unwrap()).unwrap();
        assert_eq!(rec["ethnic_code"], "04");
        assert!(
            Recoder::new(
                &fields,
                &[CodeListRef::new("admin-ward-legacy", 1)],
                Direction::IntoDataset,
                &find
            )
            .unwrap_err()
            .contains("no field")
        );
        assert!(
            Recoder::new(
                &fields,
                &[CodeListRef::new("ethnic-group", 3)],
                Direction::IntoDataset,
                &find
            )
            .unwrap_err()
            .contains("no crosswalk")
        );
        let same = Recoder::new(
            &fields,
            &[CodeListRef::new("ethnic-group", 2)],
            Direction::IntoDataset,
            &find,
        )
        .unwrap();
        assert!(same.is_empty());
    }
}
