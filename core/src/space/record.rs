//! A record's bytes: `varint(len) || key || option<u64> expires_at || varint(len) ||
//! sealed`, postcard's encoding of the snapshot body's entry (FORMAT.md), read and written
//! here without serde, for the lookups of [`super::Space`].
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use super::Stored;
use crate::entry::Entry;

/// Reads a varint (postcard's: LEB128, at most 10 bytes, the value below 2^64) at `*at`.
pub(super) fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// How many bytes the varint of `value` takes.
pub(crate) fn varint_len(value: usize) -> usize {
    let bits = usize::BITS - (value | 1).leading_zeros();
    bits.div_ceil(7) as usize
}

/// Writes the varint of `value` at the start of `out` (room for it: [`varint_len`]);
/// returns its length.
pub(crate) fn put_varint(out: &mut [u8], mut value: u64) -> usize {
    let mut n = 0;
    while value >= 0x80 {
        out[n] = (value as u8) | 0x80;
        value >>= 7;
        n += 1;
    }
    out[n] = value as u8;
    n + 1
}

fn push_varint(out: &mut Vec<u8>, value: u64) {
    let mut bytes = [0u8; 10];
    let n = put_varint(&mut bytes, value);
    out.extend_from_slice(&bytes[..n]);
}

/// The bytes `len` prefixed by a varint at `*at`.
pub(super) fn prefixed<'a>(bytes: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(varint(bytes, at)?).ok()?;
    let out = bytes.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some(out)
}

/// A record's key bytes, expiry and sealed value, and where it ends.
type Fields<'a> = (&'a [u8], Option<u64>, &'a [u8], usize);

/// The fields of the record at `at` of `bytes` (its key bytes unchecked), and where it
/// ends.
fn fields(bytes: &[u8], mut at: usize) -> Option<Fields<'_>> {
    let key = prefixed(bytes, &mut at)?;
    let expires_at = match bytes.get(at)? {
        0 => {
            at += 1;
            None
        }
        1 => {
            at += 1;
            Some(varint(bytes, &mut at)?)
        }
        _ => return None,
    };
    let sealed = prefixed(bytes, &mut at)?;
    Some((key, expires_at, sealed, at))
}

/// The record at `at` of `bytes`, and where it ends.
pub(super) fn parse(bytes: &[u8], at: usize) -> Option<(Stored<'_>, usize)> {
    let (key, expires_at, sealed, end) = fields(bytes, at)?;
    let stored = Stored::whole(core::str::from_utf8(key).ok()?, expires_at, sealed);
    Some((stored, end))
}

/// The key bytes of the record at `at` of `bytes` (no UTF-8 check), and where it ends:
/// what a walk over records in their order reads of each.
pub(super) fn skim(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    fields(bytes, at).map(|(key, _, _, end)| (key, end))
}

/// Appends the record of `key`'s `entry` to `out`.
fn append_record(out: &mut Vec<u8>, key: &str, entry: &Entry) {
    push_varint(out, key.len() as u64);
    out.extend_from_slice(key.as_bytes());
    match entry.expires_at {
        None => out.push(0),
        Some(at) => {
            out.push(1);
            push_varint(out, at);
        }
    }
    push_varint(out, entry.sealed.len() as u64);
    out.extend_from_slice(&entry.sealed);
}

/// The record of `key`'s `entry` (for tests).
#[cfg(test)]
pub(super) fn record(key: &str, entry: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    append_record(&mut out, key, entry);
    out
}

/// A namespace's log of the records written since its segment: they hold key names in the
/// clear, so the log never leaves a copy behind. It grows by moving to a buffer twice as
/// large and wiping the old one (never by a reallocation that frees it as it is), and is
/// wiped when dropped.
#[derive(Default)]
pub(super) struct Log(Vec<u8>);

impl Log {
    /// Appends the record of `key`'s `entry`.
    pub(super) fn append(&mut self, key: &str, entry: &Entry) {
        let extra = varint_len(key.len()) + key.len() + 11 + varint_len(entry.sealed.len());
        let extra = extra + entry.sealed.len();
        if self.0.capacity() - self.0.len() < extra {
            let mut fresh = Vec::with_capacity((self.0.len() + extra).max(2 * self.0.capacity()));
            fresh.extend_from_slice(&self.0);
            zeroize::Zeroize::zeroize(&mut self.0);
            self.0 = fresh;
        }
        append_record(&mut self.0, key, entry);
    }
}

impl From<Vec<u8>> for Log {
    fn from(bytes: Vec<u8>) -> Log {
        Log(bytes)
    }
}

impl core::ops::Deref for Log {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}
