//! The v2 store file as written (docs/FORMAT.md): the header, then for each namespace
//! with live entries its directory (sorted by the keyed hash of each name), its records
//! (the sealed values, copied as they are, each nonce written as the index of its prefix
//! in the toc's list and its counter) and its names block (sealed), then the toc, sealed
//! with the header as associated data.
//!
//! ```text
//! file = header (176) || { directory || records || names }* || toc || tag
//! ```
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use hashbrown::HashMap;

use super::header::{KeyHeader, DATA_LEN, HEADER_LEN, TOC_LEN};
use super::serial::{append_serialized, serialized_len};
use super::snapshot::MAX_STORE_LEN;
use super::toc::{chunk_base, chunks, entry_len, names_k, nonce, Toc, TocSpace};
use super::toc::{HAS_EXPIRY, PREFIX_LEN};
use crate::arena::Arena;
use crate::crypto::{random, Keyring, XNonce, TAG_LEN};
use crate::error::{Error, Result};
use crate::space::{put_varint, varint_len, Space, Stored, DIR_CHUNK, NO_EXPIRY, PIN_LEN};
use crate::storage::check_len;

/// The v2 bytes of a store: every namespace's entries live at `now` (the others are left
/// out, and so are namespaces left with none), as snapshot number `sequence`. The names'
/// plaintext is put together in the arena and sealed there; only ciphertext reaches the
/// returned bytes. A value the snapshot would copy that is not the one its file's
/// directory pinned (`Error::Crypto`, the value was tampered with) fails the encode.
pub(crate) fn encode(
    header: &KeyHeader,
    keyring: &Keyring,
    arena: &Arc<Arena>,
    spaces: &HashMap<String, Space>,
    now: Option<u64>,
    sequence: u64,
) -> Result<Vec<u8>> {
    let mut prefix = [0u8; PREFIX_LEN];
    random(&mut prefix)?;
    let mut out = Vec::new();
    out.extend_from_slice(&header.key_part());
    out.extend_from_slice(&nonce(&prefix, 0));
    out.extend_from_slice(&[0u8; 8]);
    let mut toc = Toc {
        sequence,
        prefixes: Vec::new(),
        spaces: Vec::with_capacity(spaces.len()),
    };
    let mut prefixes = Prefixes::default();
    for (ns, space) in spaces {
        let live = live_entries(space, now)?;
        if live.is_empty() {
            continue;
        }
        let i = toc.spaces.len();
        let at = (&prefix, i);
        let written = write_space(&mut out, keyring, arena, (ns, &live), at, &mut prefixes)?;
        toc.spaces.push(written);
        check_len(out.len() as u64, MAX_STORE_LEN)?;
    }
    toc.prefixes = prefixes.list;
    let data_len = out.len() - HEADER_LEN;
    // Sized first, then serialized behind the data and sealed where it lies: no
    // reallocation leaves a copy of the namespaces' names.
    let toc_len = serialized_len(&toc)?;
    check_len((out.len() + toc_len + TAG_LEN) as u64, MAX_STORE_LEN)?;
    out[DATA_LEN].copy_from_slice(&(data_len as u32).to_le_bytes());
    out[TOC_LEN].copy_from_slice(&(toc_len as u32).to_le_bytes());
    out.reserve_exact(toc_len + TAG_LEN);
    let mut out = append_serialized(&toc, out, toc_len)?;
    let (head, rest) = out.split_at_mut(HEADER_LEN);
    let tag = keyring.seal_in_place(&nonce(&prefix, 0), head, &mut rest[data_len..])?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// The values' nonce prefixes a snapshot lists in its toc, each once, in first-use order.
#[derive(Default)]
struct Prefixes {
    list: Vec<[u8; PREFIX_LEN]>,
    index: HashMap<[u8; PREFIX_LEN], u64>,
}

impl Prefixes {
    /// The index of `nonce`'s prefix (listed now if it is new), and its counter.
    fn short(&mut self, nonce: &XNonce) -> (u64, u64) {
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&nonce[..PREFIX_LEN]);
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&nonce[PREFIX_LEN..]);
        let next = self.list.len() as u64;
        let p = *self.index.entry(prefix).or_insert(next);
        if p == next {
            self.list.push(prefix);
        }
        (p, u64::from_le_bytes(counter))
    }
}

/// Appends the directory, records and names block of namespace `ns` (its entries `live`)
/// to `out`, as namespace number `i` of the snapshot whose nonce prefix is `prefix`, its
/// values' nonce prefixes listed in `prefixes`; returns its toc entry.
fn write_space<'a>(
    out: &mut Vec<u8>,
    keyring: &Keyring,
    arena: &Arc<Arena>,
    (ns, live): (&'a str, &[Stored<'_>]),
    (prefix, i): (&[u8; PREFIX_LEN], usize),
    prefixes: &mut Prefixes,
) -> Result<TocSpace<'a>> {
    let mut order: Vec<(u64, u32, usize)> = Vec::with_capacity(live.len());
    keyring.with_name_hasher(ns, |hash| {
        for (i, e) in live.iter().enumerate() {
            let (h, c) = hash(e.key);
            order.push((h, c, i));
        }
    })?;
    order.sort_unstable();
    // Each record as written: its nonce's prefix index and counter, and its ciphertext
    // and tag, in directory order. A value too short to be one is not authentic.
    let mut records = Vec::with_capacity(live.len());
    for &(_, _, i) in &order {
        let (nonce, sealed) = live[i].parts().ok_or(Error::Crypto)?;
        let (p, c) = prefixes.short(&nonce);
        records.push((p, c, sealed));
    }
    let flags = match live.iter().any(|e| e.expires_at.is_some()) {
        true => HAS_EXPIRY,
        false => 0,
    };
    let dir_at = out.len();
    let dir_len = live.len() * entry_len(flags);
    let record_len = |&(p, c, s): &(u64, u64, &[u8])| {
        let mut varint = [0u8; 10];
        put_varint(&mut varint, p) + put_varint(&mut varint, c) + s.len()
    };
    let records_len: usize = records.iter().map(record_len).sum();
    // Within the file's bound (under 2^32), so every record's end fits a `u32`.
    check_len((dir_at + dir_len + records_len) as u64, MAX_STORE_LEN)?;
    out.reserve(dir_len + records_len);
    let mut end = 0usize;
    for (&(h, c, i), record) in order.iter().zip(&records) {
        let sealed = record.2;
        end += record_len(record);
        out.extend_from_slice(&h.to_le_bytes());
        out.extend_from_slice(&c.to_le_bytes());
        out.extend_from_slice(&(end as u32).to_le_bytes());
        out.extend_from_slice(&sealed[sealed.len() - TAG_LEN..][..PIN_LEN]);
        if flags & HAS_EXPIRY != 0 {
            out.extend_from_slice(&live[i].expires_at.unwrap_or(NO_EXPIRY).to_le_bytes());
        }
    }
    // Plain loops here and below: a save may run on a small thread, and iterator
    // adapters nest a frame each in an unoptimised build (tests/attack_builds.rs).
    let directory = &out[dir_at..];
    let mut tags = Vec::with_capacity(chunks(directory.len()));
    for c in 0..chunks(directory.len()) {
        let chunk = &directory[c * DIR_CHUNK..directory.len().min((c + 1) * DIR_CHUNK)];
        tags.push(keyring.mac(&nonce(prefix, chunk_base(i) + c as u64), chunk)?);
    }
    let mut varints = [0u8; 20];
    for &(p, c, sealed) in &records {
        let n = put_varint(&mut varints, p);
        let n = n + put_varint(&mut varints[n..], c);
        out.extend_from_slice(&varints[..n]);
        out.extend_from_slice(sealed);
    }
    let names_len: usize = live
        .iter()
        .map(|e| varint_len(e.key.len()) + e.key.len())
        .sum();
    let mut names = arena.alloc(names_len)?;
    let mut at = 0;
    for &(_, _, i) in &order {
        let key = live[i].key.as_bytes();
        at += put_varint(&mut names[at..], key.len() as u64);
        names[at..at + key.len()].copy_from_slice(key);
        at += key.len();
    }
    let names_tag = keyring.seal_in_place(&nonce(prefix, names_k(i)), &[], &mut names)?;
    out.extend_from_slice(&names);
    out.extend_from_slice(&names_tag);
    Ok(TocSpace {
        name: ns,
        count: live.len() as u64,
        flags,
        records_len: records_len as u64,
        names_len: (names_len + TAG_LEN) as u64,
        tags,
    })
}

/// The entries of `space` live at `now`. A frame of its own: the iterator a space lists
/// through is large, and moved from adapter to adapter, in an unoptimised build, and the
/// seals that follow must not run below it on a small thread (tests/attack_builds.rs).
#[inline(never)]
fn live_entries(space: &Space, now: Option<u64>) -> Result<Vec<Stored<'_>>> {
    let mut live = Vec::with_capacity(space.len());
    for e in space.iter()? {
        if e.is_live(now) {
            live.push(e);
        }
    }
    Ok(live)
}
