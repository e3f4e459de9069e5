//! The audit log's two secrets: the Ed25519 seed that signs tree heads and the key of the
//! keyed hash that indexes data subjects and signs citizens' tracker tokens and list cursors; where they are kept
//! (32-byte seeds as hex files in the data directory, created 0600 on first start).

use std::path::Path;

use hmac::{Hmac, Mac};
use ndx_audit::HeadSigner;
use sha2::Sha256;

use crate::error::Code;
use crate::error::{Error, Result};

/// The audit log's two secrets: the Ed25519 seed that signs tree heads, and the key of the
/// keyed hash that indexes data subjects (so the index never holds a citizen ID in clear) and
/// signs citizens' access tokens.
#[derive(Clone)]
pub struct AuditKeys {
    pub(super) signing_seed: [u8; 32],
    subject_key: [u8; 32],
    /// The subject-index MAC, keyed once (hashing a subject then costs its input only).
    subject_index: SubjectKey,
}

impl std::fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKeys").finish_non_exhaustive()
    }
}

/// Domain of the citizen-token MAC (the subject index uses its own).
const CITIZEN_TOKEN_DOMAIN: &[u8] = b"ndx-citizen-token\0";
/// Domain of the push-subscription signing keys.
const PUSH_SECRET_DOMAIN: &[u8] = b"ndx-push-secret\0";
/// Domain of the list-cursor MAC.
const CURSOR_DOMAIN: &[u8] = b"ndx-cursor\0";
/// Bytes of the cursor MAC kept in a cursor (128 bits: unforgeable, and short enough).
const CURSOR_TAG_BYTES: usize = 16;

/// File name of the head-signing seed in the data directory.
pub const SIGNING_KEY_FILE: &str = "audit-signing.key";
/// File name of the subject-index key in the data directory.
pub const SUBJECT_KEY_FILE: &str = "audit-subjects.key";

impl AuditKeys {
    /// Keys from known seeds (tests).
    pub fn from_seeds(signing_seed: [u8; 32], subject_key: [u8; 32]) -> Self {
        AuditKeys {
            signing_seed,
            subject_key,
            subject_index: SubjectKey::new(&subject_key),
        }
    }

    /// Reads the keys from `dir` (or the signing seed from `signing_file`), creating any that
    /// is missing from the operating system's random source, readable by the owner only.
    pub fn load_or_create(dir: &Path, signing_file: Option<&Path>) -> Result<Self> {
        let signing = signing_file.map_or_else(|| dir.join(SIGNING_KEY_FILE), Path::to_owned);
        Ok(AuditKeys::from_seeds(
            load_or_create_secret(&signing, signing_file.is_none())?,
            load_or_create_secret(&dir.join(SUBJECT_KEY_FILE), true)?,
        ))
    }

    /// Reads the keys from `dir` (or the signing seed from `signing_file`) without creating
    /// any: a missing key is an error (commands that only read a store).
    pub fn load(dir: &Path, signing_file: Option<&Path>) -> Result<Self> {
        let signing = signing_file.map_or_else(|| dir.join(SIGNING_KEY_FILE), Path::to_owned);
        Ok(AuditKeys::from_seeds(
            load_or_create_secret(&signing, false)?,
            load_or_create_secret(&dir.join(SUBJECT_KEY_FILE), false)?,
        ))
    }

    /// The public key that verifies this log's heads.
    pub fn public_key(&self) -> [u8; 32] {
        HeadSigner::from_seed(self.signing_seed).public_key()
    }

    /// HMAC-SHA-256 under the subject key over `domain ‖ citizen_id`, not yet finalised.
    fn keyed(&self, domain: &[u8], citizen_id: &str) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.subject_key).expect("any key length");
        mac.update(domain);
        mac.update(citizen_id.as_bytes());
        mac
    }

    fn mac(&self, domain: &[u8], citizen_id: &str) -> [u8; 32] {
        self.keyed(domain, citizen_id)
            .finalize()
            .into_bytes()
            .into()
    }

    /// The keyed hash a data subject is indexed under.
    pub fn subject_hash(&self, citizen_id: &str) -> [u8; 32] {
        self.subject_index.subject_hash(citizen_id)
    }

    /// The access token of a citizen for their own data tracker: `ndxc_<citizen id>.<mac>`.
    pub fn citizen_token(&self, citizen_id: &str) -> String {
        format!(
            "ndxc_{citizen_id}.{}",
            hex::encode(self.mac(CITIZEN_TOKEN_DOMAIN, citizen_id))
        )
    }

    /// An opaque cursor that resumes a listing of `scope` (e.g. a dataset) after `position`
    /// (e.g. the last key of a page): the position and a MAC over scope and position, hex.
    /// Only this store's nodes (which share the key) can make one, and a cursor of one scope
    /// is refused in another.
    pub fn cursor(&self, scope: &str, position: &str) -> String {
        let mut bytes = position.as_bytes().to_vec();
        bytes.extend_from_slice(&self.cursor_tag(scope, position)[..CURSOR_TAG_BYTES]);
        hex::encode(bytes)
    }

    /// The position a cursor of `scope` resumes after, if this store issued it for `scope`.
    pub fn cursor_position(&self, scope: &str, cursor: &str) -> Option<String> {
        let bytes = hex::decode(cursor).ok()?;
        let split = bytes.len().checked_sub(CURSOR_TAG_BYTES)?;
        let (position, tag) = bytes.split_at(split);
        let position = std::str::from_utf8(position).ok()?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.subject_key).expect("any key");
        cursor_input(&mut mac, scope, position);
        mac.verify_truncated_left(tag).ok()?;
        Some(position.to_owned())
    }

    fn cursor_tag(&self, scope: &str, position: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.subject_key).expect("any key");
        cursor_input(&mut mac, scope, position);
        mac.finalize().into_bytes().into()
    }

    /// The key a push subscription's deliveries are signed with (64 hex digits), derived from
    /// its id and random salt under the node's key, so the store holds no signing key.
    pub fn push_secret(&self, subscription: &str, salt: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.subject_key).expect("any key");
        mac.update(PUSH_SECRET_DOMAIN);
        mac.update(&(subscription.len() as u64).to_be_bytes());
        mac.update(subscription.as_bytes());
        mac.update(salt.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The citizen a token belongs to, if it is genuine.
    pub fn citizen_of_token(&self, token: &str) -> Option<String> {
        let (citizen, tag) = token.strip_prefix("ndxc_")?.split_once('.')?;
        let tag = hex::decode(tag).ok()?;
        self.keyed(CITIZEN_TOKEN_DOMAIN, citizen)
            .verify_slice(&tag)
            .ok()?;
        Some(citizen.to_owned())
    }
}

/// What a cursor's MAC covers: the domain, the scope's length and bytes, the position (the
/// length prefix keeps scope "ab" + position "c" apart from scope "a" + position "bc").
fn cursor_input(mac: &mut Hmac<Sha256>, scope: &str, position: &str) {
    mac.update(CURSOR_DOMAIN);
    mac.update(&(scope.len() as u64).to_be_bytes());
    mac.update(scope.as_bytes());
    mac.update(position.as_bytes());
}

/// The key of the subject index alone: what a verifier needs to rebuild the index from the
/// entries (it cannot sign heads or citizen tokens).
#[derive(Clone)]
pub struct SubjectKey(Hmac<Sha256>);

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubjectKey").finish_non_exhaustive()
    }
}

impl SubjectKey {
    /// Reads `audit-subjects.key` from `dir`, never creating it.
    pub fn load(dir: &Path) -> Result<Self> {
        Ok(SubjectKey::new(&load_or_create_secret(
            &dir.join(SUBJECT_KEY_FILE),
            false,
        )?))
    }

    fn new(key: &[u8; 32]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
        mac.update(b"ndx-subject\0");
        SubjectKey(mac)
    }

    /// The keyed hash a data subject is indexed under (HMAC-SHA-256 over
    /// `ndx-subject\0 ‖ citizen id`).
    pub fn subject_hash(&self, citizen_id: &str) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(citizen_id.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

fn key_error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::of(
        Code::AuditKey,
        format!("audit key {}: {what}", path.display()),
    )
}

/// A 32-byte secret kept as hex in `path`; created when `create` and missing.
fn load_or_create_secret(path: &Path, create: bool) -> Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|e| key_error(path, e))?;
            bytes
                .try_into()
                .map_err(|_| key_error(path, "must hold 64 hex digits"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let mut seed = [0u8; 32];
            rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut seed)
                .map_err(|e| key_error(path, format!("no random source: {e}")))?;
            write_private(path, &format!("{}\n", hex::encode(seed)))?;
            // Another process may have created it first: whoever won, everybody uses the file.
            load_or_create_secret(path, false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(key_error(
            path,
            "is missing (is --data-dir the node's data directory?)",
        )),
        Err(e) => Err(key_error(path, e)),
    }
}

fn write_private(path: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| key_error(path, e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(content.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| key_error(path, e))?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(key_error(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_resumes_only_where_and_in_the_scope_it_was_issued() {
        let keys = AuditKeys::from_seeds([1; 32], [2; 32]);
        for position in ["", "001090000001", "a|b", "Nguyễn"] {
            let c = keys.cursor("population", position);
            assert_eq!(
                keys.cursor_position("population", &c).as_deref(),
                Some(position)
            );
            assert_eq!(keys.cursor_position("civil-service", &c), None);
            assert_eq!(keys.cursor_position("populatio", &c), None);
        }
        // The scope/position boundary is part of what is signed.
        let c = keys.cursor("ab", "c");
        assert_eq!(keys.cursor_position("a", &c), None);
        // Another store's key, a bare position, a truncated tag: refused.
        let other = AuditKeys::from_seeds([1; 32], [3; 32]);
        assert_eq!(other.cursor_position("ab", &c), None);
        assert_eq!(keys.cursor_position("ab", &hex::encode("c")), None);
        assert_eq!(keys.cursor_position("ab", &c[..c.len() - 2]), None);
        assert_eq!(keys.cursor_position("ab", ""), None);
    }

    /// The subject index's keyed hash is HMAC-SHA-256 over `ndx-subject\0 ‖ citizen id`
    /// (what an outside verifier recomputes), however the MAC state is prepared.
    #[test]
    fn subject_hashes_are_hmac_over_the_domain_and_the_id() {
        let keys = AuditKeys::from_seeds([1; 32], [2; 32]);
        for id in ["001090000001", "", "079190001234"] {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[2; 32]).expect("key");
            mac.update(b"ndx-subject\0");
            mac.update(id.as_bytes());
            let want: [u8; 32] = mac.finalize().into_bytes().into();
            assert_eq!(keys.subject_hash(id), want);
            assert_eq!(SubjectKey::new(&[2; 32]).subject_hash(id), want);
        }
    }

    /// Loading without creating refuses a directory without keys and creates nothing.
    #[test]
    fn keys_are_loaded_without_being_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = AuditKeys::load(dir.path(), None).expect_err("no keys");
        assert!(err.message.contains("is missing"), "{}", err.message);
        assert!(SubjectKey::load(dir.path()).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
        let created = AuditKeys::load_or_create(dir.path(), None).expect("create");
        let loaded = AuditKeys::load(dir.path(), None).expect("load");
        assert_eq!(created.public_key(), loaded.public_key());
        assert_eq!(
            SubjectKey::load(dir.path())
                .expect("subject key")
                .subject_hash("x"),
            created.subject_hash("x")
        );
    }
}
