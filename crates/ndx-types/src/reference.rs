//! Built-in reference data embedded in the binary: Vietnam's administrative units since
//! 1 July 2025 (34 provinces, 3,321 wards), the 63 pre-2025 provinces with their citizen-ID
//! prefix, the mapping from pre-2025 wards to 2025 wards, and the 54 ethnic groups.
//!
//! The CSV files under `crates/ndx-types/data/` (columns and provenance in `data/SOURCE.md`)
//! are compiled in with [`include_str!`] and parsed once, on first use. Codes are zero-padded
//! strings (`"01"`, `"001"`, `"00004"`); names keep their diacritics and unit prefix.
//!
//! The embedded files are part of the source tree, so a parse failure is a build defect, not a
//! runtime condition: the accessors panic on it, and the tests in this module load every table.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use serde::Deserialize;
use serde::Serialize;

const ADMIN_UNITS_2025_CSV: &str = include_str!("../data/admin_units_2025.csv");
const PROVINCES_LEGACY_CSV: &str = include_str!("../data/provinces_legacy_63.csv");
const ETHNIC_GROUPS_CSV: &str = include_str!("../data/ethnic_groups.csv");
const WARD_CONVERSIONS_CSV: &str = include_str!("../data/wards_old_to_new_2025.csv");
const ETHNIC_GROUPS_2008_CSV: &str = include_str!("../data/ethnic_groups_2008.csv");

/// A province-level unit (province or centrally-run city) in force since 1 July 2025.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Province2025 {
    /// Two-digit statistics-office code, e.g. `"01"`.
    pub code: String,
    /// Official name with its prefix, e.g. `"Thành phố Hà Nội"`.
    pub name: String,
    /// Name without prefix and diacritics, e.g. `"Ha Noi"`.
    pub name_en: String,
}

/// A commune-level unit (ward, commune or special zone) in force since 1 July 2025.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ward2025 {
    /// Five-digit statistics-office code, unique nationwide, e.g. `"00004"`.
    pub code: String,
    /// Official name with its prefix, e.g. `"Phường Ba Đình"`.
    pub name: String,
    /// `"phường"`, `"xã"` or `"đặc khu"`.
    pub ward_type: String,
    /// Code of the [`Province2025`] the unit belongs to.
    pub province_code: String,
}

/// One of the 63 provinces in force until 30 June 2025.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegacyProvince {
    /// Two-digit statistics-office code before 2025, e.g. `"01"`.
    pub code: String,
    /// Name before 2025, e.g. `"Tỉnh Bà Rịa - Vũng Tàu"`.
    pub name: String,
    /// First three digits of a citizen identity number issued for the province: the code
    /// zero-padded to three digits, e.g. `"001"`.
    pub cccd_prefix: String,
    /// Code of the [`Province2025`] the province was merged into.
    pub new_province_code: String,
}

/// One of Vietnam's 54 recognised ethnic groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EthnicGroup {
    /// Two-digit code of its list, `"01"` (Kinh) to `"54"` (Rơ-măm in 1979, Ơ Đu in 2008).
    pub code: String,
    /// Name with diacritics, e.g. `"Tày"`.
    pub name: String,
    /// The same name without diacritics, e.g. `"Tay"`.
    pub name_ascii: String,
}

/// One (pre-2025 ward, 2025 ward) pair of the 2025 reorganisation. A pre-2025 ward split
/// between several new wards has one row per new ward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WardConversion {
    /// Pre-2025 province code.
    pub old_province_code: String,
    /// Pre-2025 province name.
    pub old_province_name: String,
    /// Pre-2025 district code (three digits).
    pub old_district_code: String,
    /// Pre-2025 district name.
    pub old_district_name: String,
    /// Pre-2025 ward code (five digits).
    pub old_ward_code: String,
    /// Pre-2025 ward name.
    pub old_ward_name: String,
    /// Code of the 2025 province the ward (or this part of it) now belongs to.
    pub new_province_code: String,
    /// Code of the 2025 ward the ward (or this part of it) now belongs to.
    pub new_ward_code: String,
}

/// The 34 provinces in force since 1 July 2025, sorted by code.
pub fn provinces_2025() -> &'static [Province2025] {
    &admin_units().provinces
}

/// The 3,321 wards in force since 1 July 2025, sorted by province code, then ward code.
pub fn wards_2025() -> &'static [Ward2025] {
    &admin_units().wards
}

/// The 2025 ward with this five-digit code, if any.
pub fn ward_2025(code: &str) -> Option<&'static Ward2025> {
    let units = admin_units();
    units.ward_index.get(code).map(|&i| &units.wards[i])
}

/// The 2025 province with this two-digit code, if any.
pub fn province_2025(code: &str) -> Option<&'static Province2025> {
    let provinces = provinces_2025();
    provinces
        .binary_search_by(|p| p.code.as_str().cmp(code))
        .ok()
        .map(|i| &provinces[i])
}

/// The wards of one 2025 province, sorted by code; empty for an unknown province code.
pub fn wards_2025_of_province(province_code: &str) -> &'static [Ward2025] {
    let wards = wards_2025();
    let start = wards.partition_point(|w| w.province_code.as_str() < province_code);
    let end = wards.partition_point(|w| w.province_code.as_str() <= province_code);
    &wards[start..end]
}

/// The 63 provinces in force until 30 June 2025, sorted by code.
pub fn legacy_provinces() -> &'static [LegacyProvince] {
    legacy()
}

/// The pre-2025 province with this two-digit code, if any.
pub fn legacy_province(code: &str) -> Option<&'static LegacyProvince> {
    let provinces = legacy();
    provinces
        .binary_search_by(|p| p.code.as_str().cmp(code))
        .ok()
        .map(|i| &provinces[i])
}

/// The pre-2025 province whose citizen identity numbers start with `prefix` (three digits),
/// e.g. `"001"` → Hà Nội.
pub fn legacy_province_by_cccd_prefix(prefix: &str) -> Option<&'static LegacyProvince> {
    // Every citizen ID is checked against this, so it is a table lookup by the 3-digit number.
    static BY_NUMBER: std::sync::OnceLock<Vec<Option<u8>>> = std::sync::OnceLock::new();
    let table = BY_NUMBER.get_or_init(|| {
        let mut t = vec![None; 1000];
        for (i, p) in legacy().iter().enumerate() {
            if let Ok(n) = p.cccd_prefix.parse::<usize>()
                && n < 1000
            {
                t[n] = u8::try_from(i).ok();
            }
        }
        t
    });
    if prefix.len() != 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: usize = prefix.parse().ok()?;
    table[n].map(|i| &legacy()[usize::from(i)])
}

/// The 54 ethnic groups, sorted by code.
pub fn ethnic_groups() -> &'static [EthnicGroup] {
    ethnic()
}

/// The 54 ethnic groups with the codes of the 2008 list (Decision 1019/QĐ-TCTK, the list
/// QCVN 109:2017/BTTTT prescribes for citizen data), sorted by code. [`ethnic_groups`] is the
/// 1979 list: the two number the same groups differently from `04` on.
pub fn ethnic_groups_2008() -> &'static [EthnicGroup] {
    static CELL: OnceLock<Vec<EthnicGroup>> = OnceLock::new();
    CELL.get_or_init(|| ethnic_table("ethnic_groups_2008.csv", ETHNIC_GROUPS_2008_CSV))
}

/// The ethnic group with this two-digit code of the 1979 list, if any.
pub fn ethnic_group(code: &str) -> Option<&'static EthnicGroup> {
    let groups = ethnic();
    groups
        .binary_search_by(|g| g.code.as_str().cmp(code))
        .ok()
        .map(|i| &groups[i])
}

/// Every (pre-2025 ward, 2025 ward) pair, sorted by old province, old district, old ward, then
/// new ward code.
pub fn ward_conversions() -> &'static [WardConversion] {
    &conversions().rows
}

/// The 2025 ward(s) a pre-2025 ward became: one row, or several when the ward was split;
/// empty for an unknown old ward code.
pub fn ward_conversions_from(old_ward_code: &str) -> &'static [WardConversion] {
    let table = conversions();
    match table.by_old_ward.get(old_ward_code) {
        Some(range) => &table.rows[range.clone()],
        None => &[],
    }
}

struct AdminUnits {
    provinces: Vec<Province2025>,
    wards: Vec<Ward2025>,
    ward_index: HashMap<String, usize>,
}

struct Conversions {
    rows: Vec<WardConversion>,
    by_old_ward: HashMap<String, Range<usize>>,
}

#[derive(Deserialize)]
struct AdminUnitRow {
    province_code: String,
    province_name: String,
    province_name_en: String,
    ward_code: String,
    ward_name: String,
    ward_type: String,
}

#[derive(Deserialize)]
struct LegacyProvinceRow {
    legacy_province_code: String,
    legacy_province_name: String,
    cccd_prefix: String,
    new_province_code: String,
}

#[derive(Deserialize)]
struct EthnicGroupRow {
    ethnic_code: String,
    ethnic_name: String,
    ethnic_name_ascii: String,
}

/// Reads every row of an embedded CSV file; `name` identifies the file in the panic message.
fn read_rows<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Vec<T> {
    csv::Reader::from_reader(text.as_bytes())
        .deserialize()
        .enumerate()
        .map(|(i, row)| {
            row.unwrap_or_else(|e| panic!("embedded {name} is malformed at record {i}: {e}"))
        })
        .collect()
}

fn admin_units() -> &'static AdminUnits {
    static CELL: OnceLock<AdminUnits> = OnceLock::new();
    CELL.get_or_init(|| {
        let rows: Vec<AdminUnitRow> = read_rows("admin_units_2025.csv", ADMIN_UNITS_2025_CSV);
        let mut provinces: Vec<Province2025> = Vec::new();
        let mut wards = Vec::with_capacity(rows.len());
        for row in rows {
            if !provinces.iter().any(|p| p.code == row.province_code) {
                provinces.push(Province2025 {
                    code: row.province_code.clone(),
                    name: row.province_name,
                    name_en: row.province_name_en,
                });
            }
            wards.push(Ward2025 {
                code: row.ward_code,
                name: row.ward_name,
                ward_type: row.ward_type,
                province_code: row.province_code,
            });
        }
        provinces.sort_by(|a, b| a.code.cmp(&b.code));
        wards.sort_by(|a, b| {
            (a.province_code.as_str(), a.code.as_str())
                .cmp(&(b.province_code.as_str(), b.code.as_str()))
        });
        let ward_index = wards
            .iter()
            .enumerate()
            .map(|(i, w)| (w.code.clone(), i))
            .collect();
        AdminUnits {
            provinces,
            wards,
            ward_index,
        }
    })
}

fn legacy() -> &'static [LegacyProvince] {
    static CELL: OnceLock<Vec<LegacyProvince>> = OnceLock::new();
    CELL.get_or_init(|| {
        let rows: Vec<LegacyProvinceRow> =
            read_rows("provinces_legacy_63.csv", PROVINCES_LEGACY_CSV);
        let mut provinces: Vec<LegacyProvince> = rows
            .into_iter()
            .map(|row| LegacyProvince {
                code: row.legacy_province_code,
                name: row.legacy_province_name,
                cccd_prefix: row.cccd_prefix,
                new_province_code: row.new_province_code,
            })
            .collect();
        provinces.sort_by(|a, b| a.code.cmp(&b.code));
        provinces
    })
}

fn ethnic() -> &'static [EthnicGroup] {
    static CELL: OnceLock<Vec<EthnicGroup>> = OnceLock::new();
    CELL.get_or_init(|| ethnic_table("ethnic_groups.csv", ETHNIC_GROUPS_CSV))
}

fn ethnic_table(name: &str, csv: &str) -> Vec<EthnicGroup> {
    let rows: Vec<EthnicGroupRow> = read_rows(name, csv);
    let mut groups: Vec<EthnicGroup> = rows
        .into_iter()
        .map(|row| EthnicGroup {
            code: row.ethnic_code,
            name: row.ethnic_name,
            name_ascii: row.ethnic_name_ascii,
        })
        .collect();
    groups.sort_by(|a, b| a.code.cmp(&b.code));
    groups
}

fn conversions() -> &'static Conversions {
    static CELL: OnceLock<Conversions> = OnceLock::new();
    CELL.get_or_init(|| {
        // Header-named deserialisation ignores the `new_*_name` columns, which repeat
        // `admin_units_2025.csv`.
        let rows: Vec<WardConversion> =
            read_rows("wards_old_to_new_2025.csv", WARD_CONVERSIONS_CSV);
        // The file is sorted by old province, district and ward, so the rows of one old ward
        // are contiguous.
        let mut by_old_ward: HashMap<String, Range<usize>> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            by_old_ward
                .entry(row.old_ward_code.clone())
                .and_modify(|range| range.end = i + 1)
                .or_insert(i..i + 1);
        }
        Conversions { rows, by_old_ward }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn tables_have_the_documented_sizes() {
        assert_eq!(provinces_2025().len(), 34);
        assert_eq!(wards_2025().len(), 3321);
        assert_eq!(legacy_provinces().len(), 63);
        assert_eq!(ethnic_groups().len(), 54);
        assert_eq!(ward_conversions().len(), 10565);
    }

    #[test]
    fn ward_types_have_the_documented_counts() {
        let count = |t: &str| wards_2025().iter().filter(|w| w.ward_type == t).count();
        assert_eq!(count("phường"), 687);
        assert_eq!(count("xã"), 2621);
        assert_eq!(count("đặc khu"), 13);
    }

    #[test]
    fn known_lookups() {
        let hanoi = legacy_province_by_cccd_prefix("001").expect("001 is Hà Nội");
        assert_eq!(hanoi.name, "Thành phố Hà Nội");
        assert_eq!(hanoi.code, "01");
        assert_eq!(hanoi.new_province_code, "01");

        let hcm = legacy_province_by_cccd_prefix("079").expect("079 is Hồ Chí Minh");
        assert_eq!(hcm.name, "Thành phố Hồ Chí Minh");

        let binh_duong = legacy_province_by_cccd_prefix("074").expect("074 is Bình Dương");
        assert_eq!(binh_duong.name, "Tỉnh Bình Dương");
        assert_eq!(binh_duong.new_province_code, "79");

        let ba_dinh = ward_2025("00004").expect("ward 00004 exists");
        assert_eq!(ba_dinh.name, "Phường Ba Đình");
        assert_eq!(ba_dinh.ward_type, "phường");
        assert_eq!(ba_dinh.province_code, "01");

        let p01 = province_2025("01").expect("province 01 exists");
        assert_eq!(p01.name, "Thành phố Hà Nội");
        assert_eq!(p01.name_en, "Ha Noi");
        assert_eq!(
            province_2025("79").map(|p| p.name.as_str()),
            Some("Thành phố Hồ Chí Minh")
        );

        assert_eq!(ethnic_group("01").map(|g| g.name.as_str()), Some("Kinh"));
        assert_eq!(ethnic_group("54").map(|g| g.name.as_str()), Some("Rơ-măm"));
        assert_eq!(
            legacy_province("02").map(|p| p.cccd_prefix.as_str()),
            Some("002")
        );
    }

    #[test]
    fn unknown_codes_are_not_found() {
        for code in ["", "1", "001", "00", "99", "02", "x1"] {
            assert!(province_2025(code).is_none(), "province {code:?}");
        }
        for code in ["", "0004", "000004", "99999", "00001"] {
            assert!(ward_2025(code).is_none(), "ward {code:?}");
        }
        for prefix in ["", "000", "003", "01", "0001", "099", "100"] {
            assert!(
                legacy_province_by_cccd_prefix(prefix).is_none(),
                "prefix {prefix:?}"
            );
        }
        assert!(ethnic_group("55").is_none());
        assert!(ward_conversions_from("99999").is_empty());
        assert!(wards_2025_of_province("99").is_empty());
    }

    #[test]
    fn tables_are_sorted_and_codes_unique() {
        fn strictly_sorted<'a>(codes: impl Iterator<Item = &'a str>) -> bool {
            let codes: Vec<&str> = codes.collect();
            codes.windows(2).all(|w| w[0] < w[1])
        }
        assert!(strictly_sorted(
            provinces_2025().iter().map(|p| p.code.as_str())
        ));
        assert!(strictly_sorted(
            legacy_provinces().iter().map(|p| p.code.as_str())
        ));
        assert!(strictly_sorted(
            legacy_provinces().iter().map(|p| p.cccd_prefix.as_str())
        ));
        assert!(strictly_sorted(
            ethnic_groups().iter().map(|g| g.code.as_str())
        ));
        assert!(
            wards_2025()
                .windows(2)
                .all(|w| (&w[0].province_code, &w[0].code) < (&w[1].province_code, &w[1].code))
        );
        let ward_codes: HashSet<&str> = wards_2025().iter().map(|w| w.code.as_str()).collect();
        assert_eq!(ward_codes.len(), wards_2025().len());
    }

    #[test]
    fn codes_have_their_documented_widths() {
        let all_digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        assert!(provinces_2025().iter().all(|p| all_digits(&p.code, 2)));
        assert!(wards_2025().iter().all(|w| all_digits(&w.code, 5)));
        for p in legacy_provinces() {
            assert!(all_digits(&p.code, 2), "{p:?}");
            assert_eq!(p.cccd_prefix, format!("0{}", p.code), "{p:?}");
        }
        assert!(ethnic_groups().iter().all(|g| all_digits(&g.code, 2)));
        for c in ward_conversions() {
            assert!(all_digits(&c.old_district_code, 3), "{c:?}");
            assert!(all_digits(&c.old_ward_code, 5), "{c:?}");
        }
    }

    #[test]
    fn every_ward_belongs_to_a_known_province() {
        for ward in wards_2025() {
            assert!(province_2025(&ward.province_code).is_some(), "{ward:?}");
        }
        let with_wards: usize = provinces_2025()
            .iter()
            .map(|p| wards_2025_of_province(&p.code).len())
            .sum();
        assert_eq!(with_wards, wards_2025().len());
        assert!(
            provinces_2025()
                .iter()
                .all(|p| !wards_2025_of_province(&p.code).is_empty())
        );
    }

    #[test]
    fn every_legacy_province_maps_to_a_known_province() {
        for legacy in legacy_provinces() {
            assert!(
                province_2025(&legacy.new_province_code).is_some(),
                "{legacy:?}"
            );
        }
        let targets: HashSet<&str> = legacy_provinces()
            .iter()
            .map(|p| p.new_province_code.as_str())
            .collect();
        assert_eq!(targets.len(), 34);
    }

    #[test]
    fn every_conversion_points_to_a_known_ward_of_its_province() {
        for c in ward_conversions() {
            let ward =
                ward_2025(&c.new_ward_code).unwrap_or_else(|| panic!("unknown new ward in {c:?}"));
            assert_eq!(ward.province_code, c.new_province_code, "{c:?}");
            let old = legacy_province(&c.old_province_code)
                .unwrap_or_else(|| panic!("unknown old province in {c:?}"));
            assert_eq!(old.name, c.old_province_name, "{c:?}");
        }
    }

    #[test]
    fn conversions_group_by_old_ward() {
        let old_wards: HashSet<&str> = ward_conversions()
            .iter()
            .map(|c| c.old_ward_code.as_str())
            .collect();
        assert_eq!(old_wards.len(), 10033);
        let split = old_wards
            .iter()
            .filter(|code| ward_conversions_from(code).len() > 1)
            .count();
        assert_eq!(split, 441);
        for code in &old_wards {
            let rows = ward_conversions_from(code);
            assert!(!rows.is_empty() && rows.len() <= 5, "{code}");
            assert!(rows.iter().all(|c| c.old_ward_code == *code), "{code}");
        }
        let truc_bach = ward_conversions_from("00004");
        assert_eq!(truc_bach.len(), 1);
        assert_eq!(truc_bach[0].old_ward_name, "Phường Trúc Bạch");
        assert_eq!(truc_bach[0].new_ward_code, "00004");
    }

    #[test]
    fn names_are_nonempty() {
        assert!(
            provinces_2025()
                .iter()
                .all(|p| !p.name.is_empty() && !p.name_en.is_empty())
        );
        assert!(wards_2025().iter().all(|w| !w.name.is_empty()));
        assert!(legacy_provinces().iter().all(|p| !p.name.is_empty()));
        assert!(
            ethnic_groups()
                .iter()
                .all(|g| !g.name.is_empty() && g.name_ascii.is_ascii())
        );
        assert!(
            ward_conversions()
                .iter()
                .all(|c| !c.old_ward_name.is_empty() && !c.old_district_name.is_empty())
        );
    }
}
