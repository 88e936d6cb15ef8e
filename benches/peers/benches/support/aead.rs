//! What the AEAD benches share (benches/aead.rs, and legacy-aead's bench through
//! `#[path]`): the message, RustCrypto 0.11 as the reference, the check that every
//! implementation produces its bytes, and the criterion loop.
use criterion::{BenchmarkId, Criterion};
use std::hint::black_box;

pub const KEY: [u8; 32] = [7; 32];
pub const NONCE: [u8; 24] = [9; 24];
pub const AAD: &[u8] = b"\x01\x00\x00\x00\x00session:1234";
const LENS: [usize; 4] = [64, 256, 1024, 4096];

/// Seals the plaintext into `out` (`plaintext.len() + 16`: ciphertext then tag).
pub type SealFn = fn(&[u8], &mut [u8]);
/// Opens `ciphertext || tag` into `out`; whether it was authentic.
pub type OpenFn = fn(&[u8], &mut [u8]) -> bool;

/// RustCrypto chacha20poly1305 0.11, the reference.
pub fn seal_rc11(pt: &[u8], out: &mut [u8]) {
    use chacha20poly1305::aead::inout::InOutBuf;
    use chacha20poly1305::{AeadInOut, KeyInit, XChaCha20Poly1305, XNonce};
    let (body, tag_out) = out.split_at_mut(pt.len());
    let c = XChaCha20Poly1305::new_from_slice(&KEY).unwrap();
    let buf = InOutBuf::new(pt, body).unwrap();
    let tag = c
        .encrypt_inout_detached(&XNonce::from(NONCE), AAD, buf)
        .unwrap();
    tag_out.copy_from_slice(&tag);
}

pub fn open_rc11(ct: &[u8], out: &mut [u8]) -> bool {
    use chacha20poly1305::aead::inout::InOutBuf;
    use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};
    let (body, tag) = ct.split_at(ct.len() - 16);
    let c = XChaCha20Poly1305::new_from_slice(&KEY).unwrap();
    let buf = InOutBuf::new(body, out).unwrap();
    c.decrypt_inout_detached(&XNonce::from(NONCE), AAD, buf, &Tag::try_from(tag).unwrap())
        .is_ok()
}

/// `seal` and `open` ([`SealFn`], [`OpenFn`]) by a chacha20poly1305 release before 0.11,
/// `$krate` (a renamed dependency), through its in-place detached API (`aead` 0.4's and
/// 0.5's `AeadInPlace`; `$init` names the trait with `new_from_slice`: `NewAead` in 0.9,
/// `KeyInit` in 0.10).
macro_rules! in_place_detached {
    ($seal:ident, $open:ident, $krate:ident, $init:ident) => {
        fn $seal(pt: &[u8], out: &mut [u8]) {
            use $krate::aead::{$init, AeadInPlace};
            use $krate::{XChaCha20Poly1305, XNonce};
            let (body, tag_out) = out.split_at_mut(pt.len());
            body.copy_from_slice(pt);
            let c = XChaCha20Poly1305::new_from_slice(&KEY).unwrap();
            let tag = c
                .encrypt_in_place_detached(XNonce::from_slice(&NONCE), AAD, body)
                .unwrap();
            tag_out.copy_from_slice(&tag);
        }
        fn $open(ct: &[u8], out: &mut [u8]) -> bool {
            use $krate::aead::{$init, AeadInPlace};
            use $krate::{Tag, XChaCha20Poly1305, XNonce};
            let (body, tag) = ct.split_at(ct.len() - 16);
            out.copy_from_slice(body);
            let c = XChaCha20Poly1305::new_from_slice(&KEY).unwrap();
            c.decrypt_in_place_detached(XNonce::from_slice(&NONCE), AAD, out, Tag::from_slice(tag))
                .is_ok()
        }
    };
}

/// The bench's `main`: [`bench`] over the table `$impls`.
macro_rules! aead_main {
    ($impls:expr) => {
        fn aead(c: &mut criterion::Criterion) {
            support::bench(c, &$impls);
        }
        criterion::criterion_group!(benches, aead);
        criterion::criterion_main!(benches);
    };
}

/// A plaintext of `len` bytes and its reference sealing.
fn message(len: usize) -> (Vec<u8>, Vec<u8>) {
    let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let mut sealed = vec![0u8; len + 16];
    seal_rc11(&pt, &mut sealed);
    (pt, sealed)
}

/// Checks that every implementation seals to the reference's bytes and opens them, then
/// benches each one's seal and open at every length, in the criterion group "aead".
pub fn bench(c: &mut Criterion, impls: &[(&str, SealFn, OpenFn)]) {
    for len in LENS {
        let (pt, reference) = message(len);
        for (name, seal, open) in impls {
            let mut out = vec![0u8; len + 16];
            seal(&pt, &mut out);
            assert_eq!(out, reference, "{name} seal differs at {len}");
            let mut back = vec![0u8; len];
            assert!(open(&reference, &mut back), "{name} open failed at {len}");
            assert_eq!(back, pt);
        }
    }
    let mut g = c.benchmark_group("aead");
    for len in LENS {
        let (pt, sealed) = message(len);
        for (name, seal, open) in impls {
            let mut out = vec![0u8; len + 16];
            g.bench_with_input(
                BenchmarkId::new(format!("seal/{name}"), len),
                &pt,
                |b, pt| b.iter(|| seal(black_box(pt), black_box(&mut out))),
            );
            let mut back = vec![0u8; len];
            g.bench_with_input(
                BenchmarkId::new(format!("open/{name}"), len),
                &sealed,
                |b, ct| b.iter(|| open(black_box(ct), black_box(&mut back))),
            );
        }
    }
    g.finish();
}
