//! A namespace's v2 entries beside the writes since: which positions of the file's
//! directory were overwritten or removed ([`Dead`], a bit each), and the [`Space`] methods
//! that read the file's entries through them.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use super::indexed::Indexed;
use super::{Every, Keep, Space, Stored};
use crate::entry::{is_live, Entry};
use crate::error::Result;

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

    pub(super) fn set(&mut self, j: usize) {
        if self.bits.len() <= j / 64 {
            self.bits.resize(j / 64 + 1, 0);
        }
        if !self.has(j) {
            self.bits[j / 64] |= 1 << (j % 64);
            self.count += 1;
        }
    }
}

/// The position of the live entry of `idx` under `key` (not overwritten or removed), and
/// the entry if `old` (copied out): found before anything changes, so that a directory
/// chunk that is not authentic fails the write whole.
pub(super) fn idx_find(
    idx: &Option<Indexed>,
    dead: &Dead,
    key: &str,
    old: bool,
) -> Result<Option<(usize, Option<Entry>)>> {
    let Some(idx) = idx else { return Ok(None) };
    let Some(j) = idx.find(key)?.filter(|&j| !dead.has(j)) else {
        return Ok(None);
    };
    let was = match old {
        true => Some(idx.at(j)?.to_entry()),
        false => None,
    };
    Ok(Some((j, was)))
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
    pub(super) fn idx_get(&self, key: &str) -> Result<Option<Stored<'_>>> {
        let Some(idx) = &self.idx else {
            return Ok(None);
        };
        match idx.find(key)?.filter(|&j| !self.idx_dead.has(j)) {
            Some(j) => idx.at(j).map(Some),
            None => Ok(None),
        }
    }

    /// Checks every chunk of the v2 file's directory: what a write does before it changes
    /// anything, so that it applies whole or not at all.
    pub(crate) fn check(&self) -> Result<()> {
        self.idx.as_ref().map_or(Ok(()), Indexed::check_all)
    }

    /// Counts the v2 file's directory as checked ([`Indexed::written_here`]).
    pub(crate) fn written_here(&self) {
        if let Some(idx) = &self.idx {
            idx.written_here();
        }
    }

    /// Drops the v2 file's entries expired at `now`.
    pub(super) fn idx_retain_live(&mut self, now: u64) -> Result<()> {
        let Some(idx) = &self.idx else { return Ok(()) };
        idx.check_all()?;
        for j in 0..idx.count() {
            if !is_live(idx.expiry_at(j)?, Some(now)) {
                self.idx_dead.set(j);
            }
        }
        Ok(())
    }

    /// The v2 file's live entries whose names `keep` takes, with their names.
    pub(super) fn idx_entries<'s>(
        &'s self,
        keep: impl Keep + 's,
    ) -> Result<Option<impl Iterator<Item = Stored<'s>> + 's>> {
        let Some(idx) = &self.idx else {
            return Ok(None);
        };
        let dead = &self.idx_dead;
        idx.entries(move |j| !dead.has(j), move |name| keep.keeps(name))
            .map(Some)
    }

    /// The expiries of every entry, read without the names (every directory chunk
    /// checked first).
    fn expiries(&self) -> Result<impl Iterator<Item = Option<u64>> + '_> {
        self.check()?;
        let table = self.table_entries(Every).map(|e| e.expires_at);
        let indexed = self.idx.iter().flat_map(move |idx| {
            (0..idx.count())
                .filter(|&j| !self.idx_dead.has(j))
                .map(|j| idx.expiry_at(j).ok().flatten())
        });
        Ok(table.chain(indexed))
    }

    /// How many entries `live` takes by their expiry.
    pub(crate) fn count_live(&self, live: impl Fn(Option<u64>) -> bool) -> Result<usize> {
        Ok(self.expiries()?.filter(|&e| live(e)).count())
    }

    /// Whether `live` takes any entry by its expiry.
    pub(crate) fn any_live(&self, live: impl Fn(Option<u64>) -> bool) -> Result<bool> {
        Ok(self.expiries()?.any(live))
    }
}
