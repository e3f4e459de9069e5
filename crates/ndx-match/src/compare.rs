//! Comparing two prepared person records: the comparison vector the model weighs, and the
//! differences a steward corrects.

use crate::address::{Form, Resolution};
use crate::person::{BirthDate, Prepared};

/// The fields the model compares, in the order of a [`Levels`] vector.
pub const FIELDS: [&str; 4] = ["full_name", "date_of_birth", "sex", "address"];

/// How many agreement levels each field has (the null level not counted).
pub const LEVELS: [usize; 4] = [6, 5, 2, 3];

/// Level names, per field, for the summary.
pub const LEVEL_NAMES: [&[&str]; 4] = [
    &[
        "exact",
        "same without diacritics",
        "same words in another order",
        "one edit, or similar (Jaro-Winkler ≥ 0.94, given names ≥ 0.85)",
        "alike (Jaro-Winkler ≥ 0.85, given names ≥ 0.85)",
        "different",
    ],
    &[
        "exact",
        "day and month swapped",
        "one digit off or same month",
        "same year or compatible partial date",
        "different",
    ],
    &["same", "different"],
    &["same 2025 ward", "same province", "different"],
];

/// One level per field; `None` where either record lacks the value (it weighs nothing).
pub type Levels = [Option<u8>; 4];

/// Compares two records field by field.
pub fn compare(t: &Prepared, r: &Prepared) -> Levels {
    [
        name_level(t, r),
        birth_level(t.birth.as_ref(), r.birth.as_ref()),
        match (t.sex, r.sex) {
            (Some(a), Some(b)) => Some(u8::from(a != b)),
            _ => None,
        },
        address_level(t, r),
    ]
}

/// A compact number for a levels vector (the null level last in each field's radix).
pub fn pattern(levels: &Levels) -> u16 {
    let mut id = 0u16;
    for (f, level) in levels.iter().enumerate() {
        let radix = LEVELS[f] as u16 + 1;
        let value = level.map_or(LEVELS[f] as u16, u16::from);
        id = id * radix + value;
    }
    id
}

/// The levels vector of a [`pattern`] number.
pub fn levels_of(mut id: u16) -> Levels {
    let mut out: Levels = [None; 4];
    for f in (0..4).rev() {
        let radix = LEVELS[f] as u16 + 1;
        let value = id % radix;
        id /= radix;
        out[f] = (usize::from(value) < LEVELS[f]).then_some(value as u8);
    }
    out
}

/// How many distinct [`pattern`] numbers there are.
pub const PATTERNS: usize = (LEVELS[0] + 1) * (LEVELS[1] + 1) * (LEVELS[2] + 1) * (LEVELS[3] + 1);

fn similarity(a: &str, b: &str) -> f64 {
    strsim::jaro_winkler(a, b)
}

/// The level of two prepared names (see [`LEVEL_NAMES`]). The given name (last word) is the
/// most telling part of a Vietnamese name, so a similar full name counts only when the given
/// names are alike too: `Nguyễn Văn Hải` and `Nguyễn Văn Thiện` are different people.
fn name_level_of(a: &crate::person::Name, b: &crate::person::Name) -> u8 {
    if a.exact == b.exact {
        return 0;
    }
    if a.folded == b.folded {
        return 1;
    }
    if a.sorted == b.sorted {
        return 2;
    }
    // Cheapest first: most compared pairs are different people, decided by one Jaro-Winkler.
    let mut full = similarity(&a.folded, &b.folded);
    if full < 0.94 {
        full = full.max(similarity(&a.sorted, &b.sorted));
    }
    if full < 0.85 {
        return 5;
    }
    let given = similarity(a.given(), b.given());
    let one_edit = a.folded.len().abs_diff(b.folded.len()) <= 1
        && strsim::damerau_levenshtein(&a.folded, &b.folded) <= 1;
    if one_edit || (full >= 0.94 && given >= 0.85) {
        3
    } else if given >= 0.85 {
        4
    } else {
        5
    }
}

fn name_level(t: &Prepared, r: &Prepared) -> Option<u8> {
    Some(name_level_of(t.name.as_ref()?, r.name.as_ref()?))
}

fn digits(d: &BirthDate) -> [u8; 8] {
    let year = d.year.rem_euclid(10_000) as u32;
    let mut out = [0u8; 8];
    for (i, v) in [
        year / 1000,
        year / 100 % 10,
        year / 10 % 10,
        year % 10,
        d.month / 10,
        d.month % 10,
        d.day / 10,
        d.day % 10,
    ]
    .into_iter()
    .enumerate()
    {
        out[i] = v as u8;
    }
    out
}

fn birth_level(a: Option<&BirthDate>, b: Option<&BirthDate>) -> Option<u8> {
    let (a, b) = (a?, b?);
    if a.is_full() && b.is_full() {
        Some(if a == b {
            0
        } else if a.swapped().as_ref() == Some(b) {
            1
        } else if (a.year == b.year && a.month == b.month)
            || digits(a)
                .iter()
                .zip(digits(b).iter())
                .filter(|(x, y)| x != y)
                .count()
                == 1
        {
            2
        } else if a.year == b.year {
            3
        } else {
            4
        })
    } else {
        let compatible = a.year == b.year && (a.month == 0 || b.month == 0 || a.month == b.month);
        Some(if compatible { 3 } else { 4 })
    }
}

fn address_level(t: &Prepared, r: &Prepared) -> Option<u8> {
    let (a, b) = (t.units()?, r.units()?);
    if a.resolution == Resolution::Unresolved || b.resolution == Resolution::Unresolved {
        return match (a.province, b.province) {
            (Some(x), Some(y)) if x != y => Some(2),
            _ => None,
        };
    }
    Some(if a.wards.iter().any(|w| b.wards.contains(w)) {
        0
    } else if a.province.is_some() && a.province == b.province {
        1
    } else {
        2
    })
}

/// What kind of difference a steward is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The target's name is the reference's without diacritics.
    DiacriticsLost,
    /// The same words in another order.
    NameOrder,
    /// A close name: a typing mistake (a letter, or a mark on it, wrong, missing or
    /// exchanged).
    NameTypo,
    /// Another name.
    Name,
    /// Day and month of the birth date are exchanged.
    DayMonthSwapped,
    /// The target has only part of the birth date (year, or month and year).
    PartialDate,
    /// Another birth date.
    DateOfBirth,
    /// Another sex.
    Sex,
    /// The address is written with the units before 2025; it names the reference's ward.
    OldAddress,
    /// Another address (ward, or street in the same ward), or one that cannot be read.
    Address,
    /// The target lacks a value the reference has.
    Missing,
    /// The target has no citizen ID.
    CitizenIdMissing,
    /// The target's citizen ID is not 12 digits.
    CitizenIdInvalid,
    /// The target's citizen ID is held by nobody in the reference.
    CitizenIdUnknown,
    /// The target's citizen ID is another person's in the reference.
    CitizenIdWrong,
}

impl Kind {
    /// The stable name in reports: `diacritics-lost`, `day-month-swapped`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DiacriticsLost => "diacritics-lost",
            Kind::NameOrder => "name-order",
            Kind::NameTypo => "name-typo",
            Kind::Name => "name",
            Kind::DayMonthSwapped => "day-month-swapped",
            Kind::PartialDate => "partial-date",
            Kind::DateOfBirth => "date-of-birth",
            Kind::Sex => "sex",
            Kind::OldAddress => "old-address",
            Kind::Address => "address",
            Kind::Missing => "missing",
            Kind::CitizenIdMissing => "citizen-id-missing",
            Kind::CitizenIdInvalid => "citizen-id-invalid",
            Kind::CitizenIdUnknown => "citizen-id-unknown",
            Kind::CitizenIdWrong => "citizen-id-wrong",
        }
    }
}

/// One field where the target differs from the reference, with the reference's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The element id: `full_name`, `date_of_birth`, `sex`, `address`, `citizen_id`.
    pub field: &'static str,
    /// What kind of difference.
    pub kind: Kind,
    /// The reference's value, as the correction would write it.
    pub reference: String,
}

/// The fields (other than the citizen ID) where `t` differs from the reference `r`. A value
/// the reference lacks is no difference: there is nothing to correct it to.
pub fn differences(t: &Prepared, r: &Prepared) -> Vec<Difference> {
    let mut out = Vec::new();
    if let (Some(rn), Some(raw)) = (&r.name, r.raw.full_name.as_deref()) {
        let kind = match &t.name {
            None => Some(Kind::Missing),
            Some(tn) if tn.exact == rn.exact => None,
            // Written without any mark; a mark missing or wrong on some letters is a typo.
            Some(tn) if tn.folded == rn.folded && tn.exact == tn.folded => {
                Some(Kind::DiacriticsLost)
            }
            Some(tn) if tn.folded == rn.folded => Some(Kind::NameTypo),
            Some(tn) if tn.sorted == rn.sorted => Some(Kind::NameOrder),
            Some(tn) if name_level_of(tn, rn) <= 4 => Some(Kind::NameTypo),
            Some(_) => Some(Kind::Name),
        };
        if let Some(kind) = kind {
            out.push(Difference {
                field: "full_name",
                kind,
                reference: raw.trim().to_owned(),
            });
        }
    }
    if let Some(rb) = &r.birth {
        let kind = match &t.birth {
            None => Some(Kind::Missing)
                .filter(|_| t.raw.date_of_birth.is_none())
                .or(
                    // Written but unreadable.
                    Some(Kind::DateOfBirth),
                ),
            Some(tb) if tb == rb => None,
            Some(tb) if tb.swapped().as_ref() == Some(rb) => Some(Kind::DayMonthSwapped),
            Some(tb)
                if !tb.is_full() && rb.is_full() && birth_level(Some(tb), Some(rb)) == Some(3) =>
            {
                Some(Kind::PartialDate)
            }
            Some(_) => Some(Kind::DateOfBirth),
        };
        if let Some(kind) = kind {
            out.push(Difference {
                field: "date_of_birth",
                kind,
                reference: rb.iso(),
            });
        }
    }
    if let Some(rs) = r.sex {
        let kind = match t.sex {
            None => Some(Kind::Missing),
            Some(ts) if ts == rs => None,
            Some(_) => Some(Kind::Sex),
        };
        if let Some(kind) = kind {
            out.push(Difference {
                field: "sex",
                kind,
                reference: rs.to_string(),
            });
        }
    }
    if let Some(ru) = r.units().filter(|u| u.resolution != Resolution::Unresolved) {
        let reference = r
            .address
            .as_ref()
            .and_then(|a| a.current_text())
            .or_else(|| r.address_text());
        let kind = match t.units() {
            None => Some(Kind::Missing),
            Some(tu) if tu.resolution == Resolution::Unresolved => Some(Kind::Address),
            Some(tu) if !tu.wards.iter().any(|w| ru.wards.contains(w)) => Some(Kind::Address),
            Some(_)
                if !t.street_key.is_empty()
                    && !r.street_key.is_empty()
                    && t.street_key != r.street_key =>
            {
                Some(Kind::Address)
            }
            Some(tu) if tu.form == Form::Legacy => Some(Kind::OldAddress),
            Some(_) => None,
        };
        if let (Some(kind), Some(reference)) = (kind, reference) {
            out.push(Difference {
                field: "address",
                kind,
                reference,
            });
        }
    }
    out
}

/// The kinds of error the differences show: each difference's kind, and `diacritics-lost`
/// as well when a name with another mistake was also written without diacritics.
pub fn findings(t: &Prepared, diffs: &[Difference]) -> Vec<Kind> {
    let mut out: Vec<Kind> = diffs.iter().map(|d| d.kind).collect();
    // Stripped as well as mistyped: no mark left, and at least two letters of the
    // reference's name carry one (a single lost mark may be the typo itself).
    let stripped = diffs.iter().any(|d| {
        d.field == "full_name"
            && matches!(d.kind, Kind::NameTypo | Kind::Name | Kind::NameOrder)
            && t.name.as_ref().is_some_and(|n| n.exact == n.folded)
            && marked_letters(&d.reference) >= 2
    });
    if stripped {
        out.push(Kind::DiacriticsLost);
    }
    out
}

fn marked_letters(name: &str) -> usize {
    name.chars()
        .filter(|c| {
            let mut buf = [0u8; 4];
            !ndx_types::text::fold_diacritics(c.encode_utf8(&mut buf)).starts_with(*c)
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::AddressParser;
    use crate::person::{AddressInput, PersonRecord};

    fn person(name: &str, dob: &str, sex: &str, address: &str) -> Prepared {
        Prepared::new(
            PersonRecord {
                id: "x".into(),
                citizen_id: None,
                full_name: Some(name.into()),
                date_of_birth: Some(dob.into()),
                sex: Some(sex.into()),
                address: Some(AddressInput::Text(address.into())),
            },
            &mut AddressParser::new(),
        )
    }

    const HOME: &str = "12 Lê Lợi, Phường Ba Đình, Thành phố Hà Nội";

    #[test]
    fn levels_per_field() {
        let r = person("Nguyễn Văn An", "1985-03-07", "1", HOME);
        let cases = [
            (
                person("Nguyễn Văn An", "1985-03-07", "Nam", HOME),
                [Some(0), Some(0), Some(0), Some(0)],
            ),
            (
                person("Nguyen Van An", "07/03/1985", "1", HOME),
                [Some(1), Some(0), Some(0), Some(0)],
            ),
            (
                person("An Nguyễn Văn", "1985-07-03", "1", HOME),
                [Some(2), Some(1), Some(0), Some(0)],
            ),
            (
                person(
                    "Nguyễn Văn Anh",
                    "1985-03-08",
                    "2",
                    "1 A, Phường Hoàn Kiếm, Hà Nội",
                ),
                [Some(3), Some(2), Some(1), Some(1)],
            ),
            (
                person("Trần Thị Bích", "1985", "1", "1 A, Gotham"),
                [Some(5), Some(3), Some(0), None],
            ),
            (person("", "x", "9", ""), [None, None, None, None]),
        ];
        for (t, want) in cases {
            assert_eq!(compare(&t, &r), want, "{:?}", t.raw);
        }
    }

    #[test]
    fn patterns_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for id in 0..PATTERNS as u16 {
            let levels = levels_of(id);
            assert_eq!(pattern(&levels), id);
            seen.insert(levels);
        }
        assert_eq!(seen.len(), PATTERNS);
    }

    #[test]
    fn differences_name_their_kind_and_the_reference_value() {
        let r = person("Nguyễn Văn An", "1985-03-07", "1", HOME);
        let kinds = |t: &Prepared| -> Vec<(&str, Kind, String)> {
            differences(t, &r)
                .into_iter()
                .map(|d| (d.field, d.kind, d.reference))
                .collect()
        };
        assert!(kinds(&person("NGUYỄN VĂN AN", "07/03/1985", "Nam", HOME)).is_empty());
        assert_eq!(
            kinds(&person("Nguyen Van An", "1985-07-03", "1", HOME)),
            vec![
                (
                    "full_name",
                    Kind::DiacriticsLost,
                    "Nguyễn Văn An".to_owned()
                ),
                (
                    "date_of_birth",
                    Kind::DayMonthSwapped,
                    "1985-03-07".to_owned()
                ),
            ]
        );
        assert_eq!(
            kinds(&person(
                "Nguyễn Văn Ăn",
                "1985",
                "2",
                "12 Lê Lợi, Phường Phúc Xá, Quận Ba Đình, Hà Nội"
            )),
            vec![
                ("full_name", Kind::NameTypo, "Nguyễn Văn An".to_owned()),
                ("date_of_birth", Kind::PartialDate, "1985-03-07".to_owned()),
                ("sex", Kind::Sex, "1".to_owned()),
                ("address", Kind::Address, HOME.to_owned()),
            ]
        );
        // Phúc Xá became Hồng Hà; Trúc Bạch became Ba Đình.
        assert_eq!(
            kinds(&person(
                "Nguyễn Văn Am",
                "1985-03-17",
                "1",
                "12 Lê Lợi, Phường Trúc Bạch, Quận Ba Đình, Thành phố Hà Nội"
            )),
            vec![
                ("full_name", Kind::NameTypo, "Nguyễn Văn An".to_owned()),
                ("date_of_birth", Kind::DateOfBirth, "1985-03-07".to_owned()),
                ("address", Kind::OldAddress, HOME.to_owned()),
            ]
        );
    }
}
