//! A child forked while a handle is open shares its lock file's open description (a
//! `flock` lock belongs to the description, not the descriptor): the handle unlocks
//! before it closes, so dropping it frees the store even while that child lives. A
//! process that spawns children from one thread while another reopens its store would
//! otherwise get `Locked` for as long as a child sat between its fork and its exec.
//! One test per binary: the child must be the copy of a process with no other busy thread.
#![cfg(unix)]

use std::time::Duration;

use microkv::{Config, Credential, LockMode, MicroKV};

#[path = "support/child.rs"]
mod child;
use child::{exit_code, fork_child, wait_child};

#[test]
fn a_forked_child_does_not_keep_a_dropped_handles_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    let config = Config {
        lock_mode: LockMode::Exclusive,
        ..Default::default()
    };
    let db = MicroKV::open_with(&path, Credential::key([5; 32]), config.clone()).unwrap();
    db.put("k", &1u32).unwrap();
    db.save().unwrap();
    // The child holds a copy of every descriptor, the lock file's among them, and never
    // execs: it sleeps past the parent's reopen.
    let pid = fork_child(|| {
        std::thread::sleep(Duration::from_millis(1500));
        0
    });
    drop(db);
    let reopened = MicroKV::open_with(&path, Credential::key([5; 32]), config);
    let status = wait_child(pid);
    assert_eq!(exit_code(status), 0);
    let db = reopened.expect("the dropped handle's lock outlived it in the forked child");
    assert_eq!(db.get::<u32>("k").unwrap(), Some(1));
}
