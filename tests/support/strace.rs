#![allow(dead_code)] // not every test binary that includes this file uses every helper
//! Real OS faults for one test of this binary (shared with `#[path =
//! "support/strace.rs"] mod strace;`): the test re-runs itself as a child under
//! `strace -f -y`, once to record which system calls it makes ([`record`]) and once with
//! `error=EIO` injected into one of them ([`inject`]). The child must make the same calls
//! in both runs (same directory, same scenario), so the position found in the record is
//! the call that fails. strace counts each thread's calls on its own: a position is the
//! call's rank among its thread's calls of that system call. Needs `strace` (`.ci/run`
//! installs it); without it these helpers panic: the test fails, it does not skip.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// One traced call: its line's index in the log, the thread that made it, its rank among
/// that thread's calls of the same system call (1-based, strace's `when=`), and strace's
/// line for it (with `-y`, each descriptor shows the path it refers to:
/// `fsync(3</tmp/d/store.kv>) = 0`).
#[derive(Clone, Debug)]
pub struct Call {
    pub index: usize,
    pub pid: u32,
    pub rank: usize,
    pub line: String,
}

/// What [`mark`] writes to `/dev/null`, for a record to tell where a scenario's step
/// begins (trace `write` to see it).
pub const MARK: &str = "microkv-strace-mark";

/// Writes [`MARK`] to `/dev/null`: the calls after it in a record are the step's.
pub fn mark() {
    use std::io::Write;
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    null.write_all(MARK.as_bytes()).unwrap();
}

/// What a traced child left: its exit status, its standard output and strace's log.
pub struct Traced {
    pub status: ExitStatus,
    pub stdout: String,
    pub log: String,
}

impl Traced {
    /// The calls of `syscall` in the log, in order.
    pub fn calls(&self, syscall: &str) -> Vec<Call> {
        let mut ranks = std::collections::BTreeMap::<u32, usize>::new();
        let start = format!("{syscall}(");
        let mut calls = Vec::new();
        for (index, line) in self.log.lines().enumerate() {
            let Some((pid, rest)) = line.split_once(' ') else {
                continue;
            };
            let Ok(pid) = pid.parse::<u32>() else {
                continue;
            };
            if !rest.trim_start().starts_with(&start) {
                continue;
            }
            let rank = ranks.entry(pid).or_default();
            *rank += 1;
            calls.push(Call {
                index,
                pid,
                rank: *rank,
                line: rest.trim_start().to_string(),
            });
        }
        calls
    }

    /// The index of the log's line of the last [`mark`] (`write` traced).
    pub fn last_mark(&self) -> Option<usize> {
        self.log
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(&format!("\"{MARK}\"")))
            .map(|(i, _)| i)
            .last()
    }

    /// The first call of `syscall` after the last [`mark`] whose line holds `holding`.
    pub fn first_after_mark(&self, syscall: &str, holding: &str) -> Option<Call> {
        let mark = self.last_mark()?;
        self.calls(syscall)
            .into_iter()
            .find(|c| c.index > mark && c.line.contains(holding))
    }

    /// Whether strace injected a fault.
    pub fn injected(&self) -> bool {
        self.log.contains("(INJECTED)")
    }
}

/// Runs the test `test` of this binary under strace, tracing `trace` (system calls,
/// comma-separated) with `extra` strace options, `env` set, and waits for it.
pub fn traced<K: AsRef<OsStr>, V: AsRef<OsStr>>(
    test: &str,
    env: &[(K, V)],
    trace: &str,
    extra: &[&str],
    log: &Path,
) -> Traced {
    let mut command = Command::new("strace");
    command
        .args(["-f", "-qq", "-y", "-o"])
        .arg(log)
        .args(["-e", &format!("trace={trace}")])
        .args(extra)
        .arg(std::env::current_exe().unwrap())
        .args([
            test,
            "--exact",
            "--nocapture",
            "--quiet",
            "--test-threads=1",
        ])
        // cargo's library path makes the loader try many directories first.
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("strace (apt-get install strace)");
    Traced {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        log: std::fs::read_to_string(log).unwrap_or_default(),
    }
}

/// [`traced`] without a fault: the calls the scenario makes.
pub fn record<K: AsRef<OsStr>, V: AsRef<OsStr>>(
    test: &str,
    env: &[(K, V)],
    trace: &str,
    log: &Path,
) -> Traced {
    traced(test, env, trace, &[], log)
}

/// [`traced`] with `syscall` failing with `EIO` at `call` (and, with `persist`, at every
/// later call of that thread too).
pub fn inject<K: AsRef<OsStr>, V: AsRef<OsStr>>(
    test: &str,
    env: &[(K, V)],
    syscall: &str,
    call: &Call,
    persist: bool,
    log: &Path,
) -> Traced {
    let plus = if persist { "+" } else { "" };
    let inject = format!("inject={syscall}:error=EIO:when={}{plus}", call.rank);
    traced(test, env, syscall, &["-e", &inject], log)
}

/// The lines of `stdout` that start with `prefix`, without it.
pub fn reports<'a>(stdout: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    stdout.lines().filter_map(move |l| l.strip_prefix(prefix))
}
