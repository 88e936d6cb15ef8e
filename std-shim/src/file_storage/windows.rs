//! The Windows calls of the file layer, the one module of this crate with `unsafe` code:
//! byte-range locks on `<file>.lock` ([`try_lock`], [`unlock`]), a file's identity
//! ([`file_id`]), creating a file that only the current user may open
//! ([`create_private`]), and the write-through replace of the store file
//! ([`move_replacing`]).
//!
//! std's `File::lock` locks a whole file, and Windows locks are mandatory and not
//! re-entrant: a handle that holds one cannot take it again, and a lock on the store file
//! would refuse its readers and make the rename over it fail. So each lock of
//! [`FileStorage`](super::FileStorage) on Windows is one byte of the lock file, whose
//! contents no one reads or writes: [`HANDLE_BYTE`] for the lock a handle holds for its
//! life (`LockMode`), [`REPLACE_BYTE`] for a writer's compare-and-replace.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_void, OsStr};
use std::fs::File;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::path::Path;
use std::ptr;

use super::regular::Access;

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_IO_PENDING, ERROR_LOCK_VIOLATION, ERROR_SHARING_VIOLATION,
    GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Security::{
    AddAccessAllowedAce, GetLengthSid, GetTokenInformation, InitializeAcl,
    InitializeSecurityDescriptor, SetSecurityDescriptorControl, SetSecurityDescriptorDacl,
    TokenUser, ACCESS_ALLOWED_ACE, ACL, ACL_REVISION, SECURITY_ATTRIBUTES, SECURITY_DESCRIPTOR,
    SE_DACL_PROTECTED, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, GetFileInformationByHandle, LockFileEx, MoveFileExW, UnlockFileEx,
    BY_HANDLE_FILE_INFORMATION, CREATE_NEW, FILE_ALL_ACCESS, FILE_ATTRIBUTE_NORMAL,
    FILE_FLAG_OPEN_REPARSE_POINT, FILE_GENERIC_WRITE, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE, FILE_WRITE_DATA, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY,
    MOVEFILE_REPLACE_EXISTING, MOVEFILE_WRITE_THROUGH,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
use windows_sys::Win32::System::IO::OVERLAPPED;

/// Whether another handle refused this call for a moment, so that it is worth retrying:
/// `ERROR_ACCESS_DENIED` (among others, what a classic rename over a file that a handle
/// holds open, and an open of a file whose deletion is pending, get), a sharing violation
/// (another handle's share mode) or a lock violation.
pub(super) fn refused(e: &io::Error) -> bool {
    let code = e.raw_os_error().and_then(|c| u32::try_from(c).ok());
    matches!(
        code,
        Some(ERROR_ACCESS_DENIED | ERROR_SHARING_VIOLATION | ERROR_LOCK_VIOLATION)
    )
}

/// The byte a handle locks for its life: shared or exclusive, as its `LockMode`.
pub(super) const HANDLE_BYTE: u32 = 0;
/// The byte a writer locks, exclusively, around its check and replace.
pub(super) const REPLACE_BYTE: u32 = 1;

fn overlapped(byte: u32) -> OVERLAPPED {
    let mut overlapped = OVERLAPPED::default();
    overlapped.Anonymous.Anonymous.Offset = byte;
    overlapped
}

/// Tries to lock `byte` of `file` without waiting: `Ok(false)` if another handle holds a
/// conflicting lock on it (this one included: Windows locks are not re-entrant).
pub(super) fn try_lock(file: &File, byte: u32, exclusive: bool) -> io::Result<bool> {
    let mut flags = LOCKFILE_FAIL_IMMEDIATELY;
    if exclusive {
        flags |= LOCKFILE_EXCLUSIVE_LOCK;
    }
    let mut overlapped = overlapped(byte);
    // SAFETY: `file`'s handle is open for the call; with LOCKFILE_FAIL_IMMEDIATELY on a
    // handle opened for synchronous I/O (std never opens one overlapped) the call completes
    // before it returns, so `overlapped` (a local) outlives its use.
    let ok = unsafe { LockFileEx(file.as_raw_handle(), flags, 0, 1, 0, &mut overlapped) };
    if ok != 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error().map(|e| e as u32) {
        Some(ERROR_LOCK_VIOLATION | ERROR_IO_PENDING) => Ok(false),
        _ => Err(err),
    }
}

/// Releases this handle's lock on `byte` of `file`.
pub(super) fn unlock(file: &File, byte: u32) -> io::Result<()> {
    let mut overlapped = overlapped(byte);
    // SAFETY: as in `try_lock`: an open handle, and a synchronous call on a local.
    if unsafe { UnlockFileEx(file.as_raw_handle(), 0, 1, 0, &mut overlapped) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Which file `file` is: its volume's serial number and its file index, Windows' device
/// and inode (`GetFileInformationByHandle`), and its link count.
pub(super) fn file_id(file: &File) -> io::Result<((u32, u64), u32)> {
    let mut info = BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: `file`'s handle is open for the call, which fills `info`, a local.
    if unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut info) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
    Ok(((info.dwVolumeSerialNumber, index), info.nNumberOfLinks))
}

/// Renames `from` over `to`, replacing it, and returns only once the move is on the disk:
/// `MoveFileExW(MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)`, what a Windows
/// program asks for a durable replace (the flag's documented promise: "the function does
/// not return until the file is actually moved on the disk"). A classic rename: it fails
/// with `ERROR_ACCESS_DENIED` while any handle is open on `to` (see `rename_over`).
/// Wine 8 ignores the flag (its `MoveFileWithProgressW` makes the same
/// `NtSetInformationFile(FileRenameInformation)` call with and without it).
pub(super) fn move_replacing(from: &Path, to: &Path) -> io::Result<()> {
    let (from, to) = (wide(from), wide(to));
    // SAFETY: both are NUL-terminated wide strings that live across the call.
    check(unsafe {
        MoveFileExW(
            from.as_ptr(),
            to.as_ptr(),
            MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH,
        )
    })
}

/// `path` as a NUL-terminated wide string.
fn wide(path: &Path) -> Vec<u16> {
    OsStr::new(path).encode_wide().chain([0]).collect()
}

/// `false` from a Win32 call as the thread's last error.
fn check(ok: i32) -> io::Result<()> {
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Creates the file at `path` (`CREATE_NEW`: an error if anything is there, a reparse
/// point included, which is never followed) with a protected DACL that grants the current
/// user, and no one else, full access: Windows' mode 0600. The DACL is given at creation
/// (`SECURITY_ATTRIBUTES`), so the file never exists with the directory's inherited
/// entries. Shared for reading, writing and deletion, as std opens files.
pub(super) fn create_private(path: &Path, access: Access) -> io::Result<File> {
    let user = current_user()?;
    // SAFETY: `user` holds a TOKEN_USER at its start (filled by GetTokenInformation), whose
    // SID points into `user`, which lives to the end of this function.
    let sid = unsafe { (*user.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    // SAFETY: the SID is valid (above).
    let sid_len = unsafe { GetLengthSid(sid) };
    let acl_len = (size_of::<ACL>() + size_of::<ACCESS_ALLOWED_ACE>()) as u32 + sid_len;
    let mut acl = vec![0u32; (acl_len as usize).div_ceil(4)];
    let acl = acl.as_mut_ptr().cast::<ACL>();
    let mut descriptor = SECURITY_DESCRIPTOR::default();
    let sd = ptr::from_mut(&mut descriptor).cast::<c_void>();
    /// `SECURITY_DESCRIPTOR_REVISION` (`Win32_System_SystemServices`).
    const SECURITY_DESCRIPTOR_REVISION: u32 = 1;
    // SAFETY: `acl` points to `acl_len` writable bytes, 4-aligned, the size one entry for
    // `sid` needs; `sd` is a local SECURITY_DESCRIPTOR, made absolute and pointed at the
    // ACL, both of which outlive the CreateFileW call below.
    unsafe {
        check(InitializeAcl(acl, acl_len, ACL_REVISION))?;
        check(AddAccessAllowedAce(acl, ACL_REVISION, FILE_ALL_ACCESS, sid))?;
        check(InitializeSecurityDescriptor(
            sd,
            SECURITY_DESCRIPTOR_REVISION,
        ))?;
        check(SetSecurityDescriptorDacl(sd, 1, acl, 0))?;
        check(SetSecurityDescriptorControl(
            sd,
            SE_DACL_PROTECTED,
            SE_DACL_PROTECTED,
        ))?;
    }
    let attributes = SECURITY_ATTRIBUTES {
        nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: sd,
        bInheritHandle: 0,
    };
    let desired = match access {
        Access::ReadWrite => GENERIC_READ | GENERIC_WRITE,
        Access::Write => GENERIC_WRITE,
        // As std's `append(true)`: write access without FILE_WRITE_DATA, so every write
        // goes to the end.
        Access::Append => FILE_GENERIC_WRITE & !FILE_WRITE_DATA,
    };
    let name = wide(path);
    // SAFETY: `name` is a NUL-terminated wide string and `attributes` points to the
    // descriptor built above; all live across the call.
    let handle = unsafe {
        CreateFileW(
            name.as_ptr(),
            desired,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            &attributes,
            CREATE_NEW,
            FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT,
            ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid handle, just created, that nothing else owns.
    Ok(File::from(unsafe { OwnedHandle::from_raw_handle(handle) }))
}

/// This process's TOKEN_USER (the user and its SID), in a buffer aligned for it.
fn current_user() -> io::Result<Vec<u64>> {
    let mut raw: HANDLE = ptr::null_mut();
    // SAFETY: the pseudo-handle of this process; the call writes `raw`.
    check(unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut raw) })?;
    // SAFETY: a token handle this function owns from here on.
    let token = unsafe { OwnedHandle::from_raw_handle(raw) };
    let mut needed = 0u32;
    // SAFETY: a size query: no buffer, the call writes `needed`.
    unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenUser,
            ptr::null_mut(),
            0,
            &mut needed,
        )
    };
    let mut user = vec![0u64; (needed as usize).div_ceil(8).max(1)];
    let len = u32::try_from(user.len() * 8).map_err(|_| io::ErrorKind::InvalidData)?;
    // SAFETY: `user` holds `len` writable bytes, 8-aligned as TOKEN_USER needs.
    check(unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenUser,
            user.as_mut_ptr().cast::<c_void>(),
            len,
            &mut needed,
        )
    })?;
    Ok(user)
}
