//! Rollback: what the format cannot detect, and the hook that can (`MicroKV::position`).
//!
//! An attacker who can write the store's directory can put back an older store file and
//! journal, or cut the journal back at a record boundary: each reopens without an error,
//! at an older state, with the old credential still working after a rekey. The format
//! authenticates each state but keeps no count that outlives it, so only a position
//! pinned outside the files tells (README, "Threat model"). Each such case asserts both:
//! the silent reopen (so the docs stay true) and that the pinned position differs; the
//! control reopens the untouched files and finds the pinned position again. Spoiling the
//! last record, which the reader used to take for a write torn by a crash, is `Tampered`.
use std::path::{Path, PathBuf};

use microkv::{AutoSave, Config, Credential, MicroKV};

fn config() -> Config {
    Config {
        autosave: AutoSave::OnEveryWrite,
        ..Config::default()
    }
}

fn journal(path: &Path) -> PathBuf {
    path.with_extension("kv.journal")
}

/// The store file and its journal, as bytes.
fn copy(path: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(path).unwrap(),
        std::fs::read(journal(path)).unwrap_or_default(),
    )
}

fn restore(path: &Path, (file, jrnl): &(Vec<u8>, Vec<u8>)) {
    std::fs::write(path, file).unwrap();
    std::fs::write(journal(path), jrnl).unwrap();
}

fn open(path: &Path, key: u8) -> MicroKV {
    MicroKV::open_with(path, Credential::key([key; 32]), config()).unwrap()
}

#[test]
fn rollbacks_reopen_silently_and_the_pinned_position_tells() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.kv");
    let db = open(&path, 1);
    db.put("token", "t-1").unwrap();
    db.put("other", "x").unwrap();
    let before_revoke = copy(&path);
    db.remove("token").unwrap(); // revoked: a journal record
    let pinned = db.position().expect("durable");
    drop(db);

    // Control: the untouched files reopen at the pinned position.
    let db = open(&path, 1);
    assert_eq!(db.position(), Some(pinned), "control");
    assert!(!db.contains("token").unwrap());
    drop(db);
    let current = copy(&path);

    // 1. The journal cut back below the revocation: the token is back, no error.
    restore(&path, &before_revoke);
    let db = open(&path, 1);
    assert_eq!(db.get::<String>("token").unwrap().as_deref(), Some("t-1"));
    assert_ne!(
        db.position(),
        Some(pinned),
        "cut-back journal not told apart"
    );
    // The order tells it too, pinned or not after the last write: below the pin.
    assert!(db.position().unwrap().order() < pinned.order());
    drop(db);

    // 2. The last record spoiled (its tag flipped): before issue 24's item 5 it was
    // dropped as if torn and the token came back without an error; now the format tells
    // it (`Tampered`), and nothing is opened.
    restore(&path, &current);
    let mut jrnl = current.1.clone();
    let last = jrnl.len() - 1;
    jrnl[last] ^= 1;
    std::fs::write(journal(&path), &jrnl).unwrap();
    let err = MicroKV::open_with(&path, Credential::key([1; 32]), config()).unwrap_err();
    assert!(matches!(err, microkv::Error::Tampered), "{err:?}");

    // 3. After a rekey, the old files put back open under the old key.
    restore(&path, &current);
    let db = open(&path, 1);
    let old_files = copy(&path);
    db.rekey(Credential::key([2; 32])).unwrap();
    let pinned = db.position().expect("durable");
    drop(db);
    restore(&path, &old_files);
    let db = open(&path, 1);
    assert_ne!(
        db.position(),
        Some(pinned),
        "old snapshot after a rekey not told apart"
    );
    // The rekey's snapshot has the next sequence number: the old files are below it.
    let old = db.position().unwrap();
    assert_eq!(old.sequence() + 1, pinned.sequence());
    assert!(old.order() < pinned.order());
    drop(db);
    assert!(MicroKV::open_with(&path, Credential::key([2; 32]), config()).is_err());

    // 4. An older snapshot put back after a save (a compaction, a `save()`), with its
    // whole journal: below an order pinned before the save, let alone after.
    restore(&path, &current);
    let db = open(&path, 1);
    let before_save = copy(&path);
    let pinned_before = db.position().unwrap();
    db.put("later", "y").unwrap();
    db.save().unwrap();
    db.put("later", "z").unwrap();
    let pinned_after = db.position().unwrap();
    assert!(pinned_after.order() > pinned_before.order());
    drop(db);
    restore(&path, &before_save);
    let db = open(&path, 1);
    assert!(
        db.get::<String>("later").unwrap().is_none(),
        "the old state"
    );
    let old = db.position().unwrap();
    assert_eq!(old, pinned_before, "back at the old position, silently");
    assert!(old.order() < pinned_after.order());
}

/// The order never goes back through a store's history: writes, saves, the compactions
/// of a long journal, a rekey, a reopen.
#[test]
fn the_order_only_goes_up() {
    fn step(last: &mut (u64, u64), db: &MicroKV, what: &str) {
        let now = db.position().expect(what).order();
        assert!(now > *last, "{what}: {now:?} after {last:?}");
        *last = now;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("up.kv");
    let db = open(&path, 1);
    let mut last = (0, 0);
    let mut compactions = 0;
    for i in 0..2_000u32 {
        let before = last;
        db.put("k", &i.to_string().repeat(40)).unwrap();
        step(&mut last, &db, "write");
        compactions += usize::from(last.0 > before.0 && i > 0);
    }
    assert!(compactions > 0, "the journal was never compacted");
    db.save().unwrap();
    step(&mut last, &db, "save");
    db.rekey(Credential::key([2; 32])).unwrap();
    step(&mut last, &db, "rekey");
    drop(db);
    let db = MicroKV::open_with(&path, Credential::key([2; 32]), config()).unwrap();
    assert_eq!(db.position().unwrap().order(), last, "reopen");
    db.put("k", "after").unwrap();
    step(&mut last, &db, "write after reopen");
}
