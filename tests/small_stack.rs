//! The store works from a thread with a small stack: the scrub after each AEAD call is
//! bounded by the stack left to the thread, and the KDF runs on a stack of its own. A
//! thread of 32 KiB (cargo test's dev profile: debug assertions on, where the scrub was a
//! fixed 32 KiB before issue 24 and a get on a 40 KiB thread aborted with "thread has
//! overflowed its stack") opens a password store, puts, gets and saves.
//!
//! Run in a forked child, since an overflow aborts the whole process; the child's status
//! is the verdict. Control: the same child recursing through 64 KiB of frames on that
//! thread dies of the overflow (the thread really is that small).
#![cfg(target_os = "linux")]

#[path = "support/child.rs"]
mod child;
#[path = "support/frames.rs"]
mod frames;
use frames::recurse;

use microkv::{Config, Credential, KdfParams, MicroKV};

const SMALL: usize = 32 * 1024;

/// Runs `f` on a thread with a `SMALL` stack, in a forked child; the child's wait status.
fn on_small_thread(f: fn() -> i32) -> libc::c_int {
    child::in_child(move || {
        std::thread::Builder::new()
            .stack_size(SMALL)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap_or(101)
    })
}

fn use_the_store() -> i32 {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        kdf: KdfParams::argon2id(1024, 1, 1),
        ..Config::default()
    };
    let path = dir.path().join("small.kv");
    let db = MicroKV::open_with(&path, Credential::password("pw"), config()).unwrap();
    db.put("k", "a value").unwrap();
    let got = db.get::<String>("k").unwrap();
    let held = db.get_secret_bytes("k").unwrap().unwrap();
    db.save().unwrap();
    drop(db);
    let db = MicroKV::open_with(&path, Credential::password("pw"), config()).unwrap();
    let again = db.get::<String>("k").unwrap();
    if got.as_deref() != Some("a value") || held.expose_secret() != b"a value" {
        return 1;
    }
    if again.as_deref() != Some("a value") {
        return 2;
    }
    0
}

#[test]
fn a_store_works_on_a_32_kib_thread() {
    let status = on_small_thread(use_the_store);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the store on a {SMALL}-byte thread: wait status {status:#x}"
    );
    // Control: 64 KiB of frames do not fit there.
    let status = on_small_thread(|| i32::from(recurse(64)));
    assert!(
        !libc::WIFEXITED(status),
        "control: 64 KiB of frames fit on a {SMALL}-byte thread (status {status:#x})"
    );
}
