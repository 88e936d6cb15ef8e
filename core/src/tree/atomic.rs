//! The atomic read-modify-write operations of [`Tree`]: `update`, `try_update`,
//! `get_or_insert_with`, `compare_and_swap`. Each runs under the store's writer lock.
#![forbid(unsafe_code)]

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Tree;
use crate::crypto::scrubbed;
use crate::error::{Error, Result};

impl Tree {
    /// Read-modify-write under the store's writer lock: `f` gets the current value (`None`
    /// if absent) and returns the new one (`None` removes the key). An existing TTL is
    /// kept. `f` runs once. Other threads' reads carry on while it runs; reads from inside
    /// `f` work, and a write from inside it returns `Error::Reentrant`.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.update::<u32, _>("counter", |cur| Some(cur.unwrap_or(0) + 1))?;
    /// db.update::<u32, _>("counter", |cur| Some(cur.unwrap_or(0) + 1))?;
    /// assert_eq!(db.require::<u32>("counter")?, 2);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::get`] for the current value, and as [`Tree::put`] for the new one.
    pub fn update<V, F>(&self, key: &str, f: F) -> Result<()>
    where
        V: Serialize + DeserializeOwned,
        F: FnOnce(Option<V>) -> Option<V>,
    {
        self.try_update(key, |current| Ok(f(current)))
    }

    /// [`Tree::update`] with a closure that may fail: an `Err` from `f` changes nothing
    /// and is returned as it is (`Error::abort("why")` makes one of your own).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// use microkv::Error;
    /// db.put("balance", &10u32)?;
    /// let debit = |amount: u32| {
    ///     db.try_update::<u32, _>("balance", |cur| {
    ///         let cur = cur.ok_or(Error::KeyNotFound)?;
    ///         let left = cur.checked_sub(amount).ok_or_else(|| Error::abort("insufficient funds"))?;
    ///         Ok(Some(left))
    ///     })
    /// };
    /// debit(4)?;
    /// assert!(matches!(debit(7), Err(Error::Aborted(_))));
    /// assert_eq!(db.require::<u32>("balance")?, 6);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// What `f` returns; otherwise as [`Tree::update`].
    pub fn try_update<V, F>(&self, key: &str, f: F) -> Result<()>
    where
        V: Serialize + DeserializeOwned,
        F: FnOnce(Option<V>) -> Result<Option<V>>,
    {
        let mut g = self.engine.lock_write()?;
        // Read, changed and sealed in one read region: the frames the value went through
        // are scrubbed once, after the seal, for both calls.
        let change = scrubbed(|| -> Result<_> {
            let (current, expires_at) = match g.read_live::<V>(&self.name, key)? {
                Some((value, expires_at)) => (Some(value), expires_at),
                None => (None, None),
            };
            let existed = current.is_some();
            Ok(match f(current)? {
                Some(value) => {
                    let sealed = g.seal(&self.name, key, &value, expires_at)?;
                    Some(self.change(key, Some(sealed)))
                }
                None if existed => Some(self.change(key, None)),
                None => None,
            })
        })?;
        match change {
            Some(change) => g.apply([change]),
            None => Ok(()),
        }
    }

    /// The value under `key`; if absent, stores `f()` and returns it, atomically. `f`
    /// runs under the writer lock: reads from inside it work, writes return
    /// `Error::Reentrant`.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// let seed: u32 = db.get_or_insert_with("seed", || 7)?;
    /// assert_eq!(seed, 7);
    /// assert_eq!(db.get_or_insert_with("seed", || 8)?, 7);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::get`]; when it inserts, as [`Tree::put`].
    pub fn get_or_insert_with<V, F>(&self, key: &str, f: F) -> Result<V>
    where
        V: Serialize + DeserializeOwned,
        F: FnOnce() -> V,
    {
        if let Some(value) = self.get(key)? {
            return Ok(value);
        }
        let mut g = self.engine.lock()?;
        // Looked up again under the writer lock: another writer may have inserted it.
        if let Some((value, _)) = scrubbed(|| g.read_live(&self.name, key))? {
            return Ok(value);
        }
        if self.engine.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let value = f();
        let entry = g.seal(&self.name, key, &value, None)?;
        g.apply([self.change(key, Some(entry))])?;
        Ok(value)
    }

    /// If the current value equals `expected` (`None`: absent), replaces it with `new`
    /// (`None`: remove) and returns `true`; otherwise changes nothing and returns `false`.
    /// Values are compared by their serialized bytes, in constant time.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("counter", &1u32)?;
    /// assert!(db.compare_and_swap("counter", Some(&1u32), Some(&2u32))?);
    /// assert!(!db.compare_and_swap("counter", Some(&1u32), Some(&3u32))?);
    /// assert_eq!(db.require::<u32>("counter")?, 2);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::put`], and as [`Tree::get`] for the current value.
    pub fn compare_and_swap<V: Serialize + ?Sized>(
        &self,
        key: &str,
        expected: Option<&V>,
        new: Option<&V>,
    ) -> Result<bool> {
        use subtle::ConstantTimeEq;
        let mut g = self.engine.lock_write()?;
        let live = g.live(&self.name, key)?;
        let expires_at = live.as_ref().and_then(|e| e.expires_at);
        let current = live.map(|e| g.open(&self.name, key, &e)).transpose()?;
        let matches = match (&current, expected) {
            (None, None) => true,
            (Some(cur), Some(exp)) => bool::from(cur.ct_eq(&g.encode(exp)?)),
            _ => false,
        };
        if !matches {
            return Ok(false);
        }
        let change = match new {
            Some(value) => self.change(key, Some(g.seal(&self.name, key, value, expires_at)?)),
            None if current.is_some() => self.change(key, None),
            None => return Ok(true),
        };
        g.apply([change])?;
        Ok(true)
    }
}
