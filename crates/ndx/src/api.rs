//! A client of a running node's HTTP API, for the CLI commands that go through it
//! (`ndx agreements`, `ndx connector`): the key as bearer token, JSON in and out, and a
//! problem answer turned into the same error (and exit code) as a local command's.

use std::io::Read;

use anyhow::Context;
use clap::Args;
use serde_json::Value;

/// Where the node is and which key to use.
#[derive(Debug, Args)]
pub struct Remote {
    /// The node, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API key (or set NDX_KEY).
    #[arg(long, env = "NDX_KEY", hide_env_values = true)]
    pub key: String,
}

/// A client of one node.
pub struct Api {
    base: String,
    auth: String,
    agent: ureq::Agent,
}

impl Api {
    /// A client of `remote`, with a 60 s deadline per call.
    pub fn new(remote: &Remote) -> Api {
        Api {
            base: remote.url.trim_end_matches('/').to_owned(),
            auth: format!("Bearer {}", remote.key),
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(std::time::Duration::from_secs(60)))
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET a JSON answer.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self
            .agent
            .get(self.url(path))
            .header("Authorization", &self.auth)
            .call();
        self.answer(resp)
    }

    /// GET a text answer with the given `Accept`.
    pub fn get_text(&self, path: &str, accept: &str) -> anyhow::Result<String> {
        let mut resp = self
            .agent
            .get(self.url(path))
            .header("Authorization", &self.auth)
            .header("Accept", accept)
            .call()
            .with_context(|| format!("cannot reach {}", self.base))?;
        if resp.status().as_u16() >= 400 {
            return self.answer(Ok(resp)).map(|v| v.to_string());
        }
        Ok(resp.body_mut().read_to_string()?)
    }

    /// POST a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.post_with(path, body, &[])
    }

    /// POST a JSON body with extra headers (`Ndx-Purpose`).
    pub fn post_with(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let mut req = self
            .agent
            .post(self.url(path))
            .header("Authorization", &self.auth);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.answer(req.send_json(body))
    }

    /// DELETE; `Null` for an answer without a body.
    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self
            .agent
            .delete(self.url(path))
            .header("Authorization", &self.auth)
            .call();
        self.answer(resp)
    }

    fn answer(
        &self,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Value> {
        let mut resp = resp.with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status().as_u16();
        if status == 204 {
            return Ok(Value::Null);
        }
        let body: Value = resp
            .body_mut()
            .read_json()
            .with_context(|| format!("the answer of {} (HTTP {status}) is not JSON", self.base))?;
        if status >= 400 {
            // The problem's code names the refusal; its kind gives the exit code.
            let code = body["code"].as_str().unwrap_or("");
            let detail = body["detail"].as_str().unwrap_or("");
            let known = ndx_core::Code::ALL.iter().find(|c| c.name() == code);
            return Err(match known {
                Some(c) => anyhow::Error::new(ndx_core::Error::of(*c, detail.to_owned())),
                None => anyhow::anyhow!("HTTP {status}: {body}"),
            });
        }
        Ok(body)
    }
}

/// A JSON document from a file, or standard input for `-`.
pub fn read_json(file: &str) -> anyhow::Result<Value> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    }
    serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))
}

/// Prints an answer as indented JSON.
pub fn print(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}
