//! Where snapshots live: the [`Storage`] seam and [`MemoryStorage`].
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::error::Result;
use crate::sync::Mutex;

/// A place that holds one store snapshot.
///
/// Contract: [`Storage::store`] is all-or-nothing. After it returns `Ok`, `load` returns the
/// new bytes; after it fails, or after a crash at any point inside it, `load` returns
/// either the previous bytes or the new ones, never a mix.
pub trait Storage: Send + Sync {
    /// The bytes of the last complete `store`, or `None` if nothing was ever stored.
    fn load(&self) -> Result<Option<Vec<u8>>>;
    /// Atomically replaces the stored bytes.
    fn store(&self, bytes: &[u8]) -> Result<()>;
}

/// Storage in ordinary memory. Clones share the same snapshot, so a test can keep one
/// and reopen a store from it.
///
/// ```
/// use microkv_core::{MemoryStorage, Storage};
/// let s = MemoryStorage::default();
/// assert!(s.load()?.is_none());
/// s.store(b"snapshot")?;
/// assert_eq!(s.clone().load()?.as_deref(), Some(&b"snapshot"[..]));
/// # Ok::<(), microkv_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct MemoryStorage {
    bytes: Arc<Mutex<Option<Vec<u8>>>>,
}

impl core::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let len = self.bytes.lock().as_ref().map(Vec::len);
        f.debug_struct("MemoryStorage").field("len", &len).finish()
    }
}

impl Storage for MemoryStorage {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.bytes.lock().clone())
    }

    fn store(&self, bytes: &[u8]) -> Result<()> {
        *self.bytes.lock() = Some(bytes.to_vec());
        Ok(())
    }
}
