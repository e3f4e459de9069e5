//! The PEM form of an Ed25519 public key (RFC 7468 `PUBLIC KEY` around the RFC 8410
//! SubjectPublicKeyInfo). The DER of such a key is a fixed 12-byte prefix and the 32 key bytes,
//! so a full DER/PKCS#8 stack is not needed, nor a base64 dependency for 44 bytes.

/// `SEQUENCE { SEQUENCE { OID 1.3.101.112 (id-Ed25519) }, BIT STRING (0 unused bits) { key } }`
/// up to the key bytes.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const END: &str = "-----END PUBLIC KEY-----";
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The PEM block of a public key, ending in a newline.
pub(crate) fn encode_public_key(public_key: &[u8; 32]) -> String {
    let mut der = Vec::with_capacity(44);
    der.extend_from_slice(&SPKI_PREFIX);
    der.extend_from_slice(public_key);
    // 60 base64 characters: one line, under the 64-character limit of RFC 7468.
    format!("{BEGIN}\n{}\n{END}\n", base64_encode(&der))
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
    let der = base64_decode(&base64).ok_or("invalid base64")?;
    let key = der
        .strip_prefix(&SPKI_PREFIX[..])
        .ok_or("not an Ed25519 SubjectPublicKeyInfo")?;
    key.try_into()
        .map_err(|_| "not an Ed25519 SubjectPublicKeyInfo")
}

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Strict standard base64 with padding: the only form `encode` writes and OpenSSL writes.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for (position, quad) in text.chunks(4).enumerate() {
        let last = position == text.len() / 4 - 1;
        let padding = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - padding] {
            let value = ALPHABET.iter().position(|&a| a == c)? as u32;
            n = n << 6 | value;
        }
        n <<= 6 * padding as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let kept = 3 - padding;
        // Bits beyond the last kept byte must be zero, or two texts would decode the same.
        if decoded[kept..].iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(&decoded[..kept]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn base64_rejects_malformed_text() {
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zh==", "Zm9*", "Zm9v="] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
    }
}
