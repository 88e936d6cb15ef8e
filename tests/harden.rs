//! `harden_process()`: the process becomes non-dumpable, the store's memory report says so,
//! and a crash writes no core dump. Each case runs in a forked child (hardening is for the
//! whole process and for good), which reports through its exit status; one test, so that
//! nothing else runs while this binary forks. The same-user `/proc/PID/mem` refusal is
//! shown by tests/attack.rs.
#![cfg(target_os = "linux")]

use microkv::{Credential, MicroKV};

#[path = "support/child.rs"]
mod child;
use child::in_child;

/// In a child: optionally hardens, then crashes with `abort` in a scratch directory with
/// every core-size limit raised as far as allowed. Returns the raw wait status.
fn crash(harden: bool) -> libc::c_int {
    let dir = tempfile::tempdir().unwrap();
    let status = in_child(|| {
        std::env::set_current_dir(dir.path()).unwrap();
        let unlimited = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: `unlimited` is a valid rlimit for the call; a failure (no privilege to
        // raise the hard limit) leaves the limit as it was, which the control catches.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &unlimited) };
        if harden && microkv::harden_process().is_err() {
            return 40;
        }
        // SAFETY: ends the child with SIGABRT, as a crash would.
        unsafe { libc::abort() }
    });
    drop(dir);
    status
}

#[test]
fn a_hardened_process_is_not_dumpable_and_writes_no_core() {
    // The report of an unhardened process says it is dumpable, and warns.
    let db = MicroKV::in_memory(Credential::key([3; 32])).unwrap();
    db.put("k", "v").unwrap();
    assert_eq!(db.memory_report().process_dumpable, Some(true));
    let status = in_child(|| {
        if microkv::harden_process().is_err() {
            return 1;
        }
        let report = db.memory_report();
        if report.process_dumpable != Some(false) {
            return 2;
        }
        // Without secret memory the warning names root as the one reader left.
        let anonymous = microkv::Config {
            pages: Some(std::sync::Arc::new(microkv::OsPages::anonymous())),
            ..Default::default()
        };
        let other = match MicroKV::in_memory_with(Credential::key([4; 32]), anonymous) {
            Ok(db) => db,
            Err(_) => return 3,
        };
        if other.put("k", "v").is_err() {
            return 4;
        }
        match other.memory_report().warning() {
            Some(w) if w.contains("root can read") => {}
            _ => return 5,
        }
        let mut core = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: `core` is a valid, writable rlimit for the call.
        if unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut core) } != 0 || core.rlim_max != 0 {
            return 6;
        }
        0
    });
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "hardened child check failed (status {status:#x})"
    );

    // Control: the same crash without hardening dumps core, or the next check proves
    // nothing.
    let status = crash(false);
    assert!(
        libc::WIFSIGNALED(status) && libc::WCOREDUMP(status),
        "control: an unhardened crash wrote no core dump here (status {status:#x})"
    );
    let status = crash(true);
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGABRT,
        "hardened child did not crash as asked (status {status:#x})"
    );
    assert!(
        !libc::WCOREDUMP(status),
        "a hardened process wrote a core dump"
    );
}
