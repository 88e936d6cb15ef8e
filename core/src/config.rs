//! Store configuration: [`Config`], [`AutoSave`], [`LockMode`].
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use core::fmt;
use core::time::Duration;

use crate::arena::{MemoryPolicy, PageSource};
use crate::clock::Clock;
use crate::kdf::{KdfLimit, KdfParams};

/// When the store writes itself to its storage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AutoSave {
    /// Only on [`crate::Store::save`].
    #[default]
    Manual,
    /// After every successful write; a write whose save fails is undone in memory too
    /// and returns the error.
    OnEveryWrite,
    /// Within about this long of a write: a write saves when at least this long has
    /// passed since the last save, and under `std` a thread the store owns (stopped when
    /// it is dropped) saves unsaved writes once a period, so the last write of a burst
    /// reaches storage even when no further write comes. Dropping the store saves what
    /// is still unsaved. A failed background save is reported by a `tracing` event and
    /// retried at the next period; [`crate::Store::close`] returns the last save's result.
    /// Without `std` there is no thread: a write saves only when a later write (or
    /// `flush`, or the drop) comes.
    Periodic(Duration),
    /// When the store is dropped. A failed save there is reported by a `tracing` event;
    /// [`crate::Store::close`] (`MicroKV::close`) saves and returns the result instead.
    OnDrop,
}

/// The cross-process lock taken on a file store (on `<file>.lock`).
///
/// Only `Exclusive` makes a writable handle the file's one writer. Handles that write
/// beside each other (under `Shared` or `None`) do not see each other's writes: each
/// holds the whole store in memory, each save replaces the file with the saving handle's
/// contents, and a handle's journaled writes extend only the snapshot it loaded, so the
/// last save wins and the other handles' writes since they opened are lost. A credential
/// one handle rotated is never put back by another (`Error::CredentialChanged`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LockMode {
    /// No lock: for a file the application already guarantees one writer to (see above
    /// for what two writers lose).
    None,
    /// A shared lock: other shared holders may open too, an exclusive one may not. Meant
    /// for several readers; writers among them lose each other's writes (see above).
    Shared,
    /// An exclusive lock: a second opener gets `Error::Locked` at once. The default for
    /// writable stores; read-only opens never lock.
    #[default]
    Exclusive,
}

/// Options for the `*_with` constructors. Use struct-update syntax:
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{AutoSave, Config, KdfParams};
/// let config = Config { autosave: AutoSave::OnEveryWrite, kdf: KdfParams::interactive(), ..Default::default() };
/// assert!(!config.read_only);
/// ```
#[derive(Clone, Default)]
pub struct Config {
    /// KDF for a new store made with a password (an existing store keeps its own).
    pub kdf: KdfParams,
    /// The most KDF work an open may demand (and a new key may use); a store whose header
    /// asks for more is refused with `Error::KdfLimitExceeded` before the KDF runs. The
    /// default admits `KdfParams::sensitive()` and nothing costlier.
    pub kdf_limit: KdfLimit,
    /// When to save.
    pub autosave: AutoSave,
    /// Cross-process lock for file stores.
    pub lock_mode: LockMode,
    /// Refuse every write (`Error::ReadOnly`); never lock or touch the file.
    pub read_only: bool,
    /// Time source for TTLs; `None` means [`SystemClock`](crate::SystemClock) under this
    /// crate's `std` feature, and no clock without it (TTL operations then fail with
    /// `Error::NoClock`).
    pub clock: Option<Arc<dyn Clock>>,
    /// What to do when memory cannot be locked or guarded.
    pub memory: MemoryPolicy,
    /// Where arena pages come from; `None` means `OsPages` (secret memory where the
    /// kernel has it, else locked anonymous pages; on Windows locked, guarded
    /// `VirtualAlloc` pages) under this crate's `std` feature on Unix and Windows, and [`HeapPages`](crate::HeapPages) otherwise, which the store's `memory_report()` flags as
    /// `fallback` (and `MemoryPolicy::Strict` refuses).
    pub pages: Option<Arc<dyn PageSource>>,
}

impl Config {
    /// The page source to use: the configured one, or the platform's.
    pub(crate) fn page_source(&self) -> Arc<dyn PageSource> {
        match &self.pages {
            Some(pages) => pages.clone(),
            #[cfg(all(feature = "std", any(unix, windows)))]
            None => Arc::new(crate::arena::OsPages::new()),
            #[cfg(not(all(feature = "std", any(unix, windows))))]
            None => Arc::new(crate::arena::HeapPages),
        }
    }

    /// The clock to use: the configured one, or the platform's.
    pub(crate) fn time_source(&self) -> Option<Arc<dyn Clock>> {
        #[cfg(feature = "std")]
        if self.clock.is_none() {
            return Some(Arc::new(crate::clock::SystemClock));
        }
        self.clock.clone()
    }
}

// Plain options; the clock and page source it may hold are `Send + Sync` services whose
// state a caught panic cannot leave half-updated in a way a store relies on.
impl core::panic::UnwindSafe for Config {}
impl core::panic::RefUnwindSafe for Config {}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("kdf", &self.kdf)
            .field("kdf_limit", &self.kdf_limit)
            .field("autosave", &self.autosave)
            .field("lock_mode", &self.lock_mode)
            .field("read_only", &self.read_only)
            .field("clock", &self.clock.as_ref().map(|_| "custom"))
            .field("memory", &self.memory)
            .field("pages", &self.pages.as_ref().map(|_| "custom"))
            .finish()
    }
}
