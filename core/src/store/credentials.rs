//! A [`Store`]'s credential and KDF: what it is stretched with, its bounds, and replacing
//! it (`rekey`, `rekey_with`, `change_password`).
#![forbid(unsafe_code)]

use alloc::string::String;

use super::Store;
use crate::credential::Credential;
use crate::error::Result;
use crate::kdf::{KdfLimit, KdfParams};
use crate::keys::unlock;

impl Store {
    /// The KDF parameters a password for this store is stretched with: the store's own,
    /// or for a store opened by a raw key (which has none) the ones a change to a password
    /// would use, the defaults. [`Store::kdf`] tells the two apart.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Config, Credential, KdfParams, Store};
    /// let fast = KdfParams::argon2id(64, 1, 1);
    /// let config = Config { kdf: fast, ..Default::default() };
    /// let db = Store::in_memory_with(Credential::password("p@ssw0rd"), config)?;
    /// assert_eq!(db.kdf_params(), fast);
    /// let raw = Store::in_memory(Credential::key([5; 32]))?;
    /// assert_eq!(raw.kdf_params(), KdfParams::default());
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

    /// The most KDF work this store accepts (`Config::kdf_limit` when it was opened;
    /// the default: [`KdfLimit::default`]): for its own new keys, and for keys of other
    /// formats read into it (`microkv::migrate` stretches a 0.3 file's password within
    /// it, with [`KdfParams::stretch`]).
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

    /// Replaces the credential without checking the old one (the caller holds the open
    /// store): a new data key, salt and wrapping, every entry re-encrypted. A password
    /// keeps the store's KDF parameters ([`Store::kdf_params`]: the defaults after a raw
    /// key).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, Store};
    /// let db = Store::in_memory(Credential::key([1; 32]))?;
    /// db.put("k", &7u8)?;
    /// db.rekey(Credential::key([2; 32]))?;
    /// assert_eq!(db.require::<u8>("k")?, 7);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::ReadOnly` on a read-only store; `Error::Reentrant` from inside one of its
    /// closures; the errors of catching up on a shared store (as [`Store::reload`]);
    /// `Error::KdfLimitExceeded` if a password's KDF would cost more than
    /// [`Store::kdf_limit`]; `Error::SecureAlloc`, `Error::Random` or `Error::Forked`
    /// while drawing the keys; with storage, the errors of [`Store::save`]
    /// (`Error::CredentialChanged` if another handle rotated the credential first: nothing
    /// is written). All-or-nothing: on `Ok` only the new credential opens the storage; on
    /// any error but one the store keeps its old key and every entry, in memory and in
    /// storage. The exception is `Error::NotDurable`: the new snapshot is in place (the
    /// new credential opens it, memory keeps the new keys) but not known to be durable;
    /// one more save was tried, and `Ok` is returned if that one is durable.
    pub fn rekey(&self, credential: Credential) -> Result<()> {
        let mut g = self.engine.lock_write()?;
        let kdf = g.header().kdf.unwrap_or_default();
        g.rekey(&credential, &kdf)
    }

    /// [`Store::rekey`] with new KDF parameters for a password: the way to raise (or
    /// lower) a store's KDF cost.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, KdfParams, Store};
    /// let db = Store::in_memory(Credential::key([1; 32]))?;
    /// db.rekey_with(Credential::password("p@ssw0rd"), KdfParams::scrypt(10, 8, 1))?;
    /// assert_eq!(db.kdf(), Some(KdfParams::scrypt(10, 8, 1)));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Store::rekey`], and `Error::InvalidKdfParams` for parameters out of bounds.
    pub fn rekey_with(&self, credential: Credential, kdf: KdfParams) -> Result<()> {
        self.engine.lock_write()?.rekey(&credential, &kdf)
    }

    /// Verifies `old`, then re-encrypts everything under `new` with the store's KDF
    /// parameters (as [`Store::rekey`]). The check and the change happen under one lock,
    /// so two concurrent rotations cannot both pass a check against the same old
    /// password. Both passwords go into zeroize-on-drop buffers, wiped before this
    /// returns.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Config, Credential, Error, KdfParams, Store};
    /// let config = Config { kdf: KdfParams::argon2id(64, 1, 1), ..Default::default() };
    /// let db = Store::in_memory_with(Credential::password("old"), config)?;
    /// assert!(matches!(db.change_password("wrong", "new"), Err(Error::WrongPassword)));
    /// db.change_password("old", String::from("new"))?;
    /// db.change_password("new", "newer")?;
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::WrongPassword` if `old` does not open this store (nothing changes); the
    /// errors of [`Store::rekey`] otherwise, all-or-nothing as there.
    pub fn change_password(&self, old: impl Into<String>, new: impl Into<String>) -> Result<()> {
        let (old, new) = (Credential::password(old), Credential::password(new));
        let mut g = self.engine.lock_write()?;
        let header = g.header();
        unlock(&self.engine.arena, &old, &header, self.engine.kdf_limit)?;
        let kdf = header.kdf.unwrap_or_default();
        g.rekey(&new, &kdf)
    }
}
