//! File stores: the path constructors, `save_as`, `export` and `destroy`.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;

use microkv_std::file_storage::write_copy;

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
    /// default [`Config`]: `LockMode::Shared` (other handles and processes may open it
    /// too; each write locks `<path>.wlock` and catches up first), `AutoSave::Manual`, a
    /// new file readable by its owner alone (mode `0600` on Unix, a DACL for the current
    /// user alone on Windows).
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
    ///
    /// # Errors
    /// `Error::Locked` if another handle or process holds the store's lock exclusively
    /// (`LockMode::Exclusive`); `Error::Io` if the file cannot be read, created or locked;
    /// otherwise as [`Store::with_storage`]: for a file already there the errors of
    /// reading it (`WrongPassword`, `Tampered`, `LegacyStore` for a microkv 0.3 file, see
    /// [`migrate`](crate::migrate), ...), for a new one those of making its keys.
    pub fn open(path: impl AsRef<Path>, credential: Credential) -> Result<Self> {
        Self::open_with(path, credential, Config::default())
    }

    /// [`MicroKV::open`] with options. With `read_only` the file must exist, is never
    /// locked, created or written, and every write returns `Error::ReadOnly`.
    ///
    /// ```
    /// use microkv::{AutoSave, Config, Credential, MicroKV};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("store.kv");
    /// let config = Config { autosave: AutoSave::OnEveryWrite, ..Default::default() };
    /// let db = MicroKV::open_with(&path, Credential::key([1; 32]), config)?;
    /// db.put("k", &1u8)?; // on disk already
    /// drop(db);
    /// let ro = MicroKV::open_with(&path, Credential::key([1; 32]), Config { read_only: true, ..Default::default() })?;
    /// assert_eq!(ro.require::<u8>("k")?, 1);
    /// assert!(matches!(ro.put("k", &2u8), Err(microkv::Error::ReadOnly)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MicroKV::open`]; with `read_only`, `Error::NotFound` if there is no file.
    pub fn open_with(
        path: impl AsRef<Path>,
        credential: Credential,
        config: Config,
    ) -> Result<Self> {
        Self::file(path.as_ref(), credential, config, Open::OrCreate)
    }

    /// Opens the store at `path`, creating nothing.
    ///
    /// ```
    /// use microkv::{Credential, Error, MicroKV};
    /// # let dir = tempfile::tempdir()?;
    /// let missing = MicroKV::open_existing(dir.path().join("none.kv"), Credential::key([1; 32]));
    /// assert!(matches!(missing, Err(Error::NotFound)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// `Error::NotFound` if there is no store there; otherwise as [`MicroKV::open`].
    pub fn open_existing(path: impl AsRef<Path>, credential: Credential) -> Result<Self> {
        Self::open_existing_with(path, credential, Config::default())
    }

    /// [`MicroKV::open_existing`] with options.
    ///
    /// ```
    /// use microkv::{Config, Credential, MicroKV};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("store.kv");
    /// # MicroKV::create_new(&path, Credential::key([1; 32]))?;
    /// let ro = Config { read_only: true, ..Default::default() };
    /// let db = MicroKV::open_existing_with(&path, Credential::key([1; 32]), ro)?;
    /// assert!(db.is_empty()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MicroKV::open_existing`].
    pub fn open_existing_with(
        path: impl AsRef<Path>,
        credential: Credential,
        config: Config,
    ) -> Result<Self> {
        Self::file(path.as_ref(), credential, config, Open::Existing)
    }

    /// Creates a new store at `path`. Race-free: the file is created without replacing
    /// anything, so of two racing creators one fails.
    ///
    /// ```
    /// use microkv::{Credential, Error, MicroKV};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("store.kv");
    /// let db = MicroKV::create_new(&path, Credential::key([1; 32]))?;
    /// drop(db);
    /// let again = MicroKV::create_new(&path, Credential::key([1; 32]));
    /// assert!(matches!(again, Err(Error::AlreadyExists)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// `Error::AlreadyExists` if a file is there; `Error::Io` if it cannot be created;
    /// the errors of making a new store's keys and saving it ([`Store::with_storage`]).
    pub fn create_new(path: impl AsRef<Path>, credential: Credential) -> Result<Self> {
        Self::create_new_with(path, credential, Config::default())
    }

    /// [`MicroKV::create_new`] with options (`read_only` is refused).
    ///
    /// ```
    /// use microkv::{Config, Credential, KdfParams, MicroKV};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("store.kv");
    /// let config = Config { kdf: KdfParams::scrypt(10, 8, 1), ..Default::default() };
    /// let db = MicroKV::create_new_with(&path, Credential::password("p@ssw0rd"), config)?;
    /// assert_eq!(db.kdf_params(), KdfParams::scrypt(10, 8, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MicroKV::create_new`]; `Error::ReadOnly` with `read_only`.
    pub fn create_new_with(
        path: impl AsRef<Path>,
        credential: Credential,
        config: Config,
    ) -> Result<Self> {
        Self::file(path.as_ref(), credential, config, Open::New)
    }

    fn file(path: &Path, credential: Credential, config: Config, how: Open) -> Result<Self> {
        let lock = config.lock_mode;
        let opened = match (config.read_only, how) {
            (true, Open::New) => return Err(Error::ReadOnly),
            (true, _) => FileStorage::read_only(path),
            (false, Open::OrCreate) => FileStorage::open(path, lock),
            (false, Open::Existing) => FileStorage::open_existing(path, lock),
            (false, Open::New) => FileStorage::create_new(path, lock),
        };
        #[cfg(feature = "tracing")]
        if let Err(Error::Locked) = &opened {
            tracing::warn!(
                target: "microkv",
                path = %path.display(),
                lock = ?lock,
                "open refused: another handle or process holds the store's lock (Locked)"
            );
        }
        let storage = opened?;
        let store = Store::with_storage(storage.clone(), credential, config)?;
        Ok(Self::wrap(store, Some(storage)))
    }

    /// The store file's path; `None` for an in-memory store or a custom storage.
    ///
    /// ```
    /// # let db = microkv::MicroKV::in_memory(microkv::Credential::key([1; 32]))?;
    /// assert_eq!(db.path(), None);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn path(&self) -> Option<&Path> {
        self.inner.file.as_ref().map(FileStorage::path)
    }

    /// Writes the store's current (encrypted) snapshot to `path`, atomically, holding an
    /// exclusive lock on `<path>.lock` meanwhile. The store keeps its own path. Allowed
    /// on read-only and in-memory stores: it does not touch the store's file.
    ///
    /// ```
    /// use microkv::{Credential, MicroKV};
    /// # let dir = tempfile::tempdir()?;
    /// let db = MicroKV::in_memory(Credential::key([1; 32]))?;
    /// db.put("k", &1u8)?;
    /// db.save_as(dir.path().join("copy.kv"))?;
    /// let copy = MicroKV::open(dir.path().join("copy.kv"), Credential::key([1; 32]))?;
    /// assert_eq!(copy.require::<u8>("k")?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// `Error::Locked` if a store is open at `path` (this one included: use
    /// [`Store::save`] for that); `Error::Io` if writing fails; the errors of
    /// [`Store::export`].
    pub fn save_as(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.export()?;
        write_copy(path, &bytes)
    }

    /// Writes [`Store::export`]'s bytes to `writer`.
    ///
    /// ```
    /// use microkv::{MicroKV, Credential};
    /// let db = MicroKV::in_memory(Credential::key([9; 32]))?;
    /// let mut out = Vec::new();
    /// db.export_to(&mut out)?;
    /// assert!(out.starts_with(&microkv::MAGIC));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Store::export`], and `Error::Io` if writing fails.
    pub fn export_to(&self, mut writer: impl Write) -> Result<()> {
        writer.write_all(&self.export()?)?;
        Ok(writer.flush()?)
    }

    /// Deletes the store: removes its file and journal and, when no other handle holds
    /// them, its lock files (`<path>.lock`, `<path>.wlock`), then drops this handle.
    /// Other handles (clones, [`Tree`](crate::Tree)s) that outlive it fail to save from
    /// then on (`Error::NotFound`). An in-memory store (or one over a custom storage) is
    /// just dropped.
    ///
    /// ```
    /// use microkv::{Credential, MicroKV};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("store.kv");
    /// let db = MicroKV::create_new(&path, Credential::key([1; 32]))?;
    /// db.destroy()?;
    /// assert!(!path.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// `Error::ReadOnly` on a read-only store (nothing is removed); `Error::Io` naming the
    /// store file if a file cannot be removed.
    pub fn destroy(self) -> Result<()> {
        match &self.inner.file {
            Some(file) => file.destroy(),
            None => Ok(()),
        }
    }
}
