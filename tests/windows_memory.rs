//! Windows memory protection, measured from outside the arena's own bookkeeping:
//!
//! - the store's arena pages are locked: `QueryWorkingSetEx` reports them resident and
//!   locked (control: an ordinary heap page of this process is not locked);
//! - a guard page faults: a child process reads the byte after an `OsPages` mapping and dies
//!   of an access violation (control: the same child reading the mapping's last byte exits
//!   cleanly);
//! - `harden_process` refuses `OpenProcess(PROCESS_VM_READ)` to another process of the same
//!   user, so no `ReadProcessMemory` (control: an unhardened child gives up the secret).
//!
//! Wine (CI runs this file under it) models the guard page and the DACL check as Windows
//! does. It does not model the working set's Locked bit: under Wine the test reads instead
//! what the host kernel counts as locked for this process (`VmLck`, through drive Z:), and
//! README's platform matrix says that only real Windows shows the bit.
#![cfg(windows)]

#[path = "support/rerun.rs"]
mod rerun;

use std::ffi::c_void;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};

use microkv::{Credential, MicroKV, OsPages, PageSource};
use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, ERROR_ACCESS_DENIED, STATUS_ACCESS_VIOLATION,
};
use windows_sys::Win32::System::Diagnostics::Debug::{
    ReadProcessMemory, SetUnhandledExceptionFilter, EXCEPTION_POINTERS,
};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::ProcessStatus::{
    QueryWorkingSetEx, PSAPI_WORKING_SET_EX_INFORMATION,
};
use windows_sys::Win32::System::Threading::{
    ExitProcess, GetCurrentProcess, OpenProcess, PROCESS_VM_READ,
};

/// Whether this runs under Wine (ntdll exports `wine_get_version` there only).
fn under_wine() -> bool {
    // SAFETY: ntdll is loaded in every process; both names are NUL-terminated literals.
    unsafe {
        let ntdll = GetModuleHandleW(windows_sys::core::w!("ntdll.dll"));
        !ntdll.is_null()
            && GetProcAddress(ntdll, windows_sys::core::s!("wine_get_version")).is_some()
    }
}

/// Under Wine: the host kernel's `VmLck` for this process, in KiB (Wine maps the host's
/// root directory to drive Z:).
fn host_locked_kib() -> u64 {
    let status = std::fs::read_to_string(r"Z:\proc\self\status").expect("host /proc");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmLck:"))
        .expect("VmLck line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `QueryWorkingSetEx` of the page holding `ptr`: (valid, locked).
fn working_set(ptr: *const u8) -> (bool, bool) {
    let mut info = PSAPI_WORKING_SET_EX_INFORMATION {
        VirtualAddress: ptr as *mut c_void,
        ..Default::default()
    };
    let size = std::mem::size_of_val(&info) as u32;
    // SAFETY: queries this process; the call writes the one entry we pass.
    let ok = unsafe {
        QueryWorkingSetEx(
            GetCurrentProcess(),
            (&mut info as *mut PSAPI_WORKING_SET_EX_INFORMATION).cast(),
            size,
        )
    };
    assert_ne!(ok, 0, "QueryWorkingSetEx failed");
    // SAFETY: every bit pattern of the union is a valid `usize`.
    let flags = unsafe { info.VirtualAttributes.Flags };
    (flags & 1 != 0, flags >> 22 & 1 != 0)
}

#[test]
fn the_arena_pages_are_locked_and_guarded() {
    let db = MicroKV::in_memory(Credential::key([5; 32])).unwrap();
    db.put("k", &"a value held in the arena").unwrap();
    let secret = db.get_secret_bytes("k").unwrap().unwrap();
    let report = db.memory_report();
    assert!(report.bytes_mapped > 0);
    assert_eq!(report.bytes_locked, report.bytes_mapped, "{report:?}");
    assert!(
        report.guarded && report.hidden_from_fork && !report.fallback,
        "{report:?}"
    );

    let (valid, locked) = working_set(secret.expose_secret().as_ptr());
    let heap = vec![1u8; 4096 * 4];
    let (heap_valid, heap_locked) = working_set(heap[4096..].as_ptr());
    println!("arena page: valid {valid}, locked {locked}; heap page: valid {heap_valid}, locked {heap_locked}");
    assert!(
        !heap_locked,
        "the control: an ordinary heap page is not locked"
    );
    if under_wine() && !locked {
        // Wine 8 does not model locking: its VirtualLock succeeds and locks nothing (the
        // host kernel's VmLck for this process, read through drive Z:, stays as it was), and
        // QueryWorkingSetEx never sets the Locked bit. Only real Windows shows the bit.
        let locked_kib = host_locked_kib();
        println!(
            "under Wine: locking is not modelled (Locked bit clear, host VmLck {locked_kib} kB); \
             only real Windows can show the pages locked"
        );
        assert!(valid, "the arena page is resident");
    } else {
        assert!(
            valid && locked,
            "the arena page is not locked in the working set"
        );
    }
}

/// The address the guard-page child expects its fault at.
static FAULT_AT: AtomicUsize = AtomicUsize::new(0);

/// Ends the process with the exception's code if it is an access violation at
/// [`FAULT_AT`], and with 3 for any other exception.
unsafe extern "system" fn exit_with_fault(info: *const EXCEPTION_POINTERS) -> i32 {
    // SAFETY: the system passes a valid record for the exception being handled.
    let record = unsafe { &*(*info).ExceptionRecord };
    let expected = record.ExceptionCode == STATUS_ACCESS_VIOLATION
        && record.ExceptionInformation[1] == FAULT_AT.load(Ordering::SeqCst);
    let code = if expected {
        record.ExceptionCode as u32
    } else {
        3
    };
    // SAFETY: ends this process.
    unsafe { ExitProcess(code) }
}

/// The child's side of [`a_guard_page_faults`]: touches the last byte of a mapping
/// (`MICROKV_TOUCH=last`) or the byte after it (`after`).
#[test]
fn guard_page_child() {
    let Ok(which) = std::env::var("MICROKV_TOUCH") else {
        return;
    };
    let pages = OsPages::new();
    let region = pages.map(4096).expect("map");
    assert!(region.guarded);
    let offset = if which == "after" {
        region.len
    } else {
        region.len - 1
    };
    FAULT_AT.store(region.ptr.as_ptr() as usize + offset, Ordering::SeqCst);
    // The fault ends the process through our filter, with no crash dialog and no debugger
    // (Wine would start winedbg, whose exit code would replace the fault's).
    // SAFETY: installs a filter that only reads the exception record and exits.
    unsafe { SetUnhandledExceptionFilter(Some(exit_with_fault)) };
    // SAFETY: the last byte is ours; the byte after is the guard page, whose fault is the
    // point of the test (the process dies of it).
    let byte = unsafe { region.ptr.as_ptr().add(offset).read_volatile() };
    println!("read {byte}");
    std::process::exit(0);
}

#[test]
fn a_guard_page_faults() {
    let last = rerun::rerun_self("guard_page_child", &[("MICROKV_TOUCH", "last")]);
    assert!(
        last.success(),
        "the control: reading the last byte is fine: {last:?}"
    );
    let after = rerun::rerun_self("guard_page_child", &[("MICROKV_TOUCH", "after")]);
    // STATUS_ACCESS_VIOLATION as the exit code.
    assert_eq!(
        after.code().map(|c| c as u32),
        Some(0xC000_0005),
        "{after:?}"
    );
}

const MARKER: &[u8; 32] = b"microkv-harden-test-marker-32-b!";

/// The child's side of [`harden_process_refuses_read_process_memory`]: hardens itself if
/// asked, holds a marker, prints its address, and waits for its stdin to close.
#[test]
fn victim_child() {
    let Ok(harden) = std::env::var("MICROKV_VICTIM") else {
        return;
    };
    if harden == "harden" {
        microkv::harden_process().expect("harden_process");
    }
    let held = Box::new(*MARKER);
    println!("ADDR {}", held.as_ptr() as usize);
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(held);
    std::process::exit(0);
}

/// Starts a victim child, then tries what a same-user attacker would: `OpenProcess` with
/// `PROCESS_VM_READ` and `ReadProcessMemory` of the marker. `Ok(bytes)` or `Err(last error)`.
fn attack(harden: bool) -> Result<Vec<u8>, u32> {
    let mut child = rerun::self_command("victim_child")
        .env("MICROKV_VICTIM", if harden { "harden" } else { "plain" })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: usize = loop {
        let line = lines
            .next()
            .expect("the victim printed no address")
            .unwrap();
        if let Some(addr) = line.strip_prefix("ADDR ") {
            break addr.trim().parse().unwrap();
        }
    };
    // SAFETY: opens another process by id; the handle is closed below.
    let handle = unsafe { OpenProcess(PROCESS_VM_READ, 0, child.id()) };
    let result = if handle.is_null() {
        // SAFETY: reads this thread's last error.
        Err(unsafe { GetLastError() })
    } else {
        let mut buf = vec![0u8; MARKER.len()];
        let mut read = 0usize;
        // SAFETY: reads the other process into our own buffer of that length.
        let ok = unsafe {
            ReadProcessMemory(
                handle,
                addr as *const c_void,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut read,
            )
        };
        // SAFETY: reads this thread's last error.
        let err = unsafe { GetLastError() };
        // SAFETY: our handle, closed once.
        unsafe { CloseHandle(handle) };
        if ok != 0 {
            Ok(buf[..read].to_vec())
        } else {
            Err(err)
        }
    };
    drop(child.stdin.take());
    child.wait().unwrap();
    result
}

#[test]
fn harden_process_refuses_read_process_memory() {
    let plain = attack(false);
    assert_eq!(
        plain.as_deref(),
        Ok(&MARKER[..]),
        "the control: an unhardened process gives up its memory"
    );
    let hardened = attack(true);
    // Wine's server checks a process object's DACL on OpenProcess as Windows does.
    assert_eq!(
        hardened,
        Err(ERROR_ACCESS_DENIED),
        "the hardened process was read"
    );
}
