//! Memory per entry (issue 23): for 10k and 100k entries of 64 bytes, each store's file is
//! built, then opened in a child process of its own that reads every entry once. The
//! child reports its peak resident set (`VmHWM`) and its resident set at the end
//! (`VmRSS`), each less its figure just before the open, per entry. Prints Markdown.
//! `cargo run --release --bin rss` in benches/peers.
use microkv_peers::file_peers::*;
use microkv_peers::{key, value, Ours, V03};
use std::path::Path;
use std::process::Command;

/// A field of `/proc/self/status`, in bytes.
fn status(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: usize = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

/// In the child: opens the store at `path` and reads its `n` entries; prints the peak and
/// the final resident bytes per entry.
fn child<S: FileStore>(path: &Path, n: usize) {
    let keys: Vec<String> = (0..n).map(key).collect();
    let (peak, resident) = (status("VmHWM:"), status("VmRSS:"));
    let store = S::open(path);
    for k in &keys {
        assert!(std::hint::black_box(store.get(k)).is_some());
    }
    let per = |after: usize, before: usize| after.saturating_sub(before) as f64 / n as f64;
    println!(
        "{:.0} {:.0}",
        per(status("VmHWM:"), peak),
        per(status("VmRSS:"), resident)
    );
    drop(store);
}

/// In the parent: builds the store's file, runs the child on it, removes the file.
fn measure<S: FileStore>(dir: &Path, n: usize) -> String {
    let path = dir.join(format!("{}-{n}", S::NAME.replace(' ', "")));
    remove::<S>(&path);
    let keys: Vec<String> = (0..n).map(key).collect();
    let values: Vec<String> = (0..n).map(|i| value(i, 64)).collect();
    S::build(&path, &keys, &values);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([S::NAME, &n.to_string(), path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    remove::<S>(&path);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 {
        let (n, path) = (args[2].parse().unwrap(), Path::new(&args[3]));
        return match args[1].as_str() {
            Ours::NAME => child::<Ours>(path, n),
            V03::NAME => child::<V03>(path, n),
            SqlCipher::NAME => child::<SqlCipher>(path, n),
            RedbAead::NAME => child::<RedbAead>(path, n),
            other => panic!("unknown store {other}"),
        };
    }
    let dir = std::env::temp_dir().join(format!("microkv-rss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("| entries | store | peak RSS per entry (B) | RSS per entry after (B) |");
    println!("| --- | --- | --- | --- |");
    for n in [10_000, 100_000] {
        let rows = [
            (Ours::NAME, measure::<Ours>(&dir, n)),
            (V03::NAME, measure::<V03>(&dir, n)),
            (SqlCipher::NAME, measure::<SqlCipher>(&dir, n)),
            (RedbAead::NAME, measure::<RedbAead>(&dir, n)),
        ];
        for (name, figures) in rows {
            let (peak, after) = figures.split_once(' ').unwrap();
            println!("| {n} | {name} | {peak} | {after} |");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
