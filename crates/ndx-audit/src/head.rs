//! Signed tree heads: the log operator's Ed25519 signature over a tree size, its root and a
//! time, which is what makes the log tamper-evident to outsiders.
//!
//! # Signed message
//!
//! The signature is Ed25519 (RFC 8032, pure, no context) over these 64 bytes:
//!
//! | bytes  | content                                                               |
//! |--------|-----------------------------------------------------------------------|
//! | 0..16  | the ASCII text `ndx-audit-sth-v1`                                      |
//! | 16..24 | `tree_size`, unsigned 64-bit big-endian                                |
//! | 24..32 | `timestamp` in milliseconds since 1970-01-01T00:00:00Z, unsigned 64-bit big-endian |
//! | 32..64 | `root_hash`, the RFC 9162 root of the first `tree_size` leaves         |
//!
//! Verification uses RFC 8032's strict checks (canonical `S`, no small-order key or `R`).
//!
//! # JSON form
//!
//! ```json
//! {"tree_size":3,"timestamp":"2025-07-01T08:30:00.123Z",
//!  "root_hash":"<64 hex digits>","signature":"<128 hex digits>"}
//! ```
//!
//! `timestamp` is RFC 3339 in UTC with exactly three fractional digits; hex is lower case
//! (either case is read). Timestamps finer than a millisecond, or before 1970, are rejected
//! because they cannot be signed.
//!
//! # Public key
//!
//! The 32-byte Ed25519 public key is published as 64 hex digits or as a PEM `PUBLIC KEY`
//! (RFC 8410 SubjectPublicKeyInfo, as `openssl pkey -pubout` writes it).

use chrono::{DateTime, SecondsFormat, SubsecRound as _, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

use crate::merkle::Hash;
use crate::pem;

/// The first 16 bytes of every signed message: names the format and its version.
pub const SIGNED_MESSAGE_PREFIX: &[u8; 16] = b"ndx-audit-sth-v1";

/// A tree head with the log operator's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTreeHead {
    /// The number of leaves the head covers.
    pub tree_size: u64,
    /// When the head was signed, to the millisecond.
    #[serde(with = "millis")]
    pub timestamp: DateTime<Utc>,
    /// The root of the first `tree_size` leaves.
    #[serde(with = "hex_bytes")]
    pub root_hash: Hash,
    /// The Ed25519 signature over [`signed_message`].
    #[serde(with = "hex_bytes")]
    pub signature: [u8; 64],
}

/// Why a head could not be signed or verified, or a key not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The timestamp is before 1970 and has no unsigned millisecond count.
    #[error("tree head timestamp {0} is before the Unix epoch")]
    TimestampBeforeEpoch(DateTime<Utc>),
    /// The timestamp carries more than millisecond precision, which the signature cannot cover.
    #[error("tree head timestamp {0} is finer than a millisecond")]
    SubMillisecondTimestamp(DateTime<Utc>),
    /// The public key bytes are not an Ed25519 point.
    #[error("public key is not a valid Ed25519 key")]
    InvalidPublicKey,
    /// The signature does not verify under the public key.
    #[error("tree head signature does not verify")]
    BadSignature,
    /// A hex public key is not 64 hex digits.
    #[error("public key {0:?} is not 64 hex digits")]
    PublicKeyHex(String),
    /// A PEM public key is not an Ed25519 SubjectPublicKeyInfo.
    #[error("public key PEM is not an Ed25519 PUBLIC KEY: {0}")]
    PublicKeyPem(&'static str),
}

/// The 64 bytes that are signed (see the [module docs](self)).
pub fn signed_message(tree_size: u64, timestamp_millis: u64, root_hash: &Hash) -> [u8; 64] {
    let mut message = [0u8; 64];
    message[..16].copy_from_slice(SIGNED_MESSAGE_PREFIX);
    message[16..24].copy_from_slice(&tree_size.to_be_bytes());
    message[24..32].copy_from_slice(&timestamp_millis.to_be_bytes());
    message[32..].copy_from_slice(root_hash);
    message
}

/// Milliseconds since the epoch of a timestamp that is exact to the millisecond and not before
/// 1970.
fn exact_millis(timestamp: DateTime<Utc>) -> Result<u64, HeadError> {
    if !timestamp.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        return Err(HeadError::SubMillisecondTimestamp(timestamp));
    }
    u64::try_from(timestamp.timestamp_millis())
        .map_err(|_| HeadError::TimestampBeforeEpoch(timestamp))
}

impl SignedTreeHead {
    /// The message this head's signature covers.
    pub fn message(&self) -> Result<[u8; 64], HeadError> {
        Ok(signed_message(
            self.tree_size,
            exact_millis(self.timestamp)?,
            &self.root_hash,
        ))
    }
}

/// Signs tree heads with the log's Ed25519 key. The key is zeroised on drop and never printed.
pub struct HeadSigner {
    key: SigningKey,
}

impl std::fmt::Debug for HeadSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadSigner")
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

impl HeadSigner {
    /// The signer for the RFC 8032 secret key `seed` (32 bytes, from a secure random source).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The public key that verifies this signer's heads.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs the head of the first `tree_size` leaves, whose root is `root_hash`, at
    /// `timestamp` truncated to the millisecond. Fails only for times before 1970.
    pub fn sign(
        &self,
        tree_size: u64,
        root_hash: Hash,
        timestamp: DateTime<Utc>,
    ) -> Result<SignedTreeHead, HeadError> {
        let timestamp = timestamp.trunc_subsecs(3);
        let millis = exact_millis(timestamp)?;
        let signature = self
            .key
            .sign(&signed_message(tree_size, millis, &root_hash))
            .to_bytes();
        Ok(SignedTreeHead {
            tree_size,
            timestamp,
            root_hash,
            signature,
        })
    }
}

/// Verifies a head's signature under `public_key`.
pub fn verify_head(public_key: &[u8; 32], head: &SignedTreeHead) -> Result<(), HeadError> {
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| HeadError::InvalidPublicKey)?;
    let message = head.message()?;
    key.verify_strict(&message, &Signature::from_bytes(&head.signature))
        .map_err(|_| HeadError::BadSignature)
}

/// Checks that 32 bytes are an Ed25519 public key.
fn checked_key(bytes: [u8; 32]) -> Result<[u8; 32], HeadError> {
    VerifyingKey::from_bytes(&bytes).map_err(|_| HeadError::InvalidPublicKey)?;
    Ok(bytes)
}

/// A public key as 64 lower-case hex digits.
pub fn public_key_to_hex(public_key: &[u8; 32]) -> String {
    hex::encode(public_key)
}

/// Reads a public key written as 64 hex digits (surrounding whitespace ignored).
pub fn public_key_from_hex(text: &str) -> Result<[u8; 32], HeadError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes)
        .map_err(|_| HeadError::PublicKeyHex(text.to_owned()))?;
    checked_key(bytes)
}

/// A public key as a PEM `PUBLIC KEY` block (RFC 8410 SubjectPublicKeyInfo), ending in a newline.
pub fn public_key_to_pem(public_key: &[u8; 32]) -> String {
    pem::encode_public_key(public_key)
}

/// Reads a PEM `PUBLIC KEY` block holding an Ed25519 SubjectPublicKeyInfo.
pub fn public_key_from_pem(text: &str) -> Result<[u8; 32], HeadError> {
    checked_key(pem::decode_public_key(text).map_err(HeadError::PublicKeyPem)?)
}

/// `timestamp`: RFC 3339 UTC with milliseconds.
mod millis {
    use super::*;

    pub fn serialize<S: Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&time.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        let time = DateTime::parse_from_rfc3339(&text)
            .map_err(|e| D::Error::custom(format!("timestamp {text:?} is not RFC 3339: {e}")))?
            .to_utc();
        exact_millis(time).map_err(D::Error::custom)?;
        Ok(time)
    }
}

/// Fixed-size byte arrays as hex strings.
mod hex_bytes {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut bytes = [0u8; N];
        hex::decode_to_slice(&text, &mut bytes)
            .map_err(|_| D::Error::custom(format!("{text:?} is not {} hex digits", 2 * N)))?;
        Ok(bytes)
    }
}
