//! The journal of autosaved writes, `<file>.journal` (mode 0600): appending a record
//! ([`JournalFile::append`]), emptying it after a save ([`JournalFile::cut`]) and reading
//! it ([`load_at_most`]).
//!
//! Each append writes its record at the end and `fdatasync`s the file. A save empties the
//! journal after its rename; the next append makes that cut durable before it writes, so
//! a crash never leaves new records after old ones.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use microkv_core::{Error, Result};

use super::files::{parent, read_regular, sibling, sync_dir};
use super::regular::{create, open, open_to_read, open_to_write, Access, Identity, Links, Role};

/// `<file>.journal` beside `path`.
pub(super) fn journal_path(path: &Path) -> PathBuf {
    sibling(path, ".journal")
}

/// Reads the journal at `path` only if its length is within `max` (a longer one is
/// `Error::TooLarge`, and nothing of it is read); a missing journal is empty.
pub(super) fn load_at_most(path: &Path, max: u64) -> Result<Vec<u8>> {
    let read = read_regular(path, max, Role::Journal, Links::Refuse)?;
    Ok(read.map(|(bytes, _)| bytes).unwrap_or_default())
}

/// The journal at `path`'s length (0 if there is none).
pub(super) fn len_of(path: &Path) -> Result<u64> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(meta.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::Io(e)),
    }
}

/// The journal at `path`'s bytes from offset `from` to its end (empty if there is none,
/// or it is not longer); `Error::TooLarge` if they are more than `max` (checked before
/// reading, and the read stops past `max`).
pub(super) fn load_from(path: &Path, from: u64, max: u64) -> Result<Vec<u8>> {
    let Some(mut file) = open_to_read(path, Role::Journal)? else {
        return Ok(Vec::new());
    };
    let len = file
        .metadata()
        .map_err(Error::Io)?
        .len()
        .saturating_sub(from);
    if len > max {
        return Err(Error::TooLarge { len, max });
    }
    file.seek(SeekFrom::Start(from)).map_err(Error::Io)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    (file.take(max.saturating_add(1)))
        .read_to_end(&mut bytes)
        .map_err(Error::Io)?;
    let len = bytes.len() as u64;
    if len > max {
        return Err(Error::TooLarge { len, max });
    }
    Ok(bytes)
}

/// One storage handle's view of its journal file.
#[derive(Default)]
pub(super) struct JournalFile {
    /// The journal, open for appending, once this handle appended to it, and which file
    /// it is (a record is acknowledged only while that file is still at the path).
    file: Option<(File, Identity)>,
    /// The journal was cut and the cut is not known to be durable: the next append syncs
    /// it before writing.
    cut_pending: bool,
    /// A sync of the journal failed and the file could not be put back to a known
    /// state: what the disk holds past the last committed record is unknown, and a later
    /// sync may report success for pages the kernel dropped. No append until a save
    /// ([`JournalFile::cut`] after a snapshot) starts the journal afresh.
    broken: bool,
}

impl JournalFile {
    /// Closes the journal file, if this handle had it open.
    pub(super) fn close(&mut self) {
        self.file = None;
    }

    /// Empties the journal at `path` (nothing to do if there is none): it belongs to the
    /// old snapshot once a save has renamed the new one in. A crash before this reaches
    /// the disk leaves it whole, and a reader ignores it as another snapshot's. A journal
    /// that failed to sync is reopened rather than trusted: the cut goes through a fresh
    /// descriptor, and appends resume after it.
    pub(super) fn cut(&mut self, path: &Path) -> Result<()> {
        if self.broken {
            self.file = None;
        }
        if let Some((_, id)) = &self.file {
            if !id.is_at(path)? {
                // Removed or replaced since: cut what is at the path now.
                self.file = None;
            }
        }
        match &self.file {
            Some((file, _)) => file.set_len(0).map_err(Error::Io)?,
            None => {
                if let Some(file) = open_to_write(path, Role::Journal)? {
                    file.set_len(0).map_err(Error::Io)?;
                }
            }
        }
        self.cut_pending = true;
        self.broken = false;
        Ok(())
    }

    /// Appends `bytes` to the journal at `path` after its first `keep` bytes (a longer
    /// journal is cut back to them; a shorter one is `Error::CorruptStore`), making a
    /// pending cut durable first and the record durable after.
    ///
    /// A failed write or sync of the record is never retried as if nothing happened (the
    /// kernel may have dropped the dirty pages, and a later sync report success: the
    /// PostgreSQL fsync lesson of 2018). The journal is cut back to `keep` and the cut
    /// synced: then the record is not on disk, and the error is the write's. If the cut
    /// fails too, the record may or may not be there for a fresh open: the error is
    /// `Error::NotDurable`, and the journal refuses appends until a save starts it afresh.
    /// A failure of the sync of a pending cut breaks the journal the same way (nothing of
    /// the record was written: the error is the sync's).
    pub(super) fn append(&mut self, path: &Path, keep: u64, bytes: &[u8]) -> Result<()> {
        if self.broken {
            return Err(Error::Io(io::Error::other(
                "the journal failed to sync: a save must write a snapshot before it is appended to again",
            )));
        }
        let mut replaced = false;
        if let Some((_, id)) = &self.file {
            // Another handle's save or a `destroy` may have replaced or removed the
            // journal: a record appended to a file no longer at its path is lost.
            if !id.is_at(path)? {
                self.file = None;
                replaced = true;
            }
        }
        let (file, id) = match &mut self.file {
            Some((file, id)) => (file, *id),
            slot => {
                let (file, id) = slot.insert(open_journal(path)?);
                (file, *id)
            }
        };
        let len = file.metadata().map_err(Error::Io)?.len();
        if len < keep && replaced {
            return Err(Error::UnexpectedFile(
                "the journal was removed or replaced while this handle had it open, and \
                 the file now there lacks its records"
                    .into(),
            ));
        }
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
            if let Err(e) = file.sync_data() {
                self.break_off();
                return Err(Error::Io(e));
            }
            self.cut_pending = false;
        }
        let written = file.write_all(bytes).and_then(|()| file.sync_data());
        let e = match written {
            // Acknowledged only if the record went to the journal a fresh open reads.
            Ok(()) => match id.is_at(path) {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    self.break_off();
                    return Err(Error::UnexpectedFile(
                        "the journal was removed or replaced while this handle had it open: \
                         the write is not in the journal at its path"
                            .into(),
                    ));
                }
                Err(e) => {
                    self.break_off();
                    return Err(e);
                }
            },
            Err(e) => e,
        };
        match file.set_len(keep).and_then(|()| file.sync_data()) {
            Ok(()) => Err(Error::Io(e)),
            Err(_) => {
                self.break_off();
                Err(Error::NotDurable(e))
            }
        }
    }

    /// Gives up on the journal file after a failed sync: closes it and refuses appends
    /// until the next cut.
    fn break_off(&mut self) {
        self.file = None;
        self.broken = true;
    }
}

/// Opens the journal at `path` for appending (a regular file, owned by the effective
/// user, one link), creating it (mode 0600) if needed; a new journal's directory entry
/// is made durable before anything is written to it.
fn open_journal(path: &Path) -> Result<(File, Identity)> {
    let file = match create(path, Role::Journal, Access::Append) {
        Ok(file) => {
            sync_dir(parent(path)).map_err(Error::Io)?;
            file
        }
        Err(Error::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists => open(
            OpenOptions::new().append(true),
            path,
            Role::Journal,
            Links::Refuse,
            true,
        )?,
        Err(e) => return Err(e),
    };
    let id = Identity::of(&file)?;
    Ok((file, id))
}
