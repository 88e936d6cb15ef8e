//! How a space lets its dead records go: once more than half of its segment's bytes, or
//! of its log's, are dead (overwritten or removed), the live records are copied into a
//! buffer of their own and the slots re-pointed.
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use hashbrown::HashTable;
use zeroize::Zeroizing;

use super::record::{parse, Log};
use super::{own_slot, Slot, Space, OWN};

/// Copies the records of the slots of `table` that `mine` says lie in `from` into a
/// buffer of their own, re-pointing each slot (`make`: a slot from the new offset).
fn compact(
    table: &mut HashTable<Slot>,
    from: &[u8],
    live: usize,
    mine: impl Fn(Slot) -> bool,
    make: impl Fn(usize) -> Slot,
) -> Vec<u8> {
    let mut fresh = Vec::with_capacity(live);
    for slot in table.iter_mut().filter(|s| mine(**s)) {
        let start = usize::try_from(*slot & !OWN).unwrap_or(usize::MAX);
        let end = parse(from, start).map_or(start, |(_, end)| end);
        *slot = make(fresh.len());
        fresh.extend_from_slice(from.get(start..end).unwrap_or(&[]));
    }
    fresh
}

impl Space {
    /// Counts `dead` bytes of the segment (`slot` one of its) or the log (`slot` one of
    /// its) as no longer held; copies the live records into a buffer of their own once
    /// more than half of that one's are dead.
    pub(super) fn died(&mut self, slot: Slot, dead: usize) {
        if dead == 0 {
            return;
        }
        if slot & OWN != 0 {
            self.own_dead += dead;
            if self.own_dead.saturating_mul(2) <= self.own.len() {
                return;
            }
            let live = self.own.len() - self.own_dead.min(self.own.len());
            let old = core::mem::take(&mut self.own);
            self.own = Log::from(compact(
                &mut self.table,
                &old,
                live,
                |s| s & OWN != 0,
                own_slot,
            ));
            self.own_dead = 0;
            return;
        }
        self.seg_live = self.seg_live.saturating_sub(dead);
        if self.seg_live.saturating_mul(2) >= self.seg_span {
            return;
        }
        let Some(old) = self.seg.take() else { return };
        let fresh = compact(
            &mut self.table,
            &old,
            self.seg_live,
            |s| s & OWN == 0,
            |at| at as Slot,
        );
        self.seg_live = fresh.len();
        self.seg_span = fresh.len();
        (self.seg_lo, self.seg_hi) = (0, fresh.len());
        self.seg = (!fresh.is_empty()).then(|| Arc::new(Zeroizing::new(fresh)));
    }
}
