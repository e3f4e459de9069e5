//! Street addresses worded the way each region writes them, Vietnamese mobile and landline
//! numbers, and e-mail addresses.

use std::sync::LazyLock;

use rand::Rng;

use crate::names::{Pick, slug};
use crate::tables::{Region, WardKind};

/// Streets named after people, events and places, as found in most Vietnamese cities.
const STREETS: &[&str] = &[
    "Nguyễn Trãi",
    "Lê Lợi",
    "Trần Hưng Đạo",
    "Lý Thường Kiệt",
    "Hai Bà Trưng",
    "Quang Trung",
    "Nguyễn Huệ",
    "Lê Duẩn",
    "Điện Biên Phủ",
    "Hoàng Hoa Thám",
    "Phan Đình Phùng",
    "Nguyễn Du",
    "Bà Triệu",
    "Hùng Vương",
    "Lê Thánh Tông",
    "Trần Phú",
    "Nguyễn Văn Cừ",
    "Võ Thị Sáu",
    "Cách Mạng Tháng Tám",
    "Nguyễn Thị Minh Khai",
    "Lạc Long Quân",
    "Âu Cơ",
    "Tôn Đức Thắng",
    "Phạm Văn Đồng",
    "Võ Nguyên Giáp",
    "Nguyễn Chí Thanh",
    "Lê Hồng Phong",
    "Phan Chu Trinh",
    "Phan Bội Châu",
    "Ngô Quyền",
    "Lê Lai",
    "Nguyễn Thái Học",
    "Trường Chinh",
    "Lý Tự Trọng",
    "Nguyễn Đình Chiểu",
    "Hoàng Diệu",
    "Trần Quang Khải",
    "Nguyễn Khuyến",
    "Chu Văn An",
    "Lê Quý Đôn",
    "Tô Hiến Thành",
    "Yết Kiêu",
    "Đinh Tiên Hoàng",
    "Lý Thái Tổ",
    "Nguyễn Văn Linh",
    "Hoàng Văn Thụ",
    "Ngô Gia Tự",
    "Trần Nhân Tông",
    "Mạc Đĩnh Chi",
    "Nguyễn Công Trứ",
    "Bạch Đằng",
    "Thống Nhất",
    "Độc Lập",
    "Hòa Bình",
    "Giải Phóng",
    "30 Tháng 4",
    "3 Tháng 2",
    "Nam Kỳ Khởi Nghĩa",
    "Xô Viết Nghệ Tĩnh",
    "Lê Văn Sỹ",
    "Kim Mã",
    "Cầu Giấy",
    "Láng",
    "Xuân Thủy",
];

/// Village and hamlet names.
const VILLAGES: &[&str] = &[
    "Đông",
    "Tây",
    "Nam",
    "Bắc",
    "Thượng",
    "Hạ",
    "Trung",
    "An Lạc",
    "Phú Mỹ",
    "Tân Hòa",
    "Bình An",
    "Hòa Bình",
    "Tân Lập",
    "Đoàn Kết",
    "Quyết Thắng",
    "Thắng Lợi",
    "Tiền Phong",
    "Đồng Tâm",
    "Phú Lợi",
    "Vĩnh Hưng",
    "Long Thạnh",
    "Mỹ Hòa",
    "Thạnh Lợi",
    "Bình Thạnh",
    "Tân Lợi",
    "Phú Hòa",
    "Hưng Long",
    "Tân Phú",
    "Phước Hậu",
    "Bình Minh",
];
/// Villages of the northern uplands (`Bản …`).
const BAN: &[&str] = &[
    "Nà Phặc",
    "Huổi Một",
    "Pá Khoang",
    "Co Mạ",
    "Lả",
    "Mòng",
    "Sẳng",
    "Nà Sản",
    "Pác Ngòi",
    "Huổi Lếch",
    "Tả Van",
    "Lao Chải",
    "Nậm Cang",
    "Phiêng Luông",
    "Hua Pe",
    "Khun Há",
];
/// Villages of the Central Highlands (`Buôn …`, `Làng …`, `Plei …`).
const BUON: &[&str] = &[
    "Buôn Ko Tam",
    "Buôn Trấp",
    "Buôn Ea Kmar",
    "Buôn Đôn",
    "Buôn Kriêng",
    "Buôn Akô Dhông",
    "Làng Kon Klor",
    "Làng Đê Kjiêng",
    "Plei Ơp",
    "Plei Phung",
    "Làng Chuk",
    "Buôn Ma Đơng",
];

static STREET_PICK: LazyLock<Pick> = LazyLock::new(|| Pick::zipf(STREETS, 0.6));
static VILLAGE_PICK: LazyLock<Pick> = LazyLock::new(|| Pick::zipf(VILLAGES, 0.5));
static BAN_PICK: LazyLock<Pick> = LazyLock::new(|| Pick::zipf(BAN, 0.5));
static BUON_PICK: LazyLock<Pick> = LazyLock::new(|| Pick::zipf(BUON, 0.5));

/// A small number skewed towards the low end (house numbers, lanes): `1..=max`.
fn small<R: Rng + ?Sized>(rng: &mut R, max: u32) -> u32 {
    1 + rng.random_range(0..max).min(rng.random_range(0..max))
}

/// A street address inside a ward (without the ward and province names).
pub(crate) fn street_address<R: Rng + ?Sized>(
    rng: &mut R,
    region: Region,
    kind: WardKind,
    hanoi: bool,
) -> String {
    match kind {
        WardKind::Phuong => urban(rng, region, hanoi),
        WardKind::DacKhu => match rng.random_range(0..3) {
            0 => format!("Tổ dân phố {}", small(rng, 20)),
            1 => format!("Thôn {}", small(rng, 12)),
            _ => format!("Số {} đường {}", small(rng, 200), STREET_PICK.pick(rng)),
        },
        WardKind::Xa => {
            // Some rural addresses are on a provincial road through the commune.
            if rng.random_bool(0.12) {
                return format!("Số {} đường {}", small(rng, 400), STREET_PICK.pick(rng));
            }
            rural(rng, region)
        }
    }
}

fn urban<R: Rng + ?Sized>(rng: &mut R, region: Region, hanoi: bool) -> String {
    let n = small(rng, 300);
    let street = STREET_PICK.pick(rng);
    let u = rng.random_range(0..100u32);
    if hanoi {
        return match u {
            0..35 => format!("Số {n} phố {street}"),
            35..75 => format!("Số {n} ngõ {} phố {street}", small(rng, 200)),
            75..90 => format!(
                "Số {n} ngách {} ngõ {} phố {street}",
                small(rng, 60),
                small(rng, 200)
            ),
            _ => format!("Tổ dân phố {}", small(rng, 40)),
        };
    }
    match region {
        Region::South => match u {
            0..40 => format!("{n} đường {street}"),
            40..70 => format!("{n}/{} đường {street}", small(rng, 150)),
            70..80 => format!("{n}/{}/{} đường {street}", small(rng, 150), small(rng, 40)),
            80..92 => format!("Số {n} hẻm {} đường {street}", small(rng, 400)),
            _ => format!("Khu phố {}", small(rng, 12)),
        },
        Region::CentralCoast => match u {
            0..50 => format!("Số {n} đường {street}"),
            50..80 => format!("Kiệt {} đường {street}, số {n}", small(rng, 150)),
            _ => format!("Tổ {} khu vực {}", small(rng, 40), small(rng, 9)),
        },
        _ => match u {
            0..55 => format!("Số {n} đường {street}"),
            55..85 => format!("Số {n} ngõ {} đường {street}", small(rng, 150)),
            _ => format!("Tổ dân phố {}", small(rng, 30)),
        },
    }
}

fn rural<R: Rng + ?Sized>(rng: &mut R, region: Region) -> String {
    let numbered = rng.random_bool(0.5);
    let village = |rng: &mut R| {
        if numbered {
            small(rng, 15).to_string()
        } else {
            VILLAGE_PICK.pick(rng).to_owned()
        }
    };
    match region {
        Region::NorthMountain => match rng.random_range(0..3) {
            0 => format!("Bản {}", BAN_PICK.pick(rng)),
            1 => format!("Thôn {}", village(rng)),
            _ => format!("Tổ {}", small(rng, 20)),
        },
        Region::North | Region::NorthCentral => match rng.random_range(0..3) {
            0 => format!("Xóm {}", village(rng)),
            _ => format!("Thôn {}", village(rng)),
        },
        Region::CentralCoast => format!("Thôn {}", village(rng)),
        Region::Highlands => match rng.random_range(0..3) {
            0 => BUON_PICK.pick(rng).to_owned(),
            _ => format!("Thôn {}", village(rng)),
        },
        Region::South => match rng.random_range(0..4) {
            0 => format!("Tổ {}, ấp {}", small(rng, 20), VILLAGE_PICK.pick(rng)),
            _ => format!("Ấp {}", village(rng)),
        },
    }
}

/// Mobile network prefixes (after the leading 0) with rough market shares: Viettel, VinaPhone,
/// MobiFone, Vietnamobile, Gmobile, Itel, Reddi.
const MOBILE_PREFIXES: &[(&str, f64)] = &[
    ("32", 4.0),
    ("33", 4.0),
    ("34", 4.0),
    ("35", 4.0),
    ("36", 4.0),
    ("37", 4.0),
    ("38", 4.0),
    ("39", 4.0),
    ("86", 5.0),
    ("96", 6.0),
    ("97", 7.0),
    ("98", 7.0),
    ("81", 2.5),
    ("82", 2.5),
    ("83", 2.5),
    ("84", 2.5),
    ("85", 2.5),
    ("88", 3.0),
    ("91", 6.0),
    ("94", 5.0),
    ("70", 2.0),
    ("76", 2.0),
    ("77", 2.0),
    ("78", 2.0),
    ("79", 2.0),
    ("89", 2.5),
    ("90", 5.0),
    ("93", 4.0),
    ("52", 0.8),
    ("56", 0.8),
    ("58", 0.8),
    ("92", 1.0),
    ("59", 0.5),
    ("99", 0.5),
    ("87", 0.4),
    ("55", 0.2),
];
static MOBILE_PICK: LazyLock<Pick> = LazyLock::new(|| Pick::weighted(MOBILE_PREFIXES));

/// A 10-digit Vietnamese mobile number, `0` + network prefix + 7 digits.
pub(crate) fn mobile<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!(
        "0{}{:07}",
        MOBILE_PICK.pick(rng),
        rng.random_range(0..10_000_000u32)
    )
}

/// A landline number for the big cities (`024` Hà Nội, `028` Hồ Chí Minh, 8 subscriber digits),
/// a mobile elsewhere.
pub(crate) fn business_phone<R: Rng + ?Sized>(rng: &mut R, province_code: &str) -> String {
    let area = match province_code {
        "01" => "24",
        "79" => "28",
        _ => return mobile(rng),
    };
    if rng.random_bool(0.5) {
        return mobile(rng);
    }
    format!(
        "0{area}{}{:07}",
        rng.random_range(3..=7),
        rng.random_range(0..10_000_000u32)
    )
}

const PERSONAL_DOMAINS: &[(&str, f64)] = &[
    ("gmail.com", 72.0),
    ("yahoo.com", 9.0),
    ("outlook.com.vn", 4.0),
    ("outlook.com", 4.0),
    ("hotmail.com", 4.0),
    ("icloud.com", 4.0),
    ("yahoo.com.vn", 3.0),
];
static DOMAIN_PICK: LazyLock<Pick> = LazyLock::new(|| Pick::weighted(PERSONAL_DOMAINS));

/// A personal e-mail address built from the ASCII-folded name: `nguyenvanan1990@gmail.com`,
/// `an.nguyen87@yahoo.com`, `annv@outlook.com.vn`.
pub(crate) fn personal_email<R: Rng + ?Sized>(rng: &mut R, full_name: &str, year: i32) -> String {
    let words: Vec<String> = full_name
        .split(' ')
        .map(slug)
        .filter(|w| !w.is_empty())
        .collect();
    let (family, given) = match words.as_slice() {
        [] => ("user".to_owned(), "vn".to_owned()),
        [only] => (only.clone(), String::new()),
        [first, .., last] => (first.clone(), last.clone()),
    };
    let initials: String = words[..words.len().saturating_sub(1)]
        .iter()
        .filter_map(|w| w.chars().next())
        .collect();
    let digits = match rng.random_range(0..4) {
        0 => format!("{year}"),
        1 => format!("{:02}", year % 100),
        2 => rng.random_range(1..1000).to_string(),
        _ => String::new(),
    };
    let local = match rng.random_range(0..4) {
        0 => format!("{}{digits}", words.concat()),
        1 => format!("{given}.{family}{digits}"),
        2 => format!("{given}{initials}{digits}"),
        _ => format!("{given}{family}{digits}"),
    };
    let local = local.trim_matches('.');
    format!("{local}@{}", DOMAIN_PICK.pick(rng))
}
