//! The demo's connector: Ho Chi Minh City keeps its social-welfare recipients in a PostgreSQL
//! database of its own (Vietnamese column names, local sex codes, a trigger that stamps every
//! change). The demo creates that table on the machine's PostgreSQL (`--welfare-source`,
//! `none` to skip), fills it from the synthetic population with a few rows a clerk got wrong,
//! and connects it to the dataset `social-welfare`: one run at build time, then every 10 s in
//! `ndx serve`, so an `UPDATE` in the city's table reaches ndx within seconds.

use std::collections::BTreeMap;

use anyhow::Context;
use ndx_core::Core;
use ndx_demo::Record;
use ndx_types::connector::{ColumnMap, Connector, Schedule, SourceEngine, SourceSpec};
use ndx_types::dictionary::{
    CodeList, CrossRule, DatasetSchema, Importance, Openness, SchemaVersion, Sensitivity,
};

use crate::demo::{code_list, field};

/// The dataset the connector fills.
pub const DATASET: &str = "social-welfare";
/// The city's system (its database) recorded as the source of every batch.
pub const SYSTEM: &str = "UBND-79-WELFARE-DB";
/// The connector's id.
pub const CONNECTOR: &str = "hcmc-welfare";
/// The city's table, unless `--welfare-table` says otherwise.
pub const DEFAULT_TABLE: &str = "ndx_demo_welfare.recipients";

/// The benefit categories of social-protection beneficiaries (Decree 20/2021/NĐ-CP, art. 5).
pub fn benefit_code_list() -> CodeList {
    CodeList {
        source: "Nghị định 20/2021/NĐ-CP, Điều 5".into(),
        ..code_list(
            "welfare-benefit",
            "Đối tượng bảo trợ xã hội",
            "Social-protection beneficiary category",
            &[
                (
                    "TE",
                    "Trẻ em không có nguồn nuôi dưỡng",
                    "Child without a carer",
                ),
                ("NCT", "Người cao tuổi", "Elderly person"),
                ("KT", "Người khuyết tật", "Person with a disability"),
                (
                    "DT",
                    "Người đơn thân thuộc hộ nghèo nuôi con",
                    "Single parent in a poor household",
                ),
                (
                    "HIV",
                    "Người nhiễm HIV/AIDS thuộc hộ nghèo",
                    "Person with HIV/AIDS in a poor household",
                ),
            ],
        )
    }
}

/// The dataset's schema.
pub fn schema() -> DatasetSchema {
    use Sensitivity::*;
    DatasetSchema {
        dataset: DATASET.into(),
        version: SchemaVersion { major: 1, minor: 0 },
        title_vi: "Đối tượng bảo trợ xã hội Thành phố Hồ Chí Minh".into(),
        title_en: "Social-welfare recipients, Ho Chi Minh City".into(),
        description:
            "Kept in step with the city's own welfare database by the connector hcmc-welfare".into(),
        owner: "UBND-79".into(),
        original: true,
        master: false,
        openness: Openness::Restricted,
        importance: Importance::Ordinary,
        key: vec!["citizen_id".into()],
        fields: vec![
            field("citizen_id", "citizen-id", true, Personal),
            field("full_name", "full-name", true, Personal),
            field("sex", "sex", true, Personal),
            field("date_of_birth", "date-of-birth", true, Personal),
            field("benefit", "welfare-benefit", true, SensitivePersonal),
            field("monthly_amount", "amount-vnd", true, Personal),
            field("ward_code", "ward-code", false, Internal),
        ],
        rules: vec![CrossRule::CitizenIdAgrees {
            citizen_id: "citizen_id".into(),
            birth_date: Some("date_of_birth".into()),
            sex: Some("sex".into()),
        }],
        update_frequency: None,
    }
}

/// The connector's definition for a source URL and table.
pub fn connector(url: &str, table: &str) -> Connector {
    let map = |column: &str, field: &str| ColumnMap {
        column: column.into(),
        field: field.into(),
        values: BTreeMap::new(),
    };
    Connector {
        id: CONNECTOR.into(),
        dataset: DATASET.into(),
        owner: String::new(),
        system: SYSTEM.into(),
        source: SourceSpec {
            engine: SourceEngine::Postgres,
            url: url.into(),
            password_env: None,
            table: table.into(),
        },
        mapping: vec![
            map("so_cccd", "citizen_id"),
            map("ho_ten", "full_name"),
            ColumnMap {
                values: [("Nam", "1"), ("Nữ", "2")]
                    .iter()
                    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                    .collect(),
                ..map("gioi_tinh", "sex")
            },
            map("ngay_sinh", "date_of_birth"),
            map("loai_doi_tuong", "benefit"),
            map("muc_tro_cap", "monthly_amount"),
            map("ma_phuong_xa", "ward_code"),
        ],
        change_column: Some("ngay_cap_nhat".into()),
        batch_rows: 10_000,
        schedule: Some(Schedule {
            every_seconds: 10,
            snapshot_every_seconds: Some(300),
        }),
    }
}

/// The city's rows: every 10th citizen of Ho Chi Minh City, with a benefit and an amount, and
/// three rows a clerk got wrong (a citizen ID one digit short, a benefit code that does not
/// exist, a local sex code the value map does not know), which the connector's runs report as rejected.
fn rows(population: impl Iterator<Item = Record>) -> Vec<[Option<String>; 7]> {
    let text = |r: &Record, f: &str| r.get(f).and_then(|v| v.as_str()).map(str::to_owned);
    let benefits = ["NCT", "KT", "TE", "DT", "NCT", "KT", "HIV"];
    let mut out = Vec::new();
    for (i, r) in population
        .filter(|r| text(r, "province_code").as_deref() == Some("79"))
        .step_by(10)
        .take(2_000)
        .enumerate()
    {
        let mut sex = match text(&r, "sex").as_deref() {
            Some("1") => "Nam",
            Some("2") => "Nữ",
            _ => "",
        };
        let mut cid = text(&r, "citizen_id");
        let mut benefit = benefits[i % benefits.len()].to_owned();
        let amount = 360_000 + 60_000 * (i % 10) as i64;
        match i {
            3 => cid = cid.map(|c| c[..11].to_owned()),
            5 => benefit = "XYZ".into(),
            8 => sex = "Khác",
            _ => {}
        }
        out.push([
            cid,
            text(&r, "full_name"),
            Some(sex.to_owned()),
            text(&r, "date_of_birth"),
            Some(benefit),
            Some(amount.to_string()),
            text(&r, "ward_code"),
        ]);
    }
    out
}

/// Creates (afresh) the city's table on the PostgreSQL server at `url` and fills it.
pub fn seed_source(
    url: &str,
    table: &str,
    population: impl Iterator<Item = Record>,
) -> anyhow::Result<usize> {
    let rows = rows(population);
    let (schema, name) = table
        .split_once('.')
        .context("--welfare-table is SCHEMA.TABLE")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config: tokio_postgres::Config = url.parse().context("--welfare-source URL")?;
        let (mut client, conn) = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            config.connect(tokio_postgres::NoTls),
        )
        .await
        .context("connecting to the welfare database: no answer within 5 s")??;
        tokio::spawn(conn);
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let (schema, name) = (q(schema), q(name));
        let tx = client.transaction().await?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             DROP TABLE IF EXISTS {schema}.{name};
             CREATE TABLE {schema}.{name} (
                 so_cccd text PRIMARY KEY,
                 ho_ten text NOT NULL,
                 gioi_tinh text,
                 ngay_sinh date,
                 loai_doi_tuong text,
                 muc_tro_cap bigint,
                 ma_phuong_xa text,
                 ngay_cap_nhat timestamptz NOT NULL DEFAULT clock_timestamp());
             CREATE OR REPLACE FUNCTION {schema}.stamp() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN NEW.ngay_cap_nhat := clock_timestamp(); RETURN NEW; END $$;
             CREATE TRIGGER stamp BEFORE UPDATE ON {schema}.{name}
               FOR EACH ROW EXECUTE FUNCTION {schema}.stamp();"
        ))
        .await?;
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {schema}.{name} (so_cccd, ho_ten, gioi_tinh, ngay_sinh, loai_doi_tuong, \
                 muc_tro_cap, ma_phuong_xa) VALUES ($1, $2, $3, $4::text::date, $5, $6::text::bigint, $7)"
            ))
            .await?;
        for r in &rows {
            tx.execute(&insert, &[&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]])
                .await?;
        }
        tx.commit().await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(rows.len())
}

/// Adds the connector as the city's provider and runs it once.
pub fn connect(core: &Core, provider_key: &str, url: &str, table: &str) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let caller = core.authenticate(provider_key, now)?;
    core.add_connector(&caller, connector(url, table), now)?;
    let run = core.start_connector_run(&caller, CONNECTOR, None, now)?;
    let done = core.execute_connector_run(
        CONNECTOR,
        run.number,
        &ndx_connect::Drivers::default(),
        &chrono::Utc::now,
    )?;
    eprintln!(
        "  {DATASET:<16} {} rows read from the city's PostgreSQL table {table}: {} records \
         created, {} rejected (GET /api/v1/connectors/{CONNECTOR}/runs/{}/rejected)",
        done.read, done.created, done.rejected, done.number
    );
    if let Some(e) = done.error {
        eprintln!("  {DATASET:<16} the run failed: {e}");
    }
    Ok(())
}
