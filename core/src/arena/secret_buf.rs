//! [`SecretBuf`]: a byte buffer in the arena, wiped when dropped or moved.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};

use super::layout::wipe;
use super::{Arena, Region};
use crate::error::{AllocFailure, Result};

/// Where a buffer's block lives.
pub(super) enum Kind {
    /// A block of this size class inside a slab.
    Small(usize),
    /// A dedicated mapping.
    Large(Box<Region>),
}

/// A zero-initialised byte buffer in the arena, wiped when dropped or moved.
///
/// Its bytes live in the arena's protected pages; growing past the capacity moves them to
/// a bigger block (the old one is wiped). `Debug` prints the length only.
pub struct SecretBuf {
    pub(super) arena: Arc<Arena>,
    /// Payload start; `len <= cap` bytes are live, `len .. cap` are always zero.
    pub(super) ptr: NonNull<u8>,
    pub(super) len: usize,
    pub(super) cap: usize,
    pub(super) kind: Kind,
}

// SAFETY: a SecretBuf exclusively owns its block (like a `Box<[u8]>`); shared access only
// reads it, and the arena it points to is `Send + Sync`.
unsafe impl Send for SecretBuf {}
// SAFETY: as above: `&SecretBuf` only allows reading the bytes.
unsafe impl Sync for SecretBuf {}

impl SecretBuf {
    /// How many bytes the buffer can hold before [`resize`](Self::resize) moves it.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Shortens the buffer to `len` bytes, wiping the cut tail. Does nothing if `len` is
    /// not shorter.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len && !self.in_owning_process() {
            // A forked child's copy: the block is not ours to write (see `Deref`).
            self.len = len;
        } else if len < self.len {
            // SAFETY: `len .. self.len` is inside the live part of the payload.
            unsafe { wipe(self.ptr.as_ptr().add(len), self.len - len) };
            self.len = len;
        }
    }

    /// Sets the length to `new_len`, zero-filling new bytes or wiping cut ones. Growing
    /// past the capacity moves the contents to a bigger block and wipes the old one.
    ///
    /// # Errors
    /// As [`Arena::alloc`] when a bigger block is needed; the buffer is then unchanged.
    pub fn resize(&mut self, new_len: usize) -> Result<()> {
        if new_len <= self.len {
            self.truncate(new_len);
        } else if new_len <= self.cap {
            // `len .. cap` is already zero.
            self.len = new_len;
        } else {
            // Doubling keeps repeated small extensions of large buffers amortised O(1);
            // if the doubled size cannot be had (a tight lock limit), try the exact size.
            let doubled = new_len.max(self.cap.saturating_mul(2));
            let mut bigger = match self.arena.alloc(doubled) {
                Ok(buf) => buf,
                Err(_) if doubled > new_len => self.arena.alloc(new_len)?,
                Err(e) => return Err(e),
            };
            // SAFETY: both blocks are valid for `self.len` bytes and distinct.
            unsafe { ptr::copy_nonoverlapping(self.ptr.as_ptr(), bigger.ptr.as_ptr(), self.len) };
            // `new_len .. bigger.len` of the fresh block is zero: shortening keeps the
            // invariant.
            bigger.len = new_len;
            core::mem::swap(self, &mut bigger);
            // `bigger` now holds the old block: dropping it wipes and frees it.
        }
        Ok(())
    }

    /// Appends `data`, growing as [`resize`](Self::resize) does.
    ///
    /// # Errors
    /// As [`resize`](Self::resize); the buffer is then unchanged.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> Result<()> {
        let old = self.len;
        let new_len = old
            .checked_add(data.len())
            .ok_or_else(|| self.arena.state.lock().stats.fail(AllocFailure::TooLarge))?;
        self.resize(new_len)?;
        self[old..].copy_from_slice(data);
        Ok(())
    }
}

impl SecretBuf {
    /// The arena the buffer lives in (where what belongs with it is allocated too).
    pub(crate) fn arena(&self) -> &Arc<Arena> {
        &self.arena
    }

    /// Whether this runs in the process that made the buffer's arena (not in a child
    /// forked from it, where the block may not be mapped and its bytes are the parent's).
    /// What holds its secrets in a `SecretBuf` (a keyring) asks this before using them.
    #[inline]
    pub(crate) fn in_owning_process(&self) -> bool {
        self.arena.owner.is_current()
    }

    /// The live length, or 0 in a process forked from the arena's.
    #[inline]
    fn visible_len(&self) -> usize {
        if self.in_owning_process() {
            self.len
        } else {
            0
        }
    }
}

/// The bytes; empty in a child process forked from the one that made the arena.
impl Deref for SecretBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let len = self.visible_len();
        if len == 0 {
            return &[];
        }
        // SAFETY: `ptr` points to `cap >= len` initialised bytes owned by this buffer, in
        // memory mapped in this process (the arena's own).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), len) }
    }
}

/// The bytes, writable; empty in a child process forked from the one that made the arena.
impl DerefMut for SecretBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        let len = self.visible_len();
        if len == 0 {
            return &mut [];
        }
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), len) }
    }
}

impl fmt::Debug for SecretBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBuf")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Drop for SecretBuf {
    fn drop(&mut self) {
        let kind = core::mem::replace(&mut self.kind, Kind::Small(0));
        self.arena.release(self.ptr, self.len, self.cap, kind);
    }
}
