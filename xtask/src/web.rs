//! `cargo xtask bench-web`: the latency of the web UI's main pages on the demo country (its
//! 100,000 citizens and open-data packages by default), each page as the user it is for —
//! signed out for the portal and the dictionary, the demo citizen for "my data", a provider,
//! the operator — requested one after another by one loopback client after a warm-up:
//! p50, p99 and max per page, for BENCHMARKS.md.

use std::time::Instant;

use anyhow::{Context, bail, ensure};
use clap::Args;

use crate::harness::{self, Server};
use crate::sys::Machine;

/// Options of `bench-web`.
#[derive(Debug, Args)]
pub struct WebArgs {
    /// Citizens of the demo country.
    #[arg(long, default_value_t = 100_000)]
    citizens: usize,
    /// Timed requests per page (after a warm-up of a tenth as many).
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// Working directory (default: target/bench-web).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// The value `name=…` of a response's `Set-Cookie` headers.
fn cookie<B>(resp: &ureq::http::Response<B>, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (k, rest) = v.split_once('=')?;
            (k == name).then(|| rest.split(';').next().unwrap_or_default().to_owned())
        })
}

/// Signs in through the form, as a browser does; the session cookie.
fn sign_in(http: &ureq::Agent, base: &str, fields: &[(&str, &str)]) -> anyhow::Result<String> {
    let form = http.get(format!("{base}/sign-in")).call()?;
    let token = cookie(&form, "ndx_csrf").context("no form cookie")?;
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    body.append_pair("_csrf", &token);
    for (k, v) in fields {
        body.append_pair(k, v);
    }
    let resp = http
        .post(format!("{base}/sign-in"))
        .header("Cookie", format!("ndx_csrf={token}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(body.finish())?;
    ensure!(
        resp.status().as_u16() == 303,
        "sign-in answered {}",
        resp.status()
    );
    let session = cookie(&resp, "ndx_session").context("no session cookie")?;
    Ok(format!("ndx_session={session}"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the benchmark and prints its table.
pub fn run(args: &WebArgs) -> anyhow::Result<()> {
    let root = harness::workspace_root();
    let dir = harness::work_dir(
        &root,
        args.out.as_deref(),
        "bench-web",
        harness::Backend::Sqlite,
    )?;
    let ndx = harness::build_ndx(&root)?;
    let machine = Machine::probe();
    eprintln!("building the demo country ({} citizens)…", args.citizens);
    let store = harness::demo_country(&ndx, &dir.join("data"), args.citizens, &[])?;
    let server = Server::start(&ndx, &store)?;
    let http = agent();
    let base = server.base.clone();
    let citizen = sign_in(
        &http,
        &base,
        &[
            ("kind", "citizen"),
            ("citizen_id", &store.api_key("web:citizen-id")?),
            ("secret", &store.api_key("web:citizen")?),
        ],
    )?;
    let account = |login: &str| -> anyhow::Result<String> {
        sign_in(
            &http,
            &base,
            &[
                ("kind", "account"),
                ("login", login),
                ("password", &store.api_key(&format!("web:{login}"))?),
            ],
        )
    };
    let provider = account("lan.bca")?;
    let operator = account("binh.operator")?;
    let package = {
        let mut resp = http
            .get(format!("{base}/api/3/action/package_list"))
            .call()?;
        let list: serde_json::Value = serde_json::from_str(&resp.body_mut().read_to_string()?)?;
        list["result"][0]
            .as_str()
            .context("no open-data package")?
            .to_owned()
    };
    let pages: Vec<(&str, String, Option<&str>)> = vec![
        ("home", "/".into(), None),
        ("open-data search", "/open-data?q=dan+so".into(), None),
        ("package", format!("/open-data/{package}"), None),
        ("dictionary", "/dictionary".into(), None),
        (
            "code list (ward filter)",
            "/dictionary/code-lists/admin-ward-2025?q=ba+dinh".into(),
            None,
        ),
        ("my data (citizen)", "/me".into(), Some(citizen.as_str())),
        ("provider", "/provider".into(), Some(provider.as_str())),
        ("agreements", "/agreements".into(), Some(provider.as_str())),
        ("indicators", "/indicators".into(), Some(operator.as_str())),
    ];
    let mut rows = vec![vec![
        "page".to_owned(),
        "requests".to_owned(),
        "p50 ms".to_owned(),
        "p99 ms".to_owned(),
        "max ms".to_owned(),
        "bytes".to_owned(),
    ]];
    let warm = (args.requests / 10).max(1);
    for (name, path, session) in &pages {
        let mut times = Vec::with_capacity(args.requests);
        let mut bytes = 0usize;
        for i in 0..warm + args.requests {
            let mut req = http.get(format!("{base}{path}"));
            if let Some(s) = session {
                req = req.header("Cookie", *s);
            }
            let t = Instant::now();
            let mut resp = req.call()?;
            let body = resp.body_mut().read_to_string()?;
            let elapsed = t.elapsed().as_secs_f64() * 1000.0;
            if resp.status().as_u16() != 200 {
                bail!("{path}: {} {}", resp.status(), &body[..body.len().min(300)]);
            }
            bytes = body.len();
            if i >= warm {
                times.push(elapsed);
            }
        }
        times.sort_by(f64::total_cmp);
        rows.push(vec![
            (*name).to_owned(),
            args.requests.to_string(),
            format!("{:.1}", percentile(&times, 0.5)),
            format!("{:.1}", percentile(&times, 0.99)),
            format!("{:.1}", times.last().copied().unwrap_or_default()),
            bytes.to_string(),
        ]);
    }
    drop(server);
    println!(
        "bench-web: {} citizens, one loopback client, {} timed requests per page after {} warm-up",
        harness::thousands(args.citizens as u64),
        args.requests,
        warm
    );
    println!("machine: {}", machine.describe());
    for line in harness::aligned(&rows) {
        println!("{line}");
    }
    Ok(())
}
