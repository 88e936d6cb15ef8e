//! [`Contents`]: what a store holds (its keys and its namespaces of sealed entries), and
//! the lookups and replacements every handle reaches it through.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::sync::Arc;
use hashbrown::HashMap;

use super::Now;
use crate::crypto::Keyring;
use crate::entry::{Change, Entry};
use crate::error::Result;
use crate::format::header::KeyHeader;
use crate::space::{same_name, Keep, Space, Stored};

/// What a store holds: its keys and its namespaces.
pub(crate) struct Contents {
    pub(crate) keyring: Arc<Keyring>,
    /// How many times the keyring was replaced (by a rekey): readers' scratch slots keep a
    /// reference to the keyring and renew it when this moves.
    pub(super) generation: u64,
    pub(crate) header: KeyHeader,
    pub(super) spaces: HashMap<String, Space>,
}

/// A namespace's name as a key to look `spaces` up by: hashed as its `String` is, and
/// compared by [`same_name`], without a call to `memcmp` for a short name (the default
/// one is empty): that call and its setup were 8-9 % of a hot get's samples.
struct NsName<'a>(&'a str);

impl core::hash::Hash for NsName<'_> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl hashbrown::Equivalent<String> for NsName<'_> {
    fn equivalent(&self, key: &String) -> bool {
        same_name(self.0.as_bytes(), key.as_bytes())
    }
}

impl From<&NsName<'_>> for String {
    fn from(name: &NsName<'_>) -> String {
        String::from(name.0)
    }
}

impl Contents {
    /// The namespace `ns`, if it holds anything.
    #[inline]
    pub(crate) fn space(&self, ns: &str) -> Option<&Space> {
        self.spaces.get(&NsName(ns))
    }

    /// Sets or removes one entry and returns what was there; drops emptied namespaces.
    /// `Tampered` (and nothing changed) if a v2 file's directory chunk it reads is not
    /// authentic; never after [`Contents::check`] of the change.
    pub(crate) fn replace(
        &mut self,
        ns: &str,
        key: &str,
        entry: Option<Entry>,
    ) -> Result<Option<Entry>> {
        replace_in(&mut self.spaces, ns, key, entry, true)
    }

    /// Sets or removes one entry, as [`Contents::replace`], without copying out what was
    /// there.
    pub(super) fn set(&mut self, ns: &str, key: &str, entry: Option<Entry>) -> Result<()> {
        replace_in(&mut self.spaces, ns, key, entry, false).map(drop)
    }

    /// Checks every directory chunk of the namespaces `changes` touch: after it, applying
    /// them cannot fail, so a write applies whole or not at all.
    pub(super) fn check(&self, changes: &[Change<'_>]) -> Result<()> {
        (changes.iter())
            .filter_map(|c| self.space(c.ns))
            .try_for_each(Space::check)
    }

    /// Applies `changes` in order: all of them, after [`Contents::check`] of them (which
    /// every caller makes before it writes anything durable).
    pub(super) fn replace_all<'c>(
        &mut self,
        changes: impl IntoIterator<Item = Change<'c>>,
    ) -> Result<()> {
        changes
            .into_iter()
            .try_for_each(|c| self.set(c.ns, c.key, c.entry))
    }

    /// Drops every entry expired by `now` (and the namespaces this empties).
    pub(super) fn purge_expired(&mut self, now: u64) -> Result<()> {
        self.spaces.values().try_for_each(Space::check)?;
        for space in self.spaces.values_mut() {
            space.retain_live(now)?;
        }
        self.spaces.retain(|_, space| !space.is_empty());
        Ok(())
    }

    /// The live entry under `ns`/`key`, if any.
    pub(super) fn live<'c>(
        &'c self,
        now: &Now<'_>,
        ns: &str,
        key: &'c str,
    ) -> Result<Option<Stored<'c>>> {
        let Some(space) = self.space(ns) else {
            return Ok(None);
        };
        Ok(space.get(key)?.filter(|e| now.is_live(e.expires_at)))
    }

    /// The live entries of `ns` whose names' bytes pass `keep` (the others are passed
    /// over on their names alone).
    pub(super) fn live_in<'s>(
        &'s self,
        now: &'s Now<'_>,
        ns: &str,
        keep: impl Keep + 's,
    ) -> Result<impl Iterator<Item = Stored<'s>> + 's> {
        let entries = match self.space(ns) {
            Some(space) => Some(space.iter_keyed(keep)?),
            None => None,
        };
        Ok((entries.into_iter().flatten()).filter(|e| now.is_live(e.expires_at)))
    }

    /// The entry under `ns`/`key`, live or not (for tests that tamper with it).
    #[cfg(test)]
    pub(crate) fn raw(&self, ns: &str, key: &str) -> Option<Entry> {
        Some(self.space(ns)?.get(key).ok()??.to_entry())
    }
}

/// Sets or removes one entry of `spaces` and returns what was there if `old` (a copy);
/// drops an emptied namespace (for [`Contents::replace`], and for namespaces read aside
/// before they become the contents).
pub(super) fn replace_in(
    spaces: &mut HashMap<String, Space>,
    ns: &str,
    key: &str,
    entry: Option<Entry>,
    old: bool,
) -> Result<Option<Entry>> {
    match entry {
        Some(entry) => (spaces.entry_ref(&NsName(ns)).or_default()).insert(key, &entry, old),
        None => {
            let Some(space) = spaces.get_mut(&NsName(ns)) else {
                return Ok(None);
            };
            let old = space.remove(key, old)?;
            if space.is_empty() {
                spaces.remove(&NsName(ns));
            }
            Ok(old)
        }
    }
}
