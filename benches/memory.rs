//! Resident bytes per entry (issue 23, item 2), Linux only (it reads `/proc/self/status`).
//! For 10k and 100k entries of 64 B and 10k of 1 KiB (keys `k0000000`..., as in
//! benches/peers): the store's file is built, then a child process opens it and reads
//! every entry once, and reports its peak resident set (`VmHWM`) and its resident set at
//! the end (`VmRSS`), each less its figure just before the open, per entry (what
//! benches/peers' `rss` bin measures beside SQLCipher and redb, without building them);
//! and, in another child, the resident set a store filled in memory by puts adds, per
//! entry. `cargo bench --bench memory`.
use std::path::Path;
use std::process::Command;

use microkv::{Credential, MicroKV};

#[path = "support/workload.rs"]
mod workload;
use workload::{key, value};

const KEY: [u8; 32] = [0x42; 32];
const SIZES: [(usize, usize); 3] = [(10_000, 64), (100_000, 64), (10_000, 1024)];

/// This process's peak and present resident set (`VmHWM`, `VmRSS` of
/// `/proc/self/status`), in bytes.
fn resident() -> (usize, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = |field: &str| -> usize {
        let line = status.lines().find_map(|l| l.strip_prefix(field)).unwrap();
        line.split_whitespace().next().unwrap().parse().unwrap()
    };
    (kib("VmHWM:") * 1024, kib("VmRSS:") * 1024)
}

/// In a child: opens the file at `path` (or fills a store in memory, without one) with
/// `n` entries of `len` bytes, reads each once, prints peak and final bytes per entry.
fn child(n: usize, len: usize, path: Option<&Path>) {
    let keys: Vec<String> = (0..n).map(key).collect();
    let values: Vec<String> = match path {
        Some(_) => Vec::new(),
        None => (0..n).map(|i| value(i, len)).collect(),
    };
    let (peak, before) = resident();
    let db = match path {
        Some(path) => MicroKV::open_existing_with(path, Credential::key(KEY), Default::default()),
        None => MicroKV::in_memory(Credential::key(KEY)),
    }
    .unwrap();
    for (k, v) in keys.iter().zip(&values) {
        db.put(k, v).unwrap();
    }
    for k in &keys {
        assert!(std::hint::black_box(db.get::<String>(k).unwrap()).is_some());
    }
    let per = |a: usize, b: usize| a.saturating_sub(b) as f64 / n as f64;
    let (hwm, rss) = resident();
    println!("{:.0} {:.0}", per(hwm, peak), per(rss, before));
}

/// Runs this bench as a child with `args`; its line of figures as table cells.
fn run(args: &[String]) -> String {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe).arg("child").args(args).output().unwrap();
    if !out.status.success() {
        panic!("child failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().collect::<Vec<_>>().join(" | ")
}

fn main() {
    if !cfg!(target_os = "linux") {
        return println!("benches/memory reads /proc/self/status: Linux only");
    }
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let (n, len) = (args[2].parse().unwrap(), args[3].parse().unwrap());
        return child(n, len, args.get(4).map(Path::new));
    }
    let dir = tempfile::tempdir().unwrap();
    println!("| entries | value | how | peak RSS per entry (B) | RSS per entry after (B) |");
    println!("| --- | --- | --- | --- | --- |");
    for (n, len) in SIZES {
        let path = dir.path().join(format!("s{n}-{len}"));
        let db = MicroKV::create_new_with(&path, Credential::key(KEY), Default::default());
        let db = db.unwrap();
        for i in 0..n {
            db.put(&key(i), &value(i, len)).unwrap();
        }
        db.save().unwrap();
        drop(db);
        let (n_s, len_s) = (n.to_string(), len.to_string());
        let opened = run(&[n_s.clone(), len_s.clone(), path.display().to_string()]);
        println!("| {n} | {len} B | open, read all | {opened} |");
        let filled = run(&[n_s, len_s]);
        println!("| {n} | {len} B | filled in memory | {filled} |");
    }
}
