//! How a scan of a [`super::Space`]'s table reads its entries. The log's names are read
//! where they lie, apart from the values (memory read forward, a value read only for a
//! name the scan keeps). The segment's records, names and values together, are read where
//! they lie if they are small, or through the table's slots a batch at a time (large
//! records, or a segment shared with gaps: one cache miss per record, but the misses of a
//! batch overlap). A record or name met where it lies counts if a slot points at it (a
//! probe with its key, comparing slots only): dead ones, at most half of each buffer, are
//! passed over.
#![forbid(unsafe_code)]

use core::hash::BuildHasher;

use super::log::NAME_BITS;
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
        keep: impl Fn(&[u8]) -> bool + 's,
    ) -> impl Iterator<Item = Stored<'s>> + 's {
        let (seg, own) = (&self.seg, &self.own);
        let span = self.seg_hi - self.seg_lo;
        let back_to_back = span == self.seg_span;
        let walk = back_to_back && span <= self.table.len().saturating_mul(WALK_MAX);
        let placed = walk.then(|| by_place(seg_bytes(seg), self.seg_lo, self.seg_hi));
        let placed = placed.into_iter().flatten().map(|(s, k)| (s, k, Slot::MAX));
        let named = own.names().map(|(s, k)| (s, k, NAME_BITS));
        let in_seg = self.table.iter().filter(|&&s| s & OWN == 0);
        let slotted = (!walk).then(|| by_slot(in_seg, seg_bytes(seg)));
        let slotted = (slotted.into_iter().flatten()).map(|s| (s, key_of(seg, own, s), 0));
        (placed.chain(named).chain(slotted))
            .filter(move |&(_, key, _)| keep(key))
            .filter_map(move |(slot, key, bits)| match bits {
                0 => Some(slot),
                _ => self.slot_of(key, slot, bits),
            })
            .map(|slot| view(seg, own, slot))
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

/// The segment slots of `slots`, [`BATCH`] at a time, each batch's records' first bytes
/// read in a loop of nothing else first: the loads are independent, so the processor
/// overlaps their misses, and the work that follows finds the records cached.
fn by_slot<'a>(
    mut slots: impl Iterator<Item = &'a Slot> + 'a,
    seg: &'a [u8],
) -> impl Iterator<Item = Slot> + 'a {
    let mut batch = [0; BATCH];
    let (mut len, mut next) = (0, 0);
    core::iter::from_fn(move || {
        if next == len {
            len = 0;
            for (place_in, &slot) in batch.iter_mut().zip(slots.by_ref()) {
                *place_in = slot;
                len += 1;
            }
            let mut touched = 0u8;
            for &slot in &batch[..len] {
                touched ^= seg.get(seg_at(slot)).copied().unwrap_or(0);
            }
            core::hint::black_box(touched);
            next = 0;
        }
        let slot = *batch.get(next).filter(|_| next < len)?;
        next += 1;
        Some(slot)
    })
}
