//! Saves that keep their promise: `AutoSave::Periodic(d)` puts a write on disk within
//! about `d` even when no later write comes (a writer process that then dies without
//! dropping anything), its thread stops with the store, and `close()` returns the save
//! that dropping a store could only lose.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "support/rerun.rs"]
mod rerun;
use rerun::rerun_self;

use microkv::{AutoSave, Config, Credential, MicroKV};

#[path = "support/files.rs"]
mod files;
#[cfg(not(windows))]
use files::file_in_a_subdir;

const KEY: [u8; 32] = [0x5a; 32];
const TEST: &str = "a_periodic_write_reaches_disk_though_no_later_write_comes";
const CHILD_PATH: &str = "MICROKV_AUTOSAVE_CHILD_PATH";
const CHILD_IDLE_MS: &str = "MICROKV_AUTOSAVE_CHILD_IDLE_MS";
/// The child's exit code once it wrote and idled.
const WROTE: i32 = 7;
const PERIOD: Duration = Duration::from_millis(500);

/// Tests that open periodic stores in this process take it, so that one can count the
/// saver threads.
static PERIODIC: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    PERIODIC
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn periodic(every: Duration) -> Config {
    Config {
        autosave: AutoSave::Periodic(every),
        ..Default::default()
    }
}

/// What a fresh open of the file holds under `k` (read-only: no lock, no write).
fn on_disk(path: &Path, k: &str) -> Option<u32> {
    let config = Config {
        read_only: true,
        ..Default::default()
    };
    let ro = MicroKV::open_with(path, Credential::key(KEY), config).unwrap();
    ro.get::<u32>(k).unwrap()
}

/// The child: two writes, an idle time, then an exit that runs no destructor (as a
/// crash would): only what a save already put on disk survives it.
fn child(path: &Path, idle: Duration) -> ! {
    let db = MicroKV::open_with(path, Credential::key(KEY), periodic(PERIOD)).unwrap();
    db.put("a", &1u32).unwrap();
    db.put("b", &2u32).unwrap();
    std::thread::sleep(idle);
    std::process::exit(WROTE);
}

fn run_child(path: &Path, idle: Duration) {
    let idle_ms = idle.as_millis().to_string();
    let status = rerun_self(
        TEST,
        &[
            (CHILD_PATH, path.as_os_str()),
            (CHILD_IDLE_MS, idle_ms.as_ref()),
        ],
    );
    assert_eq!(status.code(), Some(WROTE), "child: {status:?}");
}

#[test]
fn a_periodic_write_reaches_disk_though_no_later_write_comes() {
    if let (Some(path), Ok(ms)) = (
        std::env::var_os(CHILD_PATH),
        std::env::var(CHILD_IDLE_MS).map(|ms| ms.parse::<u64>().unwrap()),
    ) {
        child(Path::new(&path), Duration::from_millis(ms));
    }
    let dir = tempfile::tempdir().unwrap();

    // Control: a child that dies right after its writes. The writes came within the
    // period of the save that created the file, so no write saved them.
    let path = dir.path().join("control.kv");
    run_child(&path, Duration::ZERO);
    assert_eq!((on_disk(&path, "a"), on_disk(&path, "b")), (None, None));

    // Idle for 2 s (four periods), then the same death: the store's thread saved both.
    let path = dir.path().join("idle.kv");
    run_child(&path, Duration::from_secs(2));
    assert_eq!(
        (on_disk(&path, "a"), on_disk(&path, "b")),
        (Some(1), Some(2))
    );
}

#[test]
fn a_periodic_write_is_on_disk_within_about_its_period() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.kv");
    let db = MicroKV::open_with(&path, Credential::key(KEY), periodic(PERIOD)).unwrap();
    db.put("a", &1u32).unwrap();
    let written = Instant::now();
    assert_eq!(on_disk(&path, "a"), None, "not saved by the write itself");
    while on_disk(&path, "a").is_none() {
        assert!(
            written.elapsed() < 3 * PERIOD,
            "not on disk {:?} after the write",
            written.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = written.elapsed();
    assert!(took <= PERIOD + PERIOD / 2, "on disk after {took:?}");
}

/// The names of this process's threads (Linux: /proc/self/task).
#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[cfg(target_os = "linux")]
fn savers() -> usize {
    let names = thread_names();
    names.iter().filter(|n| *n == "microkv-saver").count()
}

#[test]
#[cfg(target_os = "linux")]
fn the_periodic_thread_lives_as_long_as_the_store() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let before = savers();
    let db = MicroKV::open_with(
        dir.path().join("store.kv"),
        Credential::key(KEY),
        periodic(Duration::from_secs(3600)),
    )
    .unwrap();
    let clone = db.clone();
    // The thread names itself once it runs: give it a moment.
    let named = Instant::now();
    while savers() == before && named.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        savers(),
        before + 1,
        "a periodic store has its saver thread"
    );
    drop(db);
    assert_eq!(
        savers(),
        before + 1,
        "a clone keeps the store, and its thread"
    );
    let started = Instant::now();
    drop(clone);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "dropping stops the thread at once, not at its next tick"
    );
    assert_eq!(savers(), before, "the thread stopped with the store");
}

#[test]
fn dropping_a_periodic_store_saves_what_is_unsaved() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.kv");
    let db = MicroKV::open_with(
        &path,
        Credential::key(KEY),
        periodic(Duration::from_secs(3600)),
    )
    .unwrap();
    db.put("a", &1u32).unwrap();
    assert_eq!(on_disk(&path, "a"), None);
    drop(db);
    assert_eq!(on_disk(&path, "a"), Some(1));
}

fn on_drop_store(path: &PathBuf) -> MicroKV {
    let config = Config {
        autosave: AutoSave::OnDrop,
        ..Default::default()
    };
    MicroKV::open_with(path, Credential::key(KEY), config).unwrap()
}

/// A new `OnDrop` store `name` in `dir` with `a = 1` put (in memory only, until a save),
/// and its path.
fn on_drop_store_holding_a(dir: &Path, name: &str) -> (PathBuf, MicroKV) {
    let path = dir.join(name);
    let db = on_drop_store(&path);
    db.put("a", &1u32).unwrap();
    (path, db)
}

#[test]
fn close_returns_the_save_that_dropping_loses() {
    let dir = tempfile::tempdir().unwrap();

    // Control: a healthy directory: close saves, and says so.
    let (path, db) = on_drop_store_holding_a(dir.path(), "ok.kv");
    db.close().unwrap();
    assert_eq!(on_disk(&path, "a"), Some(1));

    // A real fault: the store's directory is gone when it saves. (Windows refuses to
    // remove a directory while a file in it is open, the store's lock file here: that
    // fault cannot happen there.)
    #[cfg(not(windows))]
    {
        let (_dir, gone, _) = file_in_a_subdir("store.kv");
        let (_, db) = on_drop_store_holding_a(&gone, "store.kv");
        std::fs::remove_dir_all(&gone).unwrap();
        let err = db.close().unwrap_err();
        assert!(matches!(err, microkv::Error::Io(_)), "{err:?}");
    }

    // A clone's close saves too, and leaves the store open for the other handle.
    let path = dir.path().join("clone.kv");
    let db = on_drop_store(&path);
    let other = db.clone();
    other.put("a", &1u32).unwrap();
    other.close().unwrap();
    assert_eq!(on_disk(&path, "a"), Some(1));
    db.put("b", &2u32).unwrap();
    drop(db);
    assert_eq!(on_disk(&path, "b"), Some(2));
}

#[test]
fn flush_saves_now_and_nothing_under_manual() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manual.kv");
    let db = MicroKV::open(&path, Credential::key(KEY)).unwrap();
    db.put("a", &1u32).unwrap();
    db.flush().unwrap();
    assert_eq!(on_disk(&path, "a"), None, "Manual: only save() writes");

    let (path, db) = on_drop_store_holding_a(dir.path(), "drop.kv");
    db.flush().unwrap();
    assert_eq!(on_disk(&path, "a"), Some(1));
}
