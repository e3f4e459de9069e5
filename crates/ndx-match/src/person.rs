//! A person record as agencies write it, prepared once for comparison: the name in three
//! forms, the birth date (full or partial), the sex code and the parsed address.

use std::sync::Arc;

use chrono::NaiveDate;
use ndx_types::text::{fold_diacritics, fold_lowercase, nfc};

use crate::address::{AddressParser, ParsedAddress, Units, compose};

/// A person record as the dictionary's elements name its fields; every value as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonRecord {
    /// The record's own id in its register (`staff_id`, or the citizen ID of the population).
    pub id: String,
    /// `citizen_id`, the 12-digit citizen identity number, when the record has one.
    pub citizen_id: Option<String>,
    /// `full_name`.
    pub full_name: Option<String>,
    /// `date_of_birth`: ISO (`1985-03-07`), `dd/mm/yyyy`, or partial (`1985`, `03/1985`).
    pub date_of_birth: Option<String>,
    /// `sex`: the ISO/IEC 5218 code or a label of the built-in list (`1`/`2`, `Nam`/`Nữ`).
    pub sex: Option<String>,
    /// The address.
    pub address: Option<AddressInput>,
}

/// An address as free text or as a stored register's codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressInput {
    /// One free-text address (`12 Lê Lợi, Phường Sài Gòn, Thành phố Hồ Chí Minh`).
    Text(String),
    /// `street_address`, `ward_code`, `province_code` (2025 codes).
    Codes {
        /// Street, house number.
        street: Option<String>,
        /// 2025 ward code.
        ward_code: Option<String>,
        /// 2025 province code.
        province_code: Option<String>,
    },
}

/// A birth date with its known parts (month and day may be unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BirthDate {
    /// Year.
    pub year: i32,
    /// Month 1–12, 0 when unknown.
    pub month: u32,
    /// Day 1–31, 0 when unknown.
    pub day: u32,
}

impl BirthDate {
    /// Whether year, month and day are all known.
    pub fn is_full(&self) -> bool {
        self.month != 0 && self.day != 0
    }

    /// The same date with day and month exchanged, when that is another valid date.
    pub fn swapped(&self) -> Option<BirthDate> {
        (self.is_full() && self.day <= 12 && self.day != self.month)
            .then(|| NaiveDate::from_ymd_opt(self.year, self.day, self.month))
            .flatten()
            .map(|_| BirthDate {
                year: self.year,
                month: self.day,
                day: self.month,
            })
    }

    /// ISO form: `1985-03-07`, `1985-03`, `1985`.
    pub fn iso(&self) -> String {
        match (self.month, self.day) {
            (0, _) => format!("{:04}", self.year),
            (m, 0) => format!("{:04}-{m:02}", self.year),
            (m, d) => format!("{:04}-{m:02}-{d:02}", self.year),
        }
    }

    /// Parses the forms agencies write: `yyyy-mm-dd`, `yyyy-mm`, `yyyy`, `dd/mm/yyyy`,
    /// `mm/yyyy` (also with `-` or `.` between day, month and year). `None` for anything else
    /// or an impossible date.
    pub fn parse(text: &str) -> Option<BirthDate> {
        let text = text.trim();
        let parts: Vec<&str> = text.split(['-', '/', '.']).collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        let num = |s: &str| s.parse::<u32>().ok();
        let (year, month, day) = match parts.as_slice() {
            [y] if y.len() == 4 => (num(y)?, 0, 0),
            [y, m] if y.len() == 4 && m.len() <= 2 => (num(y)?, num(m)?, 0),
            [m, y] if y.len() == 4 && m.len() <= 2 => (num(y)?, num(m)?, 0),
            [y, m, d] if y.len() == 4 && m.len() <= 2 && d.len() <= 2 => {
                (num(y)?, num(m)?, num(d)?)
            }
            [d, m, y] if y.len() == 4 && m.len() <= 2 && d.len() <= 2 => {
                (num(y)?, num(m)?, num(d)?)
            }
            _ => return None,
        };
        let year = i32::try_from(year).ok()?;
        let valid = match (month, day) {
            (0, 0) => true,
            (m, 0) => (1..=12).contains(&m),
            (m, d) => NaiveDate::from_ymd_opt(year, m, d).is_some(),
        };
        valid.then_some(BirthDate { year, month, day })
    }
}

/// ISO/IEC 5218 `1` (male) or `2` (female) from a code or a label of the built-in list, in
/// Vietnamese or English, with or without diacritics; `None` for unknown, not applicable or
/// anything else.
pub fn parse_sex(text: &str) -> Option<u8> {
    match fold_lowercase(text.trim()).as_str() {
        "1" | "nam" | "male" | "m" => Some(1),
        "2" | "nu" | "female" | "f" => Some(2),
        _ => None,
    }
}

/// A person's name in the forms it is compared in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Name {
    /// NFC, lower case, single spaces: differences of case and spacing are not errors.
    pub exact: String,
    /// `exact` without diacritics.
    pub folded: String,
    /// The folded words sorted: the same name in another order (`An Nguyễn Văn`).
    pub sorted: String,
}

impl Name {
    /// Prepares a written name.
    pub fn new(text: &str) -> Name {
        let exact = nfc(text)
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let folded = fold_diacritics(&exact);
        let mut words: Vec<&str> = folded.split(' ').collect();
        words.sort_unstable();
        let sorted = words.join(" ");
        Name {
            exact,
            folded,
            sorted,
        }
    }

    /// The first word (the family name in Vietnamese order), folded.
    pub fn family(&self) -> &str {
        self.folded.split(' ').next().unwrap_or("")
    }

    /// The last word (the given name in Vietnamese order), folded.
    pub fn given(&self) -> &str {
        self.folded.rsplit(' ').next().unwrap_or("")
    }
}

/// A person record prepared for comparison. The raw record is kept for the report.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The record as written.
    pub raw: PersonRecord,
    /// The citizen ID when it is 12 digits.
    pub citizen_id: Option<String>,
    /// The name, if any.
    pub name: Option<Name>,
    /// The birth date, if readable.
    pub birth: Option<BirthDate>,
    /// The sex code, if known.
    pub sex: Option<u8>,
    /// The parsed address, if any.
    pub address: Option<ParsedAddress>,
    /// The street, keyed for comparison (see [`crate::address::unit_key`]).
    pub street_key: String,
}

impl Prepared {
    /// Prepares a record; the parser's cache is shared by every record of a run.
    pub fn new(raw: PersonRecord, parser: &mut AddressParser) -> Prepared {
        let citizen_id = raw
            .citizen_id
            .as_deref()
            .map(str::trim)
            .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned);
        let name = raw
            .full_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .map(Name::new);
        let birth = raw.date_of_birth.as_deref().and_then(BirthDate::parse);
        let sex = raw.sex.as_deref().and_then(parse_sex);
        let address = raw.address.as_ref().and_then(|a| match a {
            AddressInput::Text(t) if t.trim().is_empty() => None,
            AddressInput::Text(t) => Some(parser.parse(t)),
            AddressInput::Codes {
                street,
                ward_code,
                province_code,
            } => Some(ParsedAddress {
                street: street.clone().unwrap_or_default(),
                units: Arc::new(AddressParser::from_codes(
                    ward_code.as_deref(),
                    province_code.as_deref(),
                )),
            }),
        });
        let street_key = address
            .as_ref()
            .map(|a| crate::address::unit_key(&a.street))
            .unwrap_or_default();
        Prepared {
            raw,
            citizen_id,
            name,
            birth,
            sex,
            address,
            street_key,
        }
    }

    /// The units of the address, if any.
    pub fn units(&self) -> Option<&Units> {
        self.address.as_ref().map(|a| &*a.units)
    }

    /// The address as the report shows the reference's value: as written, or composed from
    /// the codes' official names.
    pub fn address_text(&self) -> Option<String> {
        match self.raw.address.as_ref()? {
            AddressInput::Text(t) => Some(t.clone()),
            AddressInput::Codes { street, .. } => {
                let a = self.address.as_ref()?;
                let ward = a.units.ward().and_then(ndx_types::reference::ward_2025)?;
                let province = ndx_types::reference::province_2025(&ward.province_code)?;
                Some(compose(
                    street.as_deref().unwrap_or(""),
                    &ward.name,
                    &province.name,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_the_forms_agencies_write() {
        let d = |y, m, d| {
            Some(BirthDate {
                year: y,
                month: m,
                day: d,
            })
        };
        assert_eq!(BirthDate::parse("1985-03-07"), d(1985, 3, 7));
        assert_eq!(BirthDate::parse("07/03/1985"), d(1985, 3, 7));
        assert_eq!(BirthDate::parse("7/3/1985"), d(1985, 3, 7));
        assert_eq!(BirthDate::parse("07-03-1985"), d(1985, 3, 7));
        assert_eq!(BirthDate::parse("03/1985"), d(1985, 3, 0));
        assert_eq!(BirthDate::parse("1985"), d(1985, 0, 0));
        for bad in [
            "",
            "31/02/1985",
            "1985-13",
            "85",
            "1985-03-07T00:00",
            "abc",
            "13/13/1985",
        ] {
            assert_eq!(BirthDate::parse(bad), None, "{bad}");
        }
        assert_eq!(
            BirthDate::parse("1985-03-07").unwrap().swapped(),
            d(1985, 7, 3)
        );
        assert_eq!(BirthDate::parse("1985-03-13").unwrap().swapped(), None);
        assert_eq!(BirthDate::parse("1985-03-03").unwrap().swapped(), None);
        assert_eq!(BirthDate::parse("03/1985").unwrap().iso(), "1985-03");
    }

    #[test]
    fn sex_from_codes_and_labels() {
        for (text, want) in [
            ("1", Some(1)),
            ("Nam", Some(1)),
            ("male", Some(1)),
            ("2", Some(2)),
            ("Nữ", Some(2)),
            ("NU", Some(2)),
            ("0", None),
            ("9", None),
            ("x", None),
        ] {
            assert_eq!(parse_sex(text), want, "{text}");
        }
    }

    #[test]
    fn names_in_three_forms() {
        let n = Name::new("  Nguyễn   Văn  An ");
        assert_eq!(n.exact, "nguyễn văn an");
        assert_eq!(n.folded, "nguyen van an");
        assert_eq!(n.sorted, "an nguyen van");
        assert_eq!(n.family(), "nguyen");
        assert_eq!(n.given(), "an");
        assert_eq!(Name::new("An Nguyễn Văn").sorted, n.sorted);
        assert_eq!(Name::new("Đỗ Thị Đào").folded, "do thi dao");
    }
}
