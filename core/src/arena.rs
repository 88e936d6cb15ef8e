//! The secure arena: every key and every plaintext lives here.
//!
//! An [`Arena`] takes a few large mappings ("slabs") from a [`PageSource`] (through the
//! `std` build `OsPages`: Linux secret memory from `memfd_secret(2)`,
//! which no other process can read, fenced by `PROT_NONE` guard pages; or, where the kernel
//! refuses that, anonymous pages `mlock`ed and advised `MADV_DONTDUMP` and
//! `MADV_WIPEONFORK`) and carves them into blocks of nine size classes
//! (16, 32, ..., 4096 bytes), each with its own free list. Allocations larger than 4096
//! bytes get their own mapping, with the payload pushed against its end: when the length
//! is a multiple of 16 and the source guards its mappings, the first byte past the buffer
//! is a guard page and faults.
//!
//! Every block carries a canary word before and after its payload (a per-arena random
//! secret keyed by the word's address); it is checked when the block is freed, and a
//! mismatch panics (the memory was corrupted). Every block is wiped with volatile writes
//! when freed, so a reused block reads as zeros. All slabs are unmapped when the arena is
//! dropped, which happens after the last [`SecretBuf`] (each holds an `Arc<Arena>`).
//!
//! The arena records the process it was made in. In a child forked from it, its memory may
//! not be mapped at all (`MADV_DONTFORK`) or may be zeros, so there it never touches that
//! memory: allocation fails with [`Error::Forked`], a [`SecretBuf`] reads as empty, and
//! freeing or dropping leaves the child's copy alone. This does not depend on what the page
//! source did (see `process`).
//!
//! What the source could not provide is handled by the [`MemoryPolicy`] and reported in
//! [`MemoryReport`].
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "std")]
mod harden;
mod heap_pages;
mod layout;
#[cfg(all(feature = "std", unix))]
mod os_pages;
mod process;
mod registers;
mod report;
mod secret_buf;
mod source;
pub(crate) mod stack;
#[cfg(test)]
mod tests;
#[cfg(all(feature = "std", windows))]
mod windows_pages;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use core::ptr::NonNull;

use crate::error::{AllocFailure, Error, Result};
use crate::sync::Mutex;
#[cfg(feature = "std")]
pub use harden::harden_process;
pub use heap_pages::HeapPages;
use layout::{
    check_canary, class_of, class_size, stride, wipe, write_canary, CANARY, LARGE_ALIGN, MAX_CLASS,
    NUM_CLASSES,
};
#[cfg(all(feature = "std", unix))]
pub use os_pages::OsPages;
use process::Process;
pub(crate) use registers::clear as clear_registers;
use report::{missing_protection, Stats};
pub use report::{MemoryPolicy, MemoryReport};
use secret_buf::Kind;
pub use secret_buf::SecretBuf;
pub use source::{PageSource, Region};
#[cfg(all(feature = "std", windows))]
pub use windows_pages::OsPages;

/// Size of the first slab an arena maps.
///
/// Slabs start at 64 KiB, the smallest `RLIMIT_MEMLOCK` still found in the wild, so a
/// small store fits in locked memory even there, and double with every new slab up to
/// [`MAX_SLAB`], so a store holding many values needs few mappings (100,000 live 64-byte
/// values take 11 slabs), far from `vm.max_map_count`.
const FIRST_SLAB: usize = 64 * 1024;
/// Largest slab size: 1 MiB bounds the memory a new slab commits and locks at once.
const MAX_SLAB: usize = 1024 * 1024;
/// Released large regions kept mapped for reuse, at most this many...
const LARGE_CACHE_COUNT: usize = 8;
/// ...and at most this many bytes in all. A value just over the largest size class (a
/// 4 KiB value is 4,098 bytes serialized) would otherwise cost a map, lock, advise and
/// unmap on every call: about 30 us, against 40 ns for a slab block.
const LARGE_CACHE_BYTES: usize = 512 * 1024;

/// The arena: slabs of protected pages carved into size-classed blocks.
///
/// Created with [`Arena::new`]; buffers come from [`Arena::alloc`]. One mutex guards the
/// free lists (under `std` it blocks, never spins).
pub struct Arena {
    source: Arc<dyn PageSource>,
    policy: MemoryPolicy,
    /// The process the arena was made in: the only one that may touch its memory.
    owner: Process,
    /// Per-arena canary secret; `None` if the OS random number generator failed, in
    /// which case every allocation fails with [`Error::Random`].
    secret: Option<u64>,
    state: Mutex<State>,
}

/// Everything the arena's mutex guards.
struct State {
    /// Payload pointers of free blocks, per size class.
    free: [Vec<NonNull<u8>>; NUM_CLASSES],
    /// Every slab mapped, the newest last.
    slabs: Vec<Region>,
    /// Offset of the first uncarved byte of the newest slab.
    cursor: usize,
    /// Size of the next slab to map.
    next_slab: usize,
    /// Released large regions, wiped, kept for reuse (see [`LARGE_CACHE_COUNT`]).
    large_free: Vec<Region>,
    stats: Stats,
}

// SAFETY: the pointers in `State` point into slabs owned by the arena (not into any
// thread's data); they are only dereferenced by the owner of the block or under the lock.
unsafe impl Send for State {}

impl Arena {
    /// An arena taking its pages from `source`. Nothing is mapped until the first
    /// allocation.
    pub fn new(source: Arc<dyn PageSource>, policy: MemoryPolicy) -> Arc<Arena> {
        let mut seed = [0u8; 8];
        let secret = getrandom::fill(&mut seed)
            .ok()
            .map(|()| u64::from_ne_bytes(seed));
        Arc::new(Arena {
            source,
            policy,
            owner: Process::current(),
            secret,
            state: Mutex::new(State {
                free: Default::default(),
                slabs: Vec::new(),
                cursor: 0,
                next_slab: FIRST_SLAB,
                large_free: Vec::new(),
                stats: Stats::default(),
            }),
        })
    }

    /// A zero-filled buffer of exactly `len` bytes (`len` may be 0).
    ///
    /// # Errors
    /// [`Error::SecureAlloc`] if the source cannot map memory, if `len` is absurdly large,
    /// or under [`MemoryPolicy::Strict`] (or `RequireSecretMemory`) if new memory could not
    /// be protected as the policy demands; [`Error::Random`] if the canary secret could
    /// not be drawn; [`Error::Forked`] in a child process forked from the one that made the
    /// arena.
    pub fn alloc(self: &Arc<Self>, len: usize) -> Result<SecretBuf> {
        if !self.owner.is_current() {
            return Err(Error::Forked);
        }
        let secret = self.secret.ok_or(Error::Random)?;
        let (ptr, cap, kind) = if len <= MAX_CLASS {
            let class = class_of(len);
            (
                self.alloc_small(class, secret)?,
                class_size(class),
                Kind::Small(class),
            )
        } else {
            let (ptr, cap, region) = self.alloc_large(len, secret)?;
            (ptr, cap, Kind::Large(Box::new(region)))
        };
        Ok(SecretBuf {
            arena: Arc::clone(self),
            ptr,
            len,
            cap,
            kind,
        })
    }

    /// What the arena holds and how well it is protected.
    pub fn report(&self) -> MemoryReport {
        let dumpable = self.source.process_dumpable();
        self.state.lock().stats.report(dumpable)
    }

    /// Maps `len` bytes and applies the policy to what came back (not yet counted).
    fn map_region(&self, len: usize) -> core::result::Result<Region, AllocFailure> {
        let region = self.source.map(len).ok_or(AllocFailure::MapFailed)?;
        let refusal = if region.len < len {
            Some(AllocFailure::MapFailed)
        } else {
            missing_protection(&region, self.policy)
        };
        if let Some(why) = refusal {
            crate::event::warn_event!(
                reason = ?why,
                policy = ?self.policy,
                len,
                "the arena refused memory its policy does not allow"
            );
            // SAFETY: `region` came from this source's `map` and is dropped right here.
            unsafe { self.source.unmap(&region) };
            return Err(why);
        }
        Ok(region)
    }

    /// Pops a free block of `class`, carving a new one (and mapping a new slab) if needed.
    fn alloc_small(&self, class: usize, secret: u64) -> Result<NonNull<u8>> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        if let Some(payload) = st.free[class].pop() {
            st.stats.in_use += class_size(class);
            return Ok(payload);
        }
        let stride = stride(class);
        let full = st.slabs.last().is_none_or(|s| s.len - st.cursor < stride);
        if full {
            let region = self
                .map_region(st.next_slab)
                .map_err(|why| st.stats.fail(why))?;
            st.stats.add(&region);
            st.slabs.push(region);
            st.cursor = 0;
            st.next_slab = (st.next_slab * 2).min(MAX_SLAB);
        }
        let slab = st.slabs.last().expect("a slab was just ensured");
        // SAFETY: `cursor + stride <= slab.len` (checked above, and FIRST_SLAB exceeds
        // the largest stride), so the block lies inside the slab, which stays mapped
        // until the arena drops.
        let block = unsafe { slab.ptr.as_ptr().add(st.cursor) };
        st.cursor += stride;
        st.stats.in_use += class_size(class);
        drop(guard);
        // SAFETY: the block (stride bytes from `block`) is inside the slab and carved for
        // us alone: head canary at 0, payload at CANARY, tail canary after the payload.
        unsafe {
            write_canary(secret, block);
            write_canary(secret, block.add(CANARY + class_size(class)));
            Ok(NonNull::new_unchecked(block.add(CANARY)))
        }
    }

    /// Maps a dedicated region for a large allocation; returns payload, capacity, region.
    fn alloc_large(&self, len: usize, secret: u64) -> Result<(NonNull<u8>, usize, Region)> {
        let page = self.source.page_size().max(1);
        let (cap, map_len) = len
            .checked_next_multiple_of(LARGE_ALIGN)
            .and_then(|cap| {
                Some((
                    cap,
                    cap.checked_add(CANARY)?.checked_next_multiple_of(page)?,
                ))
            })
            .ok_or_else(|| self.state.lock().stats.fail(AllocFailure::TooLarge))?;
        let cached = {
            let mut st = self.state.lock();
            // The smallest cached region that fits, if it is at most twice the need.
            let fit = (st.large_free.iter().enumerate())
                .filter(|(_, r)| r.len >= map_len && r.len / 2 <= map_len)
                .min_by_key(|(_, r)| r.len)
                .map(|(i, _)| i);
            fit.map(|i| st.large_free.swap_remove(i))
        };
        let fresh = cached.is_none();
        let region = match cached {
            Some(region) => region,
            None => self
                .map_region(map_len)
                .map_err(|why| self.state.lock().stats.fail(why))?,
        };
        // SAFETY: `region.len >= map_len >= cap + CANARY`, so the payload (the last `cap`
        // bytes) and the canary before it lie inside the region, which is ours alone: fresh
        // from the source (zeroed) or taken from the cache (wiped whole on release).
        let payload = unsafe {
            let payload = region.ptr.as_ptr().add(region.len - cap);
            write_canary(secret, payload.sub(CANARY));
            NonNull::new_unchecked(payload)
        };
        let mut st = self.state.lock();
        if fresh {
            st.stats.add(&region);
        }
        st.stats.in_use += cap;
        Ok((payload, cap, region))
    }

    /// Checks, wipes and releases a buffer's block. In a forked child it does nothing: the
    /// block may not be mapped there, and the parent still owns it.
    fn release(&self, ptr: NonNull<u8>, len: usize, cap: usize, kind: Kind) {
        if !self.owner.is_current() {
            return;
        }
        let p = ptr.as_ptr();
        // A `SecretBuf` only exists if the secret was drawn.
        let secret = self.secret.unwrap_or_default();
        // SAFETY: `p .. p + cap` is the buffer's block payload, owned by the buffer being
        // released; for small blocks a canary word sits right before and right after it,
        // for large ones right before it, all inside the mapping.
        let (head, tail) = unsafe {
            let head = check_canary(secret, p.sub(CANARY));
            let tail = match kind {
                Kind::Small(_) => check_canary(secret, p.add(cap)),
                Kind::Large(_) => head,
            };
            // Bytes past `len` are zero by the buffer's invariant.
            wipe(p, len);
            (head, tail)
        };
        if !(head && tail) {
            panic!(
                "microkv arena: memory corruption detected: the canary of the {cap}-byte \
                 block at {p:p} was overwritten (a write outside a SecretBuf's bounds)"
            );
        }
        match kind {
            Kind::Small(class) => {
                let mut st = self.state.lock();
                st.stats.in_use -= cap;
                st.free[class].push(ptr);
            }
            Kind::Large(region) => {
                // Wipe the canary too: a cached region is all zeros, whatever part of it
                // the next buffer's payload and canary cover.
                // SAFETY: the canary word right before the payload, inside the region.
                unsafe { wipe(p.sub(CANARY), CANARY) };
                let mut st = self.state.lock();
                st.stats.in_use -= cap;
                let cached: usize = st.large_free.iter().map(|r| r.len).sum();
                if st.large_free.len() < LARGE_CACHE_COUNT
                    && cached + region.len <= LARGE_CACHE_BYTES
                {
                    st.large_free.push(*region);
                    return;
                }
                st.stats.remove(&region);
                drop(st);
                // SAFETY: the region came from this source's `map` for this buffer alone,
                // which is being dropped.
                unsafe { self.source.unmap(&region) };
            }
        }
    }
}

impl fmt::Debug for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena")
            .field("policy", &self.policy)
            .field("report", &self.report())
            .finish_non_exhaustive()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        if !self.owner.is_current() {
            // A forked child's copy: its pages belong to the parent (or are not mapped
            // here at all, and their addresses may hold the child's own mappings since).
            return;
        }
        // Every SecretBuf holds an Arc<Arena>, so no block is in use any more.
        let (slabs, cached) = {
            let mut st = self.state.lock();
            (
                core::mem::take(&mut st.slabs),
                core::mem::take(&mut st.large_free),
            )
        };
        for region in slabs.iter().chain(&cached) {
            // SAFETY: each slab came from this source's `map`; no buffer points into it
            // any more and the arena is going away.
            unsafe { self.source.unmap(region) };
        }
    }
}
