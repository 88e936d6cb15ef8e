//! ChaCha20-Poly1305 (RFC 8439): two implementations of one small interface, [`Aead`],
//! and the one place that picks between them by message length, [`for_len`].
//!
//! orion's implementation for messages up to [`SHORT_MAX`] bytes, RustCrypto's
//! `chacha20poly1305` for longer ones (identical bytes). On x86, RustCrypto's poly1305
//! picks its AVX2 backend at run time, whose per-message setup makes a 64-byte seal cost
//! about four times orion's scalar one, while its SIMD pays off on long messages; no Cargo
//! feature of a current poly1305 selects the scalar backend. BENCHMARKS.md has the
//! measurements behind the threshold.
#![forbid(unsafe_code)]

use chacha20poly1305::Tag;

use super::{IetfNonce, TAG_LEN};
use crate::error::{Error, Result};

/// Messages up to this length (plaintext bytes) go through orion; longer ones through
/// RustCrypto. Both sides of the crossover were measured (benches/peers, `aead`).
pub(super) const SHORT_MAX: usize = 512;

/// One ChaCha20-Poly1305 implementation: the four shapes of call the keyring makes.
/// `key` is the 32-byte ChaCha20 key, `nonce` the 12-byte IETF nonce. Implementations
/// mark every method `#[inline(never)]`: their frames, where the cipher state lives, must
/// lie below the keyring's, inside the stack area `scrub_stack` wipes.
pub(super) trait Aead: Sync {
    /// `out` (`plaintext.len() + TAG_LEN` bytes) receives `ciphertext || tag`.
    fn seal(
        &self,
        key: &[u8],
        nonce: &IetfNonce,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<()>;
    /// Encrypts `buf` in place and returns the tag.
    fn seal_in_place(
        &self,
        key: &[u8],
        nonce: &IetfNonce,
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<Tag>;
    /// Verifies `sealed` (`ciphertext || tag`), then decrypts it into `out`.
    fn open(
        &self,
        key: &[u8],
        nonce: &IetfNonce,
        aad: &[u8],
        sealed: &[u8],
        out: &mut [u8],
    ) -> Result<()>;
    /// Verifies `buf` against `tag`, then decrypts it in place.
    fn open_in_place(
        &self,
        key: &[u8],
        nonce: &IetfNonce,
        aad: &[u8],
        buf: &mut [u8],
        tag: &Tag,
    ) -> Result<()>;
}

/// The implementation for a message of `plain_len` plaintext bytes: the only dispatch.
pub(super) fn for_len(plain_len: usize) -> &'static dyn Aead {
    if plain_len <= SHORT_MAX {
        &Orion
    } else {
        &RustCrypto
    }
}

/// ChaCha20-Poly1305 by orion: scalar, with a cheap per-message setup.
pub(super) struct Orion;

/// ChaCha20-Poly1305 by RustCrypto: SIMD where the CPU has it, fastest on long messages.
pub(super) struct RustCrypto;

mod by_orion {
    use super::{Aead, Error, IetfNonce, Orion, Result, Tag};
    use orion::hazardous::aead::chacha20poly1305 as c;
    fn key_nonce(key: &[u8], nonce: &IetfNonce) -> Result<(c::SecretKey, c::Nonce)> {
        // `SecretKey` wipes its copy of the key as it drops.
        let sk = c::SecretKey::try_from(key).map_err(|_| Error::Crypto)?;
        Ok((sk, c::Nonce::from(*nonce)))
    }

    impl Aead for Orion {
        #[inline(never)]
        fn seal(
            &self,
            key: &[u8],
            nonce: &IetfNonce,
            aad: &[u8],
            plaintext: &[u8],
            out: &mut [u8],
        ) -> Result<()> {
            let (sk, n) = key_nonce(key, nonce)?;
            c::ChaCha20Poly1305::seal(&sk, &n, plaintext, Some(aad), out).map_err(|_| Error::Crypto)
        }

        #[inline(never)]
        fn seal_in_place(
            &self,
            key: &[u8],
            nonce: &IetfNonce,
            aad: &[u8],
            buf: &mut [u8],
        ) -> Result<Tag> {
            let (sk, n) = key_nonce(key, nonce)?;
            match c::ChaCha20Poly1305::seal_inplace(&sk, &n, Some(aad), buf) {
                Ok(tag) => Tag::try_from(tag.unprotected_as_ref()).map_err(|_| Error::Crypto),
                Err(_) => {
                    zeroize::Zeroize::zeroize(buf);
                    Err(Error::Crypto)
                }
            }
        }

        #[inline(never)]
        fn open(
            &self,
            key: &[u8],
            nonce: &IetfNonce,
            aad: &[u8],
            sealed: &[u8],
            out: &mut [u8],
        ) -> Result<()> {
            let (sk, n) = key_nonce(key, nonce)?;
            c::ChaCha20Poly1305::open(&sk, &n, sealed, Some(aad), out).map_err(|_| Error::Crypto)
        }

        #[inline(never)]
        fn open_in_place(
            &self,
            key: &[u8],
            nonce: &IetfNonce,
            aad: &[u8],
            buf: &mut [u8],
            tag: &Tag,
        ) -> Result<()> {
            let (sk, n) = key_nonce(key, nonce)?;
            let tag = c::Tag::try_from(tag.as_slice()).map_err(|_| Error::Crypto)?;
            c::ChaCha20Poly1305::open_inplace(&sk, &n, &tag, Some(aad), buf)
                .map_err(|_| Error::Crypto)
        }
    }
}

mod by_rustcrypto {
    use super::{Aead, Error, IetfNonce, Result, RustCrypto, Tag, TAG_LEN};
    use chacha20poly1305::aead::inout::InOutBuf;
    use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, Nonce};
    /// The cipher wipes its copy of the key as it drops (the `zeroize` feature).
    fn cipher(key: &[u8]) -> Result<ChaCha20Poly1305> {
        ChaCha20Poly1305::new_from_slice(key).map_err(|_| Error::Crypto)
    }

    impl Aead for RustCrypto {
        #[inline(never)]
        fn seal(
            &self,
            key: &[u8],
            nonce: &IetfNonce,
            aad: &[u8],
            plaintext: &[u8],
            out: &mut [u8],
        ) -> Result<()> {
            if out.len() != plaintext.len() + TAG_LEN {
                return Err(Error::Crypto);
            }
            let (body, tag_out) = out.split_at_mut(plaintext.len());
            let buf = InOutBuf::new(plaintext, body).map_err(|_| Error::Crypto)?;
            let tag = cipher(key)?
                .encrypt_inout_detached(&Nonce::from(*nonce), aad, buf)
                .map_err(|_| Error::Crypto)?;
            tag_out.copy_from_slice(&tag);
            Ok(())
        }

        #[inline(never)]
        fn seal_in_place(
            &self,
            key: &[u8],
            nonce: &IetfNonce,
            aad: &[u8],
            buf: &mut [u8],
        ) -> Result<Tag> {
            cipher(key)?
                .encrypt_inout_detached(&Nonce::from(*nonce), aad, InOutBuf::from(buf))
                .map_err(|_| Error::Crypto)
        }

        #[inline(never)]
        fn open(
            &self,
            key: &[u8],
            nonce: &IetfNonce,
            aad: &[u8],
            sealed: &[u8],
            out: &mut [u8],
        ) -> Result<()> {
            let len = sealed.len().checked_sub(TAG_LEN).ok_or(Error::Crypto)?;
            let (body, tag) = sealed.split_at(len);
            let tag = Tag::try_from(tag).map_err(|_| Error::Crypto)?;
            let buf = InOutBuf::new(body, out).map_err(|_| Error::Crypto)?;
            cipher(key)?
                .decrypt_inout_detached(&Nonce::from(*nonce), aad, buf, &tag)
                .map_err(|_| Error::Crypto)
        }

        #[inline(never)]
        fn open_in_place(
            &self,
            key: &[u8],
            nonce: &IetfNonce,
            aad: &[u8],
            buf: &mut [u8],
            tag: &Tag,
        ) -> Result<()> {
            cipher(key)?
                .decrypt_inout_detached(&Nonce::from(*nonce), aad, InOutBuf::from(buf), tag)
                .map_err(|_| Error::Crypto)
        }
    }
}
