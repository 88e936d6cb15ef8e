//! ChaCha20-Poly1305 by ring (BoringSSL's assembly, selected at run time for the CPU): the
//! implementation of builds with the `ring` feature on x86_64 and aarch64.
//!
//! ring does not wipe its key schedule as it drops: it lives in the frames of these
//! `#[inline(never)]` functions, below the keyring's, where `scrub_stack` wipes it
//! (tests/memory_exposure.rs looks for the key there).
#![forbid(unsafe_code)]

use ring::aead as r;

use super::aead::Aead;
use super::{IetfNonce, Tag};
use crate::error::{Error, Result};

/// ChaCha20-Poly1305 by ring.
pub(crate) struct Ring;

fn key(key: &[u8]) -> Result<r::LessSafeKey> {
    let key = r::UnboundKey::new(&r::CHACHA20_POLY1305, key).map_err(|_| Error::Crypto)?;
    Ok(r::LessSafeKey::new(key))
}

impl Aead for Ring {
    #[inline(never)]
    fn seal_in_place(k: &[u8], n: &IetfNonce, aad: &[u8], buf: &mut [u8]) -> Result<Tag> {
        let tag = key(k)?
            .seal_in_place_separate_tag(r::Nonce::assume_unique_for_key(*n), r::Aad::from(aad), buf)
            .map_err(|_| Error::Crypto)?;
        Tag::try_from(tag.as_ref()).map_err(|_| Error::Crypto)
    }

    #[inline(never)]
    fn open_in_place(k: &[u8], n: &IetfNonce, aad: &[u8], buf: &mut [u8], tag: &Tag) -> Result<()> {
        key(k)?
            .open_in_place_separate_tag(
                r::Nonce::assume_unique_for_key(*n),
                r::Aad::from(aad),
                r::Tag::from(*tag),
                buf,
                0..,
            )
            .map(|_| ())
            .map_err(|_| Error::Crypto)
    }
}
