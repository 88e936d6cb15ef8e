//! The process's peak resident memory, for tests that show a refusal did no work by
//! what it did not allocate (shared with `#[path = "support/rss.rs"] mod rss;`).

/// Peak resident memory of this process so far (`VmHWM`), in KiB, on Linux. `None`
/// elsewhere: under Wine, `/proc/self` is some host process's, not this one's (a 128 MiB
/// KDF moved it by 0), so the checks on it run on Linux only.
pub fn peak_kib() -> Option<i64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    Some(line.split_whitespace().nth(1).unwrap().parse().unwrap())
}

/// How much the peak grew since `before` (`None` where it cannot be read).
pub fn grew_since(before: Option<i64>) -> Option<i64> {
    Some(peak_kib()? - before?)
}
