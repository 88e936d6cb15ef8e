//! How a space lets its dead bytes go: once more than half of its segment's bytes, or of
//! its log's names or values, are dead (overwritten or removed), the live ones are copied
//! into a buffer of their own (the segment's) or moved down over the dead ones where they
//! lie (the log's), and the slots re-pointed. The log's two buffers compact apart (a slot
//! holds both offsets): each when half of its own bytes are dead.
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use hashbrown::HashTable;
use zeroize::Zeroizing;

use super::buf::Buf;
use super::log::{name_at, name_len, own_slot, value_at, value_len, Log, NAME_BITS};
use super::record::parse;
use super::{seg_at, seg_bytes, Segment, Slot, Space, OWN};
use crate::error::{Error, Result};

/// Bytes that no slot holds any longer (an overwrite's, a removal's, a retain's): of the
/// segment, and of the log's names and values.
#[derive(Clone, Copy, Default)]
pub(super) struct Freed {
    seg: usize,
    names: usize,
    values: usize,
    /// The log's names and values among them.
    name_entries: usize,
    value_entries: usize,
}

impl Freed {
    /// The bytes of `slot`'s record (in the segment) or name and value (in the log).
    pub(super) fn of(seg: &Option<Segment>, own: &Log, slot: Slot) -> Freed {
        match slot & OWN {
            0 => {
                let at = seg_at(slot);
                let seg = parse(seg_bytes(seg), at).map_or(0, |(_, end)| end - at);
                Freed {
                    seg,
                    ..Freed::default()
                }
            }
            _ => {
                let (names, values) = own.lens(slot);
                Freed {
                    names,
                    values,
                    seg: 0,
                    name_entries: 1,
                    value_entries: 1,
                }
            }
        }
    }

    /// The bytes of the value of `slot` (the log's) alone: an overwrite that keeps the
    /// name where it lies.
    pub(super) fn value_of(own: &Log, slot: Slot) -> Freed {
        let (values, at) = own.values.chunk_at(value_at(slot));
        Freed {
            values: value_len(values, at),
            value_entries: 1,
            ..Freed::default()
        }
    }

    /// These bytes and `other`'s.
    pub(super) fn and(self, other: Freed) -> Freed {
        Freed {
            seg: self.seg + other.seg,
            names: self.names + other.names,
            values: self.values + other.values,
            name_entries: self.name_entries + other.name_entries,
            value_entries: self.value_entries + other.value_entries,
        }
    }
}

/// Copies the segment records of the slots of `table` out of `from` into a buffer of
/// their own, re-pointing each slot.
fn compact_seg(table: &mut HashTable<Slot>, from: &[u8], live: usize) -> Vec<u8> {
    let mut fresh = Vec::with_capacity(live);
    for slot in table.iter_mut().filter(|s| **s & OWN == 0) {
        let start = seg_at(*slot);
        let end = parse(from, start).map_or(start, |(_, end)| end);
        *slot = fresh.len() as Slot;
        fresh.extend_from_slice(from.get(start..end).unwrap_or(&[]));
    }
    fresh
}

/// Which of the log's two buffers a compaction copies: where a slot points into it, how
/// long the record there is, and the slot re-pointed to a new offset.
struct Part {
    at: fn(Slot) -> usize,
    len: fn(&[u8], usize) -> usize,
    moved: fn(Slot, usize) -> Slot,
}

const NAMES: Part = Part {
    at: name_at,
    len: name_len,
    moved: |slot, at| (slot & !NAME_BITS) | own_slot(at, 0),
};

const VALUES: Part = Part {
    at: value_at,
    len: value_len,
    moved: |slot, at| (slot & NAME_BITS) | at as Slot,
};

/// Moves the live records of `buf` (one of the log's buffers) down over its dead ones,
/// in the order they lie in, re-pointing the slots ([`Buf::pack`]); returns the bytes it
/// skipped at chunks' ends (dead from now on).
fn compact_log(table: &mut HashTable<Slot>, buf: &mut Buf, part: Part) -> usize {
    let mut live: Vec<(usize, &mut Slot)> = (table.iter_mut().filter(|s| **s & OWN != 0))
        .map(|slot| ((part.at)(*slot), slot))
        .collect();
    live.sort_unstable_by_key(|&(at, _)| at);
    let mut moves: Vec<(usize, usize)> = (live.iter())
        .map(|&(at, _)| {
            let (chunk, inner) = buf.chunk_at(at);
            (at, (part.len)(chunk, inner))
        })
        .collect();
    let skipped = buf.pack(&mut moves);
    for ((_, slot), &(at, _)) in live.into_iter().zip(&moves) {
        *slot = (part.moved)(*slot, at);
    }
    skipped
}

/// Moves the live names of `log` down over its dead ones, re-pointing the slots.
fn compact_names(table: &mut HashTable<Slot>, log: &mut Log) {
    log.names.dead = compact_log(table, &mut log.names, NAMES);
    log.names.dead_entries = 0;
}

/// Moves the live values of `log` down over its dead ones, re-pointing the slots.
fn compact_values(table: &mut HashTable<Slot>, log: &mut Log) {
    log.values.dead = compact_log(table, &mut log.values, VALUES);
    log.values.dead_entries = 0;
}

impl Space {
    /// Counts `freed` bytes as no longer held; copies the live records of the segment,
    /// or the live names or values of the log, into a buffer of their own once more than
    /// half of that one's are dead.
    pub(super) fn died(&mut self, freed: Freed) {
        let own = &mut self.own;
        own.names.dead += freed.names;
        own.values.dead += freed.values;
        own.names.dead_entries += freed.name_entries;
        own.values.dead_entries += freed.value_entries;
        if own.names.dead.saturating_mul(2) > own.names.len() {
            compact_names(&mut self.table, own);
        }
        if own.values.dead.saturating_mul(2) > own.values.len() {
            compact_values(&mut self.table, own);
        }
        if freed.seg == 0 {
            return;
        }
        self.seg_live = self.seg_live.saturating_sub(freed.seg);
        if self.seg_live.saturating_mul(2) >= self.seg_span {
            return;
        }
        let Some(old) = self.seg.take() else { return };
        let fresh = compact_seg(&mut self.table, &old, self.seg_live);
        self.seg_live = fresh.len();
        self.seg_span = fresh.len();
        (self.seg_lo, self.seg_hi) = (0, fresh.len());
        self.seg = (!fresh.is_empty()).then(|| Arc::new(Zeroizing::new(fresh)));
    }

    /// Room in the log for the offsets of one more entry, its names buffer at most
    /// `names_max` long and its values buffer at most `values_max` ([`Log::fits`] with the
    /// bounds of a slot): the log's dead bytes let go first if need be; `TooLarge` (and
    /// nothing changed but that) if its live bytes alone leave no room.
    pub(super) fn make_room(&mut self, names_max: usize, values_max: usize) -> Result<()> {
        let own = &mut self.own;
        if own.fits_within(names_max, values_max) {
            return Ok(());
        }
        if own.names.len() > names_max {
            compact_names(&mut self.table, own);
        }
        if own.values.len() > values_max {
            compact_values(&mut self.table, own);
        }
        match (own.names.len(), own.values.len()) {
            (names, _) if names > names_max => Err(too_large(names, names_max)),
            (_, values) if values > values_max => Err(too_large(values, values_max)),
            _ => Ok(()),
        }
    }
}

fn too_large(len: usize, max: usize) -> Error {
    Error::TooLarge {
        len: len as u64,
        max: max as u64,
    }
}
