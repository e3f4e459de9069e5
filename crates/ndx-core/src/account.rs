//! Signing in to the web UI: the accounts of the people of member agencies and citizens'
//! credentials (Argon2id hashes, never a password), sessions named by a random token whose
//! SHA-256 alone is stored, a throttle on failed sign-ins per client address and per name,
//! and the capabilities a session mints — the same `Caller` an API key of the account's
//! system mints, or the citizen's own `SubjectRead` — so that pages pass every check and
//! leave every audit entry the API does.
//!
//! A citizen's secret is checked by a [`CitizenVerifier`]: the built-in one reads the stored
//! credentials; the national identity provider can take its place without touching a page.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Duration, Utc};
use ndx_store::Store;
use ndx_types::account::{
    CitizenCredential, SESSION_HOURS, SessionHolder, WebAccount, WebSession, check_login,
    check_password,
};
use ndx_types::registry::{Role, System};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::Core;
use crate::access::{Caller, RegistryAdmin, SubjectRead};
use crate::audit::{AuditLog, Denial};
use crate::error::{Code, Error, Result};

/// Failed sign-ins one name may have within [`THROTTLE_WINDOW_MINUTES`].
pub const MAX_FAILED_SIGN_INS: u32 = 5;
/// Failed sign-ins one client address may have within the window: more than a name, since
/// an office signs in from behind one address.
pub const MAX_FAILED_PER_CLIENT: u32 = 50;
/// The window of the sign-in throttle.
pub const THROTTLE_WINDOW_MINUTES: i64 = 15;

/// What a person signs in with.
#[derive(Debug, Clone, Copy)]
pub enum Credentials<'a> {
    /// A person of a member agency: login name and password.
    Account {
        /// The login name.
        login: &'a str,
        /// The password.
        password: &'a str,
    },
    /// A citizen: citizen ID and secret.
    Citizen {
        /// The citizen ID.
        citizen_id: &'a str,
        /// The secret.
        secret: &'a str,
    },
}

/// Checks a citizen's secret. The built-in verifier reads the credentials the operator set
/// ([`Core::set_citizen_credential`]); a national identity provider plugs in here.
pub trait CitizenVerifier: Send + Sync {
    /// Whether `secret` proves that the person is `citizen_id`.
    fn verify(&self, citizen_id: &str, secret: &str) -> Result<bool>;
}

/// The built-in verifier: the stored Argon2id credentials.
pub(crate) struct StoredCredentials {
    pub(crate) store: Store,
    pub(crate) audit: AuditLog,
}

impl CitizenVerifier for StoredCredentials {
    fn verify(&self, citizen_id: &str, secret: &str) -> Result<bool> {
        let subject = hex::encode(self.audit.keys().subject_hash(citizen_id));
        let stored = self.store.catalog().value::<CitizenCredential>(&subject)?;
        Ok(verify_password(
            stored.as_ref().map(|c| c.password_hash.as_str()),
            secret,
        ))
    }
}

/// Failed sign-ins per key (`ip:…`, `login:…`) within the window.
#[derive(Default)]
pub(crate) struct SignInThrottle(Mutex<HashMap<String, (u32, DateTime<Utc>)>>);

impl SignInThrottle {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, DateTime<Utc>)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refuses while any key has used up its failures; says when to try again.
    fn check(&self, keys: &[String], now: DateTime<Utc>) -> Result<()> {
        let window = Duration::minutes(THROTTLE_WINDOW_MINUTES);
        let mut table = self.table();
        table.retain(|_, (_, since)| now - *since < window);
        let limit = |k: &str| {
            if k.starts_with("ip:") {
                MAX_FAILED_PER_CLIENT
            } else {
                MAX_FAILED_SIGN_INS
            }
        };
        let wait = keys
            .iter()
            .filter_map(|k| table.get(k).map(|v| (k, v)))
            .filter(|(k, (n, _))| *n >= limit(k))
            .map(|(_, v)| v)
            .map(|(_, since)| (*since + window - now).num_seconds().max(1))
            .max();
        match wait {
            Some(seconds) => Err(Error::of(
                Code::SignInThrottled,
                format!(
                    "too many failed sign-ins within {THROTTLE_WINDOW_MINUTES} minutes: try \
                     again in {seconds} s"
                ),
            )),
            None => Ok(()),
        }
    }

    fn failed(&self, keys: &[String], now: DateTime<Utc>) {
        let mut table = self.table();
        for k in keys {
            let entry = table.entry(k.clone()).or_insert((0, now));
            entry.0 += 1;
        }
    }

    fn succeeded(&self, keys: &[String]) {
        let mut table = self.table();
        for k in keys {
            table.remove(k);
        }
    }
}

/// The Argon2id hash of a password, as a PHC string (OWASP's parameters: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::internal(format!("a password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("hashing a password: {e}")))
}

/// A hash to verify against when there is none, so that an unknown name takes as long to
/// refuse as a wrong password.
static DECOY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("a decoy nobody holds").unwrap_or_default());

/// Whether `password` matches `hash` (a missing hash matches nothing, after as much work).
fn verify_password(hash: Option<&str>, password: &str) -> bool {
    let (phc, real) = match hash {
        Some(h) => (h, true),
        None => (DECOY.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

fn token_id(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What an operator gives to open an account.
#[derive(Debug, Clone)]
pub struct NewWebAccount {
    /// The login name.
    pub login: String,
    /// The system the person acts as.
    pub system: String,
    /// Their roles.
    pub roles: Vec<Role>,
    /// Their name.
    pub name: String,
    /// Their first password.
    pub password: String,
}

impl Core {
    /// Opens a web account for a person of a member agency (operators only); the password
    /// is kept as its Argon2id hash.
    pub fn create_web_account(
        &self,
        cap: &RegistryAdmin,
        new: NewWebAccount,
        now: DateTime<Utc>,
    ) -> Result<WebAccount> {
        check_login(&new.login).map_err(|m| Error::of(Code::LoginInvalid, m))?;
        check_password(&new.password).map_err(|m| Error::of(Code::PasswordWeak, m))?;
        if new.roles.is_empty() {
            return Err(Error::of(
                Code::RoleRequired,
                "a web account needs at least one role",
            ));
        }
        self.store
            .catalog()
            .value::<System>(&new.system)?
            .ok_or_else(|| {
                Error::of(
                    Code::SystemNotFound,
                    format!("system {:?} does not exist", new.system),
                )
            })?;
        let account = WebAccount {
            login: new.login,
            system: new.system,
            roles: new.roles,
            name: new.name,
            password_hash: hash_password(&new.password)?,
            disabled: false,
            created_at: now,
        };
        self.store.catalog().insert(&account, now)?;
        self.audit
            .event(cap, "account.create")
            .keys(vec![account.login.clone()])
            .record()?;
        Ok(account)
    }

    /// Sets a citizen's credential for the built-in verifier (operators only).
    pub fn set_citizen_credential(
        &self,
        cap: &RegistryAdmin,
        citizen_id: &str,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        check_password(secret).map_err(|m| Error::of(Code::PasswordWeak, m))?;
        let subject = hex::encode(self.audit.keys().subject_hash(citizen_id));
        let credential = CitizenCredential {
            subject: subject.clone(),
            password_hash: hash_password(secret)?,
            created_at: now,
        };
        let catalog = self.store.catalog();
        match catalog.get::<CitizenCredential>(&subject)? {
            Some(old) => {
                catalog.update(&credential, old.revision, now)?;
            }
            None => {
                catalog.insert(&credential, now)?;
            }
        }
        self.audit
            .event(cap, "citizen-credential.set")
            .subjects(vec![citizen_id.to_owned()])
            .record()?;
        Ok(())
    }

    /// Signs in: checks the throttle, then the credentials; on success stores a session and
    /// returns its token (for the cookie) with it. A failure says only that the pair did
    /// not match, is counted against the client and the name, and is audited.
    pub fn sign_in(
        &self,
        credentials: Credentials<'_>,
        client: Option<IpAddr>,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, WebSession)> {
        let name = match credentials {
            Credentials::Account { login, .. } => format!("login:{login}"),
            Credentials::Citizen { citizen_id, .. } => {
                format!(
                    "citizen:{}",
                    hex::encode(self.audit.keys().subject_hash(citizen_id))
                )
            }
        };
        let keys = vec![
            format!(
                "ip:{}",
                client.map_or_else(|| "unknown".into(), |c| c.to_string())
            ),
            name,
        ];
        let refuse = |refusal: Error| {
            self.audit_denied(
                &Denial {
                    client,
                    claimed: "web-sign-in",
                    operation: "session.sign-in",
                    subject: None,
                    request_id,
                },
                refusal,
            )
        };
        self.sign_ins.check(&keys, now).map_err(refuse)?;
        let holder = match credentials {
            Credentials::Account { login, password } => {
                let account = self.store.catalog().value::<WebAccount>(login)?;
                let ok = verify_password(
                    account
                        .as_ref()
                        .filter(|a| !a.disabled)
                        .map(|a| a.password_hash.as_str()),
                    password,
                );
                ok.then(|| SessionHolder::Account {
                    login: login.to_owned(),
                })
            }
            Credentials::Citizen { citizen_id, secret } => {
                let known = ndx_types::formats::parse_citizen_id(citizen_id).is_ok();
                let ok = self.citizens.verify(citizen_id, secret)? && known;
                ok.then(|| SessionHolder::Citizen {
                    citizen_id: citizen_id.to_owned(),
                })
            }
        };
        let Some(holder) = holder else {
            self.sign_ins.failed(&keys, now);
            return Err(refuse(Error::of(
                Code::SignInFailed,
                "the name and the password do not match",
            )));
        };
        self.sign_ins.succeeded(&keys);
        let token = random_hex();
        let session = WebSession {
            id: token_id(&token),
            holder,
            csrf: random_hex(),
            created_at: now,
            expires_at: now + Duration::hours(SESSION_HOURS),
        };
        self.store.catalog().insert(&session, now)?;
        match &session.holder {
            SessionHolder::Account { .. } => {
                let caller = self.session_caller(&session, request_id)?;
                self.audit.event(&caller, "session.sign-in").record()?;
            }
            SessionHolder::Citizen { citizen_id } => {
                let cap = SubjectRead::citizen(citizen_id.clone(), request_id.to_owned());
                self.audit
                    .event(&cap, "session.sign-in")
                    .subjects(vec![citizen_id.clone()])
                    .record()?;
            }
        }
        Ok((token, session))
    }

    /// The live session of a token, if there is one (an expired one is removed).
    pub fn web_session(&self, token: &str, now: DateTime<Utc>) -> Result<Option<WebSession>> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let catalog = self.store.catalog();
        let Some(found) = catalog.get::<WebSession>(&token_id(token))? else {
            return Ok(None);
        };
        if found.value.expires_at <= now {
            // Another request may have removed it first.
            let _ = catalog.delete::<WebSession>(&found.value.id, found.revision, now);
            return Ok(None);
        }
        Ok(Some(found.value))
    }

    /// Ends the session of a token.
    pub fn sign_out(&self, token: &str, now: DateTime<Utc>) -> Result<()> {
        let catalog = self.store.catalog();
        if let Some(found) = catalog.get::<WebSession>(&token_id(token))? {
            let _ = catalog.delete::<WebSession>(&found.value.id, found.revision, now);
        }
        Ok(())
    }

    /// The caller a person's session acts as: their account's system and roles (key id
    /// `web:LOGIN`). A citizen's session, a disabled account or a removed system mints none.
    pub fn session_caller(&self, session: &WebSession, request_id: &str) -> Result<Caller> {
        let SessionHolder::Account { login } = &session.holder else {
            return Err(Error::of(
                Code::RoleRequired,
                "a citizen's session acts for the citizen only",
            ));
        };
        let account = self
            .store
            .catalog()
            .value::<WebAccount>(login)?
            .filter(|a| !a.disabled)
            .ok_or_else(|| Error::of(Code::SessionRequired, "the account is closed"))?;
        let system = self
            .store
            .catalog()
            .value::<System>(&account.system)?
            .ok_or_else(|| Error::of(Code::SessionRequired, "the account's system is gone"))?;
        let member = self.member(&system.member)?;
        Ok(Caller {
            system,
            member,
            key_id: format!("web:{login}"),
            roles: account.roles,
            request_id: request_id.to_owned(),
            generation: None,
        })
    }

    /// The account of a person's session (for the page's greeting).
    pub fn session_account(&self, session: &WebSession) -> Result<Option<WebAccount>> {
        match &session.holder {
            SessionHolder::Account { login } => Ok(self.store.catalog().value(login)?),
            SessionHolder::Citizen { .. } => Ok(None),
        }
    }

    /// The right a citizen's session gives: to their own data, and nobody else's.
    pub fn session_subject(&self, session: &WebSession, request_id: &str) -> Result<SubjectRead> {
        match &session.holder {
            SessionHolder::Citizen { citizen_id } => Ok(SubjectRead::citizen(
                citizen_id.clone(),
                request_id.to_owned(),
            )),
            SessionHolder::Account { .. } => Err(Error::of(
                Code::NotYourData,
                "only a citizen's own session reads their data",
            )),
        }
    }
}

/// The built-in verifier of a core.
pub(crate) fn stored_credentials(store: &Store, audit: &AuditLog) -> Arc<dyn CitizenVerifier> {
    Arc::new(StoredCredentials {
        store: store.clone(),
        audit: audit.clone(),
    })
}
