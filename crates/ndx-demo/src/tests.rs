//! Tests of the generated country against the rules it promises.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate};
use serde_json::Value;
use unicode_normalization::is_nfc;

use super::*;
use crate::tables::TABLES;

const SEED: u64 = 20_250_701;

/// Read access to a field of a record or of a [`Row`]; absent fields read as "".
trait Fields {
    fn field(&self, k: &str) -> &str;
}

impl<T: Fields> Fields for &T {
    fn field(&self, k: &str) -> &str {
        (**self).field(k)
    }
}

impl Fields for Record {
    fn field(&self, k: &str) -> &str {
        self.get(k).and_then(Value::as_str).unwrap_or("")
    }
}

/// A person as one string of the [`POPULATION_FIELDS`] with their end offsets: 200,000
/// records as maps would take hundreds of megabytes.
#[derive(Debug)]
struct Row {
    text: Box<str>,
    ends: [u32; 10],
}

impl Row {
    fn of(record: &Record) -> Row {
        let mut text = String::with_capacity(160);
        let mut ends = [0u32; 10];
        for (end, f) in ends.iter_mut().zip(POPULATION_FIELDS) {
            text.push_str(record.field(f));
            *end = text.len() as u32;
        }
        Row {
            text: text.into(),
            ends,
        }
    }
}

impl Fields for Row {
    fn field(&self, k: &str) -> &str {
        let ix = match k {
            "citizen_id" => 0,
            "full_name" => 1,
            "sex" => 2,
            "date_of_birth" => 3,
            "ethnic_code" => 4,
            "province_code" => 5,
            "ward_code" => 6,
            "street_address" => 7,
            "phone" => 8,
            "email" => 9,
            _ => panic!("{k} is not a population field"),
        };
        let start = if ix == 0 {
            0
        } else {
            self.ends[ix - 1] as usize
        };
        &self.text[start..self.ends[ix] as usize]
    }
}

fn s<'a, F: Fields>(r: &'a F, k: &str) -> &'a str {
    r.field(k)
}

/// 200,000 persons of one country, generated once on both cores.
static POPULATION: LazyLock<Vec<Row>> = LazyLock::new(|| {
    let country = Country::new(SEED, 200_000);
    let half = country.citizens() / 2;
    let rows = |range: std::ops::Range<usize>| -> Vec<Row> {
        range.map(|i| Row::of(&country.person(i))).collect()
    };
    std::thread::scope(|scope| {
        let upper = scope.spawn(|| rows(half..country.citizens()));
        let mut all = rows(0..half);
        all.extend(upper.join().expect("generator thread"));
        all
    })
});

fn ward_province() -> HashMap<&'static str, &'static str> {
    let t = &*TABLES;
    t.wards
        .iter()
        .map(|w| (w.code.as_str(), t.provinces[w.province].code.as_str()))
        .collect()
}

fn cccd_prefixes() -> HashSet<&'static str> {
    TABLES
        .legacy
        .iter()
        .map(|l| l.cccd_prefix.as_str())
        .collect()
}

/// Checks the digits of a citizen ID against a sex (`1`/`2`) and a birth date.
fn id_agrees(id: &str, sex: &str, dob: &str, prefixes: &HashSet<&str>) -> Result<(), String> {
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("not 12 digits: {id:?}"));
    }
    if !prefixes.contains(&id[..3]) {
        return Err(format!("unknown prefix: {id:?}"));
    }
    let year: u32 = dob[..4].parse().map_err(|_| format!("bad date {dob:?}"))?;
    let century = match year {
        1900..=1999 => 0,
        2000..=2099 => 2,
        _ => return Err(format!("year out of range: {dob:?}")),
    };
    let digit = century + if sex == "2" { 1 } else { 0 };
    if id.as_bytes()[3] != b'0' + digit {
        return Err(format!(
            "century/sex digit of {id:?} disagrees with {sex} {dob}"
        ));
    }
    if id[4..6] != dob[2..4] {
        return Err(format!("year digits of {id:?} disagree with {dob}"));
    }
    Ok(())
}

#[test]
fn reference_tables_are_complete() {
    let t = &*TABLES;
    assert_eq!(t.provinces.len(), 34);
    assert_eq!(t.wards.len(), 3321);
    assert_eq!(t.legacy.len(), 63);
    assert_eq!(t.ethnic.len(), 54);
    assert!(
        t.legacy.iter().all(|l| l.tax_prefix != "99"),
        "a legacy province lacks facts"
    );
    assert!(
        t.provinces
            .iter()
            .all(|p| !p.old_wards.is_empty() && !p.legacy.is_empty())
    );
    let no_old = t.wards.iter().filter(|w| w.old.is_empty()).count();
    assert_eq!(no_old, 5, "only the five island zones have no old ward");
}

#[test]
fn same_seed_same_country_other_seed_other_country() {
    let a = Country::new(7, 3000);
    let b = Country::new(7, 3000);
    let c = Country::new(8, 3000);
    let pa: Vec<Record> = a.population().collect();
    assert_eq!(pa, b.population().collect::<Vec<_>>());
    let pc: Vec<Record> = c.population().collect();
    let differing = pa.iter().zip(&pc).filter(|(x, y)| x != y).count();
    assert!(differing > 2900, "{differing}");
    assert_eq!(a.civil_servants(), b.civil_servants());
    assert_ne!(a.civil_servants(), c.civil_servants());
    assert_eq!(a.businesses(), b.businesses());
    assert_ne!(a.businesses(), c.businesses());
}

#[test]
fn a_person_does_not_depend_on_the_population_size() {
    let small = Country::new(11, 10);
    let large = Country::new(11, 5_000_000);
    for i in [0, 3, 9] {
        assert_eq!(small.person(i), large.person(i));
        assert_eq!(small.citizen_id(i), s(&large.person(i), "citizen_id"));
    }
    // Beyond the first million, the serial repeats but the ID does not.
    let far = large.person(1_000_003);
    assert_eq!(
        s(&far, "citizen_id")[6..],
        s(&large.person(3), "citizen_id")[6..]
    );
    assert_ne!(s(&far, "citizen_id"), s(&large.person(3), "citizen_id"));
}

#[test]
fn citizen_ids_are_unique_and_agree_with_sex_and_birth_date() {
    let prefixes = cccd_prefixes();
    let mut seen = HashSet::with_capacity(POPULATION.len());
    for p in POPULATION.iter() {
        let id = s(p, "citizen_id");
        assert!(seen.insert(id), "duplicate citizen ID {id}");
        if let Err(e) = id_agrees(id, s(p, "sex"), s(p, "date_of_birth"), &prefixes) {
            panic!("{e}");
        }
    }
    assert_eq!(seen.len(), 200_000);
}

#[test]
fn persons_are_well_formed() {
    let wards = ward_province();
    let ethnic: HashSet<&str> = TABLES.ethnic.iter().map(|e| e.code_2008.as_str()).collect();
    let reference = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    let mut phones = 0;
    let mut emails = 0;
    let mut adults = 0;
    let country = Country::new(SEED, 200_000);
    for (i, row) in POPULATION.iter().enumerate().take(2000) {
        let p = country.person(i);
        let keys: Vec<&str> = p.keys().map(String::as_str).collect();
        let expected: Vec<&str> = POPULATION_FIELDS
            .iter()
            .copied()
            .filter(|f| p.contains_key(*f))
            .collect();
        assert_eq!(keys, expected, "field order");
        assert!(
            p.values()
                .all(|v| v.as_str().is_some_and(|v| !v.is_empty()))
        );
        assert_eq!(Row::of(&p).text, row.text);
    }
    for p in POPULATION.iter().take(50_000) {
        assert_eq!(
            wards.get(s(p, "ward_code")),
            Some(&s(p, "province_code")),
            "ward outside its province: {p:?}"
        );
        assert!(ethnic.contains(s(p, "ethnic_code")));
        assert!(matches!(s(p, "sex"), "1" | "2"));
        let name = s(p, "full_name");
        assert!(is_nfc(name) && name.split(' ').count() >= 2, "{name:?}");
        assert!(is_nfc(s(p, "street_address")) && !s(p, "street_address").is_empty());
        let dob = NaiveDate::parse_from_str(s(p, "date_of_birth"), "%Y-%m-%d").expect("date");
        let age = reference.year() - dob.year() - 1;
        assert!((0..=95).contains(&age), "{dob}");
        let (phone, email) = (s(p, "phone"), s(p, "email"));
        if !phone.is_empty() {
            assert!(age >= 14, "child with a phone");
            assert_eq!(phone.len(), 10);
            assert!(phone.starts_with('0') && phone.bytes().all(|b| b.is_ascii_digit()));
            let net: u32 = phone[1..3].parse().expect("digits");
            assert!(
                matches!(net, 32..=39 | 52 | 55 | 56 | 58 | 59 | 70 | 76..=79 | 81..=89 | 90..=99),
                "{phone}"
            );
        }
        if age >= 18 {
            adults += 1;
            phones += usize::from(!phone.is_empty());
            emails += usize::from(!email.is_empty());
        } else {
            assert!(email.is_empty());
        }
        if !email.is_empty() {
            let (local, domain) = email.split_once('@').expect("an @");
            assert!(!local.is_empty() && domain.contains('.'));
            assert!(email.is_ascii(), "{email}");
        }
    }
    let phone_share = phones as f64 / adults as f64;
    let email_share = emails as f64 / adults as f64;
    assert!((0.87..0.93).contains(&phone_share), "{phone_share}");
    assert!((0.37..0.43).contains(&email_share), "{email_share}");
}

#[test]
fn population_shares_are_realistic() {
    let n = POPULATION.len() as f64;
    let count = |k: &str, v: &str| POPULATION.iter().filter(|p| s(p, k) == v).count() as f64 / n;
    let female = count("sex", "2");
    assert!((0.47..0.53).contains(&female), "female {female}");
    let kinh = count("ethnic_code", "01");
    assert!((0.80..0.90).contains(&kinh), "Kinh {kinh}");
    let mut by_province: HashMap<&str, usize> = HashMap::new();
    for p in POPULATION.iter() {
        *by_province.entry(s(p, "province_code")).or_default() += 1;
    }
    let mut ranked: Vec<(&str, usize)> = by_province.into_iter().collect();
    ranked.sort_by_key(|&(code, n)| (std::cmp::Reverse(n), code));
    assert_eq!(ranked[0].0, "79");
    assert_eq!(ranked[1].0, "01");
    assert_eq!(ranked.len(), 34);
    // Most people were born in (a former province of) the province they live in.
    let province_of_prefix: HashMap<&str, &str> = TABLES
        .legacy
        .iter()
        .map(|l| {
            (
                l.cccd_prefix.as_str(),
                TABLES.provinces[l.province].code.as_str(),
            )
        })
        .collect();
    let local = POPULATION
        .iter()
        .filter(|p| province_of_prefix[&s(p, "citizen_id")[..3]] == s(p, "province_code"))
        .count() as f64
        / n;
    assert!((0.83..0.90).contains(&local), "born locally {local}");
    // Many people share a birth date.
    let dobs: HashSet<&str> = POPULATION.iter().map(|p| s(p, "date_of_birth")).collect();
    assert!((dobs.len() as f64) < 0.2 * n, "{}", dobs.len());
}

#[test]
fn names_have_realistic_frequencies() {
    let persons = &POPULATION[..100_000];
    let mut family: HashMap<&str, usize> = HashMap::new();
    let mut full: HashMap<&str, usize> = HashMap::new();
    for p in persons {
        let name = s(p, "full_name");
        *family
            .entry(name.split(' ').next().unwrap_or(""))
            .or_default() += 1;
        *full.entry(name).or_default() += 1;
    }
    let (top, top_n) = family
        .iter()
        .max_by_key(|&(name, n)| (*n, std::cmp::Reverse(*name)))
        .map(|(k, v)| (*k, *v))
        .unwrap_or_default();
    let share = top_n as f64 / persons.len() as f64;
    assert_eq!(top, "Nguyễn");
    assert!((0.30..0.45).contains(&share), "Nguyễn {share}");
    let shared = persons
        .iter()
        .filter(|p| full[s(p, "full_name")] >= 2)
        .count() as f64
        / persons.len() as f64;
    assert!(shared >= 0.20, "shared full names {shared}");
}

#[test]
fn civil_servants_carry_realistic_errors_and_true_ground_truth() {
    let citizens = 100_000;
    let country = Country::new(SEED, citizens);
    let staff = country.civil_servants();
    assert_eq!(staff.len(), 5000);
    let ids: HashMap<&str, usize> = POPULATION[..citizens]
        .iter()
        .enumerate()
        .map(|(i, p)| (s(p, "citizen_id"), i))
        .collect();
    let prefixes = cccd_prefixes();
    let t = &*TABLES;
    let ward_ix: HashMap<&str, usize> = t
        .wards
        .iter()
        .enumerate()
        .map(|(i, w)| (w.code.as_str(), i))
        .collect();

    let mut kinds: HashMap<InjectedError, usize> = HashMap::new();
    let mut staff_ids = HashSet::new();
    let mut with_id = 0usize;
    let mut records_of: HashMap<usize, usize> = HashMap::new();
    for cs in &staff {
        let r = &cs.record;
        let person_ix = cs.truth.person_index.expect("population is large enough");
        let person = &POPULATION[person_ix];
        *records_of.entry(person_ix).or_default() += 1;
        for e in &cs.truth.errors {
            *kinds.entry(*e).or_default() += 1;
        }
        let has = |e: InjectedError| cs.truth.errors.contains(&e);

        let keys: Vec<&str> = r.keys().map(String::as_str).collect();
        let expected: Vec<&str> = CIVIL_SERVANT_FIELDS
            .iter()
            .copied()
            .filter(|f| r.contains_key(*f))
            .collect();
        assert_eq!(keys, expected, "field order");
        let staff_id = s(r, "staff_id");
        assert!(
            staff_id.len() == 9 && staff_id.starts_with("CB"),
            "{staff_id}"
        );
        assert!(staff_ids.insert(staff_id), "duplicate staff id {staff_id}");
        assert_eq!(s(r, "sex"), s(person, "sex"));
        assert_eq!(s(r, "province_code"), s(person, "province_code"));
        assert!(civil::hire_age_is_adult(r), "{r:?}");
        assert!(s(r, "agency_code").starts_with("UBND-") || s(r, "agency_code").starts_with('B'));

        // Name.
        if !has(InjectedError::NameTypo) && !has(InjectedError::DiacriticsStripped) {
            assert_eq!(s(r, "full_name"), s(person, "full_name"));
        }
        if has(InjectedError::DiacriticsStripped) {
            assert!(s(r, "full_name").is_ascii());
        }
        if has(InjectedError::NameTypo) && !has(InjectedError::DiacriticsStripped) {
            assert_ne!(s(r, "full_name"), s(person, "full_name"));
        }

        // Birth date.
        let dob = s(r, "date_of_birth");
        if has(InjectedError::DayMonthSwapped) {
            let (true_dob, rec_dob) = (s(person, "date_of_birth"), dob);
            assert_eq!(&rec_dob[..4], &true_dob[..4]);
            assert_eq!(&rec_dob[5..7], &true_dob[8..10]);
            assert_eq!(&rec_dob[8..10], &true_dob[5..7]);
            assert_ne!(rec_dob, true_dob);
        } else {
            assert_eq!(dob, s(person, "date_of_birth"));
        }

        // Address.
        let ward = &t.wards[ward_ix[s(person, "ward_code")]];
        let address = s(r, "address");
        assert!(address.starts_with(s(person, "street_address")));
        if has(InjectedError::OldAddress) {
            let pool = if ward.old.is_empty() {
                &t.provinces[ward.province].old_wards
            } else {
                &ward.old
            };
            assert!(
                pool.iter().any(|&o| {
                    let old = &t.old_wards[o];
                    address.ends_with(&format!("{}, {}, {}", old.name, old.district, old.province))
                }),
                "{address}"
            );
        } else {
            assert!(address.ends_with(&format!(
                "{}, {}",
                ward.name, t.provinces[ward.province].name
            )));
        }

        // Citizen ID.
        match r.get("citizen_id").and_then(Value::as_str) {
            None => assert!(has(InjectedError::MissingCitizenId)),
            Some(id) => {
                with_id += 1;
                if let Err(e) = id_agrees(id, s(r, "sex"), dob, &prefixes) {
                    panic!("{e} in {r:?}");
                }
                if has(InjectedError::WrongCitizenId) {
                    let other = ids.get(id).copied();
                    assert!(
                        other.is_some_and(|o| o != person_ix),
                        "{id} is not another person's"
                    );
                } else if has(InjectedError::UnknownCitizenId) {
                    assert!(!ids.contains_key(id), "{id} is held");
                    assert_eq!(id[..6], s(person, "citizen_id")[..6]);
                } else {
                    assert_eq!(id, s(person, "citizen_id"));
                }
            }
        }
    }

    let share = with_id as f64 / staff.len() as f64;
    assert!((0.66..0.74).contains(&share), "share with an ID {share}");
    for kind in InjectedError::ALL {
        assert!(
            kinds.get(&kind).copied().unwrap_or(0) > 0,
            "{kind:?} never injected"
        );
    }
    let rate = |k: InjectedError| kinds.get(&k).copied().unwrap_or(0) as f64 / staff.len() as f64;
    assert!((0.07..0.13).contains(&rate(InjectedError::OldAddress)));
    assert!((0.01..0.03).contains(&rate(InjectedError::DayMonthSwapped)));
    assert!((0.035..0.065).contains(&rate(InjectedError::DiacriticsStripped)));
    // Every duplicate's person has another record.
    for cs in staff
        .iter()
        .filter(|c| c.truth.errors.contains(&InjectedError::Duplicate))
    {
        let ix = cs.truth.person_index.expect("index");
        assert!(records_of[&ix] >= 2);
    }
    let duplicates = rate(InjectedError::Duplicate);
    assert!((0.008..0.025).contains(&duplicates), "{duplicates}");
}

#[test]
fn tiny_populations_still_give_full_registers() {
    let empty = Country::new(1, 0);
    assert_eq!(empty.population().count(), 0);
    let staff = empty.civil_servants();
    assert_eq!(staff.len(), 5000);
    assert!(staff.iter().all(|c| c.truth.person_index.is_none()));
    let businesses = empty.businesses();
    assert_eq!(businesses.len(), 2000);
    assert!(
        businesses
            .iter()
            .all(|b| !b.contains_key("owner_citizen_id"))
    );

    let few = Country::new(1, 50);
    let staff = few.civil_servants();
    assert_eq!(staff.len(), 5000);
    assert!(
        staff
            .iter()
            .all(|c| c.truth.person_index.is_some_and(|i| i < 50))
    );
}

#[test]
fn businesses_have_valid_tax_codes_owners_and_places() {
    let citizens = 100_000;
    let country = Country::new(SEED, citizens);
    let businesses = country.businesses();
    assert_eq!(businesses.len(), 2000);
    let wards = ward_province();
    let adults: HashSet<&str> = POPULATION[..citizens]
        .iter()
        .filter(|p| s(p, "date_of_birth") <= "2007-12-31")
        .map(|p| s(p, "citizen_id"))
        .collect();
    let mut codes = HashSet::new();
    let mut branches = 0;
    let mut active = 0;
    let mut sections = std::collections::BTreeMap::new();
    for b in &businesses {
        let keys: Vec<&str> = b.keys().map(String::as_str).collect();
        let expected: Vec<&str> = BUSINESS_FIELDS
            .iter()
            .copied()
            .filter(|f| b.contains_key(*f))
            .collect();
        assert_eq!(keys, expected, "field order");
        let code = s(b, "tax_code");
        assert!(codes.insert(code), "duplicate tax code {code}");
        let (main, branch) = match code.split_once('-') {
            Some((main, branch)) => (main, Some(branch)),
            None => (code, None),
        };
        assert_eq!(main.len(), 10);
        assert!(main.bytes().all(|d| d.is_ascii_digit()));
        let sum: u32 = main
            .bytes()
            .take(9)
            .zip([31, 29, 23, 19, 17, 13, 7, 5, 3])
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        assert_ne!(sum % 11, 0, "{code}");
        assert_ne!(&main[2..9], "0000000", "serial numbers start at 0000001");
        assert_eq!(
            u32::from(main.as_bytes()[9] - b'0'),
            10 - sum % 11,
            "{code}"
        );
        if let Some(branch) = branch {
            branches += 1;
            assert!(matches!(
                branch,
                "001" | "002" | "003" | "004" | "005" | "006" | "007" | "008" | "009"
            ));
            assert!(
                codes.contains(main),
                "branch {code} before or without its parent"
            );
            assert!(s(b, "name").starts_with("Chi nhánh "));
        }
        assert!(adults.contains(s(b, "owner_citizen_id")), "owner {b:?}");
        assert_eq!(wards.get(s(b, "ward_code")), Some(&s(b, "province_code")));
        assert!(("1995-01-01"..="2025-12-31").contains(&s(b, "registered_on")));
        assert!(matches!(
            s(b, "legal_form"),
            "TNHH" | "CP" | "DNTN" | "HKD" | "HTX"
        ));
        assert!(matches!(
            s(b, "status"),
            "active" | "suspended" | "dissolved"
        ));
        let industry = s(b, "industry");
        assert!(
            crate::VSIC_SECTIONS
                .iter()
                .any(|(code, _, _)| *code == industry),
            "industry {industry:?} of {b:?}"
        );
        let name = s(b, "name");
        for (word, section) in [
            ("Xây dựng", "F"),
            ("Cà phê", "I"),
            ("Hợp tác xã Thủy sản", "A"),
            ("Vận tải", "H"),
        ] {
            if name.contains(word) && !name.contains("Vật liệu") && !name.contains("Đầu tư")
            {
                assert_eq!(industry, section, "{name}");
            }
        }
        *sections.entry(industry.to_owned()).or_insert(0usize) += 1;
        active += usize::from(s(b, "status") == "active");
        assert!(is_nfc(s(b, "name")) && is_nfc(s(b, "address")));
    }
    assert!(sections.len() >= 10, "a spread of trades: {sections:?}");
    assert!(
        sections
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(s, _)| s.as_str())
            == Some("G"),
        "trade leads, as in the real register: {sections:?}"
    );
    let branch_share = branches as f64 / businesses.len() as f64;
    assert!((0.03..0.07).contains(&branch_share), "{branch_share}");
    let active_share = active as f64 / businesses.len() as f64;
    assert!((0.80..0.90).contains(&active_share), "{active_share}");
    assert_eq!(tax_code_check_digit("010010910"), Some(6));
}

#[test]
fn csv_output_round_trips() {
    let country = Country::new(3, 500);
    let staff: Vec<Record> = country
        .civil_servants()
        .into_iter()
        .map(|c| c.record)
        .collect();
    for (records, fields) in [
        (country.population().collect::<Vec<_>>(), POPULATION_FIELDS),
        (staff, CIVIL_SERVANT_FIELDS),
    ] {
        let mut buf = Vec::new();
        let rows = write_csv(records.clone().into_iter(), fields, &mut buf).expect("write");
        assert_eq!(rows, records.len() as u64);
        let mut reader = csv::Reader::from_reader(buf.as_slice());
        let headers: Vec<String> = reader
            .headers()
            .expect("header")
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(headers, fields);
        let mut n = 0;
        for (row, record) in reader.records().zip(&records) {
            let row = row.expect("row");
            for (value, field) in row.iter().zip(fields) {
                assert_eq!(value, s(record, field));
            }
            n += 1;
        }
        assert_eq!(n, records.len());
    }
    let mut buf = Vec::new();
    let mut odd = Record::new();
    odd.insert("a".into(), Value::String("x, \"y\"\nz".into()));
    odd.insert("b".into(), Value::Null);
    write_csv(std::iter::once(odd), &["a", "b", "c"], &mut buf).expect("write");
    assert_eq!(
        String::from_utf8(buf).expect("utf-8"),
        "a,b,c\n\"x, \"\"y\"\"\nz\",,\n"
    );
}
