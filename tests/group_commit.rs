//! Group commit under real failing syncs: four threads make durable (`OnEveryWrite`) puts
//! on one store, in a child process (this test binary, re-run filtered to the one test
//! below) under `strace -f -e inject=fdatasync:error=EIO:when=N` (strace counts each
//! thread's calls on its own, so the Nth `fdatasync` of every thread fails, whichever
//! puts its sync covers), for several `N`, then once more with the failure persisting
//! (`when=N+`). The parent opens the files afresh and checks each put's outcome against
//! the contract (docs/DECISIONS.md, 6): `Ok`: the value is there; any error other than
//! `NotDurable`: it is not; `NotDurable`: either. A control run without injection has
//! every put `Ok`, and the sweep must see failed puts (the fault bites). Needs `strace`
//! (`.ci/run` installs it); without it the test fails, it does not skip.
#![cfg(target_os = "linux")]
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::{Command, Stdio};

use microkv::{AutoSave, Config, Credential, Error, MicroKV};

#[path = "support/rerun.rs"]
mod rerun;

const TEST: &str = "durable_puts_from_threads_keep_the_contract_under_failing_syncs";
const CHILD_DIR: &str = "MICROKV_GROUP_COMMIT_CHILD_DIR";
const THREADS: usize = 4;
const PUTS: usize = 12;

fn config() -> Config {
    Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    }
}

fn key_of(t: usize, i: usize) -> String {
    format!("t{t}-{i}")
}

/// The child: creates the store, runs the puts from `THREADS` threads, and reports one
/// line per put, `key ok|nd|err`, in `dir/report` (written once, after every put).
fn child(dir: &Path) -> ! {
    let path = dir.join("store.kv");
    let db = match MicroKV::create_new_with(&path, Credential::key([7; 32]), config()) {
        Ok(db) => db,
        Err(_) => {
            std::fs::write(dir.join("report"), "").unwrap();
            std::process::exit(0);
        }
    };
    let lines: Vec<String> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let db = &db;
                s.spawn(move || {
                    (0..PUTS)
                        .map(|i| {
                            let key = key_of(t, i);
                            let word = match db.put(&key, &i) {
                                Ok(()) => "ok",
                                Err(Error::NotDurable(_)) => "nd",
                                Err(_) => "err",
                            };
                            format!("{key} {word}\n")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    std::fs::write(dir.join("report"), lines.concat()).unwrap();
    std::process::exit(0);
}

/// Runs the child in `dir` (under strace with `inject`, if any); returns how many puts
/// were `Ok`, `NotDurable` and other errors, after checking each against the files.
fn run(dir: &Path, inject: Option<&str>) -> [usize; 3] {
    std::fs::create_dir(dir).unwrap();
    let mut command = match inject {
        Some(inject) => {
            let mut strace = Command::new("strace");
            strace
                .args([
                    "-f",
                    "-qq",
                    "-o",
                    "/dev/null",
                    "-e",
                    "trace=fdatasync",
                    "-e",
                ])
                .arg(format!("inject={inject}"))
                .arg(std::env::current_exe().unwrap())
                .args(rerun::self_args(TEST));
            strace
        }
        None => rerun::self_command(TEST),
    };
    let status = command
        .env(CHILD_DIR, dir)
        .stdout(Stdio::null())
        .status()
        .expect("strace (apt-get install strace)");
    assert!(
        status.success(),
        "{inject:?}: the child exited with {status}"
    );
    let report = std::fs::read_to_string(dir.join("report")).unwrap();
    let mut counts = [0; 3];
    if report.is_empty() {
        return counts; // the create failed: no put ran
    }
    let db = MicroKV::open_existing_with(dir.join("store.kv"), Credential::key([7; 32]), config())
        .unwrap_or_else(|e| panic!("{inject:?}: the store does not open: {e}"));
    for line in report.lines() {
        let (key, word) = line.split_once(' ').unwrap();
        let i: usize = key.split_once('-').unwrap().1.parse().unwrap();
        let there = db.get::<usize>(key).unwrap();
        match word {
            "ok" => {
                assert_eq!(there, Some(i), "{inject:?}: {key} returned Ok and is lost");
                counts[0] += 1;
            }
            "nd" => counts[1] += 1,
            _ => {
                assert_eq!(there, None, "{inject:?}: {key} returned Err and is there");
                counts[2] += 1;
            }
        }
    }
    assert_eq!(counts.iter().sum::<usize>(), THREADS * PUTS);
    counts
}

#[test]
fn durable_puts_from_threads_keep_the_contract_under_failing_syncs() {
    rerun::be_the_child(CHILD_DIR, child);
    let root = tempfile::tempdir().unwrap();
    let control = run(&root.path().join("control"), None);
    assert_eq!(
        control,
        [THREADS * PUTS, 0, 0],
        "without faults every put is Ok"
    );
    let mut failed = 0;
    for (n, when) in ["2", "3", "5", "8", "3+"].iter().enumerate() {
        let counts = run(
            &root.path().join(format!("run{n}")),
            Some(&format!("fdatasync:error=EIO:when={when}")),
        );
        println!(
            "when={when}: ok {} not durable {} err {}",
            counts[0], counts[1], counts[2]
        );
        failed += counts[1] + counts[2];
    }
    assert!(
        failed > 0,
        "no injected sync failed a put: the sweep tests nothing"
    );
}
