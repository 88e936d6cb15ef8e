//! XChaCha20-Poly1305 implementations, per message, on default build flags: key setup,
//! seal or open, 64 B to 4 KiB. `cargo bench --bench aead` in benches/peers.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;

const KEY: [u8; 32] = [7; 32];
const NONCE: [u8; 24] = [9; 24];
const AAD: &[u8] = b"\x01\x00\x00\x00\x00session:1234";
const LENS: [usize; 4] = [64, 256, 1024, 4096];

type SealFn = fn(&[u8], &mut [u8]);
type OpenFn = fn(&[u8], &mut [u8]) -> bool;

/// `out` is `plaintext.len() + 16`: ciphertext then tag.
fn seal_rc11(pt: &[u8], out: &mut [u8]) {
    use chacha20poly1305::aead::inout::InOutBuf;
    use chacha20poly1305::{AeadInOut, KeyInit, XChaCha20Poly1305, XNonce};
    let (body, tag_out) = out.split_at_mut(pt.len());
    let c = XChaCha20Poly1305::new_from_slice(&KEY).unwrap();
    let buf = InOutBuf::new(pt, body).unwrap();
    let tag = c
        .encrypt_inout_detached(&XNonce::try_from(&NONCE[..]).unwrap(), AAD, buf)
        .unwrap();
    tag_out.copy_from_slice(&tag);
}
fn open_rc11(ct: &[u8], out: &mut [u8]) -> bool {
    use chacha20poly1305::aead::inout::InOutBuf;
    use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};
    let (body, tag) = ct.split_at(ct.len() - 16);
    let c = XChaCha20Poly1305::new_from_slice(&KEY).unwrap();
    let buf = InOutBuf::new(body, out).unwrap();
    c.decrypt_inout_detached(
        &XNonce::try_from(&NONCE[..]).unwrap(),
        AAD,
        buf,
        &Tag::try_from(tag).unwrap(),
    )
    .is_ok()
}

fn seal_rc10(pt: &[u8], out: &mut [u8]) {
    use chacha20poly1305_v10::aead::{AeadInPlace, KeyInit};
    use chacha20poly1305_v10::{XChaCha20Poly1305, XNonce};
    let (body, tag_out) = out.split_at_mut(pt.len());
    body.copy_from_slice(pt);
    let c = XChaCha20Poly1305::new_from_slice(&KEY).unwrap();
    let tag = c
        .encrypt_in_place_detached(XNonce::from_slice(&NONCE), AAD, body)
        .unwrap();
    tag_out.copy_from_slice(&tag);
}
fn open_rc10(ct: &[u8], out: &mut [u8]) -> bool {
    use chacha20poly1305_v10::aead::{AeadInPlace, KeyInit};
    use chacha20poly1305_v10::{Tag, XChaCha20Poly1305, XNonce};
    let (body, tag) = ct.split_at(ct.len() - 16);
    out.copy_from_slice(body);
    let c = XChaCha20Poly1305::new_from_slice(&KEY).unwrap();
    c.decrypt_in_place_detached(XNonce::from_slice(&NONCE), AAD, out, Tag::from_slice(tag))
        .is_ok()
}

fn seal_orion(pt: &[u8], out: &mut [u8]) {
    use orion::hazardous::aead::xchacha20poly1305::{Nonce, SecretKey, XChaCha20Poly1305};
    let sk = SecretKey::try_from(&KEY[..]).unwrap();
    let n = Nonce::try_from(&NONCE[..]).unwrap();
    XChaCha20Poly1305::seal(&sk, &n, pt, Some(AAD), out).unwrap();
}
fn open_orion(ct: &[u8], out: &mut [u8]) -> bool {
    use orion::hazardous::aead::xchacha20poly1305::{Nonce, SecretKey, XChaCha20Poly1305};
    let sk = SecretKey::try_from(&KEY[..]).unwrap();
    let n = Nonce::try_from(&NONCE[..]).unwrap();
    XChaCha20Poly1305::open(&sk, &n, ct, Some(AAD), out).is_ok()
}

fn seal_libcrux(pt: &[u8], out: &mut [u8]) {
    libcrux_chacha20poly1305::xchacha20_poly1305::encrypt(&KEY, pt, out, AAD, &NONCE).unwrap();
}
fn open_libcrux(ct: &[u8], out: &mut [u8]) -> bool {
    libcrux_chacha20poly1305::xchacha20_poly1305::decrypt(&KEY, out, ct, AAD, &NONCE).is_ok()
}

/// XChaCha20-Poly1305 from ring's ChaCha20-Poly1305 (ring has no XChaCha): HChaCha20 by
/// `chacha20`, as the store's keyring does for a nonce of another prefix (for its own
/// prefix it caches the subkey), then ring in place. `out` starts as a copy of the input.
fn ring_parts() -> (ring::aead::LessSafeKey, ring::aead::Nonce) {
    use chacha20::cipher::array::Array;
    let sub = chacha20::hchacha::<chacha20::R20>(
        &Array::from(KEY),
        &Array::try_from(&NONCE[..16]).unwrap(),
    );
    let key = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &sub).unwrap();
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&NONCE[16..]);
    (
        ring::aead::LessSafeKey::new(key),
        ring::aead::Nonce::assume_unique_for_key(n),
    )
}
fn seal_ring(pt: &[u8], out: &mut [u8]) {
    let (key, n) = ring_parts();
    let (body, tag_out) = out.split_at_mut(pt.len());
    body.copy_from_slice(pt);
    let tag = key
        .seal_in_place_separate_tag(n, ring::aead::Aad::from(AAD), body)
        .unwrap();
    tag_out.copy_from_slice(tag.as_ref());
}
fn open_ring(ct: &[u8], out: &mut [u8]) -> bool {
    let (key, n) = ring_parts();
    let (body, tag) = ct.split_at(ct.len() - 16);
    out.copy_from_slice(body);
    let tag = ring::aead::Tag::try_from(tag).unwrap();
    key.open_in_place_separate_tag(n, ring::aead::Aad::from(AAD), tag, out, 0..)
        .is_ok()
}

/// chacha20poly1305 0.9 with its `force-soft` feature cannot join this graph (its
/// universal-hash 0.4 pins subtle < 2.5, which orion cannot build with): it is measured
/// by the `legacy-aead` package beside this one.
const IMPLS: [(&str, SealFn, OpenFn); 5] = [
    ("rustcrypto-0.11", seal_rc11, open_rc11),
    ("rustcrypto-0.10", seal_rc10, open_rc10),
    ("orion-0.18", seal_orion, open_orion),
    ("libcrux-0.0.10", seal_libcrux, open_libcrux),
    ("ring-0.17", seal_ring, open_ring),
];

fn aead(c: &mut Criterion) {
    // Every implementation must produce the same bytes.
    for len in LENS {
        let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut reference = vec![0u8; len + 16];
        seal_rc11(&pt, &mut reference);
        for (name, seal, open) in IMPLS {
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
        let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut sealed = vec![0u8; len + 16];
        seal_rc11(&pt, &mut sealed);
        for (name, seal, open) in IMPLS {
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

criterion_group!(benches, aead);
criterion_main!(benches);
