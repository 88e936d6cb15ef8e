//! Bad input gets a typed error: never a panic, never an open store. Every bit flip,
//! every truncation and an appended byte of a small saved store; files that are not
//! stores; unknown versions; absurd KDF parameters; wrong credentials.
#![forbid(unsafe_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use microkv::{Config, Credential, Error, KdfParams, ManualClock, MicroKV};

#[path = "support/forge.rs"]
mod forge;
use forge::forge;
#[path = "support/rss.rs"]
mod rss;

const KEY: [u8; 32] = [0x5a; 32];
const TINY: KdfParams = KdfParams::argon2id(64, 1, 1);

fn clock() -> ManualClock {
    ManualClock::new(Duration::from_secs(1_700_000_000))
}

fn config(clock: &ManualClock) -> Config {
    Config {
        clock: Some(Arc::new(clock.clone())),
        kdf: TINY,
        ..Default::default()
    }
}

/// A small saved store made with `credential` in a new temporary directory: the
/// directory, the file's bytes, and the path `x.kv` beside it to write variants of them to.
fn small_store_and_path(credential: Credential) -> (tempfile::TempDir, Vec<u8>, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bytes = small_store(dir.path(), credential);
    let path = dir.path().join("x.kv");
    (dir, bytes, path)
}

/// A small saved store: several namespaces and a TTL entry. Returns the file's bytes.
fn small_store(dir: &Path, credential: Credential) -> Vec<u8> {
    let clock = clock();
    let path = dir.join("small.kv");
    let db = MicroKV::create_new_with(&path, credential, config(&clock)).unwrap();
    db.put("name", &"test".to_string()).unwrap();
    db.put_with_ttl("otp", &"123456".to_string(), Duration::from_secs(60))
        .unwrap();
    db.namespace("users").put("alice", &42u32).unwrap();
    db.namespace("users").put("bob", &7u32).unwrap();
    db.namespace("sessions")
        .put("alice", &"token-xyz".to_string())
        .unwrap();
    db.save().unwrap();
    drop(db);
    std::fs::read(&path).unwrap()
}

/// Writes `bytes` to `path` and opens it read-only; a panic is reported as such.
fn open_bytes(path: &Path, bytes: &[u8], credential: Credential) -> Result<MicroKV, String> {
    std::fs::write(path, bytes).unwrap();
    let clock = clock();
    let config = Config {
        read_only: true,
        ..config(&clock)
    };
    match catch_unwind(AssertUnwindSafe(|| {
        MicroKV::open_existing_with(path, credential, config)
    })) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(format!("{e:?}")),
        Err(_) => panic!("opening a damaged store panicked"),
    }
}

/// Which error a damaged byte at `offset` of a raw-key store must give when it is opened.
/// Past the header (FORMAT.md, version 2) an open reads the toc and the directories
/// (`Tampered`); a damaged record or names block opens, and is found by the read that
/// needs it ([`read_back`]).
fn expected_kind(offset: usize, len: usize) -> &'static [&'static str] {
    match offset {
        0..=7 => &["CorruptStore"],                  // magic
        8..=9 => &["UnsupportedStoreVersion"],       // version
        10 => &["CorruptStore", "InvalidKdfParams"], // KDF id
        // Value encoding: an unknown id, or the other known one (authenticated by the key wrap).
        11 => &["CorruptStore", "Tampered"],
        12..=23 => &["CorruptStore"],   // KDF parameters
        24..=71 => &["WrongPassword"],  // salt, commitment
        72..=159 => &["Tampered"],      // wrapped key, snapshot nonce's prefix
        160..=167 => &["CorruptStore"], // snapshot nonce's zero counter
        168..=175 => &["CorruptStore"], // data and toc lengths
        o if o < len => &["Tampered"],  // toc, directories
        _ => unreachable!(),
    }
}

/// Reads back every entry and name of the small store: `Err` (the error's name) at the
/// first read that fails; a read that returns anything but what was written panics.
fn read_back(db: &MicroKV) -> Result<(), String> {
    let name = |e: Error| format!("{e:?}");
    let text = |db: &MicroKV, key: &str| db.get::<String>(key).map_err(name);
    if text(db, "name")?.as_deref() != Some("test") || text(db, "otp")?.as_deref() != Some("123456")
    {
        panic!("a damaged store read back a wrong value");
    }
    let users = db.namespace("users");
    let sessions = db.namespace("sessions");
    let values = (
        users.get::<u32>("alice").map_err(name)?,
        users.get::<u32>("bob").map_err(name)?,
        sessions.get::<String>("alice").map_err(name)?,
    );
    assert_eq!(
        values,
        (Some(42), Some(7), Some("token-xyz".to_string())),
        "wrong value read back"
    );
    let mut names = Vec::new();
    for ns in [&db.namespace(""), &users, &sessions] {
        let mut keys = ns.keys().map_err(name)?;
        keys.sort();
        names.push(keys);
    }
    assert_eq!(
        names,
        [vec!["name", "otp"], vec!["alice", "bob"], vec!["alice"]],
        "wrong names read back"
    );
    Ok(())
}

#[test]
fn every_bit_flip_of_a_raw_key_store_fails_with_the_right_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = small_store(dir.path(), Credential::key(KEY));
    let path = dir.path().join("damaged.kv");
    // The undamaged bytes open, and hold what was written.
    let db = open_bytes(&path, &good, Credential::key(KEY)).unwrap();
    assert_eq!(db.require::<String>("otp").unwrap(), "123456");
    assert_eq!(db.namespace("users").get::<u32>("bob").unwrap(), Some(7));
    drop(db);

    let started = Instant::now();
    let (mut variants, mut at_open, mut at_read) = (0, 0, 0);
    for offset in 0..good.len() {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[offset] ^= 1 << bit;
            let err = match open_bytes(&path, &bad, Credential::key(KEY)) {
                Ok(db) => {
                    // Only a record or a names block, read when needed: the read fails.
                    let err = read_back(&db).expect_err(&format!(
                        "flipping bit {bit} of byte {offset} reads back as if undamaged"
                    ));
                    assert!(
                        offset >= 176 && (err == "Crypto" || err == "Tampered"),
                        "bit {bit} of byte {offset}: opened, then {err}"
                    );
                    at_read += 1;
                    variants += 1;
                    continue;
                }
                Err(e) => e,
            };
            let kinds = expected_kind(offset, good.len());
            assert!(
                kinds.iter().any(|k| err.starts_with(k)),
                "bit {bit} of byte {offset}: {err}, expected one of {kinds:?}"
            );
            at_open += 1;
            variants += 1;
        }
    }
    assert_eq!(variants, good.len() * 8);
    // Both kinds happen: the open checks the toc and directories, reads the rest.
    assert!(
        at_open > 0 && at_read > 0,
        "{at_open} at open, {at_read} at a read"
    );
    eprintln!(
        "{variants} bit flips of a {}-byte store in {:?}: {at_open} refused at open, \
         {at_read} at the read that needs the damaged part",
        good.len(),
        started.elapsed()
    );
}

#[test]
fn bits_0_and_7_of_every_byte_of_a_password_store_fail() {
    let dir = tempfile::tempdir().unwrap();
    let good = small_store(dir.path(), Credential::password("pw"));
    let path = dir.path().join("damaged.kv");
    assert!(open_bytes(&path, &good, Credential::password("pw")).is_ok());
    for offset in 0..good.len() {
        for bit in [0, 7] {
            let mut bad = good.clone();
            bad[offset] ^= 1 << bit;
            if let Ok(db) = open_bytes(&path, &bad, Credential::password("pw")) {
                assert!(
                    read_back(&db).is_err(),
                    "flipping bit {bit} of byte {offset} reads back as if undamaged"
                );
            }
        }
    }
}

#[test]
fn every_truncation_and_an_appended_byte_fail() {
    let dir = tempfile::tempdir().unwrap();
    let good = small_store(dir.path(), Credential::key(KEY));
    let path = dir.path().join("damaged.kv");
    for len in 0..good.len() {
        let err = match open_bytes(&path, &good[..len], Credential::key(KEY)) {
            Ok(_) => panic!("truncated to {len} bytes, still opens"),
            Err(e) => e,
        };
        assert!(err.starts_with("CorruptStore"), "truncated to {len}: {err}");
    }
    for extra in [0u8, 0xff] {
        let mut longer = good.clone();
        longer.push(extra);
        let err = match open_bytes(&path, &longer, Credential::key(KEY)) {
            Ok(_) => panic!("an appended byte {extra} still opens"),
            Err(e) => e,
        };
        assert!(err.starts_with("CorruptStore"), "{err}");
    }
}

fn open_err(path: &Path, bytes: &[u8], credential: Credential) -> Error {
    std::fs::write(path, bytes).unwrap();
    MicroKV::open_existing_with(
        path,
        credential,
        Config {
            read_only: true,
            ..Default::default()
        },
    )
    .unwrap_err()
}

#[test]
fn a_file_that_is_not_a_store_or_is_empty_gets_its_own_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.kv");
    let cases: [(&[u8], &str); 4] = [
        (b"", "empty file"),
        (
            b"[core]\n\trepositoryformatversion = 0\n",
            "not a microkv store",
        ),
        (b"MICRO", "truncated header"),
        (&[0u8; 300], "not a microkv store"),
    ];
    for (bytes, message) in cases {
        match open_err(&path, bytes, Credential::key(KEY)) {
            Error::CorruptStore(why) => assert!(why.contains(message), "{why:?}"),
            other => panic!("{bytes:?}: {other:?}"),
        }
    }
    // Writable opens refuse them too, and leave the file as it was.
    std::fs::write(&path, b"hello").unwrap();
    let err = MicroKV::open(&path, Credential::key(KEY)).unwrap_err();
    assert!(matches!(err, Error::CorruptStore(_)), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"hello");
}

/// The first bytes of a file written by microkv 0.3.0 (a MessagePack array: the string
/// "microkv", the format version 3, then the KDF), as `tests/compat` checks on real ones.
const V03_PREFIX: &[u8] = b"\x96\xa7microkv\x03\x81\xa6Scrypt\x93\x0f\x08\x01";

#[test]
fn a_microkv_0_3_store_is_named_as_such_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.kv");
    let err = open_err(&path, V03_PREFIX, Credential::password("pw"));
    assert!(matches!(err, Error::LegacyStore { version: 3 }), "{err:?}");
    assert!(err.to_string().contains("microkv 0.3"), "{err}");
    // A writable open refuses it too, and leaves the file as it was.
    let err = MicroKV::open(&path, Credential::password("pw")).unwrap_err();
    assert!(matches!(err, Error::LegacyStore { version: 3 }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), V03_PREFIX);
    // Control: the same bytes with another name at the start are just not a store.
    let mut other = V03_PREFIX.to_vec();
    other[2] = b'n';
    let err = open_err(&path, &other, Credential::password("pw"));
    assert!(matches!(err, Error::CorruptStore(_)), "{err:?}");
}

#[test]
fn an_unknown_version_is_reported_as_such() {
    let (_dir, mut bytes, path) = small_store_and_path(Credential::key(KEY));
    for version in [0u16, 3, 0xffff] {
        bytes[8..10].copy_from_slice(&version.to_le_bytes());
        let err = open_err(&path, &bytes, Credential::key(KEY));
        assert!(
            matches!(err, Error::UnsupportedStoreVersion { found, expected: 2 } if found == version),
            "{err:?}"
        );
        // A future version's header may be any length: the version decides first.
        let err = open_err(&path, &bytes[..10], Credential::key(KEY));
        assert!(
            matches!(err, Error::UnsupportedStoreVersion { .. }),
            "{err:?}"
        );
    }
}

#[test]
fn absurd_kdf_parameters_fail_fast_without_allocating() {
    let (_dir, good, path) = small_store_and_path(Credential::password("pw"));
    let set = |id: u8, a: u32, b: u32, c: u32| forge(&good, id, a, b, c);
    let cases = [
        ("argon2id m = 64 GiB", set(1, 64 << 20, 1, 1)),
        ("argon2id m = 4 TiB - 1 KiB", set(1, u32::MAX, 1, 1)),
        ("argon2id t = 2^31", set(1, 64, 1 << 31, 1)),
        ("argon2id p = 2^24", set(1, 64, 1, 1 << 24)),
        ("argon2id p = 0", set(1, 64, 1, 0)),
        ("argon2id m = 0", set(1, 0, 1, 1)),
        ("scrypt log_n = 60", set(2, 60, 8, 1)),
        ("scrypt log_n = 300", set(2, 300, 8, 1)),
        ("scrypt r = 2^30", set(2, 14, 1 << 30, 1)),
        ("scrypt 2 GiB", set(2, 21, 1024, 1)),
    ];
    // Nothing was allocated for them: the peak resident memory of the process does not
    // move (each would take 2 GiB to 4 TiB; tests/hostile_files.rs has the control that
    // a KDF that runs does move it).
    let before = rss::peak_kib();
    for (what, bytes) in cases {
        let err = open_err(&path, &bytes, Credential::password("pw"));
        assert!(matches!(err, Error::InvalidKdfParams(_)), "{what}: {err:?}");
        if let Some(grew) = rss::grew_since(before) {
            assert!(grew < 64 << 10, "{what}: peak RSS grew by {grew} KiB");
        }
    }
    let err = open_err(&path, &set(9, 0, 0, 0), Credential::password("pw"));
    assert!(
        matches!(&err, Error::CorruptStore(why) if why.contains("KDF id")),
        "{err:?}"
    );
}

#[test]
fn a_wrong_credential_is_wrong_password_decided_before_the_body() {
    let (dir, pw, path) = small_store_and_path(Credential::password("pw"));
    let wrong = [
        Credential::password("pW"),
        Credential::password(""),
        Credential::key(KEY),
    ];
    for credential in wrong {
        let err = open_err(&path, &pw, credential);
        assert!(matches!(err, Error::WrongPassword), "{err:?}");
    }
    // A damaged body does not change the verdict on the credential.
    let mut damaged = pw.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    let err = open_err(&path, &damaged, Credential::password("nope"));
    assert!(matches!(err, Error::WrongPassword), "{err:?}");
    let err = open_err(&path, &damaged, Credential::password("pw"));
    assert!(matches!(err, Error::Tampered), "{err:?}");

    std::fs::remove_file(dir.path().join("small.kv")).unwrap();
    let raw = small_store(dir.path(), Credential::key(KEY));
    for credential in [Credential::password("pw"), Credential::key([0x5b; 32])] {
        let err = open_err(&path, &raw, credential);
        assert!(matches!(err, Error::WrongPassword), "{err:?}");
    }
}

#[test]
fn a_ttl_entry_expires_across_a_reopen() {
    let (_dir, bytes, path) = small_store_and_path(Credential::key(KEY));
    std::fs::write(&path, &bytes).unwrap();
    let clock = clock();
    let ro = Config {
        read_only: true,
        ..config(&clock)
    };
    let db = MicroKV::open_existing_with(&path, Credential::key(KEY), ro.clone()).unwrap();
    assert_eq!(db.get::<String>("otp").unwrap().as_deref(), Some("123456"));
    clock.advance(Duration::from_secs(61));
    assert_eq!(db.get::<String>("otp").unwrap(), None);
    let db = MicroKV::open_existing_with(&path, Credential::key(KEY), ro).unwrap();
    assert_eq!(db.get::<String>("otp").unwrap(), None);
    assert_eq!(db.get::<String>("name").unwrap().as_deref(), Some("test"));
}
