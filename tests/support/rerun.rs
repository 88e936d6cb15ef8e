#![allow(dead_code)] // not every test binary that includes this file uses every helper
//! Re-running this test binary as a second process (shared with `#[path =
//! "support/rerun.rs"] mod rerun;`): the child runs one test, told what to do through
//! environment variables, and reports through its exit code (and, for [`spawn_self`]
//! with a piped output, lines on its standard output).

use std::ffi::OsStr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// In a child that a parent started with `var` set to a path: runs `child` on that path
/// (it never returns). In the parent, `var` is not set: returns at once.
pub fn be_the_child(var: &str, child: fn(&std::path::Path) -> !) {
    if let Some(path) = std::env::var_os(var) {
        child(std::path::Path::new(&path));
    }
}

/// The arguments that filter this test binary to the one test `test`, run alone with its
/// output shown (for a wrapper such as strace, which takes the binary and these).
pub fn self_args(test: &str) -> [&str; 5] {
    [
        test,
        "--exact",
        "--nocapture",
        "--quiet",
        "--test-threads=1",
    ]
}

/// This binary filtered to the one test `test` ([`self_args`]), to add environment
/// variables and pipes to.
pub fn self_command(test: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(self_args(test));
    command
}

/// Runs this binary filtered to the one test `test`, with `env` set, and waits for it, at
/// most 10 s (a hung child is killed: a failure).
pub fn rerun_self<K: AsRef<OsStr>, V: AsRef<OsStr>>(test: &str, env: &[(K, V)]) -> ExitStatus {
    let mut child = spawn_self(test, env, false);
    wait_within(&mut child, Duration::from_secs(10), test)
}

/// Starts this binary filtered to the one test `test`, with `env` set, without waiting
/// (several children run at once). With `piped`, its standard output is a pipe the
/// caller reads.
pub fn spawn_self<K: AsRef<OsStr>, V: AsRef<OsStr>>(
    test: &str,
    env: &[(K, V)],
    piped: bool,
) -> Child {
    let mut command = self_command(test);
    for (key, value) in env {
        command.env(key, value);
    }
    if piped {
        command.stdout(Stdio::piped());
    }
    // Wine's process creation fails now and then under load with ERROR_INTERNAL_ERROR
    // (1359; CI's Wine stage saw it in tests/shared_processes.rs): the child never ran, so
    // starting it again is the same test. Real Windows does not fail so; any other error
    // is the test's.
    const ERROR_INTERNAL_ERROR: i32 = 1359;
    let mut tries = 0;
    loop {
        match command.spawn() {
            Err(e)
                if cfg!(windows) && e.raw_os_error() == Some(ERROR_INTERNAL_ERROR) && tries < 5 =>
            {
                tries += 1;
                eprintln!("spawning {test} failed with {e}; again ({tries} of 5)");
                std::thread::sleep(Duration::from_millis(100 * tries));
            }
            spawned => return spawned.unwrap(),
        }
    }
}

/// Waits for `child` at most `within`; a child still running then is killed, and the
/// test fails (`what` names it).
pub fn wait_within(child: &mut Child, within: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the child running {what} hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
