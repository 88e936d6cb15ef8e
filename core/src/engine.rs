//! The engine: the store's namespaces of sealed entries and its keys ([`Contents`]), the
//! lock around them, its clock and its storage ([`Engine`]), and the exclusive access an
//! operation works through ([`Exclusive`]).
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
use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;
use serde::de::DeserializeOwned;

use crate::arena::{Arena, SecretBuf};
use crate::clock::Clock;
use crate::config::AutoSave;
use crate::crypto::Keyring;
use crate::entry::{expiry, Entry, Name, Space};
use crate::error::{Error, Result};
use crate::journal::Cursor;
use crate::kdf::KdfLimit;
use crate::keys::{KeyHeader, KEY_PART_LEN};
use crate::storage::Storage;
use crate::sync::{thread_token, AtomicU64, Mutex, MutexGuard, Once};

mod open;
mod persist;

/// Live entries copied out under the lock, with the keyring that opens them.
pub(crate) type LiveEntries = (Arc<Keyring>, Vec<(String, Entry)>);

/// What a store holds: its keys, its namespaces, and where its storage stands.
pub(crate) struct Contents {
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) header: KeyHeader,
    /// The key part of the header of the snapshot the storage holds, as this handle last
    /// loaded or stored it (`None`: none yet). Every save replaces only that snapshot, so
    /// a credential another handle rotated in is never overwritten with this one's.
    stored_keys: Option<[u8; KEY_PART_LEN]>,
    spaces: HashMap<String, Space>,
    dirty: bool,
    last_save: Option<u64>,
    /// Where the next journal record goes. `None` until this handle knows which snapshot
    /// the storage holds (after a failed `store` it may hold either) or the journal's
    /// state (after a failed append): the next autosaved write then saves a snapshot.
    journal: Option<Cursor>,
    /// Whether the storage keeps a journal (until it says it does not).
    journaling: bool,
    /// Length of the last snapshot written or loaded: the journal is compacted into a new
    /// snapshot once it is half as long (see `persist::compaction_limit`).
    snapshot_len: usize,
}

impl Contents {
    /// Sets or removes one entry and returns what was there; drops emptied namespaces.
    pub(crate) fn replace(&mut self, ns: &str, key: &str, entry: Option<Entry>) -> Option<Entry> {
        match entry {
            Some(entry) => match self.spaces.entry_ref(ns).or_default().entry_ref(key) {
                EntryRef::Occupied(mut slot) => Some(core::mem::replace(slot.get_mut(), entry)),
                EntryRef::Vacant(slot) => {
                    slot.insert(entry);
                    None
                }
            },
            None => {
                let space = self.spaces.get_mut(ns)?;
                let old = space.remove(key);
                if space.is_empty() {
                    self.spaces.remove(ns);
                }
                old
            }
        }
    }

    /// The entry under `ns`/`key`, live or not (for tests that tamper with it).
    #[cfg(test)]
    pub(crate) fn raw(&self, ns: &str, key: &str) -> Option<&Entry> {
        self.spaces.get(ns)?.get(key)
    }
}

/// The shared part of a store, behind every `Store` and `Tree` handle.
pub(crate) struct Engine {
    pub(crate) arena: Arc<Arena>,
    contents: Mutex<Contents>,
    /// Thread token of the current lock holder (0: none or unknown).
    owner: AtomicU64,
    clock: Option<Arc<dyn Clock>>,
    /// Highest clock reading seen, in ms: the store's time never goes backwards.
    high_water: AtomicU64,
    read_only: bool,
    autosave: AutoSave,
    /// The most KDF work a new key of this store may use.
    kdf_limit: KdfLimit,
    storage: Option<Box<dyn Storage>>,
}

/// Exclusive access to the contents for one operation, with the operation's time: read
/// from the clock when first needed (a read of an entry without a TTL never needs it),
/// then fixed for the operation.
pub(crate) struct Exclusive<'a> {
    engine: &'a Engine,
    guard: MutexGuard<'a, Contents>,
    now: Once<Option<u64>>,
}

impl Deref for Exclusive<'_> {
    type Target = Contents;
    fn deref(&self) -> &Contents {
        &self.guard
    }
}

impl DerefMut for Exclusive<'_> {
    fn deref_mut(&mut self) -> &mut Contents {
        &mut self.guard
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        self.engine.owner.store(0, Ordering::Release);
    }
}

impl Engine {
    /// Takes the lock, or fails with `Error::Reentrant` when this thread already holds it
    /// (a store call from inside one of the store's own closures).
    pub(crate) fn lock(&self) -> Result<Exclusive<'_>> {
        let me = thread_token();
        if me != 0 && self.owner.load(Ordering::Acquire) == me {
            return Err(Error::Reentrant);
        }
        let guard = self.contents.lock();
        self.owner.store(me, Ordering::Release);
        Ok(Exclusive {
            engine: self,
            guard,
            now: Once::new(),
        })
    }

    /// Takes the lock for a write: `Error::ReadOnly` on a read-only store.
    pub(crate) fn lock_write(&self) -> Result<Exclusive<'_>> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        self.lock()
    }

    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub(crate) fn autosave(&self) -> AutoSave {
        self.autosave
    }

    /// The store's time in ms since the epoch: the highest clock reading so far, so that a
    /// clock stepping backwards never brings an expired entry back.
    fn now(&self) -> Option<u64> {
        let clock = self.clock.as_ref()?;
        let ms = u64::try_from(clock.now().as_millis()).unwrap_or(u64::MAX);
        Some(self.high_water.fetch_max(ms, Ordering::AcqRel).max(ms))
    }

    /// Opens the live value of `ns`/`key` into the arena; `None` if absent or expired.
    pub(crate) fn open_live(&self, ns: &str, key: &str) -> Result<Option<SecretBuf>> {
        let g = self.lock()?;
        g.live(ns, key).map(|e| g.open(ns, key, e)).transpose()
    }

    /// Whether a live entry exists under `ns`/`key`.
    pub(crate) fn contains(&self, ns: &str, key: &str) -> Result<bool> {
        Ok(self.lock()?.live(ns, key).is_some())
    }

    /// The number of live entries of `ns`.
    pub(crate) fn count_live(&self, ns: &str) -> Result<usize> {
        let g = self.lock()?;
        Ok(g.live_in(ns).count())
    }

    /// The names of the live entries of `ns` that pass `keep`, in no particular order.
    pub(crate) fn live_keys(&self, ns: &str) -> Result<Vec<String>> {
        let g = self.lock()?;
        Ok(g.live_in(ns)
            .map(|(k, _)| String::from(k.as_str()))
            .collect())
    }

    /// The live entries of `ns` whose names pass `keep`, copied out with the keyring that
    /// opens them, so that they can be decrypted without holding the lock.
    pub(crate) fn live_entries(
        &self,
        ns: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<LiveEntries> {
        let g = self.lock()?;
        let entries = g
            .live_in(ns)
            .filter(|(k, _)| keep(k))
            .map(|(k, e)| (String::from(k.as_str()), e.clone()))
            .collect();
        Ok((g.keyring.clone(), entries))
    }

    /// Names of the namespaces holding at least one live entry, sorted.
    pub(crate) fn namespaces(&self) -> Result<Vec<String>> {
        let g = self.lock()?;
        let mut names: Vec<String> = g
            .spaces
            .iter()
            .filter(|(_, space)| space.values().any(|e| g.is_live(e)))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort_unstable();
        Ok(names)
    }
}

impl Exclusive<'_> {
    /// The store's time for this operation, in ms since the epoch (`None` without a
    /// clock): read once, on first use.
    pub(crate) fn now(&self) -> Option<u64> {
        *self.now.call_once(|| self.engine.now())
    }

    /// Whether `entry` is live now; reads the clock only for an entry with a TTL.
    fn is_live(&self, entry: &Entry) -> bool {
        entry.expires_at.is_none() || entry.is_live(self.now())
    }

    /// The live entry under `ns`/`key`, if any.
    pub(crate) fn live(&self, ns: &str, key: &str) -> Option<&Entry> {
        let entry = self.spaces.get(ns)?.get(key)?;
        self.is_live(entry).then_some(entry)
    }

    /// The live entries of `ns`.
    fn live_in<'s>(&'s self, ns: &str) -> impl Iterator<Item = (&'s Name, &'s Entry)> + 's {
        self.spaces
            .get(ns)
            .into_iter()
            .flat_map(|space| space.iter())
            .filter(|(_, e)| self.is_live(e))
    }

    /// Every key of `ns`, live or expired.
    pub(crate) fn keys_of(&self, ns: &str) -> Vec<Name> {
        self.spaces
            .get(ns)
            .map_or_else(Vec::new, |space| space.keys().cloned().collect())
    }

    /// Every expired entry's namespace and key.
    pub(crate) fn expired(&self) -> Result<Vec<(String, Name)>> {
        let now = self.now().ok_or(Error::NoClock)?;
        Ok(self
            .spaces
            .iter()
            .flat_map(|(ns, space)| {
                space
                    .iter()
                    .filter(|(_, e)| !e.is_live(Some(now)))
                    .map(|(key, _)| (ns.clone(), key.clone()))
            })
            .collect())
    }

    pub(crate) fn arena(&self) -> &Arc<Arena> {
        &self.engine.arena
    }

    /// The expiry of an entry written now with `ttl` (`None`: no TTL).
    pub(crate) fn expiry(&self, ttl: Option<Duration>) -> Result<Option<u64>> {
        expiry(|| self.now(), ttl)
    }

    /// Seals a plaintext (in the arena) as the value of `ns`/`key`.
    pub(crate) fn seal(
        &self,
        ns: &str,
        key: &str,
        plain: &[u8],
        expires_at: Option<u64>,
    ) -> Result<Entry> {
        Entry::seal(&self.keyring, ns, key, plain, expires_at)
    }

    /// Opens the value of `ns`/`key` into the arena.
    pub(crate) fn open(&self, ns: &str, key: &str, entry: &Entry) -> Result<SecretBuf> {
        entry.open(&self.keyring, self.arena(), ns, key)
    }

    /// Opens the value of `ns`/`key` and decodes it as a `V`.
    pub(crate) fn read<V: DeserializeOwned>(
        &self,
        ns: &str,
        key: &str,
        entry: &Entry,
    ) -> Result<V> {
        entry.read(&self.keyring, self.arena(), ns, key)
    }
}
