//! [`Space`]: one namespace's entries, each kept as one record (its name, expiry and
//! sealed value together, in the snapshot body's wire format) behind a 16-byte slot of a
//! hash table. A store read from a file keeps its records where the body parse found them,
//! in the decrypted file itself (a [`Segment`] the namespaces share): the bytes an entry
//! costs are its record and its slot, not a bucket, a name and an allocation of its own.
//! An entry written since is a record in an allocation of its own. A namespace whose
//! records in the segment are more than half dead (overwritten or removed) copies the
//! live ones into a segment of its own.
//!
//! ```text
//! record = varint(len) || key || option<u64> expires_at || varint(len) || sealed
//! ```
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::hash::BuildHasher;
use hashbrown::hash_table::Entry as Slot0;
use hashbrown::{DefaultHashBuilder, HashTable};

use crate::crypto::SEAL_OVERHEAD;
use crate::entry::Entry;

/// Bytes that records of several namespaces may point into: a decrypted store file.
pub(crate) type Segment = Arc<Vec<u8>>;

/// Where one entry's record lies.
enum Slot {
    /// At this offset of the namespace's segment.
    Seg(u32),
    /// In an allocation of its own.
    Own(Box<[u8]>),
}

/// One entry as its record holds it.
#[derive(Clone, Copy)]
pub(crate) struct Stored<'a> {
    pub(crate) key: &'a str,
    pub(crate) expires_at: Option<u64>,
    pub(crate) sealed: &'a [u8],
}

impl Stored<'_> {
    /// An owned copy of the entry, to use without the map.
    pub(crate) fn to_entry(self) -> Entry {
        Entry {
            sealed: self.sealed.into(),
            expires_at: self.expires_at,
        }
    }

    /// Whether the entry is live at `now` (always, without a TTL or without a clock).
    pub(crate) fn is_live(&self, now: Option<u64>) -> bool {
        crate::entry::is_live(self.expires_at, now)
    }

    /// The length of the plaintext sealed in this entry.
    pub(crate) fn plain_len(&self) -> usize {
        self.sealed.len().saturating_sub(SEAL_OVERHEAD)
    }
}

/// One namespace: key name -> entry.
#[derive(Default)]
pub(crate) struct Space {
    table: HashTable<Slot>,
    hasher: DefaultHashBuilder,
    /// The segment the `Seg` slots point into, and how many of its bytes they hold.
    seg: Option<Segment>,
    seg_live: usize,
    /// `seg_live` when the segment was taken: past half of it dead, the space compacts.
    seg_span: usize,
}

/// Reads a varint (postcard's: LEB128, at most 10 bytes for a u64) at `*at`.
fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f).checked_shl(shift)?;
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

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The bytes `len` prefixed by a varint at `*at`.
fn prefixed<'a>(bytes: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(varint(bytes, at)?).ok()?;
    let out = bytes.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some(out)
}

/// The record at `at` of `bytes`, and where it ends.
fn parse(bytes: &[u8], mut at: usize) -> Option<(Stored<'_>, usize)> {
    let key = core::str::from_utf8(prefixed(bytes, &mut at)?).ok()?;
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
    let stored = Stored {
        key,
        expires_at,
        sealed,
    };
    Some((stored, at))
}

/// A record of its own for `key`'s `entry`.
fn record(key: &str, entry: &Entry) -> Box<[u8]> {
    let mut out = Vec::with_capacity(key.len() + entry.sealed.len() + 16);
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
    out.into_boxed_slice()
}

const NONE: Stored<'static> = Stored {
    key: "",
    expires_at: None,
    sealed: &[],
};

/// The entry in `slot` (records are checked when they enter a space: `NONE` is never
/// seen, and opens as nothing would).
fn view<'a>(seg: &'a Option<Segment>, slot: &'a Slot) -> Stored<'a> {
    let found = match slot {
        Slot::Seg(at) => seg.as_ref().and_then(|s| parse(s, *at as usize)),
        Slot::Own(rec) => parse(rec, 0),
    };
    found.map_or(NONE, |(stored, _)| stored)
}

/// The key bytes of the record in `slot` (what a lookup compares and hashes: no UTF-8
/// check, which the record passed when it entered the space).
fn key_of<'a>(seg: &'a Option<Segment>, slot: &'a Slot) -> &'a [u8] {
    let (bytes, at) = match slot {
        Slot::Seg(at) => (seg.as_deref().map_or(&[][..], |s| &s[..]), *at as usize),
        Slot::Own(rec) => (&rec[..], 0),
    };
    let mut at = at;
    prefixed(bytes, &mut at).unwrap_or(&[])
}

/// The length of the record in `slot`, if it lies in the segment.
fn seg_len(seg: &Option<Segment>, slot: &Slot) -> usize {
    match (slot, seg) {
        (Slot::Seg(at), Some(s)) => parse(s, *at as usize).map_or(0, |(_, end)| end - *at as usize),
        _ => 0,
    }
}

impl Space {
    /// An empty space with room for `n` entries.
    pub(crate) fn with_capacity(n: usize) -> Space {
        Space {
            table: HashTable::with_capacity(n),
            ..Space::default()
        }
    }

    /// An empty space with room for `n` entries whose records may lie in `seg`.
    pub(crate) fn in_segment(seg: Segment, n: usize) -> Space {
        Space {
            seg: Some(seg),
            ..Space::with_capacity(n)
        }
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The entry under `key`.
    pub(crate) fn get(&self, key: &str) -> Option<Stored<'_>> {
        let hash = self.hasher.hash_one(key.as_bytes());
        let slot = self
            .table
            .find(hash, |s| key_of(&self.seg, s) == key.as_bytes())?;
        Some(view(&self.seg, slot))
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Stored<'_>> + '_ {
        self.table.iter().map(|s| view(&self.seg, s))
    }

    /// Adds the record at `at` of the segment (which must be `stored`, parsed there and
    /// ending at `end`); `false` if its key is here already. A record whose bytes are not
    /// where `stored` says is copied into one of its own.
    pub(crate) fn insert_at(&mut self, at: usize, end: usize, stored: Stored<'_>) -> bool {
        let found = self.seg.as_ref().and_then(|s| parse(s, at));
        let same = found.is_some_and(|(s, e)| {
            e == end
                && s.key == stored.key
                && s.expires_at == stored.expires_at
                && s.sealed.as_ptr() == stored.sealed.as_ptr()
        });
        let slot = match u32::try_from(at) {
            Ok(at) if same => Slot::Seg(at),
            _ => Slot::Own(record(stored.key, &stored.to_entry())),
        };
        let Space {
            table,
            hasher,
            seg,
            seg_live,
            seg_span,
        } = self;
        let hash = hasher.hash_one(stored.key.as_bytes());
        match table.entry(
            hash,
            |s| key_of(seg, s) == stored.key.as_bytes(),
            |s| hasher.hash_one(key_of(seg, s)),
        ) {
            Slot0::Occupied(_) => false,
            Slot0::Vacant(v) => {
                if matches!(slot, Slot::Seg(_)) {
                    *seg_live += end - at;
                    *seg_span = *seg_live;
                }
                v.insert(slot);
                true
            }
        }
    }

    /// Sets `key`'s entry; returns the one it replaced if `old` (copied out).
    pub(crate) fn insert(&mut self, key: &str, entry: &Entry, old: bool) -> Option<Entry> {
        let Space {
            table, hasher, seg, ..
        } = self;
        let hash = hasher.hash_one(key.as_bytes());
        let fresh = Slot::Own(record(key, entry));
        let (was, dead) = match table.entry(
            hash,
            |s| key_of(seg, s) == key.as_bytes(),
            |s| hasher.hash_one(key_of(seg, s)),
        ) {
            Slot0::Occupied(mut o) => {
                let slot = o.get_mut();
                let was = old.then(|| view(seg, slot).to_entry());
                let dead = seg_len(seg, slot);
                *slot = fresh;
                (was, dead)
            }
            Slot0::Vacant(v) => {
                v.insert(fresh);
                (None, 0)
            }
        };
        self.died(dead);
        was
    }

    /// Removes `key`'s entry and returns it.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Entry> {
        let hash = self.hasher.hash_one(key.as_bytes());
        let seg = &self.seg;
        let found = self
            .table
            .find_entry(hash, |s| key_of(seg, s) == key.as_bytes())
            .ok()?;
        let (slot, _) = found.remove();
        let was = view(seg, &slot).to_entry();
        let dead = seg_len(seg, &slot);
        self.died(dead);
        Some(was)
    }

    /// Keeps the entries `keep` says to.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(Stored<'_>) -> bool) {
        let seg = &self.seg;
        let mut dead = 0;
        self.table.retain(|s| {
            let kept = keep(view(seg, s));
            if !kept {
                dead += seg_len(seg, s);
            }
            kept
        });
        self.died(dead);
    }

    /// How many entries' records lie in the segment (for tests of the body parse).
    #[cfg(test)]
    pub(crate) fn in_segment_count(&self) -> usize {
        self.table
            .iter()
            .filter(|s| matches!(s, Slot::Seg(_)))
            .count()
    }

    /// Counts `dead` bytes of the segment as no longer held; copies the live records into
    /// a segment of their own once more than half of the space's are dead.
    fn died(&mut self, dead: usize) {
        if dead == 0 {
            return;
        }
        self.seg_live = self.seg_live.saturating_sub(dead);
        if self.seg_live.saturating_mul(2) >= self.seg_span {
            return;
        }
        let Some(old) = self.seg.take() else { return };
        let mut fresh = Vec::with_capacity(self.seg_live);
        for slot in self.table.iter_mut() {
            if let Slot::Seg(at) = slot {
                let start = *at as usize;
                let end = parse(&old, start).map_or(start, |(_, end)| end);
                let moved = u32::try_from(fresh.len()).unwrap_or(u32::MAX);
                fresh.extend_from_slice(old.get(start..end).unwrap_or(&[]));
                *at = moved;
            }
        }
        self.seg_live = fresh.len();
        self.seg_span = fresh.len();
        self.seg = (!fresh.is_empty()).then(|| Arc::new(fresh));
    }
}

#[cfg(test)]
mod tests;
