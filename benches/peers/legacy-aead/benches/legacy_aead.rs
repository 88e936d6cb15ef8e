//! chacha20poly1305 0.9 with its `force-soft` Cargo feature (scalar ChaCha20 and
//! Poly1305), against 0.11 in the same process. `cargo bench` in this package.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;

const KEY: [u8; 32] = [7; 32];
const NONCE: [u8; 24] = [9; 24];
const AAD: &[u8] = b"\x01\x00\x00\x00\x00session:1234";
const LENS: [usize; 4] = [64, 256, 1024, 4096];

type SealFn = fn(&[u8], &mut [u8]);
type OpenFn = fn(&[u8], &mut [u8]) -> bool;

fn seal_rc11(pt: &[u8], out: &mut [u8]) {
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
fn open_rc11(ct: &[u8], out: &mut [u8]) -> bool {
    use chacha20poly1305::aead::inout::InOutBuf;
    use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};
    let (body, tag) = ct.split_at(ct.len() - 16);
    let c = XChaCha20Poly1305::new_from_slice(&KEY).unwrap();
    let buf = InOutBuf::new(body, out).unwrap();
    c.decrypt_inout_detached(&XNonce::from(NONCE), AAD, buf, &Tag::try_from(tag).unwrap())
        .is_ok()
}

fn seal_rc09soft(pt: &[u8], out: &mut [u8]) {
    use chacha20poly1305_v09::aead::{AeadInPlace, NewAead};
    use chacha20poly1305_v09::{Key, XChaCha20Poly1305, XNonce};
    let (body, tag_out) = out.split_at_mut(pt.len());
    body.copy_from_slice(pt);
    let c = XChaCha20Poly1305::new(Key::from_slice(&KEY));
    let tag = c
        .encrypt_in_place_detached(XNonce::from_slice(&NONCE), AAD, body)
        .unwrap();
    tag_out.copy_from_slice(&tag);
}
fn open_rc09soft(ct: &[u8], out: &mut [u8]) -> bool {
    use chacha20poly1305_v09::aead::{AeadInPlace, NewAead};
    use chacha20poly1305_v09::{Key, Tag, XChaCha20Poly1305, XNonce};
    let (body, tag) = ct.split_at(ct.len() - 16);
    out.copy_from_slice(body);
    let c = XChaCha20Poly1305::new(Key::from_slice(&KEY));
    c.decrypt_in_place_detached(XNonce::from_slice(&NONCE), AAD, out, Tag::from_slice(tag))
        .is_ok()
}

const IMPLS: [(&str, SealFn, OpenFn); 2] = [
    ("rustcrypto-0.11", seal_rc11, open_rc11),
    ("rustcrypto-0.9-force-soft", seal_rc09soft, open_rc09soft),
];

fn legacy(c: &mut Criterion) {
    let mut g = c.benchmark_group("aead");
    for len in LENS {
        let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut sealed = vec![0u8; len + 16];
        seal_rc11(&pt, &mut sealed);
        let mut check = vec![0u8; len + 16];
        seal_rc09soft(&pt, &mut check);
        assert_eq!(check, sealed, "0.9 seal differs at {len}");
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

criterion_group!(benches, legacy);
criterion_main!(benches);
