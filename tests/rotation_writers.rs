//! A rotation nobody silently undoes: after one handle changes the password or rekeys, no
//! other handle's save may put the old credential (and the old data key) back on disk.
//! Every save replaces the file only if it still holds the key header the saving handle
//! loaded; otherwise `Error::CredentialChanged`, and nothing is written. Two handles in
//! one process, and two processes (this binary re-runs itself as the child, as
//! `lock_process.rs` does).
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitStatus;

#[path = "support/rerun.rs"]
mod rerun;
use rerun::rerun_self;

use microkv::{AutoSave, Config, Credential, Error, KdfParams, LockMode, MemoryStorage, MicroKV};

const FAST: KdfParams = KdfParams::argon2id(64, 1, 1);
const TEST: &str = "a_rotation_in_another_process_is_not_undone";
const CHILD_PATH: &str = "MICROKV_ROTATION_CHILD_PATH";
/// Exit codes of the child.
const ROTATED: i32 = 40;
const FAILED: i32 = 41;

fn shared(autosave: AutoSave) -> Config {
    Config {
        kdf: FAST,
        lock_mode: LockMode::Shared,
        autosave,
        ..Default::default()
    }
}

fn open(path: &Path, password: &str) -> microkv::Result<MicroKV> {
    MicroKV::open_with(
        path,
        Credential::password(password),
        shared(AutoSave::Manual),
    )
}

/// A new store `s.kv` in a new temporary directory, opened shared with the password
/// `old`, holding `k` = 1, saved: the directory, the path and the handle.
fn saved_store() -> (tempfile::TempDir, std::path::PathBuf, MicroKV) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    let db = open(&path, "old").unwrap();
    db.put("k", &1u32).unwrap();
    db.save().unwrap();
    (dir, path, db)
}

/// The store at `path` opens with `new` (holding `k` = `value`) and not with `old`.
fn only_new_opens(path: &Path, old: &str, new: &str, value: u32) {
    let read_only = |password: &str| {
        MicroKV::open_existing_with(
            path,
            Credential::password(password),
            Config {
                read_only: true,
                ..Default::default()
            },
        )
    };
    let err = read_only(old).unwrap_err();
    assert!(matches!(err, Error::WrongPassword), "{old:?}: {err:?}");
    let db = read_only(new).unwrap();
    assert_eq!(db.get::<u32>("k").unwrap(), Some(value));
}

/// The scenario of issue 13: A and B open one file with `LockMode::Shared`; A changes the
/// password; B writes and saves. B's save is refused, and the revoked password stays
/// revoked.
#[test]
fn a_second_handle_cannot_restore_a_rotated_password() {
    let (_dir, path, a) = saved_store();
    let b = open(&path, "old").unwrap();
    a.change_password("old", "new").unwrap();
    let rotated = std::fs::read(&path).unwrap();

    // B's next write catches up first, and finds the credential changed.
    let err = b.put("k", &2u32).unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    let err = b.save().unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), rotated, "nothing written");
    // B's own rotation is refused the same way: it would restore its keys too.
    let err = b.change_password("old", "mine").unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    let err = b.rekey(Credential::key([9; 32])).unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), rotated, "nothing written");
    // A still saves, under the new password.
    a.put("k", &3u32).unwrap();
    a.save().unwrap();
    drop(b);
    only_new_opens(&path, "old", "new", 3);
}

/// The same with autosaves: B's autosaved write fails and is undone (a write that returns
/// `Err` did not happen), and a drop-time save of B writes nothing either.
#[test]
fn autosaves_of_a_stale_handle_are_refused_and_undone() {
    let (_dir, path, a) = saved_store();
    let every = MicroKV::open_with(
        &path,
        Credential::password("old"),
        shared(AutoSave::OnEveryWrite),
    )
    .unwrap();
    let on_drop =
        MicroKV::open_with(&path, Credential::password("old"), shared(AutoSave::OnDrop)).unwrap();
    a.rekey(Credential::password("new")).unwrap();

    let err = every.put("k", &2u32).unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    assert_eq!(
        every.get::<u32>("k").unwrap(),
        Some(1),
        "the write was undone"
    );
    let err = on_drop.put("k", &4u32).unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    drop(on_drop);
    drop(every);
    only_new_opens(&path, "old", "new", 1);
}

/// Handles over clones of one `MemoryStorage` are two writers too.
#[test]
fn a_stale_handle_over_shared_memory_storage_is_refused() {
    let storage = MemoryStorage::default();
    let config = || Config {
        kdf: FAST,
        ..Default::default()
    };
    let a = MicroKV::with_storage(storage.clone(), Credential::password("old"), config()).unwrap();
    let b = MicroKV::with_storage(storage.clone(), Credential::password("old"), config()).unwrap();
    a.change_password("old", "new").unwrap();
    b.put("k", &1u32).unwrap();
    assert!(matches!(b.save(), Err(Error::CredentialChanged)));
    assert!(matches!(
        MicroKV::with_storage(storage.clone(), Credential::password("old"), config()),
        Err(Error::WrongPassword)
    ));
    MicroKV::with_storage(storage, Credential::password("new"), config()).unwrap();
}

/// The child: open the store shared, change its password, report.
fn child(path: &Path) -> ! {
    let code = match open(path, "old").and_then(|db| db.change_password("old", "new")) {
        Ok(()) => ROTATED,
        Err(e) => {
            eprintln!("child: {e:?}");
            FAILED
        }
    };
    std::process::exit(code);
}

/// Runs the child and waits for it, at most 10 s (a hung child is killed: a failure).
fn run_child(path: &Path) -> ExitStatus {
    rerun_self(TEST, &[(CHILD_PATH, path.as_os_str())])
}

/// Across processes: this process holds B (shared), another process opens the store
/// shared and changes the password; B's save is refused.
#[test]
fn a_rotation_in_another_process_is_not_undone() {
    rerun::be_the_child(CHILD_PATH, child);
    let (_dir, path, b) = saved_store();

    let status = run_child(&path);
    assert_eq!(status.code(), Some(ROTATED), "{status:?}");
    let err = b.put("k", &2u32).unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    let err = b.reload().unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    let err = b.save().unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    drop(b);
    only_new_opens(&path, "old", "new", 1);
}
