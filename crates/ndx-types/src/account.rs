//! Signing in to the web UI, pure: the accounts of the people of member agencies, citizens'
//! credentials, web sessions, and the rules a login name and a password must follow. Hashing
//! and storage are the core's; nothing here holds a password in clear.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::registry::Role;

/// How long a web session lasts from sign-in.
pub const SESSION_HOURS: i64 = 8;

/// A person of a member agency who signs in to the web UI. They act as one of the member's
/// systems, with roles as an API key of that system would have them, so that every check and
/// every audit entry is the API's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebAccount {
    /// The login name (see [`check_login`]).
    pub login: String,
    /// The system the person acts as.
    pub system: String,
    /// The roles they hold.
    pub roles: Vec<Role>,
    /// Their name, as the pages greet them.
    pub name: String,
    /// The Argon2id hash of their password (PHC string).
    pub password_hash: String,
    /// A disabled account cannot sign in.
    #[serde(default)]
    pub disabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A citizen's credential: the Argon2id hash of their password, filed under the keyed hash of
/// their citizen ID (the audit log's subject hash), so the catalogue never lists who has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CitizenCredential {
    /// The keyed hash of the citizen ID.
    pub subject: String,
    /// The Argon2id hash of the password (PHC string).
    pub password_hash: String,
    /// When it was set.
    pub created_at: DateTime<Utc>,
}

/// Who a session is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SessionHolder {
    /// A person of a member agency.
    Account {
        /// Their login name.
        login: String,
    },
    /// A citizen.
    Citizen {
        /// Their citizen ID.
        citizen_id: String,
    },
}

/// A signed-in web session. The cookie holds a random token; the store holds only its
/// SHA-256, so a copy of the store opens no session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSession {
    /// The SHA-256 of the token, in hex.
    pub id: String,
    /// Who signed in.
    pub holder: SessionHolder,
    /// The token every form of the session carries (cross-site request forgery).
    pub csrf: String,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// A login name: 3 to 64 lowercase letters, digits, `.`, `_` or `-`, starting with a letter.
pub fn check_login(login: &str) -> Result<(), String> {
    let ok = (3..=64).contains(&login.len())
        && login.starts_with(|c: char| c.is_ascii_lowercase())
        && login.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "login {login:?} must be 3-64 lowercase letters, digits, '.', '_' or '-', starting with a letter"
        ))
    }
}

/// A password: 10 to 128 characters, not one character repeated (NIST SP 800-63B asks for
/// length, not composition).
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if !(10..=128).contains(&n) {
        return Err(format!("a password has 10 to 128 characters, not {n}"));
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err("a password is not one character repeated".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_and_passwords_follow_their_rules() {
        for good in ["lan.nguyen", "bca-provider", "a_b"] {
            assert_eq!(check_login(good), Ok(()), "{good}");
        }
        for bad in ["ab", "Lan", "1lan", "lan nguyen", "lan@bca", "", "é-lan"] {
            assert!(check_login(bad).is_err(), "{bad}");
        }
        assert_eq!(check_password("correct horse battery"), Ok(()));
        assert!(check_password("short").is_err());
        assert!(check_password("aaaaaaaaaaaa").is_err());
        assert!(check_password(&"x".repeat(60).replace("xx", "xy")).is_ok());
        assert!(check_password(&"ab".repeat(65)).is_err());
    }

    #[test]
    fn a_session_holder_is_tagged_by_kind() {
        let h = SessionHolder::Citizen {
            citizen_id: "001090001234".into(),
        };
        let json = serde_json::to_value(&h).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"kind": "citizen", "citizen_id": "001090001234"})
        );
    }
}
