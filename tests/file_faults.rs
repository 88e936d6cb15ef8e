//! What the store's files meet from outside its own code, with real faults and real
//! processes: a directory sync that fails while a store is created (strace's fault
//! injection), processes creating one store at the same instant, an owner's store file
//! replaced by another program, and a process out of file descriptors. Each checks what a
//! fresh process finds against the contract: `Ok` is applied and durable, `Err` is not
//! applied, `NotDurable` is applied with its durability unknown (docs/DECISIONS.md, 6).
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

#[path = "support/rerun.rs"]
mod rerun;
#[path = "support/strace.rs"]
mod strace;
use rerun::{spawn_self, wait_within};

use microkv::{AutoSave, Config, Credential, Error, LockMode, MicroKV};

const KEY: [u8; 32] = [0x3c; 32];
const DIR: &str = "MICROKV_FILE_FAULTS_DIR";
const ID: &str = "MICROKV_FILE_FAULTS_ID";

fn writer(lock_mode: LockMode) -> Config {
    Config {
        autosave: AutoSave::OnEveryWrite,
        lock_mode,
        ..Default::default()
    }
}

fn read_only() -> Config {
    Config {
        read_only: true,
        ..Default::default()
    }
}

/// The directory a child was told to work in, when this process is one.
fn child_dir() -> Option<PathBuf> {
    std::env::var_os(DIR).map(PathBuf::from)
}

/// A result as one word, for a child's report.
fn word<T>(result: &microkv::Result<T>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(Error::NotDurable(_)) => "notdurable".into(),
        Err(Error::AlreadyExists) => "alreadyexists".into(),
        Err(Error::Locked) => "locked".into(),
        Err(e) => format!("err({e})"),
    }
}

/// The child of [`a_create_whose_directory_sync_fails_is_undone_or_kept`]: creates the
/// store, reports the result, and if it was not `Ok` retries once and reports that.
fn create_and_retry(dir: &Path) -> ! {
    let path = dir.join("store.kv");
    let first = MicroKV::create_new(&path, Credential::key(KEY)).map(drop);
    println!("REPORT first {}", word(&first));
    if first.is_err() {
        let retry = MicroKV::create_new(&path, Credential::key(KEY)).map(drop);
        println!("REPORT retry {}", word(&retry));
    }
    std::process::exit(0)
}

/// Every `fsync` of a `create_new` that touches the store's directory (the temporary
/// file's, and the directory's own after the link) fails in turn, once and then for
/// good. A failure of the directory's sync used to return `NotDurable` with no handle
/// while the new file stayed, so a retried `create_new` got `AlreadyExists` (and a
/// fresh process found a store the caller was told was not made durably). Now a create
/// that does not return a handle leaves no store file behind: a retry creates it. With
/// the failure persisting, every attempt fails and nothing is left either.
#[test]
fn a_create_whose_directory_sync_fails_is_undone_or_kept() {
    const TEST: &str = "a_create_whose_directory_sync_fails_is_undone_or_kept";
    if let Some(dir) = child_dir() {
        create_and_retry(&dir);
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("d");
    let env = [(DIR, dir.as_os_str())];
    let fresh = || {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
    };
    fresh();
    let recorded = strace::record(TEST, &env, "fsync", &root.path().join("record.log"));
    assert!(recorded.status.success(), "{}", recorded.stdout);
    let in_dir = format!("<{}", dir.display());
    let syncs: Vec<_> = recorded
        .calls("fsync")
        .into_iter()
        .filter(|c| c.line.contains(&in_dir))
        .collect();
    let dir_syncs = syncs
        .iter()
        .filter(|c| c.line.contains(&format!("{in_dir}>)")))
        .count();
    assert!(dir_syncs >= 1, "no directory sync recorded: {syncs:?}");
    let mut undone = 0;
    for call in &syncs {
        for persist in [false, true] {
            fresh();
            let what = format!("{} (persisting: {persist})", call.line);
            let run = strace::inject(
                TEST,
                &env,
                "fsync",
                call,
                persist,
                &root.path().join("inject.log"),
            );
            assert!(run.status.success(), "{what}: {}", run.stdout);
            assert!(run.injected(), "{what}: nothing injected");
            let first: Vec<&str> = strace::reports(&run.stdout, "REPORT first ").collect();
            let retry: Vec<&str> = strace::reports(&run.stdout, "REPORT retry ").collect();
            assert_eq!(first.len(), 1, "{what}: {}", run.stdout);
            assert_ne!(first[0], "ok", "{what}: the fault did not bite");
            let path = dir.join("store.kv");
            let found = MicroKV::open_existing_with(&path, Credential::key(KEY), read_only());
            if persist {
                // Every directory sync fails: no attempt can succeed, none may leave a
                // store its caller was told was not made.
                assert_eq!(retry.len(), 1, "{what}");
                assert!(
                    retry[0] != "ok" && retry[0] != "alreadyexists",
                    "{what}: retry {retry:?}"
                );
                assert!(matches!(found, Err(Error::NotFound)), "{what}: {found:?}");
            } else {
                assert_eq!(retry, ["ok"], "{what}: the retry of the create");
                assert!(found.unwrap().is_empty().unwrap(), "{what}");
                undone += 1;
            }
        }
    }
    assert!(undone >= 2, "{undone} one-time faults checked");
}

/// How many processes race to create one store, and how many times.
const RACERS: u32 = 3;
const ROUNDS: u32 = 12;

/// A racer: waits for `dir/go`, then opens (or, with id ≥ 100, `create_new`s) the store
/// under a key of its own (create) or the shared one (open), writes its key, and prints
/// how it went.
fn race(dir: &Path, id: u32) -> ! {
    let go = dir.join("go");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !go.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    let path = dir.join("store.kv");
    let opened = if id >= 100 {
        MicroKV::create_new_with(
            &path,
            Credential::key([id as u8; 32]),
            writer(LockMode::Shared),
        )
    } else {
        MicroKV::open_with(&path, Credential::key(KEY), writer(LockMode::Shared))
    };
    println!("REPORT open {}", word(&opened));
    if let Ok(db) = opened {
        let put = db.put(&format!("w{id}"), &id);
        println!("REPORT put {}", word(&put));
    }
    std::process::exit(0)
}

/// Spawns `ids` as racers in `dir`, starts them at one instant and returns each one's
/// report lines.
fn run_racers(test: &str, dir: &Path, ids: &[u32]) -> Vec<Vec<String>> {
    let mut children: Vec<(u32, Child)> = ids
        .iter()
        .map(|&id| {
            let id_text = id.to_string();
            let env = [(DIR, dir.as_os_str()), (ID, id_text.as_ref())];
            (id, spawn_self(test, &env, true))
        })
        .collect();
    // Let each child reach its wait.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(dir.join("go"), b"").unwrap();
    children
        .iter_mut()
        .map(|(id, child)| {
            let mut out = String::new();
            std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
            let status = wait_within(child, Duration::from_secs(60), "a racer");
            assert!(status.success(), "racer {id}: {status:?}");
            strace::reports(&out, "REPORT ")
                .map(str::to_string)
                .collect()
        })
        .collect()
}

/// Processes opening (`open`: create if missing) one store that does not exist yet, at
/// the same instant: one creates it, the others open the store it created, and every
/// racer's write is there. They used to race to link their own new file in, and the
/// losers' `open` failed with `AlreadyExists`. With `create_new`, exactly one racer
/// succeeds, each other gets `AlreadyExists`, and the store is the winner's, whole.
#[test]
fn processes_creating_one_store_at_once_lose_nothing() {
    const TEST: &str = "processes_creating_one_store_at_once_lose_nothing";
    if let (Some(dir), Ok(id)) = (child_dir(), std::env::var(ID)) {
        race(&dir, id.parse().unwrap());
    }
    let root = tempfile::tempdir().unwrap();
    for round in 0..ROUNDS {
        // open or create, same key
        let dir = root.path().join(format!("open-{round}"));
        std::fs::create_dir(&dir).unwrap();
        let ids: Vec<u32> = (0..RACERS).collect();
        let reports = run_racers(TEST, &dir, &ids);
        for (id, report) in ids.iter().zip(&reports) {
            assert_eq!(report, &["open ok", "put ok"], "round {round}, racer {id}");
        }
        let db =
            MicroKV::open_with(dir.join("store.kv"), Credential::key(KEY), read_only()).unwrap();
        for id in &ids {
            assert_eq!(
                db.get::<u32>(&format!("w{id}")).unwrap(),
                Some(*id),
                "{round}"
            );
        }

        // create_new, a key each
        let dir = root.path().join(format!("new-{round}"));
        std::fs::create_dir(&dir).unwrap();
        let ids: Vec<u32> = (100..100 + RACERS).collect();
        let reports = run_racers(TEST, &dir, &ids);
        let winners: Vec<u32> = ids
            .iter()
            .zip(&reports)
            .filter(|(_, r)| r.first().map(String::as_str) == Some("open ok"))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {reports:?}");
        for (id, report) in ids.iter().zip(&reports) {
            if *id != winners[0] {
                assert_eq!(report, &["open alreadyexists"], "round {round}, racer {id}");
            }
        }
        let winner = winners[0];
        let path = dir.join("store.kv");
        let db =
            MicroKV::open_with(&path, Credential::key([winner as u8; 32]), read_only()).unwrap();
        assert_eq!(db.len().unwrap(), 1, "round {round}");
        assert_eq!(db.get::<u32>(&format!("w{winner}")).unwrap(), Some(winner));
    }
}

/// `dst` replaced by a copy of `src` the way another program replaces a file: written
/// beside it and renamed over it.
fn rename_copy_over(src: &[u8], dst: &Path) {
    let tmp = dst.with_extension("other");
    std::fs::write(&tmp, src).unwrap();
    std::fs::rename(&tmp, dst).unwrap();
}

/// An `Exclusive` owner's store file replaced by another program (a different file
/// renamed over its path; here an older copy of the same store, so its keys match): the
/// owner's next write (a manual save, a journaled write, a write large enough to save a
/// snapshot) is `UnexpectedFile`, with nothing acknowledged and the other program's file
/// left as it was. Told once, the owner's next write saves what it holds over that file.
/// A save used to rename a new snapshot over it without a word.
#[test]
fn an_owners_store_file_replaced_by_another_is_detected() {
    let big = "x".repeat(200 << 10);
    for (autosave, value) in [
        (AutoSave::Manual, "small"),
        (AutoSave::OnEveryWrite, "small"),
        (AutoSave::OnEveryWrite, big.as_str()),
    ] {
        let what = format!("{autosave:?}, {} bytes", value.len());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.kv");
        let config = Config {
            autosave,
            lock_mode: LockMode::Exclusive,
            ..Default::default()
        };
        let db = MicroKV::open_with(&path, Credential::key(KEY), config).unwrap();
        db.put("k", &"one").unwrap();
        db.save().unwrap();
        let older = std::fs::read(&path).unwrap();
        db.put("k", &"two").unwrap();
        db.save().unwrap();
        rename_copy_over(&older, &path);
        let first = match autosave {
            AutoSave::Manual => {
                db.put("k", &value).unwrap();
                db.save()
            }
            _ => db.put("k", &value),
        };
        assert!(
            matches!(first, Err(Error::UnexpectedFile(_))),
            "{what}: {first:?}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            older,
            "{what}: the other file"
        );
        let fresh = MicroKV::open_with(&path, Credential::key(KEY), read_only()).unwrap();
        assert_eq!(
            fresh.get::<String>("k").unwrap().as_deref(),
            Some("one"),
            "{what}"
        );
        // Told, the owner writes again: what it holds replaces the other file.
        db.put("k", &value).unwrap();
        db.save().unwrap();
        drop(db);
        let fresh = MicroKV::open_with(&path, Credential::key(KEY), read_only()).unwrap();
        assert_eq!(
            fresh.get::<String>("k").unwrap().as_deref(),
            Some(value),
            "{what}"
        );
    }
}

/// The child of [`a_journal_that_cannot_open_for_lack_of_descriptors_resumes`]: with
/// the soft `RLIMIT_NOFILE` at `spare` descriptors above those open, writes (each
/// reported), then with the limit restored, writes again.
fn starve(dir: &Path, spare: u64) -> ! {
    let path = dir.join("store.kv");
    let db = MicroKV::open_with(&path, Credential::key(KEY), writer(LockMode::Exclusive)).unwrap();
    db.put("before", &0u32).unwrap();
    let journal_len = || std::fs::metadata(dir.join("store.kv.journal")).map_or(0, |m| m.len());
    let soft = nofile(None);
    nofile(Some(limit_leaving(spare)));
    for i in 0..4 {
        let put = db.put(&format!("starved{i}"), &i);
        println!("REPORT starved{i} {}", word(&put));
    }
    nofile(Some(soft));
    for i in 0..4 {
        let before = journal_len();
        let put = db.put(&format!("after{i}"), &i);
        println!("REPORT after{i} {}", word(&put));
        println!("REPORT grew{i} {}", journal_len() > before);
    }
    std::process::exit(0)
}

/// A soft `RLIMIT_NOFILE` under which `spare` more descriptors can be opened: the
/// number of the free descriptor after that many free ones (the kernel hands out the
/// lowest free number, and none at or above the limit).
fn limit_leaving(spare: u64) -> u64 {
    let listing = std::fs::read_dir("/proc/self/fd").unwrap();
    let open: Vec<u64> = listing
        .map(|e| e.unwrap().path())
        // Not the descriptor of this listing, which closes after it.
        .filter(|p| std::fs::read_link(p).is_ok_and(|to| !to.starts_with("/proc")))
        .map(|p| p.file_name().unwrap().to_str().unwrap().parse().unwrap())
        .collect();
    (0..)
        .filter(|n| !open.contains(n))
        .nth(spare as usize)
        .unwrap()
}

/// The soft `RLIMIT_NOFILE` before `set` sets it (below the hard one, which stays).
fn nofile(set: Option<u64>) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    let soft = limit.rlim_cur;
    if let Some(cur) = set {
        limit.rlim_cur = cur;
        // SAFETY: setrlimit reads the struct we pass; the soft limit stays at most the
        // hard one.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    }
    soft
}

/// A process out of descriptors (a tiny soft `RLIMIT_NOFILE`, set in a child, with 0 to
/// 3 to spare): its writes fail with typed errors or succeed, and once descriptors are
/// back the journal resumes: each later write grows it (no snapshot each time), and a
/// fresh process finds every acknowledged write and none that returned `Err`.
#[test]
fn a_journal_that_cannot_open_for_lack_of_descriptors_resumes() {
    const TEST: &str = "a_journal_that_cannot_open_for_lack_of_descriptors_resumes";
    if let (Some(dir), Ok(spare)) = (child_dir(), std::env::var(ID)) {
        starve(&dir, spare.parse().unwrap());
    }
    let mut starved_errors = 0;
    for spare in 0..4u32 {
        let root = tempfile::tempdir().unwrap();
        let spare_text = spare.to_string();
        let env = [(DIR, root.path().as_os_str()), (ID, spare_text.as_ref())];
        let mut child = spawn_self(TEST, &env, true);
        let mut out = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
        let status = wait_within(&mut child, Duration::from_secs(60), TEST);
        assert!(status.success(), "spare {spare}: {status:?}\n{out}");
        let reports: Vec<(String, String)> = strace::reports(&out, "REPORT ")
            .map(|l| {
                let (k, v) = l.split_once(' ').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        let db = MicroKV::open_with(
            root.path().join("store.kv"),
            Credential::key(KEY),
            read_only(),
        )
        .unwrap();
        assert_eq!(db.get::<u32>("before").unwrap(), Some(0));
        let mut grew = 0;
        for (key, outcome) in &reports {
            if key.starts_with("grew") {
                grew += usize::from(outcome == "true");
                continue;
            }
            let found = db.get::<u32>(key).unwrap();
            match outcome.as_str() {
                "ok" => assert!(found.is_some(), "spare {spare}: {key} lost"),
                "notdurable" => {}
                _ => {
                    starved_errors += 1;
                    assert!(found.is_none(), "spare {spare}: {key} returned {outcome}");
                }
            }
        }
        for i in 0..4 {
            let after = format!("after{i}");
            let outcome = &reports.iter().find(|(k, _)| *k == after).unwrap().1;
            assert_eq!(outcome, "ok", "spare {spare}: {after}");
        }
        // The first write with descriptors back may save a snapshot; the journal takes
        // every write after it.
        assert!(
            grew >= 3,
            "spare {spare}: the journal grew at {grew} of 4 writes\n{out}"
        );
    }
    assert!(
        starved_errors > 0,
        "no write was refused for lack of descriptors"
    );
}
