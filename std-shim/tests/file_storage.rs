//! `FileStorage` on its own: stale temporary files, first saves, locks.
#![forbid(unsafe_code)]

use microkv_core::{Error, LockMode, Storage};
use microkv_std::FileStorage;

#[path = "../../tests/support/files.rs"]
mod files;
#[cfg(unix)]
use files::file_in_a_subdir;
use files::listing as names;

#[test]
fn an_exclusive_open_removes_temporary_files_of_dead_saves_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    let stale = [".s.kv.0.tmp", ".s.kv.7.tmp", ".s.kv.15.tmp"];
    let others = [
        ".s.kv.1.0.tmp", // a temporary file of the store "s.kv.1"
        ".s.kv.16.tmp",  // past the slots
        ".s.kv.x.tmp",
        "s.kv.0.tmp", // no leading dot
        ".s.kv.0.tmp.keep",
        "other.kv",
    ];
    for name in stale.iter().chain(&others) {
        std::fs::write(dir.path().join(name), b"x").unwrap();
    }
    let shared = FileStorage::open(&path, LockMode::Shared).unwrap();
    assert_eq!(
        names(dir.path()).len(),
        stale.len() + others.len() + 1,
        "shared opens leave them"
    );
    drop(shared);
    let none = FileStorage::open(&path, LockMode::None).unwrap();
    drop(none);
    assert_eq!(names(dir.path()).len(), stale.len() + others.len() + 1);

    let storage = FileStorage::open(&path, LockMode::Exclusive).unwrap();
    let mut want: Vec<String> = others.iter().map(|s| s.to_string()).collect();
    want.push("s.kv.lock".into());
    want.sort();
    assert_eq!(names(dir.path()), want);
    storage.store(b"bytes").unwrap();
    assert!(names(dir.path()).contains(&"s.kv".to_string()));
}

#[test]
fn read_only_storage_never_writes_and_needs_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    assert!(matches!(
        FileStorage::read_only(&path),
        Err(Error::NotFound)
    ));
    std::fs::write(&path, b"old").unwrap();
    let ro = FileStorage::read_only(&path).unwrap();
    assert!(ro.is_read_only());
    assert!(matches!(ro.store(b"new"), Err(Error::ReadOnly)));
    assert!(matches!(ro.destroy(), Err(Error::ReadOnly)));
    assert_eq!(ro.load().unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(names(dir.path()), ["s.kv"]);
    // It takes no lock: an exclusive writer opens beside it.
    let writer = FileStorage::open(&path, LockMode::Exclusive).unwrap();
    writer.store(b"new").unwrap();
    assert_eq!(ro.load().unwrap().as_deref(), Some(&b"new"[..]));
}

#[test]
fn open_existing_and_create_new_check_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    assert!(matches!(
        FileStorage::open_existing(&path, LockMode::Exclusive),
        Err(Error::NotFound)
    ));
    assert!(names(dir.path()).is_empty());
    let new = FileStorage::create_new(&path, LockMode::None).unwrap();
    assert!(new.load().unwrap().is_none());
    // Someone else creates the file before the first save: it is not replaced.
    std::fs::write(&path, b"theirs").unwrap();
    assert!(
        new.load().unwrap().is_none(),
        "a new store does not read another's file"
    );
    assert!(matches!(new.store(b"mine"), Err(Error::AlreadyExists)));
    assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
    assert!(matches!(
        FileStorage::create_new(&path, LockMode::None),
        Err(Error::AlreadyExists)
    ));
    let existing = FileStorage::open_existing(&path, LockMode::Exclusive).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(existing.load(), Err(Error::NotFound)));
}

/// `store_replacing` replaces the file only while it still begins with what the caller
/// expects: a writer whose view is stale (another writer rotated the credential) is
/// refused and writes nothing; a missing file is simply stored.
#[test]
fn store_replacing_refuses_a_file_another_writer_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    let a = FileStorage::open(&path, LockMode::Shared).unwrap();
    let b = FileStorage::open(&path, LockMode::Shared).unwrap();
    a.store(b"HEAD-1 body").unwrap();
    b.store_replacing(b"HEAD-1", b"HEAD-1 body b").unwrap();
    a.store_replacing(b"HEAD-1", b"HEAD-2 rotated").unwrap();
    let err = b.store_replacing(b"HEAD-1", b"HEAD-1 stale").unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"HEAD-2 rotated");
    // A file shorter than the expected prefix is not the one expected either.
    std::fs::write(&path, b"HEAD").unwrap();
    let err = b.store_replacing(b"HEAD-2", b"HEAD-2 x").unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    std::fs::remove_file(&path).unwrap();
    b.store_replacing(b"HEAD-2", b"HEAD-2 again").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"HEAD-2 again");
    let ro = FileStorage::read_only(&path).unwrap();
    assert!(matches!(
        ro.store_replacing(b"", b"x"),
        Err(Error::ReadOnly)
    ));
}

/// Writers in threads, each with its own storage, each replacing the file only if it
/// still holds what that writer read: every successful replacement saw the file it
/// replaced, so the generations form one chain with no lost or doubled link.
#[test]
fn concurrent_store_replacing_forms_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    FileStorage::open(&path, LockMode::None)
        .unwrap()
        .store(b"gen00000")
        .unwrap();
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let storage = FileStorage::open(&path, LockMode::None).unwrap();
                    let mut wins = 0;
                    for _ in 0..25 {
                        let seen = storage.load().unwrap().unwrap();
                        let gen: u32 = std::str::from_utf8(&seen[3..]).unwrap().parse().unwrap();
                        let next = format!("gen{:05}", gen + 1);
                        match storage.store_replacing(&seen, next.as_bytes()) {
                            Ok(()) => wins += 1,
                            Err(Error::CredentialChanged) => {}
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    wins
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let last = std::fs::read(&path).unwrap();
    assert_eq!(
        last,
        format!("gen{wins:05}").as_bytes(),
        "{wins} replacements"
    );
}

/// Every I/O error a `FileStorage` returns names the operation and the file, through the
/// `Storage` methods (a save, an append, a read) and `destroy` alike; the facade used to
/// add this in a wrapper, so a `FileStorage` used on its own named nothing.
#[cfg(unix)] // Windows refuses to remove a directory holding an open file (the lock file).
#[test]
fn io_errors_name_the_operation_and_the_file() {
    use std::path::Path;
    let (_dir, gone, path) = file_in_a_subdir("s.kv");
    let storage = FileStorage::open(&path, LockMode::Exclusive).unwrap();
    std::fs::remove_dir_all(&gone).unwrap();
    let named = |e: Error, operation: &str, file: &Path| {
        assert!(matches!(e, Error::Io(ref io) if io.kind() == std::io::ErrorKind::NotFound));
        let context = e.io_context().expect("the file is named");
        assert_eq!(context.operation(), operation);
        assert_eq!(context.path(), file);
    };
    named(
        storage.store(b"x").unwrap_err(),
        "saving the store file",
        &path,
    );
    let journal = storage.journal_path();
    named(
        storage.append(0, b"r").unwrap_err(),
        "appending to the journal",
        &journal,
    );
    let wlock = gone.join("s.kv.wlock");
    named(storage.lock_writes().unwrap_err(), "locking", &wlock);
    let opened = FileStorage::open(gone.join("t.kv"), LockMode::Exclusive).unwrap_err();
    named(opened, "opening the store file", &gone.join("t.kv"));
    let copy = microkv_std::file_storage::write_copy(gone.join("c.kv"), b"x").unwrap_err();
    named(copy, "locking", &gone.join("c.kv.lock"));
}

/// A save killed between creating its temporary file and renaming it leaves the file
/// behind, unlocked. Only an exclusive open removes such files, and the default lock mode
/// is shared: sixteen of them took every slot, and each save after was `Error::Locked`
/// for good. A save now takes a slot whose file no save holds locked; a live save's file
/// (locked here through a descriptor of its own, as its process holds it) is left alone.
#[test]
fn a_save_takes_over_the_slots_of_dead_saves_but_not_of_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    let temp = |slot: usize| dir.path().join(format!(".s.kv.{slot}.tmp"));
    for slot in 0..16 {
        std::fs::write(temp(slot), b"dead").unwrap();
    }
    let live = std::fs::OpenOptions::new()
        .write(true)
        .open(temp(0))
        .unwrap();
    live.lock().unwrap();
    let storage = FileStorage::open(&path, LockMode::Shared).unwrap();
    storage.store(b"first").unwrap();
    storage.store(b"second").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    assert_eq!(
        std::fs::read(temp(0)).unwrap(),
        b"dead",
        "a live save's file"
    );
    // Two saves each took a slot of a dead save and left it free.
    let left = (0..16).filter(|&slot| temp(slot).exists()).count();
    assert_eq!(left, 15);
    // Sixteen live saves: no slot is free.
    let lives: Vec<std::fs::File> = (1..16)
        .map(|slot| {
            std::fs::write(temp(slot), b"live").unwrap();
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(temp(slot))
                .unwrap();
            file.lock().unwrap();
            file
        })
        .collect();
    assert!(matches!(storage.store(b"third"), Err(Error::Locked)));
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    drop(lives);
    drop(live);
    storage.store(b"third").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"third");
}

/// A store file kept open reads at offsets into a vector's spare capacity (no zeroing
/// first) from many threads at once, beside positioned reads, each getting its own
/// bytes; a file cut short under the handle gives `Tampered` and leaves the vector as it
/// was. Its control is the provided method (zeroes, then `read_exact_at`): the same bytes.
#[cfg(unix)]
#[test]
fn a_kept_file_reads_into_vectors_at_offsets_from_many_threads() {
    use microkv_core::{Snapshot, SnapshotFile};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    let storage = FileStorage::open(&path, LockMode::Exclusive).unwrap();
    let bytes: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    storage.store(&bytes).unwrap();
    let Some(Snapshot::File(file)) = storage.open_snapshot(1 << 30).unwrap() else {
        panic!("no file kept open");
    };
    assert_eq!(file.len(), bytes.len() as u64);
    std::thread::scope(|s| {
        for t in 0..4usize {
            let (file, bytes) = (&file, &bytes);
            s.spawn(move || {
                for i in 0..300 {
                    let at = (t * 100_003 + i * 2_741) % 900_000;
                    let len = 1 + (i * 997 + t) % 60_000;
                    let mut out = vec![0xAA; 3];
                    file.read_to_vec_at(at as u64, len, &mut out).unwrap();
                    assert_eq!(&out[..3], [0xAA; 3]);
                    assert_eq!(&out[3..], &bytes[at..at + len], "thread {t}, read {i}");
                    let mut buf = vec![0; 64];
                    file.read_exact_at((at / 2) as u64, &mut buf).unwrap();
                    assert_eq!(buf, &bytes[at / 2..at / 2 + 64]);
                }
            });
        }
    });
    // Control: the provided method reads the same bytes.
    struct Provided<'a>(&'a dyn SnapshotFile);
    impl SnapshotFile for Provided<'_> {
        fn len(&self) -> u64 {
            self.0.len()
        }
        fn read_exact_at(&self, at: u64, buf: &mut [u8]) -> microkv_core::Result<()> {
            self.0.read_exact_at(at, buf)
        }
    }
    let (mut ours, mut provided) = (Vec::new(), Vec::new());
    file.read_to_vec_at(12_345, 500_000, &mut ours).unwrap();
    (Provided(&*file))
        .read_to_vec_at(12_345, 500_000, &mut provided)
        .unwrap();
    assert_eq!(ours, provided);
    // Cut short under the handle (only a write into the file does that).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(600_000)
        .unwrap();
    let mut out = b"kept".to_vec();
    assert!(matches!(
        file.read_to_vec_at(500_000, 200_000, &mut out),
        Err(Error::Tampered)
    ));
    assert_eq!(out, b"kept");
    file.read_to_vec_at(500_000, 100_000, &mut out).unwrap();
    assert_eq!(&out[4..], &bytes[500_000..600_000]);
}
