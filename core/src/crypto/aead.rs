//! ChaCha20-Poly1305 (RFC 8439): three implementations of one small interface, [`Aead`],
//! and the one place that picks between them, [`for_len`].
//!
//! - ring's (BoringSSL's assembly), under `std` on x86_64 and aarch64: 2-3x the others at
//!   every length measured, 64 B to 4 KiB. It works only in place, so it does not take
//!   [`Aead::seal`] (see [`Ring`]).
//! - Portable, everywhere else: orion's for messages up to [`SHORT_MAX`] bytes,
//!   RustCrypto's `chacha20poly1305` for longer ones. On x86, RustCrypto's poly1305 picks
//!   its AVX2 backend at run time, whose per-message setup makes a 64-byte seal cost about
//!   four times orion's scalar one, while its SIMD pays off on long messages; no Cargo
//!   feature of a current poly1305 selects the scalar backend.
//!
//! All produce identical bytes (crypto/tests.rs checks each against RustCrypto's
//! XChaCha20-Poly1305). BENCHMARKS.md ("AEAD") has the measurements behind the choice.
#![forbid(unsafe_code)]

use chacha20poly1305::Tag;

use super::{IetfNonce, TAG_LEN};
use crate::error::{Error, Result};

/// On the portable path, messages up to this length (plaintext bytes) go through orion;
/// longer ones through RustCrypto. Both sides of the crossover were measured (benches/peers,
/// `aead`).
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
#[cfg(all(feature = "std", any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(super) fn for_len(_plain_len: usize) -> &'static dyn Aead {
    &Ring
}

/// The implementation for a message of `plain_len` plaintext bytes: the only dispatch.
#[cfg(not(all(feature = "std", any(target_arch = "x86_64", target_arch = "aarch64"))))]
pub(super) fn for_len(plain_len: usize) -> &'static dyn Aead {
    portable(plain_len)
}

/// The portable implementation for a message of `plain_len` plaintext bytes.
pub(super) fn portable(plain_len: usize) -> &'static dyn Aead {
    if plain_len <= SHORT_MAX {
        &Orion
    } else {
        &RustCrypto
    }
}

/// ChaCha20-Poly1305 by ring, for every call but [`Aead::seal`].
///
/// ring encrypts and decrypts only in place. Opening into `out` copies the ciphertext
/// there first (it is not secret, and `out` is the arena buffer the plaintext is meant
/// for). Sealing out of place would have to copy the plaintext into `out`, which is
/// ordinary heap (a sealed entry's bytes), and leave it there while ring encrypts it, so
/// [`Aead::seal`] goes to the [`portable`] implementations.
///
/// ring does not wipe its key schedule as it drops: it lives in the frame of these
/// `#[inline(never)]` methods, below the keyring's, where `scrub_stack` wipes it
/// (tests/memory_exposure.rs looks for the key there).
#[cfg(all(feature = "std", any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(super) struct Ring;

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

#[cfg(all(feature = "std", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod by_ring {
    use super::{portable, Aead, Error, IetfNonce, Result, Ring, Tag, TAG_LEN};
    use ring::aead as r;

    fn key(key: &[u8]) -> Result<r::LessSafeKey> {
        let key = r::UnboundKey::new(&r::CHACHA20_POLY1305, key).map_err(|_| Error::Crypto)?;
        Ok(r::LessSafeKey::new(key))
    }

    fn nonce(nonce: &IetfNonce) -> r::Nonce {
        r::Nonce::assume_unique_for_key(*nonce)
    }

    impl Aead for Ring {
        #[inline(never)]
        fn seal(
            &self,
            key: &[u8],
            nonce: &IetfNonce,
            aad: &[u8],
            plaintext: &[u8],
            out: &mut [u8],
        ) -> Result<()> {
            portable(plaintext.len()).seal(key, nonce, aad, plaintext, out)
        }

        #[inline(never)]
        fn seal_in_place(
            &self,
            k: &[u8],
            n: &IetfNonce,
            aad: &[u8],
            buf: &mut [u8],
        ) -> Result<Tag> {
            let tag = key(k)?
                .seal_in_place_separate_tag(nonce(n), r::Aad::from(aad), buf)
                .map_err(|_| Error::Crypto)?;
            Tag::try_from(tag.as_ref()).map_err(|_| Error::Crypto)
        }

        #[inline(never)]
        fn open(
            &self,
            k: &[u8],
            n: &IetfNonce,
            aad: &[u8],
            sealed: &[u8],
            out: &mut [u8],
        ) -> Result<()> {
            let len = sealed.len().checked_sub(TAG_LEN).ok_or(Error::Crypto)?;
            if out.len() != len {
                return Err(Error::Crypto);
            }
            let (body, tag) = sealed.split_at(len);
            let tag = Tag::try_from(tag).map_err(|_| Error::Crypto)?;
            // The ciphertext is not secret; `out` is where the plaintext is meant to be.
            out.copy_from_slice(body);
            self.open_in_place(k, n, aad, out, &tag)
        }

        #[inline(never)]
        fn open_in_place(
            &self,
            k: &[u8],
            n: &IetfNonce,
            aad: &[u8],
            buf: &mut [u8],
            tag: &Tag,
        ) -> Result<()> {
            let tag = r::Tag::try_from(tag.as_slice()).map_err(|_| Error::Crypto)?;
            key(k)?
                .open_in_place_separate_tag(nonce(n), r::Aad::from(aad), tag, buf, 0..)
                .map(|_| ())
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
