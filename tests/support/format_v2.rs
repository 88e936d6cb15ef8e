//! docs/FORMAT.md's version 2 written from the document alone (nothing shared with the
//! store's encoder): its pieces (name key, name hash, snapshot nonces, the key wrap's
//! associated data), a builder of whole files and a reader that checks every rule the page
//! states, in the order of its "Reading" table. Included beside `format_v1.rs`, whose
//! primitives it uses: `#[path = "support/format_v1.rs"] mod format_v1;` and
//! `#[path = "support/format_v2.rs"] mod format_v2;` in one module.
#![allow(dead_code)] // not every test binary that includes this file uses every helper

use std::hash::Hasher;

use blake2::{Blake2b512, Digest};
use siphasher::sip128::{Hasher128, SipHasher24};

use super::format_v1::{key_schedule, seal, varint};

#[path = "format_v2_read.rs"]
mod read;
#[allow(unused_imports)] // as dead_code above
pub use read::{open, read, Cursor, File, ReadEntry, Refusal, Space};

/// "Header": the header's length.
pub const HEADER_LEN: usize = 176;

/// "Keys": the name key of a data key.
pub fn name_key(data_key: &[u8; 32]) -> [u8; 16] {
    let mut h = Blake2b512::new();
    h.update(b"microkv v2 name key\0");
    h.update(data_key);
    h.finalize()[..16].try_into().unwrap()
}

/// "Primitives": SipHash-2-4-128 of `message` under `key`.
pub fn siphash128(key: &[u8; 16], message: &[u8]) -> [u8; 16] {
    let mut h = SipHasher24::new_with_key(key);
    h.write(message);
    h.finish128().as_bytes()
}

/// "Name hash": the name hash of `ns`/`key`.
pub fn name_hash(name_key: &[u8; 16], ns: &str, key: &str) -> [u8; 16] {
    let mut message = (ns.len() as u32).to_le_bytes().to_vec();
    message.extend_from_slice(ns.as_bytes());
    message.extend_from_slice(key.as_bytes());
    siphash128(name_key, &message)
}

/// "Directories": a name hash's `(hash, check)`, bytes 0..8 and 8..12 as integers.
pub fn hash_check(hash: &[u8; 16]) -> (u64, u32) {
    (
        u64::from_le_bytes(hash[..8].try_into().unwrap()),
        u32::from_le_bytes(hash[8..12].try_into().unwrap()),
    )
}

/// "Directories": the bytes of a directory each tag authenticates (the last chunk may be
/// shorter).
pub const DIR_CHUNK: usize = 4096;

/// "Directories": where each field of a row lies in it, and how long it is.
pub const HASH: (usize, usize) = (0, 8);
pub const CHECK: (usize, usize) = (8, 4);
pub const END: (usize, usize) = (12, 4);
pub const PIN: (usize, usize) = (16, 8);
pub const EXPIRY: (usize, usize) = (24, 8);

/// "Directories": the bytes of a row, with and without the expiry.
pub fn row_len(flags: u8) -> usize {
    24 + 8 * usize::from(flags & 1)
}

/// "Nonces": `k` of space `i`'s names block.
pub fn names_k(i: u64) -> u64 {
    2 * i + 1
}

/// "Nonces": `k` of the tag of chunk `c` of space `i`'s directory.
pub fn chunk_k(i: u64, c: u64) -> u64 {
    ((i + 1) << 32) + c
}

/// "Directories": the tags of space `i`'s directory, one per chunk.
pub fn chunk_tags(data_key: &[u8; 32], p: &[u8; 16], i: u64, directory: &[u8]) -> Vec<Vec<u8>> {
    (directory.chunks(DIR_CHUNK).enumerate())
        .map(|(c, chunk)| seal(data_key, &n(p, chunk_k(i, c as u64)), chunk, &[]))
        .collect()
}

/// "Nonces": `n(k) = P || u64le(k)`.
pub fn n(p: &[u8; 16], k: u64) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[..16].copy_from_slice(p);
    out[16..].copy_from_slice(&k.to_le_bytes());
    out
}

/// "Header": the key wrap's associated data, header bytes 0..72 with bytes 8..10 read as
/// `01 00`.
pub fn wrap_aad(header: &[u8]) -> [u8; 72] {
    let mut aad: [u8; 72] = header[..72].try_into().unwrap();
    aad[8..10].copy_from_slice(&1u16.to_le_bytes());
    aad
}

/// "Header": the first 144 bytes of a version 2 raw-key header (magic, version, KDF id 0,
/// value encoding 1, no KDF parameters, salt, commitment, the key wrap).
pub fn raw_key_part(
    key: &[u8; 32],
    salt: &[u8; 16],
    data_key: &[u8; 32],
    wrap_nonce: &[u8; 24],
) -> Vec<u8> {
    let (kek, commitment) = key_schedule(key, salt);
    let mut out = b"MICROKV\0".to_vec();
    out.extend_from_slice(&2u16.to_le_bytes());
    out.push(0); // KDF id: raw key
    out.push(1); // value encoding: MessagePack
    out.extend_from_slice(&[0; 12]); // KDF parameters: none
    out.extend_from_slice(salt);
    out.extend_from_slice(&commitment);
    let wrapped = seal(&kek, wrap_nonce, &wrap_aad(&out), data_key);
    out.extend_from_slice(wrap_nonce);
    out.extend(wrapped);
    assert_eq!(out.len(), 144);
    out
}

/// One entry to write: namespace, key, sealed value (`nonce || ciphertext || tag`), expiry
/// in ms since the epoch.
#[derive(Clone, Debug)]
pub struct Entry {
    pub ns: String,
    pub key: String,
    pub sealed: Vec<u8>,
    pub expires: Option<u64>,
}

/// A whole version 2 file: `key_part` (header bytes 0..144), the snapshot's prefix `p`,
/// its sequence, and the entries, one space per namespace in the order the namespaces
/// first appear; each space's entries sorted by `(hash, check)`, with an expiry column when
/// one of them expires.
pub fn build(
    key_part: &[u8],
    data_key: &[u8; 32],
    p: &[u8; 16],
    sequence: u64,
    entries: &[Entry],
) -> Vec<u8> {
    assert_eq!(key_part.len(), 144);
    let nk = name_key(data_key);
    let mut spaces: Vec<(&str, Vec<&Entry>)> = Vec::new();
    for e in entries {
        match spaces.iter_mut().find(|(ns, _)| *ns == e.ns) {
            Some((_, list)) => list.push(e),
            None => spaces.push((&e.ns, vec![e])),
        }
    }
    let (mut data, mut toc) = (Vec::new(), Vec::new());
    varint(sequence, &mut toc);
    varint(spaces.len() as u64, &mut toc);
    for (i, (ns, mut list)) in spaces.into_iter().enumerate() {
        let i = i as u64;
        list.sort_by_key(|e| hash_check(&name_hash(&nk, ns, &e.key)));
        let expiry = list.iter().any(|e| e.expires.is_some());
        let (mut directory, mut records, mut names) = (Vec::new(), Vec::new(), Vec::new());
        for e in &list {
            // One row: hash, check, end, pin, and the expiry with the column.
            let (hash, check) = hash_check(&name_hash(&nk, ns, &e.key));
            records.extend_from_slice(&e.sealed);
            directory.extend_from_slice(&hash.to_le_bytes());
            directory.extend_from_slice(&check.to_le_bytes());
            directory.extend_from_slice(&(records.len() as u32).to_le_bytes());
            directory.extend_from_slice(&e.sealed[e.sealed.len() - 16..][..8]);
            if expiry {
                directory.extend_from_slice(&e.expires.unwrap_or(u64::MAX).to_le_bytes());
            }
            varint(e.key.len() as u64, &mut names);
            names.extend_from_slice(e.key.as_bytes());
        }
        let tags = chunk_tags(data_key, p, i, &directory);
        let names = seal(data_key, &n(p, names_k(i)), &[], &names);
        varint(ns.len() as u64, &mut toc);
        toc.extend_from_slice(ns.as_bytes());
        varint(list.len() as u64, &mut toc);
        toc.push(u8::from(expiry));
        varint(records.len() as u64, &mut toc);
        varint(names.len() as u64, &mut toc);
        varint(tags.len() as u64, &mut toc);
        toc.extend(tags.concat());
        data.extend([directory, records, names].concat());
    }
    let mut out = key_part.to_vec();
    out.extend_from_slice(&n(p, 0));
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(toc.len() as u32).to_le_bytes());
    assert_eq!(out.len(), HEADER_LEN);
    let sealed_toc = seal(data_key, &n(p, 0), &out, &toc);
    out.extend(data);
    out.extend(sealed_toc);
    out
}
