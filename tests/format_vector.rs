//! The committed v1 test vector (`tests/vectors/v1.kv`) and `docs/FORMAT.md`, checked
//! against each other and against the store:
//! - every later version of microkv must open the committed file and read its values;
//! - the file is rebuilt here byte for byte from FORMAT.md alone, with a fixed key, salt,
//!   data key and nonces, by code that shares nothing with the store's encoder;
//! - a file the current build writes parses by FORMAT.md alone too.
//!
//! `MICROKV_WRITE_VECTORS=1 cargo test --test format_vector` rewrites the file (only ever
//! needed when the vector is first made: it must never change once a release has shipped
//! it). It was remade once before 0.4's release, when values became MessagePack only
//! (issue 20): the first vector's values were postcard, an encoding no release reads.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};
use microkv::{Config, Credential, ManualClock, MicroKV};

#[path = "support/format_v1.rs"]
mod format_v1;
use format_v1::{entry, key_schedule, seal, sealed_value, value_aad, varint};

/// The vector's raw key: bytes 0x00..=0x1f.
const KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = i as u8;
        i += 1;
    }
    k
};
const SALT: [u8; 16] = [0xa5; 16];
const DATA_KEY: [u8; 32] = [0xd0; 32];
const WRAP_NONCE: [u8; 24] = [0x11; 24];
const BODY_NONCE: [u8; 24] = [0x22; 24];
/// Expiry of the vector's TTL entry, ms since the epoch (2027-01-15T08:00:00Z).
const EXPIRES_AT: u64 = 1_800_000_000_000;

/// (namespace, key, plaintext, expiry, nonce) of each entry of the vector: the plaintext is
/// the value's MessagePack.
type VectorEntry = (&'static str, &'static str, Vec<u8>, Option<u64>, [u8; 24]);

fn entries() -> Vec<VectorEntry> {
    vec![
        ("", "name", msgpack_str("test"), None, [0x31; 24]),
        (
            "",
            "otp",
            msgpack_str("123456"),
            Some(EXPIRES_AT),
            [0x32; 24],
        ),
        (
            "sessions",
            "alice",
            msgpack_str("token-xyz"),
            None,
            [0x33; 24],
        ),
        ("users", "alice", vec![42], None, [0x34; 24]), // u32 42: positive fixint
        ("users", "bob", vec![0xcc, 135], None, [0x35; 24]), // u32 135: uint 8
    ]
}

fn vector_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/v1.kv")
}

fn postcard_str(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    varint(s.len() as u64, &mut out);
    out.extend_from_slice(s.as_bytes());
    out
}

fn cipher(key: &[u8]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new_from_slice(key).unwrap()
}

/// The plaintext of `ciphertext || tag`, or `None` if it is not authentic.
fn open(key: &[u8], nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let (ct, tag) = sealed.split_at(sealed.len().checked_sub(16)?);
    let mut buf = ct.to_vec();
    let nonce = XNonce::try_from(nonce).ok()?;
    let tag = Tag::try_from(tag).ok()?;
    cipher(key)
        .decrypt_inout_detached(&nonce, aad, InOutBuf::from(&mut buf[..]), &tag)
        .ok()?;
    Some(buf)
}

/// Builds the vector from FORMAT.md alone.
fn build_vector() -> Vec<u8> {
    let (kek, commitment) = key_schedule(&KEY, &SALT);
    let mut out = Vec::new();
    out.extend_from_slice(b"MICROKV\0");
    out.extend_from_slice(&1u16.to_le_bytes());
    out.push(0); // KDF id: raw key
    out.push(1); // value encoding: MessagePack
    out.extend_from_slice(&[0; 12]); // KDF parameters: none
    out.extend_from_slice(&SALT);
    out.extend_from_slice(&commitment);
    assert_eq!(out.len(), 72);
    let wrapped = seal(&kek, &WRAP_NONCE, &out, &DATA_KEY);
    out.extend_from_slice(&WRAP_NONCE);
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&BODY_NONCE);

    // The body: postcard of Vec<(name, Vec<(key, Option<u64>, sealed bytes)>)>.
    let mut spaces: Vec<(&str, Vec<Vec<u8>>)> = Vec::new();
    for (ns, key, value, expires, nonce) in entries() {
        let mut record = Vec::new();
        let sealed = sealed_value(&DATA_KEY, &nonce, ns, key, &value);
        entry(key, expires, &sealed, &mut record);
        match spaces.last_mut() {
            Some((name, records)) if *name == ns => records.push(record),
            _ => spaces.push((ns, vec![record])),
        }
    }
    let mut body = Vec::new();
    varint(spaces.len() as u64, &mut body);
    for (name, records) in spaces {
        body.extend(postcard_str(name));
        varint(records.len() as u64, &mut body);
        for r in records {
            body.extend(r);
        }
    }
    out.extend_from_slice(&((body.len() + 16) as u64).to_le_bytes());
    assert_eq!(out.len(), 176);
    let sealed_body = seal(&DATA_KEY, &BODY_NONCE, &out, &body);
    out.extend(sealed_body);
    out
}

fn read_only_at(ms: u64) -> Config {
    Config {
        read_only: true,
        clock: Some(Arc::new(ManualClock::new(Duration::from_millis(ms)))),
        ..Default::default()
    }
}

#[test]
fn the_committed_v1_vector_opens_and_reads_its_values() {
    let path = vector_path();
    let db = MicroKV::open_existing_with(&path, Credential::key(KEY), read_only_at(EXPIRES_AT - 1))
        .expect("every version of microkv opens tests/vectors/v1.kv");
    assert_eq!(db.require::<String>("name").unwrap(), "test");
    assert_eq!(db.require::<String>("otp").unwrap(), "123456");
    let users = db.namespace("users");
    assert_eq!(users.get::<u32>("alice").unwrap(), Some(42));
    assert_eq!(users.get::<u32>("bob").unwrap(), Some(135));
    assert_eq!(
        db.namespace("sessions").require::<String>("alice").unwrap(),
        "token-xyz"
    );
    assert_eq!(db.tree_names().unwrap(), ["", "sessions", "users"]);
    assert_eq!(db.keys_sorted().unwrap(), ["name", "otp"]);
    assert_eq!(db.kdf(), None);
    drop(db);

    let db =
        MicroKV::open_existing_with(&path, Credential::key(KEY), read_only_at(EXPIRES_AT)).unwrap();
    assert_eq!(db.get::<String>("otp").unwrap(), None, "expired");
    assert_eq!(db.keys_sorted().unwrap(), ["name"]);

    let mut wrong = KEY;
    wrong[31] ^= 1;
    let err = MicroKV::open_existing_with(&path, Credential::key(wrong), read_only_at(0));
    assert!(matches!(err, Err(microkv::Error::WrongPassword)), "{err:?}");
}

#[test]
fn the_committed_v1_vector_is_what_format_md_describes() {
    let built = build_vector();
    if std::env::var_os("MICROKV_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(vector_path().parent().unwrap()).unwrap();
        std::fs::write(vector_path(), &built).unwrap();
    }
    let committed = std::fs::read(vector_path()).unwrap();
    assert_eq!(committed.len(), built.len());
    assert!(
        committed == built,
        "tests/vectors/v1.kv differs from FORMAT.md"
    );
}

/// An entry as FORMAT.md reads it: namespace, key, value plaintext, expiry.
type DocEntry = (String, String, Vec<u8>, Option<u64>);

/// Parses a v1 file of a raw-key store by FORMAT.md alone: every entry, and the body's
/// sequence number (`None` if it has none).
fn parse_by_the_doc(
    file: &[u8],
    key: &[u8; 32],
    value_encoding: u8,
) -> (Vec<DocEntry>, Option<u64>) {
    assert_eq!(&file[..8], b"MICROKV\0");
    assert_eq!(u16::from_le_bytes([file[8], file[9]]), 1);
    assert_eq!(file[10], 0, "raw key: KDF id 0");
    assert_eq!(file[11], value_encoding, "value encoding");
    assert_eq!(&file[12..24], &[0; 12], "raw key: no parameters");
    let salt: [u8; 16] = file[24..40].try_into().unwrap();
    let (kek, commitment) = key_schedule(key, &salt);
    assert_eq!(&file[40..72], &commitment);
    let data_key = open(&kek, &file[72..96], &file[..72], &file[96..144]).expect("key wrap");
    let body_len = u64::from_le_bytes(file[168..176].try_into().unwrap()) as usize;
    assert_eq!(body_len, file.len() - 176);
    let body = open(&data_key, &file[144..168], &file[..176], &file[176..]).expect("body");

    let mut out = Vec::new();
    let mut cursor = Cursor { body: &body, at: 0 };
    for _ in 0..cursor.varint() {
        let ns = String::from_utf8(cursor.bytes().to_vec()).unwrap();
        for _ in 0..cursor.varint() {
            let key = String::from_utf8(cursor.bytes().to_vec()).unwrap();
            let expires = match cursor.byte() {
                0 => None,
                1 => Some(cursor.varint()),
                t => panic!("option tag {t}"),
            };
            let sealed = cursor.bytes();
            let value = open(
                &data_key,
                &sealed[..24],
                &value_aad(&ns, &key),
                &sealed[24..],
            )
            .expect("value");
            out.push((ns.clone(), key, value, expires));
        }
    }
    let sequence = (cursor.at < body.len()).then(|| cursor.varint());
    assert_eq!(cursor.at, body.len(), "nothing after the sequence");
    out.sort();
    (out, sequence)
}

struct Cursor<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> u8 {
        self.at += 1;
        self.body[self.at - 1]
    }

    fn varint(&mut self) -> u64 {
        let (mut n, mut shift) = (0u64, 0);
        loop {
            let b = self.byte();
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return n;
            }
            shift += 7;
        }
    }

    fn bytes(&mut self) -> &'a [u8] {
        let len = self.varint() as usize;
        self.at += len;
        &self.body[self.at - len..self.at]
    }
}

#[test]
fn files_the_current_build_writes_follow_format_md() {
    let (parsed, sequence) = parse_by_the_doc(&std::fs::read(vector_path()).unwrap(), &KEY, 1);
    // The vector was made before bodies ended with a sequence number: it reads as 0.
    assert_eq!(sequence, None);
    let mut want: Vec<_> = entries()
        .into_iter()
        .map(|(ns, k, v, e, _)| (ns.to_string(), k.to_string(), v, e))
        .collect();
    want.sort();
    assert_eq!(parsed, want);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("now.kv");
    let clock = ManualClock::new(Duration::from_millis(EXPIRES_AT - 60_000));
    let db = MicroKV::create_new_with(
        &path,
        Credential::key(KEY),
        Config {
            clock: Some(Arc::new(clock)),
            ..Default::default()
        },
    )
    .unwrap();
    db.put("name", "test").unwrap();
    db.put_with_ttl("otp", "123456", Duration::from_secs(60))
        .unwrap();
    db.namespace("sessions").put("alice", "token-xyz").unwrap();
    db.namespace("users").put("alice", &42u32).unwrap();
    db.namespace("users").put("bob", &135u32).unwrap();
    db.save().unwrap();
    // New stores: value encoding 1, MessagePack.
    let mut want: Vec<_> = [
        ("", "name", msgpack_str("test"), None),
        ("", "otp", msgpack_str("123456"), Some(EXPIRES_AT)),
        ("sessions", "alice", msgpack_str("token-xyz"), None),
        ("users", "alice", vec![42], None), // u32 42: positive fixint
        ("users", "bob", vec![0xcc, 135], None), // u32 135: uint 8
    ]
    .into_iter()
    .map(|(ns, k, v, e)| (ns.to_string(), k.to_string(), v, e))
    .collect();
    want.sort();
    let (parsed, sequence) = parse_by_the_doc(&std::fs::read(&path).unwrap(), &KEY, 1);
    assert_eq!(parsed, want);
    // The creation saved snapshot 1, the save snapshot 2.
    assert_eq!(sequence, Some(2));
    assert_eq!(db.position().unwrap().sequence(), 2);
}

/// Byte 11 names the values' encoding, and MessagePack (1) is the only one: a file with
/// another (0 was postcard, in development builds before 0.4) is refused before any key is
/// derived, with the reason. The control: the same bytes with 1 open.
#[test]
fn a_file_of_another_value_encoding_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.kv");
    let mut bytes = std::fs::read(vector_path()).unwrap();
    for id in [0u8, 2, 0xff] {
        bytes[11] = id;
        std::fs::write(&path, &bytes).unwrap();
        let err = MicroKV::open_existing_with(&path, Credential::key(KEY), read_only_at(0));
        match err {
            Err(microkv::Error::CorruptStore(why)) => {
                assert_eq!(why, format!("unknown value encoding {id}"))
            }
            other => panic!("byte 11 = {id}: {other:?}"),
        }
    }
    bytes[11] = 1;
    std::fs::write(&path, &bytes).unwrap();
    let db = MicroKV::open_existing_with(&path, Credential::key(KEY), read_only_at(0)).unwrap();
    assert_eq!(db.namespace("users").require::<u32>("bob").unwrap(), 135);
}

/// A MessagePack str of fewer than 32 bytes: `0xa0 | len`, then the bytes.
fn msgpack_str(s: &str) -> Vec<u8> {
    assert!(s.len() < 32);
    let mut out = vec![0xa0 | s.len() as u8];
    out.extend_from_slice(s.as_bytes());
    out
}
