//! The cross-process locks: the lifetime lock on `<file>.lock` ([`acquire`]), the write
//! lock on `<file>.wlock` that one operation of a shared store holds ([`lock_writes`]),
//! checking that a locked file is still the one at its path ([`is_current`]), and
//! removing a lock file when no one else holds it ([`remove_if_free`]).
//!
//! Both are on files that are never renamed: a lock on the store file itself would be
//! lost at the first save's rename. Two files, because a lifetime lock held shared by
//! every shared handle cannot also be taken exclusively by one of them for a write.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use microkv_core::{Error, LockMode, Result};

use super::files::{remove_if_present, sibling};
use super::regular::{create, open, open_if_present, open_to_read, Access, Identity, Links, Role};

/// `<file>.lock` beside `path`.
pub(super) fn lock_path(path: &Path) -> PathBuf {
    sibling(path, ".lock")
}

/// `<file>.wlock` beside `path`: the write lock of one operation.
pub(super) fn write_lock_path(path: &Path) -> PathBuf {
    sibling(path, ".wlock")
}

/// The write lock, held while this lives: the locked `<file>.wlock`, unlocked when
/// dropped (closing it would do too; unlocking first releases it without waiting for the
/// close).
pub(super) struct Held(File);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Takes the write lock on `<file>.wlock` at `lock_path` exclusively, waiting for its
/// holder (which holds it for one operation; a holder that dies releases it). A fresh
/// descriptor each time, so that two handles in one process exclude each other as two
/// processes do. With `create` false (a read-only handle, which creates nothing), a
/// missing lock file is no lock: `None` (no writer ever wrote the store through one).
pub(super) fn lock_writes(lock_path: &Path, create: bool) -> Result<Option<Held>> {
    // As in `acquire`: a `destroy` may remove the file between our open and our lock.
    for _ in 0..16 {
        let file = if create {
            open_lock(lock_path)?
        } else {
            match open_to_read(lock_path, Role::Lock)? {
                Some(file) => file,
                None => return Ok(None),
            }
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => file.lock().map_err(Error::Io)?,
            Err(TryLockError::Error(e)) => return Err(Error::Io(e)),
        }
        if is_current(&file, lock_path)? {
            return Ok(Some(Held(file)));
        }
    }
    Err(Error::Locked)
}

/// A handle's lifetime lock: the locked `<file>.lock`, unlocked when dropped, before it
/// is closed. A child another thread forks meanwhile shares the open file description
/// (`flock`'s lock is the description's): closing only this descriptor would leave the
/// lock held until that child execs or exits, and the next open would get `Locked`.
pub(super) struct Life(File);

impl Life {
    /// The lock file.
    pub(super) fn file(&self) -> &File {
        &self.0
    }
}

impl Drop for Life {
    fn drop(&mut self) {
        let _ = unlock(&self.0);
    }
}

/// Takes `mode` on the lock file at `lock_path`, creating it if needed.
pub(super) fn acquire(lock_path: &Path, mode: LockMode) -> Result<Option<Life>> {
    let shared = match mode {
        LockMode::None => return Ok(None),
        LockMode::Shared => true,
        LockMode::Exclusive => false,
    };
    // A `destroy` may remove the lock file between our open and our lock; then the lock
    // we got is on a file nobody else will open, so open the new one and try again.
    for _ in 0..16 {
        let life = Life(open_lock(lock_path)?);
        if !try_lock(life.file(), !shared).map_err(Error::Io)? {
            return Err(Error::Locked);
        }
        if is_current(life.file(), lock_path)? {
            return Ok(Some(life));
        }
    }
    Err(Error::Locked)
}

/// Removes the lock file at `lock_path` only if it can be held exclusively: through
/// `held`, the lock file this handle holds, or else a fresh open of it (none there is no
/// error). A file that another process holds a (shared) lock on must stay, or a later
/// opener would lock a new file while that holder still writes. [`acquire`] re-checks the
/// file after locking, so an opener racing with this removal retries on the new lock file.
pub(super) fn remove_if_free(lock_path: &Path, held: Option<&File>) -> Result<()> {
    let own;
    let file = match held {
        Some(file) => file,
        None => match open_if_present(
            OpenOptions::new().read(true).write(true),
            lock_path,
            Role::Lock,
            Links::Refuse,
            true,
        )? {
            Some(file) => {
                own = file;
                &own
            }
            None => return Ok(()),
        },
    };
    // Windows locks are not re-entrant: this handle's own lock would refuse it. Release
    // it first (the storage is being destroyed: it writes nothing more).
    #[cfg(windows)]
    if held.is_some() {
        let _ = unlock(file);
    }
    if try_lock(file, true).map_err(Error::Io)? {
        remove_if_present(lock_path)
    } else {
        Ok(())
    }
}

/// Takes the lock a handle holds for its life on a lock file, without waiting:
/// `Ok(false)` if another handle holds a conflicting one. The whole file (`flock`) off
/// Windows; on Windows one byte of it (`windows`), so that the compare-and-replace can
/// lock another byte of the same file.
fn try_lock(file: &File, exclusive: bool) -> io::Result<bool> {
    #[cfg(windows)]
    return super::windows::try_lock(file, super::windows::HANDLE_BYTE, exclusive);
    #[cfg(not(windows))]
    {
        let locked = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match locked {
            Ok(()) => Ok(true),
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

/// Releases what [`try_lock`] took on `file`.
fn unlock(file: &File) -> io::Result<()> {
    #[cfg(windows)]
    return super::windows::unlock(file, super::windows::HANDLE_BYTE);
    #[cfg(not(windows))]
    file.unlock()
}

/// Opens (creating it if needed, mode 0600) the lock file at `lock_path`: a regular
/// file owned by the effective user with one link, never through a symbolic link (a
/// link planted there must not make the store create or lock a file elsewhere).
pub(super) fn open_lock(lock_path: &Path) -> Result<File> {
    match create(lock_path, Role::Lock, Access::ReadWrite) {
        Err(Error::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists => open(
            OpenOptions::new().read(true).write(true),
            lock_path,
            Role::Lock,
            Links::Refuse,
            true,
        ),
        other => other,
    }
}

/// Whether `file` is still the file at `path` (a link there is not followed).
pub(super) fn is_current(file: &File, path: &Path) -> Result<bool> {
    Identity::of(file)?.is_at(path)
}
