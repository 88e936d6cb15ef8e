//! After `fork`, the child cannot read the parent's arena (with secret memory it is not
//! mapped there at all: `MADV_DONTFORK`), and the store refuses to work there
//! (`Error::Forked`) instead of sealing under the parent's nonces, whatever the page
//! source: OS pages, and heap pages that nothing hides from the child.
//! One test per binary: the child must be the copy of a process with no other busy thread.
#![cfg(target_os = "linux")]

use std::sync::Arc;

use microkv::{Config, Credential, Error, HeapPages, MicroKV};

#[path = "support/child.rs"]
mod child;
use child::{exit_code, in_child};

/// OS pages (secret memory where the kernel has it: the child has no mapping there), then
/// heap pages, which nothing hides from the child: its copy of every byte is readable, so
/// only the process check stands between it and sealing under the parent's nonces. One
/// test, so that nothing else runs while this binary forks.
#[test]
fn a_forked_child_cannot_read_or_use_the_store() {
    let db = MicroKV::in_memory(Credential::key([7; 32])).unwrap();
    assert!(
        db.memory_report().hidden_from_fork,
        "this kernel did not accept MADV_DONTFORK / MADV_WIPEONFORK"
    );
    forked_child_is_refused(&db, Config::default());

    let heap = || Config {
        pages: Some(Arc::new(HeapPages)),
        ..Config::default()
    };
    let db = MicroKV::in_memory_with(Credential::key([7; 32]), heap()).unwrap();
    assert!(!db.memory_report().hidden_from_fork, "control: heap pages");
    forked_child_is_refused(&db, heap());
}

fn forked_child_is_refused(db: &MicroKV, config: Config) {
    db.put("token", &"parent-secret".to_string()).unwrap();
    let held = db.get_secret_bytes("token").unwrap().unwrap();
    assert_eq!(held.expose_secret(), b"parent-secret");
    // Dropped in the child: must not touch memory that may not be mapped there.
    let other = MicroKV::in_memory_with(Credential::key([8; 32]), config).unwrap();
    other.put("k", "v").unwrap();
    let other_held = other.get_secret_bytes("k").unwrap().unwrap();

    let code = exit_code(in_child(move || {
        if !held.expose_secret().is_empty() {
            return 1; // the child can read the parent's plaintext
        }
        if !matches!(db.get::<String>("token"), Err(Error::Forked)) {
            return 2;
        }
        if !matches!(db.put("new", &"child".to_string()), Err(Error::Forked)) {
            return 3; // sealed something under the parent's nonces
        }
        if db.contains("new").unwrap_or(true) {
            return 4;
        }
        if !matches!(db.update::<String, _>("token", |v| v), Err(Error::Forked)) {
            return 5;
        }
        drop(other_held);
        drop(other);
        0
    }));
    assert_eq!(
        code, 0,
        "child check {code} failed (128+N: killed by signal N)"
    );

    // The parent is unaffected.
    let held = db.get_secret_bytes("token").unwrap().unwrap();
    assert_eq!(held.expose_secret(), b"parent-secret");
    assert_eq!(
        db.get::<String>("token").unwrap().as_deref(),
        Some("parent-secret")
    );
    db.put("after", &1u8).unwrap();
}
