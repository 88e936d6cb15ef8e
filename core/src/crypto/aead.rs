//! ChaCha20-Poly1305 (RFC 8439): the one implementation of this build, [`Chosen`], and
//! the small interface every implementation has, [`Aead`].
//!
//! The implementation is chosen at compile time by Cargo feature and target, never per
//! call (as rustls picks one crypto provider per build):
//!
//! - ring's ([`super::ring_aead`], BoringSSL's assembly) with the `ring` feature (a
//!   default, and always on under `microkv`) on x86_64 and aarch64: 2-3x the portable
//!   implementations at every length measured, 64 B to 4 KiB (BENCHMARKS.md, "AEAD").
//! - RustCrypto's `chacha20poly1305` ([`super::rustcrypto_aead`]) everywhere else: without
//!   the `ring` feature (`no_std` builds, with `rustcrypto`), on every other target, and in
//!   a build that forces it with `--cfg microkv_aead="rustcrypto"` (which also keeps ring
//!   out of its dependency tree).
//!
//! Both produce identical bytes (crypto/tests.rs checks each against a published test
//! vector and against each other).
#![forbid(unsafe_code)]

use super::{IetfNonce, Tag, TAG_LEN};
use crate::error::{Error, Result};

/// The ChaCha20-Poly1305 implementation of this build.
#[cfg(all(
    feature = "ring",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(microkv_aead = "rustcrypto")
))]
pub(super) use super::ring_aead::Ring as Chosen;

/// The ChaCha20-Poly1305 implementation of this build.
#[cfg(not(all(
    feature = "ring",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(microkv_aead = "rustcrypto")
)))]
pub(super) use super::rustcrypto_aead::RustCrypto as Chosen;

#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(microkv_aead = "rustcrypto"),
    not(feature = "ring"),
    not(feature = "rustcrypto")
))]
compile_error!(
    "microkv-core needs a ChaCha20-Poly1305: enable its `ring` feature (a default) or `rustcrypto`"
);

/// One ChaCha20-Poly1305 implementation: in place, the tag apart (as RustCrypto's `aead`
/// requires only its in-place detached methods and provides the rest). `key` is the
/// 32-byte ChaCha20 key, `nonce` the 12-byte IETF nonce.
///
/// Implementations mark both required functions `#[inline(never)]`: their frames, where
/// the cipher state lives, must lie below the keyring's, inside the stack area
/// `scrub_stack` wipes.
pub(super) trait Aead {
    /// Encrypts `buf` in place and returns the tag.
    fn seal_in_place(key: &[u8], nonce: &IetfNonce, aad: &[u8], buf: &mut [u8]) -> Result<Tag>;

    /// Verifies `buf` against `tag`, then decrypts it in place.
    fn open_in_place(
        key: &[u8],
        nonce: &IetfNonce,
        aad: &[u8],
        buf: &mut [u8],
        tag: &Tag,
    ) -> Result<()>;

    /// Seals `plaintext` into `out` (`plaintext.len() + TAG_LEN` bytes): `ciphertext ||
    /// tag`. The plaintext is copied into `out` and encrypted there, so `out` must be
    /// memory that may hold it for the call (the key wrap's stack buffer); on failure `out`
    /// is wiped.
    fn seal(
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
        body.copy_from_slice(plaintext);
        match Self::seal_in_place(key, nonce, aad, body) {
            Ok(tag) => {
                tag_out.copy_from_slice(&tag);
                Ok(())
            }
            Err(e) => {
                zeroize::Zeroize::zeroize(out);
                Err(e)
            }
        }
    }

    /// Verifies `sealed` (`ciphertext || tag`), then decrypts it into `out`. The
    /// ciphertext is copied into `out` (it is not secret; `out` is where the plaintext is
    /// meant to be) and opened there; on failure `out` is wiped.
    fn open(
        key: &[u8],
        nonce: &IetfNonce,
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
        out.copy_from_slice(body);
        let result = Self::open_in_place(key, nonce, aad, out, &tag);
        if result.is_err() {
            zeroize::Zeroize::zeroize(out);
        }
        result
    }
}
