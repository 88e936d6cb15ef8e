//! Real OS faults, injected by the kernel's tracer: a scripted scenario (journaled writes,
//! a save, a compaction, `change_password`, `rekey`) runs as a child process (this test
//! binary, re-run filtered to the one test below) under
//! `strace -f -e inject=SYSCALL:error=EIO:when=N` for each file-related system call and
//! every position `N` it reaches, then once more with the failure persisting
//! (`when=N+`). After each run the parent opens the files afresh and checks every
//! result the child reported against the contract (docs/DECISIONS.md, 6):
//! - `Ok`: the write is there (else: lost), the rotation's credential opens the store;
//! - any other error: the write is not there (else: `Err` applied), the old credential
//!   still opens the store;
//! - `NotDurable`: either;
//! - the store opens under one of the credentials the results allow (else: unopenable),
//!   the child never panics, and a handle never reports its own rotation as another
//!   handle's `CredentialChanged`.
//!
//! The child makes `PAD` calls of every swept system call before the scenario, so the
//! positions swept (`PAD + 1` on) fall in the scenario, not in the loader's or the test
//! harness's calls (strace counts each traced thread's calls on its own); a sweep of a
//! call ends at the first position that strace reports nothing injected at. It writes
//! its results with `writev`, a call not swept. Needs `strace` (`.ci/run` installs it);
//! without it the test fails, it does not skip.
//!
//! The counts are printed (`--nocapture`); `MICROKV_OS_FAULTS_ONLY=fsync,write` limits
//! the sweep to some calls.
#![cfg(target_os = "linux")]
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use microkv::{AutoSave, Config, Credential, Error, KdfParams, MicroKV};

#[path = "support/rerun.rs"]
mod rerun;

const TEST: &str = "every_file_syscall_failing_keeps_the_contract";
const CHILD_DIR: &str = "MICROKV_OS_FAULTS_CHILD_DIR";
const ONLY: &str = "MICROKV_OS_FAULTS_ONLY";
/// Set for a child that stops at its first step that does not return `Ok`, so that the
/// parent sees the files as that failure left them (a later write would save a snapshot
/// over them).
const CHILD_STOP: &str = "MICROKV_OS_FAULTS_CHILD_STOP";
/// The system calls failed in turn: every call by which the store reads, writes,
/// syncs, renames, links, truncates, opens or closes a file.
const SYSCALLS: &[&str] = &[
    "openat",
    "close",
    "write",
    "pwrite64",
    "fdatasync",
    "fsync",
    "rename",
    "renameat",
    "renameat2",
    "linkat",
    "unlink",
    "ftruncate",
];
/// Calls of each swept system call the child makes before the scenario.
const PAD: usize = 100;
const PASSWORDS: [&str; 3] = ["p0", "p1", "p2"];

/// One step of the scenario.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Creates the store (`OnEveryWrite`) under `PASSWORDS[0]`.
    Open,
    /// A journaled put of a short value.
    Put(&'static str),
    /// A put of an 8 KiB value (the ninth after the save passes the compaction bound).
    Big(&'static str),
    Remove(&'static str),
    Save,
    /// `change_password` to `PASSWORDS[1]`.
    ChangePassword,
    /// `rekey` to `PASSWORDS[2]`.
    Rekey,
}

const SCENARIO: &[Step] = &[
    Step::Open,
    Step::Put("a"),
    Step::Put("b"),
    Step::Save,
    Step::Put("c"),
    Step::Big("b0"),
    Step::Big("b1"),
    Step::Big("b2"),
    Step::Big("b3"),
    Step::Big("b4"),
    Step::Big("b5"),
    Step::Big("b6"),
    Step::Big("b7"),
    Step::Big("b8"),
    Step::Put("d"),
    Step::ChangePassword,
    Step::Put("e"),
    Step::Remove("a"),
    Step::Rekey,
    Step::Put("f"),
];

fn value(key: &str) -> String {
    let len = if key.starts_with('b') { 8 << 10 } else { 16 };
    format!("{key}:").repeat(len / (key.len() + 1))
}

fn config(read_only: bool) -> Config {
    Config {
        autosave: AutoSave::OnEveryWrite,
        kdf: KdfParams::argon2id(64, 1, 1),
        read_only,
        ..Default::default()
    }
}

/// What a step returned, as the child reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    NotDurable,
    CredentialChanged,
    Err,
}

impl Outcome {
    fn of<T>(result: &microkv::Result<T>) -> Self {
        match result {
            Ok(_) => Outcome::Ok,
            Err(Error::NotDurable(_)) => Outcome::NotDurable,
            Err(Error::CredentialChanged) => Outcome::CredentialChanged,
            Err(_) => Outcome::Err,
        }
    }

    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "ok" => Outcome::Ok,
            "notdurable" => Outcome::NotDurable,
            "credentialchanged" => Outcome::CredentialChanged,
            "err" => Outcome::Err,
            _ => return None,
        })
    }

    fn word(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NotDurable => "notdurable",
            Outcome::CredentialChanged => "credentialchanged",
            Outcome::Err => "err",
        }
    }
}

/// Makes `PAD` calls of every swept system call (their results do not matter).
fn pad() {
    let null = OpenOptions::new().write(true).open("/dev/null").unwrap();
    let missing = Path::new("/proc/self/microkv-os-faults-missing");
    for _ in 0..PAD {
        drop(File::open("/dev/null"));
        let _ = (&null).write(b"x");
        let _ = null.write_at(b"x", 0);
        let _ = null.sync_data();
        let _ = null.sync_all();
        let _ = null.set_len(0);
        let _ = std::fs::rename(missing, missing);
        let _ = std::fs::hard_link(missing, missing);
        let _ = std::fs::remove_file(missing);
    }
}

/// The child: runs the scenario in `dir`, reporting each step's outcome to
/// `dir/../report` with `writev`, then leaves at once.
fn child(dir: &Path) -> ! {
    let report = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.with_extension("report"))
        .unwrap();
    pad();
    let say = |i: usize, outcome: Outcome| {
        let line = format!("{i} {}\n", outcome.word());
        let _ = (&report).write_vectored(&[IoSlice::new(line.as_bytes())]);
    };
    let path = dir.join("store.kv");
    let mut db = None;
    let mut password = PASSWORDS[0];
    for (i, step) in SCENARIO.iter().enumerate() {
        let outcome = match (*step, &db) {
            (Step::Open, _) => {
                let opened =
                    MicroKV::open_with(&path, Credential::password(PASSWORDS[0]), config(false));
                let outcome = Outcome::of(&opened);
                db = opened.ok();
                outcome
            }
            (_, None) => break,
            (Step::Put(key) | Step::Big(key), Some(db)) => Outcome::of(&db.put(key, &value(key))),
            (Step::Remove(key), Some(db)) => Outcome::of(&db.remove(key)),
            (Step::Save, Some(db)) => Outcome::of(&db.save()),
            (Step::ChangePassword, Some(db)) => {
                let result = db.change_password(password, PASSWORDS[1]);
                if matches!(result, Ok(()) | Err(Error::NotDurable(_))) {
                    password = PASSWORDS[1];
                }
                Outcome::of(&result)
            }
            (Step::Rekey, Some(db)) => Outcome::of(&db.rekey(Credential::password(PASSWORDS[2]))),
        };
        say(i, outcome);
        if outcome != Outcome::Ok && std::env::var_os(CHILD_STOP).is_some() {
            break;
        }
    }
    say(SCENARIO.len(), Outcome::Ok);
    std::process::exit(0)
}

/// What the sweep counted.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    runs: usize,
    /// Positions at which the injection hit (some runs only find the end of a sweep).
    injected: usize,
    acknowledged_writes: usize,
    not_durable: usize,
    err_applied: usize,
    lost: usize,
    unopenable: usize,
    panics: usize,
    own_rotation_as_credential_changed: usize,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.runs += o.runs;
        self.injected += o.injected;
        self.acknowledged_writes += o.acknowledged_writes;
        self.not_durable += o.not_durable;
        self.err_applied += o.err_applied;
        self.lost += o.lost;
        self.unopenable += o.unopenable;
        self.panics += o.panics;
        self.own_rotation_as_credential_changed += o.own_rotation_as_credential_changed;
    }

    fn violations(&self) -> usize {
        self.err_applied
            + self.lost
            + self.unopenable
            + self.panics
            + self.own_rotation_as_credential_changed
    }
}

/// Runs the scenario once under `inject` in a fresh directory below `root`, checks it,
/// and returns what it counted, whether strace injected anything, and a description of
/// each violation.
fn run(root: &Path, name: &str, inject: &str, stop: bool) -> (Tally, bool, Vec<String>) {
    let dir = root.join(name);
    std::fs::create_dir(&dir).unwrap();
    let syscall = inject.split(':').next().unwrap();
    let log = dir.with_extension("strace");
    let mut strace = Command::new("strace");
    if stop {
        strace.env(CHILD_STOP, "1");
    }
    let status = strace
        .args(["-f", "-qq", "--seccomp-bpf", "-o"])
        .arg(&log)
        .args(["-e", &format!("trace={syscall}"), "-e"])
        .arg(format!("inject={inject}"))
        .arg(std::env::current_exe().unwrap())
        .args(rerun::self_args(TEST))
        .env(CHILD_DIR, &dir)
        // cargo's library path makes the loader try many directories (one `openat`
        // each) before the scenario: the binary needs none of them.
        .env_remove("LD_LIBRARY_PATH")
        .stdout(Stdio::null())
        .stderr(File::create(dir.with_extension("stderr")).unwrap())
        .status()
        .expect("strace (apt-get install strace)");
    let injected = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("(INJECTED)");
    let report = std::fs::read_to_string(dir.with_extension("report")).unwrap_or_default();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut ended = false;
    for line in report.lines() {
        let (i, word) = line.split_once(' ').unwrap();
        let i: usize = i.parse().unwrap();
        if i < SCENARIO.len() {
            assert_eq!(i, outcomes.len(), "{name}: report {report}");
            outcomes.push(Outcome::parse(word).unwrap());
        } else {
            ended = true;
        }
    }
    let mut tally = Tally {
        runs: 1,
        injected: usize::from(injected),
        ..Tally::default()
    };
    let mut why = Vec::new();
    if !status.success() {
        tally.panics += 1;
        let stderr = std::fs::read_to_string(dir.with_extension("stderr")).unwrap_or_default();
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        why.push(format!("{name}: the child exited with {status}: {last}"));
    }
    check(&dir, &outcomes, ended, &mut tally, &mut why, name);
    let _ = std::fs::remove_dir_all(&dir);
    (tally, injected, why)
}

/// Checks the files in `dir` against the outcomes of the steps the child reported (if
/// it did not report its end, the first unreported step may or may not have happened;
/// the rest never ran).
fn check(
    dir: &Path,
    outcomes: &[Outcome],
    ended: bool,
    tally: &mut Tally,
    why: &mut Vec<String>,
    name: &str,
) {
    // Per key: the values a fresh open may find, and for each value the outcome that
    // named it last.
    let mut keys: BTreeMap<&str, Vec<Option<String>>> = BTreeMap::new();
    let mut errs: BTreeMap<&str, Vec<Option<String>>> = BTreeMap::new();
    let mut passwords = vec![PASSWORDS[0]];
    let mut failed_passwords = Vec::new();
    for (i, step) in SCENARIO.iter().enumerate() {
        let outcome = match outcomes.get(i) {
            Some(o) => Some(*o),
            None if i == outcomes.len() && !ended => None, // in flight when the child died
            None => break,
        };
        if outcome == Some(Outcome::CredentialChanged) {
            tally.own_rotation_as_credential_changed += 1;
            why.push(format!("{name}: step {i} {step:?}: CredentialChanged"));
        }
        if outcome == Some(Outcome::NotDurable) {
            tally.not_durable += 1;
        }
        let change = match *step {
            Step::Open | Step::Save => None,
            Step::Put(key) | Step::Big(key) => Some((key, Some(value(key)))),
            Step::Remove(key) => Some((key, None)),
            Step::ChangePassword | Step::Rekey => {
                let new = if matches!(step, Step::Rekey) {
                    PASSWORDS[2]
                } else {
                    PASSWORDS[1]
                };
                match outcome {
                    Some(Outcome::Ok) => passwords = vec![new],
                    Some(Outcome::Err | Outcome::CredentialChanged) => failed_passwords.push(new),
                    _ => passwords.push(new),
                }
                None
            }
        };
        if let Some((key, new)) = change {
            let possible = keys.entry(key).or_insert_with(|| vec![None]);
            match outcome {
                Some(Outcome::Ok) => {
                    tally.acknowledged_writes += 1;
                    *possible = vec![new];
                }
                Some(Outcome::Err | Outcome::CredentialChanged) => {
                    errs.entry(key).or_default().push(new);
                }
                _ => possible.push(new),
            }
        }
        if outcome.is_none() {
            break;
        }
    }
    // Open afresh under each password.
    let path = dir.join("store.kv");
    let mut opened = None;
    let mut errors = Vec::new();
    for pw in PASSWORDS {
        match MicroKV::open_with(&path, Credential::password(pw), config(true)) {
            Ok(db) => opened = Some((pw, db)),
            Err(Error::WrongPassword) => {}
            // No store: right only if no write that must be there was acknowledged.
            Err(Error::NotFound) if keys.values().all(|p| p.contains(&None)) => return,
            Err(e) => errors.push(format!("{pw}: {e:?}")),
        }
    }
    let Some((pw, db)) = opened else {
        tally.unopenable += 1;
        why.push(format!("{name}: opens under no password: {errors:?}"));
        return;
    };
    if !passwords.contains(&pw) {
        if failed_passwords.contains(&pw) {
            tally.err_applied += 1;
            why.push(format!(
                "{name}: a rotation to {pw} returned Err, but {pw} opens the store"
            ));
        } else {
            tally.lost += 1;
            why.push(format!(
                "{name}: {pw} opens the store, the results allow {passwords:?}"
            ));
        }
    }
    for (key, possible) in &keys {
        let found: Option<String> = db.get(key).unwrap();
        if possible.contains(&found) {
            continue;
        }
        let err_applied = errs.get(key).is_some_and(|e| e.contains(&found));
        if err_applied {
            tally.err_applied += 1;
        } else {
            tally.lost += 1;
        }
        why.push(format!(
            "{name}: {key} is {:?}, the results allow {:?}{}",
            found.as_deref().map(|f| &f[..f.len().min(8)]),
            possible
                .iter()
                .map(|p| p.as_deref().map(|f| &f[..f.len().min(8)]))
                .collect::<Vec<_>>(),
            if err_applied { " (an Err applied)" } else { "" }
        ));
    }
}

#[test]
fn every_file_syscall_failing_keeps_the_contract() {
    rerun::be_the_child(CHILD_DIR, child);
    let only = std::env::var(ONLY).ok();
    let syscalls: Vec<&str> = SYSCALLS
        .iter()
        .copied()
        .filter(|s| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|x| x == *s))
        })
        .collect();
    // (call, failure persists, child stops at its first failure)
    let sweeps: Vec<(&str, bool, bool)> = syscalls
        .iter()
        .flat_map(|s| {
            [
                (*s, false, true),
                (*s, false, false),
                (*s, true, true),
                (*s, true, false),
            ]
        })
        .collect();
    let root = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let Some(&(syscall, persist, stop)) =
                    sweeps.get(next.fetch_add(1, Ordering::Relaxed))
                else {
                    return;
                };
                let mut tally = Tally::default();
                let mut why = Vec::new();
                for n in PAD + 1.. {
                    let plus = if persist { "+" } else { "" };
                    let inject = format!("{syscall}:error=EIO:when={n}{plus}");
                    let then = if stop { "-stop" } else { "" };
                    let name = format!("{syscall}-{n}{plus}{then}");
                    let (t, injected, w) = run(root.path(), &name, &inject, stop);
                    tally.add(&t);
                    why.extend(w);
                    if !injected {
                        break;
                    }
                }
                results
                    .lock()
                    .unwrap()
                    .insert((syscall, persist, stop), (tally, why));
            });
        }
    });
    let results = results.into_inner().unwrap();
    let mut total = Tally::default();
    let mut why = Vec::new();
    for ((syscall, persist, stop), (tally, w)) in &results {
        let plus = if *persist { "N+" } else { "N" };
        let then = if *stop { "stops" } else { "goes on" };
        eprintln!("{syscall:>10} when={plus:<2} {then:<7} {tally:?}");
        total.add(tally);
        why.extend(w.iter().cloned());
    }
    eprintln!("total: {total:?}");
    for w in why.iter().take(40) {
        eprintln!("  {w}");
    }
    assert!(total.injected > 0, "strace injected nothing");
    assert_eq!(total.violations(), 0, "{total:?}");
}
