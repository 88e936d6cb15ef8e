//! microkv: a small encrypted key-value store for secrets.
//!
//! Values are sealed with XChaCha20-Poly1305 under a random data key; the data key, the
//! credential while it is stretched, and every plaintext the store handles live only in a
//! locked, guard-paged arena that is excluded from core dumps and wiped in forked
//! children. See the README for the threat model: what this does and does not defend.
//!
//! ```
//! use microkv::{MicroKV, Credential};
//! let db = MicroKV::in_memory(Credential::password("p@ssw0rd"))?;
//! db.put("name", &"test".to_string())?;
//! let name: String = db.require("name")?;
//! assert_eq!(name, "test");
//! # Ok::<(), microkv::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use core::ops::Deref;

#[cfg(feature = "testing")]
pub use microkv_core::testing;
pub use microkv_core::{
    AllocFailure, AutoSave, Clock, Config, Credential, Error, HeapPages, KdfLimit, KdfParams,
    LockMode, ManualClock, MemoryPolicy, MemoryReport, MemoryStorage, PageSource, Region, Result,
    SecretBytes, Storage, Store, Tree, Txn, MAGIC, MAX_JOURNAL_LEN, MAX_STORE_LEN, VERSION,
};
/// Fault injection points of [`FileStorage`] (the `testing` feature; semver-exempt).
#[cfg(all(feature = "std", feature = "testing"))]
pub use microkv_std::FailPoint;
#[cfg(all(feature = "std", unix))]
pub use microkv_std::{harden_process, OsPages};
#[cfg(feature = "std")]
pub use microkv_std::{FileStorage, SystemClock};

#[cfg(feature = "std")]
mod file;

/// An encrypted key-value store. Derefs to [`Store`] (and through it to the default
/// namespace, a [`Tree`]), so `db.put(..)` and `db.namespace("").put(..)` are the same.
#[derive(Debug)]
pub struct MicroKV {
    store: Store,
    /// The file behind a file store (a second handle: the store owns the first).
    #[cfg(feature = "std")]
    file: Option<FileStorage>,
}

impl Deref for MicroKV {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl MicroKV {
    /// An ephemeral store that never touches disk.
    pub fn in_memory(credential: Credential) -> Result<Self> {
        Self::in_memory_with(credential, Config::default())
    }

    /// An ephemeral store with options.
    pub fn in_memory_with(credential: Credential, config: Config) -> Result<Self> {
        Ok(MicroKV::wrap(Store::in_memory_with(credential, config)?))
    }

    /// Opens the store held by any [`Storage`], or creates one there.
    pub fn with_storage(
        storage: impl Storage + 'static,
        credential: Credential,
        config: Config,
    ) -> Result<Self> {
        Ok(MicroKV::wrap(Store::with_storage(
            storage, credential, config,
        )?))
    }

    fn wrap(store: Store) -> Self {
        MicroKV {
            store,
            #[cfg(feature = "std")]
            file: None,
        }
    }
}
