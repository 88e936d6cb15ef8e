//! The file format, in one place: the store file (a [`header`] and a sealed body,
//! [`snapshot`]), the write-ahead [`journal`] appended after it and the [`position`] both
//! stand at, and how one value is sealed ([`value`]). Explicit little-endian throughout;
//! `docs/FORMAT.md` documents every byte.
//!
//! ```text
//! store file = header (176) || body ciphertext || tag          header, snapshot
//! journal    = "MKVJRNL\0" || version || ... || records        journal
//! value      = nonce (24) || ciphertext || tag (16)            value
//! ```
//!
//! Both files start with eight magic bytes and a `u16le` version, checked by
//! [`check_magic`], the one check of it.
#![forbid(unsafe_code)]

use crate::error::{corrupt, Error, Result};

mod body_in;
#[cfg(test)]
mod fence_tests;
pub(crate) mod header;
pub(crate) mod journal;
#[cfg(test)]
mod lazy_tests;
pub(crate) mod position;
mod serial;
pub(crate) mod snapshot;
mod toc;
mod v2_in;
mod v2_out;
#[cfg(test)]
mod v2_tests;
pub(crate) mod value;

/// `parts` one after another in an array of `N` bytes, their total length (each layout
/// that uses this is fixed: a mismatch is a bug, which the format's tests would show).
pub(crate) fn concat<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    for part in parts {
        out[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    debug_assert_eq!(at, N, "a fixed layout's parts");
    out
}

/// Checks the first ten bytes of a file against `magic` and `versions` (the last the one
/// an error names as expected): `Ok(true)` when both are there and right, `Ok(false)` when `bytes` stop inside them with what is there
/// matching (a torn start, empty included), `CorruptStore` ("bad magic") or
/// `UnsupportedStoreVersion` otherwise; `bad_magic` is the message of the first.
pub(crate) fn check_magic(
    bytes: &[u8],
    magic: &[u8; 8],
    versions: &[u16],
    bad_magic: &'static str,
) -> Result<bool> {
    if !magic.starts_with(&bytes[..bytes.len().min(magic.len())]) {
        return Err(corrupt(bad_magic));
    }
    let Some(found) = bytes.get(8..10) else {
        return Ok(false);
    };
    let found = u16::from_le_bytes([found[0], found[1]]);
    if !versions.contains(&found) {
        return Err(Error::UnsupportedStoreVersion {
            found,
            expected: versions.last().copied().unwrap_or(found),
        });
    }
    Ok(true)
}
