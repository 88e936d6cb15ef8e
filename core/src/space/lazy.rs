//! The records of a v2 file's namespace read from a handle kept open on the file
//! ([`crate::SnapshotFile`]), a group of [`GROUP_ROWS`] entries' records at a time, at
//! the first read that needs one of them: an open reads the header, the toc and the
//! directories, not the values. A group is read once and kept (its bytes never change,
//! and the reads borrow them), so after every entry was read the namespace holds what an
//! open of the whole file would have.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::Range;

use crate::error::Result;
use crate::storage::SnapshotFile;
use crate::sync::Once;

/// Entries whose records a group holds (the last group may hold fewer).
pub(crate) const GROUP_ROWS: usize = 64;

/// The record groups of one namespace, each where it starts in the namespace's records
/// and its bytes: none for a file read whole.
#[derive(Default)]
pub(crate) struct Groups(Vec<Once<(usize, Box<[u8]>)>>);

impl Groups {
    /// The groups of a namespace of `count` entries.
    pub(crate) fn of(count: usize) -> Groups {
        Groups(
            (0..count.div_ceil(GROUP_ROWS))
                .map(|_| Once::new())
                .collect(),
        )
    }

    /// Group `g`'s bytes, if it was read.
    #[inline]
    pub(crate) fn read(&self, g: usize) -> Option<&[u8]> {
        self.0.get(g)?.get().map(|(_, bytes)| &bytes[..])
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
        let mut bytes = Vec::with_capacity(range.len());
        file.read_to_vec_at((records + range.start) as u64, range.len(), &mut bytes)?;
        // Two threads may both read it: the first one's is kept.
        let (from, bytes) = cell.call_once(|| (range.start, bytes.into_boxed_slice()));
        Ok(Some((*from, bytes)))
    }
}
