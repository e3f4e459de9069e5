//! The civil-service register: real persons of the population, copied with the errors that
//! such registers really contain, and the ground truth of what was done.

use std::collections::HashSet;

use chrono::{Datelike, Days, Months, NaiveDate};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::names::{Pick, fold, typo};
use crate::person::{Generator, Person, iso, stream};
use crate::tables::{REF_YEAR, TABLES};
use crate::{Country, Record, put, put_opt};

/// Probability that a staff record's name has one typing mistake.
pub const RATE_NAME_TYPO: f64 = 0.03;
/// Probability that a staff record's name lost its diacritics.
pub const RATE_DIACRITICS_STRIPPED: f64 = 0.05;
/// Probability that day and month of the birth date were swapped, among records where the swap
/// still gives a valid, different date (day ≤ 12, day ≠ month: about 35 % of records, so about
/// 2 % overall).
pub const RATE_DAY_MONTH_SWAPPED: f64 = 0.055;
/// Probability that the address is still written with pre-2025 unit names.
pub const RATE_OLD_ADDRESS: f64 = 0.10;
/// Probability that the citizen ID is absent.
pub const RATE_MISSING_CITIZEN_ID: f64 = 0.30;
/// Probability that the citizen ID is another real person's.
pub const RATE_WRONG_CITIZEN_ID: f64 = 0.02;
/// Probability that the citizen ID is structurally valid but held by nobody.
pub const RATE_UNKNOWN_CITIZEN_ID: f64 = 0.01;
/// Probability that a person has a second staff record.
pub const RATE_DUPLICATE: f64 = 0.015;

/// One record of the civil-service register with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct CivilServant {
    /// The record as the register holds it (fields [`crate::CIVIL_SERVANT_FIELDS`]).
    pub record: Record,
    /// What the record really is.
    pub truth: Truth,
}

/// Ground truth for the later reconciliation work: which person (index) this staff record
/// really is, and which errors were injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    /// Index of the person in [`Country::person`]; `None` only when the population is too
    /// small to hold a person of working age, and the staff member lives outside it.
    pub person_index: Option<usize>,
    /// The errors injected into this record, in the order they were applied.
    pub errors: Vec<InjectedError>,
}

/// A kind of error injected into a staff record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InjectedError {
    /// One letter of the name substituted, transposed or dropped.
    NameTypo,
    /// The name is written without diacritics (`Nguyen Van An`).
    DiacriticsStripped,
    /// Day and month of the birth date are swapped (still a valid date).
    DayMonthSwapped,
    /// The address uses pre-2025 ward/district/province names (`province_code` is current).
    OldAddress,
    /// The citizen ID is another real person's (same century/sex digit and birth year).
    WrongCitizenId,
    /// The citizen ID is structurally valid but held by no person of the population.
    UnknownCitizenId,
    /// The citizen ID is absent.
    MissingCitizenId,
    /// This is a second record for a person who already has one.
    Duplicate,
}

impl InjectedError {
    /// Every kind, in declaration order.
    pub const ALL: [InjectedError; 8] = [
        InjectedError::NameTypo,
        InjectedError::DiacriticsStripped,
        InjectedError::DayMonthSwapped,
        InjectedError::OldAddress,
        InjectedError::WrongCitizenId,
        InjectedError::UnknownCitizenId,
        InjectedError::MissingCitizenId,
        InjectedError::Duplicate,
    ];
}

/// Government bodies: ministries (`BCA` Công an, `BGDDT` Giáo dục và Đào tạo, …) with their
/// weight; the rest of the staff works for their own province's People's Committee
/// (`UBND-<province code>`).
const MINISTRIES: &[(&str, f64)] = &[
    ("BCA", 10.0),
    ("BGDDT", 8.0),
    ("BYT", 7.0),
    ("BTC", 6.0),
    ("BNV", 3.0),
    ("BTP", 3.0),
    ("BNNMT", 3.0),
    ("BXD", 2.0),
    ("BCT", 2.0),
    ("BKHCN", 1.0),
];
const SHARE_PROVINCIAL: f64 = 0.55;

const POSITIONS: &[(&str, f64)] = &[
    ("Chuyên viên", 35.0),
    ("Chuyên viên chính", 12.0),
    ("Chuyên viên cao cấp", 1.0),
    ("Cán bộ", 10.0),
    ("Cán sự", 4.0),
    ("Nhân viên", 8.0),
    ("Kế toán viên", 6.0),
    ("Thanh tra viên", 3.0),
    ("Văn thư", 3.0),
    ("Lưu trữ viên", 1.0),
    ("Trưởng phòng", 5.0),
    ("Phó Trưởng phòng", 8.0),
    ("Chánh Văn phòng", 1.0),
    ("Phó Chánh Văn phòng", 1.0),
    ("Giám đốc Sở", 0.3),
    ("Phó Giám đốc Sở", 1.0),
];
const POSITIONS_EDUCATION: &[(&str, f64)] = &[
    ("Giáo viên", 70.0),
    ("Giảng viên", 15.0),
    ("Hiệu trưởng", 3.0),
    ("Phó Hiệu trưởng", 5.0),
];
const POSITIONS_HEALTH: &[(&str, f64)] = &[
    ("Bác sĩ", 35.0),
    ("Điều dưỡng", 40.0),
    ("Dược sĩ", 10.0),
    ("Kỹ thuật viên y", 10.0),
];

struct Lists {
    ministries: Pick,
    positions: Pick,
    education: Pick,
    health: Pick,
}

impl Lists {
    fn new() -> Lists {
        Lists {
            ministries: Pick::weighted(MINISTRIES),
            positions: Pick::weighted(POSITIONS),
            education: Pick::weighted(POSITIONS_EDUCATION),
            health: Pick::weighted(POSITIONS_HEALTH),
        }
    }
}

/// Where staff members come from.
struct StaffPicker {
    /// Working-age persons in random order, for populations small enough to scan.
    pool: Option<Vec<usize>>,
    next: usize,
    used: HashSet<usize>,
    outsiders: usize,
}

/// Working age for the register: 19 to 62 on the reference date.
fn working_age(age: i32) -> bool {
    (19..=62).contains(&age)
}

impl Country {
    /// The civil-service register: `max(5000, citizens / 20)` records, each a real person of
    /// the population (drawn at random, aged 19–62) with errors injected independently at the
    /// `RATE_*` rates; about 1.5 % of persons have a second record ([`InjectedError::Duplicate`]).
    /// Deterministic for `(seed, citizens)`.
    pub fn civil_servants(&self) -> Vec<CivilServant> {
        self.civil_servants_sized((self.citizens / 20).max(5000))
    }

    /// A register of `n` staff records drawn as [`Country::civil_servants`] draws them (the
    /// benchmarks size it apart from the population). Deterministic for `(seed, citizens, n)`;
    /// the default size gives the same register as [`Country::civil_servants`].
    pub fn civil_servants_sized(&self, n: usize) -> Vec<CivilServant> {
        let lists = Lists::new();
        let mut rng = crate::person::rng_for(self.seed(), stream::CIVIL, self.citizens as u64, 0);
        let pool = (self.citizens <= 4 * n).then(|| {
            let mut pool: Vec<usize> = (0..self.citizens)
                .filter(|&i| working_age(self.generator.core(i).age()))
                .collect();
            pool.shuffle(&mut rng);
            pool
        });
        let mut picker = StaffPicker {
            pool,
            next: 0,
            used: HashSet::new(),
            outsiders: 0,
        };
        let mut out: Vec<CivilServant> = Vec::with_capacity(n);
        while out.len() < n {
            let (index, person) = self.pick_staff(&mut rng, &mut picker);
            out.push(self.staff_record(&mut rng, &lists, index, &person, false));
            if out.len() < n && rng.random_bool(RATE_DUPLICATE) {
                out.push(self.staff_record(&mut rng, &lists, index, &person, true));
            }
        }
        out.shuffle(&mut rng);
        let mut ids = HashSet::with_capacity(n);
        for s in &mut out {
            let id = loop {
                let id = format!("CB{:07}", rng.random_range(0..10_000_000u32));
                if ids.insert(id.clone()) {
                    break id;
                }
            };
            s.record
                .shift_insert(0, "staff_id".to_owned(), serde_json::Value::String(id));
        }
        out
    }

    /// A person of working age: a population member not used yet if possible, else any, else
    /// (tiny populations) someone from outside the population. `pool` lists the working-age
    /// persons in random order when the population is small enough to scan.
    fn pick_staff(&self, rng: &mut StdRng, pick: &mut StaffPicker) -> (Option<usize>, Person) {
        let g = &self.generator;
        if let Some(pool) = &pick.pool {
            if let Some(&i) = pool.get(pick.next) {
                pick.next += 1;
                return (Some(i), g.person(i));
            }
            if !pool.is_empty() {
                let i = pool[rng.random_range(0..pool.len())];
                return (Some(i), g.person(i));
            }
        } else {
            for attempt in 0..200 {
                let i = rng.random_range(0..self.citizens);
                if working_age(g.core(i).age()) && (attempt >= 100 || pick.used.insert(i)) {
                    return (Some(i), g.person(i));
                }
            }
        }
        loop {
            let i = self.citizens + pick.outsiders;
            pick.outsiders += 1;
            if working_age(g.core(i).age()) {
                return (None, g.person(i));
            }
        }
    }

    fn staff_record(
        &self,
        rng: &mut StdRng,
        lists: &Lists,
        index: Option<usize>,
        person: &Person,
        duplicate: bool,
    ) -> CivilServant {
        let t = &*TABLES;
        let mut errors = Vec::new();
        if duplicate {
            errors.push(InjectedError::Duplicate);
        }

        let mut name = person.full_name.clone();
        if rng.random_bool(RATE_NAME_TYPO) {
            let typed = typo(rng, &name);
            if typed != name {
                name = typed;
                errors.push(InjectedError::NameTypo);
            }
        }
        if rng.random_bool(RATE_DIACRITICS_STRIPPED) {
            let folded = fold(&name);
            if folded != name {
                name = folded;
                errors.push(InjectedError::DiacriticsStripped);
            }
        }

        let mut dob = person.dob;
        let (day, month) = (dob.day(), dob.month());
        let swapped = (day <= 12 && day != month && rng.random_bool(RATE_DAY_MONTH_SWAPPED))
            .then(|| NaiveDate::from_ymd_opt(dob.year(), day, month))
            .flatten();
        if let Some(swapped) = swapped {
            dob = swapped;
            errors.push(InjectedError::DayMonthSwapped);
        }

        let ward = &t.wards[person.ward];
        let province = &t.provinces[person.core.province];
        let mut address = format!("{}, {}, {}", person.street, ward.name, province.name);
        if rng.random_bool(RATE_OLD_ADDRESS) {
            let pool = if ward.old.is_empty() {
                &province.old_wards
            } else {
                &ward.old
            };
            if !pool.is_empty() {
                let old = &t.old_wards[pool[rng.random_range(0..pool.len())]];
                address = format!(
                    "{}, {}, {}, {}",
                    person.street, old.name, old.district, old.province
                );
                errors.push(InjectedError::OldAddress);
            }
        }

        let u: f64 = rng.random();
        let citizen_id = if u < RATE_MISSING_CITIZEN_ID {
            errors.push(InjectedError::MissingCitizenId);
            None
        } else if u < RATE_MISSING_CITIZEN_ID + RATE_WRONG_CITIZEN_ID {
            match self.neighbour_id(rng, index, person) {
                Some(id) => {
                    errors.push(InjectedError::WrongCitizenId);
                    Some(id)
                }
                None => Some(person.citizen_id.clone()),
            }
        } else if u < RATE_MISSING_CITIZEN_ID + RATE_WRONG_CITIZEN_ID + RATE_UNKNOWN_CITIZEN_ID {
            match self.unknown_id(rng, person) {
                Some(id) => {
                    errors.push(InjectedError::UnknownCitizenId);
                    Some(id)
                }
                None => Some(person.citizen_id.clone()),
            }
        } else {
            Some(person.citizen_id.clone())
        };

        let agency = if rng.random_bool(SHARE_PROVINCIAL) {
            format!("UBND-{}", province.code)
        } else {
            lists.ministries.pick(rng).to_owned()
        };
        let position = match agency.as_str() {
            "BGDDT" if rng.random_bool(0.7) => lists.education.pick(rng),
            "BYT" if rng.random_bool(0.7) => lists.health.pick(rng),
            _ => lists.positions.pick(rng),
        };

        // Hired at 19 or later (so still after 18 even if day and month were swapped), mostly
        // in their twenties, never after the reference date.
        let age = person.core.age();
        let span = (age.min(45) - 19).max(0) as u32;
        let hire_age = 19 + rng.random_range(0..=span).min(rng.random_range(0..=span));
        let last = NaiveDate::from_ymd_opt(REF_YEAR, 12, 31).unwrap_or_default();
        let hired_on = person
            .dob
            .checked_add_months(Months::new(12 * hire_age))
            .and_then(|d| d.checked_add_days(Days::new(rng.random_range(0..365))))
            .map_or(last, |d| d.min(last));

        let mut record = Record::with_capacity(12);
        put_opt(&mut record, "citizen_id", citizen_id);
        put(&mut record, "full_name", name);
        put(
            &mut record,
            "sex",
            if person.core.female { "2" } else { "1" },
        );
        put(&mut record, "date_of_birth", iso(dob));
        put(&mut record, "agency_code", agency);
        put(&mut record, "position", position);
        put(&mut record, "province_code", province.code.clone());
        put(&mut record, "address", address);
        put(&mut record, "hired_on", iso(hired_on));
        CivilServant {
            record,
            truth: Truth {
                person_index: index,
                errors,
            },
        }
    }

    /// The ID of another real person near `index` with the same century/sex digit and birth
    /// year, so the wrong ID still agrees with the record's sex and birth date.
    fn neighbour_id(
        &self,
        rng: &mut StdRng,
        index: Option<usize>,
        person: &Person,
    ) -> Option<String> {
        if self.citizens < 2 {
            return None;
        }
        let g = &self.generator;
        let want = (person.core.century_sex_digit(), person.core.year);
        let start = index.unwrap_or_else(|| rng.random_range(0..self.citizens));
        let matches = |j: usize| {
            let c = g.core(j);
            (c.century_sex_digit(), c.year) == want
        };
        for d in 1..=self.citizens.min(50_000) {
            let below = start.checked_sub(d).filter(|&j| matches(j));
            let above = Some(start + d).filter(|&j| j < self.citizens && matches(j));
            if let Some(j) = below.or(above) {
                return Some(g.citizen_id(j));
            }
        }
        None
    }

    /// A structurally valid ID for this person (same prefix, century/sex digit and year) with
    /// a mistyped serial that no person of the population holds.
    fn unknown_id(&self, rng: &mut StdRng, person: &Person) -> Option<String> {
        let g: &Generator = &self.generator;
        let key = person.core.key();
        let serial: Vec<u8> = person.citizen_id.as_bytes()[6..].to_vec();
        for attempt in 0..1000 {
            let mut s = serial.clone();
            if attempt < 50 {
                let p = rng.random_range(0..s.len());
                if rng.random_bool(0.3) && p + 1 < s.len() && s[p] != s[p + 1] {
                    s.swap(p, p + 1);
                } else {
                    s[p] = b'0' + (s[p] - b'0' + rng.random_range(1..10)) % 10;
                }
            } else {
                for d in s.iter_mut() {
                    *d = b'0' + rng.random_range(0..10u8);
                }
            }
            let value = s.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
            if s != serial && !g.is_held(key, value, self.citizens) {
                let mut id = person.citizen_id.as_bytes()[..6].to_vec();
                id.extend_from_slice(&s);
                return String::from_utf8(id).ok();
            }
        }
        None
    }
}

#[cfg(test)]
pub(crate) fn hire_age_is_adult(record: &Record) -> bool {
    let get = |k: &str| {
        record
            .get(k)
            .and_then(|v| v.as_str())
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    };
    match (get("date_of_birth"), get("hired_on")) {
        (Some(dob), Some(hired)) => dob
            .checked_add_months(Months::new(12 * 18))
            .is_some_and(|adult| hired >= adult),
        _ => false,
    }
}
