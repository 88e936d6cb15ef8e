#![allow(dead_code)] // not every test binary that includes this file uses every helper
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

/// A new temporary directory, a directory `gone` made in it (for a test to remove under
/// an open store), and the path `file` in `gone`.
pub fn file_in_a_subdir(file: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone");
    std::fs::create_dir(&gone).unwrap();
    let path = gone.join(file);
    (dir, gone, path)
}
