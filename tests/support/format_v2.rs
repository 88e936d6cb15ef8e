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

/// One entry to write: namespace, key, sealed value (`nonce || ciphertext || tag`, as
/// "Values" gives it), expiry in ms since the epoch.
#[derive(Clone, Debug)]
pub struct Entry {
    pub ns: String,
    pub key: String,
    pub sealed: Vec<u8>,
    pub expires: Option<u64>,
}

/// One entry with its record's bytes as they are to be written (`varint(p) || varint(c)
/// || ciphertext || tag` in a well-formed file; anything for a forged one).
#[derive(Clone, Debug)]
pub struct RawEntry {
    pub ns: String,
    pub key: String,
    pub record: Vec<u8>,
    pub expires: Option<u64>,
}

/// What places an entry in a file: its namespace and key.
pub trait Placed {
    fn place(&self) -> (&str, &str);
}

impl Placed for Entry {
    fn place(&self) -> (&str, &str) {
        (&self.ns, &self.key)
    }
}

impl Placed for RawEntry {
    fn place(&self) -> (&str, &str) {
        (&self.ns, &self.key)
    }
}

/// The spaces of a file of `entries`: one per namespace in the order the namespaces first
/// appear, each space's entries sorted by `(hash, check)` ("Directories").
pub fn layout<'a, T: Placed>(nk: &[u8; 16], entries: &'a [T]) -> Vec<(&'a str, Vec<&'a T>)> {
    let mut spaces: Vec<(&str, Vec<&T>)> = Vec::new();
    for e in entries {
        match spaces.iter_mut().find(|(ns, _)| *ns == e.place().0) {
            Some((_, list)) => list.push(e),
            None => spaces.push((e.place().0, vec![e])),
        }
    }
    for (ns, list) in &mut spaces {
        list.sort_by_key(|e| hash_check(&name_hash(nk, ns, e.place().1)));
    }
    spaces
}

/// "Records": a sealed value's record, its nonce written as the index `p` of its first 16
/// bytes in `prefixes` and its last 8 bytes as `c`, both varints in their shortest form.
pub fn record(sealed: &[u8], prefixes: &[[u8; 16]]) -> Vec<u8> {
    let p = prefixes.iter().position(|x| x[..] == sealed[..16]).unwrap();
    let mut out = Vec::new();
    varint(p as u64, &mut out);
    varint(
        u64::from_le_bytes(sealed[16..24].try_into().unwrap()),
        &mut out,
    );
    out.extend_from_slice(&sealed[24..]);
    out
}

/// The nonce prefixes of `entries`' sealed values in the order of first use: records in
/// file order (spaces in toc order, each in directory order), each prefix once.
pub fn prefixes_in_first_use(data_key: &[u8; 32], entries: &[Entry]) -> Vec<[u8; 16]> {
    let mut out: Vec<[u8; 16]> = Vec::new();
    let spaces = layout(&name_key(data_key), entries);
    for e in spaces.into_iter().flat_map(|(_, list)| list) {
        let prefix: [u8; 16] = e.sealed[..16].try_into().unwrap();
        if !out.contains(&prefix) {
            out.push(prefix);
        }
    }
    out
}

/// A whole version 2 file: `key_part` (header bytes 0..144), the snapshot's prefix `p`,
/// its sequence, and the entries, one space per namespace in the order the namespaces
/// first appear; each space's entries sorted by `(hash, check)`, with an expiry column when
/// one of them expires; the toc's `prefixes` those of the values, in the order of first
/// use.
pub fn build(
    key_part: &[u8],
    data_key: &[u8; 32],
    p: &[u8; 16],
    sequence: u64,
    entries: &[Entry],
) -> Vec<u8> {
    let prefixes = prefixes_in_first_use(data_key, entries);
    let raw: Vec<RawEntry> = (entries.iter())
        .map(|e| RawEntry {
            ns: e.ns.clone(),
            key: e.key.clone(),
            record: record(&e.sealed, &prefixes),
            expires: e.expires,
        })
        .collect();
    build_raw(key_part, data_key, p, sequence, &prefixes, &raw)
}

/// [`build`] with the toc's `prefixes` and each entry's record given as they are to be
/// written: the directories (ends, pins), their tags, the names blocks and the toc are
/// made from them as FORMAT.md says, whatever the records hold.
pub fn build_raw(
    key_part: &[u8],
    data_key: &[u8; 32],
    p: &[u8; 16],
    sequence: u64,
    prefixes: &[[u8; 16]],
    entries: &[RawEntry],
) -> Vec<u8> {
    assert_eq!(key_part.len(), 144);
    let nk = name_key(data_key);
    let spaces = layout(&nk, entries);
    let (mut data, mut toc) = (Vec::new(), Vec::new());
    varint(sequence, &mut toc);
    varint(prefixes.len() as u64, &mut toc);
    toc.extend(prefixes.concat());
    varint(spaces.len() as u64, &mut toc);
    for (i, (ns, list)) in spaces.into_iter().enumerate() {
        let i = i as u64;
        let expiry = list.iter().any(|e| e.expires.is_some());
        let (mut directory, mut records, mut names) = (Vec::new(), Vec::new(), Vec::new());
        for e in &list {
            // One row: hash, check, end, pin, and the expiry with the column.
            let (hash, check) = hash_check(&name_hash(&nk, ns, &e.key));
            records.extend_from_slice(&e.record);
            directory.extend_from_slice(&hash.to_le_bytes());
            directory.extend_from_slice(&check.to_le_bytes());
            directory.extend_from_slice(&(records.len() as u32).to_le_bytes());
            directory.extend_from_slice(&e.record[e.record.len() - 16..][..8]);
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

/// What "Records" and "Toc" ask of a writer and a reader cannot check for itself: each
/// record's `p` and `c` in the shortest form, each prefix listed once, and only the
/// prefixes some record uses. Every breach, described.
pub fn writer_rules(file: &File) -> Vec<String> {
    let mut breaches = Vec::new();
    let entries = || file.spaces.iter().flat_map(|s| &s.entries);
    for e in entries().filter(|e| !e.shortest) {
        breaches.push(format!("{}: p or c not in the shortest form", e.key));
    }
    for (i, prefix) in file.prefixes.iter().enumerate() {
        if file.prefixes[..i].contains(prefix) {
            breaches.push(format!("prefix {i} listed twice"));
        }
        if !entries().any(|e| e.p == i as u64) {
            breaches.push(format!("prefix {i} used by no record"));
        }
    }
    breaches
}
