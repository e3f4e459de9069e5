//! Registry types: member agencies, their information systems, API keys and roles.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The administrative level of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberLevel {
    /// A ministry or central agency.
    Central,
    /// A province-level people's committee or department.
    Province,
    /// A commune-level unit.
    Commune,
    /// An enterprise (e.g. a state-owned utility).
    Enterprise,
    /// A foreign or international party.
    Foreign,
}

/// Where a member's data lives by law: country (ISO 3166-1 alpha-2) and, inside it, a province.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jurisdiction {
    /// ISO 3166-1 alpha-2 country code, e.g. `VN`.
    pub country: String,
    /// 2025 province code, for province and commune members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
}

/// A member agency of the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Stable code, e.g. `BCA`, `UBND-01`.
    pub code: String,
    /// Name in Vietnamese.
    pub name_vi: String,
    /// Name in English.
    pub name_en: String,
    /// Administrative level.
    pub level: MemberLevel,
    /// Jurisdiction.
    pub jurisdiction: Jurisdiction,
    /// When it was admitted.
    pub created_at: DateTime<Utc>,
}

/// An information system owned by a member (an X-Road subsystem).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct System {
    /// Stable code, unique platform-wide, e.g. `BCA-POPULATION`.
    pub code: String,
    /// Owning member.
    pub member: String,
    /// Human name.
    pub name: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Runs the platform: admits members, issues credentials.
    Operator,
    /// Keeps the dictionary and code lists.
    Steward,
    /// Registers and loads its own member's datasets.
    Provider,
    /// Uses data under agreements.
    Consumer,
    /// Reads the audit trail.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Operator,
        Role::Steward,
        Role::Provider,
        Role::Consumer,
        Role::Auditor,
    ];
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Steward => "steward",
            Role::Provider => "provider",
            Role::Consumer => "consumer",
            Role::Auditor => "auditor",
        }
    }
}

/// An API key's metadata; the secret itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Public identifier of the key (also its visible prefix).
    pub id: String,
    /// The system the key authenticates.
    pub system: String,
    /// The roles it grants.
    pub roles: Vec<Role>,
    /// A label for people.
    pub label: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a key does not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Usable.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
}

impl ApiKey {
    /// The key's state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> KeyState {
        if self.revoked_at.is_some_and(|r| r <= now) {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
    }
}
