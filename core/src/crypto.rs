//! Sealing and opening with XChaCha20-Poly1305; the data-key ring and key schedule.
//!
//! Nonces are `prefix(16 random bytes, drawn per keyring) || counter(u64 LE)`: unique for
//! every message a keyring seals, with no per-message system call, and unique across
//! keyrings sharing a data key (each reopen draws a new prefix) with probability
//! 1 - 2^-128 per pair. The prefix lives in the arena beside the key; after a fork the
//! child's copy reads as zeros (`MADV_WIPEONFORK`), and every operation refuses to run
//! ([`Error::KeysWiped`]) rather than encrypt under a zeroed key.
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use blake2::{Blake2b512, Digest};
use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};
use core::sync::atomic::Ordering;
use zeroize::Zeroize;

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

const PREFIX_LEN: usize = 16;

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| Error::Random)
}

/// Overwrites the stack area just below the caller's frame, where the cipher's key
/// schedule and state lived during the call that just returned.
#[inline(never)]
pub(crate) fn scrub_stack() {
    let mut pad = [0u64; 1024];
    core::hint::black_box(&mut pad);
}

/// The store's data key and nonce state. Key and nonce prefix live in the arena.
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
        let mut secret = arena.alloc(KEY_LEN + PREFIX_LEN)?;
        secret[..KEY_LEN].copy_from_slice(key);
        loop {
            random(&mut secret[KEY_LEN..])?;
            if secret[KEY_LEN..].iter().any(|&b| b != 0) {
                break;
            }
        }
        Ok(Keyring {
            secret,
            counter: AtomicU64::new(0),
        })
    }

    /// The raw data key (for wrapping it under a key-encryption key).
    pub(crate) fn data_key(&self) -> &[u8] {
        &self.secret[..KEY_LEN]
    }

    fn cipher(&self) -> Result<XChaCha20Poly1305> {
        if self.secret[KEY_LEN..].iter().all(|&b| b == 0) {
            return Err(Error::KeysWiped);
        }
        XChaCha20Poly1305::new_from_slice(self.data_key()).map_err(|_| Error::Crypto)
    }

    /// The next nonce of this keyring: never repeats.
    pub(crate) fn next_nonce(&self) -> Result<XNonce> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        if n == u64::MAX {
            // 2^64 messages under one prefix: refuse rather than repeat a nonce.
            return Err(Error::Crypto);
        }
        let mut nonce = XNonce::default();
        nonce[..PREFIX_LEN].copy_from_slice(&self.secret[KEY_LEN..]);
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
        let tag = self.seal_detached(&nonce, aad, plaintext, &mut rest[..plaintext.len()])?;
        rest[plaintext.len()..].copy_from_slice(&tag);
        Ok(out)
    }

    /// Encrypts `plaintext` into `out` (same length) and returns the tag.
    pub(crate) fn seal_detached(
        &self,
        nonce: &XNonce,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<Tag> {
        let result = (|| {
            let buf = InOutBuf::new(plaintext, out).map_err(|_| Error::Crypto)?;
            self.cipher()?
                .encrypt_inout_detached(nonce, aad, buf)
                .map_err(|_| Error::Crypto)
        })();
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
        let (body, tag) = rest.split_at(len);
        let mut plain = arena.alloc(len)?;
        let result = (|| {
            let nonce = XNonce::try_from(nonce).map_err(|_| Error::Crypto)?;
            let tag = Tag::try_from(tag).map_err(|_| Error::Crypto)?;
            let buf = InOutBuf::new(body, &mut plain).map_err(|_| Error::Crypto)?;
            self.cipher()?
                .decrypt_inout_detached(&nonce, aad, buf, &tag)
                .map_err(|_| Error::Crypto)
        })();
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
            let cipher = self.cipher()?;
            cipher
                .decrypt_inout_detached(&nonce, aad, InOutBuf::from(buf), &tag)
                .map_err(|_| Error::Tampered)
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

    fn kek(&self) -> Result<XChaCha20Poly1305> {
        XChaCha20Poly1305::new_from_slice(&self.secret[..KEY_LEN]).map_err(|_| Error::Crypto)
    }

    /// Wraps the data key: returns `nonce || wrapped key || tag`.
    pub(crate) fn wrap(&self, data_key: &[u8], aad: &[u8]) -> Result<[u8; WRAPPED_LEN]> {
        let mut out = [0u8; WRAPPED_LEN];
        let mut nonce = XNonce::default();
        random(&mut nonce)?;
        let result = (|| {
            let (head, rest) = out.split_at_mut(NONCE_LEN);
            let (body, tag_out) = rest.split_at_mut(KEY_LEN);
            head.copy_from_slice(&nonce);
            let buf = InOutBuf::new(data_key, body).map_err(|_| Error::Crypto)?;
            let tag = self
                .kek()?
                .encrypt_inout_detached(&nonce, aad, buf)
                .map_err(|_| Error::Crypto)?;
            tag_out.copy_from_slice(&tag);
            Ok(())
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
            let (body, tag) = rest.split_at(KEY_LEN);
            let nonce = XNonce::try_from(nonce).map_err(|_| Error::Tampered)?;
            let tag = Tag::try_from(tag).map_err(|_| Error::Tampered)?;
            let buf = InOutBuf::new(body, &mut key).map_err(|_| Error::Tampered)?;
            self.kek()?
                .decrypt_inout_detached(&nonce, aad, buf, &tag)
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
pub(crate) fn value_aad(namespace: &str, key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(5 + namespace.len() + key.len());
    aad.push(crate::format::VERSION as u8);
    aad.extend_from_slice(&(namespace.len() as u32).to_le_bytes());
    aad.extend_from_slice(namespace.as_bytes());
    aad.extend_from_slice(key.as_bytes());
    aad
}
