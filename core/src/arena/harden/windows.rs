//! Windows hardening: a protected process DACL that leaves the user no memory access to
//! this process (after KeePassXC's `createWindowsDACL`), and no error-report heap dumps.
#![allow(unsafe_code)]

extern crate alloc;
extern crate std;

use alloc::vec;
use core::ffi::c_void;
use core::ptr;
use std::io;

use windows_sys::Win32::Foundation::{CloseHandle, ERROR_SUCCESS, HANDLE};
use windows_sys::Win32::Security::Authorization::{SetSecurityInfo, SE_KERNEL_OBJECT};
use windows_sys::Win32::Security::{
    AddAccessAllowedAce, CreateWellKnownSid, GetLengthSid, GetTokenInformation, InitializeAcl,
    TokenUser, WinCreatorOwnerRightsSid, ACCESS_ALLOWED_ACE, ACL, ACL_REVISION,
    DACL_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, SECURITY_MAX_SID_SIZE,
    TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::Storage::FileSystem::{READ_CONTROL, SYNCHRONIZE};
use windows_sys::Win32::System::Diagnostics::Debug::{
    SetErrorMode, SEM_FAILCRITICALERRORS, SEM_NOGPFAULTERRORBOX,
};
use windows_sys::Win32::System::ErrorReporting::{WerSetFlags, WER_FAULT_REPORTING_FLAG_NOHEAP};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_TERMINATE,
};

/// What the user keeps: wait for the process, ask its name and exit code, end it. No
/// `PROCESS_VM_READ`, `VM_WRITE`, `VM_OPERATION`, `DUP_HANDLE`, `CREATE_THREAD`,
/// `QUERY_INFORMATION` (which `MiniDumpWriteDump` needs).
const USER_ACCESS: u32 = SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_TERMINATE;

/// `false` from a Win32 call as the thread's last error.
fn check(ok: i32) -> io::Result<()> {
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A token handle, closed on drop.
struct Token(HANDLE);

impl Drop for Token {
    fn drop(&mut self) {
        // SAFETY: the handle came from OpenProcessToken and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// Replaces this process's DACL with one that grants the user [`USER_ACCESS`] only and the
/// owner `READ_CONTROL` only (the OWNER RIGHTS entry takes away the owner's implicit
/// `WRITE_DAC`), protected from inherited entries.
pub(super) fn deny_other_processes() -> io::Result<()> {
    let mut raw: HANDLE = ptr::null_mut();
    // SAFETY: the pseudo-handle of this process; the call writes `raw`.
    check(unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut raw) })?;
    let token = Token(raw);

    // The TOKEN_USER structure with its SID, in a buffer aligned for it.
    let mut needed = 0u32;
    // SAFETY: a size query: no buffer, the call writes `needed`.
    unsafe { GetTokenInformation(token.0, TokenUser, ptr::null_mut(), 0, &mut needed) };
    let mut user = vec![0u64; (needed as usize).div_ceil(8).max(1)];
    let len = u32::try_from(user.len() * 8).map_err(|_| io::ErrorKind::InvalidData)?;
    // SAFETY: `user` holds `len` writable bytes, 8-aligned as TOKEN_USER needs.
    check(unsafe {
        GetTokenInformation(
            token.0,
            TokenUser,
            user.as_mut_ptr().cast::<c_void>(),
            len,
            &mut needed,
        )
    })?;
    // SAFETY: the call filled a TOKEN_USER at the start of `user`, whose SID pointer points
    // into `user` itself, which lives to the end of this function.
    let user_sid = unsafe { (*user.as_ptr().cast::<TOKEN_USER>()).User.Sid };

    let mut owner = [0u32; SECURITY_MAX_SID_SIZE as usize / 4];
    let mut owner_len = SECURITY_MAX_SID_SIZE;
    let owner_sid = owner.as_mut_ptr().cast::<c_void>();
    // SAFETY: `owner` holds SECURITY_MAX_SID_SIZE writable bytes, 4-aligned.
    check(unsafe {
        CreateWellKnownSid(
            WinCreatorOwnerRightsSid,
            ptr::null_mut(),
            owner_sid,
            &mut owner_len,
        )
    })?;

    // SAFETY: both SIDs are valid (filled in above).
    let sids = unsafe { GetLengthSid(user_sid) + GetLengthSid(owner_sid) };
    let acl_len = core::mem::size_of::<ACL>() as u32
        + 2 * core::mem::size_of::<ACCESS_ALLOWED_ACE>() as u32
        + sids;
    let mut acl = vec![0u32; (acl_len as usize).div_ceil(4)];
    let acl = acl.as_mut_ptr().cast::<ACL>();
    // SAFETY: `acl` points to `acl_len` writable bytes, 4-aligned, the size the two entries
    // need; the SIDs are valid.
    unsafe {
        check(InitializeAcl(acl, acl_len, ACL_REVISION))?;
        check(AddAccessAllowedAce(
            acl,
            ACL_REVISION,
            USER_ACCESS,
            user_sid,
        ))?;
        check(AddAccessAllowedAce(
            acl,
            ACL_REVISION,
            READ_CONTROL,
            owner_sid,
        ))?;
    }
    // SAFETY: sets the DACL of this process from the ACL built above (copied by the call).
    let rc = unsafe {
        SetSecurityInfo(
            GetCurrentProcess(),
            SE_KERNEL_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            ptr::null_mut(),
            ptr::null_mut(),
            acl,
            ptr::null(),
        )
    };
    if rc != ERROR_SUCCESS {
        return Err(io::Error::from_raw_os_error(rc as i32));
    }
    Ok(())
}

/// No crash dialog, and no heap in the reports Windows Error Reporting collects.
pub(super) fn no_error_reports() -> io::Result<()> {
    let wanted = SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX;
    // SAFETY: SetErrorMode only changes this process's error mode; set it once to read the
    // old mode, then again with the old bits kept.
    unsafe {
        let old = SetErrorMode(wanted);
        SetErrorMode(old | wanted);
    }
    // SAFETY: changes a WER flag of this process.
    let hr = unsafe { WerSetFlags(WER_FAULT_REPORTING_FLAG_NOHEAP) };
    if hr < 0 {
        return Err(io::Error::from_raw_os_error(hr));
    }
    Ok(())
}
