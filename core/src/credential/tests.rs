//! Unit tests of [`super`]: every form of a raw key decodes to the same 32 bytes, and
//! malformed text is refused without quoting it.

use super::*;
use alloc::string::ToString;
use secrecy::SecretSlice;

/// The key 0x00, 0x01, ..., 0x1f, in each of its written forms.
const KEY: [u8; 32] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];
const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn raw(credential: &Credential) -> &[u8] {
    match &credential.0 {
        Secret::Key(k) => k,
        Secret::Password(_) => panic!("expected a raw key"),
    }
}

#[test]
fn hex_base64_and_raw_forms_decode_to_the_same_key() {
    assert_eq!(raw(&Credential::key_hex(HEX).unwrap()), KEY);
    assert_eq!(raw(&Credential::key_hex(&HEX.to_uppercase()).unwrap()), KEY);
    assert_eq!(raw(&Credential::key_base64(B64).unwrap()), KEY);
    assert_eq!(
        raw(&Credential::key_base64(B64.trim_end_matches('=')).unwrap()),
        KEY
    );
    assert_eq!(raw(&Credential::key_encoded(&KEY).unwrap()), KEY);
    let file = alloc::format!("  {HEX}\n");
    assert_eq!(raw(&Credential::key_encoded(file.as_bytes()).unwrap()), KEY);
    let file = alloc::format!("{B64}\r\n");
    assert_eq!(raw(&Credential::key_encoded(file.as_bytes()).unwrap()), KEY);
    assert_eq!(raw(&Credential::key_ref(&KEY)), KEY);
    assert_eq!(raw(&Credential::key(KEY)), KEY);
    let secret = SecretSlice::from(KEY.to_vec());
    assert_eq!(raw(&Credential::key_secret(&secret).unwrap()), KEY);
    let boxed = SecretBox::new(alloc::boxed::Box::new(KEY));
    assert_eq!(raw(&Credential::from(&boxed)), KEY);
}

#[test]
fn raw_32_bytes_that_look_like_whitespace_stay_raw() {
    // 32 raw bytes ending in a newline byte are a raw key, not text to trim.
    let mut key = [b'x'; 32];
    key[31] = b'\n';
    assert_eq!(raw(&Credential::key_encoded(&key).unwrap()), key);
}

#[test]
fn malformed_keys_are_refused_without_quoting_them() {
    let cases: [Result<Credential>; 7] = [
        Credential::key_hex(&HEX[..62]),
        Credential::key_hex(&alloc::format!("{}zz", &HEX[..62])),
        Credential::key_base64("AAEC"),
        Credential::key_base64(&B64.replace('A', "*")),
        Credential::key_slice(&[1; 33]),
        Credential::key_encoded(b"secret-password"),
        Credential::key_secret(&SecretSlice::from(alloc::vec![1u8; 16])),
    ];
    for case in cases {
        let error = case.unwrap_err();
        assert!(matches!(error, Error::InvalidKey(_)), "{error:?}");
        let text = error.to_string();
        assert!(!text.contains("000102") && !text.contains("secret-password"));
    }
    // A 64-digit hex text of a 33rd byte does not fit: refused, not truncated.
    assert!(Credential::key_hex(&alloc::format!("{HEX}00")).is_err());
}

#[test]
fn passwords_from_secrecy_and_bytes_are_the_same_password() {
    let pw = |c: Credential| match c.0 {
        Secret::Password(p) => p.to_vec(),
        Secret::Key(_) => panic!("expected a password"),
    };
    let secret = SecretString::from("p@ssw0rd");
    assert_eq!(pw(Credential::from(&secret)), b"p@ssw0rd");
    assert_eq!(pw(Credential::from(secret)), b"p@ssw0rd");
    assert_eq!(pw(Credential::password_bytes(b"p@ssw0rd")), b"p@ssw0rd");
    assert_eq!(pw(Credential::password("p@ssw0rd")), b"p@ssw0rd");
}
