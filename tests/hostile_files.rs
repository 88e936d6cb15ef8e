//! Files forged by someone who can write the store's directory get bounded work: a KDF
//! cost above the open's limit is refused before the KDF runs, and a store file or
//! journal longer than the format allows is refused before it is read (2 GiB of holes
//! never reach memory).
#![forbid(unsafe_code)]

use std::path::Path;

use microkv::{
    AutoSave, Config, Credential, Error, KdfLimit, KdfParams, LockMode, MicroKV, MAX_JOURNAL_LEN,
    MAX_STORE_LEN,
};

#[path = "support/forge.rs"]
mod forge;
use forge::forge;
#[path = "support/rss.rs"]
mod rss;
use rss::{grew_since, peak_kib};

const TINY: KdfParams = KdfParams::argon2id(64, 1, 1);
const KEY: [u8; 32] = [0x42; 32];

/// A saved password store made with `kdf`; returns the file's bytes.
fn password_store(path: &Path, kdf: KdfParams) -> Vec<u8> {
    let config = Config {
        kdf,
        ..Default::default()
    };
    let db = MicroKV::create_new_with(path, Credential::password("pw"), config).unwrap();
    db.put("k", &1u32).unwrap();
    db.save().unwrap();
    drop(db);
    std::fs::read(path).unwrap()
}

fn open_with(path: &Path, credential: Credential, config: Config) -> microkv::Result<MicroKV> {
    MicroKV::open_existing_with(path, credential, config)
}

fn read_only() -> Config {
    Config {
        read_only: true,
        ..Default::default()
    }
}

/// The attack of issue 13: Argon2id 1 GiB × 64 passes × 16 lanes is within the hard
/// bounds, and took 54.6 s (and 1 GiB) before `WrongPassword`. It is refused now, by
/// writable and read-only opens, before the KDF runs, and the file is left as it was.
#[test]
fn a_forged_kdf_cost_is_refused_before_the_kdf_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    let good = password_store(&path, TINY);
    let cases = [
        ("argon2id 1 GiB x 64 x 16", forge(&good, 1, 1 << 20, 64, 16)),
        ("argon2id 1 GiB x 5", forge(&good, 1, 1 << 20, 5, 1)),
        ("argon2id 512 MiB x 16", forge(&good, 1, 1 << 19, 16, 1)),
        ("scrypt 512 MiB, p = 16", forge(&good, 2, 19, 8, 16)),
        ("scrypt 1 GiB - 2 KiB, p = 8", forge(&good, 2, 13, 1023, 8)),
    ];
    // The KDF never ran: each of these would take 512 MiB to 1 GiB (and 5 s to a
    // minute); the process's peak resident memory does not move.
    let before = peak_kib();
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        for config in [Config::default(), read_only()] {
            let err = open_with(&path, Credential::password("pw"), config).unwrap_err();
            assert!(
                matches!(err, Error::KdfLimitExceeded { cost, limit }
                    if limit == KdfParams::sensitive().cost() && cost > limit),
                "{what}: {err:?}"
            );
            if let Some(grew) = grew_since(before) {
                assert!(grew < 64 << 10, "{what}: peak RSS grew by {grew} KiB");
            }
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{what}: file untouched"
        );
    }
    // The control: a KDF that does run, over 128 MiB, moves the peak by about that much.
    if let Some(before) = peak_kib() {
        let mut out = [0u8; 32];
        (KdfParams::argon2id(128 << 10, 1, 1))
            .stretch(b"pw", &[1; 16], KdfLimit::default(), &mut out)
            .unwrap();
        let grew = grew_since(Some(before)).unwrap_or(0);
        assert!(
            grew > 96 << 10,
            "a 128 MiB KDF grew the peak by {grew} KiB only"
        );
    }
}

/// The default limit admits `KdfParams::sensitive()` (a header asking for it reaches the
/// credential check) and nothing costlier.
#[test]
fn the_default_limit_admits_the_sensitive_preset_and_nothing_costlier() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    let good = password_store(&path, TINY);
    // A raw key runs no KDF: the header's cost is checked all the same, first.
    std::fs::write(&path, forge(&good, 1, 1 << 20, 4, 1)).unwrap();
    let err = open_with(&path, Credential::key(KEY), read_only()).unwrap_err();
    assert!(matches!(err, Error::WrongPassword), "{err:?}");
    for (m, t) in [(1 << 20, 5), ((1 << 20) - 1024, 5)] {
        std::fs::write(&path, forge(&good, 1, m, t, 1)).unwrap();
        let err = open_with(&path, Credential::key(KEY), read_only()).unwrap_err();
        assert!(
            matches!(err, Error::KdfLimitExceeded { .. }),
            "m={m} t={t}: {err:?}"
        );
    }
    assert_eq!(KdfLimit::default(), KdfLimit::of(KdfParams::sensitive()));
}

/// `Config::kdf_limit` lowers or raises the limit; new keys keep within it too, so that
/// the configuration that wrote a store reopens it.
#[test]
fn the_kdf_limit_is_set_in_config_for_opens_and_new_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    let kdf = KdfParams::argon2id(64, 2, 1);
    assert_eq!(kdf.cost(), 128);
    password_store(&path, kdf);
    let limit = |n| Config {
        kdf_limit: KdfLimit::kib_passes(n),
        kdf,
        ..Default::default()
    };
    let db = open_with(&path, Credential::password("pw"), limit(128)).unwrap();
    assert_eq!(db.get::<u32>("k").unwrap(), Some(1));
    // A rekey to a costlier KDF is refused by this handle's limit, and changes nothing.
    let err = db
        .rekey_with(Credential::password("pw2"), KdfParams::argon2id(64, 3, 1))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::KdfLimitExceeded {
                cost: 192,
                limit: 128
            }
        ),
        "{err:?}"
    );
    drop(db);
    let err = open_with(&path, Credential::password("pw"), limit(127)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::KdfLimitExceeded {
                cost: 128,
                limit: 127
            }
        ),
        "{err:?}"
    );
    // Creating with parameters above the limit is refused before anything is written.
    let other = dir.path().join("t.kv");
    let err = MicroKV::create_new_with(&other, Credential::password("pw"), limit(127)).unwrap_err();
    assert!(matches!(err, Error::KdfLimitExceeded { .. }), "{err:?}");
    assert!(!other.exists());
    // Raising it opens what the default refuses (made here with a tiny cost to stay fast).
    let raised = Config {
        kdf_limit: KdfLimit::bounds_only(),
        ..Default::default()
    };
    open_with(&path, Credential::password("pw"), raised).unwrap();
}

/// scrypt bounds: the 1 GiB bound counts bytes, as FORMAT.md says (1 GiB + 256 bytes is
/// refused), and new keys keep `log2(N) < 16·r`, which OpenSSL, hashlib and libsodium
/// require; files outside that range are still read (see the core's unit tests).
#[test]
fn scrypt_bounds_are_exact_and_new_keys_stay_interoperable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    let good = password_store(&path, TINY);
    // 128 · 2 · 2^22 = 1 GiB for V, plus 128 · 2 · 1 for B.
    std::fs::write(&path, forge(&good, 2, 22, 2, 1)).unwrap();
    let err = open_with(&path, Credential::password("pw"), read_only()).unwrap_err();
    assert!(matches!(err, Error::InvalidKdfParams(_)), "{err:?}");

    let create = |kdf: KdfParams| {
        let config = Config {
            kdf,
            ..Default::default()
        };
        MicroKV::in_memory_with(Credential::password("pw"), config)
    };
    for kdf in [KdfParams::scrypt(16, 1, 1), KdfParams::scrypt(22, 2, 1)] {
        let err = create(kdf).unwrap_err();
        assert!(
            matches!(err, Error::InvalidKdfParams(_)),
            "{kdf:?}: {err:?}"
        );
    }
    create(KdfParams::scrypt(15, 1, 1)).unwrap();
    create(KdfParams::scrypt(10, 2, 1)).unwrap();
}

/// The attack of issue 13: a store file or journal grown to 2 GiB of holes was read whole
/// (4.2 GB of peak RSS), and the journal opened without complaint. Both are refused now
/// from the file's length, before any byte of them is read, by writable and read-only
/// opens; the files are left as they were.
#[test]
fn two_gib_of_holes_never_reach_memory() {
    const HOLES: u64 = 2 << 30;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.kv");
    let config = Config {
        autosave: AutoSave::OnEveryWrite,
        lock_mode: LockMode::Exclusive,
        ..Default::default()
    };
    let db = MicroKV::create_new_with(&path, Credential::key(KEY), config.clone()).unwrap();
    db.put("k", &1u32).unwrap();
    db.put("k", &2u32).unwrap();
    drop(db);
    let journal = dir.path().join("s.kv.journal");
    assert!(std::fs::metadata(&journal).unwrap().len() > 0);
    let before = peak_kib();

    let grown = |file: &Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(file)
            .unwrap()
            .set_len(HOLES)
            .unwrap()
    };
    for (file, max) in [(&journal, MAX_JOURNAL_LEN), (&path, MAX_STORE_LEN)] {
        grown(file);
        for config in [config.clone(), read_only()] {
            let err = open_with(&path, Credential::key(KEY), config).unwrap_err();
            assert!(
                matches!(err, Error::TooLarge { len, max: m } if len == HOLES && m == max),
                "{}: {err:?}",
                file.display()
            );
        }
        assert_eq!(std::fs::metadata(file).unwrap().len(), HOLES);
    }
    if let Some(grew) = grew_since(before) {
        eprintln!("peak RSS grew by {grew} KiB over four opens of 2 GiB sparse files");
        assert!(grew < 64 << 10, "peak RSS grew by {grew} KiB");
    }
}
