//! After `fork`, the child's copy of the arena is zeros (`MADV_WIPEONFORK`), and the
//! store refuses to work there (`Error::KeysWiped`) instead of sealing under a zeroed key.
//! One test per binary: the child must be the copy of a process with no other busy thread.
#![cfg(target_os = "linux")]

use microkv::{Credential, Error, MicroKV};

/// Runs `child` in a forked child and returns its exit status code.
fn in_child(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `child`, then leaves with `_exit`; this binary's only
    // other thread (the test harness's main thread) is blocked waiting for this test.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(99);
        // SAFETY: leaving the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for the child we just made.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status),
        "child did not exit normally: {status:#x}"
    );
    libc::WEXITSTATUS(status)
}

#[test]
fn a_forked_child_sees_zeros_and_cannot_use_the_store() {
    let db = MicroKV::in_memory(Credential::key([7; 32])).unwrap();
    assert!(
        db.memory_report().wipe_on_fork,
        "this kernel did not accept MADV_WIPEONFORK"
    );
    db.put("token", &"parent-secret".to_string()).unwrap();
    let held = db.get_secret("token").unwrap().unwrap();
    assert_eq!(held.expose_secret(), b"parent-secret");

    let code = in_child(|| {
        if held.expose_secret().iter().any(|&b| b != 0) {
            return 1; // the child can read the parent's plaintext
        }
        if !matches!(db.get::<String>("token"), Err(Error::KeysWiped)) {
            return 2;
        }
        if !matches!(db.put("new", &"child".to_string()), Err(Error::KeysWiped)) {
            return 3; // sealed something under a zeroed key
        }
        if db.contains("new").unwrap_or(true) {
            return 4;
        }
        if !matches!(
            db.update::<String, _>("token", |v| v),
            Err(Error::KeysWiped)
        ) {
            return 5;
        }
        0
    });
    assert_eq!(code, 0, "child check {code} failed");

    // The parent is unaffected.
    assert_eq!(held.expose_secret(), b"parent-secret");
    assert_eq!(
        db.get::<String>("token").unwrap().as_deref(),
        Some("parent-secret")
    );
    db.put("after", &1u8).unwrap();
}
