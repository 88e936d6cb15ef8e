//! `from_v03`'s parsing and verifier checks on hand-made files.
use super::*;
use crate::MAX_KDF_PARALLELISM;
use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, Nonce};

/// Refused by the hard bounds: with no limit at all (`bounds_only`).
fn refused(kdf: Kdf03) -> bool {
    let password = LegacyCredential::Password("pw");
    matches!(
        derive(&kdf, &[7; 16], &password, KdfLimit::bounds_only()),
        Err(Error::InvalidKdfParams(_))
    )
}

/// `plain` sealed as a 0.3 verifier under `key`.
fn seal(key: [u8; 32], kdf: &Kdf03, salt: &[u8], plain: &[u8]) -> Sealed03 {
    let cipher = ChaCha20Poly1305::new_from_slice(&key).unwrap();
    let aad = messagepack_serde::to_vec(&(kdf, salt)).unwrap();
    let mut sealed = plain.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from([5; 12]), &aad, InOutBuf::from(&mut sealed[..]))
        .unwrap();
    sealed.extend_from_slice(&tag);
    (vec![5; 12], sealed)
}

fn check(key: [u8; 32], kdf: &Kdf03, salt: &[u8], verifier: &Sealed03) -> Result<()> {
    let verifier = verifier_shape(verifier)?;
    verify(&key, kdf, salt, verifier)
}

#[test]
fn a_verifier_of_another_shape_or_value_is_corrupt() {
    let kdf = Kdf03::Scrypt(10, 8, 1);
    for (nonce, sealed) in [(11, 33), (13, 33), (0, 0), (12, 32), (12, 34), (12, 16)] {
        let verifier = (vec![0; nonce], vec![0; sealed]);
        let err = check([3; 32], &kdf, &[7; 16], &verifier).unwrap_err();
        assert!(
            matches!(err, Error::CorruptStore(_)),
            "{nonce} {sealed}: {err:?}"
        );
    }
    // Sealed under the right key, but not 0.3's constant.
    let other = seal([3; 32], &kdf, &[7; 16], b"microkv/verify/v4");
    let err = check([3; 32], &kdf, &[7; 16], &other).unwrap_err();
    assert!(matches!(err, Error::CorruptStore(_)), "{err:?}");
    // Control: 0.3's constant opens under its key only, and with its KDF and salt only.
    let right = seal([3; 32], &kdf, &[7; 16], VERIFIER);
    check([3; 32], &kdf, &[7; 16], &right).unwrap();
    for err in [
        check([4; 32], &kdf, &[7; 16], &right),
        check([3; 32], &kdf, &[8; 16], &right),
        check([3; 32], &Kdf03::Scrypt(11, 8, 1), &[7; 16], &right),
        check([3; 32], &Kdf03::Argon2id(10, 8, 1), &[7; 16], &right),
    ] {
        assert!(matches!(err, Err(Error::WrongPassword)), "{err:?}");
    }
}

#[test]
fn scrypt_memory_past_the_bound_is_refused_before_it_is_allocated() {
    // Control: the scrypt crate itself accepts these, and would try to allocate
    // 128 TiB, 512 GiB and 16 GiB (an abort, not an error).
    for (log_n, r, p) in [(40, 1, 1), (31, 2, 1), (0, 1 << 23, 16)] {
        assert!(scrypt::Params::new(log_n, r, p).is_ok());
        assert!(refused(Kdf03::Scrypt(log_n, r, p)), "{log_n} {r} {p}");
    }
    // 1 GiB + 128 B: just past the bound; no r = 0 and no lanes past the maximum.
    assert!(refused(Kdf03::Scrypt(23, 1, 1)));
    assert!(refused(Kdf03::Scrypt(10, 0, 1)));
    assert!(refused(Kdf03::Scrypt(10, 8, MAX_KDF_PARALLELISM + 1)));
    // Within the bound, it derives.
    let key = derive(
        &Kdf03::Scrypt(10, 8, 1),
        &[7; 16],
        &LegacyCredential::Password("pw"),
        KdfLimit::bounds_only(),
    );
    assert_ne!(*key.unwrap(), [0; 32]);
}

#[test]
fn a_decoded_value_has_its_numbers_and_booleans_wiped() {
    // `[[1, -2, 1.5], {true: 7}, "s"]`: numbers and booleans inside an array and a map,
    // which the decoder copies into `Vec`s on the ordinary heap.
    let bytes =
        messagepack_serde::to_vec(&((1u8, -2i8, 1.5f64), BTreeMap::from([(true, 7u8)]), "s"))
            .unwrap();
    let mut value: ValueRef<'_> = messagepack_serde::from_slice(&bytes).unwrap();
    // Control: the secrets are there before the wipe.
    let before = format!("{value:?}");
    assert!(before.contains("PositiveInt(1)") && before.contains("NegativeInt(-2)"));
    assert!(before.contains("Float(1.5)") && before.contains("Bool(true)"));
    wipe(&mut value);
    let ValueRef::Array(items) = &value else {
        panic!("{value:?}")
    };
    let [ValueRef::Array(tuple), ValueRef::Map(map), ValueRef::String("s")] = &items[..] else {
        panic!("{value:?}")
    };
    assert!(matches!(
        &tuple[..],
        [
            ValueRef::Number(Number::PositiveInt(0)),
            ValueRef::Number(Number::NegativeInt(0)),
            ValueRef::Number(Number::Float(f)),
        ] if *f == 0.0
    ));
    assert!(matches!(
        &map[..],
        [(
            ValueRef::Bool(false),
            ValueRef::Number(Number::PositiveInt(0))
        )]
    ));
}

#[test]
fn a_file_past_the_bound_is_corrupt_and_a_missing_one_is_io() {
    let dir = tempfile::tempdir().unwrap();
    let into = MicroKV::in_memory(crate::Credential::key([1; 32])).unwrap();
    let big = dir.path().join("big.kv");
    // Sparse: its length is checked before anything is read.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(MAX_FILE + 1)
        .unwrap();
    let err = from_v03(&big, LegacyCredential::Password("pw"), &into).unwrap_err();
    assert!(
        matches!(&err, Error::CorruptStore(why) if why.contains("larger than 1 GiB")),
        "{err:?}"
    );
    let missing = dir.path().join("none.kv");
    let err = from_v03(&missing, LegacyCredential::Password("pw"), &into).unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
}
