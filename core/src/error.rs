//! The one error type of the core, re-exported by `microkv`.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
mod context;
#[cfg(feature = "std")]
pub use context::IoContext;

/// The payload of [`Error::Io`]: `std::io::Error` under the `std` feature (as in microkv
/// 0.3, so `e.kind()` works and `?` converts an `io::Error`), an opaque boxed error
/// without it.
///
/// A [`crate::Storage`] written for both configurations makes its errors with
/// [`Error::io`], which builds the right payload in either.
#[cfg(feature = "std")]
pub type IoError = std::io::Error;

/// The payload of [`Error::Io`]: `std::io::Error` under the `std` feature, this opaque
/// boxed error without it. Made by [`Error::io`].
#[cfg(not(feature = "std"))]
#[derive(Debug)]
pub struct IoError(pub(crate) Box<dyn core::error::Error + Send + Sync + 'static>);

#[cfg(not(feature = "std"))]
impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(not(feature = "std"))]
impl core::error::Error for IoError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Why the secure arena could not provide memory: the detail behind
/// [`Error::SecureAlloc`], kept in [`crate::MemoryReport::last_failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllocFailure {
    /// The page source could not map memory (out of memory, map count exhausted).
    MapFailed,
    /// The pages could not be locked in RAM (`mlock`), and the policy is `Strict`.
    LockFailed,
    /// Guard pages could not be set up, and the policy is `Strict`.
    GuardFailed,
    /// The pages could not be excluded from core dumps or marked wipe-on-fork, and the
    /// policy is `Strict`.
    AdviseFailed,
    /// The requested size overflows the address space.
    TooLarge,
    /// The pages are not secret memory (Linux `memfd_secret`: missing before 5.14,
    /// refused by a seccomp filter, or past `RLIMIT_MEMLOCK`), and the policy is
    /// `RequireSecretMemory`.
    NotSecret,
}

/// Errors returned by microkv.
///
/// Every failure of an operation leaves the store as it was before the call: nothing is
/// half-applied, in memory or on disk.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `require` (or a transaction's `require`) found no live entry under this key.
    /// The key is not in the error: an error that ends up in a log must not leak key
    /// names, which are metadata.
    KeyNotFound,
    /// The credential does not open this store (checked against the header's key
    /// commitment before anything is decrypted).
    WrongPassword,
    /// The store's bytes are malformed: truncated, trailing data, bad magic, lengths that
    /// disagree. The message says what was found.
    CorruptStore(String),
    /// The credential is right but an authenticated part of the store (header or body)
    /// was modified.
    Tampered,
    /// The store (or its journal) was written by a format version this build does not
    /// read.
    UnsupportedStoreVersion {
        /// The version in the file.
        found: u16,
        /// The version this build reads.
        expected: u16,
    },
    /// The file is a store written by microkv 0.3, whose format this version does not
    /// open directly: copy it into a new store with `microkv::migrate` (the `migrate`
    /// feature; the guide is `microkv::guide::migrating`, also `docs/MIGRATING.md`).
    LegacyStore {
        /// The 0.3 format version found in the file.
        version: u8,
    },
    /// KDF parameters read from a store are outside the accepted bounds (a forged header
    /// must not make the KDF allocate gigabytes), or were rejected by the KDF.
    InvalidKdfParams(String),
    /// The store's KDF parameters demand more work than this open allows
    /// (`Config::kdf_limit`): refused before the KDF runs, so a forged header cannot make
    /// an open take minutes or gigabytes. `cost` and `limit` are in KiB × passes (see
    /// `KdfParams::cost`).
    KdfLimitExceeded {
        /// What the parameters cost.
        cost: u64,
        /// The most this open accepts.
        limit: u64,
    },
    /// A store file or journal is longer than the format allows (or than its snapshot
    /// allows, for a journal), or a snapshot to be written would be: refused before
    /// anything is read into memory, or before anything is written.
    TooLarge {
        /// The length found, or that would be written, in bytes.
        len: u64,
        /// The largest length allowed, in bytes.
        max: u64,
    },
    /// Another handle changed the store's credential (`change_password`, `rekey`) since
    /// this handle loaded it. Saving would put the revoked credential back, so the save is
    /// refused and nothing is written; reopen the store with the new credential.
    CredentialChanged,
    /// The new snapshot is in place (a reopen reads it), but it could not be made durable
    /// (for a file: the directory sync after the rename failed). A crash before the next
    /// successful save may bring back the previous snapshot. A rotation that meets this
    /// is done (the new credential opens the store) and tries one more save: it returns
    /// `Ok` if that one is durable, this error otherwise.
    NotDurable(IoError),
    /// A raw key given as bytes or text (`Credential::key_slice`, `key_hex`,
    /// `key_base64`, a key file) is not 32 bytes. The reason names the form expected and
    /// quotes nothing of what was given.
    InvalidKey(&'static str),
    /// A key file is readable or writable by its group or by others (a Unix mode with any
    /// of `0o077`): refused, as ssh refuses such a private key. `chmod 600` it.
    InsecureKeyFile {
        /// The file's permission bits.
        mode: u32,
    },
    /// A credential source holds no credential: an environment variable that is unset,
    /// no `$CREDENTIALS_DIRECTORY`, no entry in the OS keychain. Names the source.
    NoCredential(String),
    /// The OS keychain failed (the `keyring` feature): its error is the `source()`.
    Keychain(Box<dyn core::error::Error + Send + Sync + 'static>),
    /// An AEAD operation failed: a value's ciphertext failed authentication.
    Crypto,
    /// The operating system's random number generator failed.
    Random,
    /// The secure arena could not provide (locked) memory. Why (mapping, locking,
    /// guarding or advising failed) is in the store's or arena's
    /// [`crate::MemoryReport::last_failure`].
    SecureAlloc,
    /// The store (its arena and keyring) belongs to another process: this is a child
    /// forked from the process that opened it. Its keys are not mapped here, or are
    /// zeros, and sealing with a copied keyring would repeat the parent's nonces, so the
    /// store refuses to work in the child. Open the store again in the child.
    Forked,
    /// A value could not be serialized or deserialized as the requested type
    /// (for example `get::<u32>` of a value stored as a `String`).
    Serialization(String),
    /// An I/O error from the storage backend.
    Io(IoError),
    /// A file at one of the store's paths (the store file, `<file>.journal`,
    /// `<file>.lock`, a temporary file) is not one the store may use: not a regular file
    /// (a FIFO, device, socket, directory or symbolic link), not owned by this process's
    /// effective user or with more than one link (the journal, lock and temporary files,
    /// when written), or removed or replaced under a writer that had it open. Refused
    /// before anything is read from it or written to it. The message says which file and
    /// what was found.
    UnexpectedFile(String),
    /// The store is locked by another handle or process.
    Locked,
    /// `create_new` found an existing store.
    AlreadyExists,
    /// `open_existing` found no store.
    NotFound,
    /// The store was opened read-only.
    ReadOnly,
    /// The store has no file path (an in-memory store cannot `save`).
    NoPath,
    /// A write (or `update`, `transaction`, `save`) was made from inside one of this
    /// store's own closures (`update`, `get_or_insert_with`, `transaction`) on the same
    /// thread, and would have deadlocked. Reads from there work. Use the closure's
    /// arguments (for transactions, the `Txn`) instead.
    Reentrant,
    /// A TTL operation needs a clock and none was configured (only without `std`).
    NoClock,
    /// A transaction was aborted by its closure with [`Error::abort`].
    Aborted(String),
    /// Declared for source compatibility with microkv 0.3, which declares it too; like
    /// 0.3, this version never returns it: an expired entry reads as absent (`None`, or
    /// `KeyNotFound` from `require`).
    Expired,
}

/// `Error::CorruptStore` with what was found: how the file format, the journal and
/// the storage describe bad input.
pub(crate) fn corrupt(why: impl Into<String>) -> Error {
    Error::CorruptStore(why.into())
}

impl Error {
    /// An error that aborts a transaction with the caller's reason; everything the
    /// transaction wrote is rolled back.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # use microkv::Error;
    /// let e = Error::abort("insufficient funds");
    /// assert_eq!(e.to_string(), "transaction aborted: insufficient funds");
    /// ```
    pub fn abort(reason: impl Into<String>) -> Self {
        Error::Aborted(reason.into())
    }

    /// An [`Error::Io`] from any error: how a [`crate::Storage`] reports a failure, with
    /// or without `std` (under `std` the error is wrapped with `std::io::Error::other`,
    /// unless it is one already).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # use microkv::Error;
    /// #[derive(Debug)]
    /// struct Flash;
    /// impl core::fmt::Display for Flash {
    ///     fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    ///         f.write_str("flash write failed")
    ///     }
    /// }
    /// impl core::error::Error for Flash {}
    /// let e = Error::io(Flash);
    /// assert!(matches!(e, Error::Io(_)));
    /// assert_eq!(e.to_string(), "I/O error: flash write failed");
    /// ```
    pub fn io(error: impl core::error::Error + Send + Sync + 'static) -> Self {
        #[cfg(feature = "std")]
        {
            let error: Box<dyn core::error::Error + Send + Sync> = Box::new(error);
            match error.downcast::<std::io::Error>() {
                Ok(io) => Error::Io(*io),
                Err(other) => Error::Io(std::io::Error::other(other)),
            }
        }
        #[cfg(not(feature = "std"))]
        {
            Error::Io(IoError(Box::new(error)))
        }
    }

    /// [`Error::NotDurable`] from the error that kept the new snapshot from being made
    /// durable: what a [`crate::Storage`] returns when its `store` failed after the new
    /// bytes were put in place.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # use microkv::Error;
    /// let e = Error::not_durable(core::fmt::Error);
    /// assert!(matches!(e, Error::NotDurable(_)));
    /// ```
    pub fn not_durable(error: impl core::error::Error + Send + Sync + 'static) -> Self {
        match Error::io(error) {
            Error::Io(e) => Error::NotDurable(e),
            other => other,
        }
    }
}

/// `?` on an `std::io::Error` inside a function returning microkv's `Result`.
#[cfg(feature = "std")]
impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::Io(error)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::KeyNotFound => f.write_str("key not found"),
            Error::WrongPassword => f.write_str("wrong password or key for this store"),
            Error::CorruptStore(why) => write!(f, "corrupt store: {why}"),
            Error::Tampered => f.write_str("store was modified: authentication failed"),
            Error::UnsupportedStoreVersion { found, expected } => {
                write!(
                    f,
                    "unsupported store format version {found} (this build reads {expected})"
                )
            }
            Error::LegacyStore { version } => write!(
                f,
                "this is a microkv 0.3 store (format {version}): copy it into a new store with \
                 microkv::migrate (see microkv::guide::migrating)"
            ),
            Error::InvalidKdfParams(why) => write!(f, "invalid KDF parameters: {why}"),
            Error::KdfLimitExceeded { cost, limit } => write!(
                f,
                "KDF cost {cost} KiB x passes is above this open's limit {limit} (Config::kdf_limit)"
            ),
            Error::TooLarge { len, max } => {
                write!(f, "{len} bytes, more than the {max} bytes allowed")
            }
            Error::CredentialChanged => f.write_str(
                "another handle changed the store's credential: reopen with the new one",
            ),
            Error::NotDurable(e) => {
                write!(f, "snapshot written but not known to be durable: {e}")
            }
            Error::InvalidKey(why) => write!(f, "invalid raw key: {why}"),
            Error::InsecureKeyFile { mode } => write!(
                f,
                "key file is accessible to group or others (mode {mode:04o}): chmod 600 it"
            ),
            Error::NoCredential(source) => write!(f, "no credential in {source}"),
            Error::Keychain(_) => f.write_str("the OS keychain failed"),
            Error::Crypto => f.write_str("decryption failed: ciphertext is not authentic"),
            Error::Random => f.write_str("the OS random number generator failed"),
            Error::SecureAlloc => {
                f.write_str("secure memory unavailable (see MemoryReport::last_failure)")
            }
            Error::Forked => f.write_str(
                "store belongs to the process this one was forked from: open it again here",
            ),
            Error::Serialization(why) => write!(f, "serialization failed: {why}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::UnexpectedFile(why) => write!(f, "unexpected file: {why}"),
            Error::Locked => f.write_str("store is locked by another handle or process"),
            Error::AlreadyExists => f.write_str("store already exists"),
            Error::NotFound => f.write_str("store does not exist"),
            Error::ReadOnly => f.write_str("store is read-only"),
            Error::NoPath => f.write_str("store has no file path"),
            Error::Reentrant => {
                f.write_str("store written from inside its own closure on the same thread")
            }
            Error::NoClock => f.write_str("no clock configured for TTL operations"),
            Error::Aborted(why) => write!(f, "transaction aborted: {why}"),
            Error::Expired => f.write_str("entry expired"),
        }
    }
}

impl core::error::Error for Error {
    /// For `Io` and `NotDurable`: the cause that `Display` does not already show (the OS
    /// error under an [`IoContext`]; `None` for an error whose whole message `Display`
    /// shows), so that a chain of errors prints each part once.
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Io(e) | Error::NotDurable(e) => io_cause(e),
            Error::Keychain(e) => Some(&**e),
            _ => None,
        }
    }
}

/// `Result` with microkv's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// The cause behind an I/O payload whose own message `Display` shows: its inner error's
/// source (the OS error under an [`IoContext`]).
fn io_cause(e: &IoError) -> Option<&(dyn core::error::Error + 'static)> {
    #[cfg(feature = "std")]
    return e.get_ref().and_then(|inner| inner.source());
    #[cfg(not(feature = "std"))]
    return e.0.source();
}
