//! The v2 store file's table of contents (docs/FORMAT.md, "Toc"): the snapshot's sequence
//! number, the nonce prefixes of its values (a record holds the index of its own and its
//! counter), and for each namespace its name, its entry count, whether its directory has an
//! expiry column, the lengths of its records and names block, and the tags of its
//! directory's chunks. Postcard, sealed at the end of the file under the snapshot's nonce
//! `n(0)`.
//!
//! ```text
//! toc   = varint(sequence) varint(#prefixes) [u8; 16]* varint(#spaces) space*
//! space = str name || varint(count) || u8 flags || varint(records_len)
//!         || varint(names_len) || varint(#tags) || [u8; 16]*
//! ```
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::crypto::{XNonce, NONCE_LEN, TAG_LEN};
use crate::space::{DIR_CHUNK, DIR_ENTRY_LEN, EXPIRY_LEN};

/// Flags bit 0: the directory has an expiry column.
pub(super) const HAS_EXPIRY: u8 = 1;
/// Length of a snapshot's nonce prefix `P`.
pub(super) const PREFIX_LEN: usize = 16;

#[derive(Serialize, Deserialize)]
pub(super) struct Toc<'a> {
    pub(super) sequence: u64,
    pub(super) prefixes: Vec<[u8; PREFIX_LEN]>,
    #[serde(borrow)]
    pub(super) spaces: Vec<TocSpace<'a>>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct TocSpace<'a> {
    pub(super) name: &'a str,
    pub(super) count: u64,
    pub(super) flags: u8,
    pub(super) records_len: u64,
    pub(super) names_len: u64,
    pub(super) tags: Vec<[u8; TAG_LEN]>,
}

/// The nonce `n(k) = P || u64le(k)` of a snapshot whose prefix is `prefix`: `n(0)` the
/// toc's, `n(2i + 1)` the names block's of namespace `i`, `n(2^32 (i + 1) + c)` the tag's
/// of chunk `c` of its directory ([`chunk_base`]).
pub(super) fn nonce(prefix: &[u8; PREFIX_LEN], k: u64) -> XNonce {
    let mut n = [0u8; NONCE_LEN];
    n[..PREFIX_LEN].copy_from_slice(prefix);
    n[PREFIX_LEN..].copy_from_slice(&k.to_le_bytes());
    n
}

/// `k` of the nonce of namespace `i`'s names block.
pub(super) fn names_k(i: usize) -> u64 {
    2 * i as u64 + 1
}

/// `k` of the nonce of chunk 0 of namespace `i`'s directory (chunk `c`: plus `c`).
pub(super) fn chunk_base(i: usize) -> u64 {
    (i as u64 + 1) << 32
}

/// How many chunks (and tags) a directory of `len` bytes has: at least one.
pub(super) fn chunks(len: usize) -> usize {
    len.div_ceil(DIR_CHUNK).max(1)
}

/// Bytes of a directory entry, with or without the expiry column.
pub(super) fn entry_len(flags: u8) -> usize {
    DIR_ENTRY_LEN + usize::from(flags & HAS_EXPIRY) * EXPIRY_LEN
}
