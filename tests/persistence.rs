//! File stores through the facade: constructors, read-only, locks, autosave, save_as,
//! export, destroy.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use microkv::{
    AutoSave, Config, Credential, Error, KdfParams, LockMode, ManualClock, MemoryStorage, MicroKV,
    Storage,
};

#[path = "support/files.rs"]
mod files;
use files::listing;

const KEY: [u8; 32] = [0x42; 32];

fn key() -> Credential {
    Credential::key(KEY)
}

fn store_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("store.kv")
}

/// A new temporary directory and the path of a store in it (not made yet).
fn temp_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    (dir, path)
}

/// A new store (raw key, default config) in a new temporary directory, and its path.
fn new_temp_store() -> microkv::Result<(tempfile::TempDir, PathBuf, MicroKV)> {
    let (dir, path) = temp_store();
    let db = MicroKV::open(&path, key())?;
    Ok((dir, path, db))
}

fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

fn read_only() -> Config {
    Config {
        read_only: true,
        ..Default::default()
    }
}

/// Names in `dir`, sorted.
/// A config that makes the handle the store's one owner.
fn exclusive() -> Config {
    Config {
        lock_mode: LockMode::Exclusive,
        ..Default::default()
    }
}

#[test]
fn open_creates_then_reopens_with_contents() -> microkv::Result<()> {
    let (_dir, path, db) = new_temp_store()?;
    assert!(path.exists(), "a new store is written at once");
    assert_eq!(db.path(), Some(path.as_path()));
    db.put("name", &"test".to_string())?;
    db.namespace("users").put("alice", &42u32)?;
    db.save()?;
    drop(db);
    let db = MicroKV::open(&path, key())?;
    assert_eq!(db.require::<String>("name")?, "test");
    assert_eq!(db.namespace("users").get::<u32>("alice")?, Some(42));
    assert_eq!(db.tree_names()?, vec!["".to_string(), "users".to_string()]);
    Ok(())
}

#[test]
fn unsaved_writes_are_not_on_disk_with_manual_autosave() -> microkv::Result<()> {
    let (_dir, path, db) = new_temp_store()?;
    db.put("a", &1u8)?;
    drop(db);
    let db = MicroKV::open(&path, key())?;
    assert_eq!(db.get::<u8>("a")?, None);
    Ok(())
}

#[cfg(unix)]
#[test]
fn files_are_private_to_the_owner() -> microkv::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let (dir, path, db) = new_temp_store()?;
    db.put("a", &1u8)?;
    db.save()?;
    let copy = dir.path().join("copy.kv");
    db.save_as(&copy)?;
    for p in [&path, &lock_path(&path), &copy] {
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
    Ok(())
}

#[test]
fn create_new_refuses_an_existing_file_and_leaves_it_alone() -> microkv::Result<()> {
    let (dir, path) = temp_store();
    std::fs::write(&path, b"not mine").unwrap();
    let err = MicroKV::create_new(&path, key()).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not mine");

    let fresh = dir.path().join("fresh.kv");
    let db = MicroKV::create_new(&fresh, key())?;
    db.put("x", &1u8)?;
    db.save()?;
    drop(db);
    let err = MicroKV::create_new(&fresh, key()).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists), "{err:?}");
    assert_eq!(MicroKV::open(&fresh, key())?.get::<u8>("x")?, Some(1));
    Ok(())
}

#[test]
fn create_new_race_has_exactly_one_winner() {
    for lock_mode in [LockMode::None, LockMode::Exclusive] {
        let (dir, path) = temp_store();
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let config = Config {
                        lock_mode,
                        ..Default::default()
                    };
                    let db = MicroKV::create_new_with(&path, Credential::key([i; 32]), config)?;
                    // Keep the winner's lock until every thread has tried.
                    std::thread::sleep(Duration::from_millis(50));
                    drop(db);
                    Ok(i)
                })
            })
            .collect();
        let results: Vec<microkv::Result<u8>> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<u8> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        assert_eq!(winners.len(), 1, "{lock_mode:?}: {results:?}");
        for r in &results {
            if let Err(e) = r {
                assert!(
                    matches!(e, Error::AlreadyExists | Error::Locked),
                    "{lock_mode:?}: {e:?}"
                );
            }
        }
        // The file on disk is the winner's store.
        let winner = winners[0];
        MicroKV::open_existing_with(&path, Credential::key([winner; 32]), read_only()).unwrap();
        assert_eq!(
            listing(dir.path())
                .iter()
                .filter(|n| n.ends_with(".tmp"))
                .count(),
            0
        );
    }
}

#[test]
fn open_existing_on_a_missing_file_creates_nothing() {
    let (dir, path) = temp_store();
    let err = MicroKV::open_existing(&path, key()).unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
    let err = MicroKV::open_with(&path, key(), read_only()).unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
    let err = MicroKV::create_new_with(&path, key(), read_only()).unwrap_err();
    assert!(matches!(err, Error::ReadOnly), "{err:?}");
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn read_only_refuses_every_write_and_never_touches_the_file() -> microkv::Result<()> {
    let (dir, path) = temp_store();
    let clock = ManualClock::new(Duration::from_secs(1_000));
    let config = || Config {
        clock: Some(Arc::new(clock.clone())),
        ..Default::default()
    };
    let writer = MicroKV::open_with(
        &path,
        Credential::password("pw"),
        Config {
            kdf: KdfParams::argon2id(64, 1, 1),
            ..config()
        },
    )?;
    writer.put("a", &1u32)?;
    writer.put_with_ttl("t", &2u32, Duration::from_secs(5))?;
    writer.namespace("ns").put("b", &3u32)?;
    writer.save()?;
    drop(writer);
    std::fs::remove_file(lock_path(&path)).unwrap();
    let before = std::fs::read(&path).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();

    let ro = MicroKV::open_with(
        &path,
        Credential::password("pw"),
        Config {
            read_only: true,
            autosave: AutoSave::OnDrop,
            ..config()
        },
    )?;
    // A second read-only handle, and a writer, can open alongside: no lock is taken.
    let ro2 = MicroKV::open_existing_with(
        &path,
        Credential::password("pw"),
        Config {
            read_only: true,
            ..config()
        },
    )?;
    assert_eq!(ro.get::<u32>("a")?, Some(1));
    assert_eq!(ro2.namespace("ns").get::<u32>("b")?, Some(3));
    clock.advance(Duration::from_secs(10));

    let ns = ro.namespace("ns");
    let results: Vec<(&str, microkv::Result<()>)> = vec![
        ("put", ro.put("a", &9u32)),
        (
            "put_with_ttl",
            ro.put_with_ttl("z", &9u32, Duration::from_secs(1)),
        ),
        ("remove", ro.remove("a").map(drop)),
        ("clear", ro.clear()),
        ("ns.clear", ns.clear()),
        ("update", ro.update::<u32, _>("a", |v| v.map(|v| v + 1))),
        (
            "get_or_insert_with",
            ro.get_or_insert_with("new", || 5u32).map(drop),
        ),
        (
            "compare_and_swap",
            ro.compare_and_swap("a", Some(&1u32), Some(&2u32)).map(drop),
        ),
        ("transaction", ro.transaction(|tx| tx.put("", "a", &7u32))),
        ("change_password", ro.change_password("pw", "new")),
        ("rekey", ro.rekey(Credential::password("other"))),
        ("sweep_expired", ro.sweep_expired().map(drop)),
        ("save", ro.save()),
    ];
    for (what, result) in results {
        assert!(matches!(result, Err(Error::ReadOnly)), "{what}: {result:?}");
    }
    assert_eq!(ro.get::<u32>("a")?, Some(1), "nothing changed in memory");
    let copy = dir.path().join("copy.kv");
    ro.save_as(&copy)?; // a copy elsewhere is not a write to this store
    drop(ro);
    drop(ro2);
    let err = MicroKV::open_with(&path, Credential::password("pw"), read_only())
        .unwrap()
        .destroy()
        .unwrap_err();
    assert!(matches!(err, Error::ReadOnly), "{err:?}");

    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    assert!(
        !lock_path(&path).exists(),
        "read-only opens never create the lock file"
    );
    Ok(())
}

#[test]
fn read_only_opens_beside_an_exclusive_writer() -> microkv::Result<()> {
    let (_dir, path, writer) = new_temp_store()?;
    writer.put("a", &1u8)?;
    writer.save()?;
    let reader = MicroKV::open_with(&path, key(), read_only())?;
    assert_eq!(reader.get::<u8>("a")?, Some(1));
    writer.put("a", &2u8)?;
    writer.save()?;
    let reader = MicroKV::open_with(&path, key(), read_only())?;
    assert_eq!(reader.get::<u8>("a")?, Some(2));
    Ok(())
}

#[test]
fn exclusive_lock_refuses_a_second_opener_at_once_and_survives_saves() -> microkv::Result<()> {
    let (_dir, path) = temp_store();
    let first = MicroKV::open_with(&path, key(), exclusive())?;
    for i in 0..3u8 {
        first.put("i", &i)?;
        first.save()?; // each save renames a new file over the store
        let started = Instant::now();
        let err = MicroKV::open(&path, key()).unwrap_err();
        assert!(matches!(err, Error::Locked), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
        for mode in [LockMode::Shared, LockMode::Exclusive] {
            let config = Config {
                lock_mode: mode,
                ..Default::default()
            };
            let err = MicroKV::open_existing_with(&path, key(), config).unwrap_err();
            assert!(matches!(err, Error::Locked), "{mode:?}: {err:?}");
        }
    }
    // A handle on a namespace keeps the store (and its lock) alive.
    let tree = first.namespace("ns");
    drop(first);
    assert!(matches!(MicroKV::open(&path, key()), Err(Error::Locked)));
    drop(tree);
    let second = MicroKV::open(&path, key())?;
    assert_eq!(second.get::<u8>("i")?, Some(2));
    Ok(())
}

#[test]
fn shared_locks_coexist_and_exclude_an_exclusive_one() -> microkv::Result<()> {
    let (_dir, path) = temp_store();
    drop(MicroKV::open(&path, key())?);
    let shared = || Config {
        lock_mode: LockMode::Shared,
        ..Default::default()
    };
    let a = MicroKV::open_with(&path, key(), shared())?;
    let b = MicroKV::open_with(&path, key(), shared())?;
    assert!(matches!(
        MicroKV::open_with(&path, key(), exclusive()),
        Err(Error::Locked)
    ));
    let none = Config {
        lock_mode: LockMode::None,
        ..Default::default()
    };
    drop(MicroKV::open_with(&path, key(), none)?);
    drop((a, b));
    let owner = MicroKV::open_with(&path, key(), exclusive())?;
    assert!(matches!(
        MicroKV::open_with(&path, key(), shared()),
        Err(Error::Locked)
    ));
    // The default is shared, so it is kept out too.
    assert!(matches!(MicroKV::open(&path, key()), Err(Error::Locked)));
    drop(owner);
    Ok(())
}

#[test]
fn autosave_modes_reach_the_file_when_they_say() -> microkv::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Duration::from_secs(1_000));
    let config = |autosave| Config {
        autosave,
        clock: Some(Arc::new(clock.clone())),
        ..Default::default()
    };
    let on_disk = |path: &Path, k: &str| -> Option<u32> {
        let ro = MicroKV::open_with(path, key(), read_only()).unwrap();
        ro.get::<u32>(k).unwrap()
    };

    let path = dir.path().join("every.kv");
    let db = MicroKV::open_with(&path, key(), config(AutoSave::OnEveryWrite))?;
    db.put("a", &1u32)?;
    assert_eq!(on_disk(&path, "a"), Some(1));
    db.transaction(|tx| tx.put("", "a", &2u32))?;
    assert_eq!(on_disk(&path, "a"), Some(2));
    db.remove("a")?;
    assert_eq!(on_disk(&path, "a"), None);

    let path = dir.path().join("drop.kv");
    let db = MicroKV::open_with(&path, key(), config(AutoSave::OnDrop))?;
    db.put("a", &1u32)?;
    assert_eq!(on_disk(&path, "a"), None);
    drop(db);
    assert_eq!(on_disk(&path, "a"), Some(1));

    let path = dir.path().join("periodic.kv");
    let db = MicroKV::open_with(
        &path,
        key(),
        config(AutoSave::Periodic(Duration::from_secs(60))),
    )?;
    db.put("a", &1u32)?;
    assert_eq!(
        on_disk(&path, "a"),
        None,
        "saved at creation, less than 60 s ago"
    );
    clock.advance(Duration::from_secs(61));
    db.put("b", &2u32)?;
    assert_eq!(on_disk(&path, "a"), Some(1));
    assert_eq!(on_disk(&path, "b"), Some(2));
    db.put("c", &3u32)?;
    assert_eq!(on_disk(&path, "c"), None);
    Ok(())
}

#[test]
fn save_as_writes_a_copy_and_the_store_keeps_its_path() -> microkv::Result<()> {
    let (dir, path) = temp_store();
    let copy = dir.path().join("copy.kv");
    let db = MicroKV::open(&path, key())?;
    db.put("a", &1u32)?;
    db.save_as(&copy)?;
    assert_eq!(db.path(), Some(path.as_path()));
    db.put("a", &2u32)?;
    db.save()?;
    let err = db.save_as(&path).unwrap_err();
    assert!(
        matches!(err, Error::Locked),
        "its own file is locked: {err:?}"
    );
    let c = MicroKV::open_existing(&copy, key())?;
    assert_eq!(c.get::<u32>("a")?, Some(1));
    // The copy is open now: save_as will not clobber it.
    assert!(matches!(db.save_as(&copy), Err(Error::Locked)));
    drop(c);
    drop(db);
    assert_eq!(MicroKV::open(&path, key())?.get::<u32>("a")?, Some(2));
    // An in-memory store can be saved to a file too.
    let mem = MicroKV::in_memory(key())?;
    mem.put("m", &5u32)?;
    let from_mem = dir.path().join("mem.kv");
    mem.save_as(&from_mem)?;
    assert_eq!(MicroKV::open(&from_mem, key())?.get::<u32>("m")?, Some(5));
    Ok(())
}

#[test]
fn save_as_leaves_nothing_but_the_copy() -> microkv::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let db = MicroKV::open(store_path(&dir), key())?;
    db.put("a", &1u32)?;
    db.save_as(backups.path().join("backup.kv"))?;
    assert_eq!(listing(backups.path()), vec!["backup.kv"]);
    // Again, over the first copy: still the one file.
    db.save_as(backups.path().join("backup.kv"))?;
    assert_eq!(listing(backups.path()), vec!["backup.kv"]);
    // Control: an open store keeps its lock file, which save_as must respect.
    let open = MicroKV::open(backups.path().join("backup.kv"), key())?;
    assert_eq!(listing(backups.path()), vec!["backup.kv", "backup.kv.lock"]);
    assert!(matches!(
        db.save_as(backups.path().join("backup.kv")),
        Err(Error::Locked)
    ));
    assert_eq!(open.require::<u32>("a")?, 1);
    Ok(())
}

#[test]
fn export_writes_a_store_that_opens_elsewhere() -> microkv::Result<()> {
    let db = MicroKV::in_memory_with(
        Credential::password("pw"),
        Config {
            kdf: KdfParams::argon2id(64, 1, 1),
            ..Default::default()
        },
    )?;
    db.namespace("users").put("alice", &42u32)?;
    let bytes = db.export()?;
    assert!(bytes.starts_with(&microkv::MAGIC));
    let storage = MemoryStorage::default();
    storage.store(&bytes)?;
    let copy = MicroKV::with_storage(storage, Credential::password("pw"), Config::default())?;
    assert_eq!(copy.namespace("users").get::<u32>("alice")?, Some(42));
    assert_eq!(copy.kdf(), Some(KdfParams::argon2id(64, 1, 1)));
    Ok(())
}

#[test]
fn destroy_removes_the_files_and_later_saves_fail() -> microkv::Result<()> {
    let (dir, path) = temp_store();
    let open_autosaving = |autosave| {
        let config = Config {
            autosave,
            ..Default::default()
        };
        MicroKV::open_with(&path, key(), config)
    };
    let db = open_autosaving(AutoSave::OnDrop)?;
    db.put("a", &1u8)?;
    db.save()?;
    let tree = db.namespace("ns");
    db.destroy()?;
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    // A shared handle (the default) catches up before every write, even one kept in
    // memory: the store is gone. OnDrop must not bring the file back either.
    let err = tree.put("b", &2u8).unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
    drop(tree);
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));

    let db = open_autosaving(AutoSave::OnEveryWrite)?;
    let tree = db.namespace("ns");
    db.destroy()?;
    let err = tree.put("b", &2u8).unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
    assert_eq!(tree.get::<u8>("b")?, None, "the failed write was undone");
    drop(tree);
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    // The path is free for a new store.
    MicroKV::create_new(&path, key())?.destroy()?;
    MicroKV::in_memory(key())?.destroy()?;
    Ok(())
}

#[test]
fn kdf_params_are_the_store_s_own() -> microkv::Result<()> {
    let (_dir, path) = temp_store();
    let made = KdfParams::argon2id(128, 1, 1);
    let db = MicroKV::create_new_with(
        &path,
        Credential::password("pw"),
        Config {
            kdf: made,
            ..Default::default()
        },
    )?;
    assert_eq!(db.kdf(), Some(made));
    drop(db);
    let db = MicroKV::open_with(
        &path,
        Credential::password("pw"),
        Config {
            kdf: KdfParams::argon2id(256, 2, 1),
            ..Default::default()
        },
    )?;
    assert_eq!(db.kdf(), Some(made), "reopening uses the header's params");
    db.change_password("pw", "new")?;
    drop(db);
    let err = MicroKV::open(&path, Credential::password("pw")).unwrap_err();
    assert!(matches!(err, Error::WrongPassword), "{err:?}");
    let db = MicroKV::open(&path, Credential::password("new"))?;
    assert_eq!(db.kdf(), Some(made));
    db.rekey(Credential::key(KEY))?;
    assert_eq!(db.kdf(), None);
    drop(db);
    MicroKV::open(&path, key())?;
    Ok(())
}

#[test]
fn file_storage_keeps_only_the_store_and_its_lock_file() -> microkv::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let storage = microkv::FileStorage::open(dir.path().join("x.kv"), LockMode::Exclusive)?;
    assert!(storage.load()?.is_none());
    storage.store(b"bytes")?;
    assert_eq!(storage.load()?.as_deref(), Some(&b"bytes"[..]));
    assert_eq!(listing(dir.path()), vec!["x.kv", "x.kv.lock"]);
    Ok(())
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<MicroKV>();
    send_sync::<microkv::FileStorage>();
}

#[cfg(unix)]
#[test]
fn a_store_opened_through_a_symlink_saves_to_the_file_it_points_to() -> microkv::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let real = store_path(&dir);
    let link = dir.path().join("link.kv");
    drop(MicroKV::open(&real, key())?);
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let db = MicroKV::open_with(&link, key(), exclusive())?;
    db.put("a", &1u8)?;
    db.save()?;
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    // One lock for both names.
    assert!(matches!(MicroKV::open(&real, key()), Err(Error::Locked)));
    drop(db);
    assert_eq!(MicroKV::open(&real, key())?.get::<u8>("a")?, Some(1));
    Ok(())
}

#[test]
fn destroy_keeps_a_lock_file_another_shared_holder_uses() -> microkv::Result<()> {
    let (dir, path) = temp_store();
    let shared = || Config {
        lock_mode: LockMode::Shared,
        ..Default::default()
    };
    let a = MicroKV::open_with(&path, key(), shared())?;
    let b = MicroKV::open_with(&path, key(), shared())?;
    a.destroy()?;
    assert!(!path.exists());
    assert!(lock_path(&path).exists(), "b still holds it");
    // An owner is still kept out while b lives.
    assert!(matches!(
        MicroKV::open_with(&path, key(), exclusive()),
        Err(Error::Locked)
    ));
    b.destroy()?;
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    Ok(())
}
