//! The web UI's two languages: every text of the interface is a field of [`Messages`], with
//! one constant per language, so that a text missing in either does not compile; numbers and
//! dates are written as each language writes them; the language is chosen by the `ndx_lang`
//! cookie, then `Accept-Language`, then Vietnamese.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// The cookie that keeps the chosen language.
pub const LANG_COOKIE: &str = "ndx_lang";

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Tiếng Việt (the default).
    Vi,
    /// English.
    En,
}

impl Lang {
    /// The BCP 47 tag (`vi`, `en`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The language of a tag (`vi`, `en`, `en-GB`…), if it is one of the two.
    pub fn of_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        match primary.as_str() {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language (the switch offers it).
    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    /// The texts in this language.
    pub fn messages(self) -> &'static Messages {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }

    /// One of two texts: the Vietnamese or the English (of a record that has both).
    pub fn pick<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::En if !en.is_empty() => en,
            _ => vi,
        }
    }

    /// An integer with the language's digit grouping: `1.234.567` or `1,234,567`.
    pub fn number(self, n: u64) -> String {
        let sep = match self {
            Lang::Vi => '.',
            Lang::En => ',',
        };
        let digits = n.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(d);
        }
        out
    }

    /// A share as a percentage with one decimal: `87,5 %` or `87.5%`.
    pub fn percent(self, share: f64) -> String {
        let p = format!("{:.1}", share * 100.0);
        match self {
            Lang::Vi => format!("{} %", p.replace('.', ",")),
            Lang::En => format!("{p}%"),
        }
    }

    /// A byte size: `1,5 MB` or `1.5 MB`.
    pub fn bytes(self, n: u64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"];
        let mut value = n as f64;
        let mut unit = 0;
        while value >= 1000.0 && unit < units.len() - 1 {
            value /= 1000.0;
            unit += 1;
        }
        let text = if unit == 0 {
            n.to_string()
        } else {
            format!("{value:.1}")
        };
        let text = match self {
            Lang::Vi => text.replace('.', ","),
            Lang::En => text,
        };
        format!("{text} {}", units[unit])
    }

    /// A day: `07/12/2026` or `7 Dec 2026`.
    pub fn date(self, day: NaiveDate) -> String {
        match self {
            Lang::Vi => day.format("%d/%m/%Y").to_string(),
            Lang::En => format!(
                "{} {} {}",
                day.day(),
                MONTHS_EN[day.month0() as usize],
                day.year()
            ),
        }
    }

    /// A moment, in UTC: `07/12/2026 14:05 UTC` or `7 Dec 2026 14:05 UTC`.
    pub fn time(self, t: DateTime<Utc>) -> String {
        format!("{} {} UTC", self.date(t.date_naive()), t.format("%H:%M"))
    }
}

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The language of a request: the `ndx_lang` cookie, then the first of `Accept-Language`'s
/// languages ndx speaks, then Vietnamese.
impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(of_headers(&parts.headers))
    }
}

/// The language the headers ask for.
pub fn of_headers(headers: &axum::http::HeaderMap) -> Lang {
    if let Some(lang) = super::session::cookie(headers, LANG_COOKIE).and_then(|v| Lang::of_tag(&v))
    {
        return lang;
    }
    let accept = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut ranked: Vec<(f32, Lang)> = accept
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let lang = Lang::of_tag(pieces.next()?.trim())?;
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some((q, lang))
        })
        .collect();
    // A stable sort keeps the order of equal weights, as the header gave them.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.first().map_or(Lang::Vi, |(_, lang)| *lang)
}

/// Every text of the interface, in one language.
#[derive(Debug)]
pub struct Messages {
    /// The product's name in the header.
    pub site_name: &'static str,
    /// What the platform is, under the name.
    pub site_tagline: &'static str,
    /// The skip link's text.
    pub skip_to_content: &'static str,
    /// The main navigation's label.
    pub nav_label: &'static str,
    /// Navigation: home.
    pub nav_home: &'static str,
    /// Navigation: open data.
    pub nav_open_data: &'static str,
    /// Navigation: the data dictionary.
    pub nav_dictionary: &'static str,
    /// Navigation: sign in.
    pub nav_sign_in: &'static str,
    /// Navigation: sign out.
    pub nav_sign_out: &'static str,
    /// The language switch, in the *other* language ("English" on a Vietnamese page).
    pub switch_to_other: &'static str,
    /// The footer's text.
    pub footer: &'static str,
    /// The link to the API's description.
    pub footer_api: &'static str,
    /// Home: the heading.
    pub home_title: &'static str,
    /// Home: the lead paragraph.
    pub home_lead: &'static str,
    /// Home: the figures' heading.
    pub home_figures: &'static str,
    /// Home: what each kind of user finds, heading.
    pub home_for_whom: &'static str,
    /// Home: the public's entry.
    pub home_public: &'static str,
    /// Home: the citizens' entry.
    pub home_citizen: &'static str,
    /// Home: the agencies' entry.
    pub home_agencies: &'static str,
    /// Figure: open-data packages.
    pub stat_packages: &'static str,
    /// Figure: datasets in the dictionary.
    pub stat_datasets: &'static str,
    /// Figure: member agencies.
    pub stat_members: &'static str,
    /// Figure: code lists.
    pub stat_code_lists: &'static str,
    /// The search field's label.
    pub search_label: &'static str,
    /// The search field's hint.
    pub search_hint: &'static str,
    /// The search button.
    pub search_button: &'static str,
    /// Open data: the heading.
    pub open_data_title: &'static str,
    /// Open data: the lead.
    pub open_data_lead: &'static str,
    /// Open data: "packages found" after the count.
    pub packages_found: &'static str,
    /// Open data: nothing found.
    pub no_results: &'static str,
    /// Open data: the facets' heading.
    pub refine: &'static str,
    /// Facet: publisher.
    pub facet_organization: &'static str,
    /// Facet: keyword.
    pub facet_tags: &'static str,
    /// Facet: theme.
    pub facet_groups: &'static str,
    /// Facet: file format.
    pub facet_res_format: &'static str,
    /// Facet: licence.
    pub facet_license_id: &'static str,
    /// Remove every filter.
    pub clear_filters: &'static str,
    /// A filter in force, before its value.
    pub filtered_by: &'static str,
    /// Paging: previous.
    pub previous_page: &'static str,
    /// Paging: next.
    pub next_page: &'static str,
    /// Paging: "page".
    pub page: &'static str,
    /// Package: publisher.
    pub publisher: &'static str,
    /// Package: licence.
    pub licence: &'static str,
    /// Package: theme.
    pub theme: &'static str,
    /// Package: update frequency.
    pub frequency: &'static str,
    /// Frequency: daily.
    pub freq_daily: &'static str,
    /// Frequency: weekly.
    pub freq_weekly: &'static str,
    /// Frequency: monthly.
    pub freq_monthly: &'static str,
    /// Frequency: quarterly.
    pub freq_quarterly: &'static str,
    /// Frequency: yearly.
    pub freq_yearly: &'static str,
    /// Package: temporal coverage.
    pub temporal: &'static str,
    /// Package: spatial coverage.
    pub spatial: &'static str,
    /// Package: the whole country.
    pub whole_country: &'static str,
    /// Package: contact point.
    pub contact: &'static str,
    /// Package: keywords.
    pub keywords: &'static str,
    /// Package: source dataset.
    pub source_dataset: &'static str,
    /// Package: last updated.
    pub updated: &'static str,
    /// Package: the metadata table's caption.
    pub metadata: &'static str,
    /// Package: downloads' heading.
    pub downloads: &'static str,
    /// Package: the download link's text.
    pub download: &'static str,
    /// Package: no release yet.
    pub no_release: &'static str,
    /// File: format.
    pub format: &'static str,
    /// File: size.
    pub size: &'static str,
    /// File: SHA-256.
    pub checksum: &'static str,
    /// Release: number.
    pub release: &'static str,
    /// Releases' heading.
    pub releases: &'static str,
    /// Release: rows.
    pub rows: &'static str,
    /// Release: published on.
    pub published: &'static str,
    /// Preview's heading.
    pub preview: &'static str,
    /// Preview's caption: the first rows of.
    pub preview_caption: &'static str,
    /// Privacy's heading.
    pub privacy: &'static str,
    /// Privacy: k reached.
    pub privacy_k: &'static str,
    /// Privacy: l reached.
    pub privacy_l: &'static str,
    /// Privacy: rows suppressed.
    pub privacy_suppressed: &'static str,
    /// Privacy: what was generalised.
    pub privacy_generalised: &'static str,
    /// Privacy: no personal data.
    pub privacy_none: &'static str,
    /// The API link of a package.
    pub api_access: &'static str,
    /// Dictionary: the heading.
    pub dictionary_title: &'static str,
    /// Dictionary: the lead.
    pub dictionary_lead: &'static str,
    /// Dictionary: data elements.
    pub elements: &'static str,
    /// Dictionary: code lists.
    pub code_lists: &'static str,
    /// Dictionary: dataset schemas.
    pub datasets: &'static str,
    /// Column: identifier.
    pub identifier: &'static str,
    /// Column: name.
    pub name: &'static str,
    /// Column: value type.
    pub value_type: &'static str,
    /// Column: code.
    pub code: &'static str,
    /// Column: label.
    pub label: &'static str,
    /// Column: parent code.
    pub parent: &'static str,
    /// Column: entries.
    pub entries: &'static str,
    /// Column: version.
    pub version: &'static str,
    /// Column: source of a list.
    pub source: &'static str,
    /// Column: owner.
    pub owner: &'static str,
    /// Column: openness.
    pub openness: &'static str,
    /// Column: field.
    pub field: &'static str,
    /// Column: element.
    pub element: &'static str,
    /// Column: required.
    pub required: &'static str,
    /// Column: sensitivity.
    pub sensitivity: &'static str,
    /// Column: key fields.
    pub key: &'static str,
    /// Column: records.
    pub records: &'static str,
    /// Dataset flags: original, master.
    pub original_master: &'static str,
    /// Yes.
    pub yes: &'static str,
    /// No.
    pub no: &'static str,
    /// Filter a code list.
    pub filter_entries: &'static str,
    /// Not found: heading.
    pub not_found_title: &'static str,
    /// Not found: text.
    pub not_found_text: &'static str,
    /// Navigation: the citizen's own data.
    pub nav_my_data: &'static str,
    /// Before the signed-in person's name.
    pub signed_in_as: &'static str,
    /// A form refused as cross-site or stale.
    pub csrf_refused: &'static str,
    /// Sign-in: a field left empty.
    pub sign_in_missing: &'static str,
    /// Sign-in: the pair did not match.
    pub sign_in_failed: &'static str,
    /// Sign-in: too many failures.
    pub sign_in_throttled: &'static str,
    /// Sign-in: the citizens' form.
    pub sign_in_citizen: &'static str,
    /// Sign-in: what citizens find.
    pub sign_in_citizen_lead: &'static str,
    /// Sign-in: the agencies' form.
    pub sign_in_account: &'static str,
    /// Sign-in: what staff find.
    pub sign_in_account_lead: &'static str,
    /// The citizen ID's label.
    pub citizen_id: &'static str,
    /// The password's label.
    pub password: &'static str,
    /// The login name's label.
    pub login: &'static str,
    /// My data: the heading.
    pub my_data: &'static str,
    /// My data: the lead.
    pub my_data_lead: &'static str,
    /// My data: the records' heading.
    pub data_held: &'static str,
    /// My data: no record.
    pub no_data_held: &'static str,
    /// Column: value.
    pub value: &'static str,
    /// My data: the accesses' heading.
    pub accesses: &'static str,
    /// My data: the accesses' lead.
    pub accesses_lead: &'static str,
    /// My data: no access yet.
    pub no_accesses: &'static str,
    /// Column: when.
    pub when: &'static str,
    /// Column: who.
    pub who: &'static str,
    /// Column: operation.
    pub what: &'static str,
    /// Column: fields.
    pub fields: &'static str,
    /// Column: purpose.
    pub purpose: &'static str,
    /// Column: legal basis.
    pub legal_basis: &'static str,
    /// Column: decision.
    pub decision: &'static str,
    /// An access that was allowed.
    pub allowed: &'static str,
    /// An access that was refused.
    pub refused: &'static str,
    /// The citizen themself, as the actor of an access.
    pub you: &'static str,
    /// An error: heading.
    pub error_title: &'static str,
    /// An error: text.
    pub error_text: &'static str,
}

/// Tiếng Việt.
pub static VI: Messages = Messages {
    site_name: "ndx",
    site_tagline: "Nền tảng tích hợp, chia sẻ dữ liệu quốc gia",
    skip_to_content: "Chuyển đến nội dung chính",
    nav_label: "Điều hướng chính",
    nav_home: "Trang chủ",
    nav_open_data: "Dữ liệu mở",
    nav_dictionary: "Từ điển dữ liệu",
    nav_sign_in: "Đăng nhập",
    nav_sign_out: "Đăng xuất",
    switch_to_other: "English",
    footer: "Dữ liệu do các cơ quan nhà nước cung cấp qua nền tảng ndx. Mọi truy cập dữ liệu cá nhân đều được ghi nhật ký và công dân có thể tra cứu.",
    footer_api: "Tài liệu API (OpenAPI)",
    home_title: "Dữ liệu của Nhà nước, phục vụ người dân",
    home_lead: "Tìm và tải dữ liệu mở, tra cứu từ điển dữ liệu dùng chung, và xem ai đã truy cập dữ liệu của bạn.",
    home_figures: "Số liệu của nền tảng",
    home_for_whom: "Bạn cần gì?",
    home_public: "Người dân, doanh nghiệp, nhà nghiên cứu: tìm và tải dữ liệu mở theo giấy phép mở.",
    home_citizen: "Công dân: đăng nhập để xem dữ liệu về mình và mọi lần dữ liệu đó được truy cập.",
    home_agencies: "Cơ quan nhà nước: quản lý dữ liệu, thỏa thuận chia sẻ và chất lượng dữ liệu.",
    stat_packages: "gói dữ liệu mở",
    stat_datasets: "cơ sở dữ liệu trong từ điển",
    stat_members: "cơ quan thành viên",
    stat_code_lists: "danh mục dùng chung",
    search_label: "Tìm dữ liệu mở",
    search_hint: "Có thể gõ không dấu, ví dụ: dan so ha noi",
    search_button: "Tìm kiếm",
    open_data_title: "Dữ liệu mở",
    open_data_lead: "Các gói dữ liệu mở do các cơ quan công bố; dữ liệu cá nhân đã được ẩn danh trước khi công bố.",
    packages_found: "gói dữ liệu",
    no_results: "Không tìm thấy gói dữ liệu nào. Hãy thử từ khóa khác hoặc bỏ bớt bộ lọc.",
    refine: "Lọc kết quả",
    facet_organization: "Cơ quan công bố",
    facet_tags: "Từ khóa",
    facet_groups: "Chủ đề",
    facet_res_format: "Định dạng",
    facet_license_id: "Giấy phép",
    clear_filters: "Bỏ tất cả bộ lọc",
    filtered_by: "Đang lọc theo",
    previous_page: "Trang trước",
    next_page: "Trang sau",
    page: "Trang",
    publisher: "Cơ quan công bố",
    licence: "Giấy phép",
    theme: "Chủ đề",
    frequency: "Tần suất cập nhật",
    freq_daily: "Hằng ngày",
    freq_weekly: "Hằng tuần",
    freq_monthly: "Hằng tháng",
    freq_quarterly: "Hằng quý",
    freq_yearly: "Hằng năm",
    temporal: "Thời gian",
    spatial: "Phạm vi",
    whole_country: "Toàn quốc",
    contact: "Liên hệ",
    keywords: "Từ khóa",
    source_dataset: "Cơ sở dữ liệu nguồn",
    updated: "Cập nhật",
    metadata: "Thông tin về gói dữ liệu",
    downloads: "Tải về",
    download: "Tải",
    no_release: "Gói dữ liệu này chưa có bản công bố nào.",
    format: "Định dạng",
    size: "Dung lượng",
    checksum: "Mã kiểm tra SHA-256",
    release: "Bản",
    releases: "Các bản công bố",
    rows: "Số dòng",
    published: "Ngày công bố",
    preview: "Xem trước",
    preview_caption: "Các dòng đầu của bản công bố",
    privacy: "Bảo vệ dữ liệu cá nhân",
    privacy_k: "k-ẩn danh đạt được",
    privacy_l: "l-đa dạng đạt được",
    privacy_suppressed: "Số dòng bị loại bỏ",
    privacy_generalised: "Đã tổng quát hóa",
    privacy_none: "Gói dữ liệu không chứa dữ liệu cá nhân.",
    api_access: "Truy cập qua API CKAN",
    dictionary_title: "Từ điển dữ liệu dùng chung",
    dictionary_lead: "Các phần tử dữ liệu, danh mục dùng chung và cấu trúc các cơ sở dữ liệu mà mọi cơ quan cùng sử dụng.",
    elements: "Phần tử dữ liệu",
    code_lists: "Danh mục dùng chung",
    datasets: "Cơ sở dữ liệu",
    identifier: "Mã định danh",
    name: "Tên",
    value_type: "Kiểu giá trị",
    code: "Mã",
    label: "Tên gọi",
    parent: "Mã cấp trên",
    entries: "Số mục",
    version: "Phiên bản",
    source: "Nguồn",
    owner: "Cơ quan chủ quản",
    openness: "Mức độ mở",
    field: "Trường",
    element: "Phần tử",
    required: "Bắt buộc",
    sensitivity: "Mức độ nhạy cảm",
    key: "Khóa",
    records: "Số bản ghi",
    original_master: "Dữ liệu gốc / dữ liệu chủ",
    yes: "Có",
    no: "Không",
    filter_entries: "Lọc danh mục",
    not_found_title: "Không tìm thấy trang",
    not_found_text: "Trang bạn tìm không tồn tại hoặc đã được chuyển đi.",
    nav_my_data: "Dữ liệu của tôi",
    signed_in_as: "Đã đăng nhập:",
    csrf_refused: "Biểu mẫu bị từ chối vì lý do an toàn. Hãy tải lại trang và gửi lại.",
    sign_in_missing: "Hãy nhập đủ tên đăng nhập (hoặc số định danh) và mật khẩu.",
    sign_in_failed: "Thông tin đăng nhập không đúng.",
    sign_in_throttled: "Đăng nhập sai quá nhiều lần; hãy thử lại sau.",
    sign_in_citizen: "Công dân",
    sign_in_citizen_lead: "Xem dữ liệu về bạn và mọi lần dữ liệu đó được truy cập.",
    sign_in_account: "Cán bộ cơ quan nhà nước",
    sign_in_account_lead: "Quản lý dữ liệu, thỏa thuận chia sẻ và chất lượng dữ liệu của cơ quan.",
    citizen_id: "Số định danh cá nhân",
    password: "Mật khẩu",
    login: "Tên đăng nhập",
    my_data: "Dữ liệu của tôi",
    my_data_lead: "Dữ liệu các cơ quan nhà nước đang lưu về bạn, và mọi lần dữ liệu đó được truy cập. Mỗi lần bạn xem trang này cũng được ghi nhật ký.",
    data_held: "Dữ liệu đang được lưu về bạn",
    no_data_held: "Không có cơ sở dữ liệu nào lưu bản ghi về bạn.",
    value: "Giá trị",
    accesses: "Ai đã truy cập dữ liệu của bạn",
    accesses_lead: "Từ nhật ký kiểm toán: mới nhất trước.",
    no_accesses: "Chưa có lần truy cập nào.",
    when: "Thời gian",
    who: "Cơ quan (hệ thống)",
    what: "Thao tác",
    fields: "Các trường",
    purpose: "Mục đích",
    legal_basis: "Căn cứ pháp lý",
    decision: "Kết quả",
    allowed: "Được phép",
    refused: "Bị từ chối",
    you: "Bạn",
    error_title: "Đã có lỗi",
    error_text: "Máy chủ không trả lời được yêu cầu này. Vui lòng thử lại sau; nếu lỗi vẫn còn, hãy báo mã yêu cầu dưới đây.",
};

/// English.
pub static EN: Messages = Messages {
    site_name: "ndx",
    site_tagline: "National data integration and sharing platform",
    skip_to_content: "Skip to main content",
    nav_label: "Main navigation",
    nav_home: "Home",
    nav_open_data: "Open data",
    nav_dictionary: "Data dictionary",
    nav_sign_in: "Sign in",
    nav_sign_out: "Sign out",
    switch_to_other: "Tiếng Việt",
    footer: "Data provided by state agencies through ndx. Every access to personal data is logged, and citizens can look it up.",
    footer_api: "API documentation (OpenAPI)",
    home_title: "The state's data, serving the people",
    home_lead: "Find and download open data, look up the shared data dictionary, and see who accessed your data.",
    home_figures: "The platform in figures",
    home_for_whom: "What do you need?",
    home_public: "Citizens, businesses, researchers: find and download open data under open licences.",
    home_citizen: "Citizens: sign in to see the data held about you and every access to it.",
    home_agencies: "State agencies: manage your data, sharing agreements and data quality.",
    stat_packages: "open-data packages",
    stat_datasets: "datasets in the dictionary",
    stat_members: "member agencies",
    stat_code_lists: "shared code lists",
    search_label: "Search open data",
    search_hint: "Diacritics are optional, e.g. dan so ha noi",
    search_button: "Search",
    open_data_title: "Open data",
    open_data_lead: "Open-data packages published by state agencies; personal data is anonymised before publication.",
    packages_found: "packages",
    no_results: "No package found. Try other words or fewer filters.",
    refine: "Refine results",
    facet_organization: "Publisher",
    facet_tags: "Keyword",
    facet_groups: "Theme",
    facet_res_format: "Format",
    facet_license_id: "Licence",
    clear_filters: "Clear all filters",
    filtered_by: "Filtered by",
    previous_page: "Previous page",
    next_page: "Next page",
    page: "Page",
    publisher: "Publisher",
    licence: "Licence",
    theme: "Theme",
    frequency: "Update frequency",
    freq_daily: "Daily",
    freq_weekly: "Weekly",
    freq_monthly: "Monthly",
    freq_quarterly: "Quarterly",
    freq_yearly: "Yearly",
    temporal: "Time period",
    spatial: "Coverage",
    whole_country: "Whole country",
    contact: "Contact",
    keywords: "Keywords",
    source_dataset: "Source dataset",
    updated: "Updated",
    metadata: "About this package",
    downloads: "Downloads",
    download: "Download",
    no_release: "This package has no release yet.",
    format: "Format",
    size: "Size",
    checksum: "SHA-256 checksum",
    release: "Release",
    releases: "Releases",
    rows: "Rows",
    published: "Published",
    preview: "Preview",
    preview_caption: "The first rows of release",
    privacy: "Personal data protection",
    privacy_k: "k-anonymity reached",
    privacy_l: "l-diversity reached",
    privacy_suppressed: "Rows suppressed",
    privacy_generalised: "Generalised",
    privacy_none: "This package holds no personal data.",
    api_access: "Access through the CKAN API",
    dictionary_title: "Shared data dictionary",
    dictionary_lead: "The data elements, shared code lists and dataset schemas every agency uses.",
    elements: "Data elements",
    code_lists: "Code lists",
    datasets: "Datasets",
    identifier: "Identifier",
    name: "Name",
    value_type: "Value type",
    code: "Code",
    label: "Label",
    parent: "Parent code",
    entries: "Entries",
    version: "Version",
    source: "Source",
    owner: "Owner",
    openness: "Openness",
    field: "Field",
    element: "Element",
    required: "Required",
    sensitivity: "Sensitivity",
    key: "Key",
    records: "Records",
    original_master: "Original / master data",
    yes: "Yes",
    no: "No",
    filter_entries: "Filter the list",
    not_found_title: "Page not found",
    not_found_text: "The page you asked for does not exist or has moved.",
    nav_my_data: "My data",
    signed_in_as: "Signed in as",
    csrf_refused: "The form was refused for your safety. Reload the page and send it again.",
    sign_in_missing: "Enter both the name (or citizen ID) and the password.",
    sign_in_failed: "The sign-in details do not match.",
    sign_in_throttled: "Too many failed sign-ins; try again later.",
    sign_in_citizen: "Citizens",
    sign_in_citizen_lead: "See the data held about you and every access to it.",
    sign_in_account: "Staff of state agencies",
    sign_in_account_lead: "Manage your agency's data, sharing agreements and data quality.",
    citizen_id: "Citizen ID",
    password: "Password",
    login: "Login name",
    my_data: "My data",
    my_data_lead: "The data state agencies hold about you, and every access to it. Each time you open this page is logged too.",
    data_held: "Data held about you",
    no_data_held: "No dataset holds a record about you.",
    value: "Value",
    accesses: "Who accessed your data",
    accesses_lead: "From the audit log: newest first.",
    no_accesses: "No access yet.",
    when: "When",
    who: "Agency (system)",
    what: "Operation",
    fields: "Fields",
    purpose: "Purpose",
    legal_basis: "Legal basis",
    decision: "Decision",
    allowed: "Allowed",
    refused: "Refused",
    you: "You",
    error_title: "Something went wrong",
    error_text: "The server could not answer this request. Please try again later; if it persists, quote the request id below.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_dates_are_written_as_each_language_writes_them() {
        assert_eq!(Lang::Vi.number(1_234_567), "1.234.567");
        assert_eq!(Lang::En.number(1_234_567), "1,234,567");
        assert_eq!(Lang::En.number(999), "999");
        assert_eq!(Lang::Vi.number(0), "0");
        assert_eq!(Lang::Vi.percent(0.875), "87,5 %");
        assert_eq!(Lang::En.percent(0.875), "87.5%");
        assert_eq!(Lang::Vi.bytes(1_534_000), "1,5 MB");
        assert_eq!(Lang::En.bytes(812), "812 B");
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).expect("day");
        assert_eq!(Lang::Vi.date(day), "07/12/2026");
        assert_eq!(Lang::En.date(day), "7 Dec 2026");
    }

    #[test]
    fn the_language_comes_from_the_cookie_then_accept_language_then_vietnamese() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut h = axum::http::HeaderMap::new();
            for (k, v) in pairs {
                h.append(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    v.parse().expect("value"),
                );
            }
            h
        };
        assert_eq!(of_headers(&headers(&[])), Lang::Vi);
        assert_eq!(
            of_headers(&headers(&[(
                "accept-language",
                "fr-FR, en-GB;q=0.8, vi;q=0.5"
            )])),
            Lang::En
        );
        assert_eq!(
            of_headers(&headers(&[("accept-language", "en;q=0.2, vi-VN")])),
            Lang::Vi
        );
        assert_eq!(
            of_headers(&headers(&[
                ("accept-language", "vi"),
                ("cookie", "a=b; ndx_lang=en")
            ])),
            Lang::En
        );
        assert_eq!(
            of_headers(&headers(&[("cookie", "ndx_lang=klingon")])),
            Lang::Vi
        );
    }
}
