//! The business register: enterprises, household businesses and cooperatives with valid
//! 10-digit tax codes, branches (`-001` …), owners from the population.

use std::collections::{HashMap, HashSet};

use chrono::{Days, Months, NaiveDate};
use rand::Rng;
use rand::distr::Distribution;
use rand::rngs::StdRng;

use crate::contact;
use crate::names::{Pick, slug};
use crate::person::{Person, iso, rng_for, stream};
use crate::tables::{REF_YEAR, TABLES};
use crate::{Country, Record, put, put_opt};

/// Weights of the first nine digits of a tax code; the tenth digit is
/// `10 − (Σ digit·weight mod 11)`, and a remainder of 0 leaves the nine digits without a code.
pub const TAX_CODE_WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];

/// The check digit for nine leading digits, or `None` if no valid code starts with them.
pub fn tax_code_check_digit(first9: &str) -> Option<u8> {
    let bytes = first9.as_bytes();
    if bytes.len() != 9 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(TAX_CODE_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    match sum % 11 {
        0 => None,
        r => Some((10 - r) as u8),
    }
}

const LEGAL_FORMS: &[(&str, f64)] = &[
    ("TNHH", 55.0),
    ("CP", 15.0),
    ("DNTN", 5.0),
    ("HKD", 22.0),
    ("HTX", 3.0),
];
/// The sections of the Vietnamese standard industrial classification (VSIC 2018, Decision
/// 27/2018/QĐ-TTg), level 1: the letter and the names in Vietnamese and English.
pub const VSIC_SECTIONS: &[(&str, &str, &str)] = &[
    (
        "A",
        "Nông nghiệp, lâm nghiệp và thủy sản",
        "Agriculture, forestry and fishing",
    ),
    ("B", "Khai khoáng", "Mining and quarrying"),
    ("C", "Công nghiệp chế biến, chế tạo", "Manufacturing"),
    (
        "D",
        "Sản xuất và phân phối điện, khí đốt, nước nóng, hơi nước và điều hòa không khí",
        "Electricity, gas, steam and air conditioning supply",
    ),
    (
        "E",
        "Cung cấp nước; hoạt động quản lý và xử lý rác thải, nước thải",
        "Water supply; sewerage, waste management and remediation activities",
    ),
    ("F", "Xây dựng", "Construction"),
    (
        "G",
        "Bán buôn và bán lẻ; sửa chữa ô tô, mô tô, xe máy và xe có động cơ khác",
        "Wholesale and retail trade; repair of motor vehicles and motorcycles",
    ),
    ("H", "Vận tải kho bãi", "Transportation and storage"),
    (
        "I",
        "Dịch vụ lưu trú và ăn uống",
        "Accommodation and food service activities",
    ),
    (
        "J",
        "Thông tin và truyền thông",
        "Information and communication",
    ),
    (
        "K",
        "Hoạt động tài chính, ngân hàng và bảo hiểm",
        "Financial and insurance activities",
    ),
    (
        "L",
        "Hoạt động kinh doanh bất động sản",
        "Real estate activities",
    ),
    (
        "M",
        "Hoạt động chuyên môn, khoa học và công nghệ",
        "Professional, scientific and technical activities",
    ),
    (
        "N",
        "Hoạt động hành chính và dịch vụ hỗ trợ",
        "Administrative and support service activities",
    ),
    (
        "O",
        "Hoạt động của Đảng Cộng sản, tổ chức chính trị - xã hội, quản lý Nhà nước, an ninh \
         quốc phòng; bảo đảm xã hội bắt buộc",
        "Public administration and defence; compulsory social security",
    ),
    ("P", "Giáo dục và đào tạo", "Education"),
    (
        "Q",
        "Y tế và hoạt động trợ giúp xã hội",
        "Human health and social work activities",
    ),
    (
        "R",
        "Nghệ thuật, vui chơi và giải trí",
        "Arts, entertainment and recreation",
    ),
    ("S", "Hoạt động dịch vụ khác", "Other service activities"),
    (
        "T",
        "Hoạt động làm thuê các công việc trong các hộ gia đình, sản xuất sản phẩm vật chất và \
         dịch vụ tự tiêu dùng của hộ gia đình",
        "Activities of households as employers; undifferentiated goods- and \
         services-producing activities of households for own use",
    ),
    (
        "U",
        "Hoạt động của các tổ chức và cơ quan quốc tế",
        "Activities of extraterritorial organisations and bodies",
    ),
];

/// The words of a company name that say its trade, each with its VSIC section.
const SECTORS: &[(&str, &str)] = &[
    ("Thương mại Dịch vụ", "G"),
    ("Thương mại", "G"),
    ("Xây dựng", "F"),
    ("Đầu tư", "L"),
    ("Sản xuất", "C"),
    ("Công nghệ", "J"),
    ("Vận tải", "H"),
    ("Đầu tư Xây dựng", "F"),
    ("Du lịch", "N"),
    ("Thực phẩm", "C"),
    ("Tư vấn", "M"),
    ("Bất động sản", "L"),
    ("Xuất nhập khẩu", "G"),
    ("Công nghệ Thông tin", "J"),
    ("Cơ khí", "C"),
    ("May mặc", "C"),
    ("Nông nghiệp", "A"),
    ("Giáo dục", "P"),
    ("Dược phẩm", "C"),
    ("Vật liệu Xây dựng", "G"),
    ("Logistics", "H"),
    ("Nội thất", "C"),
    ("Điện tử", "C"),
    ("Thủy sản", "A"),
    ("In ấn", "C"),
    ("Truyền thông", "J"),
    ("Môi trường", "E"),
    ("Năng lượng", "D"),
    ("Thương mại và Dịch vụ Kỹ thuật", "G"),
];
const SHOPS: &[(&str, &str)] = &[
    ("Cửa hàng Tạp hóa", "G"),
    ("Quán Cà phê", "I"),
    ("Quán Cơm", "I"),
    ("Cửa hàng Điện thoại", "G"),
    ("Tiệm Sửa xe", "G"),
    ("Nhà thuốc", "G"),
    ("Tiệm Tóc", "S"),
    ("Tiệm Vàng", "G"),
    ("Cửa hàng Vật liệu Xây dựng", "G"),
    ("Tiệm Bánh", "C"),
];
const COOPERATIVES: &[(&str, &str)] = &[
    ("Nông nghiệp", "A"),
    ("Dịch vụ Nông nghiệp", "A"),
    ("Thủy sản", "A"),
    ("Vận tải", "H"),
    ("Chăn nuôi", "A"),
    ("Rau an toàn", "A"),
];
/// The trades of a business whose name does not say it (a private enterprise, a household
/// business named after its owner), weighted as the register's counts roughly are.
const UNNAMED_TRADES: &[&str] = &[
    "G", "G", "G", "G", "G", "G", "C", "C", "F", "F", "I", "I", "H", "M", "S", "A", "J", "L", "N",
    "Q",
];
const BRAND_FIRST: &[&str] = &[
    "Minh",
    "Hoàng",
    "Thành",
    "Phú",
    "Hưng",
    "Đại",
    "Tân",
    "Kim",
    "Phúc",
    "Thiên",
    "Hải",
    "Nam",
    "Việt",
    "An",
    "Bảo",
    "Trường",
    "Sao",
    "Ánh",
    "Đông",
    "Vạn",
    "Quang",
    "Hòa",
    "Thịnh",
    "Long",
    "Gia",
    "Tiến",
    "Hồng",
    "Mai",
    "Sơn",
    "Toàn",
];
const BRAND_SECOND: &[&str] = &[
    "Phát", "Long", "Công", "Thịnh", "Việt", "Lộc", "Phúc", "Đạt", "Minh", "Hưng", "Tín", "Khang",
    "Anh", "Dương", "Sơn", "Mai", "Tiến", "Thành", "Lợi", "Hà", "Nguyên", "Vinh", "Quang", "An",
    "Bình", "Tâm", "Phong", "Hải", "Nam", "Châu",
];
const PLACES: &[&str] = &[
    "Sài Gòn",
    "Hà Thành",
    "Đất Việt",
    "Miền Nam",
    "Cửu Long",
    "Tây Nguyên",
    "Sông Hồng",
    "Thăng Long",
    "Phương Nam",
    "Trường Sơn",
    "Đông Á",
    "Á Châu",
    "Thái Bình Dương",
];

fn words(table: &[(&'static str, &'static str)]) -> Vec<&'static str> {
    table.iter().map(|(word, _)| *word).collect()
}

fn section_of(table: &[(&'static str, &'static str)], word: &str) -> &'static str {
    table
        .iter()
        .find(|(w, _)| *w == word)
        .map_or("G", |(_, section)| section)
}

/// The trade of a business whose name does not say it, fixed by its tax code.
fn unnamed_trade(tax_code: &str) -> &'static str {
    let h = tax_code
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    UNNAMED_TRADES[(h % UNNAMED_TRADES.len() as u64) as usize]
}

struct Lists {
    legal_forms: Pick,
    sectors: Pick,
    shops: Pick,
    cooperatives: Pick,
    first: Pick,
    second: Pick,
    places: Pick,
}

/// A parent that may still open branches.
struct Parent {
    record: usize,
    branches: u8,
}

impl Country {
    /// The business register: `max(2000, citizens / 50)` records (fields
    /// [`crate::BUSINESS_FIELDS`]). About 5 % are branches (`<parent>-001` …) of an earlier
    /// company. Deterministic for `(seed, citizens)`.
    pub fn businesses(&self) -> Vec<Record> {
        let t = &*TABLES;
        let n = (self.citizens / 50).max(2000);
        let lists = Lists {
            legal_forms: Pick::weighted(LEGAL_FORMS),
            sectors: Pick::zipf(&words(SECTORS), 0.7),
            shops: Pick::zipf(&words(SHOPS), 0.5),
            cooperatives: Pick::zipf(&words(COOPERATIVES), 0.5),
            first: Pick::zipf(BRAND_FIRST, 0.4),
            second: Pick::zipf(BRAND_SECOND, 0.4),
            places: Pick::zipf(PLACES, 0.4),
        };
        let mut rng = rng_for(self.seed(), stream::BUSINESS, self.citizens as u64, 0);
        let mut out: Vec<Record> = Vec::with_capacity(n);
        let mut codes: HashSet<String> = HashSet::with_capacity(n);
        let mut names: HashSet<String> = HashSet::with_capacity(n);
        let mut parents: Vec<Parent> = Vec::new();
        let mut owners: HashMap<usize, Person> = HashMap::new();
        // Small populations: list the adults (a large one has plenty; draw at random).
        let adults: Option<Vec<usize>> = (self.citizens <= 4 * n).then(|| {
            (0..self.citizens)
                .filter(|&i| self.generator.core(i).age() >= 18)
                .collect()
        });

        while out.len() < n {
            if !parents.is_empty() && rng.random_bool(0.05) {
                let k = rng.random_range(0..parents.len());
                parents[k].branches += 1;
                let (parent_ix, branch_no) = (parents[k].record, parents[k].branches);
                if branch_no >= 9 {
                    parents.swap_remove(k);
                }
                let branch = self.branch(&mut rng, &out[parent_ix], branch_no);
                out.push(branch);
                continue;
            }

            let province_ix = t.business_province_dist.sample(&mut rng);
            let province = &t.provinces[province_ix];
            let legacy = &t.legacy[province.legacy[province.legacy_dist.sample(&mut rng)]];
            let code = loop {
                let first9 = format!(
                    "{}{:07}",
                    legacy.tax_prefix,
                    rng.random_range(1..10_000_000u32)
                );
                if let Some(check) = tax_code_check_digit(&first9) {
                    let code = format!("{first9}{check}");
                    if codes.insert(code.clone()) {
                        break code;
                    }
                }
            };

            let owner_ix = self.pick_adult(&mut rng, adults.as_deref());
            let owner = owner_ix.map(|i| {
                owners
                    .entry(i)
                    .or_insert_with(|| self.generator.person(i))
                    .clone_core()
            });

            let form = lists.legal_forms.pick(&mut rng);
            let mut name = String::new();
            let mut industry = "";
            let mut brand = String::new();
            for attempt in 0..64 {
                brand = if rng.random_bool(0.12) {
                    lists.places.pick(&mut rng).to_owned()
                } else {
                    let a = lists.first.pick(&mut rng);
                    let mut b = lists.second.pick(&mut rng);
                    while b == a {
                        b = lists.second.pick(&mut rng);
                    }
                    format!("{a} {b}")
                };
                if attempt >= 48 {
                    brand = format!("{brand} {}", attempt - 46);
                }
                // The trade is read off the word the name was given, so that no draw is
                // added to the stream (the rest of the register stays as it was).
                let (prefix, trade, table) = match form {
                    "TNHH" if rng.random_bool(0.3) => (
                        "Công ty TNHH Một thành viên",
                        Some(lists.sectors.pick(&mut rng)),
                        SECTORS,
                    ),
                    "TNHH" => ("Công ty TNHH", Some(lists.sectors.pick(&mut rng)), SECTORS),
                    "CP" => (
                        "Công ty Cổ phần",
                        Some(lists.sectors.pick(&mut rng)),
                        SECTORS,
                    ),
                    "DNTN" => ("Doanh nghiệp tư nhân", None, SECTORS),
                    "HTX" => (
                        "Hợp tác xã",
                        Some(lists.cooperatives.pick(&mut rng)),
                        COOPERATIVES,
                    ),
                    _ => match &owner {
                        Some((full_name, _)) if rng.random_bool(0.5) => {
                            name = format!("Hộ kinh doanh {full_name}");
                            ("", None, SHOPS)
                        }
                        _ => ("Hộ kinh doanh", Some(lists.shops.pick(&mut rng)), SHOPS),
                    },
                };
                if !prefix.is_empty() {
                    name = match trade {
                        Some(trade) => format!("{prefix} {trade} {brand}"),
                        None => format!("{prefix} {brand}"),
                    };
                }
                industry = match trade {
                    Some(trade) => section_of(table, trade),
                    None => unnamed_trade(&code),
                };
                if names.insert(name.clone()) {
                    break;
                }
            }

            // Registered after the owner came of age, from 1995, more of them recently.
            let first_day = NaiveDate::from_ymd_opt(1995, 1, 1).unwrap_or_default();
            let last_day = NaiveDate::from_ymd_opt(REF_YEAR, 12, 31).unwrap_or_default();
            let from = owner
                .as_ref()
                .and_then(|(_, dob)| dob.checked_add_months(Months::new(12 * 18)))
                .map_or(first_day, |adult| adult.max(first_day));
            let span = (last_day - from).num_days().max(0) as u64;
            let offset = rng.random_range(0..=span).max(rng.random_range(0..=span));
            let registered = from.checked_add_days(Days::new(offset)).unwrap_or(last_day);

            let ward = &t.wards[province.wards[province.ward_dist.sample(&mut rng)]];
            let street = contact::street_address(
                &mut rng,
                province.region,
                ward.kind,
                province.code == "01",
            );
            let phone = rng
                .random_bool(0.75)
                .then(|| contact::business_phone(&mut rng, &province.code));
            let email = rng.random_bool(0.55).then(|| {
                let s = slug(&brand);
                match rng.random_range(0..4) {
                    0 => format!("info@{s}.vn"),
                    1 => format!("lienhe@{s}.com.vn"),
                    2 => format!("ketoan.{s}@gmail.com"),
                    _ => format!("{s}{}@gmail.com", rng.random_range(1..100)),
                }
            });
            let status = match rng.random_range(0..100) {
                0..85 => "active",
                85..92 => "suspended",
                _ => "dissolved",
            };

            let mut r = Record::with_capacity(12);
            put(&mut r, "tax_code", code);
            put(&mut r, "name", name);
            put(&mut r, "legal_form", form);
            put(&mut r, "industry", industry);
            put_opt(
                &mut r,
                "owner_citizen_id",
                owner_ix.map(|i| owners[&i].citizen_id.clone()),
            );
            put(&mut r, "registered_on", iso(registered));
            put(&mut r, "province_code", province.code.clone());
            put(&mut r, "ward_code", ward.code.clone());
            put(
                &mut r,
                "address",
                format!("{street}, {}, {}", ward.name, province.name),
            );
            put_opt(&mut r, "phone", phone);
            put_opt(&mut r, "email", email);
            put(&mut r, "status", status);
            if matches!(form, "TNHH" | "CP") {
                parents.push(Parent {
                    record: out.len(),
                    branches: 0,
                });
            }
            out.push(r);
        }
        out
    }

    /// Branch `no` (1–9) of `parent`, in a province of its own.
    fn branch(&self, rng: &mut StdRng, parent: &Record, no: u8) -> Record {
        let t = &*TABLES;
        let get = |k: &str| parent.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let province = &t.provinces[t.business_province_dist.sample(rng)];
        let ward = &t.wards[province.wards[province.ward_dist.sample(rng)]];
        let street =
            contact::street_address(rng, province.region, ward.kind, province.code == "01");
        let last_day = NaiveDate::from_ymd_opt(REF_YEAR, 12, 31).unwrap_or_default();
        let from = NaiveDate::parse_from_str(get("registered_on"), "%Y-%m-%d").unwrap_or(last_day);
        let span = (last_day - from).num_days().max(0) as u64;
        let registered = from
            .checked_add_days(Days::new(rng.random_range(0..=span)))
            .unwrap_or(last_day);
        let status = match get("status") {
            "dissolved" => "dissolved",
            _ if rng.random_bool(0.1) => "suspended",
            _ => "active",
        };
        let mut r = Record::with_capacity(12);
        put(&mut r, "tax_code", format!("{}-{no:03}", get("tax_code")));
        put(
            &mut r,
            "name",
            format!("Chi nhánh {} tại {}", get("name"), province.short),
        );
        put(&mut r, "legal_form", get("legal_form"));
        put(&mut r, "industry", get("industry"));
        if let Some(owner) = parent.get("owner_citizen_id") {
            r.insert("owner_citizen_id".to_owned(), owner.clone());
        }
        put(&mut r, "registered_on", iso(registered));
        put(&mut r, "province_code", province.code.clone());
        put(&mut r, "ward_code", ward.code.clone());
        put(
            &mut r,
            "address",
            format!("{street}, {}, {}", ward.name, province.name),
        );
        put_opt(
            &mut r,
            "phone",
            rng.random_bool(0.6)
                .then(|| contact::business_phone(rng, &province.code)),
        );
        put(&mut r, "status", status);
        r
    }

    /// A random adult (18 or older) of the population, if there is one; `adults` lists them
    /// all when the population is small.
    fn pick_adult(&self, rng: &mut StdRng, adults: Option<&[usize]>) -> Option<usize> {
        match adults {
            Some([]) => None,
            Some(list) => Some(list[rng.random_range(0..list.len())]),
            None => (0..10_000)
                .map(|_| rng.random_range(0..self.citizens))
                .find(|&i| self.generator.core(i).age() >= 18),
        }
    }
}

impl Person {
    /// Name and birth date, the parts of the owner a business record needs.
    fn clone_core(&self) -> (String, NaiveDate) {
        (self.full_name.clone(), self.dob)
    }
}
