#![allow(dead_code)] // not every test binary that includes this file uses every helper
//! A saved store in a fresh temporary directory, for tests that then look at it from
//! outside: another process, the OS (shared with `#[path = "support/store.rs"] mod
//! store;`).
use std::path::PathBuf;

use microkv::{Config, Credential, MicroKV};

/// Opens a new store `store.kv` in a fresh temporary directory with `key` and `config`,
/// puts `first` -> 1 (a `u32`) and saves it. Returns the directory (removed when dropped),
/// the store's path and the open handle.
pub fn saved_store(
    key: [u8; 32],
    config: Config,
    first: &str,
) -> (tempfile::TempDir, PathBuf, MicroKV) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.kv");
    let db = MicroKV::open_with(&path, Credential::key(key), config).unwrap();
    db.put(first, &1u32).unwrap();
    db.save().unwrap();
    (dir, path, db)
}
