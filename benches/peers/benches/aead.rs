//! XChaCha20-Poly1305 implementations, per message, on default build flags: key setup,
//! seal or open, 64 B to 4 KiB. `cargo bench --bench aead` in benches/peers.
#[macro_use]
#[path = "support/aead.rs"]
mod support;
use support::{open_rc11, seal_rc11, OpenFn, SealFn, AAD, KEY, NONCE};

in_place_detached!(seal_rc10, open_rc10, chacha20poly1305_v10, KeyInit);

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

aead_main!(IMPLS);
