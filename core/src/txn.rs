//! [`Txn`]: the handle a transaction's closure works through.
#![forbid(unsafe_code)]

use alloc::string::String;
use core::time::Duration;
use hashbrown::HashMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::engine::Exclusive;
use crate::entry::{encode, Change, Entry};
use crate::error::{Error, Result};

/// A transaction in progress. Namespaces are named explicitly (`""` is the default).
/// Writes are sealed at once and kept aside; they reach the store together when the
/// transaction's closure returns `Ok`, so the cost is in proportion to what the
/// transaction touches, never to the store's size.
pub struct Txn<'a> {
    g: &'a Exclusive<'a>,
    writes: Writes,
}

/// A transaction's pending writes: namespace -> key -> entry (`None`: removal).
pub(crate) type Writes = HashMap<String, HashMap<String, Option<Entry>>>;

/// The writes as changes to apply, borrowing their names.
pub(crate) fn changes(writes: &mut Writes) -> impl Iterator<Item = Change<'_>> {
    writes.iter_mut().flat_map(|(ns, keys)| {
        keys.iter_mut().map(move |(key, entry)| Change {
            ns,
            key,
            entry: entry.take(),
        })
    })
}

impl<'a> Txn<'a> {
    pub(crate) fn new(g: &'a Exclusive<'a>) -> Self {
        Txn {
            g,
            writes: HashMap::new(),
        }
    }

    /// The pending writes, to be applied once the transaction's borrow of the state ends.
    pub(crate) fn into_writes(self) -> Writes {
        self.writes
    }

    /// The live entry as this transaction sees it: its own writes first.
    fn entry(&self, ns: &str, key: &str) -> Option<Entry> {
        match self.writes.get(ns).and_then(|w| w.get(key)) {
            Some(pending) => pending.clone(),
            None => self.g.live(ns, key),
        }
    }

    fn write(&mut self, ns: &str, key: &str, entry: Option<Entry>) {
        self.writes
            .entry(String::from(ns))
            .or_default()
            .insert(String::from(key), entry);
    }

    /// The value of `ns`/`key`, including this transaction's own writes.
    pub fn get<V: DeserializeOwned>(&self, ns: &str, key: &str) -> Result<Option<V>> {
        match self.entry(ns, key) {
            Some(entry) => self.g.read(ns, key, &entry).map(Some),
            None => Ok(None),
        }
    }

    /// The value of `ns`/`key`; `Error::KeyNotFound` if absent.
    pub fn require<V: DeserializeOwned>(&self, ns: &str, key: &str) -> Result<V> {
        self.get(ns, key)?.ok_or(Error::KeyNotFound)
    }

    /// Whether `ns`/`key` has a live entry.
    pub fn contains(&self, ns: &str, key: &str) -> bool {
        self.entry(ns, key).is_some()
    }

    /// Stores `value` under `ns`/`key` when the transaction commits.
    pub fn put<V: Serialize + ?Sized>(&mut self, ns: &str, key: &str, value: &V) -> Result<()> {
        self.put_entry(ns, key, value, None)
    }

    /// Stores `value` under `ns`/`key`, expiring `ttl` after the transaction's time.
    pub fn put_with_ttl<V: Serialize + ?Sized>(
        &mut self,
        ns: &str,
        key: &str,
        value: &V,
        ttl: Duration,
    ) -> Result<()> {
        self.put_entry(ns, key, value, Some(ttl))
    }

    fn put_entry<V: Serialize + ?Sized>(
        &mut self,
        ns: &str,
        key: &str,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let plain = encode(self.g.arena(), self.g.values(), value)?;
        let entry = self.g.seal(ns, key, &plain, self.g.expiry(ttl)?)?;
        self.write(ns, key, Some(entry));
        Ok(())
    }

    /// Removes `ns`/`key` when the transaction commits; returns whether it was there.
    pub fn remove(&mut self, ns: &str, key: &str) -> Result<bool> {
        let existed = self.entry(ns, key).is_some();
        if existed {
            self.write(ns, key, None);
        }
        Ok(existed)
    }
}

/// A transaction's handle may be sent to or shared with scoped threads (the cached time
/// of the operation is a `Once`, not a `Cell`): checked when this crate compiles.
const _: () = {
    fn send_sync<T: Send + Sync>() {}
    #[allow(dead_code)]
    fn txn_is_send_sync() {
        send_sync::<Txn<'static>>();
    }
};
