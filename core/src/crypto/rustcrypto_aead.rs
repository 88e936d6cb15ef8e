//! ChaCha20-Poly1305 by RustCrypto's `chacha20poly1305` (SIMD where the CPU has it): the
//! implementation of builds without ring (`no_std`, other targets, or the `rustcrypto`
//! feature alone).
#![forbid(unsafe_code)]

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, Nonce};

use super::aead::Aead;
use super::{IetfNonce, Tag};
use crate::error::{Error, Result};

/// ChaCha20-Poly1305 by RustCrypto.
pub(crate) struct RustCrypto;

/// The cipher wipes its copy of the key as it drops (the `zeroize` feature).
fn cipher(key: &[u8]) -> Result<ChaCha20Poly1305> {
    ChaCha20Poly1305::new_from_slice(key).map_err(|_| Error::Crypto)
}

impl Aead for RustCrypto {
    #[inline(never)]
    fn seal_in_place(key: &[u8], nonce: &IetfNonce, aad: &[u8], buf: &mut [u8]) -> Result<Tag> {
        let tag = cipher(key)?
            .encrypt_inout_detached(&Nonce::from(*nonce), aad, InOutBuf::from(buf))
            .map_err(|_| Error::Crypto)?;
        Ok(tag.into())
    }

    #[inline(never)]
    fn open_in_place(
        key: &[u8],
        nonce: &IetfNonce,
        aad: &[u8],
        buf: &mut [u8],
        tag: &Tag,
    ) -> Result<()> {
        cipher(key)?
            .decrypt_inout_detached(
                &Nonce::from(*nonce),
                aad,
                InOutBuf::from(buf),
                &(*tag).into(),
            )
            .map_err(|_| Error::Crypto)
    }
}
