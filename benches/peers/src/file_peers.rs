//! The stores a Rust developer would use instead to keep secrets encrypted at rest (issue
//! 23), behind one trait with ours and 0.3.0: SQLCipher through rusqlite (raw key, WAL,
//! `synchronous=FULL`) and redb with every value sealed by the caller with
//! XChaCha20-Poly1305 (AAD = the key name, a random nonce per value).
use crate::{Aead, RustCrypto, KEY};
use std::path::{Path, PathBuf};

/// A store kept in a file: built once, then opened, read and written durably.
pub trait FileStore: Sized {
    /// The name in tables.
    const NAME: &'static str;
    /// Creates the store at `path` holding `keys[i] -> values[i]`, on disk when it returns.
    fn build(path: &Path, keys: &[String], values: &[String]);
    /// Opens the store at `path`; every put is durable (synced) before it returns.
    fn open(path: &Path) -> Self;
    /// The value under `key`.
    fn get(&self, key: &str) -> Option<String>;
    /// Puts `value` under `key`, durable before it returns.
    fn put(&self, key: &str, value: &str);
    /// Every file the store keeps at `path` (for removal and for its size on disk).
    fn files(path: &Path) -> Vec<PathBuf>;
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The bytes on disk of the store at `path`.
pub fn file_bytes<S: FileStore>(path: &Path) -> u64 {
    S::files(path)
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// Removes every file of the store at `path`.
pub fn remove<S: FileStore>(path: &Path) {
    for f in S::files(path) {
        let _ = std::fs::remove_file(f);
    }
}

/// SQLCipher (rusqlite's bundled build): a raw 256-bit key, WAL, `synchronous=FULL`, one
/// table of text keys and text values; every put is its own transaction.
pub struct SqlCipher(rusqlite::Connection);

impl SqlCipher {
    fn connect(path: &Path) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(path).unwrap();
        let hex: String = KEY.iter().map(|b| format!("{b:02x}")).collect();
        // x'..' of 64 hex digits: the key itself, no PBKDF2.
        conn.execute_batch(&format!(
            "PRAGMA key = \"x'{hex}'\"; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
        ))
        .unwrap();
        conn
    }
}

impl FileStore for SqlCipher {
    const NAME: &'static str = "SQLCipher";
    fn build(path: &Path, keys: &[String], values: &[String]) {
        let mut conn = Self::connect(path);
        conn.execute_batch("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            .unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut insert = tx.prepare("INSERT INTO kv (k, v) VALUES (?1, ?2)").unwrap();
            for (k, v) in keys.iter().zip(values) {
                insert.execute((k, v)).unwrap();
            }
        }
        tx.commit().unwrap();
        // Everything into the main file, as a store at rest would be.
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
    }
    fn open(path: &Path) -> Self {
        SqlCipher(Self::connect(path))
    }
    fn get(&self, key: &str) -> Option<String> {
        let mut select = self
            .0
            .prepare_cached("SELECT v FROM kv WHERE k = ?1")
            .unwrap();
        let mut rows = select.query([key]).unwrap();
        rows.next().unwrap().map(|row| row.get(0).unwrap())
    }
    fn put(&self, key: &str, value: &str) {
        self.0
            .prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")
            .unwrap()
            .execute((key, value))
            .unwrap();
    }
    fn files(path: &Path) -> Vec<PathBuf> {
        ["", "-wal", "-shm", "-journal"]
            .iter()
            .map(|s| with_suffix(path, s))
            .collect()
    }
}

const REDB_TABLE: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("kv");

/// redb (default configuration, `Durability::Immediate` commits) holding values sealed by
/// the caller with XChaCha20-Poly1305 (chacha20poly1305 0.11), AAD = the key name, a random
/// 24-byte nonce per value; every put is its own write transaction.
pub struct RedbAead(redb::Database);

fn seal(key: &str, value: &str) -> Vec<u8> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).unwrap();
    RustCrypto::seal(&KEY, &nonce, key.as_bytes(), value.as_bytes())
}

impl FileStore for RedbAead {
    const NAME: &'static str = "redb + AEAD";
    fn build(path: &Path, keys: &[String], values: &[String]) {
        let db = redb::Database::create(path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut table = tx.open_table(REDB_TABLE).unwrap();
            for (k, v) in keys.iter().zip(values) {
                table.insert(k.as_str(), seal(k, v).as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    fn open(path: &Path) -> Self {
        RedbAead(redb::Database::open(path).unwrap())
    }
    fn get(&self, key: &str) -> Option<String> {
        use redb::ReadableDatabase;
        let tx = self.0.begin_read().unwrap();
        let table = tx.open_table(REDB_TABLE).unwrap();
        let sealed = table.get(key).unwrap()?;
        let plain = RustCrypto::open(&KEY, key.as_bytes(), sealed.value()).unwrap();
        Some(String::from_utf8(plain).unwrap())
    }
    fn put(&self, key: &str, value: &str) {
        let sealed = seal(key, value);
        let tx = self.0.begin_write().unwrap();
        {
            let mut table = tx.open_table(REDB_TABLE).unwrap();
            table.insert(key, sealed.as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    fn files(path: &Path) -> Vec<PathBuf> {
        vec![path.to_path_buf()]
    }
}
