//! Looking through a [`Tree`]: how many entries it has, their names, and their values in
//! bulk (`prefix`, `for_each`).
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use serde::de::DeserializeOwned;

use super::Tree;
use crate::crypto::scrubbed;
use crate::error::Result;

impl Tree {
    /// The number of live entries (decrypts nothing).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("a", &1u8)?;
    /// db.put("b", &2u8)?;
    /// assert_eq!(db.len()?, 2);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// Only a due catch-up's (see [`Tree`]): it reads key names and expiries only, which
    /// hold no secret and need no keyring (so it works in a forked child too).
    pub fn len(&self) -> Result<usize> {
        self.engine.refresh_if_due()?;
        self.engine.count_live(&self.name)
    }

    /// Whether this namespace has no live entry.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// assert!(db.namespace("new").is_empty()?);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::len`].
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The names of the live entries, in no particular order (decrypts nothing).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("a", &1u8)?;
    /// assert_eq!(db.keys()?, ["a"]);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::len`].
    pub fn keys(&self) -> Result<Vec<String>> {
        self.engine.refresh_if_due()?;
        self.engine.live_keys(&self.name)
    }

    /// The names of the live entries, sorted.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("b", &1u8)?;
    /// db.put("a", &2u8)?;
    /// assert_eq!(db.keys_sorted()?, ["a", "b"]);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::len`].
    pub fn keys_sorted(&self) -> Result<Vec<String>> {
        let mut keys = self.keys()?;
        keys.sort_unstable();
        Ok(keys)
    }

    /// Decrypts every live entry whose name starts with `prefix`, sorted by name.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// let users = db.namespace("users");
    /// users.put("admin:root", &1u32)?;
    /// users.put("admin:ops", &2u32)?;
    /// users.put("guest", &3u32)?;
    /// let admins: Vec<(String, u32)> = users.prefix("admin:")?;
    /// assert_eq!(admins, [("admin:ops".to_string(), 2), ("admin:root".to_string(), 1)]);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::get`], for any of the entries.
    pub fn prefix<V: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, V)>> {
        self.engine.refresh_if_due()?;
        scrubbed(|| {
            let (keyring, mut entries) = self
                .engine
                .live_entries(&self.name, |k| has_prefix(k, prefix.as_bytes()))?;
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            entries
                .into_iter()
                .map(|(k, e)| {
                    let v = (self.engine).read_entry(&keyring, &e, (&self.name, &k))?;
                    Ok((k, v))
                })
                .collect::<Result<Vec<(String, V)>>>()
        })
    }

    /// Calls `f` with each live entry (a snapshot taken at the call) until it returns
    /// `ControlFlow::Break`. The store is not locked while `f` runs, so `f` may use it.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// use core::ops::ControlFlow;
    /// db.put("a", &1u32)?;
    /// db.put("b", &2u32)?;
    /// let mut sum = 0;
    /// db.for_each::<u32, _>(|_, v| {
    ///     sum += v;
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert_eq!(sum, 3);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::get`], for any of the entries.
    pub fn for_each<V, F>(&self, mut f: F) -> Result<()>
    where
        V: DeserializeOwned,
        F: FnMut(&str, V) -> ControlFlow<()>,
    {
        self.engine.refresh_if_due()?;
        scrubbed(|| {
            let (keyring, entries) = self.engine.live_entries(&self.name, |_| true)?;
            for (k, e) in entries {
                let value = (self.engine).read_entry(&keyring, &e, (&self.name, &k))?;
                if f(&k, value).is_break() {
                    break;
                }
            }
            Ok(())
        })
    }
}

/// Whether `key` starts with `prefix`, compared a byte at a time inline: a scan asks it of
/// every name, and `<[u8]>::starts_with` calls `memcmp`, whose call dwarfs the compare of
/// a short name (most of a prefix scan's time at 100k entries).
#[inline]
fn has_prefix(key: &[u8], prefix: &[u8]) -> bool {
    key.len() >= prefix.len() && key.iter().zip(prefix).all(|(k, p)| k == p)
}
