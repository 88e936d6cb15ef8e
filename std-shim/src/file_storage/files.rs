//! The file-system steps every part of [`FileStorage`](super::FileStorage) shares: the
//! error mapping, paths beside the store file, owner-only creation, bounded reads,
//! existence checks, removal and directory syncs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use microkv_core::{Error, Result};

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

/// Open options that create files readable and writable by the owner only.
pub(super) fn private_options() -> OpenOptions {
    #[cfg_attr(not(unix), allow(unused_mut))] // only Unix sets a mode here
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// The bytes of the file at `path` if it holds at most `max` of them, else
/// `Error::TooLarge`: the length is checked before anything is read, and the read stops
/// past `max` should the file grow meanwhile. The outer error is the file's opening
/// (`io::ErrorKind::NotFound` if there is none). [`FileStorage`](super::FileStorage)
/// reads its store and journal through it; `microkv::migrate` a microkv 0.3 file.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::Error;
/// use microkv_std::file_storage::read_at_most;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("f");
/// std::fs::write(&path, b"abc")?;
/// assert_eq!(read_at_most(&path, 3)??, b"abc");
/// assert!(matches!(read_at_most(&path, 2)?, Err(Error::TooLarge { len: 3, max: 2 })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Outer: the file cannot be opened or its length read. Inner: `Error::TooLarge` past
/// `max`, `Error::Io` if reading fails.
pub fn read_at_most(path: &Path, max: u64) -> io::Result<Result<Vec<u8>>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Ok(Err(Error::TooLarge { len, max }));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    if let Err(e) = file.take(max.saturating_add(1)).read_to_end(&mut bytes) {
        return Ok(Err(Error::Io(e)));
    }
    let len = bytes.len() as u64;
    if len > max {
        return Ok(Err(Error::TooLarge { len, max }));
    }
    Ok(Ok(bytes))
}

/// The first `len` bytes of the file at `path` (fewer if it is shorter); `None` if there
/// is no file.
pub(super) fn read_head(path: &Path, len: usize) -> Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Io(e)),
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
        Error::Io(e) => Error::NotDurable(e),
        other => other,
    }
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// No directory to sync off Unix.
#[cfg(not(unix))]
pub(super) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
