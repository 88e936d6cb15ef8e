//! A namespace's write log: the entries written since its segment, their names apart from
//! their values, so that a scan reads the names alone (and a value only for a name it
//! keeps), where records of both together had it stream every value through the cache.
//!
//! ```text
//! name  = varint(len) || key                         (the names buffer)
//! value = option<u64> expires_at || varint(len) || sealed   (the values buffer)
//! slot  = OWN | name offset << 32 | value offset
//! ```
//!
//! A slot holds both offsets, so a lookup's two loads (the name it compares, the value it
//! returns) do not wait on each other. That bounds the buffers: a name starts below 2^31,
//! a value below 2^32 ([`Log::fits`]; past them, the space compacts its log, and refuses
//! the write if the live bytes alone are more: more than a store file holds, which
//! [`crate::MAX_STORE_LEN`] bounds at 1 GiB whole).
//!
//! Both buffers hold secrets (key names, sealed values): they never leave a copy behind,
//! growing by moving to a buffer twice as large and wiping the old one (never by a
//! reallocation that frees it as it is), and are wiped when dropped.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use super::record::{prefixed, put_varint, value_fields, varint_len};
use super::{Slot, Stored, OWN};
use crate::entry::Entry;

/// Where a slot holds its name's offset.
const NAME_SHIFT: u32 = 32;
/// The largest offset of a name a slot holds.
pub(super) const NAMES_MAX: usize = (1 << 31) - 1;
/// The largest offset of a value a slot holds.
pub(super) const VALUES_MAX: usize = u32::MAX as usize;
/// The bits of a slot that say which name it points at (and that it is the log's).
pub(super) const NAME_BITS: Slot = OWN | ((NAMES_MAX as Slot) << NAME_SHIFT);

/// The slot of the name at `name` and the value at `value` of the log.
pub(super) fn own_slot(name: usize, value: usize) -> Slot {
    OWN | (name as Slot) << NAME_SHIFT | value as Slot
}

/// The offset of `slot`'s name in the names buffer.
pub(super) fn name_at(slot: Slot) -> usize {
    ((slot & NAME_BITS & !OWN) >> NAME_SHIFT) as usize
}

/// The offset of `slot`'s value in the values buffer.
pub(super) fn value_at(slot: Slot) -> usize {
    (slot & VALUES_MAX as Slot) as usize
}

/// Bytes that never leave a copy behind: grown by moving to a buffer twice as large and
/// wiping the old one, wiped when dropped.
#[derive(Default)]
pub(super) struct Buf(Vec<u8>);

impl Buf {
    /// An empty buffer with room for `n` bytes.
    pub(super) fn with_capacity(n: usize) -> Buf {
        Buf(Vec::with_capacity(n))
    }

    /// Room for `extra` more bytes, moving (and wiping) the bytes if need be.
    fn reserve(&mut self, extra: usize) {
        if self.0.capacity() - self.0.len() < extra {
            let mut fresh = Vec::with_capacity((self.0.len() + extra).max(2 * self.0.capacity()));
            fresh.extend_from_slice(&self.0);
            zeroize::Zeroize::zeroize(&mut self.0);
            self.0 = fresh;
        }
    }

    /// Appends `bytes`.
    pub(super) fn extend(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        self.0.extend_from_slice(bytes);
    }

    /// Appends the varint of `value`.
    fn push_varint(&mut self, value: u64) {
        let mut bytes = [0u8; 10];
        let n = put_varint(&mut bytes, value);
        self.extend(&bytes[..n]);
    }
}

impl core::ops::Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// The length of the name record at `at` of `names` (0 if there is none).
pub(super) fn name_len(names: &[u8], at: usize) -> usize {
    let mut end = at;
    prefixed(names, &mut end).map_or(0, |_| end - at)
}

/// The length of the value record at `at` of `values` (0 if there is none).
pub(super) fn value_len(values: &[u8], at: usize) -> usize {
    value_fields(values, at).map_or(0, |(_, _, end)| end - at)
}

/// A namespace's log: the names and the values of the entries written since its segment
/// (`OWN` slots), and how many bytes of each no slot holds.
#[derive(Default)]
pub(super) struct Log {
    pub(super) names: Buf,
    pub(super) values: Buf,
    pub(super) names_dead: usize,
    pub(super) values_dead: usize,
}

impl Log {
    /// The key bytes of `slot`'s name (no UTF-8 check: it passed one on the way in).
    pub(super) fn key(&self, slot: Slot) -> &[u8] {
        prefixed(&self.names, &mut name_at(slot)).unwrap_or(&[])
    }

    /// The entry of `slot`.
    pub(super) fn view(&self, slot: Slot) -> Option<Stored<'_>> {
        let key = core::str::from_utf8(self.key(slot)).ok()?;
        let (expires_at, sealed, _) = value_fields(&self.values, value_at(slot))?;
        Some(Stored::whole(key, expires_at, sealed))
    }

    /// The lengths of `slot`'s name record and value record.
    pub(super) fn lens(&self, slot: Slot) -> (usize, usize) {
        let name = name_len(&self.names, name_at(slot));
        (name, value_len(&self.values, value_at(slot)))
    }

    /// Whether the next entry's offsets fit in a slot ([`NAMES_MAX`], [`VALUES_MAX`]).
    pub(super) fn fits(&self) -> bool {
        self.fits_within(NAMES_MAX, VALUES_MAX)
    }

    /// Whether the buffers are at most `names_max` and `values_max` bytes long.
    pub(super) fn fits_within(&self, names_max: usize, values_max: usize) -> bool {
        self.names.len() <= names_max && self.values.len() <= values_max
    }

    /// The slot of the next entry [`Log::append`] adds.
    pub(super) fn next_slot(&self) -> Slot {
        own_slot(self.names.len(), self.values.len())
    }

    /// Appends `key`'s `entry`, whose slot is [`Log::next_slot`] (the offsets must fit:
    /// [`Log::fits`]).
    pub(super) fn append(&mut self, key: &str, entry: &Entry) {
        let (names, values) = (&mut self.names, &mut self.values);
        names.reserve(varint_len(key.len()) + key.len());
        names.push_varint(key.len() as u64);
        names.extend(key.as_bytes());
        let sealed = &entry.sealed;
        values.reserve(11 + varint_len(sealed.len()) + sealed.len());
        match entry.expires_at {
            None => values.extend(&[0]),
            Some(at) => {
                values.extend(&[1]);
                values.push_varint(at);
            }
        }
        values.push_varint(sealed.len() as u64);
        values.extend(sealed);
    }

    /// Every name record, dead ones included, in order: the bits of the slot that points
    /// at it ([`NAME_BITS`]) and its key bytes.
    pub(super) fn names(&self) -> impl Iterator<Item = (Slot, &[u8])> + '_ {
        let mut at = 0;
        core::iter::from_fn(move || {
            let start = at;
            let key = prefixed(&self.names, &mut at)?;
            Some((own_slot(start, 0), key))
        })
    }
}

#[cfg(test)]
mod tests;
