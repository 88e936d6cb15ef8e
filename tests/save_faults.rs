//! A save or an autosaved write of a real file whose write, sync, rename or directory sync
//! fails: a real `EIO` from the kernel, injected by strace (`support/strace.rs`) into the
//! one system call of that step, with no fault hook in the store's code. Each test re-runs
//! itself as a child: once to record the calls the scenario makes (the step's are those
//! after `strace::mark()`), once with that call failing. The child checks what it can see
//! (the result, the files, memory, a retry) and the parent checks the files afresh.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};

#[path = "support/files.rs"]
mod files;
#[path = "support/strace.rs"]
mod strace;

use files::strays;

use microkv::{
    AutoSave, Config, Credential, Error, FileStorage, KdfParams, LockMode, MicroKV, Storage,
};

const KEY: [u8; 32] = [0x11; 32];
const DIR: &str = "MICROKV_SAVE_FAULTS_DIR";
const POINT: &str = "MICROKV_SAVE_FAULTS_POINT";
/// Set for the recording run: the child stops after the step that will fail.
const RECORD: &str = "MICROKV_SAVE_FAULTS_RECORD";
/// The calls a record traces.
const TRACE: &str = "write,fsync,fdatasync,rename,renameat,renameat2";

/// The step of a save or an append that fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    /// Writing the new snapshot to the temporary file.
    Write,
    /// Syncing the temporary file.
    Sync,
    /// Renaming the temporary file over the store file.
    Rename,
    /// Syncing the directory after the rename (or, for a new store, the link).
    SyncDir,
    /// Writing a record to the journal.
    JournalWrite,
    /// Syncing the journal after the record was written.
    JournalSync,
}

impl Point {
    const ALL: [Point; 6] = [
        Point::Write,
        Point::Sync,
        Point::Rename,
        Point::SyncDir,
        Point::JournalWrite,
        Point::JournalSync,
    ];

    fn parse(name: &str) -> Point {
        *Point::ALL
            .iter()
            .find(|p| format!("{p:?}") == name)
            .unwrap()
    }

    /// The system call of this step in `record` (the first after the mark) and its name.
    fn call(self, record: &strace::Traced, dir: &Path) -> (&'static str, strace::Call) {
        let dir_fd = format!("<{}>)", dir.display());
        let found = match self {
            Point::Write => ("write", record.first_after_mark("write", ".tmp>")),
            Point::Sync => ("fsync", record.first_after_mark("fsync", ".tmp>")),
            Point::SyncDir => ("fsync", record.first_after_mark("fsync", &dir_fd)),
            Point::JournalWrite => ("write", record.first_after_mark("write", ".journal>")),
            Point::JournalSync => {
                // The sync after the record's write (a pending cut is synced before it).
                let write = record.first_after_mark("write", ".journal>").unwrap();
                let sync = record
                    .calls("fdatasync")
                    .into_iter()
                    .find(|c| c.index > write.index && c.line.contains(".journal>"));
                ("fdatasync", sync)
            }
            Point::Rename => ["rename", "renameat", "renameat2"]
                .into_iter()
                .filter_map(|s| Some((s, record.first_after_mark(s, "store.kv")?)))
                .min_by_key(|(_, c)| c.index)
                .map_or(("rename", None), |(s, c)| (s, Some(c))),
        };
        let (syscall, call) = found;
        (
            syscall,
            call.unwrap_or_else(|| panic!("{self:?}: no call in the record")),
        )
    }
}

/// When this process is a child: the directory it was told, the store `store.kv` there,
/// its point, and whether it is the recording run.
fn child() -> Option<(PathBuf, PathBuf, Point, bool)> {
    let dir = PathBuf::from(std::env::var_os(DIR)?);
    let point = Point::parse(&std::env::var(POINT).ok()?);
    let path = dir.join("store.kv");
    Some((dir, path, point, std::env::var_os(RECORD).is_some()))
}

/// Runs `test`'s child for `point` (with `env` too) in a fresh directory below `root`:
/// records it, then runs it with the point's call failing. The child must pass, and the
/// fault must have been injected. Returns the directory the faulted run left.
fn with_fault(test: &str, root: &Path, point: Point, env: &[(&str, &str)]) -> PathBuf {
    let dir = root.join(format!("{point:?}"));
    let fresh = || {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
    };
    let point_name = format!("{point:?}");
    let mut vars: Vec<(&str, &std::ffi::OsStr)> =
        vec![(DIR, dir.as_os_str()), (POINT, point_name.as_ref())];
    vars.extend(env.iter().map(|(k, v)| (*k, v.as_ref())));
    fresh();
    let mut recording = vars.clone();
    recording.push((RECORD, "1".as_ref()));
    let record = strace::record(test, &recording, TRACE, &root.join("record.log"));
    assert!(record.status.success(), "{point:?}: the recording failed");
    let (syscall, call) = point.call(&record, &dir);
    fresh();
    let run = strace::inject(test, &vars, syscall, &call, false, &root.join("inject.log"));
    assert!(
        run.injected(),
        "{point:?}: nothing injected at {}",
        call.line
    );
    assert!(
        run.status.success(),
        "{point:?} ({}): the child failed",
        call.line
    );
    dir
}

/// A manual save whose write, sync or rename fails keeps the old file (`Io`); one whose
/// directory sync fails has the new file in place (`NotDurable`). Either way no temporary
/// file is left, memory keeps the write, and a retried save succeeds.
#[test]
fn a_failed_file_save_keeps_the_old_file_and_no_temporary_file() {
    const TEST: &str = "a_failed_file_save_keeps_the_old_file_and_no_temporary_file";
    if let Some((dir, path, point, record)) = child() {
        let storage = FileStorage::open(&path, LockMode::Exclusive).unwrap();
        let db = MicroKV::with_storage(storage.clone(), Credential::key(KEY), Config::default())
            .unwrap();
        db.put("k", &1u32).unwrap();
        db.save().unwrap();
        let old = std::fs::read(&path).unwrap();
        db.put("k", &2u32).unwrap();
        strace::mark();
        let err = db.save().unwrap_err_or_exit(record);
        if point == Point::SyncDir {
            // The new file is in place: the error says so.
            assert!(matches!(err, Error::NotDurable(_)), "{point:?}: {err:?}");
            assert_ne!(std::fs::read(&path).unwrap(), old, "the rename happened");
        } else {
            assert!(matches!(err, Error::Io(_)), "{point:?}: {err:?}");
            assert_eq!(std::fs::read(&path).unwrap(), old, "{point:?}");
        }
        assert!(strays(&dir).is_empty(), "{point:?}: {:?}", strays(&dir));
        assert_eq!(db.get::<u32>("k").unwrap(), Some(2), "{point:?}: memory");
        db.save().unwrap();
        std::process::exit(0);
    }
    let root = tempfile::tempdir().unwrap();
    for point in [Point::Write, Point::Sync, Point::Rename, Point::SyncDir] {
        let dir = with_fault(TEST, root.path(), point, &[]);
        let db = MicroKV::open(dir.join("store.kv"), Credential::key(KEY)).unwrap();
        assert_eq!(db.get::<u32>("k").unwrap(), Some(2), "{point:?}: retried");
        assert!(strays(&dir).is_empty());
    }
}

/// An `OnEveryWrite` write whose journal write or sync fails, for the owner and a shared
/// writer: `Err`, memory and the store file as before, no temporary file, and a fresh
/// open before any other write does not see it (the record was cut back out); the next
/// write succeeds.
#[test]
fn a_failed_autosaved_file_write_is_undone_and_leaves_no_temporary_file() {
    const TEST: &str = "a_failed_autosaved_file_write_is_undone_and_leaves_no_temporary_file";
    const LOCK: &str = "MICROKV_SAVE_FAULTS_LOCK";
    if let Some((dir, path, point, record)) = child() {
        let lock = match std::env::var(LOCK).unwrap().as_str() {
            "Exclusive" => LockMode::Exclusive,
            _ => LockMode::Shared,
        };
        let what = format!("{lock:?}, {point:?}");
        let config = Config {
            autosave: AutoSave::OnEveryWrite,
            lock_mode: lock,
            ..Default::default()
        };
        let db = MicroKV::open_with(&path, Credential::key(KEY), config).unwrap();
        db.put("k", &1u32).unwrap();
        let old = std::fs::read(&path).unwrap();
        strace::mark();
        let put = db.put("k", &2u32);
        let err = put.unwrap_err_or_exit(record);
        assert!(!matches!(err, Error::NotDurable(_)), "{what}: {err:?}");
        assert_eq!(db.get::<u32>("k").unwrap(), Some(1), "{what}");
        assert_eq!(std::fs::read(&path).unwrap(), old, "{what}");
        assert!(strays(&dir).is_empty(), "{what}");
        let fresh = Config {
            read_only: true,
            ..Default::default()
        };
        let ro = MicroKV::open_with(&path, Credential::key(KEY), fresh).unwrap();
        assert_eq!(ro.get::<u32>("k").unwrap(), Some(1), "{what}: fresh open");
        drop(ro);
        db.put("k", &3u32).unwrap();
        std::process::exit(0);
    }
    let root = tempfile::tempdir().unwrap();
    for lock in ["Exclusive", "Shared"] {
        for point in [Point::JournalWrite, Point::JournalSync] {
            let root = root.path().join(lock);
            std::fs::create_dir_all(&root).unwrap();
            let dir = with_fault(TEST, &root, point, &[(LOCK, lock)]);
            let db = MicroKV::open(dir.join("store.kv"), Credential::key(KEY)).unwrap();
            assert_eq!(db.get::<u32>("k").unwrap(), Some(3), "{lock}, {point:?}");
        }
    }
}

/// A password change whose directory sync fails after the rename is committed (`Ok`,
/// after its second save): the new password opens the file, the old one does not, and
/// the handle goes on under the new one.
#[test]
fn a_rotation_whose_directory_sync_fails_is_committed() {
    const TEST: &str = "a_rotation_whose_directory_sync_fails_is_committed";
    let config = || Config {
        kdf: KdfParams::argon2id(64, 1, 1),
        ..Default::default()
    };
    if let Some((_, path, _, record)) = child() {
        let storage = FileStorage::open(&path, LockMode::Exclusive).unwrap();
        let db =
            MicroKV::with_storage(storage.clone(), Credential::password("old"), config()).unwrap();
        db.put("k", &1u32).unwrap();
        db.save().unwrap();
        strace::mark();
        db.change_password("old", "new").unwrap();
        if record {
            std::process::exit(0);
        }
        db.change_password("new", "newer").unwrap();
        std::process::exit(0);
    }
    let root = tempfile::tempdir().unwrap();
    let dir = with_fault(TEST, root.path(), Point::SyncDir, &[]);
    let open =
        |pw: &str| MicroKV::open_with(dir.join("store.kv"), Credential::password(pw), config());
    assert!(matches!(open("old"), Err(Error::WrongPassword)));
    assert!(matches!(open("new"), Err(Error::WrongPassword)));
    assert_eq!(open("newer").unwrap().get::<u32>("k").unwrap(), Some(1));
}

/// The first save of a new store (`create_new`) that fails. At the directory sync after
/// the new file is linked in: the file is taken out again (`Io`, no store file), and the
/// next save creates it. At the temporary file's sync: nothing is there, and the next
/// save is still a first save, which refuses a file someone else put there meanwhile
/// (`AlreadyExists`). (A link that fails with `EIO` falls back to a rename, as on a file
/// system without hard links, and succeeds.)
#[test]
fn a_failed_first_save_leaves_no_store_and_the_next_save_a_first_save() {
    const TEST: &str = "a_failed_first_save_leaves_no_store_and_the_next_save_a_first_save";
    if let Some((dir, path, point, record)) = child() {
        let storage = FileStorage::create_new(&path, LockMode::Exclusive).unwrap();
        strace::mark();
        let err = storage.store(b"one").unwrap_err_or_exit(record);
        assert!(matches!(err, Error::Io(_)), "{point:?}: {err:?}");
        assert!(!path.exists(), "{point:?}");
        if point == Point::SyncDir {
            storage.store(b"two").unwrap();
            assert_eq!(storage.load().unwrap().as_deref(), Some(&b"two"[..]));
            assert!(strays(&dir).is_empty(), "{:?}", strays(&dir));
        } else {
            std::fs::write(&path, b"theirs").unwrap();
            let err = storage.store(b"two").unwrap_err();
            assert!(matches!(err, Error::AlreadyExists), "{err:?}");
        }
        std::process::exit(0);
    }
    let root = tempfile::tempdir().unwrap();
    for (point, left) in [(Point::SyncDir, &b"two"[..]), (Point::Sync, b"theirs")] {
        let dir = with_fault(TEST, root.path(), point, &[]);
        assert_eq!(
            std::fs::read(dir.join("store.kv")).unwrap(),
            left,
            "{point:?}"
        );
    }
}

/// A step's result in a child: in the recording run (no fault) the child leaves once the
/// step is done, whatever it returned; otherwise the step must have failed.
trait UnwrapErrOrExit {
    fn unwrap_err_or_exit(self, record: bool) -> Error;
}

impl<T: std::fmt::Debug> UnwrapErrOrExit for microkv::Result<T> {
    fn unwrap_err_or_exit(self, record: bool) -> Error {
        if record {
            std::process::exit(0);
        }
        self.unwrap_err()
    }
}
