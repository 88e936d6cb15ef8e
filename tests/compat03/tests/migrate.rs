//! Files written by the real microkv 0.3.0: this crate names them (`LegacyStore`) without
//! touching them, and `microkv::migrate::from_v03` copies them whole, every value read
//! back as the type it was written as, expiry kept, and refuses wrong credentials and
//! modified files without writing anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use microkv::migrate::{from_v03, LegacyCredential, Migrated};
use microkv::{Config, Credential, Error, KdfLimit, KdfParams, ManualClock, MicroKV};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Account {
    id: u64,
    name: String,
    roles: Vec<String>,
    limit: Option<i32>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Kind {
    Unit,
    New(u8),
    Pair(i16, String),
    Named { on: bool },
}

fn account() -> Account {
    Account {
        id: 7,
        name: "alice".into(),
        roles: vec!["admin".into(), "ops".into()],
        limit: Some(-3),
    }
}

fn map() -> BTreeMap<String, f64> {
    BTreeMap::from([("pi".to_string(), 3.25), ("e".to_string(), -2.5)])
}

/// Writes a 0.3.0 store at `path` with `credential` and KDF `kdf`: values of many types
/// in three namespaces, one entry with an hour to live and one already expired.
fn write_v03(path: &Path, credential: microkv03::Credential, kdf: microkv03::KdfParams) {
    let config = microkv03::Config {
        kdf,
        ..Default::default()
    };
    let db = microkv03::MicroKV::create_new_with(path, credential, config).unwrap();
    db.put("count", &5u32).unwrap();
    db.put("delta", &-42i64).unwrap();
    db.put("name", &"test".to_string()).unwrap();
    db.put("raw", &vec![0u8, 1, 200, 255]).unwrap();
    db.put("ratio", &0.5f64).unwrap();
    db.put("none", &None::<u8>).unwrap();
    db.put("map", &map()).unwrap();
    let users = db.namespace("users");
    users.put("alice", &account()).unwrap();
    users.put("kind:unit", &Kind::Unit).unwrap();
    users.put("kind:new", &Kind::New(9)).unwrap();
    users.put("kind:pair", &Kind::Pair(-1, "x".into())).unwrap();
    users.put("kind:named", &Kind::Named { on: true }).unwrap();
    let sessions = db.namespace("sessions");
    sessions
        .put_with_ttl("live", &"token".to_string(), Duration::from_secs(3600))
        .unwrap();
    sessions
        .put_with_ttl("gone", &"old".to_string(), Duration::from_millis(1))
        .unwrap();
    db.save().unwrap();
    // 0.3 keeps whole seconds: past the next second, "gone" has expired.
    std::thread::sleep(Duration::from_millis(1100));
}

fn fast_kdf() -> microkv03::KdfParams {
    microkv03::KdfParams::scrypt(10, 8, 1)
}

/// A new store of this version on a manual clock set to the real time.
fn target(dir: &Path) -> (MicroKV, ManualClock) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let clock = ManualClock::new(now);
    let config = Config {
        clock: Some(Arc::new(clock.clone())),
        ..Default::default()
    };
    let path = dir.join(format!("new-{}.kv", now.as_nanos()));
    let db = MicroKV::create_new_with(path, Credential::key([4; 32]), config).unwrap();
    (db, clock)
}

fn check_copy(db: &MicroKV) {
    assert_eq!(db.require::<u32>("count").unwrap(), 5);
    assert_eq!(db.require::<i64>("count").unwrap(), 5, "u32 read as i64");
    assert_eq!(db.require::<i64>("delta").unwrap(), -42);
    assert!(matches!(
        db.get::<u64>("delta"),
        Err(Error::Serialization(_))
    ));
    assert_eq!(db.require::<String>("name").unwrap(), "test");
    assert_eq!(db.require::<Vec<u8>>("raw").unwrap(), vec![0, 1, 200, 255]);
    assert_eq!(
        db.get_secret_bytes("raw").unwrap().unwrap().expose_secret(),
        &[0, 1, 200, 255]
    );
    assert_eq!(db.require::<f64>("ratio").unwrap(), 0.5);
    assert_eq!(db.require::<Option<u8>>("none").unwrap(), None);
    assert_eq!(db.require::<BTreeMap<String, f64>>("map").unwrap(), map());
    let users = db.namespace("users");
    assert_eq!(users.require::<Account>("alice").unwrap(), account());
    assert_eq!(users.require::<Kind>("kind:unit").unwrap(), Kind::Unit);
    assert_eq!(users.require::<Kind>("kind:new").unwrap(), Kind::New(9));
    assert_eq!(
        users.require::<Kind>("kind:pair").unwrap(),
        Kind::Pair(-1, "x".into())
    );
    assert_eq!(
        users.require::<Kind>("kind:named").unwrap(),
        Kind::Named { on: true }
    );
    let sessions = db.namespace("sessions");
    assert_eq!(sessions.require::<String>("live").unwrap(), "token");
    assert!(!sessions.contains("gone").unwrap());
}

struct Files {
    _dir: tempfile::TempDir,
    password: PathBuf,
    key: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password.kv");
    let key = dir.path().join("key.kv");
    write_v03(
        &password,
        microkv03::Credential::password("p@ssw0rd"),
        fast_kdf(),
    );
    write_v03(&key, microkv03::Credential::key([9; 32]), fast_kdf());
    Files {
        _dir: dir,
        password,
        key,
    }
}

#[test]
fn a_0_3_file_is_named_and_left_untouched() {
    let f = files();
    let before = std::fs::read(&f.password).unwrap();
    for result in [
        MicroKV::open(&f.password, Credential::password("p@ssw0rd")),
        MicroKV::open_existing(&f.password, Credential::password("p@ssw0rd")),
        MicroKV::open_with(
            &f.password,
            Credential::password("p@ssw0rd"),
            Config {
                read_only: true,
                ..Default::default()
            },
        ),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::LegacyStore { version: 3 }), "{err:?}");
        assert!(err.to_string().contains("microkv 0.3"), "{err}");
    }
    assert_eq!(std::fs::read(&f.password).unwrap(), before);
}

#[test]
fn every_value_and_expiry_migrates() {
    let f = files();
    for (path, credential) in [
        (&f.password, LegacyCredential::Password("p@ssw0rd")),
        (&f.key, LegacyCredential::Key([9; 32])),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (db, clock) = target(dir.path());
        let done = from_v03(path, credential, &db).unwrap();
        let mut want = Migrated::default();
        want.namespaces = 3;
        want.entries = 13;
        want.expired = 1;
        assert_eq!(done, want, "{path:?}");
        check_copy(&db);
        // The copy survives a save and a reopen.
        db.save().unwrap();
        let saved = db.path().unwrap().to_path_buf();
        drop(db);
        let db = MicroKV::open(&saved, Credential::key([4; 32])).unwrap();
        check_copy(&db);
        drop(db);
        // The expiry came along: an hour later the session is gone.
        let (db, _) = (
            MicroKV::open_with(
                &saved,
                Credential::key([4; 32]),
                Config {
                    clock: Some(Arc::new(clock.clone())),
                    ..Default::default()
                },
            )
            .unwrap(),
            (),
        );
        clock.advance(Duration::from_secs(3601));
        assert!(!db.namespace("sessions").contains("live").unwrap());
        assert!(db.namespace("users").contains("alice").unwrap());
    }
}

#[test]
fn wrong_credentials_and_modified_files_copy_nothing() {
    let f = files();
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = target(dir.path());
    let err = from_v03(&f.password, LegacyCredential::Password("wrong"), &db).unwrap_err();
    assert!(matches!(err, Error::WrongPassword), "{err:?}");
    let err = from_v03(&f.key, LegacyCredential::Key([8; 32]), &db).unwrap_err();
    assert!(matches!(err, Error::WrongPassword), "{err:?}");
    assert_eq!(db.len().unwrap(), 0);
    assert!(db.tree_names().unwrap().is_empty());

    // One byte of the last value's ciphertext flipped: the values before it opened, so
    // this is a modified file, and nothing is copied.
    let mut bytes = std::fs::read(&f.key).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let modified = dir.path().join("modified.kv");
    std::fs::write(&modified, &bytes).unwrap();
    let err = from_v03(&modified, LegacyCredential::Key([9; 32]), &db).unwrap_err();
    assert!(matches!(err, Error::Tampered), "{err:?}");
    assert!(db.tree_names().unwrap().is_empty());

    // Not a 0.3 file at all, and a truncated one.
    let err = from_v03(db.path().unwrap(), LegacyCredential::Key([4; 32]), &db).unwrap_err();
    assert!(matches!(err, Error::CorruptStore(_)), "{err:?}");
    let truncated = dir.path().join("truncated.kv");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = from_v03(&truncated, LegacyCredential::Key([9; 32]), &db).unwrap_err();
    assert!(matches!(err, Error::CorruptStore(_)), "{err:?}");
    assert!(db.tree_names().unwrap().is_empty());
}

/// Written by 0.3.0 with its `argon2` feature, Argon2id 64 KiB × 1 pass × 1 lane:
/// fixtures/README.md.
fn argon2_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/argon2-v03.kv")
}

#[test]
fn an_argon2_store_migrates() {
    let path = argon2_fixture();
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = target(dir.path());
    let err = from_v03(&path, LegacyCredential::Password("wrong"), &db).unwrap_err();
    assert!(matches!(err, Error::WrongPassword), "{err:?}");
    // Its verifier (Argon2id's parameters and salt in the associated data) modified: the
    // right password does not open it either.
    let mut flipped = std::fs::read(&path).unwrap();
    let at = verifier_ciphertext(&flipped);
    flip_int(&mut flipped, at);
    let flipped_path = dir.path().join("flipped.kv");
    std::fs::write(&flipped_path, &flipped).unwrap();
    let err = from_v03(&flipped_path, LegacyCredential::Password("p@ssw0rd"), &db).unwrap_err();
    assert!(matches!(err, Error::WrongPassword), "{err:?}");
    assert!(db.tree_names().unwrap().is_empty());
    let done = from_v03(&path, LegacyCredential::Password("p@ssw0rd"), &db).unwrap();
    assert_eq!((done.entries, done.namespaces, done.expired), (3, 2, 0));
    assert_eq!(db.require::<u32>("count").unwrap(), 5);
    assert_eq!(db.require::<String>("name").unwrap(), "test");
    assert_eq!(
        db.namespace("users").require::<Account>("alice").unwrap(),
        account()
    );
}

/// An in-memory store of this version, on a raw key, with `kdf_limit`.
fn limited(kdf_limit: KdfLimit) -> MicroKV {
    let config = Config {
        kdf_limit,
        ..Default::default()
    };
    MicroKV::in_memory_with(Credential::key([4; 32]), config).unwrap()
}

/// A 0.3 file's KDF is held to the target store's `Config::kdf_limit`, as a store file of
/// this version is: past it, `KdfLimitExceeded` before the KDF runs, whatever the
/// password, and nothing is copied; within it, the same file migrates.
#[test]
fn a_0_3_kdf_past_the_target_stores_limit_is_refused_before_it_runs() {
    let path = argon2_fixture();
    let db = limited(KdfLimit::kib_passes(63));
    assert_eq!(db.kdf_limit(), KdfLimit::kib_passes(63));
    for password in ["p@ssw0rd", "wrong"] {
        let err = from_v03(&path, LegacyCredential::Password(password), &db).unwrap_err();
        assert!(
            matches!(
                err,
                Error::KdfLimitExceeded {
                    cost: 64,
                    limit: 63
                }
            ),
            "{password}: {err:?}"
        );
    }
    assert!(db.tree_names().unwrap().is_empty());
    // Control: at exactly its cost, and under the default limit, the file migrates.
    for db in [
        limited(KdfLimit::kib_passes(64)),
        limited(KdfLimit::default()),
    ] {
        let done = from_v03(&path, LegacyCredential::Password("p@ssw0rd"), &db).unwrap();
        assert_eq!(done.entries, 3);
        assert_eq!(db.require::<u32>("count").unwrap(), 5);
    }

    // The same file with its KDF forged to Argon2id 1 GiB × 64 passes × 16 lanes: within
    // the hard bounds, and about a minute and 1 GiB of work (issue 13). In MessagePack the
    // KDF is the map {"Argon2id": [m_kib, t, p]}: fixarray 0x93, then the numbers.
    let bytes = std::fs::read(&path).unwrap();
    let kdf = b"Argon2id\x93\x40\x01\x01";
    let at = bytes.windows(kdf.len()).position(|w| w == kdf).unwrap() + 9;
    let mut forged = bytes[..at].to_vec();
    forged.extend_from_slice(&[0xce, 0x00, 0x10, 0x00, 0x00, 64, 16]); // u32 1 << 20
    forged.extend_from_slice(&bytes[at + 3..]);
    let dir = tempfile::tempdir().unwrap();
    let forged_path = dir.path().join("forged.kv");
    std::fs::write(&forged_path, &forged).unwrap();
    let db = limited(KdfLimit::default());
    let started = Instant::now();
    let err = from_v03(&forged_path, LegacyCredential::Password("p@ssw0rd"), &db).unwrap_err();
    let took = started.elapsed();
    let cost = KdfParams::argon2id(1 << 20, 64, 16).cost();
    assert!(
        matches!(err, Error::KdfLimitExceeded { cost: c, limit }
            if c == cost && limit == KdfParams::sensitive().cost()),
        "{err:?}"
    );
    // Bounded work, not a speed claim: the KDF alone takes about a minute.
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(db.tree_names().unwrap().is_empty());
}

/// Writes a 0.3.0 store at `path` with no entries.
fn write_empty_v03(path: &Path, credential: microkv03::Credential) {
    let config = microkv03::Config {
        kdf: fast_kdf(),
        ..Default::default()
    };
    let db = microkv03::MicroKV::create_new_with(path, credential, config).unwrap();
    db.save().unwrap();
}

/// A 0.3 store with no entries has only its verifier to check the credential against: a
/// wrong password or key is `WrongPassword` and copies nothing (it used to "migrate" under
/// any password), the right one copies the empty store.
#[test]
fn an_empty_0_3_store_refuses_a_wrong_credential() {
    let dir = tempfile::tempdir().unwrap();
    let by_password = dir.path().join("empty-password.kv");
    let by_key = dir.path().join("empty-key.kv");
    write_empty_v03(&by_password, microkv03::Credential::password("p@ssw0rd"));
    write_empty_v03(&by_key, microkv03::Credential::key([9; 32]));
    let (db, _) = target(dir.path());
    for (path, wrong) in [
        (&by_password, LegacyCredential::Password("wrong")),
        (&by_password, LegacyCredential::Password("p@ssw0rd ")),
        (&by_key, LegacyCredential::Key([8; 32])),
    ] {
        let err = from_v03(path, wrong, &db).unwrap_err();
        assert!(matches!(err, Error::WrongPassword), "{path:?}: {err:?}");
    }
    assert!(db.tree_names().unwrap().is_empty());
    // Control: the right credentials open both, and there is nothing to copy.
    for (path, right) in [
        (&by_password, LegacyCredential::Password("p@ssw0rd")),
        (&by_key, LegacyCredential::Key([9; 32])),
    ] {
        let done = from_v03(path, right, &db).unwrap();
        assert_eq!(done, Migrated::default(), "{path:?}");
    }
    assert_eq!(db.len().unwrap(), 0);
}

/// Where the verifier's sealed bytes start in a 0.3 file: after the array16 header
/// `dc 00 21` (33 bytes: 17 of ciphertext, 16 of tag), the first of them.
fn verifier_ciphertext(bytes: &[u8]) -> usize {
    bytes
        .windows(3)
        .position(|w| w == [0xdc, 0x00, 0x21])
        .unwrap()
        + 3
}

/// Flips the lowest bit of the MessagePack integer at `at` (a positive fixint, or `cc`
/// and a byte: either stays the same kind of integer, so the file still decodes).
fn flip_int(bytes: &mut [u8], at: usize) {
    let at = if bytes[at] == 0xcc { at + 1 } else { at };
    bytes[at] ^= 1;
}

/// A modified verifier, or a KDF or salt that is not the one it was sealed with, is
/// `WrongPassword` with the right credential, and copies nothing: the AEAD that checks it
/// cannot tell a wrong key from a changed ciphertext or associated data. A verifier of
/// another shape is `CorruptStore`, before the KDF runs.
#[test]
fn a_modified_verifier_is_refused() {
    let f = files();
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = target(dir.path());
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let by_password: fn() -> LegacyCredential<'static> = || LegacyCredential::Password("p@ssw0rd");
    let by_key: fn() -> LegacyCredential<'static> = || LegacyCredential::Key([9; 32]);
    for (original, credential) in [(&f.password, by_password), (&f.key, by_key)] {
        let bytes = std::fs::read(original).unwrap();
        // One bit of the verifier's ciphertext flipped.
        let mut flipped = bytes.clone();
        flip_int(&mut flipped, verifier_ciphertext(&bytes));
        let path = write("flipped.kv", &flipped);
        let err = from_v03(&path, credential(), &db).unwrap_err();
        assert!(matches!(err, Error::WrongPassword), "{original:?}: {err:?}");
        // Its last tag byte flipped.
        let mut flipped = bytes.clone();
        let mut at = verifier_ciphertext(&bytes);
        for _ in 0..32 {
            at += if flipped[at] == 0xcc { 2 } else { 1 };
        }
        flip_int(&mut flipped, at);
        let path = write("flipped-tag.kv", &flipped);
        let err = from_v03(&path, credential(), &db).unwrap_err();
        assert!(matches!(err, Error::WrongPassword), "{original:?}: {err:?}");
        // Control: the unmodified file, written back the same way, migrates.
        let path = write("same.kv", &bytes);
        let done = {
            let control = MicroKV::in_memory(Credential::key([4; 32])).unwrap();
            from_v03(&path, credential(), &control).unwrap()
        };
        assert_eq!((done.entries, done.expired), (13, 1));
    }
    assert!(db.tree_names().unwrap().is_empty());

    // A raw key runs no KDF, so the salt does not change the key: only the verifier's
    // associated data ([kdf, salt]) notices the salt (or the KDF) was changed.
    let bytes = std::fs::read(&f.key).unwrap();
    let salt = bytes
        .windows(3)
        .position(|w| w == [0xdc, 0x00, 0x10])
        .unwrap()
        + 3;
    let mut other_salt = bytes.clone();
    flip_int(&mut other_salt, salt);
    let path = write("other-salt.kv", &other_salt);
    let err = from_v03(&path, LegacyCredential::Key([9; 32]), &db).unwrap_err();
    assert!(matches!(err, Error::WrongPassword), "{err:?}");
    let kdf = b"Scrypt\x93\x0a\x08\x01";
    let at = bytes.windows(kdf.len()).position(|w| w == kdf).unwrap() + 7;
    let mut other_kdf = bytes.clone();
    other_kdf[at] = 0x0b; // log_n 11
    let path = write("other-kdf.kv", &other_kdf);
    let err = from_v03(&path, LegacyCredential::Key([9; 32]), &db).unwrap_err();
    assert!(matches!(err, Error::WrongPassword), "{err:?}");

    // The verifier's nonce one byte short (fixarray 12 -> 11, its last integer removed):
    // not 0.3's shape, CorruptStore, whatever the credential.
    let sealed = verifier_ciphertext(&bytes) - 3;
    let last = if bytes[sealed - 1] < 0x80 { 1 } else { 2 };
    let nonce = bytes[..sealed].iter().rposition(|&b| b == 0x9c).unwrap();
    let mut short = bytes[..sealed - last].to_vec();
    short[nonce] = 0x9b;
    short.extend_from_slice(&bytes[sealed..]);
    let path = write("short-nonce.kv", &short);
    for credential in [
        LegacyCredential::Key([9; 32]),
        LegacyCredential::Key([8; 32]),
    ] {
        let err = from_v03(&path, credential, &db).unwrap_err();
        assert!(matches!(err, Error::CorruptStore(_)), "{err:?}");
    }
    assert!(db.tree_names().unwrap().is_empty());
}
