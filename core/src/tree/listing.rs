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
use crate::space::Every;

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
            let wanted = Prefix::new(prefix.as_bytes());
            let (keyring, mut entries) =
                (self.engine).live_entries(&self.name, |k: &[u8]| wanted.of(k))?;
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
            let (keyring, entries) = self.engine.live_entries(&self.name, Every)?;
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

/// A prefix that a scan compares with every name, inline: `<[u8]>::starts_with` calls
/// `memcmp`, whose call dwarfs the compare of a short name, and a byte-at-a-time compare
/// was half a 100k-name scan's time. A prefix of at most 8 bytes is compared with a name
/// of at least 8 in one load, its bytes and mask made once per scan.
#[derive(Clone, Copy)]
struct Prefix<'p> {
    bytes: &'p [u8],
    /// The prefix's bytes as a little-endian word, the bytes past it zero.
    word: u64,
    /// The bits of a name's first 8 bytes that the prefix covers (0 if it is longer).
    mask: u64,
}

impl<'p> Prefix<'p> {
    fn new(bytes: &'p [u8]) -> Prefix<'p> {
        let mut head = [0; 8];
        let short = bytes.len() <= 8;
        if let Some(place) = head.get_mut(..bytes.len()) {
            place.copy_from_slice(bytes);
        }
        let bits = 8 * bytes.len() as u32;
        let mask = match (short, u64::MAX.checked_shl(bits)) {
            (false, _) => 0,
            (true, Some(past)) => !past,
            (true, None) => u64::MAX,
        };
        let word = u64::from_le_bytes(head);
        Prefix { bytes, word, mask }
    }

    /// Whether `key` starts with the prefix.
    #[inline]
    fn of(&self, key: &[u8]) -> bool {
        match key.get(..8).and_then(|head| <[u8; 8]>::try_from(head).ok()) {
            Some(head) if self.mask != 0 => (u64::from_le_bytes(head) ^ self.word) & self.mask == 0,
            _ => key.len() >= self.bytes.len() && key.iter().zip(self.bytes).all(|(k, p)| k == p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Prefix;

    /// The one-load compare agrees with `starts_with` for prefixes and names of every
    /// length around the word (0 to 10 bytes each), and differences at every place.
    #[test]
    fn prefix_compare_is_starts_with() {
        let base = b"abcdefghij";
        for plen in 0..=base.len() {
            for klen in 0..=base.len() {
                for flip in 0..=klen {
                    let mut key = base[..klen].to_vec();
                    if let Some(b) = key.get_mut(flip) {
                        *b ^= 0x20;
                    }
                    let prefix = &base[..plen];
                    let wanted = Prefix::new(prefix);
                    assert_eq!(wanted.of(&key), key.starts_with(prefix), "{plen} {key:?}");
                }
            }
        }
    }
}
