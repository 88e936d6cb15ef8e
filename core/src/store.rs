//! [`Store`]: the handle a program holds. Everything it does is the engine's.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::Deref;

use crate::arena::MemoryReport;
use crate::config::{AutoSave, Config};
use crate::credential::Credential;
use crate::engine::Engine;
use crate::entry::Change;
use crate::error::Result;
use crate::kdf::{KdfLimit, KdfParams};
use crate::keys::unlock;
use crate::storage::Storage;
use crate::tree::Tree;
use crate::txn::{self, Txn};

/// An encrypted key-value store: namespaces of sealed entries, keys in locked memory.
///
/// `Store` derefs to its default namespace (`""`), so `store.put(..)` and
/// `store.namespace("").put(..)` are the same. It is `Send + Sync`, every method takes
/// `&self`, and handles ([`Tree`]s) may be shared between threads.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{Config, Credential, Store};
/// let db = Store::in_memory(Credential::key([7; 32]))?;
/// db.put("name", "test")?;
/// assert_eq!(db.get::<String>("name")?.as_deref(), Some("test"));
/// # Ok::<(), microkv::Error>(())
/// ```
pub struct Store {
    engine: Arc<Engine>,
    default: Tree,
    /// The thread that keeps `AutoSave::Periodic`'s promise (under `std`).
    #[cfg(feature = "std")]
    flusher: Option<flusher::Flusher>,
    /// `close` saved already: dropping saves nothing more.
    closed: bool,
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
        let (engine, must_save) = Engine::open(storage, credential, config)?;
        let engine = Arc::new(engine);
        #[cfg(feature = "std")]
        let flusher = match engine.autosave() {
            AutoSave::Periodic(every) if engine.has_storage() && !engine.is_read_only() => {
                flusher::Flusher::start(&engine, every)
            }
            _ => None,
        };
        let store = Store {
            default: Tree::new(engine.clone(), ""),
            engine,
            #[cfg(feature = "std")]
            flusher,
            closed: false,
        };
        if must_save {
            store.save()?;
        }
        Ok(store)
    }

    /// The namespace `name` (created on first write). `""` is the default namespace.
    pub fn namespace(&self, name: &str) -> Tree {
        Tree::new(self.engine.clone(), name)
    }

    /// Names of the namespaces holding at least one live entry, sorted.
    ///
    /// # Errors
    /// None: it reads names and expiries only. The `Result` is microkv 0.3's signature.
    pub fn tree_names(&self) -> Result<Vec<String>> {
        self.engine.refresh_if_due()?;
        Ok(self.engine.namespaces())
    }

    /// The KDF parameters a password for this store is stretched with: the store's own,
    /// or for a store opened by a raw key (which has none) the ones a change to a password
    /// would use, the defaults. [`Store::kdf`] tells the two apart.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, KdfParams, Store};
    /// let db = Store::in_memory(Credential::key([5; 32]))?;
    /// assert_eq!(db.kdf_params(), KdfParams::default());
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn kdf_params(&self) -> KdfParams {
        self.kdf().unwrap_or_default()
    }

    /// The store's KDF parameters; `None` for a store opened by a raw key.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, Store};
    /// let db = Store::in_memory(Credential::key([5; 32]))?;
    /// assert_eq!(db.kdf(), None);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn kdf(&self) -> Option<KdfParams> {
        self.engine.kdf_params()
    }

    /// The most KDF work this store accepts (`Config::kdf_limit` when it was opened): for
    /// its own new keys, and for keys of other formats read into it (`microkv::migrate`
    /// stretches a 0.3 file's password within it, with [`KdfParams::stretch`]).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Config, Credential, KdfLimit, KdfParams, Store};
    /// let db = Store::in_memory(Credential::key([5; 32]))?;
    /// assert_eq!(db.kdf_limit(), KdfLimit::default());
    /// let limit = KdfLimit::of(KdfParams::interactive());
    /// let config = Config { kdf_limit: limit, ..Default::default() };
    /// let db = Store::in_memory_with(Credential::key([5; 32]), config)?;
    /// assert_eq!(db.kdf_limit(), limit);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn kdf_limit(&self) -> KdfLimit {
        self.engine.kdf_limit
    }

    /// What the secure arena holds and how well it is protected.
    pub fn memory_report(&self) -> MemoryReport {
        self.engine.arena.report()
    }

    /// Copies of the data key and of the XChaCha20 subkey cached for this session's nonces,
    /// for tests that scan memory for them. The `testing` feature only (semver-exempt):
    /// no shipped build can take the keys out of the arena.
    ///
    /// # Errors
    /// None: reads never fail (the `Result` keeps the accessor's signature stable).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn testing_key_material(&self) -> Result<[zeroize::Zeroizing<[u8; 32]>; 2]> {
        Ok(self.engine.keyring().key_material())
    }

    /// Drops every expired entry and returns how many there were.
    pub fn sweep_expired(&self) -> Result<usize> {
        let mut g = self.engine.lock_write()?;
        let expired = g.expired()?;
        g.apply(expired.iter().map(|(ns, key)| Change {
            ns,
            key,
            entry: None,
        }))?;
        Ok(expired.len())
    }

    /// Replaces the credential: verifies nothing (the caller holds the open store), draws
    /// a new data key, salt and wrapping, and re-encrypts every entry. All-or-nothing, and
    /// the result says which: on `Ok` only the new credential opens the storage; on any
    /// error but one the store keeps its old key and every entry, in memory and in storage.
    /// The exception is `Error::NotDurable`: a save that fails after its snapshot is in
    /// place (a failed directory sync, a journal that cannot be emptied) committed the
    /// rotation, the new credential opens the storage and memory keeps the new keys; one
    /// more save is tried, and the rotation returns `Ok` if that one is durable. `Error::CredentialChanged` if another handle rotated
    /// the credential first (nothing is written); `Error::KdfLimitExceeded` if the KDF
    /// would cost more than `Config::kdf_limit`.
    pub fn rekey(&self, credential: Credential) -> Result<()> {
        let mut g = self.engine.lock_write()?;
        let kdf = g.header().kdf.unwrap_or_default();
        g.rekey(&credential, &kdf)
    }

    /// [`Store::rekey`] with new KDF parameters (used when `credential` is a password):
    /// the way to raise a store's KDF cost.
    pub fn rekey_with(&self, credential: Credential, kdf: KdfParams) -> Result<()> {
        self.engine.lock_write()?.rekey(&credential, &kdf)
    }

    /// Verifies `old`, then re-encrypts everything under `new` with the store's KDF
    /// parameters (see [`Store::rekey`]). `Error::WrongPassword` if `old` does not open
    /// this store. The check and the change happen under one lock, so two concurrent
    /// rotations cannot both pass a check against the same old password.
    pub fn change_password(&self, old: &str, new: &str) -> Result<()> {
        let mut g = self.engine.lock_write()?;
        let header = g.header();
        unlock(
            &self.engine.arena,
            &Credential::password(old),
            &header,
            self.engine.kdf_limit,
        )?;
        let kdf = header.kdf.unwrap_or_default();
        g.rekey(&Credential::password(new), &kdf)
    }

    /// Runs `f` as one transaction: reads see its own writes, and all writes apply
    /// together when it returns `Ok`. On `Err` (or a panic) nothing is applied.
    /// The store's writer lock is held while `f` runs, so transactions are serializable;
    /// other threads' reads carry on meanwhile (they see the state before the
    /// transaction until it commits). A write from inside `f` other than through `tx`
    /// returns `Error::Reentrant`; a read through the store sees the committed state.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("balance", &100u64)?;
    /// db.transaction(|tx| {
    ///     let balance: u64 = tx.require("", "balance")?;
    ///     tx.put("", "balance", &(balance - 10))?;
    ///     tx.put("audit", "last", "debit")?;
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.require::<u64>("balance")?, 90);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn transaction<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Txn<'_>) -> Result<R>,
    {
        let mut g = self.engine.lock_write()?;
        let (result, mut writes) = {
            let mut tx = Txn::new(&g);
            let result = f(&mut tx)?;
            (result, tx.into_writes())
        };
        g.apply(txn::changes(&mut writes))?;
        Ok(result)
    }
}

// As for `Tree` (see there): a caught panic leaves nothing half-done to observe.
impl core::panic::UnwindSafe for Store {}
impl core::panic::RefUnwindSafe for Store {}

impl Deref for Store {
    type Target = Tree;
    fn deref(&self) -> &Tree {
        &self.default
    }
}

impl core::fmt::Debug for Store {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("read_only", &self.engine.is_read_only())
            .finish_non_exhaustive()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        #[cfg(feature = "std")]
        drop(self.flusher.take());
        if self.closed {
            return;
        }
        if let AutoSave::OnDrop | AutoSave::Periodic(_) = self.engine.autosave() {
            // An error cannot be returned from here: an event reports it, and `close()`
            // returns it.
            let _ = self.engine.save_pending("on drop");
        }
    }
}

#[cfg(feature = "std")]
mod flusher;
mod persistence;
#[cfg(test)]
mod tests;
