//! [`Space`]: one namespace's entries, each kept as one record (its name, expiry and
//! sealed value together, in the snapshot body's wire format) behind an 8-byte slot of a
//! hash table. A store read from a file keeps its records where the body parse found them,
//! in the decrypted file itself (a [`Segment`] the namespaces share): the bytes an entry
//! costs are its record and its slot, not a bucket, a name and an allocation of its own.
//! An entry written since goes to the namespace's own log of them, its name and its value
//! apart (two buffers, both offsets in its slot: [`log`]), so a scan reads names only.
//! Once more than half of the segment's bytes, or of the log's names or values, are dead
//! (overwritten or removed), the live ones are copied into a buffer of their own.
//!
//! ```text
//! record = varint(len) || key || option<u64> expires_at || varint(len) || sealed
//! ```
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::hash::BuildHasher;
use hashbrown::hash_table::Entry as Slot0;
use hashbrown::{DefaultHashBuilder, HashTable};
use zeroize::Zeroizing;

use crate::entry::Entry;
use crate::error::Result;
use compact::Freed;
pub(crate) use indexed::{
    Indexed, Layout, SealedFile, DIR_CHUNK, DIR_ENTRY_LEN, EXPIRY_LEN, NO_EXPIRY, PIN_LEN,
};
use log::Log;
use record::{parse, prefixed};
pub(crate) use record::{put_varint, varint_len};
pub(crate) use scan::{Every, Keep};
use shadow::{idx_find, Dead};
pub(crate) use stored::Stored;

/// Bytes that records of several namespaces may point into: a decrypted v1 store file
/// (its key names in the clear: wiped when the last namespace lets it go).
pub(crate) type Segment = Arc<Zeroizing<Vec<u8>>>;

/// Where one entry's record lies: at this offset of the namespace's segment, or, with
/// `OWN` set, at these offsets of its log's names and values (`Space::own`, [`log`]).
type Slot = u64;
const OWN: Slot = 1 << 63;

/// One namespace: key name -> entry.
#[derive(Default)]
pub(crate) struct Space {
    table: HashTable<Slot>,
    hasher: DefaultHashBuilder,
    /// The log of the entries written since the segment (`OWN` slots).
    own: Log,
    /// The segment the other slots point into, and how many of its bytes they hold.
    seg: Option<Segment>,
    seg_live: usize,
    /// `seg_live` when the segment was taken: past half of it dead, the space compacts.
    seg_span: usize,
    /// Where this space's records lie in the segment (first start, last end): back to
    /// back if that span is `seg_span` long ([`Space::iter_keyed`] walks them only then).
    seg_lo: usize,
    seg_hi: usize,
    /// The entries of a v2 file's namespace, looked up in its directory, and which of
    /// them were overwritten or removed since (a bit per directory position).
    idx: Option<Indexed>,
    idx_dead: Dead,
}

const NONE: Stored<'static> = Stored::whole("", None, &[]);

/// The bytes of the segment.
fn seg_bytes(seg: &Option<Segment>) -> &[u8] {
    seg.as_deref().map_or(&[][..], |s| &s[..])
}

/// The offset of a segment slot's record.
fn seg_at(slot: Slot) -> usize {
    usize::try_from(slot).unwrap_or(usize::MAX)
}

/// The entry in `slot` (records are checked when they enter a space: `NONE` is never
/// seen, and opens as nothing would).
fn view<'a>(seg: &'a Option<Segment>, own: &'a Log, slot: Slot) -> Stored<'a> {
    let found = match slot & OWN {
        0 => parse(seg_bytes(seg), seg_at(slot)).map(|(stored, _)| stored),
        _ => own.view(slot),
    };
    found.unwrap_or(NONE)
}

/// The entry in `slot`, whose key a lookup just compared with `key` (a log's name is
/// then not read again, nor checked as UTF-8 again).
fn view_as<'a>(seg: &'a Option<Segment>, own: &'a Log, slot: Slot, key: &'a str) -> Stored<'a> {
    match slot & OWN {
        0 => view(seg, own, slot),
        _ => (own.sealed_of(slot)).map_or(NONE, |(expires_at, sealed)| {
            Stored::whole(key, expires_at, sealed)
        }),
    }
}

/// Whether two names are the same bytes; short ones compared inline, where a call to
/// `memcmp` and its setup cost more than the compare (every lookup's hit compares once).
#[inline]
pub(crate) fn same_name(a: &[u8], b: &[u8]) -> bool {
    match a.len() == b.len() {
        false => false,
        true if a.len() <= 16 => a.iter().zip(b).all(|(x, y)| x == y),
        true => a == b,
    }
}

/// The key bytes of the record in `slot` (what a lookup compares and hashes: no UTF-8
/// check, which the record passed when it entered the space).
fn key_of<'a>(seg: &'a Option<Segment>, own: &'a Log, slot: Slot) -> &'a [u8] {
    match slot & OWN {
        0 => prefixed(seg_bytes(seg), &mut seg_at(slot)).unwrap_or(&[]),
        _ => own.key(slot),
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
        self.table.len() + self.idx_live()
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry under `key`; `Tampered` if the chunk of a v2 file's directory that the
    /// lookup reads is not authentic.
    pub(crate) fn get<'s>(&'s self, key: &'s str) -> Result<Option<Stored<'s>>> {
        if let Some(slot) = self.table_slot(key) {
            return Ok(Some(view_as(&self.seg, &self.own, slot, key)));
        }
        self.idx_get(key)
    }

    /// The table's slot of `key`, if it is there.
    fn table_slot(&self, key: &str) -> Option<Slot> {
        if self.table.is_empty() {
            return None;
        }
        let (seg, own) = (&self.seg, &self.own);
        let hash = self.hasher.hash_one(key.as_bytes());
        let found = (self.table).find(hash, |&s| same_name(key_of(seg, own, s), key.as_bytes()));
        found.copied()
    }

    /// Every entry, in no particular order; `Tampered` if the names of a v2 file's
    /// entries do not open.
    pub(crate) fn iter(&self) -> Result<impl Iterator<Item = Stored<'_>> + '_> {
        self.iter_keyed(Every)
    }

    /// The entries whose key bytes `keep` takes, in no particular order: the others are
    /// passed over on their key alone, never parsed whole (the table's, [`scan`]).
    pub(crate) fn iter_keyed<'s>(
        &'s self,
        keep: impl Keep + 's,
    ) -> Result<impl Iterator<Item = Stored<'s>> + 's> {
        let indexed = self.idx_entries(keep)?;
        Ok(self
            .table_entries(keep)
            .chain(indexed.into_iter().flatten()))
    }

    /// Adds the record at `at` of the segment (which must be `stored`, parsed there and
    /// ending at `end`); `false` if its key is here already. A record whose bytes are not
    /// where `stored` says is copied into the log (`false` if that has no room: never
    /// from a store file, which `MAX_STORE_LEN` bounds far below [`Log::fits`]).
    pub(crate) fn insert_at(&mut self, at: usize, end: usize, stored: Stored<'_>) -> bool {
        let found = self.seg.as_ref().and_then(|s| parse(s, at));
        let same = found.is_some_and(|(s, e)| {
            e == end
                && s.key == stored.key
                && s.expires_at == stored.expires_at
                && s.sealed.as_ptr() == stored.sealed.as_ptr()
        });
        let Space {
            table,
            hasher,
            own,
            seg,
            seg_live,
            seg_span,
            seg_lo,
            seg_hi,
            ..
        } = self;
        let hash = hasher.hash_one(stored.key.as_bytes());
        let vacant = match table.entry(
            hash,
            |&s| same_name(key_of(seg, own, s), stored.key.as_bytes()),
            |&s| hasher.hash_one(key_of(seg, own, s)),
        ) {
            Slot0::Occupied(_) => return false,
            Slot0::Vacant(v) => v,
        };
        match Slot::try_from(at) {
            Ok(at) if same && at & OWN == 0 => {
                let at_usize = at as usize;
                (*seg_lo, *seg_hi) = match *seg_span {
                    0 => (at_usize, end),
                    _ => ((*seg_lo).min(at_usize), (*seg_hi).max(end)),
                };
                *seg_live += end - at_usize;
                *seg_span = *seg_live;
                vacant.insert(at);
            }
            _ if own.fits() => {
                vacant.insert(own.append(stored.key, &stored.to_entry()));
            }
            _ => return false,
        }
        true
    }

    /// Sets `key`'s entry; returns the one it replaced if `old` (copied out). `Tampered`
    /// (and nothing changed) if it shadows a v2 file's entry the lookup of which reads a
    /// directory chunk that is not authentic.
    pub(crate) fn insert(&mut self, key: &str, entry: &Entry, old: bool) -> Result<Option<Entry>> {
        self.make_room(log::NAMES_MAX, log::VALUES_MAX)?;
        let Space {
            table,
            hasher,
            own,
            seg,
            idx,
            idx_dead,
            ..
        } = self;
        let hash = hasher.hash_one(key.as_bytes());
        let found = table.entry(
            hash,
            |&s| same_name(key_of(seg, own, s), key.as_bytes()),
            |&s| hasher.hash_one(key_of(seg, own, s)),
        );
        // A log's value of the same length is written over where it lies.
        if let Slot0::Occupied(o) = &found {
            let slot = *o.get();
            if slot & OWN != 0 && own.fits_over(slot, entry) {
                let was = old.then(|| view(seg, own, slot).to_entry());
                own.overwrite(slot, entry);
                return Ok(was);
            }
        }
        // Appended first: nothing in the log moves as it grows, so the slot replaced (or
        // shadowed) still reads its entry. A log's entry keeps its name, live.
        let at = match &found {
            Slot0::Occupied(o) if *o.get() & OWN != 0 => own.append_value(*o.get(), entry),
            _ => own.append(key, entry),
        };
        let (was, gone) = match found {
            Slot0::Occupied(mut o) => {
                let slot = core::mem::replace(o.get_mut(), at);
                let was = old.then(|| view(seg, own, slot).to_entry());
                let gone = match slot & OWN {
                    0 => Freed::of(seg, own, slot),
                    _ => Freed::value_of(own, slot),
                };
                (Ok(was), Some(gone))
            }
            // Looked up before anything changes: a failing chunk fails the write whole,
            // the entry appended dead from the start (no slot points at it).
            Slot0::Vacant(v) => match idx_find(idx, idx_dead, key, old) {
                Ok(shadowed) => {
                    v.insert(at);
                    let was = shadowed.and_then(|(j, was)| {
                        idx_dead.set(j);
                        was
                    });
                    (Ok(was), None)
                }
                Err(e) => (Err(e), Some(Freed::of(seg, own, at))),
            },
        };
        self.died(gone.unwrap_or_default());
        was
    }

    /// Removes `key`'s entry; returns it if `old` (copied out), as [`Space::insert`].
    pub(crate) fn remove(&mut self, key: &str, old: bool) -> Result<Option<Entry>> {
        let (seg, own) = (&self.seg, &self.own);
        let hash = self.hasher.hash_one(key.as_bytes());
        let found =
            (self.table).find_entry(hash, |&s| same_name(key_of(seg, own, s), key.as_bytes()));
        let Ok(found) = found else {
            let Some((j, was)) = idx_find(&self.idx, &self.idx_dead, key, old)? else {
                return Ok(None);
            };
            self.idx_dead.set(j);
            return Ok(was);
        };
        let (slot, _) = found.remove();
        let was = old.then(|| view(seg, own, slot).to_entry());
        self.died(Freed::of(seg, own, slot));
        Ok(was)
    }

    /// Drops the entries expired at `now`; `Tampered` (and nothing dropped) if a chunk of
    /// a v2 file's directory is not authentic.
    pub(crate) fn retain_live(&mut self, now: u64) -> Result<()> {
        self.idx_retain_live(now)?;
        self.retain_table(|e| e.is_live(Some(now)));
        Ok(())
    }

    /// Keeps the entries of the table (all but a v2 file's) that `keep` says to.
    fn retain_table(&mut self, mut keep: impl FnMut(Stored<'_>) -> bool) {
        let (seg, own) = (&self.seg, &self.own);
        let mut freed = Freed::default();
        self.table.retain(|&mut s| {
            let kept = keep(view(seg, own, s));
            if !kept {
                freed = freed.and(Freed::of(seg, own, s));
            }
            kept
        });
        self.died(freed);
    }

    /// Keeps the entries `keep` says to, of a space without a v2 file's (for tests).
    #[cfg(test)]
    pub(crate) fn retain(&mut self, keep: impl FnMut(Stored<'_>) -> bool) {
        assert!(self.idx.is_none(), "a test's space of records");
        self.retain_table(keep);
    }

    /// How many entries' records lie in the segment (for tests of the body parse).
    #[cfg(test)]
    pub(crate) fn in_segment_count(&self) -> usize {
        self.table.iter().filter(|&&s| s & OWN == 0).count()
    }
}

mod buf;
mod compact;
mod indexed;
mod lazy;
mod log;
mod record;
mod row;
mod scan;
mod search;
mod shadow;
mod spare;
mod stored;
#[cfg(test)]
mod tests;
