//! The two orders a scan of a [`super::Space`] reads its records in: where they lie
//! (small records: memory read forward, dead records passed over by the caller), or the
//! table's slots a batch at a time (large records, or a segment shared with gaps: one
//! cache miss per record, but the misses of a batch overlap).
#![forbid(unsafe_code)]

use super::record::skim;
use super::{place, Segment, Slot};

/// How many records [`by_slot`] touches ahead of handing them on.
const BATCH: usize = 16;

/// Every record of each run `(bytes, from, to, tag)`, in order, as its slot (`tag | at`)
/// and key bytes; dead ones included.
pub(super) fn by_place<'a>(
    mut runs: [(&'a [u8], usize, usize, Slot); 2],
) -> impl Iterator<Item = (Slot, &'a [u8])> + 'a {
    let mut run = 0;
    core::iter::from_fn(move || {
        while let Some((bytes, at, end, tag)) = runs.get_mut(run) {
            if let Some((key, next)) = (*at < *end).then(|| skim(bytes, *at)).flatten() {
                let slot = *tag | *at as Slot;
                *at = next;
                return Some((slot, key));
            }
            run += 1;
        }
        None
    })
}

/// The slots of `slots`, [`BATCH`] at a time, each batch's records' first bytes read in a
/// loop of nothing else first: the loads are independent, so the processor overlaps
/// their misses, and the work that follows finds the records cached.
pub(super) fn by_slot<'a>(
    mut slots: impl Iterator<Item = &'a Slot> + 'a,
    seg: &'a Option<Segment>,
    own: &'a [u8],
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
                let (bytes, at) = place(seg, own, slot);
                touched ^= bytes.get(at).copied().unwrap_or(0);
            }
            core::hint::black_box(touched);
            next = 0;
        }
        let slot = *batch.get(next).filter(|_| next < len)?;
        next += 1;
        Some(slot)
    })
}
