//! `cargo xtask bench-ckan`: CKAN's `package_search` over many packages, and downloads.
//!
//! 1. builds the release `ndx` and a fresh demo store, and starts `ndx serve` on it;
//! 2. registers `--packages` packages through `PUT /api/v1/packages/{name}` (counts of the
//!    population by province, titles and keywords drawn from a list of Vietnamese words, the
//!    publisher, theme and licence varied) and makes one release of the first;
//! 3. times the first search (the index is built from the catalogue), then `--searches`
//!    searches from one client, each a different mix: a word with or without its diacritics, a
//!    filter on the theme, facets on the publisher, tags and licence, 10 rows;
//! 4. publishes the micro-data of every citizen anonymised to k = 5 (birth date, sex, province
//!    as quasi-identifiers) in CSV, JSON and Parquet, and downloads its CSV `--downloads` times;
//! 5. times `--datastore-searches` `datastore_search` calls on that release (the first reads
//!    its rows into memory): a page at an offset, a filter on sex and province, words over the
//!    whole row, a sort on the province, 100 rows each.

use std::time::Instant;

use anyhow::{Context, ensure};
use clap::Args;
use serde_json::{Value, json};

use crate::harness::{self, Server, thousands};
use crate::reads::agent;
use crate::sys::Machine;

/// Options of `bench-ckan`.
#[derive(Debug, Args)]
pub struct CkanArgs {
    /// Packages registered.
    #[arg(long, default_value_t = 10_000)]
    packages: usize,
    /// Searches timed.
    #[arg(long, default_value_t = 2_000)]
    searches: usize,
    /// Citizens of the demo (the release's source).
    #[arg(long, default_value_t = 100_000)]
    citizens: usize,
    /// Downloads of the release's CSV timed.
    #[arg(long, default_value_t = 20)]
    downloads: usize,
    /// `datastore_search` calls timed.
    #[arg(long, default_value_t = 2_000)]
    datastore_searches: usize,
    /// Working directory [default: target/bench-ckan].
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
    /// Print the block for BENCHMARKS.md instead of the plain lines.
    #[arg(long)]
    markdown: bool,
}

const WORDS: [(&str, &str); 12] = [
    ("dân số", "dan so"),
    ("giáo dục", "giao duc"),
    ("y tế", "y te"),
    ("giao thông", "giao thong"),
    ("đất đai", "dat dai"),
    ("doanh nghiệp", "doanh nghiep"),
    ("nông nghiệp", "nong nghiep"),
    ("môi trường", "moi truong"),
    ("lao động", "lao dong"),
    ("thuế", "thue"),
    ("bảo hiểm", "bao hiem"),
    ("Hà Nội", "ha noi"),
];
const THEMES: [&str; 6] = ["SOCI", "EDUC", "HEAL", "TRAN", "ECON", "AGRI"];
const LICENCES: [&str; 3] = ["cc-by-4.0", "cc0-1.0", "odc-by-1.0"];

fn package(i: usize) -> Value {
    let (a, _) = WORDS[i % WORDS.len()];
    let (b, _) = WORDS[(i / WORDS.len()) % WORDS.len()];
    json!({
        "name": format!("goi-du-lieu-{i:05}"),
        "title_vi": format!("Thống kê {a} và {b} số {i}"),
        "title_en": format!("Statistics {i}"),
        "description_vi": format!("Số liệu về {a}, {b}"),
        "licence": LICENCES[i % LICENCES.len()],
        "keywords": [a, b],
        "theme": THEMES[i % THEMES.len()],
        "publisher": "BCA",
        "contact": {"name": "BCA", "email": "opendata@bca.gov.vn"},
        "view": {"dataset": "population", "shape": "counts", "columns": [
            {"name": "province", "field": "province_code"}, {"name": "sex", "field": "sex"}]},
    })
}

fn percentiles(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    (times[n / 2], times[(n * 99 / 100).min(n - 1)])
}

pub fn run(args: &CkanArgs) -> anyhow::Result<()> {
    let root = harness::workspace_root();
    let dir = harness::work_dir(
        &root,
        args.out.as_deref(),
        "bench-ckan",
        harness::Backend::Sqlite,
    )?;
    let ndx = harness::build_ndx(&root)?;
    let machine = Machine::probe();
    let store = harness::demo_country(&ndx, &dir.join("data"), args.citizens, &["--no-open-data"])?;
    let key = store.api_key("population-provider")?;
    let server = Server::start(&ndx, &store)?;
    let http = agent();
    let auth = format!("Bearer {key}");
    eprintln!("registering {} packages…", thousands(args.packages as u64));
    let t = Instant::now();
    for i in 0..args.packages {
        let body = package(i);
        let name = body["name"].as_str().context("name")?.to_owned();
        let resp = http
            .put(format!("{}/api/v1/packages/{name}", server.base))
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body.to_string())?;
        ensure!(
            resp.status().as_u16() == 201,
            "PUT {name}: {}",
            resp.status()
        );
    }
    let register = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut resp = http
        .post(format!(
            "{}/api/v1/packages/goi-du-lieu-00000/releases",
            server.base
        ))
        .header("Authorization", &auth)
        .send_empty()?;
    ensure!(resp.status().as_u16() == 201, "release: {}", resp.status());
    let release: Value = serde_json::from_str(&resp.body_mut().read_to_string()?)?;
    let publish = t.elapsed().as_secs_f64();
    ensure!(
        release["rows"].as_u64().unwrap_or(0) > 0,
        "an empty release: {release}"
    );

    let search = |query: &str| -> anyhow::Result<Value> {
        let mut resp = http
            .get(format!(
                "{}/api/3/action/package_search?{query}",
                server.base
            ))
            .call()?;
        ensure!(
            resp.status().as_u16() == 200,
            "search {query}: {}",
            resp.status()
        );
        Ok(serde_json::from_str(&resp.body_mut().read_to_string()?)?)
    };
    let t = Instant::now();
    let first = search("q=dan%20so")?;
    let index_build = t.elapsed().as_secs_f64();
    ensure!(
        first["result"]["count"].as_u64().unwrap_or(0) > 0,
        "nothing found: {first}"
    );
    let mut times = Vec::with_capacity(args.searches);
    for i in 0..args.searches {
        let (accented, folded) = WORDS[i % WORDS.len()];
        let word = if i % 2 == 0 { folded } else { accented };
        let mut q = format!(
            "q={}&rows=10",
            word.replace(' ', "%20")
                .bytes()
                .map(|b| if b.is_ascii() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                })
                .collect::<String>()
        );
        if i % 3 == 0 {
            q.push_str(&format!(
                "&fq=groups:{}",
                THEMES[i % THEMES.len()].to_lowercase()
            ));
        }
        if i % 4 == 0 {
            q.push_str("&facet.field=%5B%22organization%22,%22tags%22,%22license_id%22%5D");
        }
        let t = Instant::now();
        let r = search(&q)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        ensure!(r["success"] == true, "{r}");
    }
    let (p50, p99) = percentiles(times);

    // Micro-data of every citizen, anonymised (k = 5): the file downloads are timed on.
    let micro = json!({
        "name": "mau-vi-du-lieu",
        "title_vi": "Mẫu vi dữ liệu dân cư", "title_en": "Population micro-data",
        "licence": "cc-by-4.0", "theme": "SOCI", "publisher": "BCA",
        "contact": {"name": "BCA", "email": "opendata@bca.gov.vn"},
        "view": {"dataset": "population", "shape": "rows", "columns": [
            {"name": "born", "field": "date_of_birth"}, {"name": "sex", "field": "sex"},
            {"name": "province", "field": "ward_code", "transform": "province"}]},
        "privacy": {"quasi_identifiers": [
            {"column": "born", "ladder": "date"}, {"column": "sex", "ladder": "value"},
            {"column": "province", "ladder": "value"}], "k": 5},
    });
    let resp = http
        .put(format!("{}/api/v1/packages/mau-vi-du-lieu", server.base))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send(micro.to_string())?;
    ensure!(
        resp.status().as_u16() == 201,
        "PUT micro-data: {}",
        resp.status()
    );
    let t = Instant::now();
    let mut resp = http
        .post(format!(
            "{}/api/v1/packages/mau-vi-du-lieu/releases",
            server.base
        ))
        .header("Authorization", &auth)
        .send_empty()?;
    ensure!(
        resp.status().as_u16() == 201,
        "micro-data release: {}",
        resp.status()
    );
    let micro_release: Value = serde_json::from_str(&resp.body_mut().read_to_string()?)?;
    let anonymise = t.elapsed().as_secs_f64();
    let levels: Vec<String> = micro_release["privacy"]["generalised"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            format!(
                "{} {}",
                g["column"].as_str().unwrap_or(""),
                g["level"].as_str().unwrap_or("")
            )
        })
        .collect();
    let file = micro_release["files"][0]["name"]
        .as_str()
        .context("file")?
        .to_owned();
    let url = format!("{}/download/mau-vi-du-lieu/1/{file}", server.base);
    let t = Instant::now();
    let mut bytes = 0u64;
    for _ in 0..args.downloads {
        let mut resp = http.get(&url).call()?;
        ensure!(resp.status().as_u16() == 200, "download: {}", resp.status());
        // Streamed and counted: a release of a million rows is larger than any body limit.
        bytes += std::io::copy(
            &mut resp.body_mut().with_config().limit(u64::MAX).reader(),
            &mut std::io::sink(),
        )?;
    }
    let download = t.elapsed().as_secs_f64();
    let mib_s = bytes as f64 / (1024.0 * 1024.0) / download;

    // datastore_search on the micro-data release.
    let resource = "mau-vi-du-lieu-r1-csv";
    let datastore = |query: &str| -> anyhow::Result<Value> {
        let mut resp = http
            .get(format!(
                "{}/api/3/action/datastore_search?resource_id={resource}&{query}",
                server.base
            ))
            .call()?;
        ensure!(
            resp.status().as_u16() == 200,
            "datastore_search {query}: {}",
            resp.status()
        );
        Ok(serde_json::from_str(&resp.body_mut().read_to_string()?)?)
    };
    let t = Instant::now();
    let first = datastore("limit=1")?;
    let table_load = t.elapsed().as_secs_f64();
    let total = first["result"]["total"].as_u64().context("total")?;
    let sample = datastore("limit=1000")?;
    let provinces: Vec<String> = sample["result"]["records"]
        .as_array()
        .context("records")?
        .iter()
        .filter_map(|r| r["province"].as_str().map(str::to_owned))
        .collect();
    ensure!(!provinces.is_empty(), "no provinces in {sample}");
    let mut ds_times = Vec::with_capacity(args.datastore_searches);
    let mut ds_rows = 0u64;
    let t = Instant::now();
    for i in 0..args.datastore_searches {
        let province = &provinces[i % provinces.len()];
        let query = match i % 4 {
            0 => format!("limit=100&offset={}", (i as u64 * 7919) % total.max(1)),
            1 => format!(
                "limit=100&filters=%7B%22sex%22%3A%22{}%22%2C%22province%22%3A%22{province}%22%7D",
                1 + i % 2
            ),
            2 => format!("limit=100&q={province}"),
            _ => "limit=100&sort=province%20desc".to_owned(),
        };
        let one = Instant::now();
        let r = datastore(&query)?;
        ds_times.push(one.elapsed().as_secs_f64() * 1e3);
        ensure!(r["success"] == true, "{r}");
        ds_rows += r["result"]["records"].as_array().map_or(0, Vec::len) as u64;
    }
    let ds_secs = t.elapsed().as_secs_f64();
    let (ds_p50, ds_p99) = percentiles(ds_times);
    let ds_per_sec = args.datastore_searches as f64 / ds_secs;

    if args.markdown {
        println!("Machine: {}\n", machine.describe());
        println!(
            "| measure ({} packages) | value |",
            thousands(args.packages as u64)
        );
        println!("| --- | ---: |");
        println!(
            "| register a package (`PUT /api/v1/packages/…`), mean | {:.2} ms |",
            register * 1e3 / args.packages as f64
        );
        println!(
            "| a release of {} citizens counted by province and sex | {:.2} s |",
            thousands(args.citizens as u64),
            publish
        );
        println!(
            "| first `package_search` (index built from the catalogue) | {:.0} ms |",
            index_build * 1e3
        );
        println!(
            "| `package_search`, p50 over {} searches | {p50:.2} ms |",
            thousands(args.searches as u64)
        );
        println!("| `package_search`, p99 | {p99:.2} ms |");
        println!(
            "| micro-data of {} citizens anonymised to k = 5 ({}; {} rows suppressed) and published | {anonymise:.2} s |",
            thousands(args.citizens as u64),
            levels.join(", "),
            micro_release["privacy"]["suppressed"]
        );
        println!(
            "| download of that CSV ({} bytes), {} times | {mib_s:.0} MiB/s |",
            thousands(bytes / args.downloads as u64),
            args.downloads
        );
        println!(
            "| first `datastore_search` on it ({} rows read into memory) | {:.0} ms |",
            thousands(total),
            table_load * 1e3
        );
        println!(
            "| `datastore_search` (page, filters, words, sort; 100 rows), p50 over {} | {ds_p50:.2} ms |",
            thousands(args.datastore_searches as u64)
        );
        println!("| `datastore_search`, p99 | {ds_p99:.2} ms |");
        println!(
            "| `datastore_search` from one client | {ds_per_sec:.0} calls/s, {:.0} rows/s |",
            ds_rows as f64 / ds_secs
        );
    } else {
        println!(
            "register {:.2} ms/package; release {publish:.2} s; index build {:.0} ms",
            register * 1e3 / args.packages as f64,
            index_build * 1e3
        );
        println!(
            "package_search p50 {p50:.2} ms, p99 {p99:.2} ms; anonymise {anonymise:.2} s; downloads {mib_s:.0} MiB/s"
        );
        println!(
            "datastore_search: first {:.0} ms ({total} rows), p50 {ds_p50:.2} ms, p99 {ds_p99:.2} ms, {ds_per_sec:.0} calls/s",
            table_load * 1e3
        );
    }
    drop(server);
    Ok(())
}
