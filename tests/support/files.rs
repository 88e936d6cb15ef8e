//! What a directory holds, for tests that check a store leaves no stray file (shared with
//! `#[path = "support/files.rs"] mod files;`).
use std::path::Path;

/// The names of the files in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The files in `dir` other than the store `store.kv`, its lock files and its journal,
/// sorted.
#[allow(dead_code)]
pub fn strays(dir: &Path) -> Vec<String> {
    const STORE: [&str; 4] = [
        "store.kv",
        "store.kv.lock",
        "store.kv.wlock",
        "store.kv.journal",
    ];
    listing(dir)
        .into_iter()
        .filter(|n| !STORE.contains(&n.as_str()))
        .collect()
}
