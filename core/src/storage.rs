//! Where snapshots and their journals live: the [`Storage`] seam and [`MemoryStorage`].
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use crate::error::{corrupt, Error, Result};
use crate::sync::Mutex;

/// A place that holds one store snapshot and, optionally, a journal of the writes since.
///
/// Contract, for every method that writes (docs/DECISIONS.md, 6, 15 and 23):
/// - `Ok`: applied and durable.
/// - `Error::NotDurable`: applied (a fresh reader, in this process or another, may see
///   it), durability unknown: a crash may still undo it.
/// - Any other error: not applied, as a fresh reader of the storage sees it, whatever a
///   cache in between does. A failed sync is never retried as if nothing had happened
///   (after a failed `fsync` the kernel may have dropped the dirty pages, and a later one
///   report success): the write is undone and the undoing made durable before the error
///   is returned, or else the error is `NotDurable`.
///
/// So [`Storage::store`] is all-or-nothing. After it returns `Ok`, `load` returns the
/// new bytes; after it fails, or after a crash at any point inside it, `load` returns
/// either the previous bytes or the new ones, never a mix. `Error::NotDurable` means the
/// new bytes are in place (`load` returns them) but are not known to survive a crash;
/// any other error means `load` still returns the previous bytes. A failure once the
/// new bytes are in place (syncing the directory, emptying the journal) is `NotDurable`:
/// a rotation's caller must learn that the new credential is on disk. (A crash, which
/// returns nothing, may leave either.)
///
/// The journal is a byte string the store appends to (it names the snapshot it extends,
/// so a journal left over from an older snapshot is recognised and ignored). A storage
/// that keeps no journal leaves the two journal methods at their defaults; the store then
/// rewrites the whole snapshot on every autosaved write.
pub trait Storage: Send + Sync {
    /// The bytes of the last complete `store`, or `None` if nothing was ever stored.
    fn load(&self) -> Result<Option<Vec<u8>>>;
    /// Atomically replaces the stored bytes. The journal may be emptied (it should be,
    /// so that old records do not linger), or left as it is.
    fn store(&self, bytes: &[u8]) -> Result<()>;
    /// [`Storage::store`], only if the stored snapshot still begins with `expected`:
    /// otherwise `Error::CredentialChanged`, and nothing is written. If nothing is stored,
    /// it stores.
    ///
    /// A store saves through this with the key part of the header it loaded or last
    /// wrote (bytes `0..144`: KDF, salt, commitment, wrapped data key), so that a handle
    /// never puts back a credential that another handle rotated away. The check and the
    /// replacement must be one step for every writer of this storage, across handles and
    /// processes ([`MemoryStorage`] compares under its lock; a file storage locks the file
    /// it replaces). The default loads, compares, then stores: another writer may slip in
    /// between, so a storage shared by several writers should override it.
    fn store_replacing(&self, expected: &[u8], bytes: &[u8]) -> Result<()> {
        match self.load()? {
            Some(current) if !current.starts_with(expected) => Err(Error::CredentialChanged),
            _ => self.store(bytes),
        }
    }
    /// Cuts the journal to its first `keep` bytes (never more than it holds), appends
    /// `bytes`, and returns once all of that is durable: `Ok(true)`. `Ok(false)` (the
    /// default) means this storage keeps no journal, and nothing was written.
    ///
    /// After an error other than `Error::NotDurable`, a fresh `load_journal` returns the
    /// first `keep` bytes followed by at most a proper prefix of `bytes` (what was there
    /// after `keep` may be partly left too, if the error came before the record was
    /// written): the record did not commit. After `NotDurable` the whole record may be
    /// there or not, and the store treats the write as done but saves a snapshot before
    /// it appends again. A crash inside the call may leave any prefix of `bytes`; the
    /// store treats an incomplete tail as not committed.
    fn append(&self, keep: u64, bytes: &[u8]) -> Result<bool> {
        let _ = (keep, bytes);
        Ok(false)
    }
    /// Every byte of the journal; empty if there is none (the default).
    fn load_journal(&self) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }
    /// [`Storage::load`], but `Error::TooLarge` when the snapshot is longer than `max`
    /// bytes. The store opens through this with the format's bound
    /// ([`crate::MAX_STORE_LEN`]). The default loads, then checks; a storage whose
    /// snapshot's length is known before reading it (a file) should check first, so that a
    /// file grown to gigabytes (even of holes) never reaches memory.
    fn load_at_most(&self, max: u64) -> Result<Option<Vec<u8>>> {
        let bytes = self.load()?;
        match &bytes {
            Some(b) => check_len(b.len() as u64, max).map(|()| bytes),
            None => Ok(None),
        }
    }
    /// The snapshot, for an open: [`Snapshot::File`] (a handle kept open on it, read a
    /// piece at a time: an open then reads a version 2 file's header, toc and directories,
    /// and each value's records when a read first needs them), or its bytes; `None` if
    /// nothing is stored. `Error::TooLarge` past `max`, as [`Storage::load_at_most`]. The
    /// default is `load_at_most`'s bytes. A storage should return a file only if the
    /// bytes under the handle never change while it is open (a save must replace the
    /// file, as a rename does, never write into it), and if keeping it open does not
    /// keep the storage from replacing it (so not on Windows, where it would).
    ///
    /// # Errors
    /// As [`Storage::load_at_most`].
    fn open_snapshot(&self, max: u64) -> Result<Option<Snapshot>> {
        Ok(self.load_at_most(max)?.map(Snapshot::Bytes))
    }
    /// Whether other handles (other processes) may write this storage while this one is
    /// open, so that every write must first catch up with theirs (docs/DECISIONS.md, 32).
    /// `false` (the default): this handle is the storage's only writer, and the store
    /// trusts what it last loaded or wrote.
    fn is_shared(&self) -> bool {
        false
    }
    /// Takes the storage's write lock for the course of one operation: while the returned
    /// guard lives, no other handle of a shared storage ([`Storage::is_shared`]) stores,
    /// appends or catches up. Waits for another holder; a holder that dies releases it.
    /// The default takes none.
    fn lock_writes(&self) -> Result<WriteLock> {
        Ok(WriteLock::none())
    }
    /// The first `len` bytes of the snapshot (fewer if it is shorter), or `None` if nothing
    /// is stored: how a shared handle checks which snapshot is in place without reading
    /// it all. The default loads the whole snapshot and cuts it.
    fn load_head(&self, len: usize) -> Result<Option<Vec<u8>>> {
        Ok(self.load()?.map(|mut bytes| {
            bytes.truncate(len);
            bytes
        }))
    }
    /// The journal's length in bytes (0 if there is none). The default loads it.
    fn journal_len(&self) -> Result<u64> {
        Ok(self.load_journal()?.len() as u64)
    }
    /// The journal's bytes from offset `from` to its end (empty if it is not longer than
    /// `from`), or `Error::TooLarge` if they are more than `max`: what a shared handle
    /// reads to catch up with records appended since its last known position. The
    /// default loads the whole journal and cuts it.
    fn load_journal_from(&self, from: u64, max: u64) -> Result<Vec<u8>> {
        let bytes = self.load_journal()?;
        let from = usize::try_from(from).unwrap_or(usize::MAX).min(bytes.len());
        check_len((bytes.len() - from) as u64, max)?;
        Ok(bytes[from..].to_vec())
    }
    /// [`Storage::load_journal`], but `Error::TooLarge` when the journal is longer than
    /// `max` bytes ([`crate::MAX_JOURNAL_LEN`] when a store opens), checked first where
    /// it can be (see [`Storage::load_at_most`]).
    fn load_journal_at_most(&self, max: u64) -> Result<Vec<u8>> {
        let bytes = self.load_journal()?;
        check_len(bytes.len() as u64, max).map(|()| bytes)
    }
}

/// A stored snapshot as [`Storage::open_snapshot`] hands it to an open.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{MemoryStorage, Snapshot, Storage};
/// let storage = MemoryStorage::default();
/// storage.store(b"bytes")?;
/// assert!(matches!(storage.open_snapshot(1 << 20)?, Some(Snapshot::Bytes(b)) if b == b"bytes"));
/// # Ok::<(), microkv::Error>(())
/// ```
#[non_exhaustive]
pub enum Snapshot {
    /// Its bytes, read whole.
    Bytes(Vec<u8>),
    /// A handle kept open on it.
    File(Box<dyn SnapshotFile>),
}

/// A snapshot kept open and read a piece at a time ([`Snapshot::File`]): its bytes must
/// not change while it is open (what a reader checked at open, it trusts after).
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{Error, SnapshotFile};
/// struct InMemory(Vec<u8>);
/// impl SnapshotFile for InMemory {
///     fn len(&self) -> u64 {
///         self.0.len() as u64
///     }
///     fn read_exact_at(&self, at: u64, buf: &mut [u8]) -> microkv::Result<()> {
///         let at = usize::try_from(at).map_err(|_| Error::Tampered)?;
///         let bytes = self.0.get(at..at + buf.len()).ok_or(Error::Tampered)?;
///         buf.copy_from_slice(bytes);
///         Ok(())
///     }
/// }
/// let file = InMemory(b"snapshot".to_vec());
/// let mut buf = [0u8; 4];
/// file.read_exact_at(4, &mut buf)?;
/// assert_eq!(&buf, b"shot");
/// assert!(file.read_exact_at(6, &mut buf).is_err());
/// # Ok::<(), microkv::Error>(())
/// ```
pub trait SnapshotFile: Send + Sync {
    /// Its length in bytes, when it was opened.
    fn len(&self) -> u64;
    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` with the bytes at offset `at`.
    ///
    /// # Errors
    /// `Error::Tampered` if the file no longer holds them (it was cut short since it was
    /// opened: someone wrote into it), `Error::Io` if reading fails.
    fn read_exact_at(&self, at: u64, buf: &mut [u8]) -> Result<()>;
    /// Appends the `len` bytes at offset `at` to `out`, as [`SnapshotFile::read_exact_at`]
    /// reads them; on an error `out` is as it was. What the store calls for its large reads
    /// (an open's directories, a get's group of records): the provided method zeroes the
    /// bytes it then reads over, which an implementation may skip by reading into `out`'s
    /// spare capacity.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Error, SnapshotFile};
    /// struct InMemory(Vec<u8>);
    /// impl SnapshotFile for InMemory {
    ///     fn len(&self) -> u64 {
    ///         self.0.len() as u64
    ///     }
    ///     fn read_exact_at(&self, at: u64, buf: &mut [u8]) -> microkv::Result<()> {
    ///         let at = usize::try_from(at).map_err(|_| Error::Tampered)?;
    ///         let bytes = self.0.get(at..at + buf.len()).ok_or(Error::Tampered)?;
    ///         buf.copy_from_slice(bytes);
    ///         Ok(())
    ///     }
    /// }
    /// let file = InMemory(b"snapshot".to_vec());
    /// let mut out = b"a ".to_vec();
    /// file.read_to_vec_at(4, 4, &mut out)?;
    /// assert_eq!(out, b"a shot");
    /// assert!(file.read_to_vec_at(6, 4, &mut out).is_err());
    /// assert_eq!(out, b"a shot");
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`SnapshotFile::read_exact_at`]'s.
    fn read_to_vec_at(&self, at: u64, len: usize, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        out.resize(start + len, 0);
        let read = self.read_exact_at(at, &mut out[start..]);
        if read.is_err() {
            out.truncate(start);
        }
        read
    }
}

/// A storage's write lock, held for one operation ([`Storage::lock_writes`]) and
/// released when dropped.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::WriteLock;
/// struct Held; // what a storage keeps while the lock is held, released in its `Drop`
/// let lock = WriteLock::new(Held);
/// assert!(lock.is_held());
/// assert!(!WriteLock::none().is_held());
/// ```
#[must_use = "the lock is released when dropped"]
pub struct WriteLock {
    _held: Option<Box<dyn Any + Send + Sync>>,
}

impl WriteLock {
    /// No lock: for a storage that has none to take.
    pub fn none() -> Self {
        WriteLock { _held: None }
    }

    /// A lock that `held` keeps until it is dropped.
    pub fn new(held: impl Any + Send + Sync) -> Self {
        WriteLock {
            _held: Some(Box::new(held)),
        }
    }

    /// Whether a lock is held.
    pub fn is_held(&self) -> bool {
        self._held.is_some()
    }
}

impl core::fmt::Debug for WriteLock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WriteLock")
            .field("held", &self.is_held())
            .finish()
    }
}

/// `Error::TooLarge` when `len` is above `max`.
pub(crate) fn check_len(len: u64, max: u64) -> Result<()> {
    if len > max {
        return Err(Error::TooLarge { len, max });
    }
    Ok(())
}

/// Storage in ordinary memory, with a journal. Clones share the same snapshot and
/// journal, so a test can keep one and reopen a store from it.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{MemoryStorage, Storage};
/// let s = MemoryStorage::default();
/// assert!(s.load()?.is_none());
/// s.store(b"snapshot")?;
/// assert_eq!(s.clone().load()?.as_deref(), Some(&b"snapshot"[..]));
/// # Ok::<(), microkv::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct MemoryStorage {
    images: Arc<Mutex<Images>>,
}

#[derive(Default)]
struct Images {
    snapshot: Option<Vec<u8>>,
    journal: Vec<u8>,
}

impl Images {
    /// A new snapshot; the journal, which extended the old one, starts afresh.
    fn replace(&mut self, bytes: &[u8]) {
        self.snapshot = Some(bytes.to_vec());
        self.journal.clear();
    }
}

impl core::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let images = self.images.lock();
        f.debug_struct("MemoryStorage")
            .field("len", &images.snapshot.as_ref().map(Vec::len))
            .field("journal_len", &images.journal.len())
            .finish()
    }
}

impl Storage for MemoryStorage {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.images.lock().snapshot.clone())
    }

    fn store(&self, bytes: &[u8]) -> Result<()> {
        self.images.lock().replace(bytes);
        Ok(())
    }

    fn store_replacing(&self, expected: &[u8], bytes: &[u8]) -> Result<()> {
        let mut images = self.images.lock();
        if (images.snapshot.as_ref()).is_some_and(|current| !current.starts_with(expected)) {
            return Err(Error::CredentialChanged);
        }
        images.replace(bytes);
        Ok(())
    }

    fn append(&self, keep: u64, bytes: &[u8]) -> Result<bool> {
        let mut images = self.images.lock();
        let keep = usize::try_from(keep)
            .ok()
            .filter(|&keep| keep <= images.journal.len())
            .ok_or_else(|| corrupt("journal shorter than expected"))?;
        images.journal.truncate(keep);
        images.journal.extend_from_slice(bytes);
        Ok(true)
    }

    fn load_journal(&self) -> Result<Vec<u8>> {
        Ok(self.images.lock().journal.clone())
    }
}
