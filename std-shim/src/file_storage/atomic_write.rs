//! Replacing the store file atomically: the new bytes go to a fresh temporary file beside
//! it (created exclusively, mode 0600, locked while the save runs), which is synced,
//! renamed (or, for a new store, linked) over the store file, after which the directory
//! is synced ([`write_atomic`]).
//! Also the lock a compare-and-replace holds on the file it replaces ([`lock_current`]),
//! and the clean-up of temporary files whose save died ([`remove_stale_temps`]).

use std::fs::{self, File, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use microkv_core::{Error, LockMode, Result};

use super::files::{after_placing, exists, file_name, parent, remove_if_present, sync_dir};
use super::lock::{acquire, is_current, lock_path, remove_if_free};
use super::regular::{create, open_to_read, open_to_write, Access, Identity, Role};

/// Writes `bytes` to `path` atomically (temporary file, sync, rename, directory sync),
/// holding an exclusive lock on `<path>.lock` meanwhile: `Error::Locked` if a store is
/// open there. Used for `save_as`. An I/O error names the file (`Error::io_context`). The lock file, made only for the copy, is removed
/// after it (unless another process opened it meanwhile): the copy leaves nothing else.
pub fn write_copy(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let lock = lock_path(path);
    let held = acquire(&lock, LockMode::Exclusive).map_err(|e| e.in_file("locking", &lock))?;
    let written = write_atomic(path, bytes, Replace::Always, &mut None);
    // The copy is written (or not) whatever this does: a lock file left behind is only
    // clutter, so its removal's error is not the copy's.
    let _ = remove_if_free(&lock, held.as_ref().map(super::lock::Life::file));
    written.map_err(|e| e.in_file("saving a copy of the store", path))
}

/// Opens the store file at `path` as it is now and takes an exclusive lock on it
/// (waiting: another writer holds it only for its save), then checks that it begins with
/// `expected`. `None` if there is no file. Saves rename a new file over the store, so the
/// lock is on the file a save replaces, and a lock on a file already replaced is dropped
/// and taken again on the new one. Each such retry means another writer's save completed,
/// so writers never livelock; a writer that keeps losing for [`REPLACE_PATIENCE`] (a busy
/// store under many concurrent savers) gets `Error::Locked`. A fixed count of retries was
/// used first and ran out under load with four threads saving in a loop.
#[cfg(not(windows))]
pub(super) fn lock_current(path: &Path, expected: &[u8]) -> Result<Option<File>> {
    let started = std::time::Instant::now();
    while started.elapsed() < REPLACE_PATIENCE {
        let Some(mut file) = open_to_read(path, Role::Store)? else {
            return Ok(None);
        };
        file.lock().map_err(Error::Io)?;
        if !is_current(&file, path)? {
            continue;
        }
        return check_head(&mut file, expected).map(|()| Some(file));
    }
    Err(Error::Locked)
}

/// Windows: the compare-and-replace lock is one byte of `<path>.lock`
/// ([`REPLACE_BYTE`](super::windows::REPLACE_BYTE)), not the store file. Windows refuses
/// to rename over a file that a handle holds open (without POSIX rename semantics, which
/// FAT, exFAT, SMB and Wine lack), and its locks are mandatory: a lock on the store file
/// would make the save fail and refuse the store's readers meanwhile. Every writer takes
/// this lock around its check and replace, so the two are one step for every writer, in
/// this process or another; the store file is read for the check through a handle closed
/// before the replace. Waits up to [`REPLACE_PATIENCE`] for the lock (`Error::Locked`
/// past it); `None` if there is no store file.
#[cfg(windows)]
pub(super) fn lock_current(path: &Path, expected: &[u8]) -> Result<Option<ReplaceLock>> {
    use super::windows::{try_lock, REPLACE_BYTE};
    let lock = super::lock::open_lock(&lock_path(path))?;
    let started = std::time::Instant::now();
    while !try_lock(&lock, REPLACE_BYTE, true).map_err(Error::Io)? {
        if started.elapsed() > REPLACE_PATIENCE {
            return Err(Error::Locked);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let lock = ReplaceLock(lock);
    let Some(mut file) = open_to_read(path, Role::Store)? else {
        return Ok(None);
    };
    check_head(&mut file, expected)?;
    Ok(Some(lock))
}

/// A writer's compare-and-replace lock on Windows: [`REPLACE_BYTE`] of the lock file,
/// released when dropped (closing the handle releases it too, but Windows may do that
/// late).
///
/// [`REPLACE_BYTE`]: super::windows::REPLACE_BYTE
#[cfg(windows)]
pub(super) struct ReplaceLock(File);

#[cfg(windows)]
impl Drop for ReplaceLock {
    fn drop(&mut self) {
        let _ = super::windows::unlock(&self.0, super::windows::REPLACE_BYTE);
    }
}

/// Checks that `file` begins with `expected`: `Error::CredentialChanged` if not.
fn check_head(file: &mut File, expected: &[u8]) -> Result<()> {
    let mut head = vec![0u8; expected.len()];
    match file.read_exact(&mut head) {
        Ok(()) if head == expected => Ok(()),
        Ok(()) => Err(Error::CredentialChanged),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Error::CredentialChanged),
        Err(e) => Err(Error::Io(e)),
    }
}

/// How long [`lock_current`] keeps retrying while other writers replace the file under it.
const REPLACE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether a save may replace an existing store file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Replace {
    /// Replace whatever file is there.
    Always,
    /// Fail with `AlreadyExists` if the file exists (a new store).
    Never,
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, puts it in place and syncs
/// the directory. Sets `placed` to the new file's identity once it is at `path`; a later
/// step may still fail: then the new bytes are visible but maybe not durable, and the
/// error is `Error::NotDurable`.
pub(super) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    replace: Replace,
    placed: &mut Option<Identity>,
) -> Result<()> {
    let dir = parent(path);
    let (tmp, mut file) = create_temp(dir, path)?;
    let mut tmp_exists = true;
    let result = (|| -> Result<()> {
        file.write_all(bytes).map_err(Error::Io)?;
        file.sync_all().map_err(Error::Io)?;
        let id = Identity::of(&file)?;
        match replace {
            Replace::Always => {
                rename_over(&tmp, path).map_err(Error::Io)?;
                tmp_exists = false;
                *placed = Some(id);
            }
            Replace::Never => match fs::hard_link(&tmp, path) {
                Ok(()) => *placed = Some(id),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(Error::AlreadyExists)
                }
                // A file system without hard links: the caller holds the lock, so a
                // check and a rename are as good as it gets there.
                Err(_) if !exists(path)? => {
                    rename_over(&tmp, path).map_err(Error::Io)?;
                    tmp_exists = false;
                    *placed = Some(id);
                }
                Err(_) => return Err(Error::AlreadyExists),
            },
        }
        if tmp_exists {
            fs::remove_file(&tmp).map_err(Error::Io)?;
            tmp_exists = false;
        }
        // Windows has no directory sync: the renamed file is flushed again instead
        // (FlushFileBuffers through the handle still open on it, which commits its
        // metadata on NTFS).
        #[cfg(windows)]
        file.sync_all().map_err(Error::Io)?;
        sync_dir(dir).map_err(Error::Io)
    })();
    // Removed while still locked: unlocked, the name could be another save's file by
    // the time it is removed (a save takes over an unlocked one).
    if result.is_err() && tmp_exists {
        let _ = fs::remove_file(&tmp);
    }
    // Unlocked before the close: the file may be the store file now, and a close that
    // fails must not leave it locked (a `lock_current` would wait for it forever; the
    // os_faults sweep's failing `close` did).
    let _ = file.unlock();
    drop(file);
    match result {
        Err(e) if placed.is_some() => Err(after_placing(e)),
        other => other,
    }
}

/// Renames `from` over `to`, replacing it, in one step. Off Windows `rename(2)` (made
/// durable by the directory sync after it). On Windows first the write-through replace,
/// `MoveFileExW(MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)`
/// ([`move_replacing`](super::windows::move_replacing)), which returns only once the move
/// is on the disk; it is a classic rename, refused (`ERROR_ACCESS_DENIED`, or a sharing
/// violation) while any handle is open on `to`, as a reader's is for one read. Then std's
/// `fs::rename`, whose own fallback is the POSIX-semantics rename
/// (`SetFileInformationByHandle(FileRenameInfoEx)`, NTFS on Windows 10 1607 and later),
/// which replaces a file that readers hold open; that one has no write-through flag, and
/// the renamed file is flushed after it (`write_atomic`). Where neither can replace the
/// open file (FAT, exFAT, SMB, Wine: no POSIX rename), both are retried for up to
/// [`RENAME_PATIENCE`], as readers hold the store file only for one read. Wine 8 ignores
/// the write-through flag, so Wine runs the same rename either way (see `move_replacing`).
fn rename_over(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(windows)]
    {
        use super::windows::refused;
        let started = std::time::Instant::now();
        loop {
            let moved = super::windows::move_replacing(from, to).or_else(|e| {
                if refused(&e) {
                    fs::rename(from, to)
                } else {
                    Err(e)
                }
            });
            match moved {
                Err(e) if refused(&e) && started.elapsed() < RENAME_PATIENCE => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                other => return other,
            }
        }
    }
    #[cfg(not(windows))]
    fs::rename(from, to)
}

/// How long [`rename_over`] retries a replace that a reader's open handle refuses.
#[cfg(windows)]
const RENAME_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// How many temporary files saves of one store may hold at once: one per save in
/// progress (saves through one handle take turns; handles sharing the store each have
/// their own). A save holds a lock on its temporary file for its course, so a file no
/// save holds locked is one a save left when its process died, and the slot is free.
const TEMP_SLOTS: usize = 16;

/// The name of temporary file `slot` of the store at `path`: `.{name}.{slot}.tmp` beside
/// it. The names are few and known, so the stale ones are removed without listing the
/// directory (a `ReadDir` asserts when `closedir` fails: a panic on an OS error).
fn temp_path(dir: &Path, path: &Path, slot: usize) -> PathBuf {
    dir.join(format!(".{}.{slot}.tmp", file_name(path)))
}

/// Removes temporary files that saves of the store at `path` left behind when their
/// process died (an exclusive open calls it, to leave no clutter; a save takes over such
/// a file's slot anyway). Best effort: a file that cannot be removed stays.
pub(super) fn remove_stale_temps(path: &Path) {
    let dir = parent(path);
    for slot in 0..TEMP_SLOTS {
        let _ = remove_if_dead(&temp_path(dir, path, slot));
    }
}

/// Creates a fresh temporary file beside `path`, exclusively, mode 0600, in the first
/// free slot, and locks it for the save's course. A slot holding a file that no save has
/// locked is freed first (`remove_if_dead`); `Error::Locked` if every slot holds a live
/// save's file: that many saves at once.
fn create_temp(dir: &Path, path: &Path) -> Result<(PathBuf, File)> {
    for slot in 0..TEMP_SLOTS {
        let tmp = temp_path(dir, path, slot);
        // Twice at most: again once a dead save's file is removed.
        for _ in 0..2 {
            match create(&tmp, Role::Temp, Access::Write) {
                Ok(file) if claim(&file, &tmp)? => return Ok((tmp, file)),
                // Taken for a dead save's by another save before this one locked it.
                Ok(_) => break,
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !remove_if_dead(&tmp)? {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
    Err(Error::Locked)
}

/// Locks `file`, just created at `tmp`, for this save: `false` if another save locked it
/// first (and removes it), or already did and it is no longer the file at `tmp`.
fn claim(file: &File, tmp: &Path) -> Result<bool> {
    match file.try_lock() {
        Ok(()) => is_current(file, tmp),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(Error::Io(e)),
    }
}

/// Removes the temporary file at `tmp` if no save holds it locked (its save's process
/// died): whether the slot is free now. A file that is not one of this user's temporary
/// files (a link, another owner's, one with other links) is left there, with its slot.
///
/// While this holds the lock, no save can take the file, and the name stays this file's
/// (its own save is gone, or renamed it already, which `is_current` sees), so the
/// removal by name removes this file and no other.
fn remove_if_dead(tmp: &Path) -> Result<bool> {
    let file = match open_to_write(tmp, Role::Temp) {
        Ok(Some(file)) => file,
        Ok(None) => return Ok(true),
        Err(Error::UnexpectedFile(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(false),
        Err(TryLockError::Error(e)) => return Err(Error::Io(e)),
    }
    if is_current(&file, tmp)? {
        remove_if_present(tmp)?;
    }
    Ok(true)
}
