//! The committed test vectors' inputs (docs/FORMAT.md, "Test vectors") and their builders,
//! from FORMAT.md alone: `tests/vectors/v1.kv` and `v2.kv`. Included beside `format_v1.rs`
//! and `format_v2.rs` (`#[path = "support/vectors.rs"] mod vectors;`).
#![allow(dead_code)] // not every test binary that includes this file uses every helper

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use microkv::{Config, ManualClock};

use super::format_v1::{entry, key_schedule, seal, sealed_value, varint};
use super::format_v2;

/// The vector's raw key: bytes 0x00..=0x1f.
pub const KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = i as u8;
        i += 1;
    }
    k
};
pub const SALT: [u8; 16] = [0xa5; 16];
pub const DATA_KEY: [u8; 32] = [0xd0; 32];
pub const WRAP_NONCE: [u8; 24] = [0x11; 24];
pub const BODY_NONCE: [u8; 24] = [0x22; 24];
/// Expiry of the vector's TTL entry, ms since the epoch (2027-01-15T08:00:00Z).
pub const EXPIRES_AT: u64 = 1_800_000_000_000;

/// (namespace, key, plaintext, expiry, nonce) of each entry of the vector: the plaintext is
/// the value's MessagePack.
pub type VectorEntry = (&'static str, &'static str, Vec<u8>, Option<u64>, [u8; 24]);

pub fn entries() -> Vec<VectorEntry> {
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

pub fn vector_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/v1.kv")
}

pub fn v2_vector_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/v2.kv")
}

/// The v2 vector's snapshot prefix `P` and sequence.
pub const P: [u8; 16] = [0x22; 16];
pub const V2_SEQUENCE: u64 = 1;

/// The vector's entries as version 2 writes them: each value sealed with its nonce.
pub fn v2_entries() -> Vec<format_v2::Entry> {
    entries()
        .into_iter()
        .map(|(ns, key, value, expires, nonce)| format_v2::Entry {
            ns: ns.into(),
            key: key.into(),
            sealed: sealed_value(&DATA_KEY, &nonce, ns, key, &value),
            expires,
        })
        .collect()
}

/// A version 2 file of the vector's store holding `list` (`P`, sequence 1).
pub fn build_v2(list: &[format_v2::Entry]) -> Vec<u8> {
    let key_part = format_v2::raw_key_part(&KEY, &SALT, &DATA_KEY, &WRAP_NONCE);
    format_v2::build(&key_part, &DATA_KEY, &P, V2_SEQUENCE, list)
}

/// The vector's toc `prefixes` (in the order of first use) and its entries with their
/// records as version 2 writes them, for a case to change one before [`build_v2_raw`].
pub fn v2_raw_entries() -> (Vec<[u8; 16]>, Vec<format_v2::RawEntry>) {
    let list = v2_entries();
    let prefixes = format_v2::prefixes_in_first_use(&DATA_KEY, &list);
    let raw = (list.into_iter())
        .map(|e| format_v2::RawEntry {
            record: format_v2::record(&e.sealed, &prefixes),
            ns: e.ns,
            key: e.key,
            expires: e.expires,
        })
        .collect();
    (prefixes, raw)
}

/// A version 2 file of the vector's store with these `prefixes` and records as they are.
pub fn build_v2_raw(prefixes: &[[u8; 16]], list: &[format_v2::RawEntry]) -> Vec<u8> {
    let key_part = format_v2::raw_key_part(&KEY, &SALT, &DATA_KEY, &WRAP_NONCE);
    format_v2::build_raw(&key_part, &DATA_KEY, &P, V2_SEQUENCE, prefixes, list)
}

/// Builds the v2 vector from FORMAT.md alone: the v1 vector's key, salt, data key, wrap
/// nonce and sealed values, in one space per namespace in body order.
pub fn build_v2_vector() -> Vec<u8> {
    build_v2(&v2_entries())
}

/// The postcard encoding of a string: `varint(len)`, then its bytes.
pub fn postcard_str(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    varint(s.len() as u64, &mut out);
    out.extend_from_slice(s.as_bytes());
    out
}

/// Builds the v1 vector from FORMAT.md alone ("Version 1 files").
pub fn build_vector() -> Vec<u8> {
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

/// A MessagePack str of fewer than 32 bytes: `0xa0 | len`, then the bytes.
pub fn msgpack_str(s: &str) -> Vec<u8> {
    assert!(s.len() < 32);
    let mut out = vec![0xa0 | s.len() as u8];
    out.extend_from_slice(s.as_bytes());
    out
}

/// A configuration whose clock stands at `ms` milliseconds since the epoch (the vectors'
/// TTL entry is live before [`EXPIRES_AT`]).
pub fn at(ms: u64) -> Config {
    Config {
        clock: Some(Arc::new(ManualClock::new(Duration::from_millis(ms)))),
        ..Default::default()
    }
}
