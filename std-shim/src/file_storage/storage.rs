//! [`FileStorage`]'s [`Storage`] implementation: loading the store file, saving it
//! atomically, appending to and reading its journal, and the write lock of one operation.
//!
//! Every `Error::Io` (and `Error::NotDurable`) a method returns names what it was doing
//! and the file it did it to (`Error::io_context`): the store file, the journal or the
//! write lock; never a key name.

use std::fs;
use std::path::Path;

#[cfg(unix)]
use microkv_core::Snapshot;
use microkv_core::{Error, Result, Storage, WriteLock, MAX_JOURNAL_LEN, MAX_STORE_LEN};

use super::atomic_write::{lock_current, write_atomic, Replace};
use super::files::{self, after_placing, read_regular};
#[cfg(unix)]
use super::files::{open_regular, OpenFile};
use super::journal;
use super::lock;
use super::regular::{Identity, Links, Role};
use super::{FileStorage, Mode, State};

const READING: &str = "reading the store file";
const SAVING: &str = "saving the store file";
const APPENDING: &str = "appending to the journal";
const READING_JOURNAL: &str = "reading the journal";

/// `result` with `operation` and `path` added to an I/O error that names no file yet.
fn at<T>(operation: &'static str, path: &Path, result: Result<T>) -> Result<T> {
    result.map_err(|e| e.in_file(operation, path))
}

impl Storage for FileStorage {
    /// [`Storage::load_at_most`] with the format's bound, [`MAX_STORE_LEN`].
    fn load(&self) -> Result<Option<Vec<u8>>> {
        self.load_at_most(MAX_STORE_LEN)
    }

    /// Reads the file only if its length is within `max` (a longer one is
    /// `Error::TooLarge`, and nothing of it is read).
    fn load_at_most(&self, max: u64) -> Result<Option<Vec<u8>>> {
        at(READING, &self.inner.path, self.load_file(max))
    }

    fn store(&self, bytes: &[u8]) -> Result<()> {
        at(SAVING, &self.inner.path, self.save(bytes))
    }

    /// The store file kept open (on Unix: a save renames a new file over it, which the
    /// open handle does not hinder), checked and bounded as [`Storage::load_at_most`]
    /// checks it; elsewhere its bytes.
    #[cfg(unix)]
    fn open_snapshot(&self, max: u64) -> Result<Option<Snapshot>> {
        let path = &self.inner.path;
        let opened = self.load_with(|p| {
            let found = open_regular(p, max, Role::Store, Links::Refuse)?;
            Ok(found.map(|(file, len, id)| {
                let path = p.to_path_buf();
                (
                    OpenFile {
                        file,
                        len,
                        path,
                        seeking: Default::default(),
                    },
                    id,
                )
            }))
        });
        let opened = at(READING, path, opened)?;
        Ok(opened.map(|file| Snapshot::File(Box::new(file))))
    }

    /// Locks the store file as it is now (exclusively, waiting for another writer's save
    /// to end), checks that it begins with `expected` (`Error::CredentialChanged` if not),
    /// and replaces it while the lock is held. A writer that waited on a file that was
    /// replaced meanwhile locks the new one and checks that: the check and the rename are
    /// one step for every writer, in this process or another.
    fn store_replacing(&self, expected: &[u8], bytes: &[u8]) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        at(
            SAVING,
            &self.inner.path,
            self.owner_file_gone(&mut self.state()),
        )?;
        let _held = at(
            SAVING,
            &self.inner.path,
            lock_current(&self.inner.path, expected),
        )?;
        self.store(bytes)
    }

    fn append(&self, keep: u64, bytes: &[u8]) -> Result<bool> {
        at(
            APPENDING,
            &self.inner.journal,
            self.append_record(keep, bytes),
        )
    }

    /// Every handle but the owner of an exclusive lock: read-only handles too (they
    /// catch up on `reload` and refresh), and `LockMode::Shared` and `None` writers.
    fn is_shared(&self) -> bool {
        !self.inner.exclusive
    }

    /// Locks `<file>.wlock` exclusively (waiting for its holder) for one operation. A
    /// read-only storage takes it too, without creating it: a catch-up then never reads
    /// a journal half-way through another handle's compaction.
    fn lock_writes(&self) -> Result<WriteLock> {
        let mut state = self.state();
        if state.destroyed {
            // Nothing to lock, and no lock file to bring back.
            return Err(Error::NotFound);
        }
        if let Some(held) = state.creating.take() {
            // Held since the open of a store this handle creates: the first save's.
            return Ok(WriteLock::new(held));
        }
        drop(state);
        let create = !self.is_read_only();
        let locked = lock::lock_writes(&self.inner.write_lock, create);
        Ok(match at("locking", &self.inner.write_lock, locked)? {
            Some(held) => WriteLock::new(held),
            None => WriteLock::none(),
        })
    }

    /// The store file's first `len` bytes (fewer if it is shorter).
    fn load_head(&self, len: usize) -> Result<Option<Vec<u8>>> {
        at(
            READING,
            &self.inner.path,
            files::read_head(&self.inner.path, len),
        )
    }

    fn journal_len(&self) -> Result<u64> {
        let len = journal::len_of(&self.inner.journal);
        at(READING_JOURNAL, &self.inner.journal, len)
    }

    fn load_journal_from(&self, from: u64, max: u64) -> Result<Vec<u8>> {
        let read = journal::load_from(&self.inner.journal, from, max);
        at(READING_JOURNAL, &self.inner.journal, read)
    }

    /// [`Storage::load_journal_at_most`] with the format's bound,
    /// [`MAX_JOURNAL_LEN`].
    fn load_journal(&self) -> Result<Vec<u8>> {
        self.load_journal_at_most(MAX_JOURNAL_LEN)
    }

    /// Reads the journal only if its length is within `max` (a longer one is
    /// `Error::TooLarge`, and nothing of it is read).
    fn load_journal_at_most(&self, max: u64) -> Result<Vec<u8>> {
        let read = journal::load_at_most(&self.inner.journal, max);
        at(READING_JOURNAL, &self.inner.journal, read)
    }
}

/// The steps of the methods above, before their errors name the file.
impl FileStorage {
    fn load_file(&self, max: u64) -> Result<Option<Vec<u8>>> {
        self.load_with(|path| read_regular(path, max, Role::Store, Links::Refuse))
    }

    /// What `read` makes of the store file (`None`: there is none), as a load sees it:
    /// a new store's file that appeared since is someone else's, and one that is being
    /// created by another handle is waited for.
    fn load_with<T>(
        &self,
        read: impl Fn(&Path) -> Result<Option<(T, Identity)>>,
    ) -> Result<Option<T>> {
        let mut state = self.state();
        if self.inner.mode == Mode::CreateNew && state.create {
            // A file that appeared since the constructor's check is someone else's: the
            // first save fails with `AlreadyExists` instead of opening it.
            return Ok(None);
        }
        let first = !std::mem::replace(&mut state.loaded, true);
        let mut found = read(&self.inner.path)?;
        if found.is_none()
            && first
            && self.inner.mode == Mode::OpenOrCreate
            && !self.inner.exclusive
        {
            // Others may be creating this store at the same instant: wait for the write
            // lock, and read what the one before us created; else create it under the
            // lock, held until the first save (docs/DECISIONS.md, 32).
            let held = lock::lock_writes(&self.inner.write_lock, true)?;
            found = read(&self.inner.path)?;
            if found.is_none() {
                state.creating = held;
            }
        }
        match found {
            Some((bytes, id)) => {
                state.create = false;
                state.store_id = Some(id);
                Ok(Some(bytes))
            }
            None => match self.inner.mode {
                Mode::OpenExisting | Mode::ReadOnly => Err(Error::NotFound),
                Mode::OpenOrCreate | Mode::CreateNew => {
                    state.create = true;
                    Ok(None)
                }
            },
        }
    }

    fn save(&self, bytes: &[u8]) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let mut state = self.state();
        if state.destroyed {
            return Err(Error::NotFound);
        }
        // Released when this save ends, if no write lock took it over.
        let _creating = state.creating.take();
        let gone = self.owner_file_gone(&mut state)?;
        let replace = if state.create || gone {
            Replace::Never
        } else {
            Replace::Always
        };
        let mut placed = None;
        let result = write_atomic(&self.inner.path, bytes, replace, &mut placed);
        match (result, placed) {
            (Err(Error::NotDurable(e)), Some(id)) if replace == Replace::Never => {
                // A new file, linked in, whose directory entry is not known to be durable:
                // take it out again, so that `Err` means no store was made.
                return self.undo_create(&mut state, id, e);
            }
            (result, placed) => {
                if placed.is_some() {
                    state.create = false;
                    state.store_id = placed;
                }
                result?;
            }
        }
        // The journal belongs to the old snapshot now: empty it. The new snapshot is in
        // place whatever happens here (a rotation's new credential is on disk), so a
        // failure is `NotDurable`, never an error that says nothing was written.
        state
            .journal
            .cut(&self.inner.journal)
            .map_err(after_placing)
    }

    fn append_record(&self, keep: u64, bytes: &[u8]) -> Result<bool> {
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let mut state = self.state();
        if state.destroyed {
            return Err(Error::NotFound);
        }
        if self.owner_file_gone(&mut state)? {
            return Err(Error::UnexpectedFile(
                "the store file was removed while this handle had it open: a journal \
                 record would not extend it"
                    .into(),
            ));
        }
        state.journal.append(&self.inner.journal, keep, bytes)?;
        Ok(true)
    }

    /// Whether the exclusive owner's store file was removed behind its back (nothing to
    /// overwrite; a journal record would have no snapshot to extend). The owner is the
    /// only writer: a store file that is not the one it last read or wrote was replaced
    /// by another program (a file renamed over it), and writing would overwrite that
    /// file or extend a snapshot no open reads: `Error::UnexpectedFile`, once. The
    /// owner has been told: its next save writes what it holds over that file (as a
    /// save after a removal creates the file again). `false` for a handle that is not
    /// the owner: shared writers catch up with each other's saves before they write.
    fn owner_file_gone(&self, state: &mut State) -> Result<bool> {
        let Some(id) = state.store_id.filter(|_| self.inner.exclusive) else {
            return Ok(false);
        };
        if id.is_at(&self.inner.path)? {
            return Ok(false);
        }
        if !files::exists(&self.inner.path)? {
            return Ok(true);
        }
        state.store_id = None;
        Err(Error::UnexpectedFile(
            "the store file was replaced by another file while this handle had it open: \
             this write would overwrite it (the next one will)"
                .into(),
        ))
    }

    /// Removes the store file this handle has just created (`id`), whose directory sync
    /// failed with `error`, and makes the removal durable: then `Err` is the truth (no
    /// store, and a retried create makes it). If the removal fails, the store is there:
    /// `NotDurable`; if its directory sync fails, a crash may still bring the file back:
    /// `NotDurable` too.
    fn undo_create(&self, state: &mut State, id: Identity, error: std::io::Error) -> Result<()> {
        let path = &self.inner.path;
        let removed = match id.is_at(path) {
            Ok(true) => fs::remove_file(path),
            Ok(false) => Ok(()),
            Err(e) => Err(std::io::Error::other(e)),
        };
        if let Err(e) = removed {
            state.create = false;
            state.store_id = Some(id);
            return Err(Error::NotDurable(e));
        }
        state.create = true;
        state.store_id = None;
        match files::sync_dir(files::parent(path)) {
            Ok(()) => Err(Error::Io(error)),
            Err(e) => Err(Error::NotDurable(e)),
        }
    }
}
