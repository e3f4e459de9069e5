//! Signed tree heads: a fixed vector checked with OpenSSL, round trips, and every change to a
//! signed head breaks the signature.

use chrono::{DateTime, TimeZone, Utc};
use ndx_audit::head::{
    HeadError, HeadSigner, SignedTreeHead, public_key_from_hex, public_key_from_pem,
    public_key_to_hex, public_key_to_pem, signed_message, verify_head,
};
use ndx_audit::merkle::Hash;

/// RFC 8032 §7.1 test 1 secret key and its public key.
const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/// `openssl pkey -in <SEED as PKCS#8> -pubout`.
const PUBLIC_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
    MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\
    -----END PUBLIC KEY-----\n";
/// Root of the first 7 leaves of `vectors.json`.
const ROOT_7: &str = "c2fb5b349137f81ffefd15b6503bfc0a28191082484f086af2c1221249a70c2b";
/// `openssl pkeyutl -sign -rawin` of the signed message of (7, 2025-07-01T08:30:00.123Z, ROOT_7).
const SIGNATURE: &str = "8ba8b01916c0874165ba7b0ab40cf3af4a0056034d38caed87fd8955a38e8a50\
                         e38bb184f04dd276ce48064c0543086ec8bc2291ab58a73e8124981ec638840e";

fn bytes<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).unwrap();
    out
}

fn signer() -> HeadSigner {
    HeadSigner::from_seed(bytes(SEED))
}

fn time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 7, 1, 8, 30, 0).unwrap() + chrono::Duration::milliseconds(123)
}

fn head() -> SignedTreeHead {
    signer().sign(7, bytes(ROOT_7), time()).unwrap()
}

#[test]
fn fixed_seed_gives_the_openssl_vector() {
    let signer = signer();
    assert_eq!(signer.public_key(), bytes::<32>(PUBLIC_KEY));
    let head = head();
    assert_eq!(head.tree_size, 7);
    assert_eq!(head.timestamp, time());
    assert_eq!(head.root_hash, bytes::<32>(ROOT_7));
    assert_eq!(hex::encode(head.signature), SIGNATURE);
    assert_eq!(verify_head(&bytes(PUBLIC_KEY), &head), Ok(()));
    assert!(!format!("{signer:?}").contains(SEED));
}

#[test]
fn signed_message_layout() {
    let root: Hash = std::array::from_fn(|i| i as u8);
    let message = signed_message(0x0102_0304_0506_0708, 1_751_358_600_123, &root);
    assert_eq!(&message[..16], b"ndx-audit-sth-v1");
    assert_eq!(message[16..24], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(message[24..32], 1_751_358_600_123u64.to_be_bytes());
    assert_eq!(message[32..], root);
    assert_eq!(
        head().message().unwrap(),
        signed_message(7, 1_751_358_600_123, &bytes(ROOT_7))
    );
}

#[test]
fn any_change_breaks_the_signature() {
    let key = signer().public_key();
    let head = head();
    let changed = [
        SignedTreeHead {
            tree_size: 8,
            ..head.clone()
        },
        SignedTreeHead {
            tree_size: 6,
            ..head.clone()
        },
        SignedTreeHead {
            timestamp: head.timestamp + chrono::Duration::milliseconds(1),
            ..head.clone()
        },
        SignedTreeHead {
            root_hash: {
                let mut r = head.root_hash;
                r[31] ^= 1;
                r
            },
            ..head.clone()
        },
        SignedTreeHead {
            signature: {
                let mut s = head.signature;
                s[0] ^= 1;
                s
            },
            ..head.clone()
        },
        SignedTreeHead {
            signature: {
                let mut s = head.signature;
                s[63] ^= 0x10;
                s
            },
            ..head.clone()
        },
    ];
    for bad in changed {
        assert_eq!(
            verify_head(&key, &bad),
            Err(HeadError::BadSignature),
            "{bad:?}"
        );
    }
    let other = HeadSigner::from_seed([7; 32]).public_key();
    assert_eq!(verify_head(&other, &head), Err(HeadError::BadSignature));
    // y = 2 is not the y-coordinate of any point on the curve.
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    assert_eq!(
        verify_head(&not_a_point, &head),
        Err(HeadError::InvalidPublicKey)
    );
}

#[test]
fn timestamps_are_milliseconds_since_1970() {
    let signer = signer();
    let fine = time() + chrono::Duration::microseconds(999);
    let head = signer.sign(1, [0; 32], fine).unwrap();
    assert_eq!(head.timestamp, time());
    assert_eq!(verify_head(&signer.public_key(), &head), Ok(()));

    let before = Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap();
    assert_eq!(
        signer.sign(1, [0; 32], before),
        Err(HeadError::TimestampBeforeEpoch(before))
    );
    let hand_made = SignedTreeHead {
        timestamp: fine,
        ..head
    };
    assert_eq!(
        verify_head(&signer.public_key(), &hand_made),
        Err(HeadError::SubMillisecondTimestamp(fine))
    );
    let epoch = signer.sign(0, [0; 32], DateTime::UNIX_EPOCH).unwrap();
    assert_eq!(epoch.message().unwrap()[24..32], [0; 8]);
}

#[test]
fn json_form() {
    let head = head();
    let json = serde_json::to_string(&head).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"tree_size":7,"timestamp":"2025-07-01T08:30:00.123Z","root_hash":"{ROOT_7}","signature":"{SIGNATURE}"}}"#
        )
    );
    assert_eq!(serde_json::from_str::<SignedTreeHead>(&json).unwrap(), head);
    let upper = json.replace(ROOT_7, &ROOT_7.to_uppercase());
    assert_eq!(
        serde_json::from_str::<SignedTreeHead>(&upper).unwrap(),
        head
    );

    for (from, to) in [
        ("00.123Z", "00.1234Z"),
        ("2025-07-01T08:30:00.123Z", "1969-07-01T08:30:00.123Z"),
        ("2025-07-01T08:30:00.123Z", "soon"),
        (ROOT_7, &ROOT_7[2..]),
        (r#""tree_size":7"#, r#""tree_size":-7"#),
        (r#""tree_size":7"#, r#""tree_size":7,"extra":1"#),
    ] {
        let bad = json.replace(from, to);
        assert!(
            serde_json::from_str::<SignedTreeHead>(&bad).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn public_key_text_forms() {
    let key = bytes::<32>(PUBLIC_KEY);
    assert_eq!(public_key_to_hex(&key), PUBLIC_KEY);
    assert_eq!(public_key_from_hex(PUBLIC_KEY), Ok(key));
    assert_eq!(
        public_key_from_hex(&format!(" {}\n", PUBLIC_KEY.to_uppercase())),
        Ok(key)
    );
    assert_eq!(public_key_to_pem(&key), PUBLIC_KEY_PEM);
    assert_eq!(public_key_from_pem(PUBLIC_KEY_PEM), Ok(key));
    // Line breaks inside the base64 are allowed, as RFC 7468 parsers allow them.
    let wrapped = PUBLIC_KEY_PEM.replace("MCowBQYDK2Vw", "MCowBQYDK2Vw\n");
    assert_eq!(public_key_from_pem(&wrapped), Ok(key));

    for bad in [
        "",
        "d75a",
        &PUBLIC_KEY[..63],
        &format!("{PUBLIC_KEY}00"),
        &PUBLIC_KEY.replace('d', "g"),
    ] {
        assert_eq!(
            public_key_from_hex(bad),
            Err(HeadError::PublicKeyHex(bad.to_owned()))
        );
    }
    let mut not_a_point = "00".repeat(32);
    not_a_point.replace_range(..2, "02");
    assert_eq!(
        public_key_from_hex(&not_a_point),
        Err(HeadError::InvalidPublicKey)
    );

    for bad in [
        PUBLIC_KEY_PEM.replace("PUBLIC KEY", "PRIVATE KEY"),
        PUBLIC_KEY_PEM.replace("-----END PUBLIC KEY-----\n", ""),
        PUBLIC_KEY_PEM.replace("MCow", "MCox"),
        PUBLIC_KEY_PEM.replace("MCowBQYDK2VwAyEA", "MCowBQYDK2VxAyEA"),
        PUBLIC_KEY_PEM.replace("URo=", "URo"),
        PUBLIC_KEY_PEM.replace("URo=", "URo*"),
    ] {
        assert!(
            matches!(public_key_from_pem(&bad), Err(HeadError::PublicKeyPem(_))),
            "{bad}"
        );
    }
}
