//! chacha20poly1305 0.9 with its `force-soft` Cargo feature (scalar ChaCha20 and
//! Poly1305), against 0.11 in the same process. `cargo bench` in this package.
#[macro_use]
#[path = "../../benches/support/aead.rs"]
mod support;
use support::{open_rc11, seal_rc11, OpenFn, SealFn, AAD, KEY, NONCE};

in_place_detached!(seal_rc09soft, open_rc09soft, chacha20poly1305_v09, NewAead);

const IMPLS: [(&str, SealFn, OpenFn); 2] = [
    ("rustcrypto-0.11", seal_rc11, open_rc11),
    ("rustcrypto-0.9-force-soft", seal_rc09soft, open_rc09soft),
];

aead_main!(IMPLS);
