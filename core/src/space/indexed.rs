//! [`Indexed`]: the entries a v2 store file holds for one namespace, looked up where they
//! lie in the file's bytes, through its directory (docs/FORMAT.md, "Directory"): columns of
//! `count` entries sorted by the keyed hash of each name, so a lookup hashes the name and
//! searches the column, and no name is decrypted for it. The names are in a block of
//! their own, sealed, opened into the arena by the first call that lists them.
//!
//! ```text
//! directory = hash u64[count] || check u32[count] || end u32[count] || pin [8][count]
//!             || (expiry u64[count], with the expiry column)
//! ```
//!
//! The directory was authenticated when the file was read (its tag, in the sealed toc);
//! a record is checked when it is read: its bounds, and its value's tag against the pin.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::Range;

use super::record::prefixed;
use super::{Space, Stored};
use crate::arena::{Arena, SecretBuf};
use crate::crypto::{Keyring, XNonce, SEAL_OVERHEAD, TAG_LEN};
use crate::entry::{is_live, Entry};
use crate::error::{corrupt, Result};
use crate::sync::Once;

/// Bytes of the directory per entry without the expiry column, and the column's.
pub(crate) const DIR_ENTRY_LEN: usize = 24;
pub(crate) const EXPIRY_LEN: usize = 8;
/// The expiry column's "no expiry".
pub(crate) const NO_EXPIRY: u64 = u64::MAX;
/// Bytes of a value's tag a directory pins.
pub(crate) const PIN_LEN: usize = 8;

/// A v2 store file as read: its bytes, and the keys and arena its names open with.
pub(crate) struct SealedFile {
    pub(crate) bytes: Vec<u8>,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) arena: Arc<Arena>,
}

/// Where one namespace's parts lie in a [`SealedFile`] (checked against its length by the
/// reader).
pub(crate) struct Layout {
    pub(crate) count: usize,
    pub(crate) expiries: bool,
    pub(crate) directory: usize,
    pub(crate) records: Range<usize>,
    pub(crate) names: Range<usize>,
    pub(crate) names_nonce: XNonce,
}

/// One namespace of a v2 file.
pub(crate) struct Indexed {
    file: Arc<SealedFile>,
    ns: String,
    layout: Layout,
    /// The names block, opened into the arena by the first listing.
    names: Once<SecretBuf>,
}

impl Indexed {
    pub(crate) fn new(file: Arc<SealedFile>, ns: &str, layout: Layout) -> Indexed {
        Indexed {
            file,
            ns: String::from(ns),
            layout,
            names: Once::new(),
        }
    }

    /// The number of entries the directory holds.
    pub(crate) fn count(&self) -> usize {
        self.layout.count
    }

    fn word<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(b) = self.file.bytes.get(at..at + N) {
            out.copy_from_slice(b);
        }
        out
    }

    fn column(&self, index: usize) -> usize {
        self.layout.directory + self.layout.count * [0, 8, 12, 16, 24][index]
    }

    fn hash_at(&self, j: usize) -> u64 {
        u64::from_le_bytes(self.word(self.column(0) + 8 * j))
    }

    fn check_at(&self, j: usize) -> u32 {
        u32::from_le_bytes(self.word(self.column(1) + 4 * j))
    }

    fn end_at(&self, j: usize) -> usize {
        u32::from_le_bytes(self.word(self.column(2) + 4 * j)) as usize
    }

    /// The expiry of entry `j`.
    pub(crate) fn expiry_at(&self, j: usize) -> Option<u64> {
        if !self.layout.expiries {
            return None;
        }
        let at = u64::from_le_bytes(self.word(self.column(4) + 8 * j));
        (at != NO_EXPIRY).then_some(at)
    }

    /// The sealed value of entry `j`: empty (which opens as nothing does, `Error::Crypto`)
    /// if its record is out of bounds or its tag is not the one the directory pins.
    fn sealed_at(&self, j: usize) -> &[u8] {
        let start = match j {
            0 => 0,
            _ => self.end_at(j - 1),
        };
        let end = self.end_at(j);
        let records = &self.layout.records;
        let record = (start <= end && end - start >= SEAL_OVERHEAD && end <= records.len())
            .then(|| {
                self.file
                    .bytes
                    .get(records.start + start..records.start + end)
            })
            .flatten();
        let pin: [u8; PIN_LEN] = self.word(self.column(3) + PIN_LEN * j);
        match record {
            Some(r) if r[r.len() - TAG_LEN..][..PIN_LEN] == pin => r,
            _ => &[],
        }
    }

    /// Entry `j` (its key left empty: lookups do not need it).
    pub(crate) fn at(&self, j: usize) -> Stored<'_> {
        self.named(j, "")
    }

    fn named<'a>(&'a self, j: usize, key: &'a str) -> Stored<'a> {
        Stored {
            key,
            expires_at: self.expiry_at(j),
            sealed: self.sealed_at(j),
        }
    }

    /// The position of `key`'s entry in the directory (none in a process forked from the
    /// keyring's, which hashes no name: its reads fail as `Forked` where they open).
    pub(crate) fn find(&self, key: &str) -> Option<usize> {
        let n = self.layout.count;
        if n == 0 {
            return None;
        }
        let (hash, check) = self.file.keyring.name_hash(&self.ns, key).ok()?;
        let mut j = self.lower_bound(hash);
        while j < n && self.hash_at(j) == hash {
            if self.check_at(j) == check {
                return Some(j);
            }
            j += 1;
        }
        None
    }

    /// The first position whose hash is at least `hash`: a guess from the hash itself (the
    /// hashes are uniform), widened by doubling steps, then halved.
    fn lower_bound(&self, hash: u64) -> usize {
        let n = self.layout.count;
        let guess = ((u128::from(hash) * n as u128) >> 64) as usize;
        let (mut lo, mut hi);
        if self.hash_at(guess) < hash {
            (lo, hi) = (guess + 1, n);
            let mut step = 1;
            while guess + step < n {
                if self.hash_at(guess + step) >= hash {
                    hi = guess + step;
                    break;
                }
                lo = guess + step + 1;
                step *= 2;
            }
        } else {
            (lo, hi) = (0, guess);
            let mut step = 1;
            while step <= guess {
                if self.hash_at(guess - step) < hash {
                    lo = guess - step + 1;
                    break;
                }
                hi = guess - step;
                step *= 2;
            }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.hash_at(mid) < hash {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The names block, opened into the arena on first use and kept, and checked:
    /// `count` names, each UTF-8, and nothing after them. A block that does not open is
    /// `Tampered` (at every call: nothing is kept of it).
    fn names(&self) -> Result<&[u8]> {
        if let Some(buf) = self.names.get() {
            return Ok(buf);
        }
        let opened = self.open_names()?;
        // Two threads may both open it: the first one's is kept, the other wiped.
        Ok(self.names.call_once(|| opened))
    }

    fn open_names(&self) -> Result<SecretBuf> {
        let sealed = (self.file.bytes.get(self.layout.names.clone()))
            .filter(|s| s.len() >= TAG_LEN)
            .ok_or_else(|| corrupt("names block out of the file"))?;
        let (ct, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        let mut buf = self.file.arena.alloc(ct.len())?;
        buf.copy_from_slice(ct);
        (self.file.keyring).open_in_place(&self.layout.names_nonce, &[], &mut buf, tag)?;
        let mut at = 0;
        for _ in 0..self.layout.count {
            let name = prefixed(&buf, &mut at).ok_or_else(|| corrupt("names block: short"))?;
            core::str::from_utf8(name).map_err(|_| corrupt("names block: not UTF-8"))?;
        }
        match at == buf.len() {
            true => Ok(buf),
            false => Err(corrupt("names block: trailing bytes")),
        }
    }

    /// Every entry `alive` says is, with its name, in directory order, if `keep` takes
    /// its name's bytes (the others are passed over on their names alone); `Tampered` if
    /// the names block does not open.
    pub(crate) fn entries<'a>(
        &'a self,
        alive: impl Fn(usize) -> bool + 'a,
        keep: impl Fn(&[u8]) -> bool + 'a,
    ) -> Result<impl Iterator<Item = Stored<'a>> + 'a> {
        let names = self.names()?;
        let mut at = 0;
        Ok((0..self.layout.count).filter_map(move |j| {
            let name = prefixed(names, &mut at)?;
            (alive(j) && keep(name))
                .then(|| self.named(j, core::str::from_utf8(name).unwrap_or("")))
        }))
    }
}

/// Which positions of a directory were overwritten or removed since the file was read.
#[derive(Default)]
pub(super) struct Dead {
    bits: Vec<u64>,
    count: usize,
}

impl Dead {
    fn has(&self, j: usize) -> bool {
        self.bits
            .get(j / 64)
            .is_some_and(|w| w & (1 << (j % 64)) != 0)
    }

    fn set(&mut self, j: usize) {
        if self.bits.len() <= j / 64 {
            self.bits.resize(j / 64 + 1, 0);
        }
        if !self.has(j) {
            self.bits[j / 64] |= 1 << (j % 64);
            self.count += 1;
        }
    }
}

/// Marks the live entry of `idx` under `key` dead (it was overwritten or removed); returns
/// it if `old` (copied out).
pub(super) fn idx_take(
    idx: &Option<Indexed>,
    dead: &mut Dead,
    key: &str,
    old: bool,
) -> Option<Entry> {
    let idx = idx.as_ref()?;
    let j = idx.find(key).filter(|&j| !dead.has(j))?;
    dead.set(j);
    old.then(|| idx.at(j).to_entry())
}

impl Space {
    /// A space of the entries of a v2 file's namespace.
    pub(crate) fn indexed(idx: Indexed) -> Space {
        Space {
            idx: Some(idx),
            ..Space::default()
        }
    }

    /// How many of the v2 file's entries are live (not overwritten or removed).
    pub(super) fn idx_live(&self) -> usize {
        self.idx
            .as_ref()
            .map_or(0, |i| i.count() - self.idx_dead.count)
    }

    /// The v2 file's entry under `key`, unless overwritten or removed.
    pub(super) fn idx_get(&self, key: &str) -> Option<Stored<'_>> {
        let idx = self.idx.as_ref()?;
        let j = idx.find(key).filter(|&j| !self.idx_dead.has(j))?;
        Some(idx.at(j))
    }

    /// Drops the v2 file's entries expired at `now`.
    pub(super) fn idx_retain_live(&mut self, now: u64) {
        let Some(idx) = &self.idx else { return };
        for j in 0..idx.count() {
            if !is_live(idx.expiry_at(j), Some(now)) {
                self.idx_dead.set(j);
            }
        }
    }

    /// The v2 file's live entries whose names `keep` takes, with their names.
    pub(super) fn idx_entries<'s>(
        &'s self,
        keep: impl Fn(&[u8]) -> bool + 's,
    ) -> Result<Option<impl Iterator<Item = Stored<'s>> + 's>> {
        let Some(idx) = &self.idx else {
            return Ok(None);
        };
        let dead = &self.idx_dead;
        idx.entries(move |j| !dead.has(j), keep).map(Some)
    }

    /// The expiries of every entry, read without the names.
    fn expiries(&self) -> impl Iterator<Item = Option<u64>> + '_ {
        let table = self.table_entries(|_| true).map(|e| e.expires_at);
        let indexed = self.idx.iter().flat_map(move |idx| {
            (0..idx.count())
                .filter(|&j| !self.idx_dead.has(j))
                .map(|j| idx.expiry_at(j))
        });
        table.chain(indexed)
    }

    /// How many entries `live` takes by their expiry.
    pub(crate) fn count_live(&self, live: impl Fn(Option<u64>) -> bool) -> usize {
        self.expiries().filter(|&e| live(e)).count()
    }

    /// Whether `live` takes any entry by its expiry.
    pub(crate) fn any_live(&self, live: impl Fn(Option<u64>) -> bool) -> bool {
        self.expiries().any(live)
    }
}
