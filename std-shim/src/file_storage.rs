//! [`FileStorage`]: a store file on disk, replaced atomically, with a lock file beside it.
//!
//! A save writes the new snapshot to a fresh temporary file in the same directory
//! (created exclusively, mode 0600; on Windows with a DACL for the current user only),
//! syncs it, renames it over the store file and syncs the directory (Windows has no
//! directory sync: its replace is write-through). A crash at any point leaves either the old file or the new one. The
//! temporary file is removed on every error; one left by a process that died mid-save is
//! removed by the next exclusive open.
//!
//! The cross-process lifetime lock is taken on `<file>.lock`, a file that is never
//! renamed (a lock on the store file itself would be lost at the first save's rename):
//! exclusive for an owner, shared for shared handles. Each write of a shared handle (and
//! each of an owner's, so that readers catching up see whole writes) holds `<file>.wlock`
//! exclusively for its own course (docs/DECISIONS.md, 32).
//!
//! The store path is resolved once, when the storage is opened: a symbolic link there is
//! replaced by the path of the file it points to (so that saves replace that file, and its
//! lock and journal sit beside it), and whatever is at the resolved path must be a
//! regular file, checked before the lock file is created. No later open follows a link,
//! blocks, or reads a file before its type is checked: the store file, journal, lock and
//! temporary files are opened as regular files only (`regular`), and the last three, when
//! written, only if owned by the effective user with one link. A journal or store file
//! removed or replaced under a writer is noticed before a record is acknowledged. Each of
//! these is `Error::UnexpectedFile`.
//!
//! The journal of autosaved writes is `<file>.journal` (mode 0600): each append writes its
//! record at the end and `fdatasync`s the file. Writers append one at a time, under
//! `<file>.wlock`, after catching up with its end. A save empties the journal after its
//! rename; the next append makes that cut durable before it writes, so a crash never
//! leaves new records after old ones.
//!
//! This module holds the [`FileStorage`] handle: its constructors and its own methods.
//! Its [`Storage`](microkv_core::Storage) implementation is `storage`; the steps live in
//! the other children: `atomic_write` (the temporary file, syncs and rename, and
//! the lock a compare-and-replace holds), `lock` (the lock files), `journal` (appending,
//! cutting and reading the journal), `regular` (opening regular files only, one small
//! function per OS), `files` (the file-system steps they share) and, on Windows,
//! `windows` (its calls: byte-range locks, file IDs, owner-only creation).
#![deny(unsafe_code)] // windows (Windows only) allows it

mod atomic_write;
mod files;
mod journal;
mod lock;
mod regular;
mod storage;
#[cfg(windows)]
mod windows;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use microkv_core::{Error, LockMode, Result};

use atomic_write::remove_stale_temps;
pub use atomic_write::write_copy;
pub use files::read_at_most;
use files::{exists, parent, remove_if_present, sync_dir};
use journal::{journal_path, JournalFile};
use lock::{acquire, lock_path, write_lock_path};
use regular::{not_regular, Identity, Role};

/// `result` with the operation and `path` added to an I/O error that names no file yet.
fn opening<T>(path: &Path, result: Result<T>) -> Result<T> {
    result.map_err(|e| e.in_file("opening the store file", path))
}

/// How a [`FileStorage`] treats the file it is opened on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Loads the file if it exists; the first save creates it otherwise.
    OpenOrCreate,
    /// The file must exist; nothing is created.
    OpenExisting,
    /// The file must not exist; the first save creates it without replacing anything.
    CreateNew,
    /// Loads only: never locks, never creates or writes a file.
    ReadOnly,
}

/// What a [`FileStorage`] and its clones share that changes.
struct State {
    /// No store file was found (or none may exist): the next save must not replace one.
    create: bool,
    /// `destroy` ran: every later save fails.
    destroyed: bool,
    /// A load ran (the first one of a store others may open takes `creating`).
    loaded: bool,
    /// The write lock a storage without the exclusive lifetime lock holds from a first
    /// load that found no store file until its first save (or its first
    /// [`lock_writes`](microkv_core::Storage::lock_writes), which hands it over): another
    /// process opening the same missing store waits, then finds the store this one
    /// created and opens it instead of racing to create its own.
    creating: Option<lock::Held>,
    /// The journal file as this handle appends to it.
    journal: JournalFile,
    /// Which file the store file was when this handle last read or wrote it: a journal
    /// record is written only while it is still the one at the path (a record chained to
    /// a snapshot that was removed or replaced would be ignored at the next open).
    store_id: Option<Identity>,
    /// The open lock file while the lock is held; `None` when no lock is held, or after
    /// `destroy`, which closes it (Windows removes a file only once its last handle is
    /// closed: until then no one could create the lock file again).
    lock: Option<lock::Life>,
}

/// What a [`FileStorage`]'s clones share.
struct Inner {
    path: PathBuf,
    /// `<file>.journal`.
    journal: PathBuf,
    /// `<file>.wlock`, the write lock of one operation.
    write_lock: PathBuf,
    mode: Mode,
    /// Whether a lock was taken at open (held until `destroy` or the last clone's drop).
    locked: bool,
    /// Whether this handle owns the store (the exclusive lifetime lock): then no other
    /// handle writes it, and it need not catch up before a write.
    exclusive: bool,
    state: Mutex<State>,
}

/// A store snapshot in a file: atomic saves, a cross-process lock on `<file>.lock`.
///
/// Clones share the file and the lock, which is held until the last clone is dropped.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{LockMode, Storage};
/// use microkv_std::FileStorage;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("doc.kv");
/// let storage = FileStorage::open(&path, LockMode::Exclusive)?;
/// assert!(storage.load()?.is_none());
/// storage.store(b"snapshot")?;
/// assert_eq!(std::fs::read(&path)?, b"snapshot");
/// // A second writer is refused at once.
/// assert!(matches!(FileStorage::open(&path, LockMode::Exclusive), Err(microkv::Error::Locked)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct FileStorage {
    inner: Arc<Inner>,
}

impl fmt::Debug for FileStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStorage")
            .field("path", &self.inner.path)
            .field("mode", &self.inner.mode)
            .field("locked", &self.inner.locked)
            .finish()
    }
}

impl FileStorage {
    /// Opens `path` for reading and writing, taking `lock` on `<path>.lock` first
    /// (`Error::Locked` at once if another holder conflicts). If the file does not exist,
    /// the first save creates it (without replacing a file created meanwhile); without
    /// an exclusive lock, a first load that finds no file takes `<path>.wlock` and holds
    /// it until that save (or hands it to the first
    /// [`lock_writes`](microkv_core::Storage::lock_writes)), so that another opener's
    /// first load waits and then reads the store this one created. If the new
    /// file's directory sync fails, the file is removed again: the save's error means no
    /// store (`NotDurable` only if the removal is not known to be durable). With
    /// `LockMode::Exclusive`, temporary files of saves whose process died are removed.
    /// A symbolic link at `path` is resolved here, once (see [`FileStorage::path`]);
    /// anything at the resolved path but a regular file is `Error::UnexpectedFile`, and
    /// then nothing is created.
    pub fn open(path: impl AsRef<Path>, lock: LockMode) -> Result<Self> {
        let path = path.as_ref();
        opening(path, Self::new(path, Mode::OpenOrCreate, lock))
    }

    /// Like [`FileStorage::open`], but the file must exist: `Error::NotFound` otherwise,
    /// and then nothing (not even the lock file) is created.
    pub fn open_existing(path: impl AsRef<Path>, lock: LockMode) -> Result<Self> {
        let path = path.as_ref();
        opening(path, Self::new_existing(path, Mode::OpenExisting, lock))
    }

    /// A storage for a new store at `path`: `Error::AlreadyExists` if the file exists.
    /// The first save creates the file without replacing anything, so two racing
    /// creators cannot both succeed.
    pub fn create_new(path: impl AsRef<Path>, lock: LockMode) -> Result<Self> {
        let path = path.as_ref();
        let created = (|| {
            if exists(path)? {
                return Err(Error::AlreadyExists);
            }
            let storage = Self::new(path, Mode::CreateNew, lock)?;
            if exists(path)? {
                return Err(Error::AlreadyExists);
            }
            Ok(storage)
        })();
        opening(path, created)
    }

    /// Opens an existing file read-only: never locks, never creates or writes a file.
    /// Saves fail with `Error::ReadOnly`; a missing file is `Error::NotFound`. Saves of
    /// other handles are atomic renames, so a reader sees the old file or the new one.
    pub fn read_only(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        opening(
            path,
            Self::new_existing(path, Mode::ReadOnly, LockMode::None),
        )
    }

    /// [`FileStorage::new`] for a file that must exist: `Error::NotFound` if none is
    /// there, and then nothing is created.
    fn new_existing(path: &Path, mode: Mode, lock_mode: LockMode) -> Result<Self> {
        if !exists(path)? {
            return Err(Error::NotFound);
        }
        Self::new(path, mode, lock_mode)
    }

    fn new(path: &Path, mode: Mode, lock_mode: LockMode) -> Result<Self> {
        // A save renames a new file over the store: through a symbolic link that would
        // replace the link, not the file it points to. Work on the file itself (and keep
        // its lock beside it, shared by every link to it).
        //
        // This is the one time the store path is resolved: every later open of the store
        // file, its journal, lock and temporary files uses the resolved path and never
        // follows a link. Whatever is there must be a regular file, checked before the
        // lock file is created beside it (a link to `/dev/zero` is refused here, and no
        // `/dev/zero.lock` appears).
        let path = match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                fs::canonicalize(path).map_err(Error::Io)?
            }
            _ => path.to_path_buf(),
        };
        let path = path.as_path();
        match fs::symlink_metadata(path) {
            Ok(meta) => {
                if let Some(e) = not_regular(Role::Store, &meta) {
                    return Err(e);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io(e)),
        }
        let lock = match mode {
            Mode::ReadOnly => None,
            _ => acquire(&lock_path(path), lock_mode)?,
        };
        let exclusive = lock.is_some() && lock_mode == LockMode::Exclusive;
        if exclusive {
            remove_stale_temps(path);
        }
        Ok(FileStorage {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                journal: journal_path(path),
                write_lock: write_lock_path(path),
                mode,
                exclusive,
                locked: lock.is_some(),
                state: Mutex::new(State {
                    create: mode == Mode::CreateNew,
                    destroyed: false,
                    loaded: false,
                    creating: None,
                    journal: JournalFile::default(),
                    store_id: None,
                    lock,
                }),
            }),
        })
    }

    /// The store file's path (if it was opened through a symbolic link, the path of the
    /// file the link points to).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The lock file's path: `<file>.lock`.
    pub fn lock_path(&self) -> PathBuf {
        lock_path(&self.inner.path)
    }

    /// The journal's path: `<file>.journal`.
    pub fn journal_path(&self) -> PathBuf {
        self.inner.journal.clone()
    }

    /// Whether this storage refuses every write.
    pub fn is_read_only(&self) -> bool {
        self.inner.mode == Mode::ReadOnly
    }

    /// Removes the store file, its journal and, when no other handle holds it, the lock
    /// file; every later save through any clone fails with `Error::NotFound`.
    ///
    /// # Errors
    /// `Error::ReadOnly` on a read-only storage; `Error::Io` naming the store file
    /// (`Error::io_context`) if a file cannot be removed.
    pub fn destroy(&self) -> Result<()> {
        let destroyed = self.remove_files();
        destroyed.map_err(|e| e.in_file("removing the store file", &self.inner.path))
    }

    fn remove_files(&self) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let mut state = self.state();
        state.destroyed = true;
        state.journal.close();
        remove_if_present(&self.inner.path)?;
        remove_if_present(&self.inner.journal)?;
        sync_dir(parent(&self.inner.path)).map_err(Error::Io)?;
        // The lock files go only if no other holder keeps them.
        lock::remove_if_free(&self.inner.write_lock, None)?;
        let held = state.lock.take();
        lock::remove_if_free(&self.lock_path(), held.as_ref().map(lock::Life::file))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
