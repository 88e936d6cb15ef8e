// The README's links to docs/ pages point at docs.rs (so that they hold on crates.io);
// here, defined first (the first definition of a link wins), they point at this build's
// own `guide` pages.
#![doc = "[migrating]: crate::guide::migrating"]
#![doc = "[glossary]: crate::guide::glossary"]
#![doc = "[architecture]: crate::guide::architecture"]
#![doc = "[format]: crate::guide::format"]
#![doc = "[decisions]: crate::guide::decisions"]
#![doc = "[testing]: crate::guide::testing"]
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::ops::Deref;
use std::sync::Arc;

pub use microkv_core::harden_process;
#[cfg(any(unix, windows))]
#[cfg_attr(docsrs, doc(cfg(any(unix, windows))))]
pub use microkv_core::OsPages;
pub use microkv_core::Position;
#[allow(deprecated)]
pub use microkv_core::{
    AllocFailure, AutoSave, Clock, Config, Credential, Error, HeapPages, IoContext, IoError,
    KdfLimit, KdfParams, LockMode, ManualClock, MemoryPolicy, MemoryReport, MemoryStorage,
    PageSource, Refresh, Region, Result, Secret, SecretBytes, SecretString, Snapshot, SnapshotFile,
    Storage, Store, Tree, Txn, WriteLock, MAGIC, MAX_ARGON2_PASSES, MAX_JOURNAL_LEN,
    MAX_KDF_MEMORY_KIB, MAX_KDF_PARALLELISM, MAX_STORE_LEN, VERSION,
};
pub use microkv_std::{FileStorage, SystemClock};

pub use credential::CredentialSources;
/// The `secrecy` crate microkv speaks: [`SecretBytes`] implements its `ExposeSecret`, a
/// [`Credential`] is made from its `SecretString`, values read as its types.
pub use secrecy;

#[cfg(feature = "keyring")]
#[cfg_attr(docsrs, doc(cfg(feature = "keyring")))]
pub use keychain::Keychain;
/// The `keyring-core` crate [`Keychain::in_store`] takes a store of (the `keyring`
/// feature): its mock store for tests, or any store an application sets up.
#[cfg(feature = "keyring")]
#[cfg_attr(docsrs, doc(cfg(feature = "keyring")))]
pub use keyring_core;

mod credential;
mod file;
pub mod guide;
#[cfg(feature = "keyring")]
mod keychain;
#[cfg(feature = "migrate")]
#[cfg_attr(docsrs, doc(cfg(feature = "migrate")))]
pub mod migrate;

/// An encrypted key-value store: the handle to hold.
///
/// A cheap, shared handle: clones are the same store (as in microkv 0.3). It derefs to a
/// [`Store`], which derefs to the default namespace, a [`Tree`]: `db.put(..)` and
/// `db.namespace("").put(..)` are the same, and the store-wide operations
/// ([`Store::namespace`], [`Store::transaction`], [`Store::save`],
/// [`Store::change_password`], ...) are called on `db` as they are. Its own methods are
/// the ones a file or a shared handle needs: the constructors, [`MicroKV::path`],
/// [`MicroKV::save_as`], [`MicroKV::export_to`], [`MicroKV::close`],
/// [`MicroKV::destroy`].
///
/// ```
/// use microkv::{Credential, MicroKV};
/// let db = MicroKV::in_memory(Credential::key([1; 32]))?;
/// let same = db.clone();
/// same.put("k", &1u8)?;
/// assert_eq!(db.get::<u8>("k")?, Some(1));
/// db.namespace("users").put("alice", &42u32)?;
/// assert_eq!(db.tree_names()?, ["", "users"]);
/// # Ok::<(), microkv::Error>(())
/// ```
///
/// A store method named as a path is `Store`'s (a deref does not apply to paths):
/// `Store::save(&db)`, or `|db: &MicroKV| db.save()` where a `fn(&MicroKV)` is wanted.
///
/// ```
/// use microkv::{Credential, MicroKV, Result, Store};
/// let db = MicroKV::in_memory(Credential::key([1; 32]))?;
/// assert!(Store::save(&db).is_err()); // no file: `Error::NoPath`
/// let saver: fn(&MicroKV) -> Result<()> = |db| db.save();
/// assert!(saver(&db).is_err());
/// # Ok::<(), microkv::Error>(())
/// ```
#[derive(Clone)]
pub struct MicroKV {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// The file behind a file store (a second handle: the store owns the first).
    file: Option<FileStorage>,
}

impl Deref for MicroKV {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.inner.store
    }
}

impl std::fmt::Debug for MicroKV {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicroKV")
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

impl MicroKV {
    /// An ephemeral store that never touches disk, with the default [`Config`].
    ///
    /// ```
    /// use microkv::{Credential, MicroKV};
    /// let cache = MicroKV::in_memory(Credential::password("p@ssw0rd"))?;
    /// cache.put("session", "abc")?;
    /// assert_eq!(cache.save().unwrap_err().to_string(), "store has no file path");
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Store::in_memory`].
    pub fn in_memory(credential: Credential) -> Result<Self> {
        Self::in_memory_with(credential, Config::default())
    }

    /// An ephemeral store with options.
    ///
    /// ```
    /// use microkv::{Config, Credential, KdfParams, MicroKV};
    /// let config = Config { kdf: KdfParams::scrypt(10, 8, 1), ..Default::default() };
    /// let cache = MicroKV::in_memory_with(Credential::password("p@ssw0rd"), config)?;
    /// assert_eq!(cache.kdf_params(), KdfParams::scrypt(10, 8, 1));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Store::in_memory`].
    pub fn in_memory_with(credential: Credential, config: Config) -> Result<Self> {
        Ok(Self::wrap(Store::in_memory_with(credential, config)?, None))
    }

    /// Opens the store held by any [`Storage`], or creates one there.
    ///
    /// ```
    /// use microkv::{Config, Credential, MemoryStorage, MicroKV};
    /// let storage = MemoryStorage::default();
    /// let db = MicroKV::with_storage(storage.clone(), Credential::key([2; 32]), Config::default())?;
    /// db.put("k", "v")?;
    /// db.save()?;
    /// drop(db);
    /// let db = MicroKV::with_storage(storage, Credential::key([2; 32]), Config::default())?;
    /// assert_eq!(db.require::<String>("k")?, "v");
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Store::with_storage`].
    pub fn with_storage(
        storage: impl Storage + 'static,
        credential: Credential,
        config: Config,
    ) -> Result<Self> {
        Ok(Self::wrap(
            Store::with_storage(storage, credential, config)?,
            None,
        ))
    }

    /// Closes this handle, returning the result of the save that dropping it would make
    /// (and could not report): under `AutoSave::OnDrop` or `Periodic`, what is unsaved is
    /// saved now. Other clones of the handle keep the store open; when this is the last,
    /// its periodic saver stops and dropping saves nothing more.
    ///
    /// ```
    /// use microkv::{AutoSave, Config, Credential, MicroKV};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("store.kv");
    /// let config = Config { autosave: AutoSave::OnDrop, ..Default::default() };
    /// let db = MicroKV::open_with(&path, Credential::key([1; 32]), config)?;
    /// db.put("k", &1u8)?;
    /// db.close()?; // a failed save is an error here, not a silent loss
    /// let db = MicroKV::open(&path, Credential::key([1; 32]))?;
    /// assert_eq!(db.require::<u8>("k")?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Store::flush`]; when this was the last handle, the unsaved writes are lost.
    pub fn close(self) -> Result<()> {
        match Arc::try_unwrap(self.inner) {
            Ok(Inner { store, file }) => {
                let closed = store.close();
                drop(file);
                closed
            }
            Err(shared) => shared.store.flush(),
        }
    }

    fn wrap(store: Store, file: Option<FileStorage>) -> Self {
        MicroKV {
            inner: Arc::new(Inner { store, file }),
        }
    }
}
