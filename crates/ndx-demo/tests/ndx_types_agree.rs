//! The generated country passes the platform's own format rules (`ndx-types`): every value the
//! demo loads must be accepted by the ingest pipeline, including the IDs of the injected errors.

use ndx_demo::{Country, Record};
use ndx_types::formats::{
    Sex, parse_citizen_id, validate_email, validate_tax_code, validate_vn_mobile, validate_vn_phone,
};
use ndx_types::reference::{ethnic_groups_2008, ward_2025};

fn get<'a>(r: &'a Record, k: &str) -> Option<&'a str> {
    r.get(k).and_then(|v| v.as_str())
}

fn year(date: &str) -> i32 {
    date[..4].parse().expect("a YYYY-MM-DD date")
}

/// The citizen ID of `r` (if any) parses and agrees with the record's sex and birth year.
fn id_agrees(r: &Record, id_field: &str) {
    let Some(id) = get(r, id_field) else { return };
    let parsed = parse_citizen_id(id).unwrap_or_else(|e| panic!("{}: {r:?}", e.message));
    if let (Some(sex), Some(dob)) = (get(r, "sex"), get(r, "date_of_birth")) {
        parsed
            .check_agrees(Some(year(dob)), Sex::from_iso5218(sex))
            .unwrap_or_else(|e| panic!("{}: {r:?}", e.message));
    }
    parsed
        .check_not_born_after(2025)
        .unwrap_or_else(|e| panic!("{}: {r:?}", e.message));
}

#[test]
fn population_passes_the_format_rules() {
    let country = Country::new(99, 20_000);
    for p in country.population() {
        id_agrees(&p, "citizen_id");
        let ward = ward_2025(get(&p, "ward_code").expect("ward")).expect("a 2025 ward");
        assert_eq!(Some(ward.province_code.as_str()), get(&p, "province_code"));
        let ethnic = get(&p, "ethnic_code").expect("ethnic code");
        assert!(
            ethnic_groups_2008().iter().any(|g| g.code == ethnic),
            "population codes ethnicity in the 2008 list"
        );
        if let Some(phone) = get(&p, "phone") {
            validate_vn_mobile(phone).unwrap_or_else(|e| panic!("{}", e.message));
        }
        if let Some(email) = get(&p, "email") {
            validate_email(email).unwrap_or_else(|e| panic!("{}", e.message));
        }
    }
}

#[test]
fn registers_pass_the_format_rules() {
    let country = Country::new(99, 20_000);
    for staff in country.civil_servants() {
        id_agrees(&staff.record, "citizen_id");
    }
    for b in country.businesses() {
        validate_tax_code(get(&b, "tax_code").expect("tax code"))
            .unwrap_or_else(|e| panic!("{}", e.message));
        let owner = get(&b, "owner_citizen_id").expect("an owner");
        parse_citizen_id(owner).unwrap_or_else(|e| panic!("{}", e.message));
        let ward = ward_2025(get(&b, "ward_code").expect("ward")).expect("a 2025 ward");
        assert_eq!(Some(ward.province_code.as_str()), get(&b, "province_code"));
        if let Some(phone) = get(&b, "phone") {
            validate_vn_phone(phone).unwrap_or_else(|e| panic!("{}", e.message));
        }
        if let Some(email) = get(&b, "email") {
            validate_email(email).unwrap_or_else(|e| panic!("{}", e.message));
        }
    }
}
