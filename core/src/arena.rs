//! The secure arena: every key and every plaintext lives here.
//!
//! PLACEHOLDER BODY: the public API below is final; the implementation (slabs from a
//! [`PageSource`], guard pages, size classes, canaries) replaces this file.
#![allow(missing_docs)]
#![allow(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use zeroize::Zeroize;

use crate::error::Result;

/// What to do when the page source cannot lock, guard or advise memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MemoryPolicy {
    /// Keep going with what could be had, and say so in [`MemoryReport::fallback`].
    #[default]
    BestEffort,
    /// Fail with [`crate::Error::SecureAlloc`].
    Strict,
}

/// What the arena holds and how well it is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryReport {
    pub bytes_in_use: usize,
    pub bytes_mapped: usize,
    pub bytes_locked: usize,
    pub mappings: usize,
    pub fallback: bool,
}

/// A mapped region handed out by a [`PageSource`].
#[derive(Debug)]
pub struct Region {
    pub ptr: NonNull<u8>,
    pub len: usize,
    pub locked: bool,
    pub guarded: bool,
    pub dont_dump: bool,
    pub wipe_on_fork: bool,
}

/// Where arena pages come from.
///
/// # Safety
/// `map` must return zeroed, readable and writable memory of at least `len` bytes that
/// stays valid until passed to `unmap`.
pub unsafe trait PageSource: Send + Sync {
    fn page_size(&self) -> usize;
    fn map(&self, len: usize) -> Option<Region>;
    /// # Safety
    /// `region` came from this source's `map` and is not used afterwards.
    unsafe fn unmap(&self, region: &Region);
}

/// Pages from the global allocator: no locking, no guards.
#[derive(Debug, Default, Clone, Copy)]
pub struct HeapPages;

// SAFETY: placeholder; never maps (the placeholder arena allocates from Vec).
unsafe impl PageSource for HeapPages {
    fn page_size(&self) -> usize {
        4096
    }
    fn map(&self, _len: usize) -> Option<Region> {
        None
    }
    unsafe fn unmap(&self, _region: &Region) {}
}

/// The arena.
pub struct Arena {
    _policy: MemoryPolicy,
}

impl Arena {
    pub fn new(_source: Arc<dyn PageSource>, policy: MemoryPolicy) -> Arc<Arena> {
        Arc::new(Arena { _policy: policy })
    }

    pub fn alloc(self: &Arc<Self>, len: usize) -> Result<SecretBuf> {
        Ok(SecretBuf {
            bytes: alloc::vec![0; len],
        })
    }

    pub fn report(&self) -> MemoryReport {
        MemoryReport::default()
    }
}

/// A zero-initialised byte buffer in the arena, wiped when dropped or moved.
pub struct SecretBuf {
    bytes: Vec<u8>,
}

impl SecretBuf {
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }
    pub fn truncate(&mut self, len: usize) {
        self.bytes[len..].zeroize();
        self.bytes.truncate(len);
    }
    pub fn resize(&mut self, new_len: usize) -> Result<()> {
        self.bytes.resize(new_len, 0);
        Ok(())
    }
    pub fn extend_from_slice(&mut self, data: &[u8]) -> Result<()> {
        self.bytes.extend_from_slice(data);
        Ok(())
    }
}

impl Deref for SecretBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}
impl DerefMut for SecretBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}
impl Drop for SecretBuf {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}
