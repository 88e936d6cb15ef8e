//! The file-system steps every part of [`FileStorage`](super::FileStorage) shares: the
//! error mapping, paths beside the store file, owner-only creation, bounded reads,
//! existence checks, removal and directory syncs.

use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use microkv_core::{Error, Result};

use super::regular::{open_if_present, open_to_read, Identity, Links, Role};

/// `path` with `suffix` appended to its name.
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The directory holding `path` (`.` for a bare file name).
pub(super) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The last component of `path`, lossily as a string (empty if it has none).
pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The bytes of the file at `path` if it holds at most `max` of them, else
/// `Error::TooLarge`: the length is checked before anything is read, and the read stops
/// past `max` should the file grow meanwhile. Only a regular file is read (a FIFO,
/// device or directory is `Error::UnexpectedFile`, refused before anything is read and
/// without blocking); a symbolic link is followed. The outer error is the file's opening
/// (`io::ErrorKind::NotFound` if there is none). `microkv::migrate` reads a microkv 0.3
/// file through it.
///
/// ```
/// use microkv_core::Error;
/// use microkv_std::file_storage::read_at_most;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("f");
/// std::fs::write(&path, b"abc")?;
/// assert_eq!(read_at_most(&path, 3)??, b"abc");
/// assert!(matches!(read_at_most(&path, 2)?, Err(Error::TooLarge { len: 3, max: 2 })));
/// assert!(matches!(read_at_most(dir.path(), 2)?, Err(Error::UnexpectedFile(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Outer: the file cannot be opened. Inner: `Error::UnexpectedFile` for anything but a
/// regular file, `Error::TooLarge` past `max`, `Error::Io` if reading fails.
pub fn read_at_most(path: &Path, max: u64) -> io::Result<Result<Vec<u8>>> {
    match read_regular(path, max, Role::Store, Links::Follow) {
        Ok(Some((bytes, _))) => Ok(Ok(bytes)),
        Ok(None) => Err(io::ErrorKind::NotFound.into()),
        Err(e) => Ok(Err(e)),
    }
}

/// The bytes of the regular file at `path` and its identity (`None` if there is no
/// file), opened as `role` (see [`open`]), if it holds at most `max` bytes (else
/// `Error::TooLarge`, checked before anything is read).
pub(super) fn read_regular(
    path: &Path,
    max: u64,
    role: Role,
    links: Links,
) -> Result<Option<(Vec<u8>, Identity)>> {
    let Some((file, len, id)) = open_regular(path, max, role, links)? else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Error::Io)?;
    let len = bytes.len() as u64;
    if len > max {
        return Err(Error::TooLarge { len, max });
    }
    Ok(Some((bytes, id)))
}

/// The regular file at `path` opened to be read, as [`read_regular`] opens it, with its
/// length (at most `max`, else `Error::TooLarge`) and identity; `None` if there is none.
pub(super) fn open_regular(
    path: &Path,
    max: u64,
    role: Role,
    links: Links,
) -> Result<Option<(fs::File, u64, Identity)>> {
    let Some(file) = open_if_present(OpenOptions::new().read(true), path, role, links, false)?
    else {
        return Ok(None);
    };
    let len = file.metadata().map_err(Error::Io)?.len();
    let id = Identity::of(&file)?;
    if len > max {
        return Err(Error::TooLarge { len, max });
    }
    Ok(Some((file, len, id)))
}

/// A store file kept open, read at offsets ([`microkv_core::Snapshot::File`]): a save
/// renames a new file over it, never writes into it, so what the open checked stays put.
#[cfg(unix)]
pub(super) struct OpenFile {
    pub(super) file: fs::File,
    pub(super) len: u64,
    pub(super) path: PathBuf,
    /// Held by [`SnapshotFile::read_to_vec_at`] from its seek to its read (the one use of
    /// the file's offset: every other read is positioned).
    ///
    /// [`SnapshotFile::read_to_vec_at`]: microkv_core::SnapshotFile::read_to_vec_at
    pub(super) seeking: std::sync::Mutex<()>,
}

#[cfg(unix)]
impl microkv_core::SnapshotFile for OpenFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        match self.file.read_exact_at(buf, at) {
            Ok(()) => Ok(()),
            // Cut short since the open: only a write into the file does that.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Error::Tampered),
            Err(e) => Err(Error::Io(e).in_file("reading the store file", &self.path)),
        }
    }

    /// Reads into `out`'s spare capacity (`Read::read_to_end` through `take`), where the
    /// provided method zeroes the bytes first: a 100k-entry store's 2.4 MB directory was a
    /// quarter of its open in `memset`. `read_exact_at` has no such form in stable std, so
    /// this seeks, under `seeking`.
    fn read_to_vec_at(&self, at: u64, len: usize, out: &mut Vec<u8>) -> Result<()> {
        use std::io::{Seek, SeekFrom};
        let start = out.len();
        out.reserve_exact(len);
        let read = {
            let _seeking = self.seeking.lock().unwrap_or_else(|e| e.into_inner());
            let mut file = &self.file;
            file.seek(SeekFrom::Start(at))
                .and_then(|_| file.take(len as u64).read_to_end(out))
        };
        match read {
            Ok(n) if n == len => Ok(()),
            // Cut short since the open: only a write into the file does that.
            Ok(_) => {
                out.truncate(start);
                Err(Error::Tampered)
            }
            Err(e) => {
                out.truncate(start);
                Err(Error::Io(e).in_file("reading the store file", &self.path))
            }
        }
    }
}

/// The first `len` bytes of the file at `path` (fewer if it is shorter); `None` if there
/// is no file.
pub(super) fn read_head(path: &Path, len: usize) -> Result<Option<Vec<u8>>> {
    let Some(file) = open_to_read(path, Role::Store)? else {
        return Ok(None);
    };
    let mut head = Vec::with_capacity(len);
    (file.take(len as u64))
        .read_to_end(&mut head)
        .map_err(Error::Io)?;
    Ok(Some(head))
}

/// Whether anything (a symbolic link included, dangling or not) is at `path`.
pub(super) fn exists(path: &Path) -> Result<bool> {
    fs::symlink_metadata(path)
        .map(|_| true)
        .or_else(|e| match e.kind() {
            io::ErrorKind::NotFound => Ok(false),
            _ => Err(Error::Io(e)),
        })
}

/// Removes the file at `path`; a file already gone is no error.
pub(super) fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::Io(e)),
        _ => Ok(()),
    }
}

/// An error met once the new snapshot is in place: an I/O error there is
/// `Error::NotDurable` (the new bytes are what a reopen reads), never one that says
/// nothing was written.
pub(super) fn after_placing(error: Error) -> Error {
    match error {
        Error::Io(e) | Error::NotDurable(e) => Error::NotDurable(e),
        other => Error::NotDurable(io::Error::other(other)),
    }
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// No directory to sync off Unix.
#[cfg(not(unix))]
pub(super) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
