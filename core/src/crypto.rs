//! Sealing and opening with XChaCha20-Poly1305; the data-key ring and key schedule.
//!
//! Nonces are `prefix(16 random bytes, drawn per keyring) || counter(u64 LE)`: unique for
//! every message a keyring seals, with no per-message system call, and unique across
//! keyrings sharing a data key (each reopen draws a new prefix) with probability
//! 1 - 2^-128 per pair. The prefix lives in the arena beside the key; after a fork the
//! child's copy reads as zeros (`MADV_WIPEONFORK`), and every operation refuses to run
//! ([`Error::KeysWiped`]) rather than encrypt under a zeroed key.
//!
//! XChaCha20-Poly1305 is ChaCha20-Poly1305 (RFC 8439) under a subkey: HChaCha20 of the
//! key and the nonce's first 16 bytes, with four zero bytes and the nonce's last 8 bytes
//! as the 12-byte nonce (draft-irtf-cfrg-xchacha-03, section 2.3). Every nonce a keyring
//! draws starts with its prefix, so the keyring derives that subkey once, keeps it in the
//! arena beside the key, and spends no HChaCha20 on its own messages; a message under
//! another prefix (written by an earlier session) gets its subkey derived for the call.
//!
//! Two implementations of ChaCha20-Poly1305 (identical bytes) are chosen by message
//! length: orion's for messages up to [`SHORT_MAX`] bytes, RustCrypto's
//! `chacha20poly1305` for longer ones. On x86, RustCrypto's poly1305 picks its AVX2
//! backend at run time, whose per-message setup makes a 64-byte seal cost about four
//! times orion's scalar one, while its SIMD pays off on long messages; no Cargo feature of
//! a current poly1305 selects the scalar backend. BENCHMARKS.md has the measurements
//! behind the threshold.
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use blake2::{Blake2b512, Digest};
use chacha20poly1305::{Tag, XNonce};
use core::sync::atomic::Ordering;
use zeroize::{Zeroize, Zeroizing};

use crate::arena::{Arena, SecretBuf};
use crate::error::{Error, Result};
use crate::sync::AtomicU64;

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

/// Messages up to this length (plaintext bytes) go through orion; longer ones through
/// RustCrypto. Both sides of the crossover were measured (benches/peers, `aead`).
const SHORT_MAX: usize = 512;

/// ChaCha20-Poly1305 by orion: scalar, with a cheap per-message setup.
mod short {
    use super::{Error, IetfNonce, Result, Tag};
    use orion::hazardous::aead::chacha20poly1305 as c;

    fn key_nonce(key: &[u8], nonce: &IetfNonce) -> Result<(c::SecretKey, c::Nonce)> {
        // `SecretKey` wipes its copy of the key as it drops.
        let sk = c::SecretKey::try_from(key).map_err(|_| Error::Crypto)?;
        Ok((sk, c::Nonce::from(*nonce)))
    }

    /// `out` (`plaintext.len() + TAG_LEN` bytes) receives `ciphertext || tag`.
    pub(super) fn seal(
        key: &[u8],
        nonce: &IetfNonce,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let (sk, n) = key_nonce(key, nonce)?;
        c::ChaCha20Poly1305::seal(&sk, &n, plaintext, Some(aad), out).map_err(|_| Error::Crypto)
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(super) fn seal_in_place(
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

    /// Verifies `sealed` (`ciphertext || tag`), then decrypts it into `out`.
    pub(super) fn open(
        key: &[u8],
        nonce: &IetfNonce,
        aad: &[u8],
        sealed: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let (sk, n) = key_nonce(key, nonce)?;
        c::ChaCha20Poly1305::open(&sk, &n, sealed, Some(aad), out).map_err(|_| Error::Crypto)
    }

    /// Verifies `buf` against `tag`, then decrypts it in place.
    pub(super) fn open_in_place(
        key: &[u8],
        nonce: &IetfNonce,
        aad: &[u8],
        buf: &mut [u8],
        tag: &Tag,
    ) -> Result<()> {
        let (sk, n) = key_nonce(key, nonce)?;
        let tag = c::Tag::try_from(tag.as_slice()).map_err(|_| Error::Crypto)?;
        c::ChaCha20Poly1305::open_inplace(&sk, &n, &tag, Some(aad), buf).map_err(|_| Error::Crypto)
    }
}

/// ChaCha20-Poly1305 by RustCrypto: SIMD where the CPU has it, fastest on long messages.
mod long {
    use super::{Error, IetfNonce, Result, Tag};
    use chacha20poly1305::aead::inout::InOutBuf;
    use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, Nonce};

    /// The cipher wipes its copy of the key as it drops (the `zeroize` feature).
    fn cipher(key: &[u8]) -> Result<ChaCha20Poly1305> {
        ChaCha20Poly1305::new_from_slice(key).map_err(|_| Error::Crypto)
    }

    /// `out` (`plaintext.len() + TAG_LEN` bytes) receives `ciphertext || tag`.
    pub(super) fn seal(
        key: &[u8],
        nonce: &IetfNonce,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        if out.len() != plaintext.len() + super::TAG_LEN {
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

    /// Encrypts `buf` in place and returns the tag.
    pub(super) fn seal_in_place(
        key: &[u8],
        nonce: &IetfNonce,
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<Tag> {
        cipher(key)?
            .encrypt_inout_detached(&Nonce::from(*nonce), aad, InOutBuf::from(buf))
            .map_err(|_| Error::Crypto)
    }

    /// Verifies `sealed` (`ciphertext || tag`), then decrypts it into `out`.
    pub(super) fn open(
        key: &[u8],
        nonce: &IetfNonce,
        aad: &[u8],
        sealed: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let len = sealed
            .len()
            .checked_sub(super::TAG_LEN)
            .ok_or(Error::Crypto)?;
        let (body, tag) = sealed.split_at(len);
        let tag = Tag::try_from(tag).map_err(|_| Error::Crypto)?;
        let buf = InOutBuf::new(body, out).map_err(|_| Error::Crypto)?;
        cipher(key)?
            .decrypt_inout_detached(&Nonce::from(*nonce), aad, buf, &tag)
            .map_err(|_| Error::Crypto)
    }

    /// Verifies `buf` against `tag`, then decrypts it in place.
    pub(super) fn open_in_place(
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

/// Seals `plaintext` into `out = ciphertext || tag` with the implementation for its length.
fn seal_joined(
    key: &[u8],
    nonce: &IetfNonce,
    aad: &[u8],
    plaintext: &[u8],
    out: &mut [u8],
) -> Result<()> {
    if plaintext.len() <= SHORT_MAX {
        short::seal(key, nonce, aad, plaintext, out)
    } else {
        long::seal(key, nonce, aad, plaintext, out)
    }
}

/// Encrypts `buf` in place and returns the tag.
fn seal_split(key: &[u8], nonce: &IetfNonce, aad: &[u8], buf: &mut [u8]) -> Result<Tag> {
    if buf.len() <= SHORT_MAX {
        short::seal_in_place(key, nonce, aad, buf)
    } else {
        long::seal_in_place(key, nonce, aad, buf)
    }
}

/// Opens `sealed = ciphertext || tag` into `out`; `Error::Crypto` if it is not authentic.
fn open_joined(
    key: &[u8],
    nonce: &IetfNonce,
    aad: &[u8],
    sealed: &[u8],
    out: &mut [u8],
) -> Result<()> {
    if sealed.len() <= SHORT_MAX + TAG_LEN {
        short::open(key, nonce, aad, sealed, out)
    } else {
        long::open(key, nonce, aad, sealed, out)
    }
}

/// Decrypts `buf` in place if `tag` authenticates it; `Error::Crypto` if not.
fn open_split(key: &[u8], nonce: &IetfNonce, aad: &[u8], buf: &mut [u8], tag: &Tag) -> Result<()> {
    if buf.len() <= SHORT_MAX {
        short::open_in_place(key, nonce, aad, buf, tag)
    } else {
        long::open_in_place(key, nonce, aad, buf, tag)
    }
}

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

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| Error::Random)
}

/// Overwrites the stack area just below the caller's frame, where the cipher's key
/// schedule and state lived during the call that just returned.
///
/// 4 KiB, measured: a whole `put` or `get` (from the caller of the store down through the
/// cipher) writes at most 2.7 KiB of stack for values on the short-message path and
/// 4.6 KiB on the long one; this runs from inside the seal/open call, below the outer
/// frames, so 4 KiB covers the cipher's frames in both cases (docs/DECISIONS.md, 13).
#[inline(never)]
pub(crate) fn scrub_stack() {
    let mut pad = [0u64; 512];
    core::hint::black_box(&mut pad);
}

/// Where the parts of a keyring's secret sit: data key, nonce prefix, and the XChaCha20
/// subkey of that prefix.
const PREFIX_AT: usize = KEY_LEN;
const SUBKEY_AT: usize = PREFIX_AT + PREFIX_LEN;
const KEYRING_LEN: usize = SUBKEY_AT + KEY_LEN;

/// The store's data key and nonce state. Key, nonce prefix and subkey live in the arena.
pub(crate) struct Keyring {
    secret: SecretBuf,
    counter: AtomicU64,
}

impl Keyring {
    /// A fresh random data key.
    pub(crate) fn generate(arena: &Arc<Arena>) -> Result<Self> {
        let mut key = arena.alloc(KEY_LEN)?;
        random(&mut key)?;
        Self::with_key(arena, &key)
    }

    /// A keyring for an existing data key, with a fresh nonce prefix.
    pub(crate) fn with_key(arena: &Arc<Arena>, key: &[u8]) -> Result<Self> {
        let mut secret = arena.alloc(KEYRING_LEN)?;
        secret[..KEY_LEN].copy_from_slice(key);
        loop {
            random(&mut secret[PREFIX_AT..SUBKEY_AT])?;
            if secret[PREFIX_AT..SUBKEY_AT].iter().any(|&b| b != 0) {
                break;
            }
        }
        let (head, subkey) = secret.split_at_mut(SUBKEY_AT);
        let result = hchacha(&head[..KEY_LEN], &head[PREFIX_AT..], subkey);
        scrub_stack();
        result?;
        Ok(Keyring {
            secret,
            counter: AtomicU64::new(0),
        })
    }

    /// The raw data key (for wrapping it under a key-encryption key).
    pub(crate) fn data_key(&self) -> &[u8] {
        &self.secret[..KEY_LEN]
    }

    /// Runs `f` with the ChaCha20-Poly1305 key and nonce of a message under `nonce`: the
    /// cached subkey when the nonce carries this keyring's prefix, a derived one
    /// otherwise; `KeysWiped` if the arena was wiped (in a forked child).
    fn with_subkey<T>(
        &self,
        nonce: &XNonce,
        f: impl FnOnce(&[u8], &IetfNonce) -> Result<T>,
    ) -> Result<T> {
        let prefix = &self.secret[PREFIX_AT..SUBKEY_AT];
        if prefix.iter().all(|&b| b == 0) {
            return Err(Error::KeysWiped);
        }
        if nonce[..PREFIX_LEN] == *prefix {
            f(&self.secret[SUBKEY_AT..], &ietf_nonce(nonce))
        } else {
            xchacha(self.data_key(), nonce, f)
        }
    }

    /// The next nonce of this keyring: never repeats.
    pub(crate) fn next_nonce(&self) -> Result<XNonce> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        if n == u64::MAX {
            // 2^64 messages under one prefix: refuse rather than repeat a nonce.
            return Err(Error::Crypto);
        }
        let mut nonce = XNonce::default();
        nonce[..PREFIX_LEN].copy_from_slice(&self.secret[PREFIX_AT..SUBKEY_AT]);
        nonce[PREFIX_LEN..].copy_from_slice(&n.to_le_bytes());
        Ok(nonce)
    }

    /// Seals `plaintext` (normally an arena buffer) into `nonce || ciphertext || tag`.
    /// The plaintext is read in place; only ciphertext is written to the returned vector.
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut out = alloc::vec![0u8; plaintext.len() + SEAL_OVERHEAD];
        let nonce = self.next_nonce()?;
        let (head, rest) = out.split_at_mut(NONCE_LEN);
        head.copy_from_slice(&nonce);
        let result = self.with_subkey(&nonce, |key, n| seal_joined(key, n, aad, plaintext, rest));
        scrub_stack();
        result.map(|()| out)
    }

    /// Encrypts `buf` in place under `nonce` and returns the tag (for data that is not
    /// secret, such as a snapshot body of key names and sealed values).
    pub(crate) fn seal_in_place(&self, nonce: &XNonce, aad: &[u8], buf: &mut [u8]) -> Result<Tag> {
        let result = self.with_subkey(nonce, |key, n| seal_split(key, n, aad, buf));
        scrub_stack();
        result
    }

    /// Opens `nonce || ciphertext || tag` into a fresh arena buffer. On failure nothing
    /// of the plaintext survives (the buffer is wiped as it drops).
    pub(crate) fn open(&self, arena: &Arc<Arena>, aad: &[u8], sealed: &[u8]) -> Result<SecretBuf> {
        let len = sealed
            .len()
            .checked_sub(SEAL_OVERHEAD)
            .ok_or(Error::Crypto)?;
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let mut plain = arena.alloc(len)?;
        let result = XNonce::try_from(nonce)
            .map_err(|_| Error::Crypto)
            .and_then(|nonce| {
                self.with_subkey(&nonce, |key, n| open_joined(key, n, aad, rest, &mut plain))
            });
        scrub_stack();
        result.map(|()| plain)
    }

    /// Decrypts `buf` in place (for data that is not secret, such as a snapshot body of
    /// key names and sealed values); `Error::Tampered` if it is not authentic.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<()> {
        let result = (|| {
            let nonce = XNonce::try_from(nonce).map_err(|_| Error::Tampered)?;
            let tag = Tag::try_from(tag).map_err(|_| Error::Tampered)?;
            self.with_subkey(&nonce, |key, n| open_split(key, n, aad, buf, &tag))
                .map_err(|e| match e {
                    Error::KeysWiped => e,
                    _ => Error::Tampered,
                })
        })();
        scrub_stack();
        result
    }
}

/// The key-encryption key and key commitment derived from a credential's root secret.
pub(crate) struct KeySchedule {
    secret: SecretBuf,
}

impl KeySchedule {
    /// `BLAKE2b-512("microkv v1 key schedule" || salt || root)`: the first half is the
    /// key-encryption key, the second half the commitment stored in the header.
    pub(crate) fn derive(arena: &Arc<Arena>, root: &[u8], salt: &[u8]) -> Result<Self> {
        let mut secret = arena.alloc(2 * KEY_LEN)?;
        let mut hasher = Blake2b512::new();
        hasher.update(b"microkv v1 key schedule\0");
        hasher.update(salt);
        hasher.update(root);
        let mut out = hasher.finalize();
        secret.copy_from_slice(&out);
        out.as_mut_slice().zeroize();
        scrub_stack();
        Ok(KeySchedule { secret })
    }

    /// The commitment: public, stored in the header, compared in constant time.
    pub(crate) fn commitment(&self) -> [u8; KEY_LEN] {
        let mut c = [0u8; KEY_LEN];
        c.copy_from_slice(&self.secret[KEY_LEN..]);
        c
    }

    /// Whether this schedule matches a stored commitment (constant time).
    pub(crate) fn matches(&self, commitment: &[u8; KEY_LEN]) -> bool {
        use subtle::ConstantTimeEq;
        self.secret[KEY_LEN..].ct_eq(commitment).into()
    }

    fn kek(&self) -> &[u8] {
        &self.secret[..KEY_LEN]
    }

    /// Wraps the data key: returns `nonce || wrapped key || tag`.
    pub(crate) fn wrap(&self, data_key: &[u8], aad: &[u8]) -> Result<[u8; WRAPPED_LEN]> {
        let mut out = [0u8; WRAPPED_LEN];
        let mut nonce = XNonce::default();
        random(&mut nonce)?;
        let result = (|| {
            let (head, rest) = out.split_at_mut(NONCE_LEN);
            head.copy_from_slice(&nonce);
            if data_key.len() != KEY_LEN {
                return Err(Error::Crypto);
            }
            xchacha(self.kek(), &nonce, |key, n| {
                seal_joined(key, n, aad, data_key, rest)
            })
        })();
        scrub_stack();
        result.map(|()| out)
    }

    /// Unwraps the data key into a keyring; `Error::Tampered` if the wrap or its
    /// authenticated header was modified.
    pub(crate) fn unwrap(
        &self,
        arena: &Arc<Arena>,
        wrapped: &[u8; WRAPPED_LEN],
        aad: &[u8],
    ) -> Result<Keyring> {
        let mut key = arena.alloc(KEY_LEN)?;
        let result = (|| {
            let (nonce, rest) = wrapped.split_at(NONCE_LEN);
            let nonce = XNonce::try_from(nonce).map_err(|_| Error::Tampered)?;
            xchacha(self.kek(), &nonce, |k, n| {
                open_joined(k, n, aad, rest, &mut key)
            })
            .map_err(|_| Error::Tampered)
        })();
        scrub_stack();
        result?;
        Keyring::with_key(arena, &key)
    }
}

/// Length of a wrapped data key: nonce, key, tag.
pub(crate) const WRAPPED_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;

/// The associated data that binds a value to its place: format version, namespace, key.
/// The namespace is length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
/// Built on the stack when short (every get and put needs one), on the heap otherwise.
pub(crate) fn value_aad(namespace: &str, key: &str) -> ValueAad {
    let len = 5 + namespace.len() + key.len();
    let parts: [&[u8]; 4] = [
        &[crate::format::VERSION as u8],
        &(namespace.len() as u32).to_le_bytes(),
        namespace.as_bytes(),
        key.as_bytes(),
    ];
    if len > INLINE_AAD {
        return ValueAad::Heap(parts.concat());
    }
    let mut bytes = [0u8; INLINE_AAD];
    let mut at = 0;
    for part in parts {
        bytes[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    ValueAad::Inline { bytes, len }
}

/// Longest value AAD kept on the stack: namespace and key names of up to 123 bytes together.
const INLINE_AAD: usize = 128;

/// A value's associated data (names only: nothing secret), read as `&[u8]`.
pub(crate) enum ValueAad {
    Inline { bytes: [u8; INLINE_AAD], len: usize },
    Heap(Vec<u8>),
}

impl core::ops::Deref for ValueAad {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ValueAad::Inline { bytes, len } => &bytes[..*len],
            ValueAad::Heap(bytes) => bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn value_aad_is_the_same_bytes_inline_and_on_the_heap() {
        for ns_len in [0usize, 1, 60, 122, 123, 124, 200] {
            for key_len in [0usize, 1, 5, 6, 64] {
                let (ns, key) = ("n".repeat(ns_len), "k".repeat(key_len));
                let mut expected = alloc::vec![crate::format::VERSION as u8];
                expected.extend_from_slice(&(ns_len as u32).to_le_bytes());
                expected.extend_from_slice(ns.as_bytes());
                expected.extend_from_slice(key.as_bytes());
                let aad = super::value_aad(&ns, &key);
                assert_eq!(&*aad, &expected[..], "ns {ns_len} key {key_len}");
                let inline = matches!(aad, super::ValueAad::Inline { .. });
                assert_eq!(inline, expected.len() <= super::INLINE_AAD);
            }
        }
    }

    use super::*;
    use crate::arena::{HeapPages, MemoryPolicy};
    use alloc::vec;
    use chacha20poly1305::aead::inout::InOutBuf;
    use chacha20poly1305::{AeadInOut, KeyInit, XChaCha20Poly1305};

    type Seal = fn(&[u8], &IetfNonce, &[u8], &[u8], &mut [u8]) -> Result<()>;
    type SealInPlace = fn(&[u8], &IetfNonce, &[u8], &mut [u8]) -> Result<Tag>;
    type Open = fn(&[u8], &IetfNonce, &[u8], &[u8], &mut [u8]) -> Result<()>;
    type OpenInPlace = fn(&[u8], &IetfNonce, &[u8], &mut [u8], &Tag) -> Result<()>;

    /// Each implementation, and the dispatch by length that the keyring uses.
    const PATHS: [(&str, Seal, SealInPlace, Open, OpenInPlace); 3] = [
        (
            "orion",
            short::seal,
            short::seal_in_place,
            short::open,
            short::open_in_place,
        ),
        (
            "rustcrypto",
            long::seal,
            long::seal_in_place,
            long::open,
            long::open_in_place,
        ),
        ("chosen", seal_joined, seal_split, open_joined, open_split),
    ];

    fn arena() -> Arc<Arena> {
        Arena::new(Arc::new(HeapPages), MemoryPolicy::BestEffort)
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2)
            .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    /// RustCrypto's XChaCha20-Poly1305 used directly: `ciphertext || tag`.
    fn reference_seal(key: &[u8], nonce: &XNonce, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = plaintext.to_vec();
        let tag = XChaCha20Poly1305::new_from_slice(key)
            .unwrap()
            .encrypt_inout_detached(nonce, aad, InOutBuf::from(&mut out[..]))
            .unwrap();
        out.extend_from_slice(&tag);
        out
    }

    /// Every path, under the subkey and nonce that [`xchacha`] derives, seals `plaintext`
    /// to `expected` (XChaCha20-Poly1305 by the reference) and opens it back, both ways.
    fn check_paths(key: &[u8], nonce: &XNonce, aad: &[u8], plaintext: &[u8], expected: &[u8]) {
        let len = plaintext.len();
        for (name, seal, seal_in_place, open, open_in_place) in PATHS {
            let mut joined = vec![0u8; len + TAG_LEN];
            xchacha(key, nonce, |k, n| seal(k, n, aad, plaintext, &mut joined)).unwrap();
            assert_eq!(joined, expected, "{name} seal, length {len}");

            let mut body = plaintext.to_vec();
            let tag = xchacha(key, nonce, |k, n| seal_in_place(k, n, aad, &mut body)).unwrap();
            assert_eq!(body, expected[..len], "{name} seal_in_place, length {len}");
            assert_eq!(tag[..], expected[len..], "{name} tag, length {len}");

            let mut plain = vec![0u8; len];
            xchacha(key, nonce, |k, n| open(k, n, aad, expected, &mut plain)).unwrap();
            assert_eq!(plain, plaintext, "{name} open, length {len}");

            let mut buf = expected[..len].to_vec();
            let tag = Tag::try_from(&expected[len..]).unwrap();
            xchacha(key, nonce, |k, n| open_in_place(k, n, aad, &mut buf, &tag)).unwrap();
            assert_eq!(buf, plaintext, "{name} open_in_place, length {len}");
        }
    }

    /// draft-irtf-cfrg-xchacha-03, appendix A.3.1.
    #[test]
    fn xchacha20_poly1305_test_vector() {
        let key: Vec<u8> = (0x80..=0x9f).collect();
        let nonce = XNonce::try_from(&(0x40..=0x57).collect::<Vec<u8>>()[..]).unwrap();
        let aad = hex("50515253c0c1c2c3c4c5c6c7");
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you \
only one tip for the future, sunscreen would be it.";
        let mut expected = hex(
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb\
             731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452\
             2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9\
             21f9664c97637da9768812f615c68b13b52e",
        );
        expected.extend_from_slice(&hex("c0875924c1c7987947deafd8780acf49"));
        assert_eq!(reference_seal(&key, &nonce, &aad, plaintext), expected);
        check_paths(&key, &nonce, &aad, plaintext, &expected);

        // Through the keyring, as the store and the file format call it.
        let arena = arena();
        let ring = Keyring::with_key(&arena, &key).unwrap();
        let mut body = plaintext.to_vec();
        let tag = ring.seal_in_place(&nonce, &aad, &mut body).unwrap();
        assert_eq!(body, expected[..plaintext.len()]);
        assert_eq!(tag[..], expected[plaintext.len()..]);
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&expected);
        assert_eq!(&ring.open(&arena, &aad, &sealed).unwrap()[..], plaintext);
        let (ct, tag) = expected.split_at(plaintext.len());
        let mut buf = ct.to_vec();
        ring.open_in_place(&nonce, &aad, &mut buf, tag).unwrap();
        assert_eq!(buf, plaintext);
    }

    /// Random keys, nonces, associated data and plaintexts: every length up to 1100 (both
    /// neighbours of the threshold and then some), then every seventh up to 5000 (the
    /// unoptimised test build makes all 5001 slow): all paths agree with RustCrypto.
    #[test]
    fn every_path_matches_rustcrypto_on_random_inputs() {
        let arena = arena();
        let mut key = [0u8; KEY_LEN];
        random(&mut key).unwrap();
        let ring = Keyring::with_key(&arena, &key).unwrap();
        let mut nonce = XNonce::default();
        let mut data = vec![0u8; 5000 + 64];
        let lengths = (0..=1100).chain((1101..5000).step_by(7)).chain([5000]);
        const _: () = assert!(SHORT_MAX < 1100);
        for len in lengths {
            random(&mut key).unwrap();
            random(&mut nonce).unwrap();
            random(&mut data).unwrap();
            let (plaintext, rest) = data.split_at(len);
            let aad = &rest[..len % 61];
            let expected = reference_seal(&key, &nonce, aad, plaintext);
            check_paths(&key, &nonce, aad, plaintext, &expected);

            // The keyring's own nonces and key.
            let sealed = ring.seal(aad, plaintext).unwrap();
            let (n, body) = sealed.split_at(NONCE_LEN);
            let n = XNonce::try_from(n).unwrap();
            assert_eq!(
                body,
                reference_seal(ring.data_key(), &n, aad, plaintext),
                "keyring seal, length {len}"
            );
            assert_eq!(&ring.open(&arena, aad, &sealed).unwrap()[..], plaintext);

            // A message under another prefix (an earlier session's): the subkey derived
            // for the call instead of the cached one.
            let mut foreign = nonce.to_vec();
            foreign.extend_from_slice(&reference_seal(ring.data_key(), &nonce, aad, plaintext));
            assert_eq!(&ring.open(&arena, aad, &foreign).unwrap()[..], plaintext);
        }
    }

    #[test]
    fn tampering_is_rejected_on_both_sides_of_the_threshold() {
        let arena = arena();
        let mut key = [0u8; KEY_LEN];
        random(&mut key).unwrap();
        let ring = Keyring::with_key(&arena, &key).unwrap();
        let aad = b"\x01\x00\x00\x00\x00name";
        for len in [0, 1, 63, 64, SHORT_MAX - 1, SHORT_MAX, SHORT_MAX + 1, 4096] {
            let plaintext = vec![0x5a; len];
            let sealed = ring.seal(aad, &plaintext).unwrap();
            assert_eq!(
                &ring.open(&arena, aad, &sealed).unwrap()[..],
                &plaintext[..]
            );
            // Every byte position: nonce, ciphertext, tag.
            for i in 0..sealed.len() {
                let mut bad = sealed.clone();
                bad[i] ^= 0x01;
                assert!(
                    matches!(ring.open(&arena, aad, &bad), Err(Error::Crypto)),
                    "length {len}, byte {i} flipped"
                );
            }
            assert!(matches!(
                ring.open(&arena, b"\x01\x00\x00\x00\x00other", &sealed),
                Err(Error::Crypto)
            ));
            assert!(matches!(
                ring.open(&arena, aad, &sealed[..sealed.len() - 1]),
                Err(Error::Crypto)
            ));

            // In place, detached: ciphertext, tag and associated data.
            let (nonce, rest) = sealed.split_at(NONCE_LEN);
            let (ct, tag) = rest.split_at(len);
            let mut bad_tag = tag.to_vec();
            bad_tag[15] ^= 0x80;
            let mut buf = ct.to_vec();
            assert!(matches!(
                ring.open_in_place(nonce, aad, &mut buf, &bad_tag),
                Err(Error::Tampered)
            ));
            assert!(matches!(
                ring.open_in_place(nonce, b"", &mut buf, tag),
                Err(Error::Tampered)
            ));
            if len > 0 {
                buf[len / 2] ^= 0x04;
                assert!(matches!(
                    ring.open_in_place(nonce, aad, &mut buf, tag),
                    Err(Error::Tampered)
                ));
                buf[len / 2] ^= 0x04;
            }
            ring.open_in_place(nonce, aad, &mut buf, tag).unwrap();
            assert_eq!(buf, plaintext);
        }
        assert!(matches!(
            ring.open(&arena, aad, &[0u8; SEAL_OVERHEAD - 1]),
            Err(Error::Crypto)
        ));
    }

    #[test]
    fn wrapped_data_key_round_trips_and_rejects_tampering() {
        let arena = arena();
        let schedule = KeySchedule::derive(&arena, b"root secret", b"salt").unwrap();
        let ring = Keyring::generate(&arena).unwrap();
        let wrapped = schedule.wrap(ring.data_key(), b"header").unwrap();
        let back = schedule.unwrap(&arena, &wrapped, b"header").unwrap();
        assert_eq!(back.data_key(), ring.data_key());
        for i in 0..WRAPPED_LEN {
            let mut bad = wrapped;
            bad[i] ^= 0x10;
            assert!(matches!(
                schedule.unwrap(&arena, &bad, b"header"),
                Err(Error::Tampered)
            ));
        }
        assert!(matches!(
            schedule.unwrap(&arena, &wrapped, b"other"),
            Err(Error::Tampered)
        ));
    }
}
