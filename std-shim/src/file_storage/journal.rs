//! The journal of autosaved writes, `<file>.journal` (mode 0600): appending a record
//! ([`JournalFile::append`]), emptying it after a save ([`JournalFile::cut`]) and reading
//! it ([`load_at_most`]).
//!
//! Each append writes its record at the end and `fdatasync`s the file. A save empties the
//! journal after its rename; the next append makes that cut durable before it writes, so
//! a crash never leaves new records after old ones.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use microkv_core::{Error, Result};

use super::fault::{check, FailPoint};
use super::files::{parent, private_options, read_at_most, sibling, sync_dir};

/// `<file>.journal` beside `path`.
pub(super) fn journal_path(path: &Path) -> PathBuf {
    sibling(path, ".journal")
}

/// Reads the journal at `path` only if its length is within `max` (a longer one is
/// `Error::TooLarge`, and nothing of it is read); a missing journal is empty.
pub(super) fn load_at_most(path: &Path, max: u64) -> Result<Vec<u8>> {
    match read_at_most(path, max) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::Io(e)),
    }
}

/// One storage handle's view of its journal file.
#[derive(Default)]
pub(super) struct JournalFile {
    /// The journal, open for appending, once this handle appended to it.
    file: Option<File>,
    /// The journal was cut and the cut is not known to be durable: the next append syncs
    /// it before writing.
    cut_pending: bool,
}

impl JournalFile {
    /// Closes the journal file, if this handle had it open.
    pub(super) fn close(&mut self) {
        self.file = None;
    }

    /// Empties the journal at `path` (nothing to do if there is none): it belongs to the
    /// old snapshot once a save has renamed the new one in. A crash before this reaches
    /// the disk leaves it whole, and a reader ignores it as another snapshot's.
    pub(super) fn cut(&mut self, path: &Path) -> Result<()> {
        match &self.file {
            Some(file) => file.set_len(0).map_err(Error::Io)?,
            None => match OpenOptions::new().write(true).open(path) {
                Ok(file) => file.set_len(0).map_err(Error::Io)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(Error::Io(e)),
            },
        }
        self.cut_pending = true;
        Ok(())
    }

    /// Appends `bytes` to the journal at `path` after its first `keep` bytes (a longer
    /// journal is cut back to them; a shorter one is `Error::CorruptStore`), making a
    /// pending cut durable first and the record durable after. `fault` is a journal
    /// point armed by the `testing` feature.
    pub(super) fn append(
        &mut self,
        path: &Path,
        keep: u64,
        bytes: &[u8],
        fault: Option<FailPoint>,
    ) -> Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            slot => slot.insert(open_journal(path).map_err(Error::Io)?),
        };
        let len = file.metadata().map_err(Error::Io)?.len();
        if len < keep {
            return Err(Error::CorruptStore(format!(
                "journal is {len} bytes, {keep} expected"
            )));
        }
        if len > keep {
            file.set_len(keep).map_err(Error::Io)?;
            self.cut_pending = true;
        }
        if self.cut_pending {
            file.sync_data().map_err(Error::Io)?;
            self.cut_pending = false;
        }
        check(fault, FailPoint::JournalWrite)?;
        file.write_all(bytes).map_err(Error::Io)?;
        check(fault, FailPoint::JournalSync)?;
        file.sync_data().map_err(Error::Io)
    }
}

/// Opens the journal at `path` for appending, creating it (mode 0600) if needed; a new
/// journal's directory entry is made durable before anything is written to it.
fn open_journal(path: &Path) -> io::Result<File> {
    match private_options().append(true).create_new(true).open(path) {
        Ok(file) => {
            sync_dir(parent(path))?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            OpenOptions::new().append(true).open(path)
        }
        Err(e) => Err(e),
    }
}
