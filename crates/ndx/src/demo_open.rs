//! The demo's open data: a register of the administrative units in force since 1 July 2025
//! (the Ministry of Home Affairs' open master data, loaded from the official list ndx embeds),
//! and the packages the demo's owners publish from their datasets — population by province,
//! age band and sex (counts, small cells suppressed), an anonymised micro-data sample of the
//! population register (a tenth of the people, k-anonymous and l-diverse), the list of
//! administrative units, and businesses by province, industry section (VSIC 2018) and
//! status — each with its first release. The population
//! counts are scheduled: the node makes a new release each month the register changed.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use ndx_core::Core;
use ndx_demo::Record;
use ndx_types::dictionary::{
    DataElement, DatasetSchema, Importance, Openness, SchemaVersion, Sensitivity, ValueType,
};
use ndx_types::open::Package;
use ndx_types::quality::UpdateFrequency;
use serde_json::{Value, json};

/// The dataset of administrative units.
pub const ADMIN_UNITS: &str = "admin-units";

/// The element of a unit's official name.
pub fn name_element() -> DataElement {
    DataElement {
        id: "admin-unit-name".into(),
        name_vi: "Tên đơn vị hành chính".into(),
        name_en: "Administrative unit name".into(),
        definition: "The official name of an administrative unit, with its prefix".into(),
        value_type: ValueType::String,
        format: None,
        unit: None,
        code_list: None,
        min_length: Some(2),
        max_length: Some(100),
        minimum: None,
        maximum: None,
        examples: vec!["Phường Ba Đình".into()],
        multiline: false,
        not_before: None,
        not_in_future: false,
        identifying: false,
    }
}

/// The register of administrative units: open master data of the Ministry of Home Affairs.
pub fn schema(version: SchemaVersion) -> DatasetSchema {
    let field = crate::demo::field;
    DatasetSchema {
        dataset: ADMIN_UNITS.into(),
        version,
        title_vi: "Danh mục đơn vị hành chính cấp xã, cấp tỉnh (từ 01/7/2025)".into(),
        title_en: "Administrative units, ward and province level (from 1 July 2025)".into(),
        description: "The 3,321 wards, communes and special zones and the 34 provinces in force \
                      since 1 July 2025"
            .into(),
        owner: "BNV".into(),
        original: true,
        master: true,
        openness: Openness::Open,
        importance: Importance::Ordinary,
        key: vec!["ward_code".into()],
        fields: vec![
            field("ward_code", "ward-code", true, Sensitivity::Public),
            field("ward_name", "admin-unit-name", true, Sensitivity::Public),
            field("province_code", "province-code", true, Sensitivity::Public),
            field(
                "province_name",
                "admin-unit-name",
                true,
                Sensitivity::Public,
            ),
        ],
        rules: vec![ndx_types::dictionary::CrossRule::WardInProvince {
            ward: "ward_code".into(),
            province: "province_code".into(),
        }],
        update_frequency: Some(UpdateFrequency::Yearly),
    }
}

/// Every unit, as a record.
pub fn records() -> impl Iterator<Item = Record> {
    let provinces: BTreeMap<&str, &str> = ndx_types::reference::provinces_2025()
        .iter()
        .map(|p| (p.code.as_str(), p.name.as_str()))
        .collect();
    ndx_types::reference::wards_2025().iter().map(move |w| {
        let mut r = Record::new();
        r.insert("ward_code".into(), json!(w.code));
        r.insert("ward_name".into(), json!(w.name));
        r.insert("province_code".into(), json!(w.province_code));
        r.insert(
            "province_name".into(),
            json!(
                provinces
                    .get(w.province_code.as_str())
                    .copied()
                    .unwrap_or("")
            ),
        );
        r
    })
}

/// The smallest sample the micro-data package takes: a country so small that a tenth of it
/// is fewer people publishes everyone instead (a handful of rows cannot reach k = 5, l = 2).
const SMALLEST_SAMPLE: usize = 20;

/// The packages, each with its owner's key, for a register of `citizens` people.
fn packages(citizens: usize) -> Vec<(&'static str, Value)> {
    let sampled = citizens / 10 >= SMALLEST_SAMPLE;
    let (who_vi, who_en) = if sampled {
        ("Mẫu 10% người", "A 10% sample of the people")
    } else {
        ("Toàn bộ người", "All the people")
    };
    let mut micro_view = json!({"dataset": "population", "columns": [
        {"name": "born", "field": "date_of_birth"},
        {"name": "sex", "field": "sex"},
        {"name": "province", "field": "ward_code", "transform": "province"},
        {"name": "ethnic_group", "field": "ethnic_code"}]});
    if sampled {
        micro_view["sample"] = json!(0.1);
    }
    vec![
        (
            "population-provider",
            json!({
                "name": "dan-so-theo-tinh-do-tuoi-gioi-tinh",
                "title_vi": "Dân số theo tỉnh, nhóm tuổi và giới tính",
                "title_en": "Population by province, age group and sex",
                "description_vi": "Số người trong Cơ sở dữ liệu quốc gia về dân cư theo tỉnh, \
                                   nhóm tuổi 5 năm và giới tính; các ô dưới 5 người được ẩn.",
                "description_en": "People in the national population register by province, \
                                   5-year age group and sex; cells under 5 people are suppressed.",
                "licence": "cc-by-4.0",
                "keywords": ["dân số", "nhóm tuổi", "giới tính", "tỉnh"],
                "theme": "SOCI",
                "publisher": "BCA",
                "contact": {"name": "Trung tâm dữ liệu quốc gia về dân cư", "email": "dulieumo@bca.gov.vn"},
                "frequency": "monthly",
                "scheduled": true,
                "view": {"dataset": "population", "shape": "counts", "columns": [
                    {"name": "province", "field": "province_code"},
                    {"name": "age_group", "field": "date_of_birth", "transform": "age-band", "band": 5},
                    {"name": "sex", "field": "sex"}]},
            }),
        ),
        (
            "population-provider",
            json!({
                "name": "mau-du-lieu-dan-cu-an-danh",
                "title_vi": "Mẫu dữ liệu dân cư đã ẩn danh",
                "title_en": "Anonymised population micro-data sample",
                "description_vi": format!("{who_vi} trong Cơ sở dữ liệu quốc gia về dân cư, một \
                                   dòng cho mỗi người: ngày sinh, giới tính, tỉnh và dân tộc, được \
                                   tổng quát hóa đến k-ẩn danh (k = 5) và l-đa dạng (l = 2)."),
                "description_en": format!("{who_en} in the national population register, one row \
                                   per person: birth date, sex, province and ethnic group, \
                                   generalised to k-anonymity (k = 5) and l-diversity (l = 2)."),
                "licence": "cc-by-4.0",
                "keywords": ["dân số", "vi dữ liệu", "ẩn danh"],
                "theme": "SOCI",
                "publisher": "BCA",
                "contact": {"name": "Trung tâm dữ liệu quốc gia về dân cư", "email": "dulieumo@bca.gov.vn"},
                "frequency": "yearly",
                "view": micro_view,
                "privacy": {
                    "quasi_identifiers": [
                        {"column": "born", "ladder": "date"},
                        {"column": "sex", "ladder": "value"},
                        {"column": "province", "ladder": "value"}],
                    "sensitive": ["ethnic_group"],
                    "k": 5, "l": 2, "max_suppressed": 0.05},
            }),
        ),
        (
            "civil-service-provider",
            json!({
                "name": "don-vi-hanh-chinh-2025",
                "title_vi": "Danh mục đơn vị hành chính từ 01/7/2025",
                "title_en": "Administrative units from 1 July 2025",
                "description_vi": "3.321 đơn vị hành chính cấp xã và 34 đơn vị cấp tỉnh sau sắp xếp.",
                "description_en": "The 3,321 ward-level and 34 province-level units after the 2025 reorganisation.",
                "licence": "cc0-1.0",
                "keywords": ["đơn vị hành chính", "phường", "xã", "tỉnh"],
                "theme": "REGI",
                "publisher": "BNV",
                "contact": {"name": "Vụ Chính quyền địa phương", "email": "dulieumo@moha.gov.vn"},
                "temporal": {"start": "2025-07-01"},
                "frequency": "yearly",
                "view": {"dataset": ADMIN_UNITS, "columns": [
                    {"name": "ward_code", "field": "ward_code"},
                    {"name": "ward_name", "field": "ward_name"},
                    {"name": "province_code", "field": "province_code"},
                    {"name": "province_name", "field": "province_name"}]},
            }),
        ),
        (
            "business-provider",
            json!({
                "name": "doanh-nghiep-theo-tinh-nganh-kinh-te",
                "title_vi": "Số doanh nghiệp theo tỉnh, ngành kinh tế và tình trạng",
                "title_en": "Businesses by province, industry section and status",
                "description_vi": "Số doanh nghiệp, hợp tác xã và hộ kinh doanh đăng ký theo tỉnh, \
                                   ngành kinh tế cấp 1 (VSIC 2018) và tình trạng hoạt động; \
                                   các ô dưới 5 đơn vị được ẩn.",
                "description_en": "Registered enterprises, cooperatives and household businesses \
                                   by province, industry section (VSIC 2018) and status; cells \
                                   under 5 are suppressed.",
                "licence": "cc-by-4.0",
                "keywords": ["doanh nghiệp", "ngành kinh tế", "VSIC", "đăng ký kinh doanh"],
                "theme": "ECON",
                "publisher": "BTC",
                "contact": {"name": "Cục Quản lý đăng ký kinh doanh", "email": "dulieumo@mof.gov.vn"},
                "frequency": "weekly",
                "view": {"dataset": "businesses", "shape": "counts", "columns": [
                    {"name": "province", "field": "province_code"},
                    {"name": "industry_section", "field": "industry"},
                    {"name": "status", "field": "status"}]},
            }),
        ),
    ]
}

/// Defines the packages and makes their first releases, as their owners' systems.
pub fn publish(
    core: &Core,
    keys: &BTreeMap<String, String>,
    citizens: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut made = Vec::new();
    for (key, definition) in packages(citizens) {
        let caller = core.authenticate(&keys[key], now)?;
        let package: Package =
            serde_json::from_value(definition).context("a demo package definition")?;
        let name = package.name.clone();
        core.put_package(&caller, package, now)
            .with_context(|| format!("defining package {name}"))?;
        // A country too small for the privacy gate keeps the package defined and unreleased,
        // as a publisher's would be: the demo of a handful of citizens still starts.
        let release = match core.publish_release(&caller, &name, now) {
            Ok(r) => r,
            Err(e) if e.code == ndx_core::Code::AnonymisationUnreachable => {
                made.push(format!("{name} (not released: {e})"));
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("publishing package {name}")),
        };
        made.push(format!("{name} ({} rows)", release.rows));
    }
    eprintln!(
        "open data published in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        made.join(", ")
    );
    Ok(())
}
