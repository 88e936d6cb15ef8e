//! Store configuration: [`Config`], [`AutoSave`], [`LockMode`], [`Refresh`].
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

/// How a file store shares its file with other handles and processes (docs/DECISIONS.md,
/// 32).
///
/// Under `Shared` (the default) and `None`, any number of handles, in any number of
/// processes, read and write one store, and nothing acknowledged is lost: each write,
/// `update`, `compare_and_swap`, `get_or_insert_with`, transaction and save takes the
/// store's write lock (`<file>.wlock`) for its own course only, first catches up with
/// what the others committed (the journal records appended since this handle's last
/// known position, or the newer snapshot in place), then applies its change and makes it
/// durable, then lets go. So `update`, `compare_and_swap` and transactions are atomic
/// across processes, and a handle's manual or periodic save merges its changes, per key,
/// over what the others committed since. A credential one handle rotated is never put
/// back by another: the others get `Error::CredentialChanged` and must reopen with the
/// new one. Reads see other handles' commits after [`crate::Store::reload`] or as
/// [`Config::refresh`] says.
///
/// `Exclusive` makes a handle the file's one owner for its whole life: a second opener
/// (shared or exclusive) gets `Error::Locked` at once, and its writes skip the catch-up
/// (there is nothing to catch up with).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LockMode {
    /// Like `Shared`, but without the lifetime lock on `<file>.lock`: an `Exclusive`
    /// opener is not kept out. (An `Exclusive` owner does not catch up: a `None` handle
    /// must not write beside one.)
    None,
    /// Many readers and writers, in any number of processes, each write taking the write
    /// lock for its own course (see above). Every shared handle holds a shared lock on
    /// `<file>.lock` for its life, so an `Exclusive` opener gets `Error::Locked`.
    #[default]
    Shared,
    /// One owner: an exclusive lock on `<file>.lock` for the handle's life; a second
    /// opener gets `Error::Locked` at once. Read-only opens never lock.
    Exclusive,
}

/// When a handle looks for what other handles of its store committed before a read
/// (`Config::refresh`). A write always catches up first, whatever this says; a read sees
/// the state as of the handle's last catch-up (its own writes, a write, a
/// [`crate::Store::reload`], or a refresh this policy made).
///
/// ```
/// # use microkv_core as microkv;
/// use core::time::Duration;
/// use microkv::{Config, Refresh};
/// let config = Config { refresh: Refresh::Every(Duration::from_millis(100)), ..Default::default() };
/// assert_ne!(config.refresh, Refresh::Never);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Refresh {
    /// Only on [`crate::Store::reload`] (and before every write).
    #[default]
    Never,
    /// Before every read: each read sees every write any handle acknowledged before the
    /// read began. Costs a lock and two file checks per read.
    OnEveryRead,
    /// Before a read, when at least this long (by the store's clock) has passed since the
    /// last catch-up: a read sees every write acknowledged that long before it, or
    /// earlier. Without a clock, as `OnEveryRead`.
    Every(Duration),
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
    /// When reads look for other handles' commits (default: only on `reload`).
    pub refresh: Refresh,
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
    /// This build's features applied: under `strict-mlock`, the default memory policy
    /// (`Auto`) on the platform's pages becomes `Strict`. Every constructor of a store
    /// applies it, the facade's and this crate's alike.
    pub(crate) fn with_features(self) -> Config {
        let strict = cfg!(feature = "strict-mlock")
            && self.pages.is_none()
            && self.memory == MemoryPolicy::Auto;
        match strict {
            true => Config {
                memory: MemoryPolicy::Strict,
                ..self
            },
            false => self,
        }
    }

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
            .field("refresh", &self.refresh)
            .field("read_only", &self.read_only)
            .field("clock", &self.clock.as_ref().map(|_| "custom"))
            .field("memory", &self.memory)
            .field("pages", &self.pages.as_ref().map(|_| "custom"))
            .finish()
    }
}
