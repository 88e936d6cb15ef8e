//! How a [`Store`] meets its storage: saving (`save`, `flush`, `close`), catching up with
//! other handles (`reload`), where its durable state stands (`position`), and its bytes
//! (`export`).
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use super::Store;
use crate::config::AutoSave;
use crate::error::Result;
use crate::format::position::Position;

impl Store {
    /// Where the store's durable state stands ([`Position`]): pin it outside the store's
    /// files to detect a rollback the format cannot (an older snapshot and journal put
    /// back, after a rekey too, a journal cut back at a record boundary): its bytes after
    /// each write, compared exactly, or its [`Position::order`] whenever convenient, with
    /// any lower order refused. `None` while nothing this handle
    /// wrote or loaded is durable (a new store before its first save; after a failed
    /// write, until the next save), and from inside one of the store's own closures (an
    /// `update`'s, a transaction's), whose operation is about to move it.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, MemoryStorage, Store};
    /// let db = Store::with_storage(MemoryStorage::default(), Credential::key([1; 32]), Default::default())?;
    /// db.save()?;
    /// let before = db.position().expect("saved");
    /// db.put("k", &1u8)?;
    /// db.save()?;
    /// let after = db.position().expect("saved");
    /// assert_ne!(after, before);
    /// assert!(after.order() > before.order());
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn position(&self) -> Option<Position> {
        self.engine.position()
    }

    /// Writes the store to its storage, atomically: a crash leaves the old snapshot or
    /// the new one (a file store: the old file or the new one). The journal, if any,
    /// starts afresh after it.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Config, Credential, MemoryStorage, Store};
    /// let storage = MemoryStorage::default();
    /// let db = Store::with_storage(storage.clone(), Credential::key([1; 32]), Config::default())?;
    /// db.put("k", &1u8)?;
    /// db.save()?;
    /// let other = Store::with_storage(storage, Credential::key([1; 32]), Config::default())?;
    /// assert_eq!(other.require::<u8>("k")?, 1);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::NoPath` for an in-memory store; `Error::ReadOnly` for a read-only one;
    /// `Error::Reentrant` from inside one of this store's own closures; on a shared
    /// storage, the errors of catching up first (as [`Store::reload`]);
    /// `Error::CredentialChanged` if another handle or process changed the store's
    /// credential since this one loaded it (nothing is written); `Error::TooLarge` past
    /// [`crate::MAX_STORE_LEN`]; `Error::Forked` in a forked child, `Error::Crypto` if the
    /// nonce counter is spent; `Error::Io` if locking or writing fails (the storage keeps
    /// the old snapshot); `Error::NotDurable` if the new snapshot is in place but not
    /// known to be durable (a file store: a failed directory sync).
    pub fn save(&self) -> Result<()> {
        self.engine.lock()?.save()
    }

    /// Saves now what an autosave would save later: the writes not yet in storage under
    /// `AutoSave::Periodic` or `OnDrop` (or after an `OnEveryWrite` save that failed).
    /// Nothing under `AutoSave::Manual` (only [`Store::save`] writes there), on a
    /// read-only or in-memory store, or when nothing is unsaved.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{AutoSave, Config, Credential, MemoryStorage, Store};
    /// let storage = MemoryStorage::default();
    /// let config = Config { autosave: AutoSave::OnDrop, ..Default::default() };
    /// let db = Store::with_storage(storage.clone(), Credential::key([7; 32]), config)?;
    /// db.put("k", &1u8)?;
    /// db.flush()?; // in storage now, while `db` stays open
    /// let other = Store::with_storage(storage, Credential::key([7; 32]), Default::default())?;
    /// assert_eq!(other.require::<u8>("k")?, 1);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// The errors of [`Store::save`] but `NoPath` and `ReadOnly` (those save nothing);
    /// the writes stay unsaved (a later autosave retries).
    pub fn flush(&self) -> Result<()> {
        if self.engine.autosave() == AutoSave::Manual {
            return Ok(());
        }
        self.engine.save_pending("flush")
    }

    /// Closes the store: stops its periodic saver and saves what is unsaved (as
    /// [`Store::flush`]), returning that save's result, which dropping the store cannot.
    /// Dropping it afterwards saves nothing more.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{AutoSave, Config, Credential, MemoryStorage, Store};
    /// let storage = MemoryStorage::default();
    /// let config = Config { autosave: AutoSave::OnDrop, ..Default::default() };
    /// let db = Store::with_storage(storage.clone(), Credential::key([7; 32]), config)?;
    /// db.put("k", &1u8)?;
    /// db.close()?; // the save's error, if it failed
    /// let db = Store::with_storage(storage, Credential::key([7; 32]), Default::default())?;
    /// assert_eq!(db.require::<u8>("k")?, 1);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Store::flush`]: the writes are then lost with the store.
    pub fn close(mut self) -> Result<()> {
        #[cfg(feature = "std")]
        drop(self.flusher.take());
        self.closed = true;
        self.flush()
    }

    /// Catches up with what other handles of this store's storage (in this process or
    /// others) committed since this handle last did: after `reload` returns `Ok`, reads
    /// see every write any handle acknowledged before the call (and this handle's own
    /// unsaved changes, which keep their values). Works on read-only handles too. A
    /// storage this handle owns alone (`LockMode::Exclusive`, an in-memory store) has
    /// nothing to catch up with: `Ok` at once.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, Store};
    /// let db = Store::in_memory(Credential::key([1; 32]))?;
    /// db.reload()?; // nothing to catch up with
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::CredentialChanged` if another handle changed the credential (reopen with
    /// the new one); `Error::NotFound` if the store file was deleted; `Error::Tampered`
    /// or `Error::CorruptStore` for a damaged snapshot or journal; `Error::Io` if reading
    /// fails; `Error::Reentrant` from inside one of the store's closures. On an error the
    /// handle keeps what it had.
    pub fn reload(&self) -> Result<()> {
        self.engine.reload()
    }

    /// The store as the bytes of a store file (encrypted; what `save` would write, but
    /// a copy that starts a history of its own). Touches no storage, so it works on
    /// read-only and in-memory stores. Readers carry on meanwhile.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Config, Credential, MemoryStorage, Storage, Store};
    /// let db = Store::in_memory(Credential::key([9; 32]))?;
    /// db.put("k", &1u8)?;
    /// let bytes: Vec<u8> = db.export()?;
    /// assert!(bytes.starts_with(&microkv::MAGIC));
    /// let storage = MemoryStorage::default();
    /// storage.store(&bytes)?;
    /// let copy = Store::with_storage(storage, Credential::key([9; 32]), Config::default())?;
    /// assert_eq!(copy.require::<u8>("k")?, 1);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::TooLarge` past [`crate::MAX_STORE_LEN`]; `Error::Forked` in a forked
    /// child; `Error::Crypto` if sealing fails (the nonce counter is spent).
    pub fn export(&self) -> Result<Vec<u8>> {
        self.engine.snapshot()
    }
}
