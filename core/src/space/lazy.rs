//! The records of a v2 file's namespace read from a handle kept open on the file
//! ([`crate::SnapshotFile`]), a group of [`GROUP_ROWS`] entries' records at a time, at
//! the first read that needs one of them: an open reads the header, the toc and the
//! directories, not the values. A group is read once and kept (its bytes never change,
//! and the reads borrow them), so after every entry was read the namespace holds what an
//! open of the whole file would have.
//!
//! Each read takes in the groups after its own too, up to the first one read already,
//! twice as many as the namespace's read before (one at first, so a first get reads 64
//! records), up to [`SPAN_MAX`] bytes: a store read through takes a few dozen reads, not
//! one per group. With a `pread` for every 64 records, the first reads of a fresh 100k
//! store's groups took 5 us each, and a store read at random was still reading groups
//! 1,000 gets after its open (BENCHMARKS.md, session 15).
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::Range;
use core::sync::atomic::Ordering;

use crate::error::Result;
use crate::storage::SnapshotFile;
use crate::sync::{AtomicU64, Once};

/// Entries whose records a group holds (the last group may hold fewer).
pub(crate) const GROUP_ROWS: usize = 64;

/// The most bytes one read takes in (unless its own group is larger).
const SPAN_MAX: usize = 256 * 1024;

/// The most groups one read takes in: 2^this.
const SPAN_DOUBLINGS: u64 = 10;

/// One group as read: where its records start in the namespace's records, and the read
/// that holds them (shared by the groups it took in) with where they lie in it.
struct Group {
    from: usize,
    span: Arc<Vec<u8>>,
    at: Range<usize>,
}

impl Group {
    /// Where the group starts in the records, and its bytes.
    fn read(&self) -> Option<(usize, &[u8])> {
        Some((self.from, self.span.get(self.at.clone())?))
    }
}

/// The record groups of one namespace and how many reads took them in: none for a file
/// read whole.
#[derive(Default)]
pub(crate) struct Groups {
    cells: Vec<Once<Group>>,
    reads: AtomicU64,
}

impl Groups {
    /// The groups of a namespace of `count` entries.
    pub(crate) fn of(count: usize) -> Groups {
        Groups {
            cells: (0..count.div_ceil(GROUP_ROWS))
                .map(|_| Once::new())
                .collect(),
            reads: AtomicU64::new(0),
        }
    }

    /// Group `g`'s bytes, if it was read.
    #[inline]
    pub(crate) fn read(&self, g: usize) -> Option<&[u8]> {
        Some(self.cells.get(g)?.get()?.read()?.1)
    }

    /// Group `g`: where it starts in the records, and its bytes. At its first use, read
    /// from `file` with the groups after it (see the module), each group's records' range
    /// (`bounds`, `None` if the directory's give none) an offset of the records that
    /// start at `records` in the file; a failed read is not kept (the next use reads
    /// again).
    pub(crate) fn get(
        &self,
        g: usize,
        file: &dyn SnapshotFile,
        records: usize,
        bounds: impl Fn(usize) -> Result<Option<Range<usize>>>,
    ) -> Result<Option<(usize, &[u8])>> {
        let Some(cell) = self.cells.get(g) else {
            return Ok(None);
        };
        if let Some(group) = cell.get() {
            return Ok(group.read());
        }
        let Some(first) = bounds(g)? else {
            return Ok(None);
        };
        // The groups after `g` this read takes in, each's range, while the span grows
        // within its bounds.
        let most = 1usize << self.reads.load(Ordering::Relaxed).min(SPAN_DOUBLINGS);
        let mut ranges = Vec::from([first.clone()]);
        let mut end = first.end;
        for next in g + 1..self.cells.len().min(g.saturating_add(most)) {
            if self.cells.get(next).is_none_or(|c| c.get().is_some()) {
                break;
            }
            // A group whose bounds do not read (a chunk of the directory not authentic)
            // ends the span: it fails the read that needs it, not this one.
            match bounds(next) {
                Ok(Some(r)) if r.start == end && r.end - first.start <= SPAN_MAX => {
                    end = r.end;
                    ranges.push(r);
                }
                _ => break,
            }
        }
        let mut bytes = Vec::with_capacity(end - first.start);
        let at = (records + first.start) as u64;
        if let Err(e) = file.read_to_vec_at(at, end - first.start, &mut bytes) {
            // A span that does not read (a file cut short under the handle) fails only
            // the groups it could not read: `g` is read alone.
            if ranges.len() == 1 {
                return Err(e);
            }
            ranges.truncate(1);
            bytes.clear();
            file.read_to_vec_at(at, first.len(), &mut bytes)?;
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let span = Arc::new(bytes);
        // Two threads may both read a group: the first one's is kept.
        for (k, range) in ranges.into_iter().enumerate() {
            let at = range.start - first.start..range.end - first.start;
            let group = || Group {
                from: range.start,
                span: Arc::clone(&span),
                at,
            };
            if let Some(c) = self.cells.get(g + k) {
                c.call_once(group);
            }
        }
        Ok(cell.get().and_then(Group::read))
    }
}
