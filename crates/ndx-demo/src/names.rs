//! Vietnamese personal names: family names in census-like frequencies (with the northern
//! Hoàng/Vũ and southern Huỳnh/Võ variants), middle names by sex and generation, given names with
//! Zipf-skewed popularity, and the naming customs of the larger ethnic minorities. Also the
//! ASCII folding used for e-mail addresses and for the "diacritics stripped" error.

use std::sync::LazyLock;

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A list of strings with a sampling distribution.
pub(crate) struct Pick {
    items: Vec<&'static str>,
    dist: WeightedIndex<f64>,
}

impl Pick {
    /// Explicit weights.
    pub(crate) fn weighted(items: &[(&'static str, f64)]) -> Pick {
        Pick {
            items: items.iter().map(|i| i.0).collect(),
            dist: WeightedIndex::new(items.iter().map(|i| i.1)).expect("positive weights"),
        }
    }

    /// Zipf weights `1 / rank^s`, most popular first.
    pub(crate) fn zipf(items: &[&'static str], s: f64) -> Pick {
        Pick {
            items: items.to_vec(),
            dist: WeightedIndex::new((1..=items.len()).map(|r| (r as f64).powf(-s)))
                .expect("positive weights"),
        }
    }

    pub(crate) fn pick<R: Rng + ?Sized>(&self, rng: &mut R) -> &'static str {
        self.items[self.dist.sample(rng)]
    }
}

/// Family names, percent of the Kinh population; the `Hoàng`/`Huỳnh` and `Vũ`/`Võ` pairs are
/// given as (north, south) shares.
const FAMILY: &[(&str, f64, f64)] = &[
    ("Nguyễn", 38.4, 38.4),
    ("Trần", 11.0, 11.0),
    ("Lê", 9.5, 9.5),
    ("Phạm", 7.0, 7.0),
    ("Hoàng", 4.5, 1.0),
    ("Huỳnh", 0.6, 4.1),
    ("Phan", 4.5, 4.5),
    ("Vũ", 3.4, 0.6),
    ("Võ", 0.5, 3.3),
    ("Đặng", 2.1, 2.1),
    ("Bùi", 2.0, 2.0),
    ("Đỗ", 1.4, 1.4),
    ("Hồ", 1.3, 1.3),
    ("Ngô", 1.3, 1.3),
    ("Dương", 1.0, 1.0),
    ("Lý", 0.5, 0.5),
    ("Đinh", 0.7, 0.7),
    ("Đào", 0.5, 0.5),
    ("Trịnh", 0.6, 0.4),
    ("Đoàn", 0.6, 0.6),
    ("Trương", 0.5, 0.6),
    ("Lâm", 0.3, 0.5),
    ("Mai", 0.4, 0.4),
    ("Lương", 0.4, 0.3),
    ("Hà", 0.4, 0.3),
    ("Cao", 0.4, 0.4),
    ("Tạ", 0.2, 0.2),
    ("Chu", 0.2, 0.1),
    ("Tô", 0.2, 0.2),
    ("Lưu", 0.2, 0.2),
    ("Châu", 0.1, 0.3),
    ("Phùng", 0.2, 0.1),
    ("Quách", 0.1, 0.1),
    ("Kiều", 0.1, 0.1),
    ("Thái", 0.1, 0.1),
    ("Tăng", 0.05, 0.1),
    ("Lại", 0.1, 0.05),
    ("Vương", 0.1, 0.1),
    ("Nghiêm", 0.1, 0.05),
    ("Triệu", 0.1, 0.05),
    ("Tống", 0.1, 0.05),
    ("Giang", 0.1, 0.1),
    ("Thân", 0.1, 0.05),
    ("Khúc", 0.05, 0.02),
    ("Âu", 0.03, 0.05),
    ("Mạc", 0.05, 0.03),
    ("La", 0.03, 0.05),
    ("Hứa", 0.03, 0.05),
    ("Khổng", 0.03, 0.02),
];

const MIDDLE_MALE: &[&str] = &[
    "Đức", "Minh", "Hữu", "Quang", "Thanh", "Công", "Xuân", "Ngọc", "Tuấn", "Gia", "Hoàng", "Duy",
    "Anh", "Quốc", "Đình", "Trọng", "Bảo", "Nhật", "Thành", "Tiến", "Mạnh", "Việt", "Hải", "Đăng",
    "Khánh", "Trung", "Thế", "Huy", "Chí", "Phúc",
];
const MIDDLE_FEMALE: &[&str] = &[
    "Ngọc", "Thu", "Thanh", "Thùy", "Phương", "Minh", "Hồng", "Kim", "Bảo", "Khánh", "Hoài", "Mỹ",
    "Diệu", "Quỳnh", "Hải", "Bích", "Lan", "Tuyết", "Mai", "Thảo", "Hà", "Kiều", "Như", "Tường",
    "Vân", "Hoàng", "Cẩm", "Yến", "Gia", "Ánh",
];
const GIVEN_MALE: &[&str] = &[
    "Anh",
    "Minh",
    "Hùng",
    "Dũng",
    "Tuấn",
    "Nam",
    "Long",
    "Hải",
    "Huy",
    "Đức",
    "Thành",
    "Phúc",
    "Khang",
    "Bảo",
    "Quân",
    "Hoàng",
    "Sơn",
    "Tùng",
    "Trung",
    "Hiếu",
    "Thắng",
    "Cường",
    "Việt",
    "Tài",
    "Phong",
    "Vinh",
    "Khoa",
    "Hưng",
    "Tâm",
    "Toàn",
    "Kiên",
    "Đạt",
    "Lộc",
    "Thịnh",
    "Quang",
    "Vũ",
    "Hòa",
    "Bình",
    "Hậu",
    "Tiến",
    "Nghĩa",
    "Trí",
    "Duy",
    "Khánh",
    "Phát",
    "Nhân",
    "Thiện",
    "Tín",
    "Hiển",
    "Định",
    "Lợi",
    "Mạnh",
    "Hào",
    "Tú",
    "Thuận",
    "Thái",
    "Chiến",
    "Công",
    "Vương",
    "Sang",
    "Tân",
    "Trường",
    "Thông",
    "Lâm",
    "Luân",
    "Kha",
    "Đông",
    "Quý",
    "Hiệp",
    "Linh",
    "Bằng",
    "Nhật",
    "Lực",
    "Phương",
    "Châu",
];
const GIVEN_FEMALE: &[&str] = &[
    "Anh",
    "Linh",
    "Hương",
    "Trang",
    "Hà",
    "Lan",
    "Ngọc",
    "Thảo",
    "Huyền",
    "Phương",
    "Hằng",
    "Mai",
    "Nhung",
    "Thủy",
    "Hoa",
    "Nga",
    "Yến",
    "Vy",
    "Nhi",
    "Hạnh",
    "Dung",
    "Loan",
    "Oanh",
    "Thu",
    "Trinh",
    "Châu",
    "Giang",
    "Hiền",
    "Hồng",
    "Liên",
    "Ly",
    "My",
    "Nhàn",
    "Quyên",
    "Tâm",
    "Thư",
    "Tuyết",
    "Uyên",
    "Vân",
    "Xuân",
    "Diệp",
    "Duyên",
    "Hậu",
    "Kim",
    "Khánh",
    "Lệ",
    "Mến",
    "Nguyệt",
    "Quỳnh",
    "Sương",
    "Thoa",
    "Thùy",
    "Tiên",
    "Trâm",
    "Vi",
    "An",
    "Bích",
    "Chi",
    "Diễm",
    "Đào",
    "Gấm",
    "Hải",
    "Hòa",
    "Huệ",
    "Lam",
    "Liễu",
    "Minh",
    "Nương",
    "Phượng",
    "Thắm",
    "Thúy",
    "Tươi",
    "Vui",
    "Hảo",
];

const TAY: &[&str] = &[
    "Hoàng", "Nông", "Lương", "Ma", "Đàm", "Bế", "Hà", "Lục", "Nguyễn", "Lăng", "Triệu", "Hứa",
    "Mông",
];
const NUNG: &[&str] = &[
    "Hoàng", "Nông", "Lương", "Lăng", "Vi", "Chu", "Mã", "Lý", "Hứa", "Nguyễn", "Sầm",
];
const THAI: &[&str] = &[
    "Lò", "Lường", "Cầm", "Quàng", "Tòng", "Vi", "Lê", "Hà", "Điêu", "Bạc", "Lù", "Sầm",
];
const MUONG: &[&str] = &["Bùi", "Đinh", "Quách", "Hà", "Bạch", "Xa", "Nguyễn"];
const DAO: &[&str] = &["Triệu", "Bàn", "Đặng", "Lý", "Phùng", "Chảo", "Tẩn", "Lò"];
const HOA: &[&str] = &[
    "Lý", "Trương", "Lâm", "Quách", "Mã", "Lưu", "Hứa", "Tăng", "Diệp", "Châu", "Vương", "Huỳnh",
    "Trần", "Hồng", "Thái",
];
const SAN: &[&str] = &[
    "Trần", "Lý", "Hoàng", "Lưu", "Diệp", "Đặng", "La", "Triệu", "Dương", "Ninh",
];
const CENTRAL_HIGHLAND: &[&str] = &[
    "Đinh", "Phạm", "Hồ", "Nguyễn", "Alăng", "Zơ Râm", "Bh'riu", "Clâu", "Pơloong", "Hôih",
];
const MONG_FAMILY: &[&str] = &[
    "Giàng", "Sùng", "Vàng", "Lý", "Thào", "Lầu", "Hờ", "Mùa", "Vừ", "Cứ", "Hạng", "Chảo",
];
const MONG_MALE: &[&str] = &[
    "Páo", "Chứ", "Dế", "Sử", "Tủa", "Lử", "Chang", "Mua", "Pó", "Dình", "Seo", "Vư", "Sính", "Cở",
    "Nhè", "Chúa",
];
const MONG_FEMALE: &[&str] = &[
    "Mỷ", "Dua", "Sua", "Mai", "Chú", "Pà", "Dợ", "Say", "Ly", "Mé", "Súa", "Máy", "Chía", "Xí",
];
const KHMER_FAMILY: &[&str] = &[
    "Thạch", "Danh", "Sơn", "Kim", "Lâm", "Chau", "Lý", "Huỳnh", "Dương", "Trần",
];
const KHMER_MALE: &[&str] = &[
    "Sóc",
    "Phol",
    "Sa Rươne",
    "Kha",
    "Thuôl",
    "Chanh",
    "Sa Vết",
    "Rinh",
    "Sô Phát",
    "Sà Rươn",
    "Cường",
    "Dũng",
    "Minh",
];
const KHMER_FEMALE: &[&str] = &[
    "Sa Ra",
    "Sa Rết",
    "Sô Phi",
    "Chanh Tha",
    "Srây",
    "Thi Da",
    "Ka Ly",
    "Sóc Kha",
    "Mỹ",
    "Hoa",
];
const EDE_FAMILY: &[&str] = &[
    "Niê", "Mlô", "Êban", "Byă", "Ayŭn", "Adrơng", "Knul", "Ksơr", "Hwing", "Điểu", "Bon",
];
const JARAI_FAMILY: &[&str] = &[
    "Ksor",
    "Siu",
    "Rơ Châm",
    "Rơ Mah",
    "Nay",
    "Kpă",
    "Rah Lan",
    "Puih",
    "Kơ Să",
    "Ka",
];
const HIGHLAND_MALE: &[&str] = &[
    "Bhin", "Ngông", "Phin", "Jut", "Tlum", "Wang", "Bih", "Kô", "Blêh", "Hiêng", "Nhốt", "Ju",
    "Sang", "Djuin", "Phiêu", "Thuột",
];
const HIGHLAND_FEMALE: &[&str] = &[
    "Bia", "Hen", "Lan", "Nga", "Ruôn", "Yim", "Rê", "Duôn", "Nhi", "Ngơn", "Hơn", "Blin",
];

/// Sampling tables built once.
struct Names {
    family_north: Pick,
    family_south: Pick,
    middle_male: Pick,
    middle_female: Pick,
    given_male: Pick,
    given_female: Pick,
    tay: Pick,
    nung: Pick,
    thai: Pick,
    muong: Pick,
    dao: Pick,
    hoa: Pick,
    san: Pick,
    central_highland: Pick,
    mong_family: Pick,
    mong_male: Pick,
    mong_female: Pick,
    khmer_family: Pick,
    khmer_male: Pick,
    khmer_female: Pick,
    ede_family: Pick,
    jarai_family: Pick,
    highland_male: Pick,
    highland_female: Pick,
}

static NAMES: LazyLock<Names> = LazyLock::new(|| {
    let north: Vec<(&str, f64)> = FAMILY.iter().map(|f| (f.0, f.1)).collect();
    let south: Vec<(&str, f64)> = FAMILY.iter().map(|f| (f.0, f.2)).collect();
    Names {
        family_north: Pick::weighted(&north),
        family_south: Pick::weighted(&south),
        middle_male: Pick::zipf(MIDDLE_MALE, 0.9),
        middle_female: Pick::zipf(MIDDLE_FEMALE, 0.9),
        given_male: Pick::zipf(GIVEN_MALE, 0.6),
        given_female: Pick::zipf(GIVEN_FEMALE, 0.6),
        tay: Pick::zipf(TAY, 0.8),
        nung: Pick::zipf(NUNG, 0.8),
        thai: Pick::zipf(THAI, 0.8),
        muong: Pick::zipf(MUONG, 0.8),
        dao: Pick::zipf(DAO, 0.8),
        hoa: Pick::zipf(HOA, 0.8),
        san: Pick::zipf(SAN, 0.8),
        central_highland: Pick::zipf(CENTRAL_HIGHLAND, 0.8),
        mong_family: Pick::zipf(MONG_FAMILY, 0.8),
        mong_male: Pick::zipf(MONG_MALE, 0.8),
        mong_female: Pick::zipf(MONG_FEMALE, 0.8),
        khmer_family: Pick::zipf(KHMER_FAMILY, 0.8),
        khmer_male: Pick::zipf(KHMER_MALE, 0.8),
        khmer_female: Pick::zipf(KHMER_FEMALE, 0.8),
        ede_family: Pick::zipf(EDE_FAMILY, 0.8),
        jarai_family: Pick::zipf(JARAI_FAMILY, 0.8),
        highland_male: Pick::zipf(HIGHLAND_MALE, 0.8),
        highland_female: Pick::zipf(HIGHLAND_FEMALE, 0.8),
    }
});

/// A Vietnamese full name (NFC) for a person of the given ethnic group (two-digit code), sex,
/// birth year and origin (`south`: born from Đà Nẵng southwards, where Huỳnh and Võ prevail).
pub(crate) fn full_name<R: Rng + ?Sized>(
    rng: &mut R,
    ethnic_code: &str,
    female: bool,
    year: i32,
    south: bool,
) -> String {
    let n = &*NAMES;
    let family = match ethnic_code {
        // H'Mông: family, `A` (men) or `Thị` (women), given — "Giàng A Páo", "Vàng Thị Mỷ".
        "08" => {
            let (middle, given) = if female {
                ("Thị", n.mong_female.pick(rng))
            } else {
                ("A", n.mong_male.pick(rng))
            };
            return format!("{} {middle} {given}", n.mong_family.pick(rng));
        }
        // Khmer: "Thạch Sóc", "Danh Thị Sa Ra".
        "05" => {
            let family = n.khmer_family.pick(rng);
            return if female {
                if rng.random_bool(0.7) {
                    format!("{family} Thị {}", n.khmer_female.pick(rng))
                } else {
                    format!("{family} {}", n.khmer_female.pick(rng))
                }
            } else {
                format!("{family} {}", n.khmer_male.pick(rng))
            };
        }
        // Ê-đê, Mnông: `Y` (men) / `H'` (women) + given + family — "Y Bhin Niê", "H'Hen Niê".
        "12" | "20" => {
            let family = n.ede_family.pick(rng);
            return if female {
                format!("H'{} {family}", n.highland_female.pick(rng))
            } else {
                format!("Y {} {family}", n.highland_male.pick(rng))
            };
        }
        // Gia-rai, Ra-glai, Cơ-ho, Chu-ru, Mạ, Xtiêng: family + given — "Ksor H'Bia", "Siu Blêh".
        "10" | "21" | "16" | "36" | "28" | "22" => {
            let family = n.jarai_family.pick(rng);
            return if female {
                format!("{family} H'{}", n.highland_female.pick(rng))
            } else {
                format!("{family} {}", n.highland_male.pick(rng))
            };
        }
        "02" => n.tay.pick(rng),
        "07" => n.nung.pick(rng),
        "03" => n.thai.pick(rng),
        "06" => n.muong.pick(rng),
        "09" => n.dao.pick(rng),
        "04" => n.hoa.pick(rng),
        "15" | "18" => n.san.pick(rng),
        "13" | "14" | "19" | "26" | "27" | "30" | "31" => n.central_highland.pick(rng),
        _ if south => n.family_south.pick(rng),
        _ => n.family_north.pick(rng),
    };
    // `Văn` and `Thị` fade with each generation.
    let traditional = match year {
        ..1975 => 0.65,
        1975..1990 => 0.5,
        1990..2000 => 0.35,
        2000..2010 => 0.2,
        _ => 0.12,
    };
    let (middle, given) = if female {
        let middle = if rng.random_bool(traditional + 0.1) {
            "Thị"
        } else {
            n.middle_female.pick(rng)
        };
        (middle, n.given_female.pick(rng))
    } else {
        let middle = if rng.random_bool(traditional) {
            "Văn"
        } else {
            n.middle_male.pick(rng)
        };
        (middle, n.given_male.pick(rng))
    };
    if middle == given {
        return format!("{family} {given}");
    }
    format!("{family} {middle} {given}")
}

/// Removes Vietnamese diacritics: `Nguyễn Đức Anh` → `Nguyen Duc Anh`.
pub(crate) fn fold(s: &str) -> String {
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'Đ' => 'D',
            'đ' => 'd',
            c => c,
        })
        .collect()
}

/// Lower-case ASCII letters and digits only: `H'Hen Niê` → `hhennie`.
pub(crate) fn slug(s: &str) -> String {
    fold(s)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// One typing mistake in a name: a letter substituted (often by its bare form, `ư` → `u`),
/// two neighbouring letters transposed, or a letter dropped. The result is NFC and differs from
/// the input whenever the name has a word of two or more letters.
pub(crate) fn typo<R: Rng + ?Sized>(rng: &mut R, name: &str) -> String {
    const LETTERS: &[char] = &[
        'a', 'b', 'c', 'd', 'e', 'g', 'h', 'i', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't',
        'u', 'v', 'x', 'y',
    ];
    let chars: Vec<char> = name.chars().collect();
    // Positions inside a word that have a letter neighbour to the right.
    let inner: Vec<usize> = (0..chars.len().saturating_sub(1))
        .filter(|&p| chars[p].is_alphabetic() && chars[p + 1].is_alphabetic())
        .collect();
    if inner.is_empty() {
        return name.to_owned();
    }
    for _ in 0..16 {
        let mut out = chars.clone();
        // Mostly not the first letter of a word: people notice those.
        let p = inner[rng.random_range(0..inner.len())] + usize::from(rng.random_bool(0.8));
        match rng.random_range(0..4) {
            0 => {
                let bare = fold(&out[p].to_string());
                out[p] = bare.chars().next().unwrap_or(out[p]);
            }
            1 => {
                let c = LETTERS[rng.random_range(0..LETTERS.len())];
                out[p] = if out[p].is_uppercase() {
                    c.to_ascii_uppercase()
                } else {
                    c
                };
            }
            2 if p > 0 && out[p - 1].is_alphabetic() => out.swap(p - 1, p),
            _ => {
                out.remove(p);
            }
        }
        let s: String = out.into_iter().collect::<String>().nfc().collect();
        if s != name {
            return s;
        }
    }
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use unicode_normalization::is_nfc;

    #[test]
    fn fold_removes_every_diacritic() {
        assert_eq!(fold("Nguyễn Đức Anh"), "Nguyen Duc Anh");
        assert_eq!(fold("Trương Thị Hường"), "Truong Thi Huong");
        assert_eq!(slug("H'Hen Niê"), "hhennie");
    }

    #[test]
    fn typo_changes_the_name_and_stays_nfc() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let female = rng.random_bool(0.5);
            let name = full_name(&mut rng, "01", female, 1990, false);
            let t = typo(&mut rng, &name);
            assert_ne!(t, name);
            assert!(is_nfc(&t), "{t:?}");
            assert!(t.chars().count() + 1 >= name.chars().count());
        }
    }

    #[test]
    fn every_style_yields_nfc_names() {
        let mut rng = StdRng::seed_from_u64(1);
        for code in ["01", "02", "04", "05", "08", "10", "12", "13", "22", "44"] {
            for female in [false, true] {
                for _ in 0..50 {
                    let name = full_name(&mut rng, code, female, 1980, true);
                    assert!(is_nfc(&name), "{name:?}");
                    assert!(name.split(' ').all(|w| !w.is_empty()), "{name:?}");
                }
            }
        }
    }
}
