//! Re-running this test binary as a second process (shared with `#[path =
//! "support/rerun.rs"] mod rerun;`): the child runs one test, told what to do through
//! environment variables, and reports through its exit code.

use std::ffi::OsStr;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// Runs this binary filtered to the one test `test`, with `env` set, and waits for it, at
/// most 10 s (a hung child is killed: a failure).
pub fn rerun_self<K: AsRef<OsStr>, V: AsRef<OsStr>>(test: &str, env: &[(K, V)]) -> ExitStatus {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([
        test,
        "--exact",
        "--nocapture",
        "--quiet",
        "--test-threads=1",
    ]);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the child running {test} hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
