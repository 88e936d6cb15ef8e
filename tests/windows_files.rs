//! Windows file protection, read back through the OS:
//!
//! - every file the store creates (the store file, its journal, `<file>.lock` and
//!   `<file>.wlock`) grants no one but the current user (and the system) any access:
//!   Windows' mode 0600 (control: a file std creates in the same directory gets the
//!   directory's default, which grants others too);
//! - the owner's journal append is refused once the store file was replaced behind its
//!   back, which the file ID (volume serial and file index) tells (control: the same
//!   append before the replace is accepted).
//!
//! Wine 8 (CI runs this file under it) keeps no DACL of a file's own: it turns the DACL
//! given at creation into the file's Unix mode (0600 here, 0644 for the control) and
//! reports a DACL derived from that mode. So under Wine the test shows that nothing but the
//! user is granted; that the DACL is protected (`D:P(A;;FA;;;<user>)`, no inherited
//! entries) only real Windows shows, as it does that the DACL holds against another user,
//! and the refusal of a reparse point (Wine 8 cannot create one): README's platform matrix.
#![cfg(windows)]

use std::os::windows::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use microkv::{AutoSave, Config, Error, LockMode, Storage};
use microkv_std::FileStorage;
use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, ERROR_SUCCESS, HANDLE};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW,
    GetNamedSecurityInfoW, SDDL_REVISION_1, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, TokenUser, DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, TOKEN_QUERY,
    TOKEN_USER,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

#[path = "support/store.rs"]
mod store;
use store::saved_store;

const KEY: [u8; 32] = [0x42; 32];

/// A wide string owned by `LocalAlloc`, as Rust text (freed here).
fn take_wide(p: *mut u16) -> String {
    assert!(!p.is_null());
    // SAFETY: `p` is a NUL-terminated wide string the OS allocated for us.
    let len = (0..).take_while(|&i| unsafe { *p.add(i) } != 0).count();
    // SAFETY: `len` u16s are readable at `p` (counted above).
    let text = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) });
    // SAFETY: allocated by the OS with LocalAlloc, freed once.
    unsafe { LocalFree(p.cast()) };
    text
}

/// This process's user, as an SDDL SID string (`S-1-5-21-…`).
fn current_user() -> String {
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: this process's pseudo-handle; the call writes `token`.
    assert_ne!(
        unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) },
        0
    );
    let mut buf = vec![0u64; 128];
    let mut needed = 0u32;
    // SAFETY: `buf` holds 1024 writable bytes, 8-aligned for TOKEN_USER.
    let ok = unsafe {
        GetTokenInformation(token, TokenUser, buf.as_mut_ptr().cast(), 1024, &mut needed)
    };
    // SAFETY: the token handle is ours, closed once.
    unsafe { CloseHandle(token) };
    assert_ne!(ok, 0);
    let mut text = ptr::null_mut();
    // SAFETY: the buffer holds a TOKEN_USER whose SID points into it.
    let ok =
        unsafe { ConvertSidToStringSidW((*buf.as_ptr().cast::<TOKEN_USER>()).User.Sid, &mut text) };
    assert_ne!(ok, 0);
    take_wide(text)
}

/// The DACL of the file at `path` in SDDL (`D:P(A;;FA;;;S-…)`: protected, one entry).
fn dacl_of(path: &Path) -> String {
    let name: Vec<u16> = path.as_os_str().encode_wide().chain([0]).collect();
    let mut sd: PSECURITY_DESCRIPTOR = ptr::null_mut();
    // SAFETY: `name` is NUL-terminated; the call allocates `sd`, freed below.
    let rc = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            &mut sd,
        )
    };
    assert_eq!(rc, ERROR_SUCCESS, "{}", path.display());
    let mut text = ptr::null_mut();
    // SAFETY: `sd` is the descriptor the call above returned.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            ptr::null_mut(),
        )
    };
    // SAFETY: allocated by GetNamedSecurityInfoW, freed once.
    unsafe { LocalFree(sd) };
    assert_ne!(ok, 0);
    take_wide(text)
}

#[test]
fn every_file_the_store_creates_is_the_current_user_s_alone() {
    let config = Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    };
    let (dir, path, db) = saved_store(KEY, config, "a");
    db.put("b", &2u32).unwrap();
    let user = current_user();
    let journal = dir.path().join("store.kv.journal");
    let lock = dir.path().join("store.kv.lock");
    let wlock = dir.path().join("store.kv.wlock");
    for file in [&path, &journal, &lock, &wlock] {
        assert!(file.exists(), "{}", file.display());
        let dacl = dacl_of(file);
        let others = grantees(&dacl, &user);
        assert!(others.is_empty(), "{}: {dacl}", file.display());
        assert!(dacl.contains(&format!("(A;;FA;;;{user})")), "{dacl}");
    }
    // Control: what the directory gives a file created without a DACL of its own.
    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"x").unwrap();
    let inherited = dacl_of(&plain);
    assert!(!grantees(&inherited, &user).is_empty(), "{inherited}");
    eprintln!(
        "store files: {}; a file std creates there: {inherited}",
        dacl_of(&path)
    );
}

/// The SIDs that the SDDL `dacl` grants anything to, other than `user` and the system
/// (`SY`, which Windows services run as; Wine lists it in every file's DACL, as it
/// derives a file's DACL from its Unix mode: it keeps no DACL of its own for a file).
fn grantees(dacl: &str, user: &str) -> Vec<String> {
    dacl.split('(')
        .skip(1)
        .filter(|ace| ace.starts_with("A;"))
        .filter_map(|ace| ace.trim_end_matches(')').rsplit(';').next())
        .filter(|sid| *sid != user && *sid != "SY")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_owner_notices_its_store_file_replaced_by_its_file_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    let storage = FileStorage::open(&path, LockMode::Exclusive).unwrap();
    storage.store(b"snapshot one").unwrap();
    // Control: the file is the one it saved: the append is accepted.
    assert!(storage.append(0, b"record").unwrap());
    // Another file renamed over the store file, with the same bytes: only its identity
    // differs.
    let other = dir.path().join("other");
    std::fs::write(&other, b"snapshot one").unwrap();
    std::fs::rename(&other, &path).unwrap();
    let err = storage.append(6, b"record").unwrap_err();
    assert!(matches!(err, Error::UnexpectedFile(_)), "{err:?}");
}
