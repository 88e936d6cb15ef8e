//! [`Tree`]: one namespace of a store, and the typed read/write API.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use core::time::Duration;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::engine::Engine;
use crate::entry::{decode, encode, Change, Entry};
use crate::error::{Error, Result};
use crate::secret::{Secret, SecretBytes};

/// One namespace of a store. Cheap to clone; shares the store.
///
/// ```
/// use microkv_core::{Credential, Store};
/// let db = Store::in_memory(Credential::key([3; 32]))?;
/// let users = db.namespace("users");
/// users.put("alice", &42u32)?;
/// db.put("alice", "default namespace")?;
/// assert_eq!(users.get::<u32>("alice")?, Some(42));
/// assert_eq!(users.name(), "users");
/// # Ok::<(), microkv_core::Error>(())
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
    /// `Error::Serialization` if the stored bytes do not decode as a `V` exactly (a
    /// `String` read as a `u32`, say). The check is structural: values carry no type tag,
    /// so types with the same encoding (`u32` and `u64`, or `u32` and `i32` with
    /// reinterpreted bits) are not told apart.
    pub fn get<V: DeserializeOwned>(&self, key: &str) -> Result<Option<V>> {
        self.engine
            .read_value(&self.name, key, |p| decode(self.engine.values, p))
    }

    /// [`Tree::get`], wrapped in a [`Secret`] whose `Debug` prints no value (microkv
    /// 0.3's `get_secret`).
    pub fn get_secret<V: DeserializeOwned>(&self, key: &str) -> Result<Option<Secret<V>>> {
        Ok(self.get(key)?.map(Secret::new))
    }

    /// The value under `key` as [`SecretBytes`]: decrypted into the locked arena and left
    /// there, wiped when the handle drops. For values stored as strings or bytes
    /// (`Error::Serialization` otherwise); `None` if absent or expired.
    pub fn get_secret_bytes(&self, key: &str) -> Result<Option<SecretBytes>> {
        match self.engine.open_live(&self.name, key)? {
            Some(plain) => {
                SecretBytes::from_plaintext(&self.engine.arena, self.engine.values, plain).map(Some)
            }
            None => Ok(None),
        }
    }

    /// The value under `key`; `Error::KeyNotFound` if absent or expired.
    pub fn require<V: DeserializeOwned>(&self, key: &str) -> Result<V> {
        self.get(key)?.ok_or(Error::KeyNotFound)
    }

    /// Whether a live entry exists under `key` (decrypts nothing).
    pub fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.engine.contains(&self.name, key))
    }

    /// Stores `value` under `key`, replacing any value and TTL.
    pub fn put<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<()> {
        self.put_entry(key, value, None)
    }

    /// Stores `value` under `key`, to expire `ttl` from now (by the store's clock).
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
        let plain = encode(&self.engine.arena, self.engine.values, value)?;
        let mut g = self.engine.lock_write()?;
        let entry = g.seal(&self.name, key, &plain, g.expiry(ttl)?)?;
        g.apply([self.change(key, Some(entry))])
    }

    /// Removes `key`; returns whether a live entry was there.
    pub fn remove(&self, key: &str) -> Result<bool> {
        let mut g = self.engine.lock_write()?;
        if g.live(&self.name, key).is_none() {
            return Ok(false);
        }
        g.apply([self.change(key, None)])?;
        Ok(true)
    }

    /// Removes every entry of this namespace.
    pub fn clear(&self) -> Result<()> {
        let mut g = self.engine.lock_write()?;
        let keys = g.keys_of(&self.name);
        g.apply(keys.iter().map(|k| self.change(k, None)))
    }

    /// The number of live entries (decrypts nothing).
    pub fn len(&self) -> Result<usize> {
        Ok(self.engine.count_live(&self.name))
    }

    /// Whether this namespace has no live entry.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The names of the live entries, in no particular order (decrypts nothing).
    pub fn keys(&self) -> Result<Vec<String>> {
        Ok(self.engine.live_keys(&self.name))
    }

    /// The names of the live entries, sorted.
    pub fn keys_sorted(&self) -> Result<Vec<String>> {
        let mut keys = self.keys()?;
        keys.sort_unstable();
        Ok(keys)
    }

    /// Decrypts every live entry whose name starts with `prefix`, sorted by name.
    pub fn prefix<V: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, V)>> {
        let (keyring, mut entries) = self
            .engine
            .live_entries(&self.name, |k| k.starts_with(prefix));
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        entries
            .into_iter()
            .map(|(k, e)| {
                let v = (self.engine).read_entry(&keyring, &e, (&self.name, &k), |p| {
                    decode(self.engine.values, p)
                })?;
                Ok((k, v))
            })
            .collect()
    }

    /// Calls `f` with each live entry (a snapshot taken at the call) until it returns
    /// `ControlFlow::Break`. The store is not locked while `f` runs, so `f` may use it.
    pub fn for_each<V, F>(&self, mut f: F) -> Result<()>
    where
        V: DeserializeOwned,
        F: FnMut(&str, V) -> ControlFlow<()>,
    {
        let (keyring, entries) = self.engine.live_entries(&self.name, |_| true);
        for (k, e) in entries {
            let value = (self.engine).read_entry(&keyring, &e, (&self.name, &k), |p| {
                decode(self.engine.values, p)
            })?;
            if f(&k, value).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Read-modify-write under the store's writer lock: `f` gets the current value (`None`
    /// if absent) and returns the new one (`None` removes the key). An existing TTL is
    /// kept. `f` runs once. Other threads' reads carry on while it runs; reads from inside
    /// `f` work, and a write from inside it returns `Error::Reentrant`.
    pub fn update<V, F>(&self, key: &str, f: F) -> Result<()>
    where
        V: Serialize + DeserializeOwned,
        F: FnOnce(Option<V>) -> Option<V>,
    {
        let mut g = self.engine.lock_write()?;
        let (current, expires_at) = match g.live(&self.name, key) {
            Some(entry) => (
                Some(g.read::<V>(&self.name, key, &entry)?),
                entry.expires_at,
            ),
            None => (None, None),
        };
        let existed = current.is_some();
        let change = match f(current) {
            Some(value) => {
                let plain = encode(&self.engine.arena, self.engine.values, &value)?;
                self.change(key, Some(g.seal(&self.name, key, &plain, expires_at)?))
            }
            None if existed => self.change(key, None),
            None => return Ok(()),
        };
        g.apply([change])
    }

    /// The value under `key`; if absent, stores `f()` and returns it, atomically. `f`
    /// runs under the writer lock: reads from inside it work, writes return
    /// `Error::Reentrant`.
    pub fn get_or_insert_with<V, F>(&self, key: &str, f: F) -> Result<V>
    where
        V: Serialize + DeserializeOwned,
        F: FnOnce() -> V,
    {
        if let Some(value) = self
            .engine
            .read_value(&self.name, key, |p| decode(self.engine.values, p))?
        {
            return Ok(value);
        }
        let mut g = self.engine.lock()?;
        // Looked up again under the writer lock: another writer may have inserted it.
        if let Some(entry) = g.live(&self.name, key) {
            return g.read(&self.name, key, &entry);
        }
        if self.engine.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let value = f();
        let plain = encode(&self.engine.arena, self.engine.values, &value)?;
        let entry = g.seal(&self.name, key, &plain, None)?;
        g.apply([self.change(key, Some(entry))])?;
        Ok(value)
    }

    /// If the current value equals `expected` (`None`: absent), replaces it with `new`
    /// (`None`: remove) and returns `true`; otherwise changes nothing and returns `false`.
    /// Values are compared by their serialized bytes, in constant time.
    pub fn compare_and_swap<V: Serialize + ?Sized>(
        &self,
        key: &str,
        expected: Option<&V>,
        new: Option<&V>,
    ) -> Result<bool> {
        use subtle::ConstantTimeEq;
        let mut g = self.engine.lock_write()?;
        let live = g.live(&self.name, key);
        let expires_at = live.as_ref().and_then(|e| e.expires_at);
        let current = live.map(|e| g.open(&self.name, key, &e)).transpose()?;
        let matches = match (&current, expected) {
            (None, None) => true,
            (Some(cur), Some(exp)) => {
                bool::from(cur.ct_eq(&encode(&self.engine.arena, self.engine.values, exp)?))
            }
            _ => false,
        };
        if !matches {
            return Ok(false);
        }
        let change = match new {
            Some(value) => {
                let plain = encode(&self.engine.arena, self.engine.values, value)?;
                self.change(key, Some(g.seal(&self.name, key, &plain, expires_at)?))
            }
            None if current.is_some() => self.change(key, None),
            None => return Ok(true),
        };
        g.apply([change])?;
        Ok(true)
    }
}
