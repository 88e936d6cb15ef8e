//! [`HeapPages`]: arena pages from the global allocator.

use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use core::ptr::NonNull;

use super::layout::wipe;
use super::{PageSource, Region};

/// Page size and alignment [`HeapPages`] uses.
const PAGE: usize = 4096;

/// Pages from the global allocator: page-aligned and zeroed when mapped, wiped when
/// released, but neither locked, guarded, advised nor secret, and it reports exactly that (so an
/// arena on it under [`MemoryPolicy::BestEffort`](super::MemoryPolicy::BestEffort) reports
/// `fallback`, and under `Strict` refuses to allocate).
///
/// It exists for `no_std` targets without an OS page source, for tests, and for Miri.
#[derive(Debug, Default, Clone, Copy)]
pub struct HeapPages;

// SAFETY: `map` returns a fresh zeroed allocation of `len` rounded up to whole pages,
// readable and writable until `unmap` deallocates it with the same layout.
unsafe impl PageSource for HeapPages {
    fn page_size(&self) -> usize {
        PAGE
    }

    fn map(&self, len: usize) -> Option<Region> {
        let len = len.max(1).checked_next_multiple_of(PAGE)?;
        let layout = Layout::from_size_align(len, PAGE).ok()?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        Some(Region {
            ptr,
            len,
            locked: false,
            guarded: false,
            dont_dump: false,
            hidden_from_fork: false,
            secret: false,
        })
    }

    unsafe fn unmap(&self, region: &Region) {
        // SAFETY: the caller passes a region from `map`: `region.len` writable bytes.
        unsafe { wipe(region.ptr.as_ptr(), region.len) };
        // SAFETY: `map` allocated exactly this pointer with size `region.len` (a non-zero
        // multiple of PAGE) and alignment PAGE, and the caller no longer uses it.
        unsafe {
            dealloc(
                region.ptr.as_ptr(),
                Layout::from_size_align_unchecked(region.len, PAGE),
            )
        };
    }
}
