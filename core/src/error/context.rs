//! [`IoContext`]: what an I/O error was doing and to which file, under `std`.
#![forbid(unsafe_code)]

extern crate std;

use core::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::Error;

/// What a failed file operation was doing, and on which file: the payload of the
/// `std::io::Error` inside [`Error::Io`] (and [`Error::NotDurable`]) when the file storage
/// reports one. Never a key name: paths and operations only.
///
/// The error keeps its OS error's [`io::ErrorKind`], so `e.kind()` still works, and the
/// OS error is the [`source`](core::error::Error::source) of the `Error`: its `Display`
/// is the context only, so an error chain (anyhow's `{:#}`) prints each part once.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::Error;
/// use std::io;
/// let e = Error::io_at("reading the store", "/data/store.kv", io::ErrorKind::NotFound.into());
/// assert_eq!(e.to_string(), "I/O error: reading the store /data/store.kv");
/// let context = e.io_context().expect("a file error");
/// assert_eq!(context.path(), std::path::Path::new("/data/store.kv"));
/// assert_eq!(context.operation(), "reading the store");
/// let cause = core::error::Error::source(&e).expect("the OS error");
/// assert_eq!(cause.to_string(), io::Error::from(io::ErrorKind::NotFound).to_string());
/// assert!(matches!(e, Error::Io(ref io) if io.kind() == io::ErrorKind::NotFound));
/// ```
#[derive(Debug)]
pub struct IoContext {
    operation: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl IoContext {
    /// What was being done ("writing the temporary file", "syncing the directory", ...).
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The file (or directory) it was done to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for IoContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.operation, self.path.display())
    }
}

impl core::error::Error for IoContext {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// `error` with its context, keeping its kind.
pub(super) fn wrap(operation: &'static str, path: PathBuf, error: io::Error) -> io::Error {
    if error.get_ref().is_some_and(|inner| inner.is::<IoContext>()) {
        return error;
    }
    io::Error::new(
        error.kind(),
        IoContext {
            operation,
            path,
            source: error,
        },
    )
}

/// The context of an I/O error, if it has one.
pub(super) fn of(error: &io::Error) -> Option<&IoContext> {
    error.get_ref()?.downcast_ref::<IoContext>()
}

impl Error {
    /// An [`Error::Io`] that names the operation and the file: how a file storage reports
    /// a failure (see [`IoContext`]).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # use microkv::Error;
    /// let e = Error::io_at("syncing the directory", "/data", std::io::Error::other("EIO"));
    /// assert_eq!(e.io_context().map(|c| c.operation()), Some("syncing the directory"));
    /// ```
    pub fn io_at(operation: &'static str, path: impl Into<PathBuf>, error: io::Error) -> Error {
        Error::Io(wrap(operation, path.into(), error))
    }

    /// This error with `operation` and `path` added when it is an [`Error::Io`] or
    /// [`Error::NotDurable`] that names no file yet (others are returned as they are):
    /// how a file storage says where a failure happened.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # use microkv::Error;
    /// let e = Error::Io(std::io::ErrorKind::PermissionDenied.into()).in_file("saving", "/data/s.kv");
    /// assert_eq!(e.to_string(), "I/O error: saving /data/s.kv");
    /// assert!(matches!(Error::Locked.in_file("saving", "/data/s.kv"), Error::Locked));
    /// ```
    pub fn in_file(self, operation: &'static str, path: impl AsRef<Path>) -> Error {
        let path = path.as_ref();
        match self {
            Error::Io(e) => Error::Io(wrap(operation, path.to_path_buf(), e)),
            Error::NotDurable(e) => Error::NotDurable(wrap(operation, path.to_path_buf(), e)),
            other => other,
        }
    }

    /// The operation and file of an [`Error::Io`] or [`Error::NotDurable`] that the file
    /// storage reported; `None` for other errors.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # use microkv::Error;
    /// assert!(Error::KeyNotFound.io_context().is_none());
    /// ```
    pub fn io_context(&self) -> Option<&IoContext> {
        match self {
            Error::Io(e) | Error::NotDurable(e) => of(e),
            _ => None,
        }
    }
}
