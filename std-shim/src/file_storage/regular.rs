//! Opening the store's files as regular files only ([`open`]), and telling whether an
//! open file is still the one at its path ([`Identity`]).
//!
//! Every file [`FileStorage`](super::FileStorage) opens (the store file, its journal,
//! lock and temporary files) is opened without following a symbolic link at its last
//! component and without blocking (on Unix `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC`, so a
//! FIFO never hangs the open), then checked through the open descriptor before a byte is
//! read or written: a regular file, and, for the journal, lock and temporary files when
//! written, owned by the effective user with one link. Anything else is
//! `Error::UnexpectedFile`. The store path itself is resolved once, when the storage is
//! opened (see `FileStorage::open`); the OS-specific part is [`os_open`] and
//! [`os_private`], one small function per OS.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::path::Path;

use microkv_core::{Error, Result};

/// Which of the store's files is opened, for the checks and the messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// The store file (or, for `read_at_most`, any file a caller names).
    Store,
    /// `<file>.journal`.
    Journal,
    /// `<file>.lock`.
    Lock,
    /// A save's temporary file.
    Temp,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Store => "the store file",
            Role::Journal => "the journal",
            Role::Lock => "the lock file",
            Role::Temp => "a temporary file",
        }
    }
}

/// How [`open`] treats a symbolic link at the path's last component.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Links {
    /// Refused (`Error::UnexpectedFile`): every file of the store.
    Refuse,
    /// Followed: only `read_at_most`, whose caller names the file.
    Follow,
}

/// Opens the file at `path` with `options` (plus the flags above) as `role`, then checks
/// it through the descriptor: a regular file; when `writes` and the role is not the
/// store's, owned by the effective user with one link. The error of an open that fails
/// because something other than a regular file is there is `Error::UnexpectedFile` too
/// (not the OS's `ELOOP`, `ENXIO` or `EISDIR`); any other failure is `Error::Io` with the
/// OS error (`io::ErrorKind::NotFound` when nothing is there, `AlreadyExists` when a
/// `create_new` finds anything at all).
pub(super) fn open(
    options: &mut OpenOptions,
    path: &Path,
    role: Role,
    links: Links,
    writes: bool,
) -> Result<File> {
    let file = match os_open(options, path, links) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(Error::Io(e)),
        Err(e) => {
            return Err(match fs::symlink_metadata(path) {
                Ok(meta) if links == Links::Refuse || !meta.file_type().is_symlink() => {
                    not_regular(role, &meta).unwrap_or(Error::Io(e))
                }
                _ => Error::Io(e),
            })
        }
    };
    let meta = file.metadata().map_err(Error::Io)?;
    if let Some(e) = not_regular(role, &meta) {
        return Err(e);
    }
    if writes && role != Role::Store {
        if let Some(why) = os_private(&meta) {
            return Err(Error::UnexpectedFile(format!("{} {why}", role.name())));
        }
    }
    Ok(file)
}

/// [`open`], with `None` when nothing is at `path`.
pub(super) fn open_if_present(
    options: &mut OpenOptions,
    path: &Path,
    role: Role,
    links: Links,
    writes: bool,
) -> Result<Option<File>> {
    match open(options, path, role, links, writes) {
        Ok(file) => Ok(Some(file)),
        Err(Error::Io(e)) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The file at `path` as `role`, opened to be read, never through a link; `None` when
/// nothing is there.
pub(super) fn open_to_read(path: &Path, role: Role) -> Result<Option<File>> {
    open_if_present(
        OpenOptions::new().read(true),
        path,
        role,
        Links::Refuse,
        false,
    )
}

/// `Error::UnexpectedFile` if `meta` is not that of a regular file.
pub(super) fn not_regular(role: Role, meta: &Metadata) -> Option<Error> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    let what = if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        os_kind(meta)
    };
    Some(Error::UnexpectedFile(format!(
        "{} is {what}, not a regular file",
        role.name()
    )))
}

/// Unix: the open never follows a link at the last component and never blocks (a FIFO
/// with no writer or reader opens at once, and is then refused by its type).
#[cfg(unix)]
fn os_open(options: &mut OpenOptions, path: &Path, links: Links) -> io::Result<File> {
    use rustix::fs::OFlags;
    use std::os::unix::fs::OpenOptionsExt;
    let mut flags = OFlags::NONBLOCK | OFlags::CLOEXEC;
    if links == Links::Refuse {
        flags |= OFlags::NOFOLLOW;
    }
    options.custom_flags(flags.bits() as i32).open(path)
}

/// Elsewhere (Windows): a plain open, then the type check. (A reparse point is followed
/// here; `FILE_FLAG_OPEN_REPARSE_POINT` belongs in this function.)
#[cfg(not(unix))]
fn os_open(options: &mut OpenOptions, path: &Path, _links: Links) -> io::Result<File> {
    options.open(path)
}

/// Unix: why a file the store writes (not the store file) may not be used: another
/// owner than the effective user, or more than one link (a hard link planted to a file
/// elsewhere).
#[cfg(unix)]
fn os_private(meta: &Metadata) -> Option<&'static str> {
    use std::os::unix::fs::MetadataExt;
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Some("is owned by another user");
    }
    if meta.nlink() != 1 {
        return Some("has more than one link");
    }
    None
}

/// Elsewhere: no owner or link count to check.
#[cfg(not(unix))]
fn os_private(_meta: &Metadata) -> Option<&'static str> {
    None
}

/// Unix: the name of a file type other than a regular file, a directory or a link.
#[cfg(unix)]
fn os_kind(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn os_kind(_meta: &Metadata) -> &'static str {
    "a special file"
}

/// Which file an open descriptor is: device and inode on Unix (nothing elsewhere, where
/// every comparison says "the same").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Identity(#[cfg(unix)] (u64, u64));

impl Identity {
    /// The identity of the file `meta` describes.
    pub(super) fn of(meta: &Metadata) -> Identity {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Identity((meta.dev(), meta.ino()))
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            Identity()
        }
    }

    /// Whether the file at `path` (not following a link) is still this one: `false` if
    /// it was removed or replaced.
    pub(super) fn is_at(self, path: &Path) -> Result<bool> {
        match fs::symlink_metadata(path) {
            Ok(meta) => Ok(Identity::of(&meta) == self),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::Io(e)),
        }
    }
}
