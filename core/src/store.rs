//! The engine: namespaces of sealed entries behind one lock, and the [`Store`] handle.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::Ordering;
use core::time::Duration;
use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;

use crate::arena::{Arena, HeapPages, MemoryReport, SecretBuf};
use crate::clock::Clock;
use crate::config::{AutoSave, Config};
use crate::crypto::{random, value_aad, KeySchedule, Keyring};
use crate::error::{Error, Result};
use crate::format::{self, KeyHeader};
use crate::journal::{self, Cursor};
use crate::kdf::{derive_root, Credential, KdfLimit, KdfParams};
use crate::storage::Storage;
use crate::sync::AtomicU64;
use crate::sync::{thread_token, Mutex, MutexGuard};
use crate::tree::Tree;

/// One namespace: key name -> sealed entry.
pub(crate) type Space = HashMap<Name, Entry>;

/// A key name as a map holds it: up to 24 bytes inline in the bucket (12 on 32-bit
/// targets), so a lookup compares names without a pointer chase, and a short name costs
/// no allocation of its own.
pub(crate) type Name = compact_str::CompactString;

/// A sealed value: `nonce || ciphertext || tag`, and its expiry in ms since the epoch.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) sealed: Box<[u8]>,
    pub(crate) expires_at: Option<u64>,
}

impl Entry {
    pub(crate) fn is_live(&self, now: Option<u64>) -> bool {
        match (self.expires_at, now) {
            (Some(at), Some(now)) => now < at,
            _ => true,
        }
    }
}

/// A write to apply: `entry: None` removes the key. Names are borrowed: the maps copy a
/// name only when it is new to them.
pub(crate) struct Change<'a> {
    pub(crate) ns: &'a str,
    pub(crate) key: &'a str,
    pub(crate) entry: Option<Entry>,
}

/// Everything behind the lock.
pub(crate) struct State {
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) header: KeyHeader,
    pub(crate) spaces: HashMap<String, Space>,
    dirty: bool,
    last_save: Option<u64>,
    /// Where the next journal record goes. `None` until this handle knows which snapshot
    /// the storage holds (after a failed `store` it may hold either) or the journal's
    /// state (after a failed append): the next autosaved write then saves a snapshot.
    journal: Option<Cursor>,
    /// Whether the storage keeps a journal (until it says it does not).
    journaling: bool,
    /// Length of the last snapshot written or loaded: the journal is compacted into a new
    /// snapshot once it is half as long (see [`compaction_limit`]).
    snapshot_len: usize,
}

/// The journal length past which an `OnEveryWrite` store writes a new snapshot: half the
/// snapshot, at least 64 KiB, at most 8 MiB. Opening reads the journal after the snapshot,
/// so this bounds the extra work of an open to about half of it; a record larger than
/// this is not journaled at all (the write saves a snapshot).
fn compaction_limit(snapshot_len: usize) -> u64 {
    const MIN: usize = 64 << 10;
    const MAX: usize = journal::MAX_COMPACTION_BOUND as usize;
    (snapshot_len / 2).clamp(MIN, MAX) as u64
}

impl State {
    /// Sets or removes one entry and returns what was there; drops emptied namespaces.
    fn replace(&mut self, ns: &str, key: &str, entry: Option<Entry>) -> Option<Entry> {
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
}

/// The shared part of a store, behind every [`Store`] and [`Tree`] handle.
pub(crate) struct Shared {
    pub(crate) arena: Arc<Arena>,
    state: Mutex<State>,
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

/// The locked state, with the time of the operation: read from the clock when first
/// needed (a read of an entry without a TTL never needs it), then fixed for the operation.
pub(crate) struct Locked<'a> {
    shared: &'a Shared,
    guard: MutexGuard<'a, State>,
    now: Cell<Option<Option<u64>>>,
}

impl Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.shared.owner.store(0, Ordering::Release);
    }
}

impl Shared {
    /// Takes the lock, or fails with `Error::Reentrant` when this thread already holds it
    /// (a store call from inside one of the store's own closures).
    pub(crate) fn lock(&self) -> Result<Locked<'_>> {
        let me = thread_token();
        if me != 0 && self.owner.load(Ordering::Acquire) == me {
            return Err(Error::Reentrant);
        }
        let guard = self.state.lock();
        self.owner.store(me, Ordering::Release);
        Ok(Locked {
            shared: self,
            guard,
            now: Cell::new(None),
        })
    }

    /// Takes the lock for a write: `Error::ReadOnly` on a read-only store.
    pub(crate) fn lock_write(&self) -> Result<Locked<'_>> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        self.lock()
    }

    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The store's time in ms since the epoch: the highest clock reading so far, so that a
    /// clock stepping backwards never brings an expired entry back.
    fn now(&self) -> Option<u64> {
        let clock = self.clock.as_ref()?;
        let ms = u64::try_from(clock.now().as_millis()).unwrap_or(u64::MAX);
        Some(self.high_water.fetch_max(ms, Ordering::AcqRel).max(ms))
    }

    /// The expiry time for an entry written now with `ttl`.
    pub(crate) fn expiry(&self, now: Option<u64>, ttl: Duration) -> Result<u64> {
        let now = now.ok_or(Error::NoClock)?;
        Ok(now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)))
    }
}

impl Locked<'_> {
    /// The store's time for this operation, in ms since the epoch (`None` without a
    /// clock): read once, on first use.
    pub(crate) fn now(&self) -> Option<u64> {
        if let Some(now) = self.now.get() {
            return now;
        }
        let now = self.shared.now();
        self.now.set(Some(now));
        now
    }

    /// Whether `entry` is live now; reads the clock only for an entry with a TTL.
    pub(crate) fn is_live(&self, entry: &Entry) -> bool {
        entry.expires_at.is_none() || entry.is_live(self.now())
    }

    /// The live entry under `ns`/`key`, if any.
    pub(crate) fn live(&self, ns: &str, key: &str) -> Option<&Entry> {
        let entry = self.spaces.get(ns)?.get(key)?;
        self.is_live(entry).then_some(entry)
    }

    pub(crate) fn arena(&self) -> &Arc<Arena> {
        &self.shared.arena
    }

    pub(crate) fn shared(&self) -> &Shared {
        self.shared
    }

    /// Seals a plaintext (in the arena) as the value of `ns`/`key`.
    pub(crate) fn seal(
        &self,
        ns: &str,
        key: &str,
        plain: &[u8],
        expires_at: Option<u64>,
    ) -> Result<Entry> {
        let sealed = self.keyring.seal(&value_aad(ns, key), plain)?;
        Ok(Entry {
            sealed: sealed.into_boxed_slice(),
            expires_at,
        })
    }

    /// Opens the value of `ns`/`key` into the arena.
    pub(crate) fn open(&self, ns: &str, key: &str, entry: &Entry) -> Result<SecretBuf> {
        self.keyring
            .open(self.arena(), &value_aad(ns, key), &entry.sealed)
    }

    /// Applies writes together, then autosaves: with `OnEveryWrite`, one journal record
    /// for all of them when the storage keeps a journal, a snapshot otherwise. If that
    /// fails, every write is undone and the error returned: a write that returns `Err`
    /// did not happen.
    pub(crate) fn apply<'c>(
        &mut self,
        changes: impl IntoIterator<Item = Change<'c>>,
    ) -> Result<()> {
        let mut changes = changes.into_iter().peekable();
        if changes.peek().is_none() {
            return Ok(());
        }
        if !self.saves_on_write() {
            self.dirty = true;
            for c in changes {
                self.replace(c.ns, c.key, c.entry);
            }
            return Ok(());
        }
        let changes: Vec<Change<'c>> = changes.collect();
        let record = self.journal_record(&changes)?;
        let was_dirty = self.dirty;
        self.dirty = true;
        let undo: Vec<Change<'c>> = changes
            .into_iter()
            .map(|c| Change {
                entry: self.replace(c.ns, c.key, c.entry),
                ..c
            })
            .collect();
        let saved = match record {
            Some((bytes, next)) => self.append(&bytes, next),
            None => self.autosave(),
        };
        if let Err(e) = saved {
            for c in undo.into_iter().rev() {
                self.replace(c.ns, c.key, c.entry);
            }
            self.dirty = was_dirty;
            return Err(e);
        }
        Ok(())
    }

    /// Whether a write may save (and so may fail after changing memory).
    fn saves_on_write(&self) -> bool {
        matches!(
            self.shared.autosave,
            AutoSave::OnEveryWrite | AutoSave::Periodic(_)
        )
    }

    /// The journal record of `changes` and the cursor after it, when this write goes to
    /// the journal: `OnEveryWrite`, a storage that keeps a journal, a known position in
    /// it, and a record that is not too large.
    fn journal_record(&self, changes: &[Change<'_>]) -> Result<Option<(Vec<u8>, Cursor)>> {
        let at = match self.journal {
            Some(at) if self.journaling && self.shared.autosave == AutoSave::OnEveryWrite => at,
            _ => return Ok(None),
        };
        let (bytes, next) = journal::encode(&self.keyring, &at, changes)?;
        let limit = compaction_limit(self.snapshot_len);
        Ok((bytes.len() as u64 <= limit).then_some((bytes, next)))
    }

    /// Appends a record durably; compacts the journal into a snapshot once it is long.
    /// `Err` only if the record is not committed.
    fn append(&mut self, record: &[u8], next: Cursor) -> Result<()> {
        let storage = self.shared.storage.as_ref().ok_or(Error::NoPath)?;
        let keep = self.journal.map_or(0, |at| at.len);
        // Until the append is known to have committed or not, the journal's end is not.
        self.journal = None;
        if !storage.append(keep, record)? {
            self.journaling = false;
            return self.save();
        }
        self.journal = Some(next);
        self.dirty = false;
        if next.len > compaction_limit(self.snapshot_len) {
            // The write is committed: a failed compaction must not report it as failed.
            // It leaves `journal` unknown, so the next write saves a snapshot instead.
            let _ = self.save();
        }
        Ok(())
    }

    fn autosave(&mut self) -> Result<()> {
        match self.shared.autosave {
            AutoSave::OnEveryWrite => self.save(),
            AutoSave::Periodic(every) => {
                let every = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
                match (self.now(), self.last_save) {
                    (Some(now), Some(last)) if now.saturating_sub(last) < every => Ok(()),
                    _ => self.save(),
                }
            }
            AutoSave::Manual | AutoSave::OnDrop => Ok(()),
        }
    }

    /// The store as the bytes of a v1 file.
    pub(crate) fn snapshot(&self) -> Result<Vec<u8>> {
        format::encode(&self.header, &self.keyring, &self.spaces, self.now())
    }

    /// Writes a snapshot to the storage; the journal starts afresh after it.
    pub(crate) fn save(&mut self) -> Result<()> {
        if self.shared.read_only {
            return Err(Error::ReadOnly);
        }
        let storage = self.shared.storage.as_ref().ok_or(Error::NoPath)?;
        let bytes = self.snapshot()?;
        // If the store fails, the storage may hold either snapshot: no journal until the
        // next successful one.
        self.journal = None;
        storage.store(&bytes)?;
        self.journal = Some(Cursor::after(&bytes));
        self.snapshot_len = bytes.len();
        self.dirty = false;
        self.last_save = self.now();
        Ok(())
    }
}

impl Locked<'_> {
    /// Draws new keys for `credential` and re-encrypts every entry under them, then saves
    /// if the store has storage. All-or-nothing: the new state is built aside and swapped
    /// in; if sealing or the save fails, the old keys and entries stay.
    fn rekey(&mut self, credential: &Credential, kdf: &KdfParams) -> Result<()> {
        let arena = self.shared.arena.clone();
        let (header, keyring) = new_keys(&arena, credential, kdf, self.shared.kdf_limit)?;
        let mut spaces: HashMap<String, Space> = HashMap::with_capacity(self.spaces.len());
        for (ns, space) in &self.spaces {
            let mut fresh = Space::with_capacity(space.len());
            for (key, entry) in space {
                let aad = value_aad(ns, key);
                let plain = self.keyring.open(&arena, &aad, &entry.sealed)?;
                let sealed = keyring.seal(&aad, &plain)?.into_boxed_slice();
                let expires_at = entry.expires_at;
                fresh.insert(key.clone(), Entry { sealed, expires_at });
            }
            spaces.insert(ns.clone(), fresh);
        }
        let old_spaces = core::mem::replace(&mut self.spaces, spaces);
        let old_keyring = core::mem::replace(&mut self.keyring, Arc::new(keyring));
        let old_header = core::mem::replace(&mut self.header, header);
        let saved = match self.shared.storage {
            Some(_) => self.save(),
            None => Ok(()),
        };
        if let Err(e) = saved {
            self.spaces = old_spaces;
            self.keyring = old_keyring;
            self.header = old_header;
            return Err(e);
        }
        Ok(())
    }
}

/// Derives a new key header and data key for `credential`. A password's KDF parameters
/// must be fit for a new key and within `limit`, so that the store reopens with them.
fn new_keys(
    arena: &Arc<Arena>,
    credential: &Credential,
    kdf: &KdfParams,
    limit: KdfLimit,
) -> Result<(KeyHeader, Keyring)> {
    let kdf = (!credential.is_raw_key()).then_some(*kdf);
    if let Some(kdf) = &kdf {
        kdf.check_new()?;
        limit.admit(kdf)?;
    }
    let mut salt = [0u8; 16];
    random(&mut salt)?;
    let root = derive_root(arena, credential, kdf.as_ref(), &salt)?;
    let schedule = KeySchedule::derive(arena, &root, &salt)?;
    let keyring = Keyring::generate(arena)?;
    let commitment = schedule.commitment();
    let wrapped = schedule.wrap(
        keyring.data_key(),
        &KeyHeader::key_aad(kdf.as_ref(), &salt, &commitment),
    )?;
    Ok((
        KeyHeader {
            kdf,
            salt,
            commitment,
            wrapped,
        },
        keyring,
    ))
}

/// Checks `credential` against a header and unwraps the data key.
pub(crate) fn unlock(
    arena: &Arc<Arena>,
    credential: &Credential,
    header: &KeyHeader,
) -> Result<Keyring> {
    if header.kdf.is_none() && !credential.is_raw_key() {
        return Err(Error::WrongPassword);
    }
    let root = derive_root(arena, credential, header.kdf.as_ref(), &header.salt)?;
    let schedule = KeySchedule::derive(arena, &root, &header.salt)?;
    if !schedule.matches(&header.commitment) {
        return Err(Error::WrongPassword);
    }
    schedule.unwrap(arena, &header.wrapped, &header.aad())
}

/// An encrypted key-value store: namespaces of sealed entries, keys in locked memory.
///
/// `Store` derefs to its default namespace (`""`), so `store.put(..)` and
/// `store.namespace("").put(..)` are the same. It is `Send + Sync`, every method takes
/// `&self`, and handles ([`Tree`]s) may be shared between threads.
///
/// ```
/// use microkv_core::{Config, Credential, Store};
/// let db = Store::in_memory(Credential::key([7; 32]))?;
/// db.put("name", "test")?;
/// assert_eq!(db.get::<String>("name")?.as_deref(), Some("test"));
/// # Ok::<(), microkv_core::Error>(())
/// ```
pub struct Store {
    shared: Arc<Shared>,
    default: Tree,
}

impl Store {
    /// An ephemeral store that never touches storage.
    pub fn in_memory(credential: Credential) -> Result<Self> {
        Self::in_memory_with(credential, Config::default())
    }

    /// An ephemeral store with options.
    pub fn in_memory_with(credential: Credential, config: Config) -> Result<Self> {
        Self::build(None, credential, config)
    }

    /// Opens the store held by `storage`, or creates one there if it holds nothing.
    /// A read-only open of an empty storage fails with `Error::NotFound`.
    pub fn with_storage(
        storage: impl Storage + 'static,
        credential: Credential,
        config: Config,
    ) -> Result<Self> {
        Self::build(Some(Box::new(storage)), credential, config)
    }

    fn build(
        storage: Option<Box<dyn Storage>>,
        credential: Credential,
        config: Config,
    ) -> Result<Self> {
        let pages = config.pages.clone().unwrap_or_else(|| Arc::new(HeapPages));
        let arena = Arena::new(pages, config.memory);
        let mut existing = match &storage {
            Some(s) => s.load_at_most(format::MAX_STORE_LEN)?,
            None => None,
        };
        let fresh = existing.is_none();
        // Decoding decrypts the body in place; the header and tag that the journal's
        // cursor reads below stay as they were.
        let (header, keyring, spaces) = match &mut existing {
            Some(bytes) => format::decode(&arena, &credential, bytes, config.kdf_limit)?,
            None if config.read_only && storage.is_some() => return Err(Error::NotFound),
            None => {
                let (header, keyring) =
                    new_keys(&arena, &credential, &config.kdf, config.kdf_limit)?;
                (header, keyring, HashMap::new())
            }
        };
        drop(credential);
        let keyring = Arc::new(keyring);
        let mut state = State {
            keyring: keyring.clone(),
            header,
            spaces,
            dirty: false,
            last_save: None,
            journal: None,
            journaling: true,
            snapshot_len: existing.as_ref().map_or(0, Vec::len),
        };
        if let (Some(storage), Some(snapshot)) = (&storage, &existing) {
            // The writes committed since the snapshot (read-only opens see them too).
            let log = storage.load_journal_at_most(journal::MAX_JOURNAL_LEN)?;
            let at = journal::replay(&keyring, Cursor::after(snapshot), &log, |ns, key, e| {
                state.replace(ns, key, e);
            })?;
            state.journal = Some(at);
        }
        let shared = Arc::new(Shared {
            arena,
            state: Mutex::new(state),
            owner: AtomicU64::new(0),
            clock: config.clock,
            high_water: AtomicU64::new(0),
            read_only: config.read_only,
            autosave: config.autosave,
            kdf_limit: config.kdf_limit,
            storage,
        });
        let store = Store {
            default: Tree::new(shared.clone(), ""),
            shared,
        };
        if fresh && store.shared.storage.is_some() {
            store.save()?;
        }
        Ok(store)
    }

    /// The namespace `name` (created on first write). `""` is the default namespace.
    pub fn namespace(&self, name: &str) -> Tree {
        Tree::new(self.shared.clone(), name)
    }

    /// Names of the namespaces holding at least one live entry, sorted.
    pub fn tree_names(&self) -> Result<Vec<String>> {
        let g = self.shared.lock()?;
        let mut names: Vec<String> = g
            .spaces
            .iter()
            .filter(|(_, space)| space.values().any(|e| g.is_live(e)))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort_unstable();
        Ok(names)
    }

    /// The KDF parameters of this store; `None` when it is opened by a raw key.
    pub fn kdf_params(&self) -> Result<Option<KdfParams>> {
        Ok(self.shared.lock()?.header.kdf)
    }

    /// What the secure arena holds and how well it is protected.
    pub fn memory_report(&self) -> MemoryReport {
        self.shared.arena.report()
    }

    /// Writes the store to its storage (atomically). `Error::NoPath` for an in-memory
    /// store, `Error::ReadOnly` for a read-only one.
    pub fn save(&self) -> Result<()> {
        self.shared.lock()?.save()
    }

    /// The store as the bytes of a v1 file (encrypted; what `save` would write).
    pub fn snapshot(&self) -> Result<Vec<u8>> {
        self.shared.lock()?.snapshot()
    }

    /// Drops every expired entry and returns how many there were.
    pub fn sweep_expired(&self) -> Result<usize> {
        let mut g = self.shared.lock_write()?;
        let now = g.now().ok_or(Error::NoClock)?;
        let expired: Vec<(String, Name)> = g
            .spaces
            .iter()
            .flat_map(|(ns, space)| {
                space
                    .iter()
                    .filter(|(_, e)| !e.is_live(Some(now)))
                    .map(|(key, _)| (ns.clone(), key.clone()))
            })
            .collect();
        g.apply(expired.iter().map(|(ns, key)| Change {
            ns,
            key,
            entry: None,
        }))?;
        Ok(expired.len())
    }

    /// Replaces the credential: verifies nothing (the caller holds the open store), draws
    /// a new data key, salt and wrapping, and re-encrypts every entry. All-or-nothing: on
    /// any error the store keeps its old key and every entry, in memory and in storage.
    pub fn rekey(&self, credential: Credential) -> Result<()> {
        let mut g = self.shared.lock_write()?;
        let kdf = g.header.kdf.unwrap_or_default();
        g.rekey(&credential, &kdf)
    }

    /// [`Store::rekey`] with new KDF parameters (used when `credential` is a password):
    /// the way to raise a store's KDF cost.
    pub fn rekey_with(&self, credential: Credential, kdf: KdfParams) -> Result<()> {
        self.shared.lock_write()?.rekey(&credential, &kdf)
    }

    /// Verifies `old`, then re-encrypts everything under `new` with the store's KDF
    /// parameters (see [`Store::rekey`]). `Error::WrongPassword` if `old` does not open
    /// this store. The check and the change happen under one lock, so two concurrent
    /// rotations cannot both pass a check against the same old password.
    pub fn change_password(&self, old: &str, new: &str) -> Result<()> {
        let mut g = self.shared.lock_write()?;
        unlock(&self.shared.arena, &Credential::password(old), &g.header)?;
        let kdf = g.header.kdf.unwrap_or_default();
        g.rekey(&Credential::password(new), &kdf)
    }

    /// Runs `f` as one transaction: reads see its own writes, and all writes apply
    /// together when it returns `Ok`. On `Err` (or a panic) nothing is applied.
    /// The store's lock is held while `f` runs, so transactions are serializable; a
    /// store call from inside `f` (other than through `tx`) returns `Error::Reentrant`.
    ///
    /// ```
    /// # let db = microkv_core::Store::in_memory(microkv_core::Credential::key([1; 32]))?;
    /// db.put("balance", &100u64)?;
    /// db.transaction(|tx| {
    ///     let balance: u64 = tx.require("", "balance")?;
    ///     tx.put("", "balance", &(balance - 10))?;
    ///     tx.put("audit", "last", "debit")?;
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.require::<u64>("balance")?, 90);
    /// # Ok::<(), microkv_core::Error>(())
    /// ```
    pub fn transaction<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut crate::txn::Txn<'_>) -> Result<R>,
    {
        let mut g = self.shared.lock_write()?;
        let (result, mut writes) = {
            let mut tx = crate::txn::Txn::new(&g);
            let result = f(&mut tx)?;
            (result, tx.into_writes())
        };
        g.apply(crate::txn::changes(&mut writes))?;
        Ok(result)
    }
}

impl Deref for Store {
    type Target = Tree;
    fn deref(&self) -> &Tree {
        &self.default
    }
}

impl core::fmt::Debug for Store {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("read_only", &self.shared.read_only)
            .finish_non_exhaustive()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if self.shared.autosave == AutoSave::OnDrop && !self.shared.read_only {
            if let Ok(mut g) = self.shared.lock() {
                if g.dirty {
                    // Nothing can report an error from here; `save()` before dropping
                    // is the way to see it.
                    let _ = g.save();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
