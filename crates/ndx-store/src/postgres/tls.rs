//! TLS to PostgreSQL, with libpq's meaning of `sslmode` and `sslrootcert` (rustls on ring):
//!
//! | `sslmode` | encryption | the server's certificate |
//! | --- | --- | --- |
//! | `disable` | never | – |
//! | `allow`, `prefer` (the default) | when the server offers it | not checked |
//! | `require` | always | not checked; checked as `verify-ca` when a root certificate file exists |
//! | `verify-ca` | always | signed by a CA of `sslrootcert` |
//! | `verify-full` | always | signed by a CA of `sslrootcert` and issued for the host connected to |
//!
//! `sslrootcert` is a PEM file of CA certificates; without it, `~/.postgresql/root.crt` (as
//! libpq). `allow` is treated as `prefer` (TLS first, then plain), the order tokio-postgres
//! offers.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it (as `prefer`).
    Allow,
    /// TLS when the server offers it, certificate not checked.
    Prefer,
    /// Always TLS; the certificate checked only if a root certificate file exists.
    Require,
    /// Always TLS, certificate signed by a CA of `sslrootcert`.
    VerifyCa,
    /// As `verify-ca`, and issued for the host connected to.
    VerifyFull,
}

impl SslMode {
    /// libpq's spelling, or `None`.
    pub fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// What tokio-postgres is told: whether TLS is tried, and whether it is required.
    pub fn negotiation(self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as Pg;
        match self {
            SslMode::Disable => Pg::Disable,
            SslMode::Allow | SslMode::Prefer => Pg::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Pg::Require,
        }
    }
}

/// The TLS of a store's connections: `None` for `sslmode=disable`.
#[derive(Clone)]
pub(super) struct Tls(pub(super) Option<MakeRustlsConnect>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Tls(rustls)"
        } else {
            "Tls(none)"
        })
    }
}

/// The root certificate file libpq reads when `sslrootcert` is not given.
fn default_root_cert() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".postgresql/root.crt"))
}

/// The TLS connector of `mode` for any tokio-postgres client (the store's own, and the
/// connectors' sources): `None` for `disable`.
pub fn make_connect(
    mode: SslMode,
    rootcert: Option<&str>,
) -> Result<Option<MakeRustlsConnect>, String> {
    Ok(connector(mode, rootcert)?.0)
}

/// The connector of `mode`, with the CAs of `rootcert` where the mode checks certificates.
pub(super) fn connector(mode: SslMode, rootcert: Option<&str>) -> Result<Tls, String> {
    // ring, not aws-lc-rs (rustls's default, which deprecates this constructor for want of
    // post-quantum key exchange): ring builds with a C compiler alone, aws-lc-rs needs CMake,
    // and PostgreSQL 15–17 servers offer no post-quantum group anyway.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let given = rootcert.map(PathBuf::from);
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable => return Ok(Tls(None)),
        SslMode::Allow | SslMode::Prefer => Arc::new(Unchecked(provider.clone())),
        SslMode::Require => {
            // As libpq: with a root certificate file at hand, require checks the chain.
            match given
                .clone()
                .or_else(default_root_cert)
                .filter(|p| p.exists())
            {
                Some(file) => Arc::new(AnyName(webpki(&file, &provider)?)),
                None => Arc::new(Unchecked(provider.clone())),
            }
        }
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let file = given.or_else(default_root_cert).ok_or_else(|| {
                "sslrootcert is needed to check the server's certificate (no HOME for \
                 ~/.postgresql/root.crt)"
                    .to_owned()
            })?;
            let checked = webpki(&file, &provider)?;
            if mode == SslMode::VerifyCa {
                Arc::new(AnyName(checked))
            } else {
                checked
            }
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Tls(Some(MakeRustlsConnect::new(config))))
}

/// The standard chain and name check against the CAs of a PEM file.
fn webpki(
    file: &std::path::Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    let shown = file.display();
    if !file.exists() {
        return Err(format!("root certificate file {shown:?} does not exist"));
    }
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file)
        .map_err(|e| format!("root certificate file {shown:?}: {e}"))?
    {
        let cert = cert.map_err(|e| format!("root certificate file {shown:?}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("root certificate file {shown:?}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "root certificate file {shown:?} holds no PEM certificate"
        ));
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("root certificate file {shown:?}: {e}"))
}

/// `prefer` and `require` without a root certificate: the connection is encrypted, the
/// certificate not checked (libpq's meaning; it protects against passive eavesdropping only).
/// The handshake's signatures are still verified.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted CA and be valid now; the host name is not
/// compared.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Each `sslmode` against the machine's real server, which `.ci/pg-tls` gives a certificate
/// for `127.0.0.1` from a test CA (`NDX_TEST_PG_TLS_DIR` names the directory of `ca.crt` and
/// `other-ca.crt`; required when `CI=true`).
#[cfg(test)]
mod tests {
    use super::super::PostgresBackend;
    use crate::{OpenMode, StoreError};

    struct Setup {
        dir: String,
        /// `postgres://postgres@` … `:5432/test?schema=…`, with the host left out.
        user: String,
        rest: String,
    }

    fn setup() -> Option<Setup> {
        let dir = std::env::var("NDX_TEST_PG_TLS_DIR")
            .ok()
            .filter(|d| !d.is_empty());
        let base = std::env::var("NDX_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty());
        match (dir, base) {
            (Some(dir), Some(base)) => {
                let (user, hostport) = base
                    .strip_prefix("postgres://")
                    .and_then(|r| r.split_once('@'))
                    .expect("NDX_TEST_POSTGRES_URL is postgres://USER@HOST:PORT/DB");
                let (_, portdb) = hostport.split_once(':').expect("HOST:PORT/DB");
                let (port_db, _) = portdb.split_once('?').unwrap_or((portdb, ""));
                Some(Setup {
                    dir,
                    user: format!("postgres://{user}@"),
                    rest: format!(":{port_db}?schema=ndx_tls_{}", std::process::id()),
                })
            }
            _ => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI must run .ci/pg-tls and set NDX_TEST_PG_TLS_DIR and NDX_TEST_POSTGRES_URL"
                );
                eprintln!("NDX_TEST_PG_TLS_DIR or NDX_TEST_POSTGRES_URL unset: no TLS server");
                None
            }
        }
    }

    /// Opens the store at `host` with `params`; whether its connection is encrypted.
    fn encrypted(s: &Setup, host: &str, params: &str) -> Result<bool, StoreError> {
        let url = format!("{}{host}{}{params}", s.user, s.rest);
        let backend = PostgresBackend::open(&url, OpenMode::Create)?;
        let mut c = backend.conn()?;
        let rows = c
            .query(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .expect("pg_stat_ssl");
        Ok(rows[0].get::<_, bool>(0))
    }

    #[test]
    fn sslmodes_have_libpqs_meaning_against_a_real_server() {
        let Some(s) = setup() else { return };
        let ca = format!("&sslrootcert={}/ca.crt", s.dir);
        let other = format!("&sslrootcert={}/other-ca.crt", s.dir);
        let result = std::panic::catch_unwind(|| {
            // verify-full: the test CA, and the address the certificate names.
            assert!(
                encrypted(&s, "127.0.0.1", &format!("&sslmode=verify-full{ca}"))
                    .expect("verify-full")
            );
            // A wrong host name: refused by verify-full, accepted by verify-ca.
            let e = encrypted(&s, "localhost", &format!("&sslmode=verify-full{ca}"))
                .expect_err("a certificate for 127.0.0.1 is not one for localhost");
            assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
            assert!(
                encrypted(&s, "localhost", &format!("&sslmode=verify-ca{ca}")).expect("verify-ca")
            );
            // An unknown CA: refused by both checks, and by require once a root file is given.
            for mode in ["verify-full", "verify-ca", "require"] {
                let e = encrypted(&s, "127.0.0.1", &format!("&sslmode={mode}{other}"))
                    .expect_err("a certificate from another CA");
                assert!(
                    e.to_string().to_lowercase().contains("certificate"),
                    "{mode}: {e}"
                );
            }
            // require without a root file encrypts without checking; prefer (the default)
            // encrypts when the server offers it; disable never does.
            assert!(encrypted(&s, "127.0.0.1", "&sslmode=require").expect("require"));
            assert!(encrypted(&s, "127.0.0.1", "").expect("prefer"));
            assert!(!encrypted(&s, "127.0.0.1", "&sslmode=disable").expect("disable"));
            // Configuration errors are precise and name what is wrong.
            let e = encrypted(
                &s,
                "127.0.0.1",
                "&sslmode=verify-full&sslrootcert=/nonexistent/ca.crt",
            )
            .expect_err("no root file");
            assert!(matches!(e, StoreError::Config(_)), "{e}");
            assert!(e.to_string().contains("/nonexistent/ca.crt"), "{e}");
            let e = encrypted(&s, "127.0.0.1", "&sslmode=verify").expect_err("unknown mode");
            assert!(matches!(e, StoreError::Config(_)), "{e}");
            assert!(e.to_string().contains("verify-full"), "{e}");
        });
        if let Ok(backend) = PostgresBackend::open(
            &format!("{}127.0.0.1{}&sslmode=disable", s.user, s.rest),
            OpenMode::Create,
        ) && let Ok(mut c) = backend.conn()
        {
            let schema = format!("ndx_tls_{}", std::process::id());
            let _ = c.simple(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}
