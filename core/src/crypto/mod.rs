//! Sealing and opening with XChaCha20-Poly1305: this build's ChaCha20-Poly1305
//! implementation ([`aead`]: ring's or RustCrypto's, each in a file of its own), the
//! data-key ring ([`Keyring`]) and the key schedule ([`KeySchedule`]).
//!
//! Nonces are `prefix(16 random bytes, drawn per keyring) || counter(u64 LE)`: unique for
//! every message a keyring seals, with no per-message system call, and unique across
//! keyrings sharing a data key (each reopen draws a new prefix) with probability
//! 1 - 2^-128 per pair. The prefix lives in the arena beside the key. A keyring works only in
//! the process its arena was made in: in a child forked from it every operation refuses to run
//! ([`Error::Forked`]): the child would draw the parent's next nonces, and two messages
//! under one nonce give away their XOR. This holds whatever the page source did.
//!
//! XChaCha20-Poly1305 is ChaCha20-Poly1305 (RFC 8439) under a subkey: HChaCha20 of the
//! key and the nonce's first 16 bytes, with four zero bytes and the nonce's last 8 bytes
//! as the 12-byte nonce (draft-irtf-cfrg-xchacha-03, section 2.3). Every nonce a keyring
//! draws starts with its prefix, so the keyring derives that subkey once, keeps it in the
//! arena beside the key, and spends no HChaCha20 on its own messages; a message under
//! another prefix (written by an earlier session) gets its subkey derived for the call.
#![forbid(unsafe_code)]

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

mod aead;
mod keyring;
#[cfg(all(
    feature = "ring",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(microkv_aead = "rustcrypto")
))]
mod ring_aead;
// Also in ring builds' tests, which check the two implementations against each other (the
// crate is a dev-dependency).
#[cfg(any(
    test,
    not(all(
        feature = "ring",
        any(target_arch = "x86_64", target_arch = "aarch64"),
        not(microkv_aead = "rustcrypto")
    ))
))]
mod rustcrypto_aead;
mod schedule;
mod scrub;
#[cfg(test)]
mod tests;

pub(crate) use keyring::Keyring;
pub(crate) use schedule::{KeySchedule, WRAPPED_LEN};
pub(crate) use scrub::{scrub_stack, scrubbed};

/// Runs `f` on a stack of its own, wiped whole after (`arena::stack`): the KDF, the key
/// schedule, the key wrap and a keyring's subkey derivation, whose frames in an
/// unoptimised build run deeper than any scrub would reach.
pub(crate) fn on_own_stack<R>(f: impl FnOnce() -> R) -> R {
    crate::arena::stack::on_own_stack(f)
}

/// Length of a data key, a key-encryption key, and a key commitment.
pub(crate) const KEY_LEN: usize = 32;
/// Length of an XChaCha20 nonce.
pub(crate) const NONCE_LEN: usize = 24;
/// Length of a Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;
/// Bytes a sealed message adds to its plaintext: the nonce in front, the tag behind.
pub(crate) const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// The part of an XChaCha20 nonce that goes into HChaCha20 (and the keyring's prefix).
const PREFIX_LEN: usize = 16;

/// The 12-byte ChaCha20-Poly1305 nonce of an XChaCha20-Poly1305 message.
type IetfNonce = [u8; 12];

/// An XChaCha20-Poly1305 nonce.
pub(crate) type XNonce = [u8; NONCE_LEN];

/// A Poly1305 tag.
type Tag = [u8; TAG_LEN];

/// Writes XChaCha20's subkey for `key` and a nonce's first 16 bytes into `out`.
fn hchacha(key: &[u8], prefix: &[u8], out: &mut [u8]) -> Result<()> {
    use chacha20::cipher::array::Array;
    // The prefix first: once the key is copied, no early return may skip its wipe.
    let input = Array::try_from(prefix).map_err(|_| Error::Crypto)?;
    let mut k: chacha20::Key = Array::try_from(key).map_err(|_| Error::Crypto)?;
    let mut sub = chacha20::hchacha::<chacha20::R20>(&k, &input);
    out.copy_from_slice(&sub);
    sub.as_mut_slice().zeroize();
    k.as_mut_slice().zeroize();
    Ok(())
}

/// The ChaCha20-Poly1305 nonce of an XChaCha20-Poly1305 nonce.
fn ietf_nonce(nonce: &XNonce) -> IetfNonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&nonce[PREFIX_LEN..]);
    n
}

/// Runs `f` with the ChaCha20-Poly1305 key and nonce of an XChaCha20-Poly1305 message
/// under `key`; the derived subkey is wiped after.
fn xchacha<T>(
    key: &[u8],
    nonce: &XNonce,
    f: impl FnOnce(&[u8], &IetfNonce) -> Result<T>,
) -> Result<T> {
    let mut sub = Zeroizing::new([0u8; KEY_LEN]);
    hchacha(key, &nonce[..PREFIX_LEN], &mut sub[..])?;
    f(&sub[..], &ietf_nonce(nonce))
}

/// Verifies and decrypts, in place, a ChaCha20-Poly1305 (RFC 8439) message sealed under
/// `key` and the 12-byte `nonce`, its tag apart, with this build's implementation (the one
/// the store seals with). For formats that were sealed that way: `microkv::migrate` reads
/// microkv 0.3 files through it.
///
/// # Errors
/// `Error::Tampered` if `buf`, `tag`, `aad`, `nonce` or `key` is not what was sealed;
/// `buf` is wiped then.
///
/// # Examples
/// ```
/// use microkv_core::{chacha20poly1305_open_in_place, Error};
/// let mut buf = *b"not sealed";
/// let opened = chacha20poly1305_open_in_place(&[7; 32], &[0; 12], b"", &mut buf, &[0; 16]);
/// assert!(matches!(opened, Err(Error::Tampered)));
/// assert_eq!(buf, [0; 10]);
/// ```
pub fn chacha20poly1305_open_in_place(
    key: &[u8; KEY_LEN],
    nonce: &IetfNonce,
    aad: &[u8],
    buf: &mut [u8],
    tag: &Tag,
) -> Result<()> {
    use aead::{Aead, Chosen};
    let result = Chosen::open_in_place(key, nonce, aad, buf, tag).map_err(|_| Error::Tampered);
    scrub_stack();
    if result.is_err() {
        buf.zeroize();
    }
    result
}

/// Fills `buf` from the operating system's random number generator, straight into `buf`
/// (an arena buffer for a key): no copy of the bytes anywhere else.
///
/// Secret memory exists only on Linux, where the generator is the `getrandom` system call
/// or a `read` of `/dev/urandom`: both copy through the process's own mapping, which works
/// on secret memory (`tests/secret_memory_syscalls.rs` makes the call into it).
pub(crate) fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| Error::Random)
}
