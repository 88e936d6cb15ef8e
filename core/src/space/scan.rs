//! How a scan of a [`super::Space`]'s table reads its entries. A scan of [`Every`] entry
//! of a log with no dead entry reads its names and values side by side, forward
//! ([`super::log::Log::all_live`]). Otherwise the log's names are read where they lie,
//! apart from the values (memory read forward, a value read only for a name the scan
//! keeps, those a batch at a time). The segment's records, names and values together, are
//! read where they lie if they are small, or through the table's slots a batch at a time
//! (large records, or a segment shared with gaps: one cache miss per record, but the
//! misses of a batch overlap). A record or name met where it lies counts if a slot points
//! at it (a probe with its key, comparing slots only): dead ones, at most half of each
//! buffer, are passed over.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use core::hash::BuildHasher;

use super::log::{value_at, NAME_BITS};
use super::record::skim;
use super::{key_of, seg_at, seg_bytes, view, Slot, Space, Stored, OWN};

/// Which entries a scan keeps, by their key bytes: a closure, or [`Every`] entry (which a
/// scan of a log no slot has let go of reads forward, names and values side by side,
/// probing nothing: a scan that keeps few names reads the names alone instead).
pub(crate) trait Keep: Copy {
    /// Whether this keeps every entry.
    const EVERY: bool = false;
    /// Whether this keeps the entry whose key bytes are `key`.
    fn keeps(&self, key: &[u8]) -> bool;
}

impl<F: Fn(&[u8]) -> bool + Copy> Keep for F {
    #[inline]
    fn keeps(&self, key: &[u8]) -> bool {
        self(key)
    }
}

/// Every entry ([`Keep`]).
#[derive(Clone, Copy)]
pub(crate) struct Every;

impl Keep for Every {
    const EVERY: bool = true;
    fn keeps(&self, _: &[u8]) -> bool {
        true
    }
}

/// How many records [`by_slot`] touches ahead of handing them on.
const BATCH: usize = 16;

/// The largest average record of the segment a scan reads where the records lie.
const WALK_MAX: usize = 512;

impl Space {
    /// The entries of the table (all but a v2 file's), as [`Space::iter_keyed`]: the
    /// segment's records, then the log's entries.
    ///
    /// Each part is made in a frame of its own and boxed: in an unoptimised build the
    /// adapters' state, moved from one to the next, took 20 KiB of one frame, more than a
    /// small thread has left for a save (tests/attack_builds.rs); a scan's few
    /// allocations and a call per entry cost less than the entry's own work.
    pub(super) fn table_entries<'s, K: Keep + 's>(
        &'s self,
        keep: K,
    ) -> Box<dyn Iterator<Item = Stored<'s>> + 's> {
        let (seg, own) = (&self.seg, &self.own);
        let segment = self.seg_slots(keep).map(move |slot| view(seg, own, slot));
        Box::new(segment.chain(self.log_entries(keep)))
    }

    /// The slots of the segment's records whose key bytes `keep` takes: walked where they
    /// lie if they are small and back to back, else through the table a batch at a time.
    #[inline(never)]
    fn seg_slots<'s, K: Keep + 's>(&'s self, keep: K) -> Box<dyn Iterator<Item = Slot> + 's> {
        let (seg, own) = (&self.seg, &self.own);
        let bytes = seg_bytes(seg);
        let span = self.seg_hi - self.seg_lo;
        let back_to_back = span == self.seg_span;
        if back_to_back && span <= self.table.len().saturating_mul(WALK_MAX) {
            let placed = by_place(bytes, self.seg_lo, self.seg_hi);
            let placed = (placed.filter(move |&(_, key)| keep.keeps(key)))
                .filter_map(move |(slot, key)| self.slot_of(key, slot, Slot::MAX));
            return Box::new(placed);
        }
        let in_seg = self.table.iter().copied().filter(|&s| s & OWN == 0);
        let slotted = by_slot(in_seg, |s| bytes.get(seg_at(s)).copied());
        Box::new(slotted.filter(move |&s| keep.keeps(key_of(seg, own, s))))
    }

    /// The log's entries whose key bytes `keep` takes. A scan of every entry of a log no
    /// slot has let go of reads its names and values side by side; any other reads the
    /// names, probes the table for those it keeps, and reads their values a batch at a
    /// time (a scan that keeps most names, `keys` of a log with dead entries, overlaps
    /// their misses).
    #[inline(never)]
    fn log_entries<'s, K: Keep + 's>(
        &'s self,
        keep: K,
    ) -> Box<dyn Iterator<Item = Stored<'s>> + 's> {
        let (seg, own) = (&self.seg, &self.own);
        if let Some(all_live) = K::EVERY.then(|| own.all_live()).flatten() {
            return Box::new(all_live);
        }
        let named = (own.names())
            .filter(move |&(_, key)| keep.keeps(key))
            .filter_map(move |(slot, key)| self.slot_of(key, slot, NAME_BITS));
        let probed = by_slot(named, |s| own.values.byte(value_at(s)));
        Box::new(probed.map(move |slot| view(seg, own, slot)))
    }

    /// The key bytes of every entry, if they are all the log's, each live and none with an
    /// expiry ([`Log::live_names`](super::log::Log::live_names)): what `keys` of a store
    /// written in memory, or of one whose every entry was written since it was read, lists
    /// without a value read or a probe.
    pub(crate) fn live_names(&self) -> Option<impl Iterator<Item = &str> + '_> {
        let all_own = self.idx.is_none() && self.seg_live == 0;
        all_own.then(|| self.own.live_names()).flatten()
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
