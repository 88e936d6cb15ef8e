//! The store-wide operations of [`MicroKV`]: namespaces, transactions, saving,
//! credentials and the arena's report.
#![forbid(unsafe_code)]

use crate::{Credential, KdfLimit, KdfParams, MemoryReport, MicroKV, Position, Result, Tree, Txn};

impl MicroKV {
    /// The namespace `name`, created on its first write. `""` is the default namespace,
    /// the one `MicroKV` derefs to. Keys never collide across namespaces, and each value's
    /// ciphertext is bound to its namespace and key.
    ///
    /// ```
    /// # let db = microkv::MicroKV::in_memory(microkv::Credential::key([1; 32]))?;
    /// let users = db.namespace("users");
    /// users.put("alice", &42u32)?;
    /// db.put("alice", "default namespace")?;
    /// assert_eq!(users.get::<u32>("alice")?, Some(42));
    /// assert_eq!(db.namespace(String::from("users")).len()?, 1);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn namespace(&self, name: impl AsRef<str>) -> Tree {
        self.store().namespace(name.as_ref())
    }

    /// Names of the namespaces holding at least one live entry, sorted.
    ///
    /// ```
    /// # let db = microkv::MicroKV::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.namespace("users").put("alice", &1u8)?;
    /// db.put("k", &2u8)?;
    /// assert_eq!(db.tree_names()?, ["", "users"]);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// None: it reads names and expiries only (under the contents' read lock, which a
    /// closure of this store's may take too). The `Result` is microkv 0.3's signature.
    pub fn tree_names(&self) -> Result<Vec<String>> {
        self.store().tree_names()
    }

    /// Runs `f` as one transaction: its reads see its own writes, and all its writes
    /// apply together when it returns `Ok`. On `Err` (or a panic) nothing is applied.
    /// Namespaces are named explicitly (`""` is the default). The store's lock is held
    /// while `f` runs, so transactions are serializable.
    ///
    /// ```
    /// use microkv::{Credential, Error, MicroKV};
    /// let db = MicroKV::in_memory(Credential::key([1; 32]))?;
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
    /// Whatever `f` returns (nothing is applied); `Error::ReadOnly` on a read-only store;
    /// `Error::Reentrant` when called from inside one of this store's own closures; the
    /// errors of an autosave (the writes are then undone).
    pub fn transaction<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Txn<'_>) -> Result<R>,
    {
        self.store().transaction(f)
    }

    /// The KDF parameters a password for this store is stretched with: the store's own,
    /// or for a store opened by a raw key (which has none) the ones a change to a password
    /// would use, the defaults. [`MicroKV::kdf`] tells the two apart.
    ///
    /// ```
    /// use microkv::{Config, Credential, KdfParams, MicroKV};
    /// let fast = KdfParams::argon2id(64, 1, 1);
    /// let config = Config { kdf: fast, ..Default::default() };
    /// let db = MicroKV::in_memory_with(Credential::password("p@ssw0rd"), config)?;
    /// assert_eq!(db.kdf_params(), fast);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn kdf_params(&self) -> KdfParams {
        self.store().kdf_params()
    }

    /// The store's KDF parameters; `None` for a store opened by a raw key.
    ///
    /// ```
    /// use microkv::{Credential, MicroKV};
    /// let db = MicroKV::in_memory(Credential::key([1; 32]))?;
    /// assert_eq!(db.kdf(), None);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn kdf(&self) -> Option<KdfParams> {
        self.store().kdf()
    }

    /// The most KDF work this store accepts: `Config::kdf_limit` as it was opened (the
    /// default: [`KdfLimit::default`]). It bounds the store's own new keys, and the KDF of
    /// a microkv 0.3 file copied into it (`migrate::from_v03`).
    ///
    /// ```
    /// use microkv::{Config, Credential, KdfLimit, KdfParams, MicroKV};
    /// let db = MicroKV::in_memory(Credential::key([1; 32]))?;
    /// assert_eq!(db.kdf_limit(), KdfLimit::default());
    /// let config = Config { kdf_limit: KdfLimit::of(KdfParams::interactive()), ..Default::default() };
    /// let db = MicroKV::in_memory_with(Credential::key([1; 32]), config)?;
    /// assert_eq!(db.kdf_limit(), KdfLimit::of(KdfParams::interactive()));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn kdf_limit(&self) -> KdfLimit {
        self.store().kdf_limit()
    }

    /// Verifies `old`, then re-encrypts everything under `new` with the store's KDF
    /// parameters. The check and the change happen under one lock. The passwords are
    /// held in zeroize-on-drop buffers and wiped before this returns.
    ///
    /// ```
    /// use microkv::{Config, Credential, Error, KdfParams, MicroKV};
    /// let config = Config { kdf: KdfParams::argon2id(64, 1, 1), ..Default::default() };
    /// let db = MicroKV::in_memory_with(Credential::password("old"), config)?;
    /// assert!(matches!(db.change_password("wrong", "new"), Err(Error::WrongPassword)));
    /// db.change_password("old", String::from("new"))?;
    /// db.change_password("new", "newer")?;
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::WrongPassword` if `old` does not open this store; `Error::ReadOnly` on a
    /// read-only store; the errors of saving a file store. On any error but
    /// `Error::NotDurable` the store keeps its old key and every entry, in memory and on
    /// disk; `NotDurable` means the new password is in place (it opens the file) but not
    /// known to be durable.
    pub fn change_password(&self, old: impl Into<String>, new: impl Into<String>) -> Result<()> {
        let old = zeroize::Zeroizing::new(old.into());
        let new = zeroize::Zeroizing::new(new.into());
        self.store().change_password(&old, &new)
    }

    /// Replaces the credential without checking the old one (the caller holds the open
    /// store): a new data key, salt and wrapping, every entry re-encrypted. A password
    /// keeps the store's KDF parameters (the defaults after a raw key).
    ///
    /// ```
    /// use microkv::{Credential, MicroKV};
    /// let db = MicroKV::in_memory(Credential::key([1; 32]))?;
    /// db.put("k", &7u8)?;
    /// db.rekey(Credential::key([2; 32]))?;
    /// assert_eq!(db.require::<u8>("k")?, 7);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::ReadOnly` on a read-only store; `Error::SecureAlloc` or `Error::Random`
    /// while drawing keys; the errors of saving a file store. All-or-nothing: on
    /// `Error::NotDurable` the new credential is in place, on any other error the old one.
    pub fn rekey(&self, credential: Credential) -> Result<()> {
        self.store().rekey(credential)
    }

    /// [`MicroKV::rekey`] with new KDF parameters for a password: the way to raise (or
    /// lower) a store's KDF cost.
    ///
    /// ```
    /// use microkv::{Credential, KdfParams, MicroKV};
    /// let db = MicroKV::in_memory(Credential::key([1; 32]))?;
    /// db.rekey_with(Credential::password("p@ssw0rd"), KdfParams::scrypt(10, 8, 1))?;
    /// assert_eq!(db.kdf(), Some(KdfParams::scrypt(10, 8, 1)));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`MicroKV::rekey`], and `Error::InvalidKdfParams` for parameters out of bounds.
    pub fn rekey_with(&self, credential: Credential, kdf: KdfParams) -> Result<()> {
        self.store().rekey_with(credential, kdf)
    }

    /// Writes the store to its file (atomically: a crash leaves the old file or the new
    /// one).
    ///
    /// ```
    /// use microkv::{Credential, MicroKV};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("store.kv");
    /// let db = MicroKV::open(&path, Credential::key([1; 32]))?;
    /// db.put("k", &1u8)?;
    /// MicroKV::save(&db)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// `Error::NoPath` for an in-memory store; `Error::ReadOnly` for a read-only one;
    /// `Error::Io` if writing fails (the file is left as it was);
    /// `Error::CredentialChanged` if another handle or process changed the store's
    /// credential since this one loaded it (nothing is written); `Error::NotDurable` if
    /// the new file is in place but not known to be durable (a failed directory sync);
    /// `Error::Reentrant` from inside one of this store's own closures.
    pub fn save(&self) -> Result<()> {
        self.store().save()
    }

    /// Catches up with what other handles of this store (in this process or others)
    /// committed: after `Ok`, reads see every write any handle acknowledged before the
    /// call. Works on read-only handles. `Config::refresh` does this before reads
    /// automatically; writes always catch up first. Under `LockMode::Exclusive` there is
    /// nothing to catch up with.
    ///
    /// ```
    /// use microkv::{Config, Credential, MicroKV};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("store.kv");
    /// let daemon = MicroKV::open(&path, Credential::key([1; 32]))?;
    /// let cli = MicroKV::open(&path, Credential::key([1; 32]))?; // shared by default
    /// cli.put("token", &7u32)?;
    /// cli.save()?;
    /// assert_eq!(daemon.get::<u32>("token")?, None); // not caught up yet
    /// daemon.reload()?;
    /// assert_eq!(daemon.get::<u32>("token")?, Some(7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// `Error::CredentialChanged` if another handle changed the credential (reopen with
    /// the new one); `Error::NotFound` if the store file was deleted; `Error::Tampered` or
    /// `Error::CorruptStore` for damaged files; `Error::Io` if reading fails. The handle
    /// keeps what it had.
    pub fn reload(&self) -> Result<()> {
        self.store().reload()
    }

    /// The store as the bytes of a store file (encrypted; what `save` would write).
    ///
    /// ```
    /// # let db = microkv::MicroKV::in_memory(microkv::Credential::key([1; 32]))?;
    /// assert!(db.snapshot()?.starts_with(&microkv::MAGIC));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::Forked` in a forked child; `Error::Crypto` if sealing fails (the nonce
    /// counter is spent).
    pub fn snapshot(&self) -> Result<Vec<u8>> {
        self.store().snapshot()
    }

    /// Drops every expired entry; returns how many there were.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use microkv::{Config, Credential, ManualClock, MicroKV};
    /// let clock = ManualClock::new(Duration::from_secs(1_000));
    /// let config = Config { clock: Some(Arc::new(clock.clone())), ..Default::default() };
    /// let db = MicroKV::in_memory_with(Credential::key([1; 32]), config)?;
    /// db.put_with_ttl("otp", "123456", Duration::from_secs(60))?;
    /// clock.advance(Duration::from_secs(61));
    /// assert_eq!(db.sweep_expired()?, 1);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::ReadOnly` on a read-only store; the errors of an autosave.
    pub fn sweep_expired(&self) -> Result<usize> {
        self.store().sweep_expired()
    }

    /// What the secure arena holds and how well it is protected (locked, guarded,
    /// excluded from core dumps, wiped on fork), and why it last failed, if it did.
    ///
    /// ```
    /// # let db = microkv::MicroKV::in_memory(microkv::Credential::key([1; 32]))?;
    /// let report = db.memory_report();
    /// assert!(report.bytes_mapped >= report.bytes_in_use);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn memory_report(&self) -> MemoryReport {
        self.store().memory_report()
    }

    /// Where the store's durable state stands: pin it outside the store's files and check
    /// after opening, to detect a rollback (an older store file and journal put back,
    /// after a rekey too, a journal cut back at a record boundary), which the format alone
    /// cannot (README, "Threat model"): its bytes after each write, compared exactly, or
    /// its `order()` whenever convenient, with any lower order refused. `None` while
    /// nothing is durable yet.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("app.kv");
    /// let db = microkv::MicroKV::open(&path, microkv::Credential::key([1; 32]))?;
    /// db.put("token", "t-1")?; // durable at once (`AutoSave::OnEveryWrite`)
    /// let pinned = db.position().expect("durable").to_bytes(); // keep this elsewhere
    /// drop(db);
    /// let db = microkv::MicroKV::open(&path, microkv::Credential::key([1; 32]))?;
    /// let now = db.position().expect("durable");
    /// assert_eq!(now.to_bytes(), pinned); // not rolled back
    /// assert!(now.order() >= microkv::Position::from_bytes(pinned).order());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn position(&self) -> Option<Position> {
        self.store().position()
    }

    /// The data key and XChaCha20 subkey, copied out of the arena, for tests that scan
    /// memory for them (the `testing` feature only; semver-exempt).
    ///
    /// # Errors
    /// `Reentrant` from inside one of this store's closures.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn testing_key_material(&self) -> Result<[zeroize::Zeroizing<[u8; 32]>; 2]> {
        self.store().testing_key_material()
    }
}
