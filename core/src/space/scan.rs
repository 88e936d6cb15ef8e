//! How a scan of a [`super::Space`]'s table reads its entries. The log's names are read
//! where they lie, apart from the values (memory read forward, a value read only for a
//! name the scan keeps, those a batch at a time). The segment's records, names and values together, are read where
//! they lie if they are small, or through the table's slots a batch at a time (large
//! records, or a segment shared with gaps: one cache miss per record, but the misses of a
//! batch overlap). A record or name met where it lies counts if a slot points at it (a
//! probe with its key, comparing slots only): dead ones, at most half of each buffer, are
//! passed over.
#![forbid(unsafe_code)]

use core::hash::BuildHasher;

use super::log::{value_at, NAME_BITS};
use super::record::skim;
use super::{key_of, seg_at, seg_bytes, view, Slot, Space, Stored, OWN};

/// How many records [`by_slot`] touches ahead of handing them on.
const BATCH: usize = 16;

/// The largest average record of the segment a scan reads where the records lie.
const WALK_MAX: usize = 512;

impl Space {
    /// The entries of the table (all but a v2 file's), as [`Space::iter_keyed`].
    pub(super) fn table_entries<'s>(
        &'s self,
        keep: impl Fn(&[u8]) -> bool + Copy + 's,
    ) -> impl Iterator<Item = Stored<'s>> + 's {
        let (seg, own) = (&self.seg, &self.own);
        let bytes = seg_bytes(seg);
        let span = self.seg_hi - self.seg_lo;
        let back_to_back = span == self.seg_span;
        let walk = back_to_back && span <= self.table.len().saturating_mul(WALK_MAX);
        let placed = walk.then(|| by_place(bytes, self.seg_lo, self.seg_hi));
        let placed = (placed.into_iter().flatten())
            .filter(move |&(_, key)| keep(key))
            .filter_map(move |(slot, key)| self.slot_of(key, slot, Slot::MAX));
        // The values of the names kept are read a batch at a time, as the segment's
        // records through the slots: a scan that keeps most names (`keys`, which reads
        // each entry's expiry) overlaps their misses.
        let named = (own.names())
            .filter(move |&(_, key)| keep(key))
            .filter_map(move |(slot, key)| self.slot_of(key, slot, NAME_BITS));
        let named = by_slot(named, |s| own.values.byte(value_at(s)));
        let in_seg = self.table.iter().copied().filter(|&s| s & OWN == 0);
        let slotted = (!walk).then(|| by_slot(in_seg, |s| bytes.get(seg_at(s)).copied()));
        let slotted = (slotted.into_iter().flatten()).filter(move |&s| keep(key_of(seg, own, s)));
        (placed.chain(named).chain(slotted)).map(|slot| view(seg, own, slot))
    }

    /// The table's slot of `key` if its `bits` are `met`'s (the record or name a walk met
    /// is live).
    fn slot_of(&self, key: &[u8], met: Slot, bits: Slot) -> Option<Slot> {
        let hash = self.hasher.hash_one(key);
        self.table.find(hash, |&s| s & bits == met).copied()
    }
}

/// Every record of `bytes` from `at` to `end`, in order, as its slot and key bytes; dead
/// ones included.
fn by_place(bytes: &[u8], mut at: usize, end: usize) -> impl Iterator<Item = (Slot, &[u8])> {
    core::iter::from_fn(move || {
        let (key, next) = (at < end).then(|| skim(bytes, at)).flatten()?;
        let slot = at as Slot;
        at = next;
        Some((slot, key))
    })
}

/// The slots of `slots`, [`BATCH`] at a time, each batch's bytes (`touch`: the first of
/// a slot's record, or of its value) read in a loop of nothing else first: the loads are
/// independent, so the processor overlaps their misses, and the work that follows finds
/// the bytes cached.
fn by_slot(
    mut slots: impl Iterator<Item = Slot>,
    touch: impl Fn(Slot) -> Option<u8>,
) -> impl Iterator<Item = Slot> {
    let mut batch = [0; BATCH];
    let (mut len, mut next) = (0, 0);
    core::iter::from_fn(move || {
        if next == len {
            len = 0;
            for (place_in, slot) in batch.iter_mut().zip(slots.by_ref()) {
                *place_in = slot;
                len += 1;
            }
            let mut touched = 0u8;
            for &slot in &batch[..len] {
                touched ^= touch(slot).unwrap_or(0);
            }
            core::hint::black_box(touched);
            next = 0;
        }
        let slot = *batch.get(next).filter(|_| next < len)?;
        next += 1;
        Some(slot)
    })
}
