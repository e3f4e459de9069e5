//! Reference tables the generator draws from: the official administrative units (embedded from
//! `ndx-types/data`), population weights, ethnic settlement, the age pyramid. Built once per
//! process and shared by every [`crate::Country`].

use std::collections::HashMap;
use std::sync::LazyLock;

use rand::distr::weighted::WeightedIndex;

const ADMIN_UNITS: &str = include_str!("../../ndx-types/data/admin_units_2025.csv");
const PROVINCES_LEGACY: &str = include_str!("../../ndx-types/data/provinces_legacy_63.csv");
const ETHNIC_GROUPS: &str = include_str!("../../ndx-types/data/ethnic_groups.csv");
const ETHNIC_GROUPS_2008: &str = include_str!("../../ndx-types/data/ethnic_groups_2008.csv");
const WARDS_OLD_TO_NEW: &str = include_str!("../../ndx-types/data/wards_old_to_new_2025.csv");

/// Population (thousands, GSO estimates 2023, rounded) and the enterprise tax-code prefix of
/// each pre-2025 province, by legacy GSO code.
const LEGACY_FACTS: &[(&str, f64, &str)] = &[
    ("01", 8587.0, "01"),
    ("02", 903.0, "51"),
    ("04", 547.0, "48"),
    ("06", 327.0, "47"),
    ("08", 803.0, "50"),
    ("10", 776.0, "53"),
    ("11", 640.0, "56"),
    ("12", 482.0, "62"),
    ("14", 1300.0, "55"),
    ("15", 846.0, "52"),
    ("17", 876.0, "54"),
    ("19", 1336.0, "46"),
    ("20", 802.0, "49"),
    ("22", 1381.0, "57"),
    ("24", 1922.0, "24"),
    ("25", 1516.0, "26"),
    ("26", 1210.0, "25"),
    ("27", 1517.0, "23"),
    ("30", 1953.0, "08"),
    ("31", 2097.0, "02"),
    ("33", 1290.0, "09"),
    ("34", 1882.0, "10"),
    ("35", 879.0, "07"),
    ("36", 1887.0, "06"),
    ("37", 1010.0, "27"),
    ("38", 3739.0, "28"),
    ("40", 3419.0, "29"),
    ("42", 1323.0, "30"),
    ("44", 913.0, "31"),
    ("45", 650.0, "32"),
    ("46", 1166.0, "33"),
    ("48", 1245.0, "04"),
    ("49", 1520.0, "40"),
    ("51", 1248.0, "43"),
    ("52", 1506.0, "41"),
    ("54", 877.0, "44"),
    ("56", 1253.0, "42"),
    ("58", 598.0, "45"),
    ("60", 1252.0, "34"),
    ("62", 586.0, "61"),
    ("64", 1590.0, "59"),
    ("66", 1918.0, "60"),
    ("67", 670.0, "64"),
    ("68", 1332.0, "58"),
    ("70", 1032.0, "38"),
    ("72", 1190.0, "39"),
    ("74", 2763.0, "37"),
    ("75", 3310.0, "36"),
    ("77", 1187.0, "35"),
    ("79", 9456.0, "03"),
    ("80", 1735.0, "11"),
    ("82", 1790.0, "12"),
    ("83", 1300.0, "13"),
    ("84", 1020.0, "21"),
    ("86", 1029.0, "15"),
    ("87", 1602.0, "14"),
    ("89", 1906.0, "16"),
    ("91", 1750.0, "17"),
    ("92", 1258.0, "18"),
    ("93", 730.0, "63"),
    ("94", 1200.0, "22"),
    ("95", 920.0, "19"),
    ("96", 1207.0, "20"),
];

/// Ethnic minorities: national population (thousands, 2019 census, rounded) and where they live
/// (2025 province code, relative weight). Kinh (`01`) fills the rest of each province.
type Settlement = (&'static str, f64, &'static [(&'static str, f64)]);
const MINORITIES: &[Settlement] = &[
    (
        "02",
        1846.0,
        &[
            ("08", 3.0),
            ("04", 2.0),
            ("20", 2.0),
            ("19", 2.0),
            ("15", 2.0),
            ("24", 1.0),
            ("22", 1.0),
            ("66", 1.0),
        ],
    ),
    (
        "03",
        1820.0,
        &[
            ("14", 5.0),
            ("11", 2.0),
            ("38", 2.0),
            ("40", 2.0),
            ("12", 1.0),
            ("15", 1.0),
            ("25", 1.0),
        ],
    ),
    (
        "04",
        750.0,
        &[
            ("79", 6.0),
            ("75", 1.0),
            ("92", 1.0),
            ("91", 1.0),
            ("01", 1.0),
            ("22", 1.0),
        ],
    ),
    (
        "05",
        1319.0,
        &[
            ("92", 4.0),
            ("86", 3.0),
            ("91", 3.0),
            ("96", 1.0),
            ("79", 1.0),
        ],
    ),
    (
        "06",
        1452.0,
        &[
            ("25", 6.0),
            ("38", 3.0),
            ("37", 1.0),
            ("68", 1.0),
            ("66", 1.0),
        ],
    ),
    (
        "07",
        1083.0,
        &[
            ("20", 4.0),
            ("04", 2.0),
            ("08", 2.0),
            ("24", 1.0),
            ("19", 1.0),
            ("66", 1.0),
            ("68", 1.0),
        ],
    ),
    (
        "08",
        1394.0,
        &[
            ("08", 4.0),
            ("14", 2.0),
            ("11", 2.0),
            ("12", 1.0),
            ("15", 2.0),
            ("40", 1.0),
            ("19", 1.0),
        ],
    ),
    (
        "09",
        891.0,
        &[
            ("08", 3.0),
            ("15", 3.0),
            ("22", 1.0),
            ("04", 1.0),
            ("19", 1.0),
            ("25", 1.0),
            ("12", 1.0),
        ],
    ),
    ("10", 513.0, &[("52", 4.0), ("51", 1.0)]),
    ("11", 1.0, &[("22", 1.0), ("19", 1.0)]),
    ("12", 399.0, &[("66", 5.0), ("68", 1.0)]),
    ("13", 287.0, &[("52", 3.0), ("51", 2.0)]),
    ("14", 213.0, &[("51", 4.0), ("48", 1.0)]),
    ("15", 201.0, &[("08", 2.0), ("19", 2.0), ("24", 1.0)]),
    ("16", 200.0, &[("68", 1.0)]),
    (
        "17",
        179.0,
        &[("56", 3.0), ("68", 2.0), ("91", 1.0), ("79", 1.0)],
    ),
    (
        "18",
        183.0,
        &[("19", 2.0), ("25", 1.0), ("24", 1.0), ("22", 1.0)],
    ),
    ("19", 149.0, &[("51", 1.0)]),
    ("20", 127.0, &[("68", 2.0), ("66", 1.0)]),
    ("21", 146.0, &[("56", 3.0), ("68", 1.0)]),
    ("22", 100.0, &[("75", 1.0)]),
    ("23", 94.0, &[("44", 3.0), ("66", 1.0)]),
    ("24", 91.0, &[("40", 2.0), ("38", 1.0)]),
    ("25", 67.0, &[("15", 2.0), ("12", 1.0), ("08", 1.0)]),
    ("26", 74.0, &[("48", 3.0), ("46", 1.0)]),
    ("27", 63.0, &[("51", 2.0), ("48", 1.0)]),
    ("28", 50.0, &[("68", 3.0), ("75", 1.0)]),
    ("29", 91.0, &[("40", 2.0), ("14", 1.0), ("11", 1.0)]),
    ("30", 40.0, &[("51", 2.0), ("48", 1.0)]),
    ("31", 52.0, &[("46", 2.0), ("44", 1.0)]),
    ("32", 29.0, &[("75", 1.0)]),
    ("33", 16.0, &[("14", 1.0), ("12", 1.0)]),
    ("34", 29.0, &[("14", 2.0), ("11", 1.0)]),
    ("35", 25.0, &[("12", 2.0), ("11", 1.0), ("15", 1.0)]),
    ("36", 23.0, &[("68", 1.0)]),
    ("37", 17.0, &[("11", 1.0), ("12", 1.0), ("14", 1.0)]),
    ("38", 15.0, &[("08", 1.0)]),
    ("39", 10.0, &[("14", 1.0)]),
    ("40", 12.0, &[("15", 1.0), ("08", 1.0)]),
    ("41", 12.0, &[("12", 1.0)]),
    ("42", 6.0, &[("12", 1.0)]),
    ("43", 5.0, &[("08", 1.0), ("04", 1.0)]),
    ("44", 7.0, &[("44", 1.0), ("42", 1.0)]),
    ("45", 4.0, &[("12", 1.0)]),
    ("46", 8.0, &[("08", 1.0)]),
    ("47", 4.0, &[("08", 1.0)]),
    ("48", 3.0, &[("11", 1.0)]),
    ("49", 4.0, &[("15", 1.0), ("08", 1.0)]),
    ("50", 1.0, &[("12", 1.0), ("11", 1.0)]),
    ("51", 1.0, &[("08", 1.0)]),
    ("52", 1.0, &[("51", 1.0)]),
    ("53", 1.0, &[("40", 1.0)]),
    ("54", 1.0, &[("51", 1.0)]),
];

/// Share of the population (percent) in each five-year age band 0–4 … 85–89, then 90–95
/// (six ages), after the 2019 census pyramid aged to 2025.
const AGE_BANDS: &[f64] = &[
    7.3, 8.3, 8.1, 7.0, 6.6, 7.4, 8.4, 8.2, 7.6, 6.9, 6.1, 5.3, 4.6, 3.7, 2.5, 1.5, 1.0, 0.6, 0.3,
];

/// Oldest generated age (on the reference date 2026-01-01).
pub(crate) const MAX_AGE: i32 = 95;
/// Last full year before the reference date: everyone is born by 31 December of this year, so
/// a person's age on 2026-01-01 is `REF_YEAR - birth year`.
pub(crate) const REF_YEAR: i32 = 2025;

/// Broad region of a 2025 province, for address wording and family-name variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Region {
    /// Northern mountains: villages are `bản`/`thôn`.
    NorthMountain,
    /// Red River delta and the north-east: `thôn`/`xóm`, Hà Nội's `phố`/`ngõ`.
    North,
    /// Thanh Hóa to Quảng Trị.
    NorthCentral,
    /// Huế to Khánh Hòa: city lanes are `kiệt`.
    CentralCoast,
    /// Central Highlands: villages are `buôn`/`làng`/`thôn`.
    Highlands,
    /// South-east and the Mekong delta: lanes are `hẻm`, villages are `ấp`.
    South,
}

impl Region {
    fn of(province_code: &str) -> Region {
        match province_code {
            "04" | "08" | "11" | "12" | "14" | "15" | "20" => Region::NorthMountain,
            "38" | "40" | "42" | "44" => Region::NorthCentral,
            "46" | "48" | "51" | "56" => Region::CentralCoast,
            "52" | "66" | "68" => Region::Highlands,
            "75" | "79" | "80" | "82" | "86" | "91" | "92" | "96" => Region::South,
            _ => Region::North,
        }
    }
}

/// Kind of a 2025 commune-level unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WardKind {
    /// `phường` (urban ward).
    Phuong,
    /// `xã` (rural commune).
    Xa,
    /// `đặc khu` (special zone, islands).
    DacKhu,
}

/// A 2025 province.
pub(crate) struct Province {
    pub code: String,
    pub name: String,
    /// Name without the `Tỉnh `/`Thành phố ` prefix.
    pub short: String,
    pub region: Region,
    pub wards: Vec<usize>,
    pub ward_dist: WeightedIndex<f64>,
    /// Legacy provinces merged into this one.
    pub legacy: Vec<usize>,
    pub legacy_dist: WeightedIndex<f64>,
    /// Over [`Tables::ethnic`].
    pub ethnic_dist: WeightedIndex<f64>,
    /// Old (pre-2025) wards now inside this province, indices into [`Tables::old_wards`].
    pub old_wards: Vec<usize>,
}

/// A 2025 commune-level unit.
pub(crate) struct Ward {
    pub code: String,
    pub name: String,
    pub kind: WardKind,
    pub province: usize,
    /// Old wards that became (part of) this ward, indices into [`Tables::old_wards`].
    pub old: Vec<usize>,
}

/// A pre-2025 province.
pub(crate) struct Legacy {
    pub cccd_prefix: String,
    /// Index of the 2025 province it merged into.
    pub province: usize,
    pub tax_prefix: &'static str,
}

/// A pre-2025 ward with its district and province names.
pub(crate) struct OldWard {
    pub name: String,
    pub district: String,
    pub province: String,
}

/// One of the 54 ethnic groups.
pub(crate) struct Ethnic {
    /// Its code in the 1979 list, which the settlement weights are written in.
    pub code: String,
    /// Its code in the 2008 list (Decision 1019/QĐ-TCTK), which the population register
    /// uses, as QCVN 109:2017/BTTTT prescribes.
    pub code_2008: String,
}

/// Everything the generator draws from.
pub(crate) struct Tables {
    pub provinces: Vec<Province>,
    pub wards: Vec<Ward>,
    pub legacy: Vec<Legacy>,
    pub old_wards: Vec<OldWard>,
    pub ethnic: Vec<Ethnic>,
    /// Residence province, by population.
    pub province_dist: WeightedIndex<f64>,
    /// Seat of a business: population, with the two metropolises weighted up.
    pub business_province_dist: WeightedIndex<f64>,
    /// Birth province for people born outside their province of residence, by population.
    pub legacy_dist: WeightedIndex<f64>,
    /// Age in whole years on 2026-01-01, `0..=MAX_AGE`.
    pub age_dist: WeightedIndex<f64>,
}

/// The shared tables, parsed on first use.
pub(crate) static TABLES: LazyLock<Tables> = LazyLock::new(Tables::build);

/// A parsed embedded CSV: header names and rows.
struct Csv {
    headers: Vec<String>,
    rows: Vec<csv::StringRecord>,
}

impl Csv {
    fn parse(text: &str) -> Csv {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .expect("embedded reference CSV has a header row")
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|r| r.expect("embedded reference CSV is well-formed"))
            .collect();
        Csv { headers, rows }
    }

    fn col(&self, name: &str) -> usize {
        self.headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("embedded reference CSV lacks column `{name}`"))
    }
}

fn weighted(weights: impl IntoIterator<Item = f64>) -> WeightedIndex<f64> {
    WeightedIndex::new(weights).expect("weights are finite, non-negative and not all zero")
}

fn strip_unit_prefix(name: &str) -> String {
    for prefix in ["Thành phố ", "Tỉnh "] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
    name.to_owned()
}

impl Tables {
    fn build() -> Tables {
        // 2025 provinces and wards.
        let admin = Csv::parse(ADMIN_UNITS);
        let (c_pcode, c_pname, c_wcode, c_wname, c_wtype) = (
            admin.col("province_code"),
            admin.col("province_name"),
            admin.col("ward_code"),
            admin.col("ward_name"),
            admin.col("ward_type"),
        );
        let mut province_index: HashMap<String, usize> = HashMap::new();
        let mut ward_index: HashMap<String, usize> = HashMap::new();
        let mut provinces: Vec<(String, String, Vec<usize>)> = Vec::new();
        let mut wards = Vec::new();
        for row in &admin.rows {
            let pcode = &row[c_pcode];
            let p = *province_index.entry(pcode.to_owned()).or_insert_with(|| {
                provinces.push((pcode.to_owned(), row[c_pname].to_owned(), Vec::new()));
                provinces.len() - 1
            });
            let kind = match &row[c_wtype] {
                "phường" => WardKind::Phuong,
                "đặc khu" => WardKind::DacKhu,
                _ => WardKind::Xa,
            };
            ward_index.insert(row[c_wcode].to_owned(), wards.len());
            provinces[p].2.push(wards.len());
            wards.push(Ward {
                code: row[c_wcode].to_owned(),
                name: row[c_wname].to_owned(),
                kind,
                province: p,
                old: Vec::new(),
            });
        }

        // Legacy provinces.
        let facts: HashMap<&str, (f64, &'static str)> = LEGACY_FACTS
            .iter()
            .map(|&(code, pop, tax)| (code, (pop, tax)))
            .collect();
        let leg = Csv::parse(PROVINCES_LEGACY);
        let (c_lcode, c_prefix, c_new) = (
            leg.col("legacy_province_code"),
            leg.col("cccd_prefix"),
            leg.col("new_province_code"),
        );
        let mut legacy = Vec::new();
        let mut legacy_pop = Vec::new();
        let mut province_legacy: Vec<Vec<usize>> = vec![Vec::new(); provinces.len()];
        for row in &leg.rows {
            let province = province_index[&row[c_new]];
            let (pop, tax_prefix) = facts.get(&row[c_lcode]).copied().unwrap_or((1000.0, "99"));
            province_legacy[province].push(legacy.len());
            legacy_pop.push(pop);
            legacy.push(Legacy {
                cccd_prefix: row[c_prefix].to_owned(),
                province,
                tax_prefix,
            });
        }
        let province_pop: Vec<f64> = province_legacy
            .iter()
            .map(|ls| ls.iter().map(|&l| legacy_pop[l]).sum::<f64>().max(1.0))
            .collect();

        // Old wards.
        let old = Csv::parse(WARDS_OLD_TO_NEW);
        let (c_owcode, c_owname, c_odname, c_opname, c_nwcode) = (
            old.col("old_ward_code"),
            old.col("old_ward_name"),
            old.col("old_district_name"),
            old.col("old_province_name"),
            old.col("new_ward_code"),
        );
        let mut old_wards = Vec::new();
        let mut old_index: HashMap<String, usize> = HashMap::new();
        let mut province_old: Vec<Vec<usize>> = vec![Vec::new(); provinces.len()];
        for row in &old.rows {
            let o = *old_index
                .entry(row[c_owcode].to_owned())
                .or_insert_with(|| {
                    old_wards.push(OldWard {
                        name: row[c_owname].to_owned(),
                        district: row[c_odname].to_owned(),
                        province: row[c_opname].to_owned(),
                    });
                    old_wards.len() - 1
                });
            if let Some(&w) = ward_index.get(&row[c_nwcode]) {
                wards[w].old.push(o);
                let p = wards[w].province;
                if province_old[p].last() != Some(&o) {
                    province_old[p].push(o);
                }
            }
        }

        // Ethnic groups and their settlement.
        let eth = Csv::parse(ETHNIC_GROUPS);
        let c_ecode = eth.col("ethnic_code");
        // The 2008 list numbers the same groups differently; they are paired by name.
        let key = |ascii: &str| -> String {
            ascii
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .collect()
        };
        let eth_2008 = Csv::parse(ETHNIC_GROUPS_2008);
        let (c8_code, c8_ascii) = (
            eth_2008.col("ethnic_code"),
            eth_2008.col("ethnic_name_ascii"),
        );
        let code_2008: HashMap<String, &str> = eth_2008
            .rows
            .iter()
            .map(|row| (key(&row[c8_ascii]), &row[c8_code]))
            .collect();
        let c_eascii = eth.col("ethnic_name_ascii");
        let ethnic: Vec<Ethnic> = eth
            .rows
            .iter()
            .map(|row| Ethnic {
                code: row[c_ecode].to_owned(),
                code_2008: code_2008
                    .get(&key(&row[c_eascii]))
                    .map(|c| (*c).to_owned())
                    .unwrap_or_else(|| panic!("ethnic group {:?} has no 2008 code", &row[c_ecode])),
            })
            .collect();
        let ethnic_index: HashMap<&str, usize> = ethnic
            .iter()
            .enumerate()
            .map(|(i, e)| (e.code.as_str(), i))
            .collect();
        let mut ethnic_pop = vec![vec![0.0f64; ethnic.len()]; provinces.len()];
        for &(code, pop, homes) in MINORITIES {
            let (Some(&e), total) = (
                ethnic_index.get(code),
                homes.iter().map(|h| h.1).sum::<f64>(),
            ) else {
                continue;
            };
            for &(pcode, w) in homes {
                if let Some(&p) = province_index.get(pcode) {
                    ethnic_pop[p][e] += pop * w / total;
                }
            }
        }
        let kinh = ethnic_index.get("01").copied().unwrap_or(0);
        for (p, pops) in ethnic_pop.iter_mut().enumerate() {
            let minorities: f64 = pops.iter().sum();
            pops[kinh] = (province_pop[p] - minorities).max(0.03 * province_pop[p]);
        }

        let provinces: Vec<Province> = provinces
            .into_iter()
            .zip(province_legacy)
            .zip(province_old)
            .zip(ethnic_pop)
            .map(|((((code, name, ward_ids), legacy_ids), old_ids), pops)| {
                let ward_dist = weighted(ward_ids.iter().map(|&w| match wards[w].kind {
                    WardKind::Phuong => 2.5,
                    WardKind::Xa => 1.0,
                    WardKind::DacKhu => 0.3,
                }));
                let legacy_dist = weighted(legacy_ids.iter().map(|&l| legacy_pop[l]));
                Province {
                    short: strip_unit_prefix(&name),
                    region: Region::of(&code),
                    code,
                    name,
                    wards: ward_ids,
                    ward_dist,
                    legacy: legacy_ids,
                    legacy_dist,
                    ethnic_dist: weighted(pops),
                    old_wards: old_ids,
                }
            })
            .collect();

        let business_weights = provinces.iter().zip(&province_pop).map(|(p, &pop)| {
            pop * match p.code.as_str() {
                "79" => 2.0,
                "01" => 1.6,
                _ => 1.0,
            }
        });
        let business_province_dist = weighted(business_weights);
        let age_dist = weighted((0..=MAX_AGE).map(|age| {
            let band = (age / 5).min(AGE_BANDS.len() as i32 - 1) as usize;
            let width = if band == AGE_BANDS.len() - 1 {
                6.0
            } else {
                5.0
            };
            AGE_BANDS[band] / width
        }));
        Tables {
            province_dist: weighted(province_pop.iter().copied()),
            business_province_dist,
            legacy_dist: weighted(legacy_pop.iter().copied()),
            age_dist,
            provinces,
            wards,
            legacy,
            old_wards,
            ethnic,
        }
    }
}
