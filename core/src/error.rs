//! The one error type of the core, re-exported by `microkv`.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

/// Why the secure arena could not provide memory.
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
}

/// Errors returned by microkv.
///
/// Every failure of an operation leaves the store as it was before the call: nothing is
/// half-applied, in memory or on disk.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `require` (or a transaction's `require`) found no live entry under this key.
    KeyNotFound(String),
    /// The credential does not open this store (checked against the header's key
    /// commitment before anything is decrypted).
    WrongPassword,
    /// The store's bytes are malformed: truncated, trailing data, bad magic, lengths that
    /// disagree. The message says what was found.
    CorruptStore(String),
    /// The credential is right but an authenticated part of the store (header or body)
    /// was modified.
    Tampered,
    /// The store was written by a format version this build does not read.
    UnsupportedStoreVersion(u16),
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
    /// counts as done and returns `Ok`.
    NotDurable(Box<dyn core::error::Error + Send + Sync + 'static>),
    /// An AEAD operation failed: a value's ciphertext failed authentication.
    Crypto,
    /// The operating system's random number generator failed.
    Random,
    /// The secure arena could not provide (locked) memory.
    SecureAlloc(AllocFailure),
    /// The store's secure memory no longer holds its keys: the process was forked, and
    /// the child's copy of the arena was wiped. The store cannot be used in the child.
    KeysWiped,
    /// A value could not be serialized or deserialized as the requested type
    /// (for example `get::<u32>` of a value stored as a `String`).
    Serialization(String),
    /// An I/O error from the storage backend.
    Io(Box<dyn core::error::Error + Send + Sync + 'static>),
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
    /// A store call was made from inside one of this store's own closures (`update`,
    /// `for_each`, `get_or_insert_with`, `transaction`) on the same thread, and would have
    /// deadlocked. Use the closure's arguments (for transactions, the `Txn`) instead.
    Reentrant,
    /// A TTL operation needs a clock and none was configured (only without `std`).
    NoClock,
    /// A transaction was aborted by its closure with [`Error::abort`].
    Aborted(String),
}

impl Error {
    /// An error that aborts a transaction with the caller's reason; everything the
    /// transaction wrote is rolled back.
    ///
    /// ```
    /// # use microkv_core::Error;
    /// let e = Error::abort("insufficient funds");
    /// assert_eq!(e.to_string(), "transaction aborted: insufficient funds");
    /// ```
    pub fn abort(reason: impl Into<String>) -> Self {
        Error::Aborted(reason.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::KeyNotFound(k) => write!(f, "key not found: {k:?}"),
            Error::WrongPassword => f.write_str("wrong password or key for this store"),
            Error::CorruptStore(why) => write!(f, "corrupt store: {why}"),
            Error::Tampered => f.write_str("store was modified: authentication failed"),
            Error::UnsupportedStoreVersion(v) => write!(f, "unsupported store format version {v}"),
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
            Error::Crypto => f.write_str("decryption failed: ciphertext is not authentic"),
            Error::Random => f.write_str("the OS random number generator failed"),
            Error::SecureAlloc(why) => write!(f, "secure memory unavailable: {why:?}"),
            Error::KeysWiped => {
                f.write_str("store keys were wiped (forked process): the store is unusable here")
            }
            Error::Serialization(why) => write!(f, "serialization failed: {why}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Locked => f.write_str("store is locked by another handle or process"),
            Error::AlreadyExists => f.write_str("store already exists"),
            Error::NotFound => f.write_str("store does not exist"),
            Error::ReadOnly => f.write_str("store is read-only"),
            Error::NoPath => f.write_str("store has no file path"),
            Error::Reentrant => {
                f.write_str("store called from inside its own closure on the same thread")
            }
            Error::NoClock => f.write_str("no clock configured for TTL operations"),
            Error::Aborted(why) => write!(f, "transaction aborted: {why}"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Io(e) | Error::NotDurable(e) => Some(&**e),
            _ => None,
        }
    }
}

/// `Result` with microkv's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
