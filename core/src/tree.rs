//! [`Tree`]: one namespace of a store, and the typed read/write API.
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use core::time::Duration;
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroize;

use crate::codec::encode;
use crate::crypto::scrubbed;
use crate::engine::Engine;
use crate::entry::{Change, Entry};
use crate::error::{Error, Result};
use crate::secret::{Secret, SecretBytes};

mod atomic;
mod bytes;
mod inspect;
mod listing;

/// One namespace of a store. Cheap to clone; shares the store.
///
/// On a shared store (`LockMode::Shared`, the default of a file store) a call may first
/// catch up with what other handles committed: a write always does, a read
/// (`get`, `contains`, `len`, `keys`, `prefix`, `for_each`, ...) when `Config::refresh`
/// says it is due. The errors of that catch-up are those of [`Store::reload`]
/// (`CredentialChanged`, `NotFound`, `Tampered`, `CorruptStore`, `Io`); the `# Errors`
/// of each method call them "a catch-up's".
///
/// [`Store::reload`]: crate::Store::reload
/// ```
/// # use microkv_core as microkv;
/// use microkv::{Credential, Store};
/// let db = Store::in_memory(Credential::key([3; 32]))?;
/// let users = db.namespace("users");
/// users.put("alice", &42u32)?;
/// db.put("alice", "default namespace")?;
/// assert_eq!(users.get::<u32>("alice")?, Some(42));
/// assert_eq!(users.name(), "users");
/// # Ok::<(), microkv::Error>(())
/// ```
#[derive(Clone)]
pub struct Tree {
    engine: Arc<Engine>,
    name: Arc<str>,
}

// A panic inside a store call (or a closure it runs) leaves nothing half-done to observe:
// every critical section leaves the state consistent before anything that can panic runs,
// the lock ignores poisoning, and a panicking transaction or update applies nothing.
impl core::panic::UnwindSafe for Tree {}
impl core::panic::RefUnwindSafe for Tree {}

impl core::fmt::Debug for Tree {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tree")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Tree {
    pub(crate) fn new(engine: Arc<Engine>, name: &str) -> Self {
        Tree {
            engine,
            name: name.into(),
        }
    }

    /// This namespace's name (`""` for the default one).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// assert_eq!(db.namespace("users").name(), "users");
    /// assert_eq!(db.name(), "");
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    fn change<'a>(&'a self, key: &'a str, entry: Option<Entry>) -> Change<'a> {
        Change {
            ns: &self.name,
            key,
            entry,
        }
    }

    /// The value under `key`, or `None` if absent or expired.
    ///
    /// Values are self-describing (MessagePack): a value read
    /// as another type is the same value (a `u32` read as an `i64`) or `Error::Serialization`,
    /// never a different one.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("count", &5u32)?;
    /// assert_eq!(db.get::<u32>("count")?, Some(5));
    /// assert_eq!(db.get::<i64>("count")?, Some(5));
    /// assert_eq!(db.get::<u32>("missing")?, None);
    /// assert!(db.get::<String>("count").is_err());
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::Serialization` if the stored value does not decode as a `V`; `Error::Forked`
    /// in a forked child; `Error::SecureAlloc` if the arena cannot hold the decrypted
    /// value; `Error::Crypto` if a value fails authentication (memory corruption: values
    /// are authenticated when the store opens); a due catch-up's (see [`Tree`]).
    pub fn get<V: DeserializeOwned>(&self, key: &str) -> Result<Option<V>> {
        self.engine.refresh_if_due()?;
        scrubbed(|| self.engine.read_value(&self.name, key))
    }

    /// [`Tree::get`], wrapped in a [`Secret`] that wipes the `V` when dropped and whose
    /// `Debug` prints no value (microkv 0.3's `get_secret`, which did not wipe; the `V`
    /// must now be `Zeroize`). Any such type reads: a `String`, a number, a record that
    /// derives `Zeroize`, `secrecy::SecretString`. [`Tree::get_secret_bytes`] keeps a
    /// string's bytes in the locked arena instead.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("pin", &1234u32)?;
    /// let pin = db.get_secret::<u32>("pin")?.expect("present");
    /// assert_eq!(*pin.expose(), 1234);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::get`].
    pub fn get_secret<V: DeserializeOwned + Zeroize>(
        &self,
        key: &str,
    ) -> Result<Option<Secret<V>>> {
        Ok(self.get(key)?.map(Secret::new))
    }

    /// The value under `key` as [`SecretBytes`]: decrypted into the locked arena and left
    /// there, wiped when the handle drops. For values stored as strings or bytes; `None` if
    /// absent or expired.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("token", "s3cr3t")?;
    /// let token = db.get_secret_bytes("token")?.expect("present");
    /// assert_eq!(token.expose_secret(), b"s3cr3t");
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::Serialization` if the value is not a string or bytes; otherwise as
    /// [`Tree::get`].
    pub fn get_secret_bytes(&self, key: &str) -> Result<Option<SecretBytes>> {
        self.engine.refresh_if_due()?;
        match self.engine.open_live(&self.name, key)? {
            Some(plain) => SecretBytes::from_plaintext(&self.engine.arena, plain).map(Some),
            None => Ok(None),
        }
    }

    /// The value under `key`, which must be there.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("name", "test")?;
    /// assert_eq!(db.require::<String>("name")?, "test");
    /// assert!(matches!(db.require::<String>("nope"), Err(microkv::Error::KeyNotFound)));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::KeyNotFound` if absent or expired; otherwise as [`Tree::get`].
    pub fn require<V: DeserializeOwned>(&self, key: &str) -> Result<V> {
        self.get(key)?.ok_or(Error::KeyNotFound)
    }

    /// Whether a live entry exists under `key` (decrypts nothing).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("k", &1u8)?;
    /// assert!(db.contains("k")?);
    /// assert!(!db.contains("other")?);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// Only a due catch-up's (see [`Tree`]): it reads key names and expiries only, which
    /// hold no secret and need no keyring (so it works in a forked child too).
    pub fn contains(&self, key: &str) -> Result<bool> {
        self.engine.refresh_if_due()?;
        self.engine.contains(&self.name, key)
    }

    /// Stores `value` under `key`, replacing any value and TTL.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("name", "test")?;
    /// db.put("count", &7u32)?;
    /// assert_eq!(db.require::<u32>("count")?, 7);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::ReadOnly` on a read-only store; `Error::Reentrant` from inside one of this
    /// store's closures on the same thread; `Error::Serialization` if `value` cannot be
    /// serialized; `Error::SecureAlloc` or `Error::Forked` as for reads; on a shared
    /// store, a catch-up's (see [`Tree`]); the errors of an autosave (`AutoSave`
    /// `OnEveryWrite` or `Periodic` when due: those of a journal append or of
    /// [`Store::save`]), the write then undone, but for `Error::NotDurable`, which keeps
    /// it.
    ///
    /// [`Store::save`]: crate::Store::save
    pub fn put<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<()> {
        self.put_entry(key, value, None)
    }

    /// Stores `value` under `key`, to expire `ttl` from now (by the store's clock, in
    /// milliseconds). An expired entry reads as absent.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// use std::time::Duration;
    /// db.put_with_ttl("otp", "123456", Duration::from_secs(60))?;
    /// assert!(db.contains("otp")?);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::put`]; `Error::NoClock` if the store has no clock (only without `std`).
    pub fn put_with_ttl<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Duration,
    ) -> Result<()> {
        self.put_entry(key, value, Some(ttl))
    }

    fn put_entry<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<()> {
        if self.engine.groups_puts() {
            let plain = encode(&self.engine.arena, value)?;
            return self.engine.put_grouped(&self.name, key, plain, ttl);
        }
        let mut g = self.engine.lock_write()?;
        let entry = g.seal(&self.name, key, value, g.expiry(ttl)?)?;
        g.apply([self.change(key, Some(entry))])
    }

    /// Removes `key`; returns whether a live entry was there.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("k", &1u8)?;
    /// assert!(db.remove("k")?);
    /// assert!(!db.remove("k")?);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::ReadOnly`, `Error::Reentrant`, a catch-up's and the errors of an autosave,
    /// as [`Tree::put`].
    pub fn remove(&self, key: &str) -> Result<bool> {
        let mut g = self.engine.lock_write()?;
        if !g.has_live(&self.name, key)? {
            return Ok(false);
        }
        g.apply([self.change(key, None)])?;
        Ok(true)
    }

    /// Removes every entry of this namespace (one write).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// let users = db.namespace("users");
    /// users.put("a", &1u8)?;
    /// users.put("b", &2u8)?;
    /// users.clear()?;
    /// assert!(users.is_empty()?);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::remove`].
    pub fn clear(&self) -> Result<()> {
        let mut g = self.engine.lock_write()?;
        let keys = g.keys_of(&self.name)?;
        g.apply(keys.iter().map(|k| self.change(k, None)))
    }
}
