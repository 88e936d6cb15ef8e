//! The records of a v2 file's namespace read from a handle kept open on the file
//! ([`crate::SnapshotFile`]), a group of [`GROUP_ROWS`] entries' records at a time, at
//! the first read that needs one of them: an open reads the header, the toc and the
//! directories, not the values. A group is read once and kept (its bytes never change,
//! and the reads borrow them), so after every entry was read the namespace holds what an
//! open of the whole file would have.
//!
//! A group's bytes come from the chunks a store of this process let go of, and go back
//! to them, wiped, when the namespace is dropped ([`super::spare`]): a store opened again
//! (a service's reopen, a catch-up with a newer file) reads its groups into pages already
//! faulted in, where each group read into fresh heap memory spent most of its time in the
//! kernel's page faults.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::ops::Range;
use zeroize::Zeroize;

use super::spare;
use crate::error::Result;
use crate::storage::SnapshotFile;
use crate::sync::Once;

/// Entries whose records a group holds (the last group may hold fewer).
pub(crate) const GROUP_ROWS: usize = 64;

/// The record groups of one namespace, each where it starts in the namespace's records
/// and its bytes: none for a file read whole.
#[derive(Default)]
pub(crate) struct Groups(Vec<Once<(usize, Vec<u8>)>>);

impl Groups {
    /// The groups of a namespace of `count` entries.
    pub(crate) fn of(count: usize) -> Groups {
        Groups(
            (0..count.div_ceil(GROUP_ROWS))
                .map(|_| Once::new())
                .collect(),
        )
    }

    /// Group `g`: where it starts in the records, and its bytes. At its first use, read
    /// from `file`, its records' range (`bounds`, `None` if the directory's give none) an
    /// offset of the records that start at `records` in the file; a failed read is not
    /// kept (the next use reads again).
    pub(crate) fn get(
        &self,
        g: usize,
        file: &dyn SnapshotFile,
        records: usize,
        bounds: impl FnOnce() -> Result<Option<Range<usize>>>,
    ) -> Result<Option<(usize, &[u8])>> {
        let Some(cell) = self.0.get(g) else {
            return Ok(None);
        };
        if let Some((from, bytes)) = cell.get() {
            return Ok(Some((*from, bytes)));
        }
        let Some(range) = bounds()? else {
            return Ok(None);
        };
        // A chunk's size: a power of two, a page at least (only `len` bytes are touched).
        let size = range
            .len()
            .max(4096)
            .checked_next_power_of_two()
            .unwrap_or(range.len());
        let mut bytes = spare::take(size).unwrap_or_else(|| Vec::with_capacity(size));
        bytes.resize(range.len(), 0);
        if let Err(e) = file.read_exact_at((records + range.start) as u64, &mut bytes) {
            give_back(bytes);
            return Err(e);
        }
        // Two threads may both read it: the first one's is kept.
        let mut mine = Some(bytes);
        let (from, kept) = cell.call_once(|| (range.start, mine.take().unwrap_or_default()));
        mine.map(give_back);
        Ok(Some((*from, kept)))
    }
}

impl Drop for Groups {
    fn drop(&mut self) {
        for cell in &mut self.0 {
            if let Some((_, bytes)) = cell.get_mut() {
                give_back(core::mem::take(bytes));
            }
        }
    }
}

/// Wipes `bytes` (sealed records: nothing secret, but the spare chunks hold zeros only)
/// and keeps it for the next chunk of its size.
fn give_back(mut bytes: Vec<u8>) {
    // The bytes written only: the spare capacity was never touched.
    bytes.as_mut_slice().zeroize();
    spare::give(bytes);
}
