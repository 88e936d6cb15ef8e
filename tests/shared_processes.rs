//! Many processes writing one store (`LockMode::Shared`, the default), with real
//! processes: this test binary re-runs itself as the children (`support/rerun.rs`), each
//! told its role through environment variables; children report through their exit code
//! and, where the parent needs it, lines on their standard output.
//!
//! Every scenario counts acknowledged writes: a write whose call returned `Ok` must be in
//! the store at the end (0 lost). The control, `a_writer_that_does_not_catch_up_loses_writes`,
//! runs the first scenario's pattern through a storage that hides that it is shared, so
//! the handle neither locks nor catches up: writes are lost, as they were before.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

#[path = "support/rerun.rs"]
mod rerun;
use rerun::{spawn_self, wait_within};

use microkv::{
    AutoSave, Config, Credential, Error, FileStorage, LockMode, MicroKV, Refresh, Storage,
    WriteLock,
};

const KEY: [u8; 32] = [0x5a; 32];
const ROLE: &str = "MICROKV_SHARED_ROLE";
const PATH: &str = "MICROKV_SHARED_PATH";
const ID: &str = "MICROKV_SHARED_ID";
/// How long a whole scenario may take before its children count as hung.
const PATIENCE: Duration = Duration::from_secs(120);

fn writer() -> Config {
    Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    }
}

fn open(path: &Path, config: Config) -> microkv::Result<MicroKV> {
    MicroKV::open_with(path, Credential::key(KEY), config)
}

/// A child's role, path and id, when this process is one.
fn role() -> Option<(String, PathBuf, u32)> {
    let role = std::env::var(ROLE).ok()?;
    let path = PathBuf::from(std::env::var_os(PATH)?);
    let id = std::env::var(ID).ok()?.parse().ok()?;
    Some((role, path, id))
}

/// Starts the child of `test` with `role` and `id` on the store at `path`.
fn spawn(test: &str, role: &str, path: &Path, id: u32, piped: bool) -> Child {
    let id = id.to_string();
    spawn_self(
        test,
        &[
            (ROLE, role.as_ref()),
            (PATH, path.as_os_str()),
            (ID, id.as_ref()),
        ],
        piped,
    )
}

/// Waits for every child; each must exit with 0.
fn wait_all(children: &mut [Child], what: &str) {
    let started = Instant::now();
    for (i, child) in children.iter_mut().enumerate() {
        let left = PATIENCE.saturating_sub(started.elapsed());
        let status = wait_within(child, left, what);
        assert_eq!(status.code(), Some(0), "{what} child {i}: {status:?}");
    }
}

/// Runs a child's body and leaves with 0, or with 1 after printing the error.
fn exit_with(body: impl FnOnce() -> Result<(), String>) -> ! {
    let code = match body() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("child: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// When this process is a child: runs `body` with its role, store path and id, and exits
/// ([`exit_with`]). Returns in the parent.
fn as_child(body: impl FnOnce(&str, &Path, u32) -> Result<(), String>) {
    if let Some((role, path, id)) = role() {
        exit_with(|| body(&role, &path, id));
    }
}

/// [`open`], its error as the child's message.
fn open_as(path: &Path, config: Config) -> Result<MicroKV, String> {
    open(path, config).map_err(|e| e.to_string())
}

/// When this process is a child: opens the store as a writer ([`writer`]), runs `body`
/// with the store, the child's id and role, and exits. Returns in the parent.
fn as_writing_child(body: impl FnOnce(&MicroKV, u32, &str) -> Result<(), String>) {
    as_child(|role, path, id| body(&open_as(path, writer())?, id, role));
}

/// When this process is a child of a scenario of writers beside one watcher: a
/// `writer_role` child opens the store as a writer ([`writer`]) and runs `write` with it
/// and its id; a `watcher_role` child opens it with `watching` and runs `watch` with it and
/// the store's path; any other role is an error. Exits ([`exit_with`]); returns in the
/// parent.
fn as_writer_or_watcher<W, V>(
    writer_role: &str,
    write: W,
    watcher_role: &str,
    watching: Config,
    watch: V,
) where
    W: FnOnce(&MicroKV, u32) -> Result<(), String>,
    V: FnOnce(&MicroKV, &Path) -> Result<(), String>,
{
    as_child(|role, path, id| match role {
        r if r == writer_role => write(&open_as(path, writer())?, id),
        r if r == watcher_role => watch(&open_as(path, watching)?, path),
        other => Err(format!("unknown role {other}")),
    });
}

/// A fresh store `store.kv` in a new temporary directory, with `seed` written, closed
/// again. Returns the directory (removed when dropped) and the store's path.
fn create(seed: &[(&str, u64)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.kv");
    let db = open(&path, writer()).unwrap();
    for (k, v) in seed {
        db.put(k, v).unwrap();
    }
    (dir, path)
}

/// Each child's writes. Under Wine (CI's Windows run) every file call is a round trip to
/// wineserver: fewer writes there keep the Wine stage short (this file took 2 minutes of
/// it with 600), and 4 x 300 writes that overlap still lose some without the catch-up.
const PUTS: u32 = if cfg!(windows) { 300 } else { 2_000 };
/// The victim's acknowledged write after which it is killed: well inside its writes.
const KILL_AFTER: u32 = if cfg!(windows) { 150 } else { 300 };
const PUTTERS: u32 = 4;

#[test]
fn four_processes_putting_their_own_keys_lose_nothing() {
    const TEST: &str = "four_processes_putting_their_own_keys_lose_nothing";
    as_writing_child(|db, id, _| {
        for i in 0..PUTS {
            db.put(&format!("w{id}-{i}"), &(u64::from(id) << 32 | u64::from(i)))
                .map_err(|e| format!("put {i}: {e}"))?;
        }
        Ok(())
    });
    let (_dir, path) = create(&[]);
    let mut children: Vec<Child> = (0..PUTTERS)
        .map(|id| spawn(TEST, "putter", &path, id, false))
        .collect();
    wait_all(&mut children, TEST);
    let db = open(&path, Config::default()).unwrap();
    assert_eq!(db.len().unwrap(), (PUTS * PUTTERS) as usize);
    for id in 0..PUTTERS {
        for i in 0..PUTS {
            let value = db.get::<u64>(&format!("w{id}-{i}")).unwrap();
            assert_eq!(value, Some(u64::from(id) << 32 | u64::from(i)), "w{id}-{i}");
        }
    }
}

/// A storage that passes everything to a shared `FileStorage` but says it is owned: the
/// handle over it takes no write lock and never catches up, as `Shared` handles did
/// before. The control of the scenarios here.
struct Unshared(FileStorage);

impl Storage for Unshared {
    fn load(&self) -> microkv::Result<Option<Vec<u8>>> {
        self.0.load()
    }
    fn store(&self, bytes: &[u8]) -> microkv::Result<()> {
        self.0.store(bytes)
    }
    fn store_replacing(&self, expected: &[u8], bytes: &[u8]) -> microkv::Result<()> {
        self.0.store_replacing(expected, bytes)
    }
    fn append(&self, keep: u64, bytes: &[u8]) -> microkv::Result<bool> {
        self.0.append(keep, bytes)
    }
    fn load_journal(&self) -> microkv::Result<Vec<u8>> {
        self.0.load_journal()
    }
    fn lock_writes(&self) -> microkv::Result<WriteLock> {
        Ok(WriteLock::none())
    }
}

#[test]
fn a_writer_that_does_not_catch_up_loses_writes() {
    let (_dir, path) = create(&[]);
    let blind = |path: &Path| {
        let storage = Unshared(FileStorage::open(path, LockMode::Shared).unwrap());
        MicroKV::with_storage(storage, Credential::key(KEY), writer()).unwrap()
    };
    let (a, b) = (blind(&path), blind(&path));
    let mut acknowledged = 0;
    for i in 0..50u32 {
        acknowledged += usize::from(a.put(&format!("a{i}"), &i).is_ok());
        acknowledged += usize::from(b.put(&format!("b{i}"), &i).is_ok());
    }
    drop((a, b));
    let db = open(&path, Config::default()).unwrap();
    let kept = db.len().unwrap();
    assert!(
        kept < acknowledged,
        "{kept} of {acknowledged} acknowledged writes survived"
    );
    drop(db);

    // The same through shared handles: nothing is lost.
    let (a, b) = (
        open(&path, writer()).unwrap(),
        open(&path, writer()).unwrap(),
    );
    for i in 0..50u32 {
        a.put(&format!("a{i}"), &i).unwrap();
        b.put(&format!("b{i}"), &i).unwrap();
    }
    drop((a, b));
    assert_eq!(open(&path, Config::default()).unwrap().len().unwrap(), 100);
}

/// Each child's increments (fewer under Wine, as [`PUTS`]).
const INCREMENTS: u32 = if cfg!(windows) { 120 } else { 1_000 };

#[test]
fn four_processes_incrementing_one_counter_count_exactly() {
    const TEST: &str = "four_processes_incrementing_one_counter_count_exactly";
    as_writing_child(|db, _, _| {
        for i in 0..INCREMENTS {
            db.update::<u64, _>("counter", |n| Some(n.unwrap_or(0) + 1))
                .map_err(|e| format!("update {i}: {e}"))?;
        }
        Ok(())
    });
    let (_dir, path) = create(&[("counter", 0)]);
    let mut children: Vec<Child> = (0..4)
        .map(|id| spawn(TEST, "incrementer", &path, id, false))
        .collect();
    wait_all(&mut children, TEST);
    let db = open(&path, Config::default()).unwrap();
    assert_eq!(
        db.get::<u64>("counter").unwrap(),
        Some(4 * u64::from(INCREMENTS))
    );
}

/// Each mover's transfers (fewer under Wine, as [`PUTS`]).
const TRANSFERS: u32 = if cfg!(windows) { 150 } else { 300 };
const TOTAL: u64 = 2_000;

#[test]
fn transfers_in_transactions_keep_the_sum_a_refreshing_reader_sees() {
    const TEST: &str = "transfers_in_transactions_keep_the_sum_a_refreshing_reader_sees";
    as_writer_or_watcher(
        "mover",
        |db, id| {
            for i in 0..TRANSFERS {
                let amount = u64::from(id * 7 + i % 13 + 1);
                let (from, to) = if (i + id) % 2 == 0 {
                    ("a", "b")
                } else {
                    ("b", "a")
                };
                db.transaction(|tx| {
                    let have: u64 = tx.require("", from)?;
                    let moved = amount.min(have);
                    let other: u64 = tx.require("", to)?;
                    tx.put("", from, &(have - moved))?;
                    tx.put("", to, &(other + moved))?;
                    Ok(())
                })
                .map_err(|e| format!("transfer {i}: {e}"))?;
            }
            Ok(())
        },
        "reader",
        Config {
            read_only: true,
            refresh: Refresh::OnEveryRead,
            ..Default::default()
        },
        |db, path| {
            let stop = path.with_extension("stop");
            let (mut reads, mut changes, mut last) = (0u64, 0u64, None);
            // One last read after the stop: the movers are done by then.
            let mut stopping = false;
            loop {
                stopping |= stop.exists();
                let both: Vec<(String, u64)> = db.prefix("").map_err(|e| e.to_string())?;
                let sum: u64 = both.iter().map(|(_, v)| v).sum();
                if both.len() != 2 || sum != TOTAL {
                    return Err(format!("read {reads}: {both:?}"));
                }
                reads += 1;
                if last.as_ref() != Some(&both) {
                    changes += 1;
                    last = Some(both);
                }
                if stopping {
                    break;
                }
            }
            println!("reads {reads} changes {changes}");
            // The reader must have seen the movers at work, not one frozen state.
            if changes < 2 {
                return Err(format!("{changes} states seen in {reads} reads"));
            }
            Ok(())
        },
    );
    let (_dir, path) = create(&[("a", TOTAL / 2), ("b", TOTAL / 2)]);
    let mut reader = spawn(TEST, "reader", &path, 9, false);
    let mut movers: Vec<Child> = (0..3)
        .map(|id| spawn(TEST, "mover", &path, id, false))
        .collect();
    wait_all(&mut movers, TEST);
    std::fs::write(path.with_extension("stop"), b"").unwrap();
    let status = wait_within(&mut reader, PATIENCE, TEST);
    assert_eq!(status.code(), Some(0), "reader: {status:?}");
    let db = open(&path, Config::default()).unwrap();
    let a: u64 = db.require("a").unwrap();
    let b: u64 = db.require("b").unwrap();
    assert_eq!(a + b, TOTAL);
}

#[test]
fn a_writer_killed_mid_write_stops_no_one_and_loses_nothing_acknowledged() {
    const TEST: &str = "a_writer_killed_mid_write_stops_no_one_and_loses_nothing_acknowledged";
    as_writing_child(|db, id, role| {
        for i in 0..PUTS {
            db.put(&format!("w{id}-{i}"), &i)
                .map_err(|e| format!("put {i}: {e}"))?;
            if role == "victim" {
                // Acknowledged: the parent counts it.
                println!("ack {i}");
            }
        }
        Ok(())
    });
    let (_dir, path) = create(&[]);
    let mut victim = spawn(TEST, "victim", &path, 0, true);
    let mut others: Vec<Child> = (1..3)
        .map(|id| spawn(TEST, "writer", &path, id, false))
        .collect();
    // Kill the victim once it has acknowledged some writes: it is most likely inside
    // one (holding the write lock, or part-way through a record).
    let lines = BufReader::new(victim.stdout.take().unwrap());
    let mut acked = None;
    for line in lines.lines() {
        let line = line.unwrap();
        if let Some(i) = line.strip_prefix("ack ") {
            let i: u32 = i.parse().unwrap();
            acked = Some(i);
            if i == KILL_AFTER {
                victim.kill().unwrap();
                break;
            }
        }
    }
    let _ = victim.wait();
    let acked = acked.expect("the victim acknowledged writes");
    let started = Instant::now();
    wait_all(&mut others, TEST);
    let db = open(&path, Config::default()).unwrap();
    for i in 0..=acked {
        assert_eq!(
            db.get::<u32>(&format!("w0-{i}")).unwrap(),
            Some(i),
            "w0-{i}"
        );
    }
    for id in 1..3 {
        for i in 0..PUTS {
            assert_eq!(db.get::<u32>(&format!("w{id}-{i}")).unwrap(), Some(i));
        }
    }
    eprintln!(
        "victim acknowledged {} writes; the others finished {:?} after the kill",
        acked + 1,
        started.elapsed()
    );
}

/// The CLI's runs, each a process (under Wine a process start takes a good part of a
/// second: fewer there).
const CLI_RUNS: u32 = if cfg!(windows) { 60 } else { 200 };

#[test]
fn cli_writes_beside_a_daemon_are_all_seen_in_order() {
    const TEST: &str = "cli_writes_beside_a_daemon_are_all_seen_in_order";
    as_writer_or_watcher(
        // Open with the defaults, one write, exit: what a CLI does.
        "cli",
        |db, id| {
            db.put(&format!("cli-{id:03}"), &id)
                .map_err(|e| e.to_string())
        },
        "daemon",
        Config {
            refresh: Refresh::OnEveryRead,
            ..Default::default()
        },
        |db, _| {
            let started = Instant::now();
            let (mut seen, mut steps) = (0usize, 0u32);
            while seen < CLI_RUNS as usize {
                if started.elapsed() > PATIENCE {
                    return Err(format!("saw {seen} writes"));
                }
                let mut keys = db.keys().map_err(|e| e.to_string())?;
                keys.sort();
                // In order: the writes seen are always the first ones made.
                let expected: Vec<String> =
                    (0..keys.len()).map(|i| format!("cli-{i:03}")).collect();
                if keys != expected || keys.len() < seen {
                    return Err(format!("after {seen}: {keys:?}"));
                }
                if keys.len() > seen {
                    steps += 1;
                    seen = keys.len();
                }
            }
            println!("seen {seen} in {steps} steps");
            Ok(())
        },
    );
    let (_dir, path) = create(&[]);
    let mut daemon = spawn(TEST, "daemon", &path, 0, false);
    for id in 0..CLI_RUNS {
        let mut cli = spawn(TEST, "cli", &path, id, false);
        let status = wait_within(&mut cli, Duration::from_secs(30), TEST);
        assert_eq!(status.code(), Some(0), "cli {id}: {status:?}");
    }
    let status = wait_within(&mut daemon, PATIENCE, TEST);
    assert_eq!(status.code(), Some(0), "daemon: {status:?}");
    let db = open(&path, Config::default()).unwrap();
    assert_eq!(db.len().unwrap(), CLI_RUNS as usize);
}

#[test]
fn a_credential_change_reaches_the_other_handles() {
    let (_dir, path) = create(&[("k", 1)]);
    let a = open(&path, writer()).unwrap();
    let b = open(&path, writer()).unwrap();
    let reader = open(
        &path,
        Config {
            read_only: true,
            refresh: Refresh::OnEveryRead,
            ..Default::default()
        },
    )
    .unwrap();
    a.rekey(Credential::key([0x11; 32])).unwrap();
    let err = b.put("k", &2u64).unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    let err = reader.get::<u64>("k").unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    let err = b.reload().unwrap_err();
    assert!(matches!(err, Error::CredentialChanged), "{err:?}");
    // Reopened with the new credential, they go on.
    drop(b);
    let b = MicroKV::open_with(&path, Credential::key([0x11; 32]), writer()).unwrap();
    b.put("k", &3u64).unwrap();
    a.reload().unwrap();
    assert_eq!(a.get::<u64>("k").unwrap(), Some(3));
    assert!(matches!(
        open(&path, Config::default()),
        Err(Error::WrongPassword)
    ));
}
