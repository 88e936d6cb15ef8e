//! Fault injection into saves and journal appends: the points ([`FailPoint`]) and the
//! check each step makes. Only the `testing` feature can arm a fault
//! (`FileStorage::fail_next_save`); without it [`FailPoint`] is private to this crate and
//! every check is a no-op.

use microkv_core::Result;

/// A point inside [`FileStorage`](super::FileStorage)'s save where a fault can be injected
/// with `FileStorage::fail_next_save` (the `testing` feature; semver-exempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    /// Writing the bytes to the temporary file.
    Write,
    /// Syncing the temporary file.
    Sync,
    /// Renaming (or linking) the temporary file over the store file.
    Rename,
    /// Syncing the directory after the rename: the new file is in place, but not known
    /// to be durable.
    SyncDir,
    /// Writing a record to the journal (an append; nothing is written).
    JournalWrite,
    /// Syncing the journal after the record was written.
    JournalSync,
}

impl FailPoint {
    /// Whether this is a point of a journal append (not of a save).
    pub(super) fn in_journal(self) -> bool {
        matches!(self, FailPoint::JournalWrite | FailPoint::JournalSync)
    }
}

/// An injected I/O error when `fault` is at `point`.
#[cfg(feature = "testing")]
pub(super) fn check(fault: Option<FailPoint>, point: FailPoint) -> Result<()> {
    if fault == Some(point) {
        return Err(microkv_core::Error::Io(std::io::Error::other(format!(
            "injected fault at {point:?}"
        ))));
    }
    Ok(())
}

/// Without the `testing` feature no fault can be armed: nothing to check.
#[cfg(not(feature = "testing"))]
#[inline(always)]
pub(super) fn check(_: Option<FailPoint>, _: FailPoint) -> Result<()> {
    Ok(())
}
