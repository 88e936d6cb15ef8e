//! A record's bytes: `varint(len) || key || option<u64> expires_at || varint(len) ||
//! sealed`, postcard's encoding of the snapshot body's entry (FORMAT.md), read here
//! without serde, for the lookups of [`super::Space`] in a segment; and the varints and
//! value fields its write log ([`super::log`]) shares.
#![forbid(unsafe_code)]

use super::Stored;

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

/// Asks for the cache line of `bytes[at]` (if there is such a byte) without waiting for
/// it: the byte is loaded and let go (`black_box` keeps the load), so the line is on its
/// way while the code goes on with what it has. What a prefetch instruction does, without
/// the `unsafe` one takes (kept to the arena's modules). A get asks for the lines it will
/// need next beside the one it waits for ([`super::log::Log::sealed_of`],
/// [`super::Indexed`]'s search and record): at 100k entries each is a miss, and one after
/// another they were most of a get's time (BENCHMARKS.md, session 15). For bytes that
/// are not secret only (sealed values, records, directory rows): the byte may be left in
/// a register or a stack slot.
#[inline(always)]
pub(super) fn preload(bytes: &[u8], at: usize) {
    core::hint::black_box(bytes.get(at).copied());
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

/// The bytes `len` prefixed by a varint at `*at`.
#[inline]
pub(super) fn prefixed<'a>(bytes: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    // A length below 128 (most names) is one byte, read here without the loop's call.
    let len = match bytes.get(*at) {
        Some(&byte) if byte < 0x80 => {
            *at += 1;
            usize::from(byte)
        }
        _ => usize::try_from(varint(bytes, at)?).ok()?,
    };
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
    let (expires_at, sealed, at) = value_fields(bytes, at)?;
    Some((key, expires_at, sealed, at))
}

/// The expiry and sealed value at `at` of `bytes` (a record's after its key, or a write
/// log's value record), and where they end.
pub(super) fn value_fields(bytes: &[u8], mut at: usize) -> Option<(Option<u64>, &[u8], usize)> {
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
    Some((expires_at, sealed, at))
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

/// The record of `key`'s `entry`, as a segment holds it (for tests).
#[cfg(test)]
pub(super) fn record(key: &str, entry: &crate::entry::Entry) -> alloc::vec::Vec<u8> {
    use alloc::vec::Vec;
    fn push_varint(out: &mut Vec<u8>, value: u64) {
        let mut bytes = [0u8; 10];
        let n = put_varint(&mut bytes, value);
        out.extend_from_slice(&bytes[..n]);
    }
    let mut out = Vec::new();
    push_varint(&mut out, key.len() as u64);
    out.extend_from_slice(key.as_bytes());
    match entry.expires_at {
        None => out.push(0),
        Some(at) => {
            out.push(1);
            push_varint(&mut out, at);
        }
    }
    push_varint(&mut out, entry.sealed.len() as u64);
    out.extend_from_slice(&entry.sealed);
    out
}
