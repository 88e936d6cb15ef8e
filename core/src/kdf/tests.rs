//! Unit tests of [`super`]: bounds, costs, limits and the stretch.

use super::*;
use crate::arena::{HeapPages, MemoryPolicy};

#[test]
fn scrypt_past_16_r_is_refused_for_new_keys_and_still_read() {
    let legacy = KdfParams::scrypt(16, 1, 1);
    assert!(matches!(
        legacy.check_new(),
        Err(Error::InvalidKdfParams(_))
    ));
    KdfParams::scrypt(15, 1, 1).check_new().unwrap();
    // A file made with it (by an older build) still opens: reading runs `check`.
    legacy.check().unwrap();
    let arena = Arena::new(Arc::new(HeapPages), MemoryPolicy::BestEffort);
    let root = derive_root(
        &arena,
        &Credential::password("pw"),
        Some(&legacy),
        &[7; 16],
        KdfLimit::default(),
    );
    assert_eq!(root.unwrap().len(), 32);
}

#[test]
fn the_scrypt_memory_bound_counts_bytes() {
    // 128 · r · 2^log_n + 128 · r · p, against exactly 2^30 bytes.
    assert!(KdfParams::scrypt(22, 2, 1).check().is_err()); // 1 GiB + 256 B
    assert!(KdfParams::scrypt(22, 1, 1).check().is_ok()); // 512 MiB + 128 B
    assert!(KdfParams::scrypt(21, 4, 1).check().is_err()); // 1 GiB + 512 B
}

#[test]
fn costs_are_kib_times_passes() {
    assert_eq!(KdfParams::argon2id(1 << 20, 64, 16).cost(), 1 << 26);
    assert_eq!(KdfParams::scrypt(20, 8, 1).cost(), 1 << 21);
    assert_eq!(KdfParams::scrypt(20, 8, 3).cost(), 3 << 21);
    assert_eq!(KdfParams::scrypt(255, u32::MAX, 16).cost(), u64::MAX);
    let limit = KdfLimit::default();
    limit.admit(&KdfParams::sensitive()).unwrap();
    assert!(limit.admit(&KdfParams::argon2id(1 << 20, 5, 1)).is_err());
    KdfLimit::bounds_only()
        .admit(&KdfParams::argon2id(
            MAX_KDF_MEMORY_KIB,
            MAX_ARGON2_PASSES,
            16,
        ))
        .unwrap();
}

#[test]
fn stretch_gives_the_rfc_7914_scrypt_vector() {
    // RFC 7914, section 12, second vector (64 bytes; PBKDF2's first 32 do not depend on
    // the output length).
    let mut out = [0u8; 32];
    KdfParams::scrypt(10, 8, 16)
        .stretch(b"password", b"NaCl", KdfLimit::default(), &mut out)
        .unwrap();
    let want = [
        0xfd, 0xba, 0xbe, 0x1c, 0x9d, 0x34, 0x72, 0x00, 0x78, 0x56, 0xe7, 0x19, 0x0d, 0x01, 0xe9,
        0xfe, 0x7c, 0x6a, 0xd7, 0xcb, 0xc8, 0x23, 0x78, 0x30, 0xe7, 0x73, 0x76, 0x63, 0x4b, 0x37,
        0x31, 0x62,
    ];
    assert_eq!(out, want);
}

#[test]
fn stretch_checks_the_bounds_then_the_limit_before_the_kdf_runs() {
    let mut out = [9u8; 32];
    // 128 TiB of scrypt memory: past the bounds even with no limit (the scrypt crate
    // itself accepts it, and would abort the process allocating it).
    assert!(scrypt::Params::new(40, 1, 1).is_ok());
    let err = KdfParams::scrypt(40, 1, 1)
        .stretch(b"pw", &[7; 16], KdfLimit::bounds_only(), &mut out)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidKdfParams(_)), "{err:?}");
    // Within the bounds (1 GiB x 64 passes, about a minute), past the limit.
    let costly = KdfParams::argon2id(MAX_KDF_MEMORY_KIB, MAX_ARGON2_PASSES, 1);
    let err = costly
        .stretch(b"pw", &[7; 16], KdfLimit::default(), &mut out)
        .unwrap_err();
    let (cost, limit) = (costly.cost(), KdfParams::sensitive().cost());
    assert!(
        matches!(err, Error::KdfLimitExceeded { cost: c, limit: l } if c == cost && l == limit),
        "{err:?}"
    );
    assert_eq!(out, [9; 32], "nothing written");
    // Control: a limit that admits exactly the cost lets the KDF run.
    let cheap = KdfParams::argon2id(64, 1, 1);
    cheap
        .stretch(b"pw", &[7; 16], KdfLimit::of(cheap), &mut out)
        .unwrap();
    assert_ne!(out, [9; 32]);
}
