//! [`Txn`]: the handle a transaction's closure works through.
#![forbid(unsafe_code)]

use alloc::string::String;
use core::time::Duration;
use hashbrown::HashMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::engine::Exclusive;
use crate::entry::{Change, Entry};
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
    fn entry(&self, ns: &str, key: &str) -> Result<Option<Entry>> {
        match self.writes.get(ns).and_then(|w| w.get(key)) {
            Some(pending) => Ok(pending.clone()),
            None => self.g.live(ns, key),
        }
    }

    /// Names are copied only when new to the transaction (as `Contents::replace` does).
    fn write(&mut self, ns: &str, key: &str, entry: Option<Entry>) {
        (self.writes.entry_ref(ns).or_default())
            .entry_ref(key)
            .insert(entry);
    }

    /// The value of `ns`/`key` (`""` is the default namespace), including this
    /// transaction's own writes.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("k", &1u32)?;
    /// db.transaction(|tx| {
    ///     assert_eq!(tx.get::<u32>("", "k")?, Some(1));
    ///     tx.put("", "k", &2u32)?;
    ///     assert_eq!(tx.get::<u32>("", "k")?, Some(2)); // its own write
    ///     Ok(())
    /// })?;
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::Serialization` if the stored value does not decode as a `V`;
    /// `Error::SecureAlloc` if the arena cannot hold the decrypted value; `Error::Crypto`
    /// if a value fails authentication.
    pub fn get<V: DeserializeOwned>(&self, ns: &str, key: &str) -> Result<Option<V>> {
        match self.entry(ns, key)? {
            Some(entry) => crate::crypto::scrubbed(|| self.g.read(ns, key, &entry)).map(Some),
            None => Ok(None),
        }
    }

    /// The value of `ns`/`key`, which must be there.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("balance", &100u64)?;
    /// let b = db.transaction(|tx| tx.require::<u64>("", "balance"))?;
    /// assert_eq!(b, 100);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::KeyNotFound` if absent or expired (returning it from the closure rolls the
    /// transaction back); otherwise as [`Txn::get`].
    pub fn require<V: DeserializeOwned>(&self, ns: &str, key: &str) -> Result<V> {
        self.get(ns, key)?.ok_or(Error::KeyNotFound)
    }

    /// Whether `ns`/`key` has a live entry, as this transaction sees it.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.transaction(|tx| {
    ///     assert!(!tx.contains("", "k"));
    ///     tx.put("", "k", &1u8)?;
    ///     assert!(tx.contains("", "k"));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// An entry of a store file whose directory is damaged reads as absent here; the
    /// transaction's commit then fails (`Error::Tampered`) and applies nothing.
    pub fn contains(&self, ns: &str, key: &str) -> bool {
        self.entry(ns, key).is_ok_and(|e| e.is_some())
    }

    /// Stores `value` under `ns`/`key` when the transaction commits.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.transaction(|tx| {
    ///     tx.put("", "a", &1u8)?;
    ///     tx.put("audit", "last", "debit")
    /// })?;
    /// assert_eq!(db.namespace("audit").require::<String>("last")?, "debit");
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::Serialization` if `value` cannot be serialized; `Error::SecureAlloc` if the
    /// arena cannot hold it while it is sealed. The transaction's commit may fail as a
    /// write does (`Tree::put`).
    pub fn put<V: Serialize + ?Sized>(&mut self, ns: &str, key: &str, value: &V) -> Result<()> {
        self.put_entry(ns, key, value, None)
    }

    /// Stores `value` under `ns`/`key`, expiring `ttl` after the transaction's time.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// use std::time::Duration;
    /// db.transaction(|tx| tx.put_with_ttl("", "otp", "123456", Duration::from_secs(60)))?;
    /// assert!(db.contains("otp")?);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Txn::put`]; `Error::NoClock` if the store has no clock (only without `std`).
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
        let entry = self.g.seal(ns, key, value, self.g.expiry(ttl)?)?;
        self.write(ns, key, Some(entry));
        Ok(())
    }

    /// Removes `ns`/`key` when the transaction commits; returns whether it was there.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("k", &1u8)?;
    /// let was = db.transaction(|tx| tx.remove("", "k"))?;
    /// assert!(was);
    /// assert!(!db.contains("k")?);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::Tampered` if the lookup reads a chunk of the store file's directory that
    /// is not authentic.
    pub fn remove(&mut self, ns: &str, key: &str) -> Result<bool> {
        let existed = self.entry(ns, key)?.is_some();
        if existed {
            self.write(ns, key, None);
        }
        Ok(existed)
    }
}

// As for `Tree`: a panic inside a transaction's closure applies nothing, and the state it
// borrows (the writer's lock, the operation's cached time, a `spin::Once` that is not
// `RefUnwindSafe` by itself) is consistent whenever anything can panic. microkv 0.3's
// `Txn` was `RefUnwindSafe` too (tests/compat03 checks both).
impl core::panic::RefUnwindSafe for Txn<'_> {}

/// A transaction's handle may be sent to or shared with scoped threads (the cached time
/// of the operation is a `Once`, not a `Cell`): checked when this crate compiles.
const _: () = {
    fn send_sync<T: Send + Sync>() {}
    #[allow(dead_code)]
    fn txn_is_send_sync() {
        send_sync::<Txn<'static>>();
    }
};
