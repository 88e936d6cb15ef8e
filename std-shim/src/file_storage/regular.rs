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
    checked(file, role, writes)
}

/// `file`, opened as `role`, if it passes [`open`]'s checks.
fn checked(file: File, role: Role, writes: bool) -> Result<File> {
    let meta = file.metadata().map_err(Error::Io)?;
    if let Some(e) = not_regular(role, &meta) {
        return Err(e);
    }
    if writes && role != Role::Store {
        if let Some(why) = os_private(&file)? {
            return Err(Error::UnexpectedFile(format!("{} {why}", role.name())));
        }
    }
    Ok(file)
}

/// How [`create`] opens the file it creates.
#[derive(Clone, Copy)]
pub(super) enum Access {
    /// Read and write (the lock file).
    ReadWrite,
    /// Write (a temporary file).
    Write,
    /// Append only (the journal).
    Append,
}

/// Creates the file at `path` as `role`, readable and writable by the current user only
/// (mode 0600 on Unix; on Windows a protected DACL granting only the current user, given
/// at creation), never through a link; `io::ErrorKind::AlreadyExists` if anything is
/// there. Then checked as [`open`] checks a file it writes.
pub(super) fn create(path: &Path, role: Role, access: Access) -> Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut options = OpenOptions::new();
        options.mode(0o600).create_new(true);
        match access {
            Access::ReadWrite => options.read(true).write(true),
            Access::Write => options.write(true),
            Access::Append => options.append(true),
        };
        open(&mut options, path, role, Links::Refuse, true)
    }
    #[cfg(windows)]
    {
        let file = super::windows::create_private(path, access).map_err(Error::Io)?;
        checked(file, role, true)
    }
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

/// The file at `path` as `role`, opened to be written, never through a link, and checked
/// as [`open`] checks a file it writes (the effective user's, one link); `None` when
/// nothing is there.
pub(super) fn open_to_write(path: &Path, role: Role) -> Result<Option<File>> {
    open_if_present(
        OpenOptions::new().write(true),
        path,
        role,
        Links::Refuse,
        true,
    )
}

/// `Error::UnexpectedFile` if `meta` is not that of a regular file.
pub(super) fn not_regular(role: Role, meta: &Metadata) -> Option<Error> {
    let t = meta.file_type();
    if t.is_file() && !is_reparse_point(meta) {
        return None;
    }
    let what = if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if is_reparse_point(meta) {
        "a reparse point"
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

/// Windows: a reparse point (a symbolic link, a junction, a mount point) at the last
/// component is opened itself, not followed (`FILE_FLAG_OPEN_REPARSE_POINT`), and then
/// refused by its attributes (see [`not_regular`]). An open refused for a moment by
/// another handle (`ERROR_ACCESS_DENIED`, as while a file is being replaced or its
/// deletion is pending; a sharing or lock violation) is retried as SQLite's `winOpen`
/// retries one (`winRetryIoerr`): [`OPEN_RETRIES`] more times, the n-th after n x 25 ms,
/// 1.4 s in all before the error is returned; not when a directory is there (which
/// refuses such an open as `ERROR_ACCESS_DENIED` for good).
#[cfg(windows)]
fn os_open(options: &mut OpenOptions, path: &Path, links: Links) -> io::Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    if links == Links::Refuse {
        options.custom_flags(FILE_FLAG_OPEN_REPARSE_POINT);
    }
    let mut retries = 0;
    loop {
        match options.open(path) {
            Err(e)
                if retries < OPEN_RETRIES
                    && super::windows::refused(&e)
                    // A directory there refuses every open as ACCESS_DENIED: no retry.
                    && !fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) =>
            {
                retries += 1;
                std::thread::sleep(std::time::Duration::from_millis(25 * retries));
            }
            other => return other,
        }
    }
}

/// How many times [`os_open`] retries an open another handle refuses (SQLite's
/// `SQLITE_WIN32_IOERR_RETRY`).
#[cfg(windows)]
const OPEN_RETRIES: u64 = 10;

/// `FILE_FLAG_OPEN_REPARSE_POINT` (`windows-sys`' `Storage::FileSystem`).
#[cfg(windows)]
const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
/// `FILE_ATTRIBUTE_REPARSE_POINT`.
#[cfg(windows)]
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;

/// Whether `meta` is that of a Windows reparse point of any kind (std calls only name
/// surrogates, such as symbolic links and junctions, links; any other reparse point is a
/// file to it).
#[cfg(windows)]
fn is_reparse_point(meta: &Metadata) -> bool {
    use std::os::windows::fs::MetadataExt;
    meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0
}

#[cfg(not(windows))]
fn is_reparse_point(_meta: &Metadata) -> bool {
    false
}

/// Unix: why a file the store writes (not the store file) may not be used: another
/// owner than the effective user, or more than one link (a hard link planted to a file
/// elsewhere).
#[cfg(unix)]
fn os_private(file: &File) -> Result<Option<&'static str>> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().map_err(Error::Io)?;
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Ok(Some("is owned by another user"));
    }
    if meta.nlink() != 1 {
        return Ok(Some("has more than one link"));
    }
    Ok(None)
}

/// Windows: more than one link (a hard link planted to a file elsewhere). The owner is
/// not compared: files are created with a DACL of their own (see `windows`).
#[cfg(windows)]
fn os_private(file: &File) -> Result<Option<&'static str>> {
    let (_, links) = super::windows::file_id(file).map_err(Error::Io)?;
    Ok((links != 1).then_some("has more than one link"))
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

/// Which file an open descriptor is: device and inode on Unix; on Windows the volume's
/// serial number and the file index (`GetFileInformationByHandle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Identity(#[cfg(unix)] (u64, u64), #[cfg(windows)] (u32, u64));

impl Identity {
    /// The identity of the open `file`.
    pub(super) fn of(file: &File) -> Result<Identity> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = file.metadata().map_err(Error::Io)?;
            Ok(Identity((meta.dev(), meta.ino())))
        }
        #[cfg(windows)]
        {
            let (id, _) = super::windows::file_id(file).map_err(Error::Io)?;
            Ok(Identity(id))
        }
    }

    /// Whether the file at `path` (not following a link) is still this one: `false` if
    /// it was removed or replaced.
    #[cfg(unix)]
    pub(super) fn is_at(self, path: &Path) -> Result<bool> {
        use std::os::unix::fs::MetadataExt;
        match fs::symlink_metadata(path) {
            Ok(meta) => Ok(Identity((meta.dev(), meta.ino())) == self),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::Io(e)),
        }
    }

    /// Whether the file at `path` (not following a reparse point) is still this one:
    /// `false` if it was removed or replaced. Windows names a file's identity only through
    /// a handle: the path is opened with no access rights, sharing everything (so it
    /// refuses no one's read, write, rename or removal meanwhile).
    #[cfg(windows)]
    pub(super) fn is_at(self, path: &Path) -> Result<bool> {
        use std::os::windows::fs::OpenOptionsExt;
        /// `FILE_FLAG_BACKUP_SEMANTICS`: lets the open name a directory too.
        const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
        let opened = OpenOptions::new()
            .access_mode(0)
            .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS)
            .open(path);
        match opened {
            Ok(file) => Ok(Identity::of(&file)? == self),
            // A file whose removal is pending (a handle still open) is gone too.
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(5) => {
                Ok(false)
            }
            Err(e) => Err(Error::Io(e)),
        }
    }
}
