//! Validation of the built-in value formats: citizen identity numbers (CCCD), enterprise tax
//! codes, mobile numbers, e-mail addresses, dates, partial dates and timestamps.
//!
//! Every check returns a [`FormatError`] whose `code` is stable (kebab-case, safe to match on
//! and to publish) and whose `message` tells a person precisely what is wrong, quoting the
//! offending value. Values are expected in their canonical form, as the data-message standard
//! stores them: no surrounding spaces, no separators inside numbers.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use email_address::EmailAddress;
use serde::Serialize;

use crate::reference;

/// Why a value does not have its expected format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FormatError {
    /// Stable kebab-case error code, e.g. `"citizen-id-length"`.
    pub code: &'static str,
    /// Human-readable explanation: lowercase, no trailing dot, quotes the offending value.
    pub message: String,
}

impl FormatError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        FormatError {
            code,
            message: message.into(),
        }
    }
}

/// Quotes one character for a message, escaping it if it is not printable.
fn quote_char(c: char) -> String {
    format!("{:?}", c.to_string())
}

/// The first character of `s` that is not an ASCII digit, with its 1-based position.
fn first_non_digit(s: &str) -> Option<(usize, char)> {
    s.chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_digit())
        .map(|(i, c)| (i + 1, c))
}

// ---------------------------------------------------------------------------------------------
// Sex
// ---------------------------------------------------------------------------------------------

/// ISO/IEC 5218 sex codes as used in ndx: `1` male, `2` female. The code list also has `0`
/// (not known) and `9` (not applicable), which carry no sex and so have no variant here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Sex {
    /// ISO/IEC 5218 code `1`.
    Male,
    /// ISO/IEC 5218 code `2`.
    Female,
}

impl Sex {
    /// The ISO/IEC 5218 code: `"1"` or `"2"`.
    pub fn iso5218(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
        }
    }

    /// The sex for an ISO/IEC 5218 code; `None` for `"0"`, `"9"` and anything else.
    pub fn from_iso5218(code: &str) -> Option<Sex> {
        match code {
            "1" => Some(Sex::Male),
            "2" => Some(Sex::Female),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Citizen identity number (CCCD)
// ---------------------------------------------------------------------------------------------

/// First and last birth year a citizen identity number can encode (century digits 0–9).
const CITIZEN_ID_YEARS: std::ops::RangeInclusive<i32> = 1900..=2399;

/// A parsed 12-digit Vietnamese citizen identity number (căn cước công dân), laid out by
/// Circular 07/2016/TT-BCA:
///
/// - 3 digits: the pre-2025 province of registration, a `cccd_prefix` of
///   [`reference::legacy_provinces`];
/// - 1 digit for century and sex: `0` male / `1` female born 1900–1999, `2`/`3` 2000–2099,
///   `4`/`5` 2100–2199, `6`/`7` 2200–2299, `8`/`9` 2300–2399;
/// - 2 digits: the last two digits of the birth year;
/// - 6 digits: a serial number.
///
/// [`fmt::Display`] writes the 12 digits back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CitizenId {
    /// The three-digit province prefix, e.g. `"001"` (Hà Nội).
    pub province_prefix: String,
    /// The holder's sex.
    pub sex: Sex,
    /// The holder's full birth year, 1900–2399.
    pub birth_year: i32,
    /// The six-digit serial number.
    pub serial: String,
}

/// The century-and-sex digit for a birth year in [`CITIZEN_ID_YEARS`].
fn century_sex_digit(sex: Sex, birth_year: i32) -> i32 {
    let female = match sex {
        Sex::Male => 0,
        Sex::Female => 1,
    };
    (birth_year / 100 - 19) * 2 + female
}

/// Parses a citizen identity number; see [`CitizenId`] for the layout.
///
/// Error codes: `citizen-id-not-digits`, `citizen-id-length`, `citizen-id-province`.
/// Every century digit is defined, so the birth year is always 1900–2399; whether it lies in
/// the future is checked by [`CitizenId::check_not_born_after`].
pub fn parse_citizen_id(s: &str) -> Result<CitizenId, FormatError> {
    if let Some((position, c)) = first_non_digit(s) {
        return Err(FormatError::new(
            "citizen-id-not-digits",
            format!(
                "citizen id {s:?} must contain only digits, found {} at position {position}",
                quote_char(c)
            ),
        ));
    }
    if s.len() != 12 {
        return Err(FormatError::new(
            "citizen-id-length",
            format!("citizen id {s:?} must have 12 digits, found {}", s.len()),
        ));
    }
    // All ASCII digits from here on, so byte slicing is safe.
    let prefix = &s[..3];
    if reference::legacy_province_by_cccd_prefix(prefix).is_none() {
        return Err(FormatError::new(
            "citizen-id-province",
            format!(
                "citizen id {s:?} starts with {prefix:?}, which is not the code of any province"
            ),
        ));
    }
    let b = s.as_bytes();
    let digit = i32::from(b[3] - b'0');
    let yy = i32::from(b[4] - b'0') * 10 + i32::from(b[5] - b'0');
    let sex = if digit % 2 == 0 {
        Sex::Male
    } else {
        Sex::Female
    };
    Ok(CitizenId {
        province_prefix: prefix.to_owned(),
        sex,
        birth_year: 1900 + (digit / 2) * 100 + yy,
        serial: s[6..].to_owned(),
    })
}

impl CitizenId {
    /// Checks a record's birth year and sex against the ID; a `None` is not checked.
    ///
    /// Error codes: `citizen-id-birth-year-mismatch` (checked first),
    /// `citizen-id-sex-mismatch`.
    pub fn check_agrees(
        &self,
        birth_year: Option<i32>,
        sex: Option<Sex>,
    ) -> Result<(), FormatError> {
        if let Some(year) = birth_year.filter(|&year| year != self.birth_year) {
            return Err(FormatError::new(
                "citizen-id-birth-year-mismatch",
                format!(
                    "citizen id \"{self}\" gives birth year {}, but the record's birth year is {year}",
                    self.birth_year
                ),
            ));
        }
        if let Some(sex) = sex.filter(|&sex| sex != self.sex) {
            return Err(FormatError::new(
                "citizen-id-sex-mismatch",
                format!(
                    "citizen id \"{self}\" gives sex {} ({}), but the record's sex is {} ({})",
                    self.sex.label(),
                    self.sex.iso5218(),
                    sex.label(),
                    sex.iso5218()
                ),
            ));
        }
        Ok(())
    }

    /// Refuses an ID whose birth year lies after `current_year` (passed in: this crate reads no
    /// clock). Such an ID almost always has a wrong century digit, e.g. `2` (2000s) typed for
    /// `0` (1900s).
    ///
    /// Error code: `citizen-id-century`.
    pub fn check_not_born_after(&self, current_year: i32) -> Result<(), FormatError> {
        if self.birth_year <= current_year {
            return Ok(());
        }
        Err(FormatError::new(
            "citizen-id-century",
            format!(
                "citizen id \"{self}\" has century digit {}, which gives birth year {}, after the current year {current_year}",
                century_sex_digit(self.sex, self.birth_year),
                self.birth_year
            ),
        ))
    }

    /// Builds a valid ID string from its parts (for generators and tests).
    ///
    /// `None` if the prefix is not a province's `cccd_prefix`, the year is outside
    /// 1900..=2399 or the serial has more than six digits.
    pub fn compose(
        province_prefix: &str,
        sex: Sex,
        birth_year: i32,
        serial: u32,
    ) -> Option<String> {
        reference::legacy_province_by_cccd_prefix(province_prefix)?;
        if !CITIZEN_ID_YEARS.contains(&birth_year) || serial > 999_999 {
            return None;
        }
        Some(format!(
            "{province_prefix}{}{:02}{serial:06}",
            century_sex_digit(sex, birth_year),
            birth_year % 100
        ))
    }
}

impl fmt::Display for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{:02}{}",
            self.province_prefix,
            century_sex_digit(self.sex, self.birth_year),
            self.birth_year.rem_euclid(100),
            self.serial
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Enterprise tax code (mã số thuế)
// ---------------------------------------------------------------------------------------------

/// Weights of the first nine digits of an enterprise tax code.
const TAX_CODE_WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];

/// The check digit (10th digit) of an enterprise tax code for its first nine digits, given as
/// digit values `0..=9` (not ASCII bytes).
///
/// The weighted sum `s = 31·d1 + 29·d2 + 23·d3 + 19·d4 + 17·d5 + 13·d6 + 7·d7 + 5·d8 + 3·d9`
/// gives the check digit `10 − (s mod 11)`. When `s mod 11` is 10 the check digit is 0; when
/// it is 0 the formula gives 10, which is not a digit, so no valid code starts with these nine
/// digits and the function returns `None` (as it does for an element above 9).
///
/// Source: python-stdnum, `stdnum/vn/mst.py` (`calc_check_digit`, by Leandro Regueiro, 2020),
/// whose doctests `0100233488` and `0314409058-002` are among the tests here.
pub fn tax_code_check_digit(first9: &[u8; 9]) -> Option<u8> {
    if first9.iter().any(|&d| d > 9) {
        return None;
    }
    let sum: u32 = first9
        .iter()
        .zip(TAX_CODE_WEIGHTS)
        .map(|(&d, w)| u32::from(d) * w)
        .sum();
    match sum % 11 {
        0 => None,
        r => u8::try_from(10 - r).ok(),
    }
}

/// Validates a Vietnamese enterprise tax code (mã số thuế): 10 digits, or for a branch 10
/// digits, `-` and a 3-digit branch number `001`–`999`.
///
/// The first two digits are the province of registration, the next seven a serial number
/// `0000001`–`9999999`, the tenth a check digit ([`tax_code_check_digit`]).
///
/// Error codes: `tax-code-shape`, `tax-code-check-digit`, `tax-code-serial`, `tax-code-branch`.
pub fn validate_tax_code(s: &str) -> Result<(), FormatError> {
    let shape =
        |detail: String| FormatError::new("tax-code-shape", format!("tax code {s:?} {detail}"));
    let (main, branch) = match s.split_once('-') {
        Some((main, branch)) => (main, Some(branch)),
        None => (s, None),
    };
    if let Some((position, c)) = first_non_digit(main) {
        return Err(shape(format!(
            "must be 10 digits, optionally followed by \"-\" and a 3-digit branch number, found {} at position {position}",
            quote_char(c)
        )));
    }
    if branch.is_none() && main.len() == 13 {
        return Err(shape(format!(
            "must separate the branch number with \"-\", as in \"{}-{}\"",
            &main[..10],
            &main[10..]
        )));
    }
    if main.len() != 10 {
        return Err(shape(format!(
            "must be 10 digits, optionally followed by \"-\" and a 3-digit branch number, found {} digits",
            main.len()
        )));
    }
    if let Some(branch) = branch.filter(|b| b.len() != 3 || !b.bytes().all(|d| d.is_ascii_digit()))
    {
        return Err(shape(format!(
            "must have a 3-digit branch number after \"-\", found {branch:?}"
        )));
    }

    let digits: Vec<u8> = main.bytes().map(|b| b - b'0').collect();
    let mut first9 = [0u8; 9];
    first9.copy_from_slice(&digits[..9]);
    let found = digits[9];
    match tax_code_check_digit(&first9) {
        None => {
            return Err(FormatError::new(
                "tax-code-check-digit",
                format!(
                    "tax code {s:?} cannot be valid: no check digit exists for its first nine digits \"{}\"",
                    &main[..9]
                ),
            ));
        }
        Some(expected) if expected != found => {
            return Err(FormatError::new(
                "tax-code-check-digit",
                format!("tax code {s:?} has check digit {found}, expected {expected}"),
            ));
        }
        Some(_) => {}
    }
    if &main[2..9] == "0000000" {
        return Err(FormatError::new(
            "tax-code-serial",
            format!("tax code {s:?} has serial number 0000000; serial numbers start at 0000001"),
        ));
    }
    if branch == Some("000") {
        return Err(FormatError::new(
            "tax-code-branch",
            format!("tax code {s:?} has branch number 000; branch numbers run from 001 to 999"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Mobile numbers
// ---------------------------------------------------------------------------------------------

/// Mobile network prefixes (national form, with the leading 0) allocated since the 2018
/// move from 11- to 10-digit numbers:
/// Viettel 032–039, 086, 096–098; VinaPhone 081–085, 088, 091, 094; MobiFone 070, 076–079,
/// 089, 090, 093; Vietnamobile 052, 056, 058, 092; Gmobile 059, 099; Itelecom 087;
/// Wintel (formerly Reddi) 055.
///
/// Cross-checked against the mobile pattern of Google's libphonenumber metadata for `VN`,
/// which covers every prefix here (for 052 and 055 only some blocks: 0522/0523/0528, 0559)
/// and additionally admits 030, 031, 051 and 095, which no network uses.
const MOBILE_PREFIXES: [&str; 36] = [
    "032", "033", "034", "035", "036", "037", "038", "039", // Viettel
    "052", "055", "056", "058", "059", // Vietnamobile, Wintel, Vietnamobile, Gmobile
    "070", "076", "077", "078", "079", // MobiFone
    "081", "082", "083", "084", "085", "086", "087", "088", "089", // VinaPhone, Viettel, …
    "090", "091", "092", "093", "094", "096", "097", "098", "099", // all networks
];

/// Validates a Vietnamese mobile number in canonical form: 10 digits starting with `0` and an
/// allocated mobile prefix (see the list in the source), or the international form `+84`
/// followed by the same number without its leading 0 (`0912345678` = `+84912345678`).
/// Spaces, dots, dashes and brackets are refused: the data-message standard stores numbers
/// without them.
///
/// Error codes: `mobile-shape`, `mobile-prefix`.
pub fn validate_vn_mobile(s: &str) -> Result<(), FormatError> {
    let shape =
        |detail: String| FormatError::new("mobile-shape", format!("mobile number {s:?} {detail}"));
    if s.is_empty() {
        return Err(shape("is empty".to_owned()));
    }
    if s.chars()
        .any(|c| c.is_whitespace() || matches!(c, '.' | '-' | '(' | ')'))
    {
        return Err(shape(
            "must be written without spaces, dots, dashes or brackets, e.g. \"0912345678\" or \"+84912345678\"".to_owned(),
        ));
    }
    let national = if let Some(rest) = s.strip_prefix("+84") {
        if let Some((position, c)) = first_non_digit(rest) {
            return Err(shape(format!(
                "must contain only digits after \"+84\", found {} at position {}",
                quote_char(c),
                position + 3
            )));
        }
        if rest.starts_with('0') {
            return Err(shape(
                "must drop the leading 0 after \"+84\", as in \"+84912345678\"".to_owned(),
            ));
        }
        if rest.len() != 9 {
            return Err(shape(format!(
                "must have 9 digits after \"+84\", found {}",
                rest.len()
            )));
        }
        format!("0{rest}")
    } else if s.starts_with('+') {
        return Err(shape("must use the country code +84".to_owned()));
    } else {
        if let Some((position, c)) = first_non_digit(s) {
            return Err(shape(format!(
                "must contain only digits, optionally after \"+84\", found {} at position {position}",
                quote_char(c)
            )));
        }
        if s.starts_with("84") && s.len() == 11 {
            return Err(shape(
                "must start with 0, or with \"+84\" in the international form".to_owned(),
            ));
        }
        if !s.starts_with('0') {
            return Err(shape("must start with 0 or \"+84\"".to_owned()));
        }
        if s.len() != 10 {
            return Err(shape(format!("must have 10 digits, found {}", s.len())));
        }
        s.to_owned()
    };
    let prefix = &national[..3];
    if MOBILE_PREFIXES.contains(&prefix) {
        return Ok(());
    }
    let what = if prefix.starts_with("02") {
        "a landline area code, not a mobile prefix"
    } else {
        "not allocated to any mobile network"
    };
    Err(FormatError::new(
        "mobile-prefix",
        format!("mobile number {s:?} has prefix {prefix:?}, which is {what}"),
    ))
}

// ---------------------------------------------------------------------------------------------
// E-mail
// ---------------------------------------------------------------------------------------------

/// Longest e-mail address accepted, in bytes (RFC 5321 path limit less the angle brackets;
/// RFC 3696 erratum 1690).
const EMAIL_MAX_LEN: usize = 254;

/// Validates a bare e-mail address (`name@example.vn`): RFC 5321/5322 syntax as checked by
/// the `email_address` crate, with a dotted domain, no display name (`Name <a@b.vn>`), no
/// domain literal (`a@[192.0.2.1]`), at most 254 bytes.
///
/// Error codes: `email-too-long`, `email-invalid`.
pub fn validate_email(s: &str) -> Result<(), FormatError> {
    if s.len() > EMAIL_MAX_LEN {
        return Err(FormatError::new(
            "email-too-long",
            format!(
                "email address {s:?} is {} bytes long, the maximum is {EMAIL_MAX_LEN}",
                s.len()
            ),
        ));
    }
    if s.is_empty() {
        return Err(FormatError::new(
            "email-invalid",
            "email address \"\" is empty",
        ));
    }
    let options = email_address::Options::default()
        .with_required_tld()
        .without_display_text()
        .without_domain_literal();
    EmailAddress::parse_with_options(s, options)
        .map(|_| ())
        .map_err(|e| {
            FormatError::new(
                "email-invalid",
                format!("email address {s:?} is not valid: {}", email_reason(&e)),
            )
        })
}

fn email_reason(e: &email_address::Error) -> &'static str {
    use email_address::Error as E;
    match e {
        E::MissingSeparator => "it has no \"@\"",
        E::LocalPartEmpty => "nothing comes before the \"@\"",
        E::LocalPartTooLong => "the part before the \"@\" is longer than 64 characters",
        E::DomainEmpty => "nothing comes after the \"@\"",
        E::DomainTooLong => "the domain is too long",
        E::SubDomainEmpty => "the domain has an empty part",
        E::SubDomainTooLong => "a part of the domain is longer than 63 characters",
        E::DomainTooFew => "the domain needs at least two parts, e.g. \"example.vn\"",
        E::DomainInvalidSeparator => "a dot in the domain is misplaced",
        E::InvalidCharacter => "it contains a character not allowed there",
        E::UnbalancedQuotes => "its quotes are unbalanced",
        E::InvalidComment => "it contains a malformed comment",
        E::UnsupportedDomainLiteral => "a domain literal such as \"[192.0.2.1]\" is not accepted",
        E::UnsupportedDisplayName => "only the bare address is accepted, without a display name",
        _ => "it is malformed",
    }
}

// ---------------------------------------------------------------------------------------------
// Dates and times
// ---------------------------------------------------------------------------------------------

const MONTH_NAMES: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Reads `n` ASCII digits of `b` starting at `start`.
fn digits(b: &[u8], start: usize, n: usize) -> Option<u32> {
    b.get(start..start + n)?.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

/// Reads `YYYY-MM-DD` (any numbers in the fields).
fn split_ymd(s: &str) -> Option<(i32, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(b, 0, 4)?).ok()?;
    Some((year, digits(b, 5, 2)?, digits(b, 8, 2)?))
}

/// Why a month number is not a month, as the end of a sentence.
fn check_month(month: u32) -> Result<(), String> {
    if (1..=12).contains(&month) {
        Ok(())
    } else {
        Err(format!("has month {month:02}; months run from 01 to 12"))
    }
}

/// Why a year is not a year of the civil calendar, as the end of a sentence: it counts
/// 1 BC, 1 AD, so there is no year 0 (ISO 8601 has one only by agreement between parties).
fn check_year(year: i32) -> Result<(), String> {
    if year == 0 {
        Err("has year 0000, which the civil calendar does not have; years start at 0001".to_owned())
    } else {
        Ok(())
    }
}

/// The calendar date, or why it does not exist, as the end of a sentence.
fn calendar_date(year: i32, month: u32, day: u32) -> Result<NaiveDate, String> {
    check_year(year)?;
    check_month(month)?;
    let days = days_in_month(year, month);
    if day == 0 {
        return Err("has day 00; days start at 01".to_owned());
    }
    if day > days {
        let month_name = MONTH_NAMES[(month - 1) as usize];
        return Err(format!(
            "does not exist: {month_name} {year:04} has {days} days"
        ));
    }
    NaiveDate::from_ymd_opt(year, month, day)
        .ok_or_else(|| "is outside the supported range of dates".to_owned())
}

/// Parses a date written strictly `YYYY-MM-DD` (ISO 8601 calendar date, extended format) that
/// exists in the calendar: `2024-02-29` is accepted, `2023-02-29` refused.
///
/// Error code: `date-invalid`.
pub fn parse_iso_date(s: &str) -> Result<NaiveDate, FormatError> {
    let err = |detail: String| FormatError::new("date-invalid", format!("date {s:?} {detail}"));
    let (year, month, day) = split_ymd(s)
        .ok_or_else(|| err("must be written YYYY-MM-DD, e.g. \"1987-05-23\"".to_owned()))?;
    calendar_date(year, month, day).map_err(err)
}

/// A date as civil registers hold it: year only, year and month, or a full date.
///
/// [`fmt::Display`] writes it back as `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartialDate {
    /// Only the year is known.
    Year(i32),
    /// The year and the month (1–12) are known.
    YearMonth(i32, u32),
    /// The full date is known.
    Full(NaiveDate),
}

impl PartialDate {
    /// The year, which every partial date has.
    pub fn year(&self) -> i32 {
        use chrono::Datelike;
        match *self {
            PartialDate::Year(year) | PartialDate::YearMonth(year, _) => year,
            PartialDate::Full(date) => date.year(),
        }
    }

    /// The first day the date may mean: `1987` → 1987-01-01.
    pub fn first_day(&self) -> Option<NaiveDate> {
        match *self {
            PartialDate::Year(year) => NaiveDate::from_ymd_opt(year, 1, 1),
            PartialDate::YearMonth(year, month) => NaiveDate::from_ymd_opt(year, month, 1),
            PartialDate::Full(date) => Some(date),
        }
    }

    /// The last day the date may mean: `1987-02` → 1987-02-28.
    pub fn last_day(&self) -> Option<NaiveDate> {
        match *self {
            PartialDate::Year(year) => NaiveDate::from_ymd_opt(year, 12, 31),
            PartialDate::YearMonth(year, month) => {
                NaiveDate::from_ymd_opt(year, month, days_in_month(year, month))
            }
            PartialDate::Full(date) => Some(date),
        }
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartialDate::Year(year) => write!(f, "{year:04}"),
            PartialDate::YearMonth(year, month) => write!(f, "{year:04}-{month:02}"),
            PartialDate::Full(date) => write!(f, "{}", date.format("%Y-%m-%d")),
        }
    }
}

/// Parses a partial date: `YYYY` (`"1987"`), `YYYY-MM` (`"1987-05"`) or `YYYY-MM-DD`
/// (`"1987-05-23"`), with 4-digit years and real months and days.
///
/// Error code: `partial-date-invalid`.
pub fn parse_partial_date(s: &str) -> Result<PartialDate, FormatError> {
    let err = |detail: String| {
        FormatError::new(
            "partial-date-invalid",
            format!("partial date {s:?} {detail}"),
        )
    };
    let shape = || {
        err("must be written YYYY, YYYY-MM or YYYY-MM-DD, e.g. \"1987\", \"1987-05\" or \"1987-05-23\"".to_owned())
    };
    let b = s.as_bytes();
    let year = digits(b, 0, 4)
        .and_then(|y| i32::try_from(y).ok())
        .ok_or_else(shape)?;
    match b.len() {
        4 => {
            check_year(year).map_err(err)?;
            Ok(PartialDate::Year(year))
        }
        7 if b[4] == b'-' => {
            let month = digits(b, 5, 2).ok_or_else(shape)?;
            check_year(year).map_err(err)?;
            check_month(month).map_err(err)?;
            Ok(PartialDate::YearMonth(year, month))
        }
        10 => {
            let (year, month, day) = split_ymd(s).ok_or_else(shape)?;
            calendar_date(year, month, day)
                .map(PartialDate::Full)
                .map_err(err)
        }
        _ => Err(shape()),
    }
}

/// Whether `s` ends in an offset such as `+0700`, which ISO 8601 allows but RFC 3339 does not.
fn offset_without_colon(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 5 && {
        let tail = &b[b.len() - 5..];
        matches!(tail[0], b'+' | b'-') && tail[1..].iter().all(u8::is_ascii_digit)
    }
}

/// Parses an RFC 3339 timestamp with its UTC offset, e.g. `"2025-07-01T08:30:00+07:00"` or
/// `"2025-07-01T01:30:00.250Z"`. As RFC 3339 allows, `t`, `z` and a space in place of `T`
/// are accepted.
///
/// Error code: `datetime-invalid`.
pub fn parse_datetime(s: &str) -> Result<DateTime<FixedOffset>, FormatError> {
    use chrono::Datelike;
    if let Some(Err(why)) = s
        .get(..4)
        .and_then(|y| y.parse::<i32>().ok())
        .map(check_year)
    {
        return Err(FormatError::new(
            "datetime-invalid",
            format!("datetime {s:?} {why}"),
        ));
    }
    let parsed = DateTime::parse_from_rfc3339(s);
    if let Ok(t) = &parsed
        && let Err(why) = check_year(t.year())
    {
        return Err(FormatError::new(
            "datetime-invalid",
            format!("datetime {s:?} {why}"),
        ));
    }
    parsed.map_err(|e| {
        let detail = if let Some(Err(why)) = s
            .get(..10)
            .and_then(split_ymd)
            .map(|(y, m, d)| calendar_date(y, m, d))
        {
            why
        } else if NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok() {
            "has no utc offset; end it with \"Z\" or an offset such as \"+07:00\"".to_owned()
        } else if offset_without_colon(s) {
            "has its utc offset without a colon; write it as in \"+07:00\"".to_owned()
        } else if split_ymd(s).is_some() {
            "is a date without a time, e.g. write \"2025-07-01T08:30:00+07:00\"".to_owned()
        } else {
            format!("is not an rfc 3339 timestamp such as \"2025-07-01T08:30:00+07:00\": {e}")
        };
        FormatError::new("datetime-invalid", format!("datetime {s:?} {detail}"))
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Asserts that `result` failed with `code`, and returns the message.
    #[track_caller]
    fn expect_code<T: fmt::Debug>(
        input: &str,
        result: Result<T, FormatError>,
        code: &str,
    ) -> String {
        match result {
            Ok(value) => panic!("{input:?} was accepted as {value:?}, expected {code}"),
            Err(e) => {
                assert_eq!(e.code, code, "{input:?}: {}", e.message);
                assert!(
                    e.message.contains(&format!("{input:?}")),
                    "message does not quote {input:?}: {}",
                    e.message
                );
                assert!(!e.message.ends_with('.'), "{}", e.message);
                assert_eq!(e.to_string(), e.message);
                e.message
            }
        }
    }

    fn assert_message_style(message: &str) {
        let first = message.chars().next().expect("message is not empty");
        assert!(first.is_lowercase(), "{message}");
        assert!(!message.ends_with('.'), "{message}");
    }

    // --- sex ---------------------------------------------------------------------------------

    #[test]
    fn sex_codes() {
        for sex in [Sex::Male, Sex::Female] {
            assert_eq!(Sex::from_iso5218(sex.iso5218()), Some(sex));
        }
        assert_eq!(Sex::Male.iso5218(), "1");
        assert_eq!(Sex::Female.iso5218(), "2");
        for code in ["0", "9", "", "3", "01", "M", "male"] {
            assert_eq!(Sex::from_iso5218(code), None, "{code:?}");
        }
    }

    // --- citizen id --------------------------------------------------------------------------

    #[test]
    fn citizen_ids_that_parse() {
        let cases: &[(&str, &str, Sex, i32, &str)] = &[
            ("001085012345", "001", Sex::Male, 1985, "012345"),
            ("079187000001", "079", Sex::Female, 1987, "000001"),
            ("001200999999", "001", Sex::Male, 2000, "999999"),
            ("096305123456", "096", Sex::Female, 2005, "123456"),
            ("031400000000", "031", Sex::Male, 2100, "000000"),
            ("074599000000", "074", Sex::Female, 2199, "000000"),
            ("001750000000", "001", Sex::Female, 2250, "000000"),
            ("001999000000", "001", Sex::Female, 2399, "000000"),
            ("001800000000", "001", Sex::Male, 2300, "000000"),
            ("001000000000", "001", Sex::Male, 1900, "000000"),
        ];
        for &(input, prefix, sex, year, serial) in cases {
            let id = parse_citizen_id(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(id.province_prefix, prefix, "{input}");
            assert_eq!(id.sex, sex, "{input}");
            assert_eq!(id.birth_year, year, "{input}");
            assert_eq!(id.serial, serial, "{input}");
            assert_eq!(id.to_string(), input);
        }
    }

    #[test]
    fn citizen_ids_refused() {
        let cases: &[(&str, &str)] = &[
            ("", "citizen-id-length"),
            ("12345", "citizen-id-length"),
            ("00108501234", "citizen-id-length"),
            ("0010850123456", "citizen-id-length"),
            ("00108501234a", "citizen-id-not-digits"),
            ("001 085 012345", "citizen-id-not-digits"),
            (" 001085012345", "citizen-id-not-digits"),
            ("001085012345\n", "citizen-id-not-digits"),
            ("-01085012345", "citizen-id-not-digits"),
            ("００1085012345", "citizen-id-not-digits"),
            ("000085012345", "citizen-id-province"),
            ("003085012345", "citizen-id-province"),
            ("099085012345", "citizen-id-province"),
            ("100085012345", "citizen-id-province"),
            ("999085012345", "citizen-id-province"),
        ];
        for &(input, code) in cases {
            let message = expect_code(input, parse_citizen_id(input), code);
            assert_message_style(&message);
        }
    }

    #[test]
    fn citizen_id_messages() {
        let message = |s: &str| parse_citizen_id(s).unwrap_err().message;
        assert_eq!(
            message("12345"),
            r#"citizen id "12345" must have 12 digits, found 5"#
        );
        assert_eq!(
            message("00108501234a"),
            r#"citizen id "00108501234a" must contain only digits, found "a" at position 12"#
        );
        assert_eq!(
            message("003085012345"),
            r#"citizen id "003085012345" starts with "003", which is not the code of any province"#
        );
    }

    #[test]
    fn citizen_id_agreement() {
        let id = parse_citizen_id("079187000001").expect("valid id");
        assert_eq!(id.check_agrees(None, None), Ok(()));
        assert_eq!(id.check_agrees(Some(1987), Some(Sex::Female)), Ok(()));
        assert_eq!(id.check_agrees(Some(1987), None), Ok(()));
        assert_eq!(id.check_agrees(None, Some(Sex::Female)), Ok(()));

        let e = id.check_agrees(Some(1986), Some(Sex::Female)).unwrap_err();
        assert_eq!(e.code, "citizen-id-birth-year-mismatch");
        assert_eq!(
            e.message,
            r#"citizen id "079187000001" gives birth year 1987, but the record's birth year is 1986"#
        );
        let e = id.check_agrees(Some(1987), Some(Sex::Male)).unwrap_err();
        assert_eq!(e.code, "citizen-id-sex-mismatch");
        assert_eq!(
            e.message,
            r#"citizen id "079187000001" gives sex female (2), but the record's sex is male (1)"#
        );
        // Both wrong: the year is reported.
        let e = id.check_agrees(Some(2087), Some(Sex::Male)).unwrap_err();
        assert_eq!(e.code, "citizen-id-birth-year-mismatch");
    }

    #[test]
    fn citizen_id_century() {
        let id = parse_citizen_id("079285000001").expect("valid id");
        assert_eq!(id.birth_year, 2085);
        assert_eq!(id.check_not_born_after(2085), Ok(()));
        assert_eq!(id.check_not_born_after(2100), Ok(()));
        let e = id.check_not_born_after(2025).unwrap_err();
        assert_eq!(e.code, "citizen-id-century");
        assert_eq!(
            e.message,
            r#"citizen id "079285000001" has century digit 2, which gives birth year 2085, after the current year 2025"#
        );
        let old = parse_citizen_id("079085000001").expect("valid id");
        assert_eq!(old.check_not_born_after(2025), Ok(()));
    }

    #[test]
    fn citizen_id_compose_refuses_bad_parts() {
        assert_eq!(
            CitizenId::compose("001", Sex::Male, 1985, 12345).as_deref(),
            Some("001085012345")
        );
        assert_eq!(CitizenId::compose("003", Sex::Male, 1985, 1), None);
        assert_eq!(CitizenId::compose("01", Sex::Male, 1985, 1), None);
        assert_eq!(CitizenId::compose("001", Sex::Male, 1899, 1), None);
        assert_eq!(CitizenId::compose("001", Sex::Female, 2400, 1), None);
        assert_eq!(
            CitizenId::compose("001", Sex::Female, 1985, 1_000_000),
            None
        );
        assert!(CitizenId::compose("001", Sex::Female, 2399, 999_999).is_some());
    }

    fn known_prefix() -> impl Strategy<Value = String> {
        let prefixes: Vec<String> = reference::legacy_provinces()
            .iter()
            .map(|p| p.cccd_prefix.clone())
            .collect();
        proptest::sample::select(prefixes)
    }

    fn sex() -> impl Strategy<Value = Sex> {
        prop_oneof![Just(Sex::Male), Just(Sex::Female)]
    }

    proptest! {
        #[test]
        fn composed_citizen_ids_parse_back(
            prefix in known_prefix(),
            sex in sex(),
            year in 1900i32..=2399,
            serial in 0u32..=999_999,
            other_year in 1900i32..=2399,
        ) {
            let s = CitizenId::compose(&prefix, sex, year, serial).expect("parts are valid");
            let id = parse_citizen_id(&s).expect("composed id parses");
            prop_assert_eq!(&id.province_prefix, &prefix);
            prop_assert_eq!(id.sex, sex);
            prop_assert_eq!(id.birth_year, year);
            prop_assert_eq!(id.serial.parse::<u32>().ok(), Some(serial));
            prop_assert_eq!(id.to_string(), s);
            prop_assert_eq!(id.check_agrees(Some(year), Some(sex)), Ok(()));

            let other_sex = match sex { Sex::Male => Sex::Female, Sex::Female => Sex::Male };
            let e = id.check_agrees(Some(year), Some(other_sex)).unwrap_err();
            prop_assert_eq!(e.code, "citizen-id-sex-mismatch");
            if other_year != year {
                let e = id.check_agrees(Some(other_year), Some(sex)).unwrap_err();
                prop_assert_eq!(e.code, "citizen-id-birth-year-mismatch");
            }
        }

        #[test]
        fn unknown_province_prefixes_are_refused(prefix in 0u32..1000, rest in 0u64..1_000_000_000) {
            let prefix = format!("{prefix:03}");
            prop_assume!(reference::legacy_province_by_cccd_prefix(&prefix).is_none());
            let s = format!("{prefix}{rest:09}");
            let e = parse_citizen_id(&s).unwrap_err();
            prop_assert_eq!(e.code, "citizen-id-province");
        }
    }

    // --- tax code ----------------------------------------------------------------------------

    #[test]
    fn tax_code_check_digits() {
        // Doctests of python-stdnum's stdnum/vn/mst.py.
        assert_eq!(tax_code_check_digit(&[0, 1, 0, 0, 2, 3, 3, 4, 8]), Some(8));
        assert_eq!(tax_code_check_digit(&[0, 3, 1, 4, 4, 0, 9, 0, 5]), Some(8));
        assert_eq!(tax_code_check_digit(&[0, 1, 0, 0, 1, 1, 2, 4, 3]), Some(7));
        // Sum 0: no valid code.
        assert_eq!(tax_code_check_digit(&[0; 9]), None);
        // Sum 31 + 29 + 23 + 19 + 17 + 13 + 7 + 5 + 3 = 147 = 13 × 11 + 4: check 6.
        assert_eq!(tax_code_check_digit(&[1; 9]), Some(6));
        // Sum 31 + 3 = 34 = 3 × 11 + 1: check 9.
        assert_eq!(tax_code_check_digit(&[1, 0, 0, 0, 0, 0, 0, 0, 1]), Some(9));
        // Sum 7 + 3 = 10: check 0.
        assert_eq!(tax_code_check_digit(&[0, 0, 0, 0, 0, 0, 1, 0, 1]), Some(0));
        // Sum 11 × k: 5 + 3·2 = 11, no valid code.
        assert_eq!(tax_code_check_digit(&[0, 0, 0, 0, 0, 0, 0, 1, 2]), None);
        // Not digit values.
        assert_eq!(tax_code_check_digit(&[b'0'; 9]), None);
        assert_eq!(tax_code_check_digit(&[0, 0, 0, 0, 0, 0, 0, 0, 10]), None);
    }

    #[test]
    fn tax_codes_accepted() {
        for input in [
            "0100233488",
            "0314409058",
            "0100112437",
            "0314409058-002",
            "0100233488-001",
            "0100233488-999",
        ] {
            assert_eq!(validate_tax_code(input), Ok(()), "{input}");
        }
    }

    #[test]
    fn tax_codes_refused() {
        let cases: &[(&str, &str)] = &[
            ("", "tax-code-shape"),
            ("12345", "tax-code-shape"),
            ("01002334881", "tax-code-shape"),
            ("0314409058002", "tax-code-shape"),
            ("0314409058-02", "tax-code-shape"),
            ("0314409058-0002", "tax-code-shape"),
            ("0314409058-", "tax-code-shape"),
            ("0314409058-00a", "tax-code-shape"),
            ("0314409058-002-1", "tax-code-shape"),
            ("031440905-8", "tax-code-shape"),
            ("01.00.233.488", "tax-code-shape"),
            ("0100 233 488", "tax-code-shape"),
            (" 0100233488", "tax-code-shape"),
            ("01002334B8", "tax-code-shape"),
            ("0100233480", "tax-code-check-digit"),
            ("0100233489", "tax-code-check-digit"),
            ("0000000120", "tax-code-check-digit"),
            ("0314409050-001", "tax-code-check-digit"),
            ("0314409058-000", "tax-code-branch"),
            ("1000000001", "tax-code-serial"),
            ("4700000002-001", "tax-code-serial"),
        ];
        for &(input, code) in cases {
            let message = expect_code(input, validate_tax_code(input), code);
            assert_message_style(&message);
        }
    }

    #[test]
    fn tax_code_messages() {
        let message = |s: &str| validate_tax_code(s).unwrap_err().message;
        assert_eq!(
            message("0100233480"),
            r#"tax code "0100233480" has check digit 0, expected 8"#
        );
        assert_eq!(
            message("0000000120"),
            r#"tax code "0000000120" cannot be valid: no check digit exists for its first nine digits "000000012""#
        );
        assert_eq!(
            message("0314409058002"),
            r#"tax code "0314409058002" must separate the branch number with "-", as in "0314409058-002""#
        );
        assert_eq!(
            message("0314409058-000"),
            r#"tax code "0314409058-000" has branch number 000; branch numbers run from 001 to 999"#
        );
        assert_eq!(
            message("12345"),
            r#"tax code "12345" must be 10 digits, optionally followed by "-" and a 3-digit branch number, found 5 digits"#
        );
    }

    proptest! {
        #[test]
        fn tax_code_check_digit_is_the_only_valid_last_digit(first9 in proptest::array::uniform9(0u8..=9)) {
            prop_assume!(first9[2..].iter().any(|&d| d != 0)); // serial 0000000 is refused
            let head: String = first9.iter().map(|d| char::from(b'0' + d)).collect();
            match tax_code_check_digit(&first9) {
                Some(check) => {
                    prop_assert!(check <= 9);
                    for last in 0..=9u8 {
                        let code = format!("{head}{last}");
                        if last == check {
                            prop_assert_eq!(validate_tax_code(&code), Ok(()));
                            prop_assert_eq!(validate_tax_code(&format!("{code}-000")).map_err(|e| e.code), Err("tax-code-branch"));
                            for branch in [1u32, 2, 10, 99, 100, 500, 998, 999] {
                                prop_assert_eq!(validate_tax_code(&format!("{code}-{branch:03}")), Ok(()));
                            }
                        } else {
                            prop_assert_eq!(validate_tax_code(&code).map_err(|e| e.code), Err("tax-code-check-digit"));
                        }
                    }
                }
                None => {
                    for last in 0..=9u8 {
                        let code = format!("{head}{last}");
                        prop_assert_eq!(validate_tax_code(&code).map_err(|e| e.code), Err("tax-code-check-digit"));
                    }
                }
            }
        }

        #[test]
        fn every_branch_number_but_000_is_accepted(branch in 1u32..=999) {
            let code = format!("0100233488-{branch:03}");
            prop_assert_eq!(validate_tax_code(&code), Ok(()));
        }
    }

    // --- mobile ------------------------------------------------------------------------------

    #[test]
    fn mobiles_accepted() {
        for prefix in MOBILE_PREFIXES {
            let national = format!("{prefix}1234567");
            assert_eq!(validate_vn_mobile(&national), Ok(()), "{national}");
            let international = format!("+84{}", &national[1..]);
            assert_eq!(
                validate_vn_mobile(&international),
                Ok(()),
                "{international}"
            );
        }
        for input in ["0912345678", "0862000000", "+84387654321", "0559000000"] {
            assert_eq!(validate_vn_mobile(input), Ok(()), "{input}");
        }
    }

    #[test]
    fn mobiles_refused() {
        let cases: &[(&str, &str)] = &[
            ("", "mobile-shape"),
            ("091 234 5678", "mobile-shape"),
            ("091.234.5678", "mobile-shape"),
            ("091-234-5678", "mobile-shape"),
            ("(091)2345678", "mobile-shape"),
            ("+84 912345678", "mobile-shape"),
            ("0912345678 ", "mobile-shape"),
            ("091234567", "mobile-shape"),
            ("09123456789", "mobile-shape"),
            ("84912345678", "mobile-shape"),
            ("912345678", "mobile-shape"),
            ("+840912345678", "mobile-shape"),
            ("+8491234567", "mobile-shape"),
            ("+849123456789", "mobile-shape"),
            ("+1912345678", "mobile-shape"),
            ("+84abcdefghi", "mobile-shape"),
            ("09123456a8", "mobile-shape"),
            ("01662345678", "mobile-shape"),
            ("0242345678", "mobile-prefix"),
            ("+84242345678", "mobile-prefix"),
            ("0302345678", "mobile-prefix"),
            ("0312345678", "mobile-prefix"),
            ("0512345678", "mobile-prefix"),
            ("0952345678", "mobile-prefix"),
            ("0802345678", "mobile-prefix"),
            ("0112345678", "mobile-prefix"),
            ("0612345678", "mobile-prefix"),
            ("0712345678", "mobile-prefix"),
            ("1800123456", "mobile-shape"),
        ];
        for &(input, code) in cases {
            let message = expect_code(input, validate_vn_mobile(input), code);
            assert_message_style(&message);
        }
    }

    #[test]
    fn mobile_messages() {
        let message = |s: &str| validate_vn_mobile(s).unwrap_err().message;
        assert_eq!(
            message("0242345678"),
            r#"mobile number "0242345678" has prefix "024", which is a landline area code, not a mobile prefix"#
        );
        assert_eq!(
            message("0952345678"),
            r#"mobile number "0952345678" has prefix "095", which is not allocated to any mobile network"#
        );
        assert_eq!(
            message("+840912345678"),
            r#"mobile number "+840912345678" must drop the leading 0 after "+84", as in "+84912345678""#
        );
        assert_eq!(
            message("091234567"),
            r#"mobile number "091234567" must have 10 digits, found 9"#
        );
    }

    // --- email -------------------------------------------------------------------------------

    #[test]
    fn emails_accepted() {
        let longest = format!(
            "{}@{}.{}.{}.vn",
            "a".repeat(64),
            "b".repeat(61),
            "c".repeat(61),
            "d".repeat(62)
        );
        assert_eq!(longest.len(), 254);
        for input in [
            "nguyen.van.a@example.vn",
            "a@b.co",
            "first+tag@mail.gov.vn",
            "o'brien@example.com",
            "user_name-1@sub.example.com.vn",
            longest.as_str(),
        ] {
            assert_eq!(validate_email(input), Ok(()), "{input}");
        }
    }

    #[test]
    fn emails_refused() {
        let too_long = format!(
            "{}@{}.{}.{}.vn1",
            "a".repeat(64),
            "b".repeat(61),
            "c".repeat(61),
            "d".repeat(62)
        );
        let long_local = format!("{}@example.vn", "a".repeat(65));
        let cases: &[(&str, &str)] = &[
            ("", "email-invalid"),
            ("plainaddress", "email-invalid"),
            ("@example.vn", "email-invalid"),
            ("user@", "email-invalid"),
            ("user@localhost", "email-invalid"),
            ("user@@example.vn", "email-invalid"),
            ("user@example..vn", "email-invalid"),
            ("user@.example.vn", "email-invalid"),
            ("us er@example.vn", "email-invalid"),
            (" user@example.vn", "email-invalid"),
            ("user@example.vn ", "email-invalid"),
            ("Nguyen <user@example.vn>", "email-invalid"),
            ("user@[192.0.2.1]", "email-invalid"),
            (long_local.as_str(), "email-invalid"),
            (too_long.as_str(), "email-too-long"),
        ];
        for &(input, code) in cases {
            let message = expect_code(input, validate_email(input), code);
            assert_message_style(&message);
        }
        assert_eq!(
            validate_email("").unwrap_err().message,
            r#"email address "" is empty"#
        );
        assert_eq!(
            validate_email("plainaddress").unwrap_err().message,
            r#"email address "plainaddress" is not valid: it has no "@""#
        );
        assert_eq!(
            validate_email(&too_long).unwrap_err().message,
            format!("email address {too_long:?} is 255 bytes long, the maximum is 254")
        );
    }

    // --- dates -------------------------------------------------------------------------------

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date exists")
    }

    #[test]
    fn iso_dates() {
        let good: &[(&str, NaiveDate)] = &[
            ("1987-05-23", ymd(1987, 5, 23)),
            ("2024-02-29", ymd(2024, 2, 29)),
            ("2000-02-29", ymd(2000, 2, 29)),
            ("0001-01-01", ymd(1, 1, 1)),
            ("9999-12-31", ymd(9999, 12, 31)),
        ];
        for &(input, date) in good {
            assert_eq!(parse_iso_date(input), Ok(date), "{input}");
        }
        for input in [
            "",
            "1987",
            "1987-05",
            "87-05-23",
            "1987-5-23",
            "1987-05-3",
            "1987/05/23",
            "23-05-1987",
            "1987-05-23T00:00:00",
            " 1987-05-23",
            "1987-05-23 ",
            "+1987-05-23",
            "1987-13-01",
            "1987-00-10",
            "1987-05-00",
            "1987-05-32",
            "2023-02-29",
            "1900-02-29",
            "2023-04-31",
            "1987-O5-23",
            "١٩٨٧-05-23",
        ] {
            let message = expect_code(input, parse_iso_date(input), "date-invalid");
            assert_message_style(&message);
        }
        let message = |s: &str| parse_iso_date(s).unwrap_err().message;
        assert_eq!(
            message("2023-02-29"),
            r#"date "2023-02-29" does not exist: february 2023 has 28 days"#
        );
        assert_eq!(
            message("1987-13-01"),
            r#"date "1987-13-01" has month 13; months run from 01 to 12"#
        );
        assert_eq!(
            message("23/05/1987"),
            r#"date "23/05/1987" must be written YYYY-MM-DD, e.g. "1987-05-23""#
        );
    }

    #[test]
    fn partial_dates() {
        let good: &[(&str, PartialDate)] = &[
            ("1987", PartialDate::Year(1987)),
            ("0800", PartialDate::Year(800)),
            ("1987-05", PartialDate::YearMonth(1987, 5)),
            ("1987-12", PartialDate::YearMonth(1987, 12)),
            ("1987-05-23", PartialDate::Full(ymd(1987, 5, 23))),
            ("2024-02-29", PartialDate::Full(ymd(2024, 2, 29))),
        ];
        for &(input, expected) in good {
            let parsed = parse_partial_date(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parsed, expected, "{input}");
            assert_eq!(parsed.to_string(), input);
            assert_eq!(parsed.year(), input[..4].parse::<i32>().expect("4 digits"));
        }
        for input in [
            "",
            "87",
            "987",
            "19870",
            "1987-",
            "1987-5",
            "1987-13",
            "1987-00",
            "1987/05",
            "1987-05-",
            "1987-05-5",
            "1987-02-30",
            "2023-02-29",
            "1987-05-23T00:00",
            "1987 ",
            "abcd",
            "-987",
            "1987-05-23-",
            "19870523",
        ] {
            let message = expect_code(input, parse_partial_date(input), "partial-date-invalid");
            assert_message_style(&message);
        }
        assert_eq!(
            parse_partial_date("1987-13").unwrap_err().message,
            r#"partial date "1987-13" has month 13; months run from 01 to 12"#
        );
        // There is no year 0000 in any form (the round trip below draws years from 0001).
        for zero in ["0000", "0000-01", "0000-01-01"] {
            assert_eq!(
                parse_partial_date(zero).unwrap_err().code,
                "partial-date-invalid",
                "{zero}"
            );
        }
        assert_eq!(
            parse_partial_date("87").unwrap_err().message,
            r#"partial date "87" must be written YYYY, YYYY-MM or YYYY-MM-DD, e.g. "1987", "1987-05" or "1987-05-23""#
        );
    }

    proptest! {
        #[test]
        fn partial_dates_round_trip(
            year in 1i32..=9999,
            month in 1u32..=12,
            day in 1u32..=31,
        ) {
            let y = format!("{year:04}");
            prop_assert_eq!(parse_partial_date(&y), Ok(PartialDate::Year(year)));
            let ym = format!("{year:04}-{month:02}");
            prop_assert_eq!(parse_partial_date(&ym), Ok(PartialDate::YearMonth(year, month)));
            let ymd = format!("{year:04}-{month:02}-{day:02}");
            match NaiveDate::from_ymd_opt(year, month, day) {
                Some(date) => {
                    prop_assert_eq!(parse_partial_date(&ymd), Ok(PartialDate::Full(date)));
                    prop_assert_eq!(PartialDate::Full(date).to_string(), ymd.clone());
                    prop_assert_eq!(parse_iso_date(&ymd), Ok(date));
                }
                None => {
                    prop_assert_eq!(parse_partial_date(&ymd).map_err(|e| e.code), Err("partial-date-invalid"));
                    prop_assert_eq!(parse_iso_date(&ymd).map_err(|e| e.code), Err("date-invalid"));
                }
            }
            prop_assert_eq!(PartialDate::Year(year).to_string(), y);
            prop_assert_eq!(PartialDate::YearMonth(year, month).to_string(), ym);
        }
    }

    #[test]
    fn datetimes() {
        let good = [
            ("2025-07-01T08:30:00+07:00", "2025-07-01T01:30:00+00:00"),
            ("2025-07-01T01:30:00Z", "2025-07-01T01:30:00+00:00"),
            ("2025-07-01T01:30:00.250Z", "2025-07-01T01:30:00.250+00:00"),
            ("2025-07-01t01:30:00z", "2025-07-01T01:30:00+00:00"),
            ("2025-06-30T20:30:00-05:00", "2025-07-01T01:30:00+00:00"),
            ("2024-02-29T00:00:00+07:00", "2024-02-28T17:00:00+00:00"),
        ];
        for (input, utc) in good {
            let parsed = parse_datetime(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                parsed.with_timezone(&chrono::Utc).to_rfc3339(),
                utc,
                "{input}"
            );
        }
        assert_eq!(
            parse_datetime("2025-07-01T08:30:00+07:00")
                .expect("valid")
                .offset()
                .local_minus_utc(),
            7 * 3600
        );
        for input in [
            "",
            "2025-07-01",
            "2025-07-01T08:30:00",
            "2025-07-01T08:30+07:00",
            "2025-07-01T24:00:00Z",
            "2025-07-01T08:30:00+0700",
            "2025-07-01T08:30:00 +07:00",
            "2023-02-29T08:30:00Z",
            "2025-13-01T08:30:00Z",
            "01/07/2025 08:30",
            "2025-07-01T08:30:00Z ",
            "1751358600",
        ] {
            let message = expect_code(input, parse_datetime(input), "datetime-invalid");
            assert_message_style(&message);
        }
        let message = |s: &str| parse_datetime(s).unwrap_err().message;
        assert_eq!(
            message("2025-07-01T08:30:00"),
            r#"datetime "2025-07-01T08:30:00" has no utc offset; end it with "Z" or an offset such as "+07:00""#
        );
        assert_eq!(
            message("2023-02-29T08:30:00Z"),
            r#"datetime "2023-02-29T08:30:00Z" does not exist: february 2023 has 28 days"#
        );
        assert_eq!(
            message("2025-07-01T08:30:00+0700"),
            r#"datetime "2025-07-01T08:30:00+0700" has its utc offset without a colon; write it as in "+07:00""#
        );
        assert_eq!(
            message("2025-07-01"),
            r#"datetime "2025-07-01" is a date without a time, e.g. write "2025-07-01T08:30:00+07:00""#
        );
    }
}

/// Any Vietnamese phone number: a mobile number (see [`validate_vn_mobile`]) or a fixed line,
/// `02` + area code digit + 8 digits (11 digits, e.g. `02438253536` in Hà Nội), also in
/// `+842…` form. Spaces and punctuation are refused as for mobiles.
pub fn validate_vn_phone(s: &str) -> Result<(), FormatError> {
    let national = match s.strip_prefix("+84") {
        Some(rest) => format!("0{rest}"),
        None => s.to_owned(),
    };
    if national.starts_with("02") {
        if national.len() == 11 && national.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(());
        }
        return Err(FormatError::new(
            "phone-shape",
            format!(
                "phone number {s:?}: a fixed line is 11 digits starting with 02, e.g. \"02438253536\""
            ),
        ));
    }
    validate_vn_mobile(s)
}

#[cfg(test)]
mod phone_tests {
    use super::validate_vn_phone;

    #[test]
    fn fixed_lines_and_mobiles() {
        for good in [
            "02438253536",
            "02839956669",
            "+842438253536",
            "0912345678",
            "+84912345678",
        ] {
            assert_eq!(validate_vn_phone(good), Ok(()), "{good}");
        }
        for (bad, code) in [
            ("0243825353", "phone-shape"),
            ("024382535361", "phone-shape"),
            ("024 3825 3536", "phone-shape"),
            ("0112345678", "mobile-prefix"),
            ("", "mobile-shape"),
        ] {
            assert_eq!(validate_vn_phone(bad).unwrap_err().code, code, "{bad}");
        }
    }
}
