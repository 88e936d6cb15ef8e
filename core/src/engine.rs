//! The engine: what a store holds ([`Contents`]: its keys and its namespaces of sealed
//! entries), how it is shared between threads ([`Engine`]), and the exclusive access a
//! write works through ([`Exclusive`]).
//!
//! Two locks, taken in one order (writer, then contents):
//! - `contents`, a reader-writer lock, held only to look entries up or to swap them:
//!   never while anything is decrypted, sealed or written to storage (the snapshot-saving
//!   write path excepted, see `persist`). Readers take it shared, copy out the entry
//!   (its sealed bytes are an `Arc<[u8]>`) and the keyring, let go, then decrypt.
//! - `writer`, a mutex that serializes writes, `update`s and transactions and holds the
//!   storage's bookkeeping ([`SaveState`]). A write keeps it for its whole course, so
//!   what it read stays true until it applies; it takes `contents` exclusively only for
//!   the instant of applying. User closures run with the writer lock held and `contents`
//!   free, so reads from inside them work and writes return `Error::Reentrant`.
//!
//! Everything that looks into the maps is here: the handles above (`Tree`, `Txn`,
//! `Store`) ask for entries by name and never filter the maps themselves.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::Ordering;
use core::time::Duration;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::arena::{Arena, SecretBuf};
use crate::clock::Clock;
use crate::codec::{decode, encode};
use crate::config::{AutoSave, Refresh};
use crate::crypto::Keyring;
use crate::entry::{expiry, Entry, Name};
use crate::error::{Error, Result};
use crate::format::header::{KeyHeader, KEY_PART_LEN};
use crate::format::journal::Cursor;
use crate::kdf::KdfLimit;
use crate::storage::{Storage, WriteLock};
use crate::sync::{thread_token, AtomicU64, Mutex, MutexGuard, Once, RwLock};

mod catch_up;
mod contents;
mod group;
mod open;
mod persist;
mod read;
mod scratch;

pub(crate) use contents::Contents;

/// Live entries copied out under the lock, with the keyring that opens them.
pub(crate) type LiveEntries = (Arc<Keyring>, Vec<(String, Entry)>);

/// Where the storage stands: what the writer lock guards besides the right to write.
pub(crate) struct SaveState {
    /// The key part of the header of the snapshot the storage holds, as this handle last
    /// loaded or stored it (`None`: none yet). Every save replaces only that snapshot, so
    /// a credential another handle rotated in is never overwritten with this one's.
    stored_keys: Option<[u8; KEY_PART_LEN]>,
    dirty: bool,
    last_save: Option<u64>,
    /// Where the next journal record goes. `None` until this handle knows which snapshot
    /// the storage holds (after a failed `store` it may hold either) or the journal's
    /// state (after a failed append): the next autosaved write then saves a snapshot.
    journal: Option<Cursor>,
    /// Whether the storage keeps a journal (until it says it does not).
    journaling: bool,
    /// The sequence number of the newest snapshot this handle loaded or stored (0 before
    /// any): the next save writes one more.
    sequence: u64,
    /// Length of the last snapshot written or loaded: the journal is compacted into a new
    /// snapshot once it is half as long (see `persist::compaction_limit`).
    snapshot_len: usize,
    /// On a shared storage, the keys this handle changed in memory that no save or journal
    /// record has made durable yet (manual and periodic saves, a `NotDurable` write): a
    /// catch-up keeps this handle's value for them over what others committed, and the
    /// next save writes them (`catch_up`). `None` on a storage this handle owns.
    pending: Option<catch_up::Pending>,
}

/// The shared part of a store, behind every `Store` and `Tree` handle.
pub(crate) struct Engine {
    pub(crate) arena: Arc<Arena>,
    contents: RwLock<Contents>,
    writer: Mutex<SaveState>,
    /// Readers' per-thread buffers and keyring references.
    pub(crate) scratch: scratch::Scratch,
    /// Durable puts waiting for the next group commit (`group`).
    queue: group::Queue,
    /// Thread token of the writer lock's holder (0: none or unknown).
    owner: AtomicU64,
    clock: Option<Arc<dyn Clock>>,
    /// Highest clock reading seen, in ms: the store's time never goes backwards.
    high_water: AtomicU64,
    read_only: bool,
    autosave: AutoSave,
    /// The most KDF work a new key of this store, or a credential checked against it, may
    /// use (`Config::kdf_limit`).
    pub(crate) kdf_limit: KdfLimit,
    storage: Option<Box<dyn Storage>>,
    /// The storage is shared with other handles: every write locks it and catches up.
    shared: bool,
    /// When reads catch up (`Config::refresh`).
    refresh: Refresh,
    /// The store's time (ms) of the last catch-up, for `Refresh::Every`.
    refreshed_at: AtomicU64,
}

/// The time of one operation: read from the clock when first needed (a read of an entry
/// without a TTL never needs it), then fixed for the operation.
pub(crate) struct Now<'a> {
    engine: &'a Engine,
    at: Once<Option<u64>>,
}

impl<'a> Now<'a> {
    fn new(engine: &'a Engine) -> Self {
        Now {
            engine,
            at: Once::new(),
        }
    }

    /// In ms since the epoch; `None` without a clock.
    pub(crate) fn get(&self) -> Option<u64> {
        *self.at.call_once(|| self.engine.clock_now())
    }

    /// Whether an entry expiring at `expires_at` is live now; reads the clock only for
    /// an entry with a TTL.
    fn is_live(&self, expires_at: Option<u64>) -> bool {
        expires_at.is_none() || crate::entry::is_live(expires_at, self.get())
    }
}

/// The writer lock, held for one write, `update` or transaction, with its time.
pub(crate) struct Exclusive<'a> {
    engine: &'a Engine,
    save: MutexGuard<'a, SaveState>,
    now: Now<'a>,
    /// The keyring, fetched on first use: only a rekey (under this lock, which renews
    /// this cell) replaces it.
    keyring: Once<Arc<Keyring>>,
    /// The storage's write lock, on a shared storage (declared last: released after the
    /// writer lock's bookkeeping is done with).
    _storage_lock: WriteLock,
}

impl Deref for Exclusive<'_> {
    type Target = SaveState;
    fn deref(&self) -> &SaveState {
        &self.save
    }
}

impl DerefMut for Exclusive<'_> {
    fn deref_mut(&mut self) -> &mut SaveState {
        &mut self.save
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        self.engine.owner.store(0, Ordering::Release);
    }
}

impl Engine {
    /// Takes the writer lock, or fails with `Error::Reentrant` when this thread already
    /// holds it (a store call from inside one of the store's own closures). On a shared
    /// storage a writable handle also takes the storage's write lock and catches up with
    /// what other handles committed (`catch_up`), so that what it reads under the lock is
    /// the latest committed state until it lets go.
    pub(crate) fn lock(&self) -> Result<Exclusive<'_>> {
        let mut exclusive = self.lock_here()?;
        if !self.read_only {
            exclusive.lock_storage()?;
        }
        Ok(exclusive)
    }

    /// The writer lock of this handle alone (no storage lock, no catch-up).
    fn lock_here(&self) -> Result<Exclusive<'_>> {
        if self.held_here() {
            crate::event::debug_event!(
                "a write from inside one of the store's own closures was refused (Reentrant)"
            );
            return Err(Error::Reentrant);
        }
        let save = match self.writer.try_lock() {
            Some(save) => save,
            None => self.wait_for_writer(),
        };
        self.owner.store(thread_token(), Ordering::Release);
        Ok(Exclusive {
            engine: self,
            save,
            now: Now::new(self),
            keyring: Once::new(),
            _storage_lock: WriteLock::none(),
        })
    }

    /// Whether the calling thread holds the writer lock (it runs one of the store's own
    /// closures); never known without `std` (see [`thread_token`]).
    fn held_here(&self) -> bool {
        let me = thread_token();
        me != 0 && self.owner.load(Ordering::Acquire) == me
    }

    /// Waits for the writer lock another thread holds (an event says how long).
    fn wait_for_writer(&self) -> MutexGuard<'_, SaveState> {
        #[cfg(feature = "tracing")]
        let timer = crate::event::Timer::start();
        let save = self.writer.lock();
        crate::event::debug_event!(ms = timer.ms(), "waited for the store's writer lock");
        save
    }

    /// Takes the writer lock for a write: `Error::ReadOnly` on a read-only store.
    pub(crate) fn lock_write(&self) -> Result<Exclusive<'_>> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        self.lock()
    }

    /// Where the durable state stands, if this handle knows (`None` before the first save
    /// of a new store, after a failed write until the next save, and from inside one of
    /// the store's own closures, whose thread holds the writer lock this reads under).
    pub(crate) fn position(&self) -> Option<crate::format::position::Position> {
        if self.held_here() {
            return None;
        }
        self.writer.lock().journal.map(|c| c.position())
    }

    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub(crate) fn autosave(&self) -> AutoSave {
        self.autosave
    }

    /// Whether the store writes to a storage (not an in-memory store).
    #[cfg(feature = "std")]
    pub(crate) fn has_storage(&self) -> bool {
        self.storage.is_some()
    }

    /// Saves what is not saved yet, for an autosave that is due (`why` names it in the
    /// event of a failure, which is all that can report it): nothing on a read-only
    /// store, without storage, or with nothing unsaved.
    pub(crate) fn save_pending(&self, why: &'static str) -> Result<()> {
        if self.read_only || self.storage.is_none() {
            return Ok(());
        }
        // Nothing unsaved: no storage lock, no catch-up (a drop or a periodic tick of an
        // idle shared handle costs nothing). Else the lock, as for any save.
        let saved = self.lock_here().and_then(|mut g| {
            if !g.dirty {
                return Ok(());
            }
            g.lock_storage()?;
            g.save_if_dirty()
        });
        #[cfg(feature = "tracing")]
        if let Err(e) = &saved {
            crate::event::warn_event!(autosave = why, error = %e, "an autosave failed");
        }
        #[cfg(not(feature = "tracing"))]
        let _ = why;
        saved
    }

    /// The store's time in ms since the epoch: the highest clock reading so far, so that a
    /// clock stepping backwards never brings an expired entry back.
    fn clock_now(&self) -> Option<u64> {
        let clock = self.clock.as_ref()?;
        let ms = u64::try_from(clock.now().as_millis()).unwrap_or(u64::MAX);
        Some(self.high_water.fetch_max(ms, Ordering::AcqRel).max(ms))
    }
}

impl Exclusive<'_> {
    /// The store's time for this operation, in ms since the epoch (`None` without a
    /// clock): read once, on first use.
    pub(crate) fn now(&self) -> Option<u64> {
        self.now.get()
    }

    /// The live entry under `ns`/`key`, if any. Nothing else writes while this lock is
    /// held, so it stays live and unchanged until this operation applies its writes.
    pub(crate) fn live(&self, ns: &str, key: &str) -> Result<Option<Entry>> {
        let contents = self.engine.contents.read();
        let entry = contents.live(&self.now, ns, key)?.map(|e| e.to_entry());
        // A write that looks an entry up mostly opens or seals one next: take the keyring
        // under the same lock.
        self.keyring.call_once(|| contents.keyring.clone());
        Ok(entry)
    }

    /// The value of `ns`/`key` live at the operation's time, decoded as a `V`, and its
    /// expiry ([`Engine::read_live`]: through this thread's scratch slot, no copy of its
    /// own); `None` if absent or expired.
    pub(crate) fn read_live<V: DeserializeOwned>(
        &self,
        ns: &str,
        key: &str,
    ) -> Result<Option<(V, Option<u64>)>> {
        self.engine.read_live(&self.now, ns, key)
    }

    /// Whether a live entry is under `ns`/`key` (as [`Exclusive::live`], without copying
    /// it out).
    pub(crate) fn has_live(&self, ns: &str, key: &str) -> Result<bool> {
        Ok((self.engine.contents.read())
            .live(&self.now, ns, key)?
            .is_some())
    }

    /// Every key of `ns`, live or expired.
    pub(crate) fn keys_of(&self, ns: &str) -> Result<Vec<Name>> {
        let contents = self.engine.contents.read();
        let Some(space) = contents.space(ns) else {
            return Ok(Vec::new());
        };
        let keys = space.iter()?.map(|e| Name::from(e.key)).collect();
        Ok(keys)
    }

    /// Every expired entry's namespace and key.
    pub(crate) fn expired(&self) -> Result<Vec<(String, Name)>> {
        let now = self.now().ok_or(Error::NoClock)?;
        let contents = self.engine.contents.read();
        let mut expired = Vec::new();
        for (ns, space) in &contents.spaces {
            let gone = space.iter()?.filter(|e| !e.is_live(Some(now)));
            expired.extend(gone.map(|e| (ns.clone(), Name::from(e.key))));
        }
        Ok(expired)
    }

    /// The key header (for checking a credential against it).
    pub(crate) fn header(&self) -> KeyHeader {
        self.engine.contents.read().header.clone()
    }

    /// The keyring: it changes only under this lock, so it holds for the operation.
    fn keyring(&self) -> &Arc<Keyring> {
        (self.keyring).call_once(|| self.engine.contents.read().keyring.clone())
    }

    pub(crate) fn arena(&self) -> &Arc<Arena> {
        &self.engine.arena
    }

    /// The expiry of an entry written now with `ttl` (`None`: no TTL).
    pub(crate) fn expiry(&self, ttl: Option<Duration>) -> Result<Option<u64>> {
        expiry(|| self.now(), ttl)
    }

    /// Encodes `value` into the arena.
    pub(crate) fn encode<V: Serialize + ?Sized>(&self, value: &V) -> Result<SecretBuf> {
        encode(self.arena(), value)
    }

    /// Encodes `value` into the arena and seals it as the value of `ns`/`key`.
    pub(crate) fn seal<V: Serialize + ?Sized>(
        &self,
        ns: &str,
        key: &str,
        value: &V,
        expires_at: Option<u64>,
    ) -> Result<Entry> {
        let mut plain = self.encode(value)?;
        Entry::seal(self.keyring(), ns, key, &mut plain, expires_at)
    }

    /// Opens the value of `ns`/`key` into the arena.
    pub(crate) fn open(&self, ns: &str, key: &str, entry: &Entry) -> Result<SecretBuf> {
        entry.open(self.keyring(), self.arena(), ns, key)
    }

    /// Opens the value of `ns`/`key` and decodes it as a `V`.
    pub(crate) fn read<V: DeserializeOwned>(
        &self,
        ns: &str,
        key: &str,
        entry: &Entry,
    ) -> Result<V> {
        decode(&self.open(ns, key, entry)?)
    }
}
