//! Password rotation and rekeying: all-or-nothing, in memory and in storage.
use microkv::{Config, Credential, Error, KdfParams, MemoryStorage, MicroKV};

const FAST: KdfParams = KdfParams::argon2id(64, 1, 1);

fn fast() -> Config {
    Config {
        kdf: FAST,
        ..Default::default()
    }
}

fn fill(db: &MicroKV) {
    for i in 0..50u32 {
        db.namespace(if i % 2 == 0 { "" } else { "odd" })
            .put(&format!("k{i}"), &i)
            .unwrap();
    }
}

fn check(db: &MicroKV) {
    for i in 0..50u32 {
        let ns = db.namespace(if i % 2 == 0 { "" } else { "odd" });
        assert_eq!(ns.get::<u32>(&format!("k{i}")).unwrap(), Some(i));
    }
}

#[test]
fn change_password_checks_the_old_one_and_reencrypts_everything() {
    let storage = MemoryStorage::default();
    let db = MicroKV::with_storage(storage.clone(), Credential::password("old"), fast()).unwrap();
    fill(&db);
    db.save().unwrap();
    let before = storage.load_bytes();
    assert!(matches!(
        db.change_password("wrong", "new"),
        Err(Error::WrongPassword)
    ));
    assert_eq!(
        storage.load_bytes(),
        before,
        "a refused change touched the storage"
    );
    check(&db);
    db.change_password("old", "new").unwrap();
    check(&db);
    drop(db);
    assert!(matches!(
        MicroKV::with_storage(storage.clone(), Credential::password("old"), fast()),
        Err(Error::WrongPassword)
    ));
    let db = MicroKV::with_storage(storage, Credential::password("new"), fast()).unwrap();
    check(&db);
    assert_eq!(db.kdf(), Some(FAST));
}

#[test]
fn rekey_switches_between_password_and_raw_key_and_raises_kdf_cost() {
    let storage = MemoryStorage::default();
    let db = MicroKV::with_storage(storage.clone(), Credential::password("pw"), fast()).unwrap();
    fill(&db);
    db.rekey(Credential::key([3; 32])).unwrap();
    assert_eq!(db.kdf(), None);
    check(&db);
    drop(db);
    let reopen = |c| MicroKV::with_storage(storage.clone(), c, fast());
    assert!(matches!(
        reopen(Credential::password("pw")),
        Err(Error::WrongPassword)
    ));
    let db = reopen(Credential::key([3; 32])).unwrap();
    check(&db);
    let stronger = KdfParams::argon2id(256, 2, 1);
    db.rekey_with(Credential::password("pw2"), stronger)
        .unwrap();
    assert_eq!(db.kdf(), Some(stronger));
    drop(db);
    assert!(matches!(
        reopen(Credential::key([3; 32])),
        Err(Error::WrongPassword)
    ));
    let db = reopen(Credential::password("pw2")).unwrap();
    assert_eq!(
        db.kdf(),
        Some(stronger),
        "reopen uses the stored parameters"
    );
    check(&db);
}

#[test]
fn a_raw_key_store_refuses_a_password_change() {
    let db = MicroKV::in_memory(Credential::key([1; 32])).unwrap();
    db.put("k", &1u8).unwrap();
    assert!(matches!(
        db.change_password("anything", "new"),
        Err(Error::WrongPassword)
    ));
    assert_eq!(db.get::<u8>("k").unwrap(), Some(1));
}

#[test]
fn secret_bytes_stay_in_the_arena_until_dropped() {
    let db = MicroKV::in_memory(Credential::key([1; 32])).unwrap();
    db.put("token", &"tok-123".to_string()).unwrap();
    db.put("raw", &vec![0u8, 1, 2, 255]).unwrap();
    db.put("number", &7u32).unwrap();
    let idle = db.memory_report().bytes_in_use;
    let token = db.get_secret_bytes("token").unwrap().unwrap();
    let raw = db.get_secret_bytes("raw").unwrap().unwrap();
    assert_eq!(token.expose_secret(), b"tok-123");
    assert_eq!(raw.expose_secret(), &[0, 1, 2, 255]);
    assert_eq!(format!("{token:?}"), "SecretBytes(<redacted, 7 bytes>)");
    assert!(
        db.memory_report().bytes_in_use > idle,
        "the secret is not held in the arena"
    );
    drop((token, raw));
    assert_eq!(db.memory_report().bytes_in_use, idle);
    assert!(matches!(
        db.get_secret_bytes("number"),
        Err(Error::Serialization(_))
    ));
    assert!(db.get_secret_bytes("missing").unwrap().is_none());
}

/// Reads what the storage holds, for comparing snapshots.
trait LoadBytes {
    fn load_bytes(&self) -> Option<Vec<u8>>;
}

impl LoadBytes for MemoryStorage {
    fn load_bytes(&self) -> Option<Vec<u8>> {
        microkv::Storage::load(self).unwrap()
    }
}
