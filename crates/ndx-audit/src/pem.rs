//! The PEM form of an Ed25519 public key (RFC 7468 `PUBLIC KEY` around the RFC 8410
//! SubjectPublicKeyInfo). The DER of such a key is a fixed 12-byte prefix and the 32 key bytes,
//! so a full DER/PKCS#8 stack is not needed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// `SEQUENCE { SEQUENCE { OID 1.3.101.112 (id-Ed25519) }, BIT STRING (0 unused bits) { key } }`
/// up to the key bytes.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const END: &str = "-----END PUBLIC KEY-----";

/// The PEM block of a public key, ending in a newline.
pub(crate) fn encode_public_key(public_key: &[u8; 32]) -> String {
    let mut der = Vec::with_capacity(44);
    der.extend_from_slice(&SPKI_PREFIX);
    der.extend_from_slice(public_key);
    // 60 base64 characters: one line, under the 64-character limit of RFC 7468.
    format!("{BEGIN}\n{}\n{END}\n", STANDARD.encode(&der))
}

/// The key bytes from a PEM block; the error says what is wrong.
pub(crate) fn decode_public_key(text: &str) -> Result<[u8; 32], &'static str> {
    let body = text
        .trim()
        .strip_prefix(BEGIN)
        .ok_or("missing -----BEGIN PUBLIC KEY-----")?
        .strip_suffix(END)
        .ok_or("missing -----END PUBLIC KEY-----")?;
    let base64: String = body.split_whitespace().collect();
    let der = STANDARD.decode(base64).map_err(|_| "invalid base64")?;
    let key = der
        .strip_prefix(&SPKI_PREFIX[..])
        .ok_or("not an Ed25519 SubjectPublicKeyInfo")?;
    key.try_into()
        .map_err(|_| "not an Ed25519 SubjectPublicKeyInfo")
}
