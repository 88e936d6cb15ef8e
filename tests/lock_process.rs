//! The cross-process lock, with a real second process: this test binary re-runs itself
//! as the child, filtered to the one test below, with an environment variable telling it
//! what to do. The child reports through its exit code.
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

#[path = "support/rerun.rs"]
mod rerun;
use rerun::rerun_self;

use microkv::{Config, Credential, Error, LockMode, MicroKV};

const TEST: &str = "a_second_process_is_locked_out_until_the_holder_drops";
const CHILD_PATH: &str = "MICROKV_LOCK_CHILD_PATH";
const CHILD_MODE: &str = "MICROKV_LOCK_CHILD_MODE";
const KEY: [u8; 32] = [0x77; 32];

/// Exit codes of the child.
const LOCKED_FAST: i32 = 10;
const LOCKED_SLOW: i32 = 11;
const OPENED_WITH_VALUE: i32 = 20;
const OPENED_WITHOUT_VALUE: i32 = 21;
const OTHER_ERROR: i32 = 30;

#[path = "support/store.rs"]
mod store;
use store::saved_store;

/// The child: open the store (mode `exclusive`, `shared` or `read-only`) and report.
fn child(path: &Path, mode: &str) -> ! {
    let config = match mode {
        "exclusive" => Config {
            lock_mode: LockMode::Exclusive,
            ..Default::default()
        },
        "shared" => Config {
            lock_mode: LockMode::Shared,
            ..Default::default()
        },
        "read-only" => Config {
            read_only: true,
            ..Default::default()
        },
        other => panic!("unknown child mode {other}"),
    };
    let started = Instant::now();
    let code = match MicroKV::open_existing_with(path, Credential::key(KEY), config) {
        Err(Error::Locked) if started.elapsed() < Duration::from_secs(1) => LOCKED_FAST,
        Err(Error::Locked) => LOCKED_SLOW,
        Ok(db) => match db.get::<u32>("saved") {
            Ok(Some(1)) => OPENED_WITH_VALUE,
            _ => OPENED_WITHOUT_VALUE,
        },
        Err(e) => {
            eprintln!("child: {e:?}");
            OTHER_ERROR
        }
    };
    std::process::exit(code);
}

/// Runs the child and waits for it, at most 10 s (a hung child is killed: a failure).
fn run_child(path: &Path, mode: &str) -> ExitStatus {
    rerun_self(
        TEST,
        &[
            (CHILD_PATH, path.as_os_str()),
            (CHILD_MODE, OsStr::new(mode)),
        ],
    )
}

#[test]
fn a_second_process_is_locked_out_until_the_holder_drops() {
    if let (Some(path), Some(mode)) = (std::env::var_os(CHILD_PATH), std::env::var(CHILD_MODE).ok())
    {
        child(Path::new(&path), &mode);
    }
    let owner = Config {
        lock_mode: LockMode::Exclusive,
        ..Default::default()
    };
    // Saves rename a new file over the store: the lock must survive them (this one and
    // saved_store's).
    let (_dir, path, holder) = saved_store(KEY, owner, "saved");
    holder.save().unwrap();

    for mode in ["exclusive", "shared"] {
        let status = run_child(&path, mode);
        assert_eq!(status.code(), Some(LOCKED_FAST), "{mode} child: {status:?}");
    }
    let status = run_child(&path, "read-only");
    assert_eq!(
        status.code(),
        Some(OPENED_WITH_VALUE),
        "read-only opens never lock: {status:?}"
    );

    drop(holder);
    let status = run_child(&path, "exclusive");
    assert_eq!(
        status.code(),
        Some(OPENED_WITH_VALUE),
        "after the drop: {status:?}"
    );

    // A shared holder lets another shared opener in, and still keeps a writer out.
    let shared = MicroKV::open_with(
        &path,
        Credential::key(KEY),
        Config {
            lock_mode: LockMode::Shared,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(run_child(&path, "shared").code(), Some(OPENED_WITH_VALUE));
    assert_eq!(run_child(&path, "exclusive").code(), Some(LOCKED_FAST));
    drop(shared);
}
