//! [`FileStorage`]: a store file on disk, replaced atomically, with a lock file beside it.
//!
//! A save writes the new snapshot to a fresh temporary file in the same directory
//! (created exclusively, mode 0600), syncs it, renames it over the store file and syncs
//! the directory. A crash at any point leaves either the old file or the new one. The
//! temporary file is removed on every error; one left by a process that died mid-save is
//! removed by the next exclusive open.
//!
//! The cross-process lock is taken on `<file>.lock`, a file that is never renamed (a lock
//! on the store file itself would be lost at the first save's rename).
//!
//! The journal of autosaved writes is `<file>.journal` (mode 0600): each append writes its
//! record at the end and `fdatasync`s the file. Only a storage holding the exclusive lock
//! appends (two writers appending to one journal would break its chain); others rewrite
//! the snapshot on every autosaved write. A save empties the journal after its rename;
//! the next append makes that cut durable before it writes, so a crash never leaves new
//! records after old ones.
#![forbid(unsafe_code)]

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use microkv_core::{Error, LockMode, Result, Storage, MAX_JOURNAL_LEN, MAX_STORE_LEN};

/// Maps an I/O error to microkv's [`Error::Io`].
pub fn io_error(e: io::Error) -> Error {
    Error::Io(e)
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

/// Declares [`FailPoint`]: public under the `testing` feature, private to this crate
/// without it (where nothing can arm a fault and every check is a no-op).
macro_rules! fail_point {
    ($vis:vis) => {
        /// A point inside [`FileStorage`]'s save where a fault can be injected with
        /// `FileStorage::fail_next_save` (the `testing` feature; semver-exempt).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum FailPoint {
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
    };
}
#[cfg(feature = "testing")]
fail_point!(pub);
#[cfg(not(feature = "testing"))]
fail_point!(pub(crate));

impl FailPoint {
    fn in_journal(self) -> bool {
        matches!(self, FailPoint::JournalWrite | FailPoint::JournalSync)
    }
}

struct State {
    /// No store file was found (or none may exist): the next save must not replace one.
    create: bool,
    /// `destroy` ran: every later save fails.
    destroyed: bool,
    /// A fault to inject into the next save or append (only ever set by the `testing`
    /// feature).
    fault: Option<FailPoint>,
    /// The journal, open for appending, once this handle appended to it.
    journal: Option<File>,
    /// The journal was cut and the cut is not known to be durable: the next append syncs
    /// it before writing.
    cut_pending: bool,
}

impl State {
    /// The armed fault, if it is one of a save (`journal == false`) or of an append.
    fn take_fault(&mut self, journal: bool) -> Option<FailPoint> {
        self.fault.take_if(|point| point.in_journal() == journal)
    }
}

struct Inner {
    path: PathBuf,
    mode: Mode,
    /// The open lock file while the lock is held; `None` when no lock is held.
    lock: Option<File>,
    /// Whether the lock held is exclusive: only then does this storage append to the
    /// journal.
    exclusive: bool,
    state: Mutex<State>,
}

/// A store snapshot in a file: atomic saves, a cross-process lock on `<file>.lock`.
///
/// Clones share the file and the lock, which is held until the last clone is dropped.
///
/// ```
/// use microkv_core::{LockMode, Storage};
/// use microkv_std::FileStorage;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("doc.kv");
/// let storage = FileStorage::open(&path, LockMode::Exclusive)?;
/// assert!(storage.load()?.is_none());
/// storage.store(b"snapshot")?;
/// assert_eq!(std::fs::read(&path)?, b"snapshot");
/// // A second writer is refused at once.
/// assert!(matches!(FileStorage::open(&path, LockMode::Exclusive), Err(microkv_core::Error::Locked)));
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
            .field("locked", &self.inner.lock.is_some())
            .finish()
    }
}

impl FileStorage {
    /// Opens `path` for reading and writing, taking `lock` on `<path>.lock` first
    /// (`Error::Locked` at once if another holder conflicts). If the file does not exist,
    /// the first save creates it (without replacing a file created meanwhile). With
    /// `LockMode::Exclusive`, temporary files of saves whose process died are removed.
    pub fn open(path: impl AsRef<Path>, lock: LockMode) -> Result<Self> {
        Self::new(path.as_ref(), Mode::OpenOrCreate, lock)
    }

    /// Like [`FileStorage::open`], but the file must exist: `Error::NotFound` otherwise,
    /// and then nothing (not even the lock file) is created.
    pub fn open_existing(path: impl AsRef<Path>, lock: LockMode) -> Result<Self> {
        let path = path.as_ref();
        if !exists(path)? {
            return Err(Error::NotFound);
        }
        Self::new(path, Mode::OpenExisting, lock)
    }

    /// A storage for a new store at `path`: `Error::AlreadyExists` if the file exists.
    /// The first save creates the file without replacing anything, so two racing
    /// creators cannot both succeed.
    pub fn create_new(path: impl AsRef<Path>, lock: LockMode) -> Result<Self> {
        let path = path.as_ref();
        if exists(path)? {
            return Err(Error::AlreadyExists);
        }
        let storage = Self::new(path, Mode::CreateNew, lock)?;
        if exists(path)? {
            return Err(Error::AlreadyExists);
        }
        Ok(storage)
    }

    /// Opens an existing file read-only: never locks, never creates or writes a file.
    /// Saves fail with `Error::ReadOnly`; a missing file is `Error::NotFound`. Saves of
    /// other handles are atomic renames, so a reader sees the old file or the new one.
    pub fn read_only(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !exists(path)? {
            return Err(Error::NotFound);
        }
        Self::new(path, Mode::ReadOnly, LockMode::None)
    }

    fn new(path: &Path, mode: Mode, lock_mode: LockMode) -> Result<Self> {
        // A save renames a new file over the store: through a symbolic link that would
        // replace the link, not the file it points to. Work on the file itself (and keep
        // its lock beside it, shared by every link to it).
        let path = match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                fs::canonicalize(path).map_err(io_error)?
            }
            _ => path.to_path_buf(),
        };
        let path = path.as_path();
        let lock = match mode {
            Mode::ReadOnly => None,
            _ => acquire(&lock_path(path), lock_mode)?,
        };
        if lock.is_some() && lock_mode == LockMode::Exclusive {
            remove_stale_temps(path);
        }
        Ok(FileStorage {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                mode,
                exclusive: lock.is_some() && lock_mode == LockMode::Exclusive,
                lock,
                state: Mutex::new(State {
                    create: mode == Mode::CreateNew,
                    destroyed: false,
                    fault: None,
                    journal: None,
                    cut_pending: false,
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
        sibling(&self.inner.path, ".journal")
    }

    /// Whether this storage refuses every write.
    pub fn is_read_only(&self) -> bool {
        self.inner.mode == Mode::ReadOnly
    }

    /// Removes the store file, its journal and, when no other handle holds it, the lock
    /// file; every
    /// later save through any clone fails with `Error::NotFound`.
    /// `Error::ReadOnly` on a read-only storage.
    pub fn destroy(&self) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let mut state = self.state();
        state.destroyed = true;
        state.journal = None;
        remove_if_present(&self.inner.path)?;
        remove_if_present(&self.journal_path())?;
        sync_dir(parent(&self.inner.path)).map_err(io_error)?;
        // The lock file goes only if it can be held exclusively: a file that another
        // process holds a (shared) lock on must stay, or a later opener would lock a new
        // file while that holder still writes. `acquire` re-checks the file after locking,
        // so an opener racing with this removal retries on the new lock file.
        let lock_path = lock_path(&self.inner.path);
        let own;
        let file = match &self.inner.lock {
            Some(file) => file,
            None => match OpenOptions::new().read(true).write(true).open(&lock_path) {
                Ok(file) => {
                    own = file;
                    &own
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_error(e)),
            },
        };
        match file.try_lock() {
            Ok(()) => remove_if_present(&lock_path),
            Err(TryLockError::WouldBlock) => Ok(()),
            Err(TryLockError::Error(e)) => Err(io_error(e)),
        }
    }

    /// Makes the next save (or, for a journal point, the next append) fail at `point`
    /// with an injected I/O error (the `testing` feature; semver-exempt).
    #[cfg(feature = "testing")]
    pub fn fail_next_save(&self, point: FailPoint) {
        self.state().fault = Some(point);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Storage for FileStorage {
    /// [`Storage::load_at_most`] with the format's bound, [`microkv_core::MAX_STORE_LEN`].
    fn load(&self) -> Result<Option<Vec<u8>>> {
        self.load_at_most(MAX_STORE_LEN)
    }

    /// Reads the file only if its length is within `max` (a longer one is
    /// `Error::TooLarge`, and nothing of it is read).
    fn load_at_most(&self, max: u64) -> Result<Option<Vec<u8>>> {
        let mut state = self.state();
        if self.inner.mode == Mode::CreateNew && state.create {
            // A file that appeared since the constructor's check is someone else's: the
            // first save fails with `AlreadyExists` instead of opening it.
            return Ok(None);
        }
        match read_at_most(&self.inner.path, max) {
            Ok(bytes) => {
                state.create = false;
                Ok(Some(bytes?))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.inner.mode {
                Mode::OpenExisting | Mode::ReadOnly => Err(Error::NotFound),
                Mode::OpenOrCreate | Mode::CreateNew => {
                    state.create = true;
                    Ok(None)
                }
            },
            Err(e) => Err(io_error(e)),
        }
    }

    fn store(&self, bytes: &[u8]) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let mut state = self.state();
        if state.destroyed {
            return Err(Error::NotFound);
        }
        let replace = if state.create {
            Replace::Never
        } else {
            Replace::Always
        };
        let fault = state.take_fault(false);
        let mut placed = false;
        let result = write_atomic(&self.inner.path, bytes, replace, fault, &mut placed);
        if placed {
            state.create = false;
        }
        result?;
        // The journal belongs to the old snapshot now: empty it (a crash before this
        // reaches the disk leaves it whole, and a reader ignores it as another snapshot's).
        match &state.journal {
            Some(file) => file.set_len(0).map_err(io_error)?,
            None => match OpenOptions::new().write(true).open(self.journal_path()) {
                Ok(file) => file.set_len(0).map_err(io_error)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_error(e)),
            },
        }
        state.cut_pending = true;
        Ok(())
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
        let _held = lock_current(&self.inner.path, expected)?;
        self.store(bytes)
    }

    fn append(&self, keep: u64, bytes: &[u8]) -> Result<bool> {
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        if !self.inner.exclusive {
            return Ok(false);
        }
        let mut state = self.state();
        if state.destroyed {
            return Err(Error::NotFound);
        }
        let fault = state.take_fault(true);
        let journal_path = self.journal_path();
        let state = &mut *state;
        let file = match &mut state.journal {
            Some(file) => file,
            slot => slot.insert(open_journal(&journal_path).map_err(io_error)?),
        };
        let len = file.metadata().map_err(io_error)?.len();
        if len < keep {
            return Err(Error::CorruptStore(format!(
                "journal is {len} bytes, {keep} expected"
            )));
        }
        if len > keep {
            file.set_len(keep).map_err(io_error)?;
            state.cut_pending = true;
        }
        if state.cut_pending {
            file.sync_data().map_err(io_error)?;
            state.cut_pending = false;
        }
        check(fault, FailPoint::JournalWrite)?;
        file.write_all(bytes).map_err(io_error)?;
        check(fault, FailPoint::JournalSync)?;
        file.sync_data().map_err(io_error)?;
        Ok(true)
    }

    /// [`Storage::load_journal_at_most`] with the format's bound,
    /// [`microkv_core::MAX_JOURNAL_LEN`].
    fn load_journal(&self) -> Result<Vec<u8>> {
        self.load_journal_at_most(MAX_JOURNAL_LEN)
    }

    /// Reads the journal only if its length is within `max` (a longer one is
    /// `Error::TooLarge`, and nothing of it is read).
    fn load_journal_at_most(&self, max: u64) -> Result<Vec<u8>> {
        match read_at_most(&self.journal_path(), max) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_error(e)),
        }
    }
}

/// The bytes of the file at `path` if it holds at most `max` of them, else
/// `Error::TooLarge`: the length is checked before anything is read, and the read stops
/// past `max` should the file grow meanwhile. The outer error is the file's opening.
fn read_at_most(path: &Path, max: u64) -> io::Result<Result<Vec<u8>>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Ok(Err(Error::TooLarge { len, max }));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    if let Err(e) = file.take(max.saturating_add(1)).read_to_end(&mut bytes) {
        return Ok(Err(io_error(e)));
    }
    let len = bytes.len() as u64;
    if len > max {
        return Ok(Err(Error::TooLarge { len, max }));
    }
    Ok(Ok(bytes))
}

/// Writes `bytes` to `path` atomically (temporary file, sync, rename, directory sync),
/// holding an exclusive lock on `<path>.lock` meanwhile: `Error::Locked` if a store is
/// open there. Used for `save_as`.
pub fn write_copy(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let _lock = acquire(&lock_path(path), LockMode::Exclusive)?;
    write_atomic(path, bytes, Replace::Always, None, &mut false)
}

/// Opens the store file at `path` as it is now and takes an exclusive lock on it
/// (waiting: another writer holds it only for its save), then checks that it begins with
/// `expected`. `None` if there is no file. Saves rename a new file over the store, so the
/// lock is on the file a save replaces, and a lock on a file already replaced is dropped
/// and taken again on the new one. Each such retry means another writer's save completed,
/// so writers never livelock; a writer that keeps losing for [`REPLACE_PATIENCE`] (a busy
/// store under many concurrent savers) gets `Error::Locked`. A fixed count of retries was
/// used first and ran out under load with four threads saving in a loop.
fn lock_current(path: &Path, expected: &[u8]) -> Result<Option<File>> {
    let started = std::time::Instant::now();
    while started.elapsed() < REPLACE_PATIENCE {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(e)),
        };
        file.lock().map_err(io_error)?;
        if !is_current(&file, path)? {
            continue;
        }
        let mut head = vec![0u8; expected.len()];
        return match file.read_exact(&mut head) {
            Ok(()) if head == expected => Ok(Some(file)),
            Ok(()) => Err(Error::CredentialChanged),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Error::CredentialChanged),
            Err(e) => Err(io_error(e)),
        };
    }
    Err(Error::Locked)
}

/// How long [`lock_current`] keeps retrying while other writers replace the file under it.
const REPLACE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether a save may replace an existing store file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    Always,
    /// Fail with `AlreadyExists` if the file exists (a new store).
    Never,
}

/// An injected I/O error when `fault` is at `point`.
#[cfg(feature = "testing")]
fn check(fault: Option<FailPoint>, point: FailPoint) -> Result<()> {
    if fault == Some(point) {
        return Err(io_error(io::Error::other(format!(
            "injected fault at {point:?}"
        ))));
    }
    Ok(())
}

/// Without the `testing` feature no fault can be armed: nothing to check.
#[cfg(not(feature = "testing"))]
#[inline(always)]
fn check(_: Option<FailPoint>, _: FailPoint) -> Result<()> {
    Ok(())
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, puts it in place and syncs
/// the directory. Sets `placed` once the new file is at `path`; a later step may still
/// fail: then the new bytes are visible but maybe not durable, and the error is
/// `Error::NotDurable`.
fn write_atomic(
    path: &Path,
    bytes: &[u8],
    replace: Replace,
    fault: Option<FailPoint>,
    placed: &mut bool,
) -> Result<()> {
    let dir = parent(path);
    let (tmp, mut file) = create_temp(dir, path).map_err(io_error)?;
    let mut tmp_exists = true;
    let result = (|| -> Result<()> {
        check(fault, FailPoint::Write)?;
        file.write_all(bytes).map_err(io_error)?;
        check(fault, FailPoint::Sync)?;
        file.sync_all().map_err(io_error)?;
        check(fault, FailPoint::Rename)?;
        match replace {
            Replace::Always => {
                fs::rename(&tmp, path).map_err(io_error)?;
                tmp_exists = false;
                *placed = true;
            }
            Replace::Never => match fs::hard_link(&tmp, path) {
                Ok(()) => *placed = true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(Error::AlreadyExists)
                }
                // A file system without hard links: the caller holds the lock, so a
                // check and a rename are as good as it gets there.
                Err(_) if !exists(path)? => {
                    fs::rename(&tmp, path).map_err(io_error)?;
                    tmp_exists = false;
                    *placed = true;
                }
                Err(_) => return Err(Error::AlreadyExists),
            },
        }
        if tmp_exists {
            fs::remove_file(&tmp).map_err(io_error)?;
            tmp_exists = false;
        }
        check(fault, FailPoint::SyncDir)?;
        sync_dir(dir).map_err(io_error)
    })();
    drop(file);
    if result.is_err() && tmp_exists {
        let _ = fs::remove_file(&tmp);
    }
    match result {
        Err(Error::Io(e)) if *placed => Err(Error::NotDurable(e)),
        other => other,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether `candidate` is the name of a temporary file of a save of the store `name`:
/// `.{name}.{pid}.{counter}.{8 hex digits}.tmp`, as `create_temp` makes them (and not,
/// say, one of the store `name.1`).
fn is_temp_of(candidate: &str, name: &str) -> bool {
    let Some(rest) = candidate
        .strip_prefix('.')
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix('.'))
        .and_then(|r| r.strip_suffix(".tmp"))
    else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = rest.split('.').collect();
    matches!(parts[..], [pid, counter, stamp]
        if digits(pid) && digits(counter)
            && stamp.len() == 8 && stamp.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Removes temporary files that saves of the store at `path` left behind when their
/// process died. Only called under the exclusive lock: no save of this store is running.
/// Best effort: a file that cannot be listed or removed stays.
fn remove_stale_temps(path: &Path) {
    let name = file_name(path);
    let Ok(entries) = fs::read_dir(parent(path)) else {
        return;
    };
    for entry in entries.flatten() {
        if is_temp_of(&entry.file_name().to_string_lossy(), &name) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Creates a fresh temporary file beside `path`, exclusively, mode 0600.
fn create_temp(dir: &Path, path: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = file_name(path);
    let mut attempts = 0;
    loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = dir.join(format!(
            ".{name}.{}.{}.{nanos:08x}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match private_options().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 100 => {
                attempts += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Open options that create files readable and writable by the owner only.
fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Takes `mode` on the lock file at `lock_path`, creating it if needed.
fn acquire(lock_path: &Path, mode: LockMode) -> Result<Option<File>> {
    let shared = match mode {
        LockMode::None => return Ok(None),
        LockMode::Shared => true,
        LockMode::Exclusive => false,
    };
    // A `destroy` may remove the lock file between our open and our lock; then the lock
    // we got is on a file nobody else will open, so open the new one and try again.
    for _ in 0..16 {
        let file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(lock_path)
            .map_err(io_error)?;
        let locked = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::Locked),
            Err(TryLockError::Error(e)) => return Err(io_error(e)),
        }
        if is_current(&file, lock_path)? {
            return Ok(Some(file));
        }
    }
    Err(Error::Locked)
}

/// Whether `file` is still the file at `path`.
#[cfg(unix)]
fn is_current(file: &File, path: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata().map_err(io_error)?;
    match fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(e)),
    }
}

#[cfg(not(unix))]
fn is_current(_file: &File, path: &Path) -> Result<bool> {
    exists(path)
}

/// `<file>.lock` beside `path`.
fn lock_path(path: &Path) -> PathBuf {
    sibling(path, ".lock")
}

/// `path` with `suffix` appended to its name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
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

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn exists(path: &Path) -> Result<bool> {
    fs::symlink_metadata(path)
        .map(|_| true)
        .or_else(|e| match e.kind() {
            io::ErrorKind::NotFound => Ok(false),
            _ => Err(io_error(e)),
        })
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(e)),
        _ => Ok(()),
    }
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
