//! One citizen, computed on demand from `(seed, index)`.
//!
//! A person is drawn in two stages from two independent random streams:
//!
//! 1. the **core** — residence province, birth province, sex, birth year: everything the
//!    citizen ID encodes apart from its serial;
//! 2. the **details** — ward, exact birth date, ethnicity, name, address, phone, e-mail.
//!
//! The 6-digit serial is a bijection of `index mod 10⁶`, so persons with indices below 10⁶ can
//! never share an ID. Persons `m`, `m + 10⁶`, `m + 2·10⁶`, … share the serial; each later one
//! redraws its core (from a fresh stream) until its (prefix, century/sex digit, year) differs
//! from all earlier ones in that chain. IDs are therefore unique for any population size, and a
//! person never depends on how many citizens the country has.

use chrono::{Datelike, NaiveDate};
use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::contact;
use crate::names;
use crate::tables::{REF_YEAR, TABLES, Tables};

/// Serial numbers per (prefix, century/sex digit, year): 6 digits.
pub(crate) const SERIALS: u64 = 1_000_000;
/// Multiplier of the serial bijection; odd and not a multiple of 5, so invertible mod 10⁶.
const SERIAL_MUL: u64 = 738_217;

/// Independent random streams.
pub(crate) mod stream {
    pub const CORE: u64 = 0x636f_7265;
    pub const DETAIL: u64 = 0x6465_7461;
    pub const SERIAL: u64 = 0x7365_7269;
    pub const CIVIL: u64 = 0x6369_7669;
    pub const BUSINESS: u64 = 0x6275_7369;
}

/// SplitMix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random generator for one `(seed, stream, a, b)`.
pub(crate) fn rng_for(seed: u64, stream: u64, a: u64, b: u64) -> StdRng {
    StdRng::seed_from_u64(mix(mix(mix(seed ^ mix(stream)) ^ a) ^ b.rotate_left(32)))
}

/// What the citizen ID encodes, apart from the serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Core {
    /// 2025 province of residence, index into [`Tables::provinces`].
    pub province: usize,
    /// Legacy province of birth, index into [`Tables::legacy`].
    pub birth: usize,
    pub female: bool,
    pub year: i32,
}

impl Core {
    /// Century/sex digit of the citizen ID: 0/1 for men/women born 1900–1999, 2/3 from 2000.
    pub fn century_sex_digit(&self) -> u8 {
        let century = if self.year >= 2000 { 2 } else { 0 };
        century + u8::from(self.female)
    }

    /// The part of the ID that must differ between two persons with the same serial.
    pub fn key(&self) -> (usize, u8, i32) {
        (self.birth, self.century_sex_digit(), self.year % 100)
    }

    pub fn age(&self) -> i32 {
        REF_YEAR - self.year
    }
}

/// A fully drawn person (internal form).
pub(crate) struct Person {
    pub core: Core,
    pub citizen_id: String,
    pub full_name: String,
    pub dob: NaiveDate,
    pub ethnic: usize,
    pub ward: usize,
    pub street: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// Formats a date as `YYYY-MM-DD`.
pub(crate) fn iso(d: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// Formats a citizen ID.
pub(crate) fn citizen_id(t: &Tables, core: &Core, serial: u64) -> String {
    format!(
        "{}{}{:02}{:06}",
        t.legacy[core.birth].cccd_prefix,
        core.century_sex_digit(),
        core.year % 100,
        serial
    )
}

/// Person generation for one `(seed)`.
#[derive(Debug, Clone)]
pub(crate) struct Generator {
    pub seed: u64,
    serial_offset: u64,
    serial_inverse: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            seed,
            serial_offset: mix(seed ^ stream::SERIAL) % SERIALS,
            serial_inverse: inverse_mod(SERIAL_MUL, SERIALS),
        }
    }

    /// The 6-digit serial of person `i`.
    pub fn serial(&self, i: usize) -> u64 {
        ((i as u64 % SERIALS) * SERIAL_MUL + self.serial_offset) % SERIALS
    }

    /// The smallest index whose serial is `serial`; the others are `+ k·10⁶`.
    pub fn first_with_serial(&self, serial: u64) -> usize {
        let m = ((serial + SERIALS - self.serial_offset) % SERIALS) * self.serial_inverse % SERIALS;
        m as usize
    }

    /// A core candidate: attempt `k` for person `i`.
    fn draw_core(&self, i: usize, k: u64) -> Core {
        let t = &*TABLES;
        let mut rng = rng_for(self.seed, stream::CORE, i as u64, k);
        let province = t.province_dist.sample(&mut rng);
        let p = &t.provinces[province];
        let mut birth = p.legacy[p.legacy_dist.sample(&mut rng)];
        if rng.random_bool(0.15) {
            // Born in another province.
            for _ in 0..16 {
                let b = t.legacy_dist.sample(&mut rng);
                if t.legacy[b].province != province {
                    birth = b;
                    break;
                }
            }
        }
        let age = t.age_dist.sample(&mut rng) as i32;
        let p_female = match age {
            ..20 => 0.475,
            20..60 => 0.5,
            60..80 => 0.56,
            _ => 0.64,
        };
        Core {
            province,
            birth,
            female: rng.random_bool(p_female),
            year: REF_YEAR - age,
        }
    }

    /// The core of person `i`, unique in its serial chain (see the module docs).
    pub fn core(&self, i: usize) -> Core {
        let chain = i as u64 / SERIALS;
        if chain == 0 {
            return self.draw_core(i, 0);
        }
        let base = i % SERIALS as usize;
        let mut taken: Vec<(usize, u8, i32)> = Vec::with_capacity(chain as usize);
        let mut core = self.draw_core(base, 0);
        for c in 1..=chain {
            taken.push(core.key());
            let idx = base + (c * SERIALS) as usize;
            let mut k = 0;
            core = self.draw_core(idx, k);
            while taken.contains(&core.key()) {
                k += 1;
                core = self.draw_core(idx, k);
            }
        }
        core
    }

    /// The citizen ID of person `i`.
    pub fn citizen_id(&self, i: usize) -> String {
        citizen_id(&TABLES, &self.core(i), self.serial(i))
    }

    /// Whether some person with index below `citizens` holds the ID `(key, serial)`.
    pub fn is_held(&self, key: (usize, u8, i32), serial: u64, citizens: usize) -> bool {
        let mut j = self.first_with_serial(serial);
        while j < citizens {
            if self.core(j).key() == key {
                return true;
            }
            j += SERIALS as usize;
        }
        false
    }

    /// Person `i` in full.
    pub fn person(&self, i: usize) -> Person {
        let t = &*TABLES;
        let core = self.core(i);
        let mut rng = rng_for(self.seed, stream::DETAIL, i as u64, 0);
        let province = &t.provinces[core.province];
        let ward = province.wards[province.ward_dist.sample(&mut rng)];

        // Older records often carry 1 January when only the year was known.
        let days = if is_leap(core.year) { 366 } else { 365 };
        let ordinal = if core.year < 1975 && rng.random_bool(0.12) {
            1
        } else {
            rng.random_range(1..=days)
        };
        let dob = NaiveDate::from_yo_opt(core.year, ordinal).unwrap_or_default();

        let ethnic = province.ethnic_dist.sample(&mut rng);
        let south = t.legacy[core.birth].cccd_prefix.as_str() >= "048";
        let full_name = names::full_name(
            &mut rng,
            &t.ethnic[ethnic].code,
            core.female,
            core.year,
            south,
        );
        let street = contact::street_address(
            &mut rng,
            province.region,
            t.wards[ward].kind,
            province.code == "01",
        );
        let age = core.age();
        let p_phone = match age {
            ..14 => 0.0,
            14..18 => 0.8,
            _ => 0.9,
        };
        let phone = rng.random_bool(p_phone).then(|| contact::mobile(&mut rng));
        let email = (age >= 18 && rng.random_bool(0.4))
            .then(|| contact::personal_email(&mut rng, &full_name, core.year));
        Person {
            citizen_id: citizen_id(t, &core, self.serial(i)),
            core,
            full_name,
            dob,
            ethnic,
            ward,
            street,
            phone,
            email,
        }
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// `a⁻¹ mod m` for `gcd(a, m) = 1` (extended Euclid).
fn inverse_mod(a: u64, m: u64) -> u64 {
    let (mut r0, mut r1) = (m as i128, a as i128);
    let (mut t0, mut t1) = (0i128, 1i128);
    while r1 != 0 {
        let q = r0 / r1;
        (r0, r1) = (r1, r0 - q * r1);
        (t0, t1) = (t1, t0 - q * t1);
    }
    t0.rem_euclid(m as i128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_is_a_bijection_with_a_working_inverse() {
        let g = Generator::new(42);
        assert_eq!(SERIAL_MUL * g.serial_inverse % SERIALS, 1);
        for i in [0usize, 1, 2, 999_999, 123_456, 777_777] {
            assert_eq!(g.first_with_serial(g.serial(i)), i);
            assert_eq!(g.serial(i + SERIALS as usize), g.serial(i));
        }
    }

    #[test]
    fn persons_sharing_a_serial_get_distinct_ids() {
        let g = Generator::new(3);
        for base in [0usize, 17, 654_321] {
            let ids: Vec<String> = (0..6)
                .map(|c| g.citizen_id(base + c * SERIALS as usize))
                .collect();
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), ids.len(), "{ids:?}");
            assert!(ids.iter().all(|id| id[6..] == ids[0][6..]));
        }
    }
}
