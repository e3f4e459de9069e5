//! The parameters every source URL may carry besides its driver's own: `sslmode` and
//! `sslrootcert` (libpq's meaning), `connect_timeout` and `statement_timeout` (seconds).

use std::time::Duration;

use ndx_core::error::Result;
use ndx_store::pg_tls::SslMode;

use crate::{Drivers, unavailable};

/// A source URL split into the driver's URL and ndx's settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The URL without ndx's parameters.
    pub url: String,
    /// As given, or `None` (each driver has its default).
    pub ssl_mode: Option<SslMode>,
    /// `sslrootcert`.
    pub rootcert: Option<String>,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
}

fn seconds(key: &str, value: &str) -> Result<Duration> {
    match value.parse::<u64>() {
        Ok(s) if (1..=86_400).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err(unavailable(format!(
            "{key} must be a number of seconds from 1 to 86400, not {value:?}"
        ))),
    }
}

fn percent_decode(value: &str) -> Result<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| unavailable(format!("a bad %-escape in {value:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| unavailable(format!("{value:?} is not UTF-8")))
}

/// Takes ndx's parameters out of `url`.
pub(crate) fn split(url: &str, drivers: Drivers) -> Result<Settings> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut settings = Settings {
        url: String::new(),
        ssl_mode: None,
        rootcert: None,
        connect_timeout: drivers.connect_timeout,
        statement_timeout: drivers.statement_timeout,
    };
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                settings.ssl_mode = Some(SslMode::parse(value).ok_or_else(|| {
                    unavailable(format!(
                        "sslmode {value:?} must be disable, allow, prefer, require, verify-ca or \
                         verify-full"
                    ))
                })?);
            }
            "sslrootcert" => settings.rootcert = Some(percent_decode(value)?),
            "connect_timeout" => settings.connect_timeout = seconds(key, value)?,
            "statement_timeout" => settings.statement_timeout = seconds(key, value)?,
            _ => rest.push(pair),
        }
    }
    settings.url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok(settings)
}

/// A URL without the password, for messages.
pub(crate) fn shown(url: &str) -> String {
    ndx_store::redact(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndx_parameters_are_taken_out() {
        let s = split(
            "postgres://u@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem&statement_timeout=7",
            Drivers::default(),
        )
        .unwrap();
        assert_eq!(s.url, "postgres://u@h/db?application_name=x");
        assert_eq!(s.ssl_mode, Some(SslMode::VerifyFull));
        assert_eq!(s.rootcert.as_deref(), Some("/tmp/ca.pem"));
        assert_eq!(s.statement_timeout, Duration::from_secs(7));
        assert!(split("postgres://u@h/db?sslmode=sometimes", Drivers::default()).is_err());
        assert!(split("postgres://u@h/db?connect_timeout=0", Drivers::default()).is_err());
    }
}
