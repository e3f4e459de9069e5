//! A deterministic, synthetic but realistic Vietnamese country for demos, tests and benchmarks.
//!
//! [`Country::new`]`(seed, citizens)` describes a population; every person is computed on
//! demand from `(seed, index)`, so a stream of a million rows needs no memory. On top of the
//! population sit two registers that real data integration has to reconcile with it:
//!
//! - [`Country::civil_servants`]: staff records copied from real persons with injected errors
//!   (typos, stripped diacritics, swapped day/month, pre-2025 addresses, wrong, unknown and
//!   missing citizen IDs, duplicates) and the ground truth ([`Truth`]) of each;
//! - [`Country::businesses`]: enterprises and household businesses with valid tax codes and
//!   owners from the population.
//!
//! The administrative units are the official ones (34 provinces and 3,321 wards of 1 July 2025,
//! the 63 former provinces and the old-to-new ward mapping), embedded from `ndx-types/data`.
//! Records are [`Record`]s whose values are all JSON strings; absent values are left out. The
//! ingest pipeline converts them by schema. [`write_csv`] writes any of them as CSV.
//!
//! Reference date: ages are counted on 2026-01-01, so everyone is born by 2025-12-31.
#![warn(missing_docs)]

mod business;
mod civil;
mod contact;
mod names;
mod output;
mod person;
mod tables;
#[cfg(test)]
mod tests;

pub use business::{TAX_CODE_WEIGHTS, VSIC_SECTIONS, tax_code_check_digit};
pub use civil::{
    CivilServant, InjectedError, RATE_DAY_MONTH_SWAPPED, RATE_DIACRITICS_STRIPPED, RATE_DUPLICATE,
    RATE_MISSING_CITIZEN_ID, RATE_NAME_TYPO, RATE_OLD_ADDRESS, RATE_UNKNOWN_CITIZEN_ID,
    RATE_WRONG_CITIZEN_ID, Truth,
};
pub use output::write_csv;

use person::Generator;
use serde_json::Value;
use tables::TABLES;

/// A record: field name → JSON string, in the field order of the register.
pub type Record = serde_json::Map<String, Value>;

/// Fields of [`Country::person`], in order.
pub const POPULATION_FIELDS: &[&str] = &[
    "citizen_id",
    "full_name",
    "sex",
    "date_of_birth",
    "ethnic_code",
    "province_code",
    "ward_code",
    "street_address",
    "phone",
    "email",
];

/// Fields of a [`CivilServant::record`], in order.
pub const CIVIL_SERVANT_FIELDS: &[&str] = &[
    "staff_id",
    "citizen_id",
    "full_name",
    "sex",
    "date_of_birth",
    "agency_code",
    "position",
    "province_code",
    "address",
    "hired_on",
];

/// Fields of a [`Country::businesses`] record, in order.
pub const BUSINESS_FIELDS: &[&str] = &[
    "tax_code",
    "name",
    "legal_form",
    "industry",
    "owner_citizen_id",
    "registered_on",
    "province_code",
    "ward_code",
    "address",
    "phone",
    "email",
    "status",
];

/// A synthetic country: a seed and a population size. Cheap to create; the reference tables
/// are shared by all countries of the process.
#[derive(Debug, Clone)]
pub struct Country {
    citizens: usize,
    generator: Generator,
}

impl Country {
    /// The country of `citizens` persons drawn from `seed`.
    pub fn new(seed: u64, citizens: usize) -> Country {
        // Parse the reference tables now rather than inside the first person.
        let _ = &*TABLES;
        Country {
            citizens,
            generator: Generator::new(seed),
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.generator.seed
    }

    /// Number of persons in the population.
    pub fn citizens(&self) -> usize {
        self.citizens
    }

    /// Deterministic person `i` (`0..citizens`), fields [`POPULATION_FIELDS`]: the same
    /// `(seed, i)` always gives the same person, whatever the population size, computed on
    /// demand. Indices past `citizens` give persons outside the population (their citizen IDs
    /// still differ from everyone's in it).
    pub fn person(&self, i: usize) -> Record {
        let t = &*TABLES;
        let p = self.generator.person(i);
        let mut r = Record::with_capacity(POPULATION_FIELDS.len());
        put(&mut r, "citizen_id", p.citizen_id);
        put(&mut r, "full_name", p.full_name);
        put(&mut r, "sex", if p.core.female { "2" } else { "1" });
        put(&mut r, "date_of_birth", person::iso(p.dob));
        put(&mut r, "ethnic_code", t.ethnic[p.ethnic].code_2008.clone());
        put(
            &mut r,
            "province_code",
            t.provinces[p.core.province].code.clone(),
        );
        put(&mut r, "ward_code", t.wards[p.ward].code.clone());
        put(&mut r, "street_address", p.street);
        put_opt(&mut r, "phone", p.phone);
        put_opt(&mut r, "email", p.email);
        r
    }

    /// The citizen ID of person `i`, without drawing the rest of the person.
    pub fn citizen_id(&self, i: usize) -> String {
        self.generator.citizen_id(i)
    }

    /// All persons `0..citizens`, in order.
    pub fn population(&self) -> impl Iterator<Item = Record> + '_ {
        (0..self.citizens).map(|i| self.person(i))
    }
}

fn put(r: &mut Record, key: &str, value: impl Into<String>) {
    r.insert(key.to_owned(), Value::String(value.into()));
}

fn put_opt(r: &mut Record, key: &str, value: Option<String>) {
    if let Some(v) = value {
        put(r, key, v);
    }
}
