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
//! growing by chunks that never move ([`Buf`]), and are wiped when dropped.
#![forbid(unsafe_code)]

use super::buf::Buf;
use super::record::{prefixed, preload, put_varint, value_fields};
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

/// The length of the name record at `at` of `names` (0 if there is none).
pub(super) fn name_len(names: &[u8], at: usize) -> usize {
    let mut end = at;
    prefixed(names, &mut end).map_or(0, |_| end - at)
}

/// The length of the value record at `at` of `values` (0 if there is none).
pub(super) fn value_len(values: &[u8], at: usize) -> usize {
    value_fields(values, at).map_or(0, |(_, _, end)| end - at)
}

/// A value record's head (whether it expires, when, and the sealed value's length) and
/// how many of its bytes are used.
fn value_head(entry: &Entry) -> ([u8; 21], usize) {
    let mut head = [0; 21];
    let mut n = 1;
    if let Some(at) = entry.expires_at {
        head[0] = 1;
        n += put_varint(&mut head[1..], at);
    }
    n += put_varint(&mut head[n..], entry.sealed.len() as u64);
    (head, n)
}

/// A namespace's log: the names and the values of the entries written since its segment
/// (`OWN` slots), each buffer with what of it no slot holds.
#[derive(Default)]
pub(super) struct Log {
    pub(super) names: Held,
    pub(super) values: Held,
    /// Whether a value with an expiry was ever written here (none can have expired if not).
    expiring: bool,
    /// Whether a value was ever appended apart from its name ([`Log::append_value`]): the
    /// values no longer lie in their names' order.
    reordered: bool,
}

/// One of the log's buffers, how many of its bytes no slot holds, and how many of its
/// entries (records) are dead; it reads as its [`Buf`].
#[derive(Default)]
pub(super) struct Held {
    pub(super) buf: Buf,
    pub(super) dead: usize,
    pub(super) dead_entries: usize,
}

impl core::ops::Deref for Held {
    type Target = Buf;
    fn deref(&self) -> &Buf {
        &self.buf
    }
}

impl core::ops::DerefMut for Held {
    fn deref_mut(&mut self) -> &mut Buf {
        &mut self.buf
    }
}

impl Log {
    /// The key bytes of `slot`'s name (no UTF-8 check: it passed one on the way in).
    #[inline]
    pub(super) fn key(&self, slot: Slot) -> &[u8] {
        let (names, mut at) = self.names.chunk_at(name_at(slot));
        prefixed(names, &mut at).unwrap_or(&[])
    }

    /// The entry of `slot`.
    #[inline]
    pub(super) fn view(&self, slot: Slot) -> Option<Stored<'_>> {
        let key = core::str::from_utf8(self.key(slot)).ok()?;
        let (expires_at, sealed) = self.sealed_of(slot)?;
        Some(Stored::whole(key, expires_at, sealed))
    }

    /// The expiry and sealed value of `slot`, its name left unread. The record's second
    /// and third cache lines are asked for with its first ([`preload`]), not after its
    /// head is parsed: a 64-byte value's record spans two or three.
    #[inline]
    pub(super) fn sealed_of(&self, slot: Slot) -> Option<(Option<u64>, &[u8])> {
        let (values, at) = self.values.chunk_at(value_at(slot));
        preload(values, at + 64);
        preload(values, at + 127);
        let (expires_at, sealed, _) = value_fields(values, at)?;
        Some((expires_at, sealed))
    }

    /// The lengths of `slot`'s name record and value record.
    pub(super) fn lens(&self, slot: Slot) -> (usize, usize) {
        let (names, name) = self.names.chunk_at(name_at(slot));
        let (values, value) = self.values.chunk_at(value_at(slot));
        (name_len(names, name), value_len(values, value))
    }

    /// Whether the next entry's offsets fit in a slot ([`NAMES_MAX`], [`VALUES_MAX`]).
    pub(super) fn fits(&self) -> bool {
        self.fits_within(NAMES_MAX, VALUES_MAX)
    }

    /// Whether the buffers are at most `names_max` and `values_max` bytes long.
    pub(super) fn fits_within(&self, names_max: usize, values_max: usize) -> bool {
        self.names.len() <= names_max && self.values.len() <= values_max
    }

    /// Appends `key`'s `entry` (the offsets must fit: [`Log::fits`]); returns its slot.
    /// The bytes a buffer skips to keep a record in one chunk count as dead.
    pub(super) fn append(&mut self, key: &str, entry: &Entry) -> Slot {
        let mut head = [0; 10];
        let n = put_varint(&mut head, key.len() as u64);
        let (name, skipped) = self.names.push(&head[..n], key.as_bytes());
        self.names.dead += skipped;
        self.push_value(name, entry)
    }

    /// Appends `entry` as the new value of the name `slot` points at (the offsets must
    /// fit: [`Log::fits`]); returns the slot of both. The name stays where it lies, live:
    /// an overwrite by a value of another length costs the log no name, and leaves a
    /// listing of names with nothing dead to pass over.
    pub(super) fn append_value(&mut self, slot: Slot, entry: &Entry) -> Slot {
        self.reordered = true;
        self.push_value(name_at(slot), entry)
    }

    fn push_value(&mut self, name: usize, entry: &Entry) -> Slot {
        self.expiring |= entry.expires_at.is_some();
        let (head, n) = value_head(entry);
        let (value, skipped) = self.values.push(&head[..n], &entry.sealed);
        self.values.dead += skipped;
        own_slot(name, value)
    }

    /// Whether `entry`'s value record is as long as `slot`'s, so that [`Log::overwrite`]
    /// can write it where that one lies.
    pub(super) fn fits_over(&self, slot: Slot, entry: &Entry) -> bool {
        let (_, n) = value_head(entry);
        let (values, at) = self.values.chunk_at(value_at(slot));
        n + entry.sealed.len() == value_len(values, at)
    }

    /// Writes `entry` over the value of `slot` where it lies (it must fit:
    /// [`Log::fits_over`]; the name is the same, so it stays): nothing appended, nothing
    /// dead, and the old sealed bytes gone at once. A store whose values keep their
    /// length (a token refreshed, a counter) overwrites memory already faulted in, where
    /// an append faulted in a fresh page for every 4 KiB written until the next
    /// compaction (100k x 4 KiB overwrites: 18 us each, 4 of them sealing).
    pub(super) fn overwrite(&mut self, slot: Slot, entry: &Entry) {
        self.expiring |= entry.expires_at.is_some();
        let (head, n) = value_head(entry);
        self.values
            .write_at(value_at(slot), &head[..n], &entry.sealed);
    }

    /// Every entry, in the order written, if no slot has let go of one (each name and each
    /// value is then live, and the two buffers hold them in the same order: a compaction
    /// keeps each one's order): a scan of the log reads both forward, probing nothing.
    pub(super) fn all_live(&self) -> Option<impl Iterator<Item = Stored<'_>> + '_> {
        let values = self.values.chunks().flat_map(|(_, values)| {
            let mut at = 0;
            core::iter::from_fn(move || {
                let (expires_at, sealed, end) = value_fields(values, at)?;
                at = end;
                Some((expires_at, sealed))
            })
        });
        let keys = self.names().map(|(_, key)| core::str::from_utf8(key).ok());
        let entries = (keys.zip(values))
            .map_while(|(key, (expires_at, sealed))| Some(Stored::whole(key?, expires_at, sealed)));
        let in_step = self.names.dead_entries == 0 && self.values.dead_entries == 0;
        (in_step && !self.reordered).then_some(entries)
    }

    /// The name of every entry, if each name is live and none can have expired (no value
    /// with an expiry was ever written here): a listing of the live names then reads the
    /// names alone, where [`Log::all_live`] reads every value beside its name.
    ///
    /// Each chunk of names is checked as UTF-8 once, whole: names shorter than 128 bytes
    /// have a one-byte length, an ASCII byte, so a chunk of them is UTF-8 exactly when
    /// each name is, and each name is then a slice of it (one check a chunk instead of one
    /// a name: 14 % of a `keys` call's samples). A chunk that is not (a longer name's
    /// length) is checked name by name. A name that is not UTF-8 is passed over.
    pub(super) fn live_names(&self) -> Option<impl Iterator<Item = &str> + '_> {
        let alone = self.names.dead_entries == 0 && !self.expiring;
        alone.then(|| {
            self.names.chunks().flat_map(|(_, names)| {
                let whole = core::str::from_utf8(names).ok();
                let mut at = 0;
                core::iter::from_fn(move || {
                    let key = prefixed(names, &mut at)?;
                    Some(match whole {
                        Some(text) => text.get(at - key.len()..at),
                        None => core::str::from_utf8(key).ok(),
                    })
                })
                .flatten()
            })
        })
    }

    /// Every name record, dead ones included, in order: the bits of the slot that points
    /// at it ([`NAME_BITS`]) and its key bytes.
    pub(super) fn names(&self) -> impl Iterator<Item = (Slot, &[u8])> + '_ {
        self.names.chunks().flat_map(|(base, names)| {
            let mut at = 0;
            core::iter::from_fn(move || {
                let start = at;
                let key = prefixed(names, &mut at)?;
                Some((own_slot(base + start, 0), key))
            })
        })
    }
}

#[cfg(test)]
mod tests;
