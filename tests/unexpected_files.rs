//! Files that are not what the store may open, put there by someone who can write its
//! directory: a FIFO, a device, a symbolic or hard link at the store, journal or lock
//! path, or a file removed under a live writer. Each is a typed error
//! (`Error::UnexpectedFile`) at once: no open that blocks, nothing read before the type
//! is known, nothing created or written where a link points, no acknowledged write lost
//! without an error.
#![cfg(unix)]
#![forbid(unsafe_code)]

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

use microkv::{AutoSave, Config, Credential, Error, LockMode, MicroKV};

#[path = "support/rerun.rs"]
mod rerun;
use rerun::rerun_self;

const KEY: [u8; 32] = [0x6f; 32];
const FIFO_TEST: &str = "a_fifo_at_the_store_or_journal_path_is_refused_at_once";
const CHILD_CASE: &str = "MICROKV_UNEXPECTED_CHILD_CASE";
const CHILD_DIR: &str = "MICROKV_UNEXPECTED_CHILD_DIR";

/// The exclusive owner of the store (a writer that no other handle writes beside, so a
/// file changed under it was changed behind its back), or a read-only handle.
fn config(autosave: AutoSave, read_only: bool) -> Config {
    Config {
        autosave,
        read_only,
        lock_mode: LockMode::Exclusive,
        ..Default::default()
    }
}

fn open(path: &Path, autosave: AutoSave, read_only: bool) -> microkv::Result<MicroKV> {
    MicroKV::open_with(path, Credential::key(KEY), config(autosave, read_only))
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success());
    assert!(std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_fifo());
}

/// A store with one journaled write: the store file and its journal exist.
fn store_with_journal(path: &Path) {
    let db = open(path, AutoSave::OnEveryWrite, false).unwrap();
    db.put("k", &1u32).unwrap();
    drop(db);
    assert!(path.with_extension("kv.journal").exists());
}

fn unexpected<T: std::fmt::Debug>(result: microkv::Result<T>, what: &str) {
    assert!(
        matches!(result, Err(Error::UnexpectedFile(_))),
        "{what}: {result:?}"
    );
}

/// In a child (a blocking open would hang it, and the parent kills it after 10 s): a
/// FIFO at the store path, or at the journal path of an existing store, opened writable
/// and read-only. A plain `File::open` of a FIFO blocks until a writer comes.
#[test]
fn a_fifo_at_the_store_or_journal_path_is_refused_at_once() {
    if let (Ok(case), Some(dir)) = (std::env::var(CHILD_CASE), std::env::var_os(CHILD_DIR)) {
        let path = Path::new(&dir).join("s.kv");
        let read_only = case.ends_with("-ro");
        if case.starts_with("journal") {
            store_with_journal(&path);
            let journal = path.with_extension("kv.journal");
            std::fs::remove_file(&journal).unwrap();
            mkfifo(&journal);
        } else {
            mkfifo(&path);
        }
        unexpected(open(&path, AutoSave::OnEveryWrite, read_only), &case);
        return;
    }
    for case in ["store-rw", "store-ro", "journal-rw", "journal-ro"] {
        let dir = tempfile::tempdir().unwrap();
        let status = rerun_self(
            FIFO_TEST,
            &[
                (CHILD_CASE, case.as_ref()),
                (CHILD_DIR, dir.path().as_os_str()),
            ],
        );
        assert!(status.success(), "{case}: {status}");
    }
}

/// A store path that is a link to `/dev/zero`: refused from its type, before the lock
/// file is created beside the target and before anything is read (its length reads as
/// 0, so a bounded read would read up to the bound). The same for a journal linked to
/// it. The control: the link does lead to a character device.
#[test]
fn a_link_to_a_device_is_refused_before_any_read_or_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    assert!(std::fs::metadata(&path)
        .unwrap()
        .file_type()
        .is_char_device());
    let lock_there_before = Path::new("/dev/zero.lock").exists();
    for read_only in [false, true] {
        unexpected(open(&path, AutoSave::Manual, read_only), "store");
    }
    let lock_there = Path::new("/dev/zero.lock").exists();
    if lock_there && !lock_there_before {
        let _ = std::fs::remove_file("/dev/zero.lock");
    }
    assert!(
        !lock_there || lock_there_before,
        "a lock file was created in /dev"
    );

    let path = dir.path().join("t.kv");
    store_with_journal(&path);
    let journal = path.with_extension("kv.journal");
    std::fs::remove_file(&journal).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &journal).unwrap();
    for read_only in [false, true] {
        unexpected(open(&path, AutoSave::Manual, read_only), "journal");
    }
}

/// Links planted at `<store>.journal` and `<store>.lock` by someone who can write the
/// directory, pointing outside it: the targets are never written, truncated or created.
/// A link planted while the store is open: a save (its journal cut) and a journaled write
/// are refused; a link there at open: the open is refused. A hard link to a file
/// elsewhere put in the journal's place is refused too. The control: each link does
/// reach its target.
#[test]
fn links_planted_at_the_journal_or_lock_leave_their_targets_untouched() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("shared");
    let outside = root.path().join("outside");
    std::fs::create_dir(&dir).unwrap();
    std::fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim");
    let precious = b"precious, not the store's".to_vec();
    let path = dir.join("s.kv");
    let journal = dir.join("s.kv.journal");

    // Planted under a live Manual store: its save's journal cut.
    std::fs::write(&victim, &precious).unwrap();
    let db = open(&path, AutoSave::Manual, false).unwrap();
    db.put("k", &1u32).unwrap();
    std::os::unix::fs::symlink(&victim, &journal).unwrap();
    assert_eq!(std::fs::read(&journal).unwrap(), precious, "control");
    let saved = db.save();
    assert!(
        matches!(saved, Err(Error::NotDurable(_))),
        "the snapshot is in place, the journal could not be emptied: {saved:?}"
    );
    assert_eq!(std::fs::read(&victim).unwrap(), precious, "save");
    drop(db);

    // There at open, for every kind of open.
    for read_only in [false, true] {
        unexpected(open(&path, AutoSave::Manual, read_only), "link at open");
    }
    std::fs::remove_file(&journal).unwrap();

    // Planted under a live OnEveryWrite store: its next append.
    let db = open(&path, AutoSave::OnEveryWrite, false).unwrap();
    std::os::unix::fs::symlink(&victim, &journal).unwrap();
    unexpected(db.put("k", &2u32), "append through a link");
    assert_eq!(std::fs::read(&victim).unwrap(), precious, "append");
    std::fs::remove_file(&journal).unwrap();

    // The journal replaced by a hard link to the victim (one file with two names) while
    // this handle has the journal open.
    db.put("x", &9u32).unwrap(); // a snapshot; the journal starts afresh
    db.put("y", &9u32).unwrap(); // journaled: the journal is open
    std::fs::remove_file(&journal).unwrap();
    std::fs::hard_link(&victim, &journal).unwrap();
    unexpected(db.put("k", &3u32), "append to a hard link");
    assert_eq!(std::fs::read(&victim).unwrap(), precious, "hard link");
    std::fs::remove_file(&journal).unwrap();
    // The next write saves a snapshot of everything acknowledged ("y" was in the
    // journal that was removed).
    db.put("z", &9u32).unwrap();
    drop(db);

    // The lock file: a link to a file that does not exist is not created; one to a file
    // that does is neither locked nor changed.
    let lock = dir.join("s.kv.lock");
    std::fs::remove_file(&lock).unwrap();
    let target = outside.join("made-by-the-store");
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    unexpected(open(&path, AutoSave::Manual, false), "lock link");
    assert!(
        !target.exists(),
        "a file was created where the lock link points"
    );
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    unexpected(open(&path, AutoSave::Manual, false), "lock link to a file");
    assert_eq!(std::fs::read(&victim).unwrap(), precious, "lock");
    std::fs::remove_file(&lock).unwrap();

    // With the links gone the store opens with every acknowledged write.
    let db = open(&path, AutoSave::Manual, true).unwrap();
    assert_eq!(db.get::<u32>("k").unwrap(), Some(1));
    assert_eq!(db.get::<u32>("y").unwrap(), Some(9));
    assert_eq!(db.get::<u32>("z").unwrap(), Some(9));
}

/// The journal, or the store file, removed under a live `OnEveryWrite` writer: the next
/// write is a typed error (its record would go to a file no open reads, or extend a
/// snapshot that is gone), not an `Ok` that a fresh open never sees; the write after it
/// saves a snapshot of everything acknowledged, and the journal resumes.
#[test]
fn a_journal_or_store_removed_under_a_live_writer_is_an_error_not_a_loss() {
    for removed in ["s.kv.journal", "s.kv"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.kv");
        let db = open(&path, AutoSave::OnEveryWrite, false).unwrap();
        db.put("a", &1u32).unwrap();
        std::fs::remove_file(dir.path().join(removed)).unwrap();
        unexpected(db.put("b", &2u32), removed);
        db.put("c", &3u32).unwrap();
        db.put("d", &4u32).unwrap();
        let journal = std::fs::read(dir.path().join("s.kv.journal")).unwrap();
        assert!(!journal.is_empty(), "{removed}: the journal resumed");
        let fresh = open(&path, AutoSave::Manual, true).unwrap();
        for (key, want) in [("a", Some(1)), ("b", None), ("c", Some(3)), ("d", Some(4))] {
            assert_eq!(fresh.get::<u32>(key).unwrap(), want, "{removed}: {key}");
        }
    }
}

/// A journal of zeros on disk (a crash after its creation left it extended, its header
/// never written) opens as an empty journal, and the next write replaces it.
#[test]
fn a_file_journal_of_zeros_opens_as_empty() {
    for len in [3, 36, 4096] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.kv");
        let db = open(&path, AutoSave::OnEveryWrite, false).unwrap();
        db.put("k", &1u32).unwrap();
        db.save().unwrap();
        drop(db);
        std::fs::write(path.with_extension("kv.journal"), vec![0u8; len]).unwrap();
        let db = open(&path, AutoSave::OnEveryWrite, false).unwrap();
        assert_eq!(db.get::<u32>("k").unwrap(), Some(1), "{len} zeros");
        db.put("k", &2u32).unwrap();
        drop(db);
        let db = open(&path, AutoSave::Manual, true).unwrap();
        assert_eq!(db.get::<u32>("k").unwrap(), Some(2), "{len} zeros");
    }
}
