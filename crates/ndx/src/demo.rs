//! `ndx demo`: builds a synthetic but realistic country into the data directory (once; a
//! restart reuses it) and serves it. Everything goes through the same services a real
//! installation uses: the bootstrap operator key admits the members, the dictionary gets the
//! schemas, and providers load their registers through the ingest pipeline.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ndx_core::Core;
use ndx_core::ingest::{IngestOptions, InputFormat, Mode};
use ndx_core::registry::{NewKey, NewMember};
use ndx_demo::{Country, Record};
use ndx_types::codes::CodeListRef;
use ndx_types::dictionary::{
    CodeEntry, CodeList, CrossRule, DatasetSchema, FieldDef, Importance, Openness, SchemaVersion,
    Sensitivity,
};
use ndx_types::quality::UpdateFrequency;
use ndx_types::registry::{Jurisdiction, MemberLevel, Role};

use crate::config::Config;

/// Where the demo's API keys are written.
pub const KEYS_FILE: &str = "demo-keys.json";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Listen address [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Number of citizens in the population register.
    #[arg(long, default_value_t = 100_000)]
    pub citizens: usize,
    /// Seed of the synthetic country (same seed, same country).
    #[arg(long, default_value_t = 2030)]
    pub seed: u64,
    /// Build the country and exit without serving.
    #[arg(long)]
    pub no_serve: bool,
    /// Ho Chi Minh City's own welfare database, which the demo creates a table in and connects
    /// to the dataset social-welfare (PostgreSQL URL; `none` to skip the connector).
    #[arg(
        long,
        value_name = "URL",
        env = "NDX_DEMO_WELFARE_SOURCE",
        default_value = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
    )]
    pub welfare_source: String,
    /// The city's table (SCHEMA.TABLE), created afresh.
    #[arg(long, value_name = "TABLE", default_value = crate::demo_welfare::DEFAULT_TABLE)]
    pub welfare_table: String,
    /// Publish none of the demo's open-data packages.
    #[arg(long)]
    pub no_open_data: bool,
}

pub fn run(cfg: &Config, args: &DemoArgs) -> anyhow::Result<()> {
    let mut cfg = cfg.clone();
    // The national data centre is the Ministry of Public Security's: it publishes the
    // national catalogues, unless the configuration names another operator.
    cfg.operator.get_or_insert_with(|| "BCA".to_owned());
    let cfg = &cfg;
    let core = crate::open_core(cfg, ndx_store::OpenMode::Create)?;
    let keys_path = cfg.data_dir.join(KEYS_FILE);
    if core.has_member("BCA")? && core.has_dataset("population")? {
        eprintln!(
            "reusing the demo country in {} ({} citizens); keys in {}",
            cfg.data_dir.display(),
            core.dataset_summary("population")?.records,
            keys_path.display()
        );
    } else {
        if args.citizens == 0 {
            bail!("--citizens must be at least 1");
        }
        let mut keys = build(&core, args)?;
        // The first quality measurement reads every version written; the server then measures
        // each batch as it commits.
        let started = std::time::Instant::now();
        for schema in core.datasets()? {
            core.refresh_quality(&schema.dataset, chrono::Utc::now())?;
        }
        eprintln!(
            "quality measured on the six criteria in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // A citizen's token for their own data tracker: the first citizen by ID, taken from the
        // synthetic country itself (reading it back from the store would be an access to that
        // citizen's data, recorded on their tracker).
        let country = Country::new(args.seed, args.citizens);
        if let Some(first) = country
            .population()
            .filter_map(|r| r.get("citizen_id")?.as_str().map(str::to_owned))
            .min()
        {
            keys.insert("citizen".into(), core.audit().keys().citizen_token(&first));
            crate::demo_web::create(&core, &mut keys, Some(&first), chrono::Utc::now())?;
        } else {
            crate::demo_web::create(&core, &mut keys, None, chrono::Utc::now())?;
        }
        let json = serde_json::to_string_pretty(&keys)?;
        crate::serve::write_secret(&keys_path, &format!("{json}\n"))?;
        eprintln!("API keys written to {}", keys_path.display());
    }
    print_usage(cfg, &keys_path);
    if args.no_serve {
        core.audit().close();
        return Ok(());
    }
    crate::serve::serve(cfg, core)
}

/// The demo's sharing agreements, made as the parties would make them: each province's
/// public-service system looks up name, date of birth and current address in `population`
/// (approved as requested by the Ministry of Public Security's standing approval policy); the civil-service register looks up, searches
/// and extracts identity fields for cross-checking; Ho Chi Minh City's request for its ethnic-group field (bound to
/// each citizen's consent) is approved; its request on the civil-service register is pending;
/// Da Nang's agreement on the business register was revoked; the Lao partner's agreement is
/// approved on paper but refused by the sovereignty guard (population is core data).
fn agreements(
    core: &Core,
    keys: &BTreeMap<String, String>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    use ndx_core::exchange::AgreementDraft;
    use ndx_types::exchange::{LegalBasis, Operation, Quota, Transition};
    let caller = |k: &str| core.authenticate(&keys[k], now);
    let population = caller("population-provider")?;
    let draft = |dataset: &str, fields: &[&str], purpose: &str, reference: &str, text: &str| {
        AgreementDraft {
            dataset: dataset.into(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            operations: vec![Operation::Lookup],
            purpose: purpose.into(),
            legal_basis: LegalBasis {
                text: text.into(),
                reference: reference.into(),
            },
            valid_from: Some(now - chrono::Duration::days(1)),
            valid_until: Some(now + chrono::Duration::days(365)),
            quota: Quota {
                requests_per_day: Some(5_000_000),
                records_per_day: None,
            },
            mandatory: true,
        }
    };
    let address = [
        "full_name",
        "date_of_birth",
        "province_code",
        "ward_code",
        "street_address",
    ];
    let decree = "Decree 47/2024/ND-CP";
    // The Ministry's standing policy approves the provinces' requests as they are made.
    core.create_policy(
        &population,
        ndx_core::exchange::PolicyDraft {
            dataset: "population".into(),
            consumer_level: Some(MemberLevel::Province),
            consumer_country: Some("VN".into()),
            fields: address.iter().map(|f| (*f).to_owned()).collect(),
            // Provinces look citizens up, and follow the register's changes (a death or a
            // move reaches their systems without a request).
            operations: vec![Operation::Lookup, Operation::Subscribe],
            purposes: vec!["public-service-delivery".into()],
            max_days: Some(400),
        },
        now,
    )?;
    for p in ["01", "79", "48"] {
        let consumer = caller(&format!("consumer-{p}"))?;
        let a = core.request_agreement(
            &consumer,
            AgreementDraft {
                operations: vec![Operation::Lookup, Operation::Subscribe],
                ..draft(
                    "population",
                    &address,
                    "public-service-delivery",
                    decree,
                    "Provinces use population data to handle administrative procedures without asking citizens for papers",
                )
            },
            now,
        )?;
        anyhow::ensure!(
            a.value.status == ndx_types::exchange::AgreementStatus::Approved,
            "the population policy did not approve {}'s request",
            a.value.consumer
        );
    }
    let civil = caller("civil-service-consumer")?;
    let a = core.request_agreement(
        &civil,
        AgreementDraft {
            operations: vec![Operation::Lookup, Operation::Search, Operation::Extract],
            ..draft(
                "population",
                &["citizen_id", "full_name", "sex", "date_of_birth"],
                "cross-checking",
                decree,
                "The civil-service register is checked against the population register",
            )
        },
        now,
    )?;
    core.change_agreement(&population, &a.value.id, Transition::Approve, None, now)?;
    let hcmc = caller("consumer-79")?;
    let a = core.request_agreement(
        &hcmc,
        draft(
            "population",
            &["full_name", "ethnic_code"],
            "social-insurance",
            "Decree 13/2023/ND-CP, art. 11",
            "Ethnic-minority support in health insurance, with each citizen's consent",
        ),
        now,
    )?;
    core.change_agreement(&population, &a.value.id, Transition::Approve, None, now)?;
    core.request_agreement(
        &hcmc,
        draft(
            "civil-servants",
            &["staff_id", "full_name", "agency_code", "position"],
            "policy-planning",
            decree,
            "Staffing plans of the city's agencies",
        ),
        now,
    )?;
    let danang = caller("consumer-48")?;
    let a = core.request_agreement(
        &danang,
        draft(
            "businesses",
            &["tax_code", "name", "status"],
            "public-service-delivery",
            decree,
            "Business licensing in the city",
        ),
        now,
    )?;
    let business = caller("business-provider")?;
    core.change_agreement(&business, &a.value.id, Transition::Approve, None, now)?;
    core.change_agreement(
        &business,
        &a.value.id,
        Transition::Revoke,
        Some("superseded by the city's own register".into()),
        now,
    )?;
    let foreign = caller("foreign-consumer")?;
    let a = core.request_agreement(
        &foreign,
        AgreementDraft {
            mandatory: false,
            ..draft(
                "population",
                &["citizen_id", "full_name"],
                "law-enforcement",
                "Agreement on consular cooperation",
                "Identity checks of citizens abroad",
            )
        },
        now,
    )?;
    core.change_agreement(&population, &a.value.id, Transition::Approve, None, now)?;
    Ok(())
}

fn print_usage(cfg: &Config, keys_path: &std::path::Path) {
    let base = format!("http://{}", cfg.listen);
    let keys: BTreeMap<String, String> = std::fs::read_to_string(keys_path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let mut sign_ins = Vec::new();
    if let (Some(id), Some(secret)) = (
        keys.get(crate::demo_web::CITIZEN_ID_KEY),
        keys.get(crate::demo_web::CITIZEN_SECRET_KEY),
    ) {
        sign_ins.push(format!("  citizen          {id:<16} {secret}"));
    }
    for (login, _, roles, _) in crate::demo_web::ACCOUNTS {
        if let Some(password) = keys.get(&crate::demo_web::password_key(login)) {
            let roles: Vec<&str> = roles.iter().map(|r| r.name()).collect();
            sign_ins.push(format!("  {:<16} {login:<16} {password}", roles.join("+")));
        }
    }
    if !sign_ins.is_empty() {
        eprintln!(
            "\nSign in at {base}/sign-in (passwords are in {}):\n{}",
            keys_path.display(),
            sign_ins.join("\n")
        );
    }
    eprintln!(
        "\nOpen the web UI: {base}/  (open data, the data dictionary; English at \
         {base}/language/en)\n\
         \nTry it (keys: {keys}):\n\
         \x20 KEY=$(python3 -c 'import json;print(json.load(open(\"{keys}\"))[\"population-provider\"])')\n\
         \x20 curl -s {base}/health\n\
         \x20 curl -s -H \"Authorization: Bearer $KEY\" {base}/api/v1/datasets/population\n\
         \x20 curl -s -H \"Authorization: Bearer $KEY\" '{base}/api/v1/datasets/population/records?limit=3&province_code=01'\n\
         \x20 curl -s {base}/api/3/action/package_list          # open data, CKAN's Action API\n\
         \x20 curl -s {base}/catalog.ttl                         # the DCAT-AP catalogue\n\
         \x20 curl -s {base}/openapi.json\n",
        keys = keys_path.display()
    );
}

struct Member {
    code: &'static str,
    country: &'static str,
    vi: &'static str,
    en: &'static str,
    level: MemberLevel,
    province: Option<&'static str>,
    system: &'static str,
    system_name: &'static str,
}

const MEMBERS: &[Member] = &[
    Member {
        code: "BCA",
        country: "VN",
        vi: "Bộ Công an",
        en: "Ministry of Public Security",
        level: MemberLevel::Central,
        province: None,
        system: "BCA-POPULATION",
        system_name: "Cơ sở dữ liệu quốc gia về dân cư",
    },
    Member {
        code: "BNV",
        country: "VN",
        vi: "Bộ Nội vụ",
        en: "Ministry of Home Affairs",
        level: MemberLevel::Central,
        province: None,
        system: "BNV-CIVIL-SERVICE",
        system_name: "Cơ sở dữ liệu quốc gia về cán bộ, công chức, viên chức",
    },
    Member {
        code: "BTC",
        country: "VN",
        vi: "Bộ Tài chính",
        en: "Ministry of Finance",
        level: MemberLevel::Central,
        province: None,
        system: "BTC-BUSINESS",
        system_name: "Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp",
    },
    Member {
        code: "UBND-01",
        country: "VN",
        vi: "Ủy ban nhân dân Thành phố Hà Nội",
        en: "Ha Noi People's Committee",
        level: MemberLevel::Province,
        province: Some("01"),
        system: "UBND-01-PUBLIC-SERVICE",
        system_name: "Hệ thống thông tin giải quyết thủ tục hành chính Hà Nội",
    },
    Member {
        code: "UBND-79",
        country: "VN",
        vi: "Ủy ban nhân dân Thành phố Hồ Chí Minh",
        en: "Ho Chi Minh City People's Committee",
        level: MemberLevel::Province,
        province: Some("79"),
        system: "UBND-79-PUBLIC-SERVICE",
        system_name: "Hệ thống thông tin giải quyết thủ tục hành chính TP. Hồ Chí Minh",
    },
    Member {
        code: "UBND-48",
        country: "VN",
        vi: "Ủy ban nhân dân Thành phố Đà Nẵng",
        en: "Da Nang People's Committee",
        level: MemberLevel::Province,
        province: Some("48"),
        system: "UBND-48-PUBLIC-SERVICE",
        system_name: "Hệ thống thông tin giải quyết thủ tục hành chính Đà Nẵng",
    },
    Member {
        code: "LA-MPS",
        country: "LA",
        vi: "Bộ An ninh Cộng hòa Dân chủ Nhân dân Lào",
        en: "Ministry of Public Security of the Lao PDR",
        level: MemberLevel::Foreign,
        province: None,
        system: "LA-MPS-CONSULAR",
        system_name: "Lao consular identity checks",
    },
];

pub(crate) fn field(
    name: &str,
    element: &str,
    required: bool,
    sensitivity: Sensitivity,
) -> FieldDef {
    FieldDef {
        name: name.into(),
        element: element.into(),
        required,
        sensitivity,
        consent: false,
        code_list: None,
        description: String::new(),
    }
}

/// The three registers of the demo country.
pub fn schemas() -> Vec<DatasetSchema> {
    use Sensitivity::*;
    let v1 = SchemaVersion { major: 1, minor: 0 };
    vec![
        DatasetSchema {
            dataset: "population".into(),
            version: v1,
            title_vi: "Cơ sở dữ liệu quốc gia về dân cư".into(),
            title_en: "National population register".into(),
            description: "One record per citizen, keyed by the 12-digit personal identification number".into(),
            owner: "BCA".into(),
            original: true,
            master: true,
            openness: Openness::Restricted,
            importance: Importance::Core,
            key: vec!["citizen_id".into()],
            fields: vec![
                field("citizen_id", "citizen-id", true, Personal),
                field("full_name", "full-name", true, Personal),
                field("sex", "sex", true, Personal),
                field("date_of_birth", "date-of-birth", true, Personal),
                // QCVN 109:2017/BTTTT codes citizens' ethnicity in the 2008 list.
                FieldDef {
                    consent: true,
                    code_list: Some(CodeListRef::new("ethnic-group", 2)),
                    ..field("ethnic_code", "ethnic-group", false, SensitivePersonal)
                },
                field("province_code", "province-code", true, Internal),
                field("ward_code", "ward-code", true, Internal),
                field("street_address", "street-address", false, Personal),
                field("phone", "mobile-phone", false, Personal),
                field("email", "email", false, Personal),
            ],
            rules: vec![
                CrossRule::CitizenIdAgrees {
                    citizen_id: "citizen_id".into(),
                    birth_date: Some("date_of_birth".into()),
                    sex: Some("sex".into()),
                },
                CrossRule::WardInProvince { ward: "ward_code".into(), province: "province_code".into() },
            ],
            update_frequency: Some(UpdateFrequency::Daily),
        },
        DatasetSchema {
            dataset: "civil-servants".into(),
            version: v1,
            title_vi: "Cơ sở dữ liệu quốc gia về cán bộ, công chức, viên chức".into(),
            title_en: "National register of civil servants".into(),
            description: "Staff records as agencies reported them; to be cross-checked against the population register".into(),
            owner: "BNV".into(),
            original: true,
            master: false,
            openness: Openness::Shared,
            importance: Importance::Important,
            key: vec!["staff_id".into()],
            fields: vec![
                field("staff_id", "identifier", true, Internal),
                field("citizen_id", "citizen-id", false, Personal),
                field("full_name", "full-name", true, Personal),
                field("sex", "sex", true, Personal),
                field("date_of_birth", "date-of-birth", true, Personal),
                field("agency_code", "identifier", true, Internal),
                field("position", "short-text", true, Internal),
                field("province_code", "province-code", true, Internal),
                field("address", "address-text", false, Personal),
                field("hired_on", "date", false, Internal),
            ],
            // Measured by the quality model, never refusing a record: a civil servant is of
            // working age, was born before being hired, and is a citizen of the register.
            rules: vec![
                CrossRule::AgeBetween { birth_date: "date_of_birth".into(), min: 18, max: 65 },
                CrossRule::DateOrder { earlier: "date_of_birth".into(), later: "hired_on".into() },
                CrossRule::ReferenceExists { field: "citizen_id".into(), dataset: "population".into() },
            ],
            update_frequency: Some(UpdateFrequency::Monthly),
        },
        DatasetSchema {
            dataset: "businesses".into(),
            version: v1,
            title_vi: "Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp".into(),
            title_en: "National business register".into(),
            description: "Enterprises and household businesses keyed by tax code".into(),
            owner: "BTC".into(),
            original: true,
            master: true,
            openness: Openness::Shared,
            importance: Importance::Important,
            key: vec!["tax_code".into()],
            fields: vec![
                field("tax_code", "tax-code", true, Public),
                field("name", "organisation-name", true, Public),
                field("legal_form", "legal-form", true, Public),
                field("industry", "industry-section", true, Public),
                field("owner_citizen_id", "citizen-id", false, Personal),
                field("registered_on", "date", true, Public),
                field("province_code", "province-code", true, Public),
                field("ward_code", "ward-code", true, Public),
                field("address", "street-address", false, Public),
                field("phone", "phone-number", false, Internal),
                field("email", "email", false, Internal),
                field("status", "business-status", true, Public),
            ],
            rules: vec![CrossRule::WardInProvince { ward: "ward_code".into(), province: "province_code".into() }],
            update_frequency: Some(UpdateFrequency::Weekly),
        },
    ]
}

pub(crate) fn code_list(id: &str, vi: &str, en: &str, entries: &[(&str, &str, &str)]) -> CodeList {
    CodeList {
        id: id.into(),
        version: 1,
        name_vi: vi.into(),
        name_en: en.into(),
        source: "ndx demo".into(),
        entries: entries
            .iter()
            .map(|(c, vi, en)| CodeEntry {
                code: (*c).into(),
                label_vi: (*vi).into(),
                label_en: (*en).into(),
                parent: None,
            })
            .collect(),
    }
}

fn code_element(id: &str, vi: &str, en: &str, list: &str) -> ndx_types::dictionary::DataElement {
    ndx_types::dictionary::DataElement {
        id: id.into(),
        name_vi: vi.into(),
        name_en: en.into(),
        definition: en.into(),
        value_type: ndx_types::dictionary::ValueType::Code,
        format: None,
        unit: None,
        code_list: Some(list.into()),
        min_length: None,
        max_length: None,
        minimum: None,
        maximum: None,
        examples: vec![],
        multiline: false,
        not_before: None,
        not_in_future: false,
        identifying: false,
    }
}

/// Streams records as NDJSON without holding them all.
struct NdjsonReader<I> {
    records: I,
    buf: Vec<u8>,
    pos: usize,
}

impl<I: Iterator<Item = Record>> Read for NdjsonReader<I> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            let Some(r) = self.records.next() else {
                return Ok(0);
            };
            self.buf.clear();
            self.pos = 0;
            serde_json::to_writer(&mut self.buf, &r)?;
            self.buf.push(b'\n');
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

const BATCH: usize = 50_000;

fn load(
    core: &Core,
    secret: &str,
    dataset: &str,
    records: impl Iterator<Item = Record>,
    total: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let caller = core.authenticate(secret, chrono::Utc::now())?;
    let schema = core.schema(dataset, None)?;
    let cap = caller.dataset_write(&schema)?;
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("  {msg:<16} {wide_bar} {pos}/{len} {per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(dataset.to_owned());
    let start = Instant::now();
    let mut records = records.peekable();
    let mut n = 0;
    let (mut accepted, mut rejected) = (0u64, 0u64);
    while records.peek().is_some() {
        n += 1;
        let chunk = records.by_ref().take(BATCH);
        let mut opts = IngestOptions::new(InputFormat::Ndjson);
        opts.mode = Mode::PerRecord;
        opts.batch_id = Some(format!("demo-{dataset}-{seed}-{n:04}"));
        let reader = NdjsonReader {
            records: chunk,
            buf: Vec::new(),
            pos: 0,
        };
        let done = bar.position();
        let report = core.ingest(&cap, reader, &opts, chrono::Utc::now(), &mut |p| {
            bar.set_position(done + p.received);
        })?;
        accepted += report.accepted;
        rejected += report.rejected;
        for e in report.errors.iter().take(5) {
            tracing::warn!(dataset, record = e.record, code = %e.code, "{}", e.message);
        }
    }
    bar.finish_and_clear();
    eprintln!(
        "  {dataset:<16} {accepted} records loaded, {rejected} refused, {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Creates the city's welfare table and connects it, unless `--welfare-source none`; a
/// database that cannot be reached leaves the rest of the demo as it is, with a note.
fn welfare(core: &Core, args: &DemoArgs, country: &Country, provider_key: &str) {
    use crate::demo_welfare as w;
    if args.welfare_source == "none" {
        return;
    }
    let done = w::seed_source(
        &args.welfare_source,
        &args.welfare_table,
        country.population(),
    )
    .and_then(|n| {
        eprintln!(
            "  {:<16} {n} rows written to the city's own table {} ({})",
            "welfare source",
            args.welfare_table,
            ndx_store::redact(&args.welfare_source)
        );
        w::connect(
            core,
            provider_key,
            &args.welfare_source,
            &args.welfare_table,
        )
    });
    if let Err(e) = done {
        eprintln!(
            "  {:<16} skipped: {e:#} (start PostgreSQL, or pass --welfare-source URL / none)",
            w::DATASET
        );
    }
}

fn build(core: &Core, args: &DemoArgs) -> anyhow::Result<BTreeMap<String, String>> {
    let now = chrono::Utc::now();
    let operator_secret = core
        .bootstrap(crate::serve::operating_member(), "NDC-OPS", now)?
        .context(
            "this data directory already holds an installation that is not the demo: \
             use an empty --data-dir for the demo",
        )?;
    eprintln!(
        "building the demo country (seed {}, {} citizens)…",
        args.seed, args.citizens
    );
    let operator = core.authenticate(&operator_secret, now)?;
    let admin = operator.registry_admin()?;
    let steward = operator.dictionary_admin()?;
    let mut keys = BTreeMap::new();
    keys.insert("operator".to_owned(), operator_secret);
    for m in MEMBERS {
        core.create_member(
            &admin,
            NewMember {
                code: m.code.into(),
                name_vi: m.vi.into(),
                name_en: m.en.into(),
                level: m.level,
                jurisdiction: Jurisdiction {
                    country: m.country.into(),
                    province: m.province.map(Into::into),
                },
            },
            now,
        )?;
        core.create_system(&admin, m.code, m.system, m.system_name, now)?;
    }
    core.create_system(
        &admin,
        "UBND-79",
        crate::demo_welfare::SYSTEM,
        "Cơ sở dữ liệu đối tượng bảo trợ xã hội TP. Hồ Chí Minh",
        now,
    )?;
    let issue = |system: &str, roles: Vec<Role>, label: &str| -> anyhow::Result<String> {
        let (_, secret) = core.issue_key(
            &admin,
            NewKey {
                system: system.into(),
                roles,
                label: label.into(),
                expires_at: None,
            },
            now,
        )?;
        Ok(secret)
    };
    keys.insert(
        "population-provider".into(),
        issue(
            "BCA-POPULATION",
            vec![Role::Provider],
            "population register loader",
        )?,
    );
    keys.insert(
        "civil-service-provider".into(),
        issue(
            "BNV-CIVIL-SERVICE",
            vec![Role::Provider],
            "civil-service register loader",
        )?,
    );
    keys.insert(
        "business-provider".into(),
        issue(
            "BTC-BUSINESS",
            vec![Role::Provider],
            "business register loader",
        )?,
    );
    keys.insert(
        "welfare-provider".into(),
        issue(
            crate::demo_welfare::SYSTEM,
            vec![Role::Provider],
            "Ho Chi Minh City welfare database (its connector's owner)",
        )?,
    );
    keys.insert(
        "steward".into(),
        issue("NDC-OPS", vec![Role::Steward], "dictionary steward")?,
    );
    keys.insert(
        "auditor".into(),
        issue("NDC-OPS", vec![Role::Auditor], "auditor")?,
    );
    for p in ["01", "79", "48"] {
        keys.insert(
            format!("consumer-{p}"),
            issue(
                &format!("UBND-{p}-PUBLIC-SERVICE"),
                vec![Role::Consumer],
                "public-service consumer",
            )?,
        );
    }
    keys.insert(
        "civil-service-consumer".into(),
        issue(
            "BNV-CIVIL-SERVICE",
            vec![Role::Consumer],
            "civil-service register cross-checks",
        )?,
    );
    keys.insert(
        "foreign-consumer".into(),
        issue(
            "LA-MPS-CONSULAR",
            vec![Role::Consumer],
            "foreign partner (refused by the sovereignty guard)",
        )?,
    );

    core.put_code_list(
        &steward,
        code_list(
            "legal-form",
            "Loại hình doanh nghiệp",
            "Legal form of enterprise",
            &[
                (
                    "TNHH",
                    "Công ty trách nhiệm hữu hạn",
                    "Limited liability company",
                ),
                ("CP", "Công ty cổ phần", "Joint-stock company"),
                ("DNTN", "Doanh nghiệp tư nhân", "Private enterprise"),
                ("HKD", "Hộ kinh doanh", "Household business"),
                ("HTX", "Hợp tác xã", "Cooperative"),
            ],
        ),
        now,
    )?;
    core.put_code_list(
        &steward,
        code_list(
            "business-status",
            "Tình trạng hoạt động",
            "Business status",
            &[
                ("active", "Đang hoạt động", "Active"),
                ("suspended", "Tạm ngừng kinh doanh", "Suspended"),
                ("dissolved", "Đã giải thể", "Dissolved"),
            ],
        ),
        now,
    )?;
    let mut sections = code_list(
        "vsic-section",
        "Ngành kinh tế cấp 1 (VSIC 2018)",
        "Industry section (VSIC 2018)",
        ndx_demo::VSIC_SECTIONS,
    );
    sections.source = "Quyết định 27/2018/QĐ-TTg, Hệ thống ngành kinh tế Việt Nam".into();
    core.put_code_list(&steward, sections, now)?;
    core.create_element(
        &steward,
        code_element(
            "industry-section",
            "Ngành kinh tế (cấp 1)",
            "Industry section",
            "vsic-section",
        ),
        now,
    )?;
    core.create_element(
        &steward,
        code_element(
            "legal-form",
            "Loại hình doanh nghiệp",
            "Legal form",
            "legal-form",
        ),
        now,
    )?;
    core.create_element(
        &steward,
        code_element(
            "business-status",
            "Tình trạng hoạt động",
            "Business status",
            "business-status",
        ),
        now,
    )?;
    core.put_code_list(&steward, crate::demo_welfare::benefit_code_list(), now)?;
    core.create_element(
        &steward,
        code_element(
            "welfare-benefit",
            "Đối tượng bảo trợ xã hội",
            "Social-protection beneficiary category",
            "welfare-benefit",
        ),
        now,
    )?;
    core.create_element(&steward, crate::demo_open::name_element(), now)?;
    let v1 = SchemaVersion { major: 1, minor: 0 };
    for s in schemas()
        .into_iter()
        .chain([crate::demo_welfare::schema(), crate::demo_open::schema(v1)])
    {
        let cap = operator.dataset_define(&s.owner)?;
        core.put_schema(&cap, s, false, now)?;
    }

    agreements(core, &keys, now)?;

    let country = Country::new(args.seed, args.citizens);
    load(
        core,
        &keys["population-provider"],
        "population",
        country.population(),
        args.citizens,
        args.seed,
    )?;
    let staff = country.civil_servants();
    let n = staff.len();
    load(
        core,
        &keys["civil-service-provider"],
        "civil-servants",
        staff.into_iter().map(|c| c.record),
        n,
        args.seed,
    )?;
    let firms = country.businesses();
    let n = firms.len();
    load(
        core,
        &keys["business-provider"],
        "businesses",
        firms.into_iter(),
        n,
        args.seed,
    )?;
    load(
        core,
        &keys["civil-service-provider"],
        crate::demo_open::ADMIN_UNITS,
        crate::demo_open::records(),
        ndx_types::reference::wards_2025().len(),
        args.seed,
    )?;
    welfare(core, args, &country, &keys["welfare-provider"]);
    if !args.no_open_data {
        crate::demo_open::publish(core, &keys, args.citizens, chrono::Utc::now())?;
    }
    Ok(keys)
}
