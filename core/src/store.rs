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
use crate::storage::Storage;
use crate::tree::Tree;
use crate::txn::{self, Txn};

/// An encrypted key-value store: namespaces of sealed entries, keys in locked memory.
///
/// `Store` derefs to its default namespace (`""`), a [`Tree`], so `store.put(..)` and
/// `store.namespace("").put(..)` are the same; the store-wide operations (namespaces,
/// transactions, saving, credentials) are its own methods. It is `Send + Sync`, every
/// method takes `&self`, and handles ([`Tree`]s) may be shared between threads. The
/// `microkv` crate's `MicroKV`, the handle most programs hold, derefs to a `Store`: these
/// are its methods too.
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
    /// An ephemeral store that never touches storage, with the default [`Config`].
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, Store};
    /// let cache = Store::in_memory(Credential::password("p@ssw0rd"))?;
    /// cache.put("session", "abc")?;
    /// assert!(matches!(cache.save(), Err(microkv::Error::NoPath)));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::SecureAlloc` if the arena cannot get memory (under `MemoryPolicy::Strict`:
    /// locked memory); `Error::Random` if the OS random number generator fails;
    /// `Error::InvalidKdfParams` or `Error::KdfLimitExceeded` if the config's KDF
    /// parameters are out of bounds or cost more than its `kdf_limit` (a password).
    pub fn in_memory(credential: Credential) -> Result<Self> {
        Self::in_memory_with(credential, Config::default())
    }

    /// An ephemeral store with options.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Config, Credential, KdfParams, Store};
    /// let config = Config { kdf: KdfParams::scrypt(10, 8, 1), ..Default::default() };
    /// let cache = Store::in_memory_with(Credential::password("p@ssw0rd"), config)?;
    /// assert_eq!(cache.kdf_params(), KdfParams::scrypt(10, 8, 1));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Store::in_memory`].
    pub fn in_memory_with(credential: Credential, config: Config) -> Result<Self> {
        Self::build(None, credential, config)
    }

    /// Opens the store held by `storage`, or creates one there if it holds nothing (and
    /// saves it at once).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Config, Credential, MemoryStorage, Store};
    /// let storage = MemoryStorage::default();
    /// let db = Store::with_storage(storage.clone(), Credential::key([2; 32]), Config::default())?;
    /// db.put("k", "v")?;
    /// db.save()?;
    /// drop(db);
    /// let db = Store::with_storage(storage, Credential::key([2; 32]), Config::default())?;
    /// assert_eq!(db.require::<String>("k")?, "v");
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// What the storage reports (`Error::Io`); `Error::NotFound` for a read-only open of
    /// a storage that holds nothing; for bytes already there, the errors of reading a
    /// store: `Error::WrongPassword`, `Error::Tampered`, `Error::CorruptStore`,
    /// `Error::UnsupportedStoreVersion`, `Error::LegacyStore` (a microkv 0.3 file),
    /// `Error::TooLarge`, `Error::InvalidKdfParams` or `Error::KdfLimitExceeded` (the
    /// file's KDF); for a new store, the errors of [`Store::in_memory`] and of its first
    /// [`Store::save`].
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
        let (engine, must_save) = Engine::open(storage, credential, config.with_features())?;
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

    /// The namespace `name`, created on its first write. `""` is the default namespace,
    /// the one the store derefs to. Keys never collide across namespaces, and each
    /// value's ciphertext is bound to its namespace and key.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// let users = db.namespace("users");
    /// users.put("alice", &42u32)?;
    /// db.put("alice", "default namespace")?;
    /// assert_eq!(users.get::<u32>("alice")?, Some(42));
    /// assert_eq!(db.namespace(String::from("users")).len()?, 1);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn namespace(&self, name: impl AsRef<str>) -> Tree {
        Tree::new(self.engine.clone(), name.as_ref())
    }

    /// Names of the namespaces holding at least one live entry, sorted.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.namespace("users").put("alice", &1u8)?;
    /// db.put("k", &2u8)?;
    /// assert_eq!(db.tree_names()?, ["", "users"]);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// Only those of a catch-up that `Config::refresh` makes due on a shared store (as
    /// [`Store::reload`], but never `Error::Reentrant`: from inside one of the store's
    /// closures a read does not catch up).
    pub fn tree_names(&self) -> Result<Vec<String>> {
        self.engine.refresh_if_due()?;
        self.engine.namespaces()
    }

    /// What the secure arena holds and how well it is protected (locked, guarded,
    /// excluded from core dumps, wiped on fork), and why it last failed, if it did.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// let report = db.memory_report();
    /// assert!(report.bytes_mapped >= report.bytes_in_use);
    /// # Ok::<(), microkv::Error>(())
    /// ```
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

    /// A copy of the key of format v2's name hash, for tests that scan memory for it. The
    /// `testing` feature only (semver-exempt), as [`Store::testing_key_material`].
    ///
    /// # Errors
    /// None: reads never fail (the `Result` keeps the accessor's signature stable).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn testing_name_key(&self) -> Result<zeroize::Zeroizing<[u8; 16]>> {
        Ok(self.engine.keyring().name_key_material())
    }

    /// Drops every expired entry and returns how many there were.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use core::time::Duration;
    /// use microkv::{Config, Credential, ManualClock, Store};
    /// let clock = ManualClock::new(Duration::from_secs(1_000));
    /// let config = Config { clock: Some(std::sync::Arc::new(clock.clone())), ..Default::default() };
    /// let db = Store::in_memory_with(Credential::key([1; 32]), config)?;
    /// db.put_with_ttl("otp", "123456", Duration::from_secs(60))?;
    /// clock.advance(Duration::from_secs(61));
    /// assert_eq!(db.sweep_expired()?, 1);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As a write ([`Tree::remove`]): `Error::ReadOnly`, `Error::Reentrant`, and the
    /// errors of catching up and of an autosave (nothing is dropped then).
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

    /// Runs `f` as one transaction: reads see its own writes, and all writes apply
    /// together when it returns `Ok`. On `Err` (or a panic) nothing is applied.
    /// Namespaces are named explicitly (`""` is the default). The store's writer lock is
    /// held while `f` runs, so transactions are serializable; other threads' reads carry
    /// on meanwhile (they see the state before the transaction until it commits). A write
    /// from inside `f` other than through `tx` returns `Error::Reentrant`; a read through
    /// the store sees the committed state.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, Error, Store};
    /// let db = Store::in_memory(Credential::key([1; 32]))?;
    /// db.put("balance", &100u64)?;
    /// db.transaction(|tx| {
    ///     let balance: u64 = tx.require("", "balance")?;
    ///     tx.put("", "balance", &(balance - 10))?;
    ///     tx.put("audit", "last", "debit")
    /// })?;
    /// let refused = db.transaction::<_, ()>(|tx| {
    ///     tx.put("", "balance", &0u64)?;
    ///     Err(Error::abort("insufficient funds"))
    /// });
    /// assert!(matches!(refused, Err(Error::Aborted(_))));
    /// assert_eq!(db.require::<u64>("balance")?, 90);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// Whatever `f` returns (nothing is applied); otherwise as a write ([`Tree::put`]):
    /// `Error::ReadOnly`, `Error::Reentrant` from inside one of this store's own
    /// closures, and the errors of catching up and of an autosave (the writes are then
    /// undone, but for `Error::NotDurable`, which keeps them).
    pub fn transaction<F, R>(&self, f: F) -> Result<R>
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

mod credentials;
#[cfg(feature = "std")]
mod flusher;
mod persistence;
#[cfg(test)]
mod tests;
