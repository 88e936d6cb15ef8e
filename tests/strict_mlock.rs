//! The `strict-mlock` feature (microkv 0.3's name): the default memory policy (`Auto`) on
//! the OS pages the facade maps becomes `Strict`, so a store refuses to run on memory it
//! cannot lock; a policy the caller names is kept. Without the feature, `Auto` runs on
//! unlocked memory and says so. Tried in a forked child that may lock nothing
//! (RLIMIT_MEMLOCK 0, no CAP_IPC_LOCK); CI's `--all-features` run takes the first branch,
//! a plain `cargo test` the second.
#![cfg(unix)]

#[path = "support/child.rs"]
mod child;

use microkv::{Config, Credential, Error, MemoryPolicy, MicroKV, Store};

fn open(memory: MemoryPolicy) -> microkv::Result<MicroKV> {
    let config = Config {
        memory,
        ..Default::default()
    };
    MicroKV::in_memory_with(Credential::key([3; 32]), config)
}

/// In the child: 0 if the default policy behaved as the build's features say.
fn child() -> i32 {
    if let Err(code) = child::drop_lock_privilege(0) {
        return code;
    }
    assert_eq!(Config::default().memory, MemoryPolicy::Auto);
    // The facade's constructor, and the core's re-exported `Store`, which a user may
    // call too: the feature reaches both.
    let defaults = [
        open(MemoryPolicy::Auto).map(|db| db.memory_report()),
        Store::in_memory(Credential::key([3; 32])).map(|db| db.memory_report()),
    ];
    for default in defaults {
        if cfg!(feature = "strict-mlock") {
            if !matches!(default, Err(Error::SecureAlloc)) {
                return 20; // the feature did not make the default strict
            }
        } else {
            match default {
                Ok(report) if report.fallback => {}
                _ => return 21, // without the feature the default runs, and says so
            }
        }
    }
    // Named policies are the caller's, with the feature or without.
    match open(MemoryPolicy::BestEffort) {
        Ok(db) if db.memory_report().fallback => {}
        _ => return 22,
    }
    if !matches!(open(MemoryPolicy::Strict), Err(Error::SecureAlloc)) {
        return 23;
    }
    0
}

#[test]
fn strict_mlock_makes_the_default_policy_strict() {
    let status = child::in_child(child);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: status {status:#x}"
    );
}
