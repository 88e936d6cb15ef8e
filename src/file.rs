//! File stores (`std`): the path constructors, `save_as`, `export` and `destroy`.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;

use microkv_std::file_storage::{io_error, write_copy};

use crate::{Config, Credential, Error, FileStorage, MicroKV, Result, Store};

/// How a path constructor treats the file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    OrCreate,
    Existing,
    New,
}

impl MicroKV {
    /// Opens the encrypted store at `path`, or creates it if there is none, with the
    /// default [`Config`] (an exclusive lock on `<path>.lock`; manual saves).
    ///
    /// ```
    /// use microkv::{MicroKV, Credential};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("store.kv");
    /// let db = MicroKV::open(&path, Credential::password("p@ssw0rd"))?;
    /// db.put("name", &"test".to_string())?;
    /// db.save()?;
    /// drop(db);
    /// let db = MicroKV::open(&path, Credential::password("p@ssw0rd"))?;
    /// assert_eq!(db.require::<String>("name")?, "test");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>, credential: Credential) -> Result<Self> {
        Self::open_with(path, credential, Config::default())
    }

    /// [`MicroKV::open`] with options. With `read_only` the file must exist, is never
    /// locked, created or written, and every write returns `Error::ReadOnly`.
    pub fn open_with(
        path: impl AsRef<Path>,
        credential: Credential,
        config: Config,
    ) -> Result<Self> {
        Self::file(path.as_ref(), credential, config, Open::OrCreate)
    }

    /// Opens the store at `path`; `Error::NotFound` (creating nothing) if there is none.
    pub fn open_existing(path: impl AsRef<Path>, credential: Credential) -> Result<Self> {
        Self::open_existing_with(path, credential, Config::default())
    }

    /// [`MicroKV::open_existing`] with options.
    pub fn open_existing_with(
        path: impl AsRef<Path>,
        credential: Credential,
        config: Config,
    ) -> Result<Self> {
        Self::file(path.as_ref(), credential, config, Open::Existing)
    }

    /// Creates a new store at `path`; `Error::AlreadyExists` if a file is there. Race-free:
    /// the file is created without replacing anything, so of two racing creators one
    /// fails.
    pub fn create_new(path: impl AsRef<Path>, credential: Credential) -> Result<Self> {
        Self::create_new_with(path, credential, Config::default())
    }

    /// [`MicroKV::create_new`] with options (`read_only` is refused: `Error::ReadOnly`).
    pub fn create_new_with(
        path: impl AsRef<Path>,
        credential: Credential,
        config: Config,
    ) -> Result<Self> {
        Self::file(path.as_ref(), credential, config, Open::New)
    }

    fn file(path: &Path, credential: Credential, config: Config, how: Open) -> Result<Self> {
        let lock = config.lock_mode;
        let storage = match (config.read_only, how) {
            (true, Open::New) => return Err(Error::ReadOnly),
            (true, _) => FileStorage::read_only(path)?,
            (false, Open::OrCreate) => FileStorage::open(path, lock)?,
            (false, Open::Existing) => FileStorage::open_existing(path, lock)?,
            (false, Open::New) => FileStorage::create_new(path, lock)?,
        };
        let store = Store::with_storage(storage.clone(), credential, config)?;
        Ok(MicroKV {
            store,
            file: Some(storage),
        })
    }

    /// The store file's path; `None` for an in-memory store or a custom storage.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(FileStorage::path)
    }

    /// Writes the store's current (encrypted) snapshot to `path`, atomically, holding an
    /// exclusive lock on `<path>.lock` meanwhile (`Error::Locked` if a store is open
    /// there, including this one: use [`Store::save`] for that). The store keeps its own
    /// path. Allowed on read-only and in-memory stores: it does not touch the store's file.
    pub fn save_as(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.store.snapshot()?;
        write_copy(path, &bytes)
    }

    /// Writes the store's current encrypted snapshot (the bytes of a store file) to
    /// `writer`.
    ///
    /// ```
    /// use microkv::{MicroKV, Credential};
    /// let db = MicroKV::in_memory(Credential::key([9; 32]))?;
    /// db.put("k", &1u8)?;
    /// let mut bytes = Vec::new();
    /// db.export(&mut bytes)?;
    /// assert!(bytes.starts_with(&microkv::MAGIC));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn export(&self, mut writer: impl Write) -> Result<()> {
        let bytes = self.store.snapshot()?;
        writer.write_all(&bytes).map_err(io_error)?;
        writer.flush().map_err(io_error)
    }

    /// Deletes the store: removes its file and lock file, then drops it. Other handles
    /// ([`crate::Tree`]s) that outlive it fail to save from then on. An in-memory store
    /// (or one over a custom storage) is just dropped. `Error::ReadOnly` on a read-only
    /// store (nothing is removed; the store is dropped).
    pub fn destroy(self) -> Result<()> {
        match &self.file {
            Some(file) => file.destroy(),
            None => Ok(()),
        }
    }
}
