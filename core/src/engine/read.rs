//! The readers: every call that only looks, each holding the contents' lock shared just
//! long enough to copy entries out, and decrypting after.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use serde::de::DeserializeOwned;

use super::{Contents, Engine, LiveEntries, Now};
use crate::arena::SecretBuf;
use crate::codec::decode;
use crate::crypto::Keyring;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::kdf::KdfParams;
use crate::space::{Every, Keep, Space};

impl Engine {
    /// Runs `f` over the contents, shared with other readers.
    fn read<T>(&self, f: impl FnOnce(&Contents, &Now<'_>) -> T) -> T {
        let now = Now::new(self);
        f(&self.contents.read(), &now)
    }

    /// The live value of `ns`/`key`, decoded as a `V`; `None` if absent or expired
    /// ([`Engine::read_live`] at the time of the call).
    pub(crate) fn read_value<V: DeserializeOwned>(&self, ns: &str, key: &str) -> Result<Option<V>> {
        let found = self.read_live(&Now::new(self), ns, key)?;
        Ok(found.map(|(value, _)| value))
    }

    /// The value of `ns`/`key` live at `now`, decoded as a `V`, and its expiry; `None` if
    /// absent or expired. The contents' lock is held only to copy the entry out; the
    /// value is decrypted after, into the calling thread's scratch slot when it is free
    /// and the value fits. A value that fits is copied into the slot rather than shared
    /// (see `Slot::copy`), so that reader threads write no cache line in common but their
    /// lock shards' (and a write that reads first, `update`, allocates nothing for it).
    pub(crate) fn read_live<V: DeserializeOwned>(
        &self,
        now: &Now<'_>,
        ns: &str,
        key: &str,
    ) -> Result<Option<(V, Option<u64>)>> {
        let f = |plain: &[u8]| decode(plain);
        let mut slot = self.scratch.claim();
        let (found, expires_at) = {
            let c = self.contents.read();
            // (A v2 file's lookup is `Forked` in a forked child: its name hash says so.)
            let Some(entry) = c.live(now, ns, key)? else {
                return Ok(None);
            };
            let copied =
                (slot.as_deref_mut()).is_some_and(|s| s.copy(c.generation, &c.keyring, &entry));
            let expires_at = entry.expires_at;
            let found = match copied {
                true => Found::InSlot,
                false => Found::Shared(entry.to_entry(), c.keyring.clone()),
            };
            (found, expires_at)
        };
        let value = match (found, slot.as_deref_mut()) {
            (Found::Shared(entry, keyring), _) => f(&entry.open(&keyring, &self.arena, ns, key)?),
            (Found::InSlot, slot) => {
                (slot.ok_or(Error::Crypto)?).open_copy(&self.arena, (ns, key), f)
            }
        }?;
        Ok(Some((value, expires_at)))
    }

    /// Opens `entry` (the value of `ns`/`key`, copied out under `keyring`) and decodes it
    /// as a `V`, through the calling thread's scratch slot when it is free.
    pub(crate) fn read_entry<V: DeserializeOwned>(
        &self,
        keyring: &Keyring,
        entry: &Entry,
        (ns, key): (&str, &str),
    ) -> Result<V> {
        let f = |plain: &[u8]| decode(plain);
        match self.scratch.claim() {
            Some(mut slot) => slot.open(&self.arena, keyring, entry, (ns, key), f),
            None => f(&entry.open(keyring, &self.arena, ns, key)?),
        }
    }

    /// Opens the live value of `ns`/`key` into the arena; `None` if absent or expired.
    /// The lock is held only to copy the entry out: the decryption runs without it.
    pub(crate) fn open_live(&self, ns: &str, key: &str) -> Result<Option<SecretBuf>> {
        let found = self.read(|c, now| {
            let live = c.live(now, ns, key)?;
            Ok::<_, Error>(live.map(|entry| (c.keyring.clone(), entry.to_entry())))
        })?;
        match found {
            Some((keyring, entry)) => entry.open(&keyring, &self.arena, ns, key).map(Some),
            None => Ok(None),
        }
    }

    /// The expiry of the live entry under `ns`/`key` (`Some(None)`: it has no TTL), and
    /// the store's time now if it has one; `None` if absent or expired.
    #[allow(clippy::type_complexity)]
    pub(crate) fn expiry_of(
        &self,
        ns: &str,
        key: &str,
    ) -> Result<Option<(Option<u64>, Option<u64>)>> {
        self.read(|c, now| {
            let Some(entry) = c.live(now, ns, key)? else {
                return Ok(None);
            };
            let expires_at = entry.expires_at;
            Ok(Some((expires_at, expires_at.and(now.get()))))
        })
    }

    /// Whether a live entry exists under `ns`/`key`.
    pub(crate) fn contains(&self, ns: &str, key: &str) -> Result<bool> {
        self.read(|c, now| Ok(c.live(now, ns, key)?.is_some()))
    }

    /// The number of live entries of `ns`.
    pub(crate) fn count_live(&self, ns: &str) -> Result<usize> {
        self.read(|c, now| {
            c.space(ns)
                .map_or(Ok(0), |s| s.count_live(|e| now.is_live(e)))
        })
    }

    /// The names of the live entries of `ns`, in no particular order.
    pub(crate) fn live_keys(&self, ns: &str) -> Result<Vec<String>> {
        self.read(|c, now| {
            // Room for them all at once: a vector grown by doubling faulted in fresh pages
            // at each step (a third of the call's time at 100k names).
            let space = c.space(ns);
            let mut keys = Vec::with_capacity(space.map_or(0, Space::len));
            if let Some(names) = space.and_then(Space::live_names) {
                keys.extend(names.map(String::from));
                return Ok(keys);
            }
            keys.extend(c.live_in(now, ns, Every)?.map(|e| String::from(e.key)));
            Ok(keys)
        })
    }

    /// The live entries of `ns` whose names' bytes pass `keep`, copied out with the
    /// keyring that opens them, so that they can be decrypted without holding the lock.
    pub(crate) fn live_entries(&self, ns: &str, keep: impl Keep) -> Result<LiveEntries> {
        self.read(|c, now| {
            let entries = (c.live_in(now, ns, keep)?)
                .map(|e| (String::from(e.key), e.to_entry()))
                .collect();
            Ok((c.keyring.clone(), entries))
        })
    }

    /// Names of the namespaces holding at least one live entry, sorted.
    pub(crate) fn namespaces(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self.read(|c, now| {
            let mut names = Vec::new();
            for (name, space) in &c.spaces {
                if space.any_live(|e| now.is_live(e))? {
                    names.push(name.clone());
                }
            }
            Ok::<_, Error>(names)
        })?;
        names.sort_unstable();
        Ok(names)
    }

    /// The contents, held exclusively (for tests that tamper with entries).
    #[cfg(test)]
    pub(crate) fn contents_for_test(&self) -> impl core::ops::DerefMut<Target = Contents> + '_ {
        self.contents.write()
    }

    /// The keyring of the moment (for the `testing` feature's key accessor).
    #[cfg(feature = "testing")]
    pub(crate) fn keyring(&self) -> alloc::sync::Arc<Keyring> {
        self.contents.read().keyring.clone()
    }

    /// The KDF parameters in the key header; `None` for a raw-key store.
    pub(crate) fn kdf_params(&self) -> Option<KdfParams> {
        self.read(|c, _| c.header.kdf)
    }
}

/// Where a read found a live entry, once it let go of the contents' lock.
enum Found {
    /// Copied into the calling thread's scratch slot (`Slot::copy`), to open there.
    InSlot,
    /// Shared (too long for the slot, or no slot was free): the entry and the keyring it
    /// opens under.
    Shared(Entry, Arc<Keyring>),
}
