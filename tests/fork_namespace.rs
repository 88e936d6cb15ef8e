//! The fork check is not fooled by process ids: a store made by pid 1 of a PID namespace
//! (a container's entrypoint) that then calls `unshare(CLONE_NEWPID)` and forks has a child
//! that is pid 1 too. That child must get `Error::Forked` on every page source (secret
//! memory, anonymous locked pages, heap pages), must not die of a fault touching memory the
//! page source kept from it, and must seal nothing under the parent's nonces.
//!
//! Needs root (`unshare(CLONE_NEWPID)` needs `CAP_SYS_ADMIN`): without it the test says so
//! and passes, except under CI (`CI` set), where it fails. One test per binary: it forks.
#![cfg(target_os = "linux")]

use std::sync::Arc;

use microkv::{AutoSave, Config, Credential, Error, HeapPages, MemoryPolicy, MicroKV, OsPages};

#[path = "support/child.rs"]
mod child;

/// Runs `child` in a forked child and returns its exit code (`128 + N`: killed by
/// signal N).
fn in_child(child: impl FnOnce() -> i32) -> i32 {
    child::exit_code(child::in_child(child))
}

/// `unshare(CLONE_NEWPID)`: the next child of this process is pid 1 of a new namespace.
fn new_pid_namespace() -> std::io::Result<()> {
    // SAFETY: unshare takes no pointers; CLONE_NEWPID affects only children made later.
    if unsafe { libc::unshare(libc::CLONE_NEWPID) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn getpid() -> i32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

#[derive(Clone, Copy, Debug)]
enum Pages {
    Secret,
    Anonymous,
    Heap,
}

fn config(pages: Pages) -> Config {
    let (source, memory): (Arc<dyn microkv::PageSource>, _) = match pages {
        Pages::Secret => (Arc::new(OsPages::new()), MemoryPolicy::RequireSecretMemory),
        Pages::Anonymous => (Arc::new(OsPages::anonymous()), MemoryPolicy::BestEffort),
        Pages::Heap => (Arc::new(HeapPages), MemoryPolicy::BestEffort),
    };
    Config {
        pages: Some(source),
        memory,
        autosave: AutoSave::OnEveryWrite,
        ..Config::default()
    }
}

/// In pid 1 of a new namespace: opens a store, puts a value, then forks (from a second new
/// namespace, so the child is pid 1 as well) and checks the child is refused. Returns 0, or
/// the number of the check that failed.
fn store_in_pid_one(pages: Pages, dir: &std::path::Path) -> i32 {
    if getpid() != 1 {
        return 10;
    }
    let path = dir.join(format!("{pages:?}.mkv"));
    let db = match MicroKV::open_with(&path, Credential::key([7; 32]), config(pages)) {
        Ok(db) => db,
        Err(_) => return 11,
    };
    if db.put("token", &"parent-secret".to_string()).is_err() {
        return 12;
    }
    let held = db.get_secret_bytes("token").unwrap().unwrap();
    let journal = std::fs::read(path.with_extension("mkv.journal")).unwrap_or_default();
    if new_pid_namespace().is_err() {
        return 13;
    }
    let code = in_child(|| {
        if getpid() != 1 {
            return 20; // the scenario did not happen: the pid differs anyway
        }
        if !held.expose_secret().is_empty() {
            return 21; // the child reads the parent's plaintext
        }
        if !matches!(db.get::<String>("token"), Err(Error::Forked)) {
            return 22;
        }
        if !matches!(db.put("new", &"child".to_string()), Err(Error::Forked)) {
            return 23; // sealed under the parent's nonces
        }
        if !matches!(db.save(), Err(Error::Forked)) {
            return 24; // a snapshot body under the parent's nonce
        }
        0
    });
    if code != 0 {
        return code;
    }
    // Nothing the child did reached the files.
    let after = std::fs::read(path.with_extension("mkv.journal")).unwrap_or_default();
    if after != journal {
        return 30;
    }
    // The parent (pid 1 of its namespace) still works.
    if db.get::<String>("token").ok().flatten().as_deref() != Some("parent-secret") {
        return 31;
    }
    0
}

#[test]
fn a_child_with_the_parents_pid_is_refused_on_every_page_source() {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = vec![Pages::Anonymous, Pages::Heap];
    if OsPages::probe_secret_memory().is_ok() {
        sources.insert(0, Pages::Secret);
    } else {
        eprintln!("no secret memory on this kernel: testing anonymous and heap pages only");
    }
    let mut failed = Vec::new();
    for pages in sources {
        let code = in_child(|| {
            if let Err(e) = new_pid_namespace() {
                return if e.raw_os_error() == Some(libc::EPERM) {
                    77
                } else {
                    78
                };
            }
            in_child(|| store_in_pid_one(pages, dir.path()))
        });
        if code == 77 && std::env::var_os("CI").is_none() {
            eprintln!("unshare(CLONE_NEWPID) refused (not root): skipped");
            return;
        }
        if code != 0 {
            failed.push(format!("{pages:?}: check {code}"));
        }
    }
    assert!(
        failed.is_empty(),
        "failed (128+N: killed by signal N): {failed:?}"
    );
}
