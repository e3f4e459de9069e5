//! The registry: members, their systems, API keys (generated here, stored as SHA-256 hashes,
//! shown once) and authentication.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ndx_types::registry::{ApiKey, Jurisdiction, KeyState, Member, MemberLevel, Role, System};
use rand::TryRngCore;
use sha2::{Digest, Sha256};

use ndx_store::{ApiKeyRecord, KeyHolder};

use crate::Core;
use crate::access::{Caller, RegistryAdmin};
use crate::error::Code;
use crate::error::{Error, Result};

/// A member to admit.
#[derive(Debug, Clone)]
pub struct NewMember {
    /// Stable code: uppercase letters, digits and `-`.
    pub code: String,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Level.
    pub level: MemberLevel,
    /// Jurisdiction.
    pub jurisdiction: Jurisdiction,
}

/// A key to issue.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The system it authenticates.
    pub system: String,
    /// Roles it grants (at least one).
    pub roles: Vec<Role>,
    /// Label for people.
    pub label: String,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Whether `s` is a registry code: 2–64 chars of `A-Z`, `0-9`, `-`, starting with a letter.
pub fn is_registry_code(s: &str) -> bool {
    s.len() >= 2
        && s.len() <= 64
        && s.as_bytes()[0].is_ascii_uppercase()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

fn check_code(what: &str, code: &str) -> Result<()> {
    if is_registry_code(code) {
        Ok(())
    } else {
        Err(Error::of(
            Code::CodeInvalid,
            format!("{what} code {code:?} must be 2-64 uppercase letters, digits or '-'"),
        ))
    }
}

/// SHA-256 of a presented key, hex. Keys carry 256 random bits, so a fast hash is safe here
/// (a slow password hash protects low-entropy secrets, which these are not).
pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `key` is an operator key that authenticates at `now` and has not been revoked. A
/// revocation counts from the moment it is stored, whatever its time: two concurrent requests
/// take their `now` before their transactions, so the one that commits second can see a
/// revocation stamped later than its own `now` (counting that key as still active let two
/// operator keys revoke each other).
fn is_active_operator(key: &ApiKey, now: DateTime<Utc>) -> bool {
    key.roles.contains(&Role::Operator)
        && key.revoked_at.is_none()
        && key.state(now) == KeyState::Active
}

/// How a key is described in its audit events: its system and roles (never its secret).
fn key_query(key: &ApiKey) -> String {
    let roles: Vec<&str> = key.roles.iter().map(|r| r.name()).collect();
    format!("system={}&roles={}", key.system, roles.join(","))
}

/// Prefix of every ndx API key.
pub const KEY_PREFIX: &str = "ndx_";

impl Core {
    /// Admits a member.
    pub fn create_member(
        &self,
        cap: &RegistryAdmin,
        m: NewMember,
        now: DateTime<Utc>,
    ) -> Result<Member> {
        let member = self.insert_member(m, now)?;
        self.audit
            .event(cap, "member.create")
            .keys(vec![member.code.clone()])
            .record()?;
        Ok(member)
    }

    fn insert_member(&self, m: NewMember, now: DateTime<Utc>) -> Result<Member> {
        check_code("member", &m.code)?;
        if m.name_vi.trim().is_empty() || m.name_en.trim().is_empty() {
            return Err(Error::of(
                Code::NameMissing,
                "a member needs a Vietnamese and an English name",
            ));
        }
        check_name("member name_vi", &m.name_vi)?;
        check_name("member name_en", &m.name_en)?;
        let country = &m.jurisdiction.country;
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Error::of(
                Code::CountryInvalid,
                format!("country {country:?} must be an ISO 3166-1 alpha-2 code such as \"VN\""),
            ));
        }
        if matches!(m.level, MemberLevel::Province | MemberLevel::Commune)
            && m.jurisdiction.province.is_none()
        {
            return Err(Error::of(
                Code::ProvinceMissing,
                format!("a {:?} member needs jurisdiction.province", m.level),
            ));
        }
        if let Some(p) = &m.jurisdiction.province
            && country == "VN"
            && ndx_types::reference::province_2025(p).is_none()
        {
            return Err(Error::of(
                Code::ProvinceUnknown,
                format!("province {p:?} is not a 2025 province code"),
            ));
        }
        let member = Member {
            code: m.code,
            name_vi: m.name_vi,
            name_en: m.name_en,
            level: m.level,
            jurisdiction: m.jurisdiction,
            created_at: now,
        };
        self.store.catalog().insert(&member, member.created_at)?;
        Ok(member)
    }

    /// Registers a system of a member.
    pub fn create_system(
        &self,
        cap: &RegistryAdmin,
        member: &str,
        code: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<System> {
        let system = self.insert_system(member, code, name, now)?;
        self.audit
            .event(cap, "system.create")
            .keys(vec![system.code.clone()])
            .query(Some(format!("member={}", system.member)))
            .record()?;
        Ok(system)
    }

    fn insert_system(
        &self,
        member: &str,
        code: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<System> {
        check_code("system", code)?;
        if !name.is_empty() {
            check_name("system name", name)?;
        }
        let system = System {
            code: code.to_owned(),
            member: member.to_owned(),
            name: name.to_owned(),
            created_at: now,
        };
        self.store.catalog().insert(&system, system.created_at)?;
        Ok(system)
    }

    /// Issues a key; returns its metadata and the secret, which is never shown again. The
    /// issuance is recorded in the audit log (`key.issue`) before the secret is returned.
    pub fn issue_key(
        &self,
        cap: &RegistryAdmin,
        k: NewKey,
        now: DateTime<Utc>,
    ) -> Result<(ApiKey, String)> {
        self.issue_key_audited(cap, k, now, None)
    }

    /// Break-glass: issues a key from the command line, on the store directly (with the server
    /// stopped), for when no operator key is left. Whoever holds the store acts as the key's
    /// own system; the issuance is audited like one over the API, its reason saying it was a
    /// break-glass issuance. Never reachable over HTTP.
    pub fn issue_key_break_glass(&self, k: NewKey, now: DateTime<Utc>) -> Result<(ApiKey, String)> {
        let cap = self
            .local_caller(&k.system, vec![Role::Operator])?
            .registry_admin()?;
        self.issue_key_audited(
            &cap,
            k,
            now,
            Some("break-glass: issued on the store by `ndx keys issue`"),
        )
    }

    fn issue_key_audited(
        &self,
        cap: &RegistryAdmin,
        k: NewKey,
        now: DateTime<Utc>,
        reason: Option<&str>,
    ) -> Result<(ApiKey, String)> {
        let (key, secret) = self.insert_key(k, now)?;
        let mut event = self
            .audit
            .event(cap, "key.issue")
            .keys(vec![key.id.clone()])
            .query(Some(key_query(&key)));
        if let Some(r) = reason {
            event = event.reason(r);
        }
        event.record()?;
        Ok((key, secret))
    }

    fn insert_key(&self, k: NewKey, now: DateTime<Utc>) -> Result<(ApiKey, String)> {
        if k.roles.is_empty() {
            return Err(Error::of(
                Code::RolesMissing,
                "a key needs at least one role",
            ));
        }
        if k.expires_at.is_some_and(|e| e <= now) {
            return Err(Error::of(
                Code::ExpiryInPast,
                "expires_at must be in the future",
            ));
        }
        if self.store.catalog().value::<System>(&k.system)?.is_none() {
            return Err(Error::of(
                Code::SystemNotFound,
                format!("system {:?} does not exist", k.system),
            ));
        }
        let mut bytes = [0u8; 36];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| Error::internal(format!("no randomness for a new key: {e}")))?;
        let id = hex::encode(&bytes[..4]);
        let secret = format!("{KEY_PREFIX}{id}_{}", hex::encode(&bytes[4..]));
        let mut roles = k.roles;
        roles.sort();
        roles.dedup();
        let key = ApiKey {
            id,
            system: k.system,
            roles,
            label: k.label,
            created_at: now,
            expires_at: k.expires_at,
            revoked_at: None,
        };
        self.store.catalog().insert(
            &ApiKeyRecord {
                key: key.clone(),
                key_hash: hash_key(&secret),
            },
            key.created_at,
        )?;
        Ok((key, secret))
    }

    /// Revokes a key; revoking twice keeps the first time. The last active operator key is
    /// not revoked (that would leave the platform with no operator): the refusal is a conflict,
    /// recorded in the audit log like the revocation.
    pub fn revoke_key(&self, cap: &RegistryAdmin, id: &str, now: DateTime<Utc>) -> Result<ApiKey> {
        // The check and the revocation are one catalogue transaction that locks every operator
        // key it counts (first, in id order, so that two revocations never wait for each other
        // in a circle): two revocations, in this process or another one on the same store,
        // cannot both see another active operator and both go through.
        let decided = self.store.catalog().transaction(|tx| {
            let operators = tx.find::<ApiKeyRecord>(ApiKeyRecord::ROLE, Role::Operator.name())?;
            let Some(target) = tx.get::<ApiKeyRecord>(id)? else {
                return Ok(None);
            };
            let active = operators
                .iter()
                .filter(|k| is_active_operator(&k.value.key, now))
                .count();
            if is_active_operator(&target.value.key, now) && active <= 1 {
                return Ok(Some(Err(target.value.key)));
            }
            Ok(Some(Ok(tx.revoke_api_key(target, now)?)))
        })?;
        let key = match decided {
            None => {
                return Err(Error::of(
                    Code::KeyNotFound,
                    format!("api key {id:?} does not exist"),
                ));
            }
            Some(Err(_last)) => {
                let refusal = Error::of(
                    Code::LastOperatorKey,
                    format!(
                        "api key {id:?} is the last active operator key: revoking it would leave \
                         no operator; issue another operator key first"
                    ),
                );
                self.audit
                    .event(cap, "key.revoke")
                    .keys(vec![id.to_owned()])
                    .refused(&refusal)
                    .record_refusal()?;
                return Err(refusal);
            }
            Some(Ok(key)) => key,
        };
        self.audit
            .event(cap, "key.revoke")
            .keys(vec![key.id.clone()])
            .query(Some(key_query(&key)))
            .record()?;
        Ok(key)
    }

    /// Keys of a system (metadata only); an unknown system is `system-not-found`, not an empty
    /// list, so a mistyped code is not mistaken for a system without keys.
    pub fn keys(&self, _cap: &RegistryAdmin, system: &str) -> Result<Vec<ApiKey>> {
        if self.store.catalog().value::<System>(system)?.is_none() {
            return Err(Error::of(
                Code::SystemNotFound,
                format!("system {system:?} does not exist"),
            ));
        }
        Ok(self.store.catalog().api_keys(system)?)
    }

    /// All members.
    pub fn members(&self) -> Result<Vec<Member>> {
        Ok(self.store.catalog().values::<Member>()?)
    }

    /// One member.
    pub fn member(&self, code: &str) -> Result<Member> {
        self.member_at(self.generation()?, code)
            .map(|m| (*m).clone())
    }

    /// One member as of catalogue generation `generation` (or later), from the cache.
    pub(crate) fn member_at(&self, generation: u64, code: &str) -> Result<Arc<Member>> {
        self.catalog_cache
            .get(
                generation,
                |s| &mut s.members,
                code,
                || Ok(self.store.catalog().value::<Member>(code)?),
            )?
            .ok_or_else(|| {
                Error::of(
                    Code::MemberNotFound,
                    format!("member {code:?} does not exist"),
                )
            })
    }

    /// Whether a member is admitted.
    pub fn has_member(&self, code: &str) -> Result<bool> {
        Ok(self.store.catalog().get::<Member>(code)?.is_some())
    }

    /// All systems.
    pub fn systems(&self) -> Result<Vec<System>> {
        Ok(self.store.catalog().values::<System>()?)
    }

    /// Authenticates a presented key.
    pub fn authenticate(&self, secret: &str, now: DateTime<Utc>) -> Result<Caller> {
        self.authenticate_at(secret, now, None)
    }

    /// [`Core::authenticate`] on the catalogue as of `generation` when the caller has just read
    /// it (with the record a lookup answers: [`Core::current_with_generation`]); read here
    /// otherwise.
    pub fn authenticate_at(
        &self,
        secret: &str,
        now: DateTime<Utc>,
        generation: Option<u64>,
    ) -> Result<Caller> {
        let unauth = |code: Code, msg: String| Error::of(code, msg);
        if !secret.starts_with(KEY_PREFIX) || secret.len() > 200 {
            return Err(unauth(
                Code::KeyMalformed,
                "the bearer token is not an ndx api key".into(),
            ));
        }
        // The holder comes from the catalogue cache while no key, system or member changed
        // anywhere: a revoked key is refused on the next request all the same.
        let hash = hash_key(secret);
        let generation = match generation {
            Some(g) => g,
            None => self.generation()?,
        };
        let Some(holder) = self.catalog_cache.get(
            generation,
            |s| &mut s.key_holders,
            &hash,
            || Ok(self.store.catalog().key_holder(&hash)?),
        )?
        else {
            return Err(unauth(Code::KeyUnknown, "the api key is not known".into()));
        };
        let KeyHolder {
            key,
            system,
            member,
        } = (*holder).clone();
        match key.state(now) {
            KeyState::Active => {}
            KeyState::Expired => {
                return Err(unauth(
                    Code::KeyExpired,
                    format!("api key {:?} expired", key.id),
                ));
            }
            KeyState::Revoked => {
                return Err(unauth(
                    Code::KeyRevoked,
                    format!("api key {:?} was revoked", key.id),
                ));
            }
        }
        Ok(Caller {
            system,
            member,
            key_id: key.id,
            roles: key.roles,
            // The HTTP edge names the request; a command-line caller is its process.
            request_id: format!("local-{}", std::process::id()),
            generation: Some(generation),
        })
    }

    /// A caller for the command line: whoever holds the data directory may act as any
    /// registered system, with the roles given. Never reachable over HTTP.
    pub fn local_caller(&self, system: &str, roles: Vec<Role>) -> Result<Caller> {
        let system = self
            .store
            .catalog()
            .value::<System>(system)?
            .ok_or_else(|| {
                Error::of(
                    Code::SystemNotFound,
                    format!("system {system:?} does not exist"),
                )
            })?;
        let member = self.member(&system.member)?;
        Ok(Caller {
            system,
            member,
            key_id: "local".into(),
            roles,
            request_id: format!("local-{}", std::process::id()),
            generation: None,
        })
    }

    /// On an empty registry, admits the operating member with one system and an operator key
    /// and returns the key; on a non-empty one, returns `None`. This is how a fresh
    /// installation gets its first credential.
    pub fn bootstrap(
        &self,
        operator: NewMember,
        system_code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        if !self.store.catalog().values::<Member>()?.is_empty() {
            return Ok(None);
        }
        let member = self.insert_member(operator, now)?;
        self.insert_system(&member.code, system_code, "Operations console", now)?;
        let cap = self
            .local_caller(system_code, vec![Role::Operator])?
            .registry_admin()?;
        let (_, secret) = self.issue_key_audited(
            &cap,
            NewKey {
                system: system_code.to_owned(),
                roles: vec![Role::Operator, Role::Steward, Role::Auditor],
                label: "bootstrap operator key".into(),
                expires_at: None,
            },
            now,
            Some("bootstrap: the first operator key of a fresh installation"),
        )?;
        Ok(Some(secret))
    }
}

/// A name is one line of visible text ([`ndx_types::text::check_characters`]).
fn check_name(what: &str, name: &str) -> Result<()> {
    ndx_types::text::check_characters(name, false)
        .map_err(|fault| Error::of(Code::TextInvalid, format!("{what} {}", fault.describe())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a request that took its `now` before another request's revocation was
    /// stamped, and committed after it, counted the revoked key as an active operator, so two
    /// operator keys could revoke each other (seen on PostgreSQL in about one run in three of
    /// `two_operator_keys_revoking_each_other_at_once_leave_one`).
    #[test]
    fn a_revocation_stamped_after_now_still_counts() {
        let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("time");
        let key = |revoked_at, expires_at| ApiKey {
            id: "k".into(),
            system: "NDC-OPS".into(),
            roles: vec![Role::Operator],
            label: String::new(),
            created_at: now - chrono::Duration::hours(1),
            expires_at,
            revoked_at,
        };
        assert!(is_active_operator(&key(None, None), now));
        let later = now + chrono::Duration::milliseconds(1);
        assert!(!is_active_operator(&key(Some(later), None), now));
        assert!(!is_active_operator(&key(Some(now), None), now));
        assert!(!is_active_operator(&key(None, Some(now)), now));
        assert!(is_active_operator(&key(None, Some(later)), now));
        let steward = ApiKey {
            roles: vec![Role::Steward],
            ..key(None, None)
        };
        assert!(!is_active_operator(&steward, now));
    }

    #[test]
    fn registry_codes() {
        for good in ["BCA", "UBND-01", "NDC-OPS", "B2"] {
            assert!(is_registry_code(good), "{good}");
        }
        for bad in ["", "B", "bca", "1BC", "BC A", "BC_A", "Bộ"] {
            assert!(!is_registry_code(bad), "{bad}");
        }
    }
}
