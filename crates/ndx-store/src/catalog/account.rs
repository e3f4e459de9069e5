//! The catalogue kinds of web sign-in: accounts (by login, referring to their system),
//! citizens' credentials (by the keyed hash of the citizen ID) and sessions (by the SHA-256
//! of their token). Credentials and sessions are written at every sign-in and never cached.

use ndx_types::account::{CitizenCredential, WebAccount, WebSession};
use ndx_types::registry::System;

use super::{Attribute, Kind};

/// Attribute names (stable once released).
pub mod attr {
    /// The system an account acts as.
    pub const SYSTEM: &str = "system";
}

impl Kind for WebAccount {
    const KIND: &'static str = "web-account";
    const NOUN: &'static str = "web account";
    fn id(&self) -> String {
        self.login.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::reference::<System>(attr::SYSTEM, &self.system)]
    }
}

impl Kind for CitizenCredential {
    const KIND: &'static str = "citizen-credential";
    const NOUN: &'static str = "citizen credential";
    const WATCHED: bool = false;
    fn id(&self) -> String {
        self.subject.clone()
    }
}

impl Kind for WebSession {
    const KIND: &'static str = "web-session";
    const NOUN: &'static str = "web session";
    const WATCHED: bool = false;
    fn id(&self) -> String {
        self.id.clone()
    }
    // A session's id is a digest: messages never repeat it.
    fn describe(&self) -> String {
        "a web session".into()
    }
}
