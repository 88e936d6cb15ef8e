//! [`Space`]: one namespace's entries, each kept as one record (its name, expiry and
//! sealed value together, in the snapshot body's wire format) behind an 8-byte slot of a
//! hash table. A store read from a file keeps its records where the body parse found them,
//! in the decrypted file itself (a [`Segment`] the namespaces share): the bytes an entry
//! costs are its record and its slot, not a bucket, a name and an allocation of its own.
//! An entry written since is a record appended to the namespace's own log of them. Once
//! more than half of the segment's records or of the log's are dead (overwritten or
//! removed), the live ones are copied into a segment, or a log, of their own.
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
pub(crate) use indexed::{
    Indexed, Layout, SealedFile, DIR_CHUNK, DIR_ENTRY_LEN, EXPIRY_LEN, NO_EXPIRY, PIN_LEN,
};
use record::{parse, prefixed, Log};
pub(crate) use record::{put_varint, varint_len};
use shadow::{idx_find, Dead};
pub(crate) use stored::Stored;

/// Bytes that records of several namespaces may point into: a decrypted v1 store file
/// (its key names in the clear: wiped when the last namespace lets it go).
pub(crate) type Segment = Arc<Zeroizing<Vec<u8>>>;

/// The largest average record [`Space::iter_keyed`] reads where the records lie.
const WALK_MAX: usize = 512;

/// Where one entry's record lies: at this offset of the namespace's segment, or, with
/// `OWN` set, at this offset of its log (`Space::own`).
type Slot = u64;
const OWN: Slot = 1 << 63;

/// One namespace: key name -> entry.
#[derive(Default)]
pub(crate) struct Space {
    table: HashTable<Slot>,
    hasher: DefaultHashBuilder,
    /// The log of records written since the segment (`OWN | offset` slots), and how many
    /// of its bytes no slot holds.
    own: Log,
    own_dead: usize,
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

/// The bytes `slot`'s record lies in, and its offset there.
fn place<'a>(seg: &'a Option<Segment>, own: &'a [u8], slot: Slot) -> (&'a [u8], usize) {
    let at = usize::try_from(slot & !OWN).unwrap_or(usize::MAX);
    match slot & OWN {
        0 => (seg.as_deref().map_or(&[][..], |s| &s[..]), at),
        _ => (own, at),
    }
}

/// The entry in `slot` (records are checked when they enter a space: `NONE` is never
/// seen, and opens as nothing would).
fn view<'a>(seg: &'a Option<Segment>, own: &'a [u8], slot: Slot) -> Stored<'a> {
    let (bytes, at) = place(seg, own, slot);
    parse(bytes, at).map_or(NONE, |(stored, _)| stored)
}

/// The key bytes of the record in `slot` (what a lookup compares and hashes: no UTF-8
/// check, which the record passed when it entered the space).
fn key_of<'a>(seg: &'a Option<Segment>, own: &'a [u8], slot: Slot) -> &'a [u8] {
    let (bytes, mut at) = place(seg, own, slot);
    prefixed(bytes, &mut at).unwrap_or(&[])
}

/// The length of the record in `slot`.
fn rec_len(seg: &Option<Segment>, own: &[u8], slot: Slot) -> usize {
    let (bytes, at) = place(seg, own, slot);
    parse(bytes, at).map_or(0, |(_, end)| end - at)
}

/// The slot of the record at offset `at` of the log.
fn own_slot(at: usize) -> Slot {
    OWN | at as Slot
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
    pub(crate) fn get(&self, key: &str) -> Result<Option<Stored<'_>>> {
        if let Some(slot) = self.table_slot(key) {
            return Ok(Some(view(&self.seg, &self.own, slot)));
        }
        self.idx_get(key)
    }

    /// The table's slot of `key`, if it is there.
    fn table_slot(&self, key: &str) -> Option<Slot> {
        if self.table.is_empty() {
            return None;
        }
        let (seg, own) = (&self.seg, &self.own[..]);
        let hash = self.hasher.hash_one(key.as_bytes());
        let found = (self.table).find(hash, |&s| key_of(seg, own, s) == key.as_bytes());
        found.copied()
    }

    /// Every entry, in no particular order; `Tampered` if the names of a v2 file's
    /// entries do not open.
    pub(crate) fn iter(&self) -> Result<impl Iterator<Item = Stored<'_>> + '_> {
        self.iter_keyed(|_| true)
    }

    /// The entries whose key bytes `keep` takes, in no particular order: the others are
    /// passed over on their key alone, never parsed whole.
    ///
    /// Small records are read where they lie, the segment's then the log's: memory read
    /// forward, where the table's order is random against theirs (a cache miss each). A
    /// record met so counts if a slot points at it (a probe with its key, comparing slots
    /// only): dead ones, at most half of each buffer, are passed over. Records of over
    /// [`WALK_MAX`] bytes on average, or a segment whose records do not lie back to back,
    /// are read through the slots, a batch at a time ([`scan::by_slot`]).
    pub(crate) fn iter_keyed<'s>(
        &'s self,
        keep: impl Fn(&[u8]) -> bool + Copy + 's,
    ) -> Result<impl Iterator<Item = Stored<'s>> + 's> {
        let indexed = self.idx_entries(keep)?;
        Ok(self
            .table_entries(keep)
            .chain(indexed.into_iter().flatten()))
    }

    /// The entries of the table (all but a v2 file's), as [`Space::iter_keyed`].
    fn table_entries<'s>(
        &'s self,
        keep: impl Fn(&[u8]) -> bool + 's,
    ) -> impl Iterator<Item = Stored<'s>> + 's {
        let (seg, own) = (&self.seg, &self.own[..]);
        let seg_bytes = seg.as_deref().map_or(&[][..], |s| &s[..]);
        let bytes = self.seg_hi - self.seg_lo + own.len();
        let back_to_back = self.seg_hi - self.seg_lo == self.seg_span;
        let walk = back_to_back && bytes <= self.table.len().saturating_mul(WALK_MAX);
        let runs = [
            (seg_bytes, self.seg_lo, self.seg_hi, 0),
            (own, 0, own.len(), OWN),
        ];
        let placed = walk.then(|| scan::by_place(runs)).into_iter().flatten();
        let slotted = (!walk).then(|| scan::by_slot(self.table.iter(), seg, own));
        let slotted = slotted
            .into_iter()
            .flatten()
            .map(|s| (s, key_of(seg, own, s)));
        (placed.map(|(s, k)| (s, k, true)))
            .chain(slotted.map(|(s, k)| (s, k, false)))
            .filter(move |&(slot, key, walked)| keep(key) && (!walked || self.holds(key, slot)))
            .map(|(slot, _, _)| view(seg, own, slot))
    }

    /// Whether `slot` is the slot of `key` (the record it points at is live).
    fn holds(&self, key: &[u8], slot: Slot) -> bool {
        let hash = self.hasher.hash_one(key);
        self.table.find(hash, |&s| s == slot).is_some()
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
            |&s| key_of(seg, own, s) == stored.key.as_bytes(),
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
            _ => {
                vacant.insert(own_slot(own.len()));
                own.append(stored.key, &stored.to_entry());
            }
        }
        true
    }

    /// Sets `key`'s entry; returns the one it replaced if `old` (copied out). `Tampered`
    /// (and nothing changed) if it shadows a v2 file's entry the lookup of which reads a
    /// directory chunk that is not authentic.
    pub(crate) fn insert(&mut self, key: &str, entry: &Entry, old: bool) -> Result<Option<Entry>> {
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
            |&s| key_of(seg, own, s) == key.as_bytes(),
            |&s| hasher.hash_one(key_of(seg, own, s)),
        );
        let at = own.len();
        let (was, gone) = match found {
            Slot0::Occupied(mut o) => {
                let slot = core::mem::replace(o.get_mut(), own_slot(at));
                let was = old.then(|| view(seg, own, slot).to_entry());
                (was, Some(slot))
            }
            Slot0::Vacant(v) => {
                // Looked up before anything changes: a failing chunk fails the write whole.
                let shadowed = idx_find(idx, idx_dead, key, old)?;
                v.insert(own_slot(at));
                let was = shadowed.and_then(|(j, was)| {
                    idx_dead.set(j);
                    was
                });
                (was, None)
            }
        };
        let dead = gone.map(|slot| (slot, rec_len(seg, own, slot)));
        own.append(key, entry);
        if let Some((slot, len)) = dead {
            self.died(slot, len);
        }
        Ok(was)
    }

    /// Removes `key`'s entry; returns it if `old` (copied out), as [`Space::insert`].
    pub(crate) fn remove(&mut self, key: &str, old: bool) -> Result<Option<Entry>> {
        let (seg, own) = (&self.seg, &self.own[..]);
        let hash = self.hasher.hash_one(key.as_bytes());
        let found = (self.table).find_entry(hash, |&s| key_of(seg, own, s) == key.as_bytes());
        let Ok(found) = found else {
            let Some((j, was)) = idx_find(&self.idx, &self.idx_dead, key, old)? else {
                return Ok(None);
            };
            self.idx_dead.set(j);
            return Ok(was);
        };
        let (slot, _) = found.remove();
        let was = old.then(|| view(seg, own, slot).to_entry());
        let len = rec_len(seg, own, slot);
        self.died(slot, len);
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
        let (seg, own) = (&self.seg, &self.own[..]);
        let (mut seg_dead, mut own_dead) = (0, 0);
        self.table.retain(|&mut s| {
            let kept = keep(view(seg, own, s));
            if !kept {
                let len = rec_len(seg, own, s);
                match s & OWN {
                    0 => seg_dead += len,
                    _ => own_dead += len,
                }
            }
            kept
        });
        self.died(0, seg_dead);
        self.died(OWN, own_dead);
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

mod compact;
mod indexed;
mod lazy;
mod record;
mod row;
mod scan;
mod shadow;
mod stored;
#[cfg(test)]
mod tests;
