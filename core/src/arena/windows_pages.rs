//! [`OsPages`] on Windows: arena pages reserved and committed with `VirtualAlloc`, fenced by
//! `PAGE_NOACCESS` guard pages, locked with `VirtualLock` (the working-set minimum grown when
//! it is too small), kept out of Windows Error Reporting dumps where the system has
//! `WerRegisterExcludedMemoryBlock`, wiped and unlocked on release.
//!
//! Built under the `std` feature on Windows; the store uses it when `Config::pages` is unset.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

extern crate std;

use core::ffi::c_void;
use core::ptr::{self, NonNull};
use std::io;

use windows_sys::Win32::Foundation::ERROR_WORKING_SET_QUOTA;
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::Memory::{
    VirtualAlloc, VirtualFree, VirtualProtect, MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_NOACCESS,
    PAGE_PROTECTION_FLAGS, PAGE_READWRITE,
};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetProcessWorkingSetSize, SetProcessWorkingSetSize,
};

use super::{PageSource, Region};
use crate::error::{Error, Result};

/// A [`PageSource`] taking memory from the Windows memory manager.
///
/// Each mapping is one `VirtualAlloc` reservation: the usable pages, committed read-write,
/// between two pages set `PAGE_NOACCESS` with `VirtualProtect` (any access faults). The usable
/// pages are locked with `VirtualLock` (through `memsec::mlock`): they stay in physical
/// memory and out of the page file. Windows limits what a process may lock to its
/// working-set minimum (by default about 200 KiB); when `VirtualLock` fails for that reason
/// (`ERROR_WORKING_SET_QUOTA`), the minimum and maximum are raised by the mapping's size with
/// `SetProcessWorkingSetSize` and the lock is tried once more. If it still fails, the mapping
/// is reported unlocked ([`Region::locked`] false: `MemoryReport::bytes_locked` falls short
/// of `bytes_mapped`, `fallback` is set, and `MemoryPolicy::Strict` refuses it). The working
/// set is not shrunk again when mappings are released.
///
/// Where the system has `WerRegisterExcludedMemoryBlock` (Windows 10 1703 and later; looked
/// up at run time, so the program still starts on older systems and under Wine), each
/// mapping is excluded from the dumps Windows Error Reporting writes
/// ([`Region::dont_dump`]). Nothing excludes memory from a dump another process takes with
/// `MiniDumpWriteDump`: `harden_process` refuses that process the access it needs.
///
/// Windows has no `fork`: a process made by `CreateProcess` never has a copy of this one's
/// memory, so every mapping is [`Region::hidden_from_fork`]. There is no secret memory
/// ([`Region::secret`] is always false): an administrator with `SeDebugPrivilege` can read
/// the pages.
///
/// Releasing a region wipes it (volatile writes), unlocks it, and frees the reservation
/// with its guard pages. Every system call's result is checked and reported in the
/// [`Region`] flags.
///
/// ```
/// # use microkv_core as microkv;
/// use std::sync::Arc;
/// use microkv::{Arena, MemoryPolicy, OsPages};
/// let arena = Arena::new(Arc::new(OsPages::new()), MemoryPolicy::BestEffort);
/// let mut key = arena.alloc(32)?;
/// key.copy_from_slice(&[7; 32]);
/// assert!(arena.report().guarded);
/// # Ok::<(), microkv::Error>(())
/// ```
#[derive(Debug)]
pub struct OsPages {
    page: usize,
}

impl OsPages {
    /// The Windows page source: locked, guarded `VirtualAlloc` pages.
    pub fn new() -> Self {
        OsPages { page: page_size() }
    }

    /// The same as [`OsPages::new`] on Windows, which has no secret memory to skip; kept so
    /// that code written for Unix compiles here.
    pub fn anonymous() -> Self {
        OsPages::new()
    }

    /// Whether this process can have secret memory: never on Windows.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// assert!(microkv::OsPages::probe_secret_memory().is_err());
    /// ```
    ///
    /// # Errors
    /// Always [`Error::Io`] with `io::ErrorKind::Unsupported`.
    pub fn probe_secret_memory() -> Result<()> {
        Err(Error::Io(io::Error::from(io::ErrorKind::Unsupported)))
    }
}

impl Default for OsPages {
    fn default() -> Self {
        OsPages::new()
    }
}

fn page_size() -> usize {
    let mut info = core::mem::MaybeUninit::<SYSTEM_INFO>::zeroed();
    // SAFETY: GetSystemInfo fills the struct we pass and cannot fail.
    let info = unsafe {
        GetSystemInfo(info.as_mut_ptr());
        info.assume_init()
    };
    usize::try_from(info.dwPageSize)
        .ok()
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096)
}

/// `VirtualProtect(ptr, len, protection)`, reporting success.
///
/// # Safety
/// `ptr .. ptr + len` are committed pages of a reservation of ours that nothing reads.
unsafe fn protect(ptr: *mut u8, len: usize, protection: PAGE_PROTECTION_FLAGS) -> bool {
    let mut old: PAGE_PROTECTION_FLAGS = 0;
    // SAFETY: the caller's guarantee; `old` is a local the call writes.
    unsafe { VirtualProtect(ptr.cast::<c_void>(), len, protection, &mut old) != 0 }
}

/// Raises the process's working-set minimum and maximum by `extra` bytes, so that
/// `VirtualLock` may lock that much more; reports success.
fn grow_working_set(extra: usize) -> bool {
    let (mut min, mut max) = (0usize, 0usize);
    // SAFETY: the pseudo-handle of this process needs no closing; the call writes the two
    // locals.
    let process = unsafe { GetCurrentProcess() };
    // SAFETY: as above.
    if unsafe { GetProcessWorkingSetSize(process, &mut min, &mut max) } == 0 {
        return false;
    }
    let (Some(new_min), Some(new_max)) = (min.checked_add(extra), max.checked_add(extra)) else {
        return false;
    };
    // SAFETY: changes only this process's working-set bounds.
    unsafe { SetProcessWorkingSetSize(process, new_min, new_max) != 0 }
}

/// Locks `len` bytes at `ptr`, growing the working set once if it is too small.
///
/// # Safety
/// `ptr .. ptr + len` are committed read-write pages of a reservation of ours.
unsafe fn lock(ptr: *mut u8, len: usize, page: usize) -> bool {
    // SAFETY: the caller's guarantee; locking changes no contents.
    if unsafe { memsec::mlock(ptr, len) } {
        return true;
    }
    let quota = io::Error::last_os_error().raw_os_error() == Some(ERROR_WORKING_SET_QUOTA as i32);
    // Some slack for the pages the system itself keeps in the working set.
    let extra = len.saturating_add(8 * page);
    // SAFETY: as above.
    quota && grow_working_set(extra) && unsafe { memsec::mlock(ptr, len) }
}

/// `HRESULT WerRegisterExcludedMemoryBlock(const void*, DWORD)` and its unregistering
/// counterpart.
type WerRegister = unsafe extern "system" fn(*const c_void, u32) -> i32;
type WerUnregister = unsafe extern "system" fn(*const c_void) -> i32;

/// kernel32's export `name` (NUL-terminated), or `None` where this system has none.
fn kernel32(name: windows_sys::core::PCSTR) -> Option<unsafe extern "system" fn() -> isize> {
    // SAFETY: the name is a NUL-terminated UTF-16 literal; kernel32 is loaded in every
    // process, and the handle needs no release.
    let handle = unsafe { GetModuleHandleW(windows_sys::core::w!("kernel32.dll")) };
    if handle.is_null() {
        return None;
    }
    // SAFETY: `name` is a NUL-terminated literal (`s!`) from the callers.
    unsafe { GetProcAddress(handle, name) }
}

/// Excludes `len` bytes at `ptr` from Windows Error Reporting dumps; reports success.
fn exclude_from_dumps(ptr: *mut u8, len: usize) -> bool {
    let Ok(len) = u32::try_from(len) else {
        return false;
    };
    let Some(register) = kernel32(windows_sys::core::s!("WerRegisterExcludedMemoryBlock")) else {
        return false;
    };
    // SAFETY: the export has this signature (werapi.h); transmuting between function
    // pointer types of the same size is sound when the real signature is the target one.
    let register: WerRegister = unsafe { core::mem::transmute(register) };
    // SAFETY: registers an address range of ours; WER only reads it when writing a report.
    unsafe { register(ptr.cast::<c_void>(), len) >= 0 }
}

/// Undoes [`exclude_from_dumps`].
fn readmit_to_dumps(ptr: *mut u8) {
    if let Some(unregister) = kernel32(windows_sys::core::s!("WerUnregisterExcludedMemoryBlock")) {
        // SAFETY: as in `exclude_from_dumps`, for this export's signature.
        let unregister: WerUnregister = unsafe { core::mem::transmute(unregister) };
        // SAFETY: unregisters a range this source registered.
        let _ = unsafe { unregister(ptr.cast::<c_void>()) };
    }
}

// SAFETY: `map` returns the usable pages of a fresh committed reservation (zeroed by the
// memory manager, readable, writable), which stays valid until `unmap` frees it; each flag
// is set only when the corresponding call succeeded (`hidden_from_fork` holds because
// Windows has no fork).
unsafe impl PageSource for OsPages {
    fn page_size(&self) -> usize {
        self.page
    }

    fn map(&self, len: usize) -> Option<Region> {
        let page = self.page;
        let len = len.max(1).checked_next_multiple_of(page)?;
        let total = len.checked_add(2 * page)?;
        // SAFETY: a new reservation at an address of the system's choosing touches no
        // existing memory.
        let base =
            unsafe { VirtualAlloc(ptr::null(), total, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE) }
                .cast::<u8>();
        if base.is_null() {
            return None;
        }
        // SAFETY: `base + page` and `base + page + len` lie inside the reservation of
        // `total` bytes just made, which nothing else uses.
        let (usable, after) = unsafe { (base.add(page), base.add(page + len)) };
        // SAFETY: the first and last pages of our fresh reservation.
        let guarded =
            unsafe { protect(base, page, PAGE_NOACCESS) && protect(after, page, PAGE_NOACCESS) };
        // SAFETY: the usable pages of our fresh reservation, committed read-write.
        let locked = unsafe { lock(usable, len, page) };
        let dont_dump = exclude_from_dumps(usable, len);
        Some(Region {
            ptr: NonNull::new(usable)?,
            len,
            locked,
            guarded,
            dont_dump,
            hidden_from_fork: true,
            secret: false,
        })
    }

    unsafe fn unmap(&self, region: &Region) {
        let usable = region.ptr.as_ptr();
        if region.dont_dump {
            readmit_to_dumps(usable);
        }
        if region.locked {
            // SAFETY: the caller passes a region from `map`: `region.len` writable bytes,
            // locked by `map`. memsec wipes them before unlocking.
            let unlocked = unsafe { memsec::munlock(usable, region.len) };
            // Freeing the reservation below drops the lock anyway.
            debug_assert!(unlocked, "VirtualUnlock of an arena region failed");
        } else {
            // SAFETY: as above: `region.len` writable bytes of our own.
            unsafe { memsec::memzero(usable, region.len) };
        }
        // SAFETY: `map` reserved one guard page before `usable`; MEM_RELEASE with size 0
        // frees the whole reservation, which the caller no longer uses.
        let freed = unsafe { VirtualFree(usable.sub(self.page).cast::<c_void>(), 0, MEM_RELEASE) };
        debug_assert!(freed != 0, "VirtualFree of an arena region failed");
    }

    fn process_dumpable(&self) -> Option<bool> {
        super::harden::process_dumpable()
    }
}
