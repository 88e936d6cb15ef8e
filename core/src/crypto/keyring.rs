//! [`Keyring`]: the store's data key, its nonce prefix and counter, and the cached
//! XChaCha20 subkey, all in the arena.
#![forbid(unsafe_code)]

use alloc::sync::Arc;

use core::sync::atomic::Ordering;

use super::aead::{Aead, Chosen};
use super::{
    hchacha, ietf_nonce, on_own_stack, random, scrub_stack, xchacha, IetfNonce, Tag, XNonce,
};
use super::{KEY_LEN, NONCE_LEN, PREFIX_LEN, SEAL_OVERHEAD};
use crate::arena::{Arena, SecretBuf};
use crate::error::{Error, Result};
use crate::sync::{AtomicU64, Once};

/// Where the parts of a keyring's secret sit: data key, nonce prefix, the XChaCha20
/// subkey of that prefix.
const PREFIX_AT: usize = KEY_LEN;
const SUBKEY_AT: usize = PREFIX_AT + PREFIX_LEN;
const NAME_KEY_AT: usize = SUBKEY_AT + KEY_LEN;
const KEYRING_LEN: usize = NAME_KEY_AT + NAME_KEY_LEN;
/// Length of the key of the v2 file's name hash (SipHash's).
const NAME_KEY_LEN: usize = 16;

/// `BLAKE2b-512("microkv v2 name key\0" || data key)`, its first 16 bytes into `out`: the
/// key of the v2 file's name hash.
fn name_key_of(data_key: &[u8], out: &mut [u8]) {
    use blake2::{Blake2b512, Digest};
    let mut hasher = Blake2b512::new();
    hasher.update(b"microkv v2 name key\0");
    hasher.update(data_key);
    let mut full = hasher.finalize();
    out.copy_from_slice(&full[..NAME_KEY_LEN]);
    zeroize::Zeroize::zeroize(full.as_mut_slice());
}

/// The store's data key and nonce state. Key, nonce prefix and subkey live in the arena.
pub(crate) struct Keyring {
    /// Key, prefix and subkey. Its arena records the process the keyring was made in: the
    /// only one it seals or opens in (`SecretBuf::in_owning_process`).
    secret: SecretBuf,
    counter: AtomicU64,
    /// The first other prefix a message was opened under (an earlier session's: the one
    /// that sealed the values of the file this keyring read, mostly) and its subkey, in the
    /// arena: derived once instead of at every get (HChaCha20, about 90 ns).
    other: Once<Option<SecretBuf>>,
}

impl Keyring {
    /// A fresh random data key.
    pub(crate) fn generate(arena: &Arc<Arena>) -> Result<Self> {
        Self::new(arena, random)
    }

    /// A keyring for an existing data key, with a fresh nonce prefix.
    #[cfg(test)]
    pub(crate) fn with_key(arena: &Arc<Arena>, key: &[u8]) -> Result<Self> {
        Self::new(arena, |out| {
            (out.len() == key.len())
                .then(|| out.copy_from_slice(key))
                .ok_or(Error::Crypto)
        })
    }

    /// A keyring whose data key `fill` writes in place (so that it exists in one arena
    /// buffer only), with a fresh nonce prefix.
    pub(super) fn new(
        arena: &Arc<Arena>,
        fill: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<Self> {
        let mut secret = arena.alloc(KEYRING_LEN)?;
        random(&mut secret[PREFIX_AT..SUBKEY_AT])?;
        // The key's fill (an unwrap, for an existing key) and the subkey's derivation run
        // on a stack of their own, wiped whole after.
        on_own_stack(|| {
            fill(&mut secret[..KEY_LEN])?;
            let (head, rest) = secret.split_at_mut(SUBKEY_AT);
            let (subkey, name_key) = rest.split_at_mut(KEY_LEN);
            name_key_of(&head[..KEY_LEN], name_key);
            hchacha(&head[..KEY_LEN], &head[PREFIX_AT..], subkey)
        })?;
        Ok(Keyring {
            secret,
            counter: AtomicU64::new(0),
            other: Once::new(),
        })
    }

    /// The v2 file's hash of the name `key` of namespace `ns` (docs/FORMAT.md, "Name
    /// hash"), as [`Keyring::with_name_hasher`] gives it.
    pub(crate) fn name_hash(&self, ns: &str, key: &str) -> Result<(u64, u32)> {
        self.with_name_hasher(ns, |hash| hash(key))
    }

    /// Runs `f` with the hash of the names of namespace `ns`: SipHash-2-4-128 under the
    /// name key of `u32le(len(ns)) || ns || key`, as `(bytes 0..8, bytes 8..12)` read
    /// little-endian. The hashers' states, which give the key away, are wiped from the
    /// stack after `f`, once for all the names it hashed.
    pub(crate) fn with_name_hasher<R>(
        &self,
        ns: &str,
        f: impl FnOnce(&dyn Fn(&str) -> (u64, u32)) -> R,
    ) -> Result<R> {
        use core::hash::Hasher;
        use siphasher::sip128::{Hasher128, SipHasher24};
        if !self.secret.in_owning_process() {
            return Err(Error::Forked);
        }
        let mut k = [0u8; NAME_KEY_LEN];
        k.copy_from_slice(&self.secret[NAME_KEY_AT..]);
        let mut base = SipHasher24::new_with_key(&k);
        zeroize::Zeroize::zeroize(&mut k);
        base.write(&(ns.len() as u32).to_le_bytes());
        base.write(ns.as_bytes());
        let hash = |key: &str| {
            let mut h = base;
            h.write(key.as_bytes());
            let out = h.finish128();
            (out.h1, out.h2 as u32)
        };
        let result = f(&hash);
        scrub_stack();
        Ok(result)
    }

    /// The tag of `aad` alone under `nonce`: XChaCha20-Poly1305 of an empty message (how
    /// the v2 file authenticates a directory without encrypting it).
    pub(crate) fn mac(&self, nonce: &XNonce, aad: &[u8]) -> Result<Tag> {
        self.seal_in_place(nonce, aad, &mut [])
    }

    /// The raw data key (for wrapping it under a key-encryption key).
    pub(crate) fn data_key(&self) -> &[u8] {
        &self.secret[..KEY_LEN]
    }

    /// Copies of the data key and the cached subkey, for tests that look for them in
    /// memory (the `testing` feature only).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn key_material(&self) -> [zeroize::Zeroizing<[u8; KEY_LEN]>; 2] {
        let mut data = zeroize::Zeroizing::new([0u8; KEY_LEN]);
        let mut sub = zeroize::Zeroizing::new([0u8; KEY_LEN]);
        data.copy_from_slice(self.data_key());
        sub.copy_from_slice(&self.secret[SUBKEY_AT..NAME_KEY_AT]);
        [data, sub]
    }

    /// A copy of the name key, for tests that look for it in memory (the `testing`
    /// feature only).
    #[cfg(feature = "testing")]
    pub(crate) fn name_key_material(&self) -> zeroize::Zeroizing<[u8; NAME_KEY_LEN]> {
        let mut key = zeroize::Zeroizing::new([0u8; NAME_KEY_LEN]);
        key.copy_from_slice(&self.secret[NAME_KEY_AT..]);
        key
    }

    /// Runs `f` with the ChaCha20-Poly1305 key and nonce of a message under `nonce`: the
    /// cached subkey when the nonce carries this keyring's prefix, or the one other prefix
    /// whose subkey is kept (the first a value was opened under, when `value`), a derived
    /// one otherwise; `Forked` in a process forked from the keyring's.
    fn with_subkey<T>(
        &self,
        nonce: &XNonce,
        value: bool,
        f: impl FnOnce(&[u8], &IetfNonce) -> Result<T>,
    ) -> Result<T> {
        if !self.secret.in_owning_process() {
            return Err(Error::Forked);
        }
        let prefix = &self.secret[PREFIX_AT..SUBKEY_AT];
        if nonce[..PREFIX_LEN] == *prefix {
            return f(&self.secret[SUBKEY_AT..NAME_KEY_AT], &ietf_nonce(nonce));
        }
        let other = match value {
            true => Some(
                self.other
                    .call_once(|| self.subkey_of(&nonce[..PREFIX_LEN])),
            ),
            false => self.other.get(),
        };
        match other.and_then(Option::as_ref) {
            Some(other) if other[..PREFIX_LEN] == nonce[..PREFIX_LEN] => {
                f(&other[PREFIX_LEN..], &ietf_nonce(nonce))
            }
            _ => xchacha(self.data_key(), nonce, f),
        }
    }

    /// `prefix || subkey of prefix` in the arena (`None` if the arena has no room: every
    /// message under that prefix then derives its own, as any other prefix's does).
    fn subkey_of(&self, prefix: &[u8]) -> Option<SecretBuf> {
        let mut buf = self.secret.arena().alloc(PREFIX_LEN + KEY_LEN).ok()?;
        let (head, subkey) = buf.split_at_mut(PREFIX_LEN);
        head.copy_from_slice(prefix);
        hchacha(self.data_key(), prefix, subkey).ok()?;
        Some(buf)
    }

    /// The next nonce of this keyring: never repeats. Once the counter is spent (2^64 - 1
    /// messages under one prefix) every call fails: the counter stops at its last value
    /// instead of wrapping to 0.
    pub(crate) fn next_nonce(&self) -> Result<XNonce> {
        if !self.secret.in_owning_process() {
            return Err(Error::Forked);
        }
        let n = self
            .counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
            .map_err(|_| Error::Crypto)?;
        let mut nonce: XNonce = [0; NONCE_LEN];
        nonce[..PREFIX_LEN].copy_from_slice(&self.secret[PREFIX_AT..SUBKEY_AT]);
        nonce[PREFIX_LEN..].copy_from_slice(&n.to_le_bytes());
        Ok(nonce)
    }

    /// Sets the nonce counter (tests reach its end without 2^64 calls).
    #[cfg(test)]
    pub(crate) fn set_counter(&self, n: u64) {
        self.counter.store(n, Ordering::Relaxed);
    }

    /// Seals a copy of `plaintext` into `nonce || ciphertext || tag` (for tests, whose
    /// plaintexts are not secret).
    #[cfg(test)]
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<alloc::vec::Vec<u8>> {
        let mut out = alloc::vec![0u8; plaintext.len() + SEAL_OVERHEAD];
        self.seal_into(aad, &mut plaintext.to_vec(), &mut out)?;
        Ok(out)
    }

    /// Seals `plain` into `out` (`plain.len() + SEAL_OVERHEAD` bytes): `nonce ||
    /// ciphertext || tag`. `plain` (an arena buffer) is encrypted where it lies and is left
    /// holding the ciphertext: only ciphertext is ever written to `out`, which is ordinary
    /// heap.
    pub(crate) fn seal_into(&self, aad: &[u8], plain: &mut [u8], out: &mut [u8]) -> Result<()> {
        if out.len() != plain.len() + SEAL_OVERHEAD {
            return Err(Error::Crypto);
        }
        let nonce = self.next_nonce()?;
        let result = self.with_subkey(&nonce, false, |key, n| {
            Chosen::seal_in_place(key, n, aad, plain)
        });
        scrub_stack();
        let tag = result?;
        let (head, rest) = out.split_at_mut(NONCE_LEN);
        let (body, tail) = rest.split_at_mut(plain.len());
        head.copy_from_slice(&nonce);
        body.copy_from_slice(plain);
        tail.copy_from_slice(&tag);
        Ok(())
    }

    /// Encrypts `buf` in place under `nonce` and returns the tag (for data that is not
    /// secret, such as a snapshot body of key names and sealed values).
    pub(crate) fn seal_in_place(&self, nonce: &XNonce, aad: &[u8], buf: &mut [u8]) -> Result<Tag> {
        let result = self.with_subkey(nonce, false, |key, n| {
            Chosen::seal_in_place(key, n, aad, buf)
        });
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
        let mut plain = arena.alloc(len)?;
        self.open_into(aad, sealed, &mut plain)?;
        Ok(plain)
    }

    /// Opens `nonce || ciphertext || tag` into `out`, which must be exactly as long as the
    /// plaintext (normally part of an arena buffer). On failure `out` is wiped.
    pub(crate) fn open_into(&self, aad: &[u8], sealed: &[u8], out: &mut [u8]) -> Result<()> {
        if sealed.len() != out.len() + SEAL_OVERHEAD {
            return Err(Error::Crypto);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let result = XNonce::try_from(nonce)
            .map_err(|_| Error::Crypto)
            .and_then(|nonce| {
                self.with_subkey(&nonce, true, |key, n| Chosen::open(key, n, aad, rest, out))
            });
        scrub_stack();
        if result.is_err() {
            zeroize::Zeroize::zeroize(out);
        }
        result
    }

    /// Decrypts `buf` in place (for data that is not secret, such as a snapshot body of
    /// key names and sealed values); `Error::Tampered` if it is not authentic, and then
    /// `buf` is wiped (ring decrypts as it authenticates, so what it held is gone either
    /// way).
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
            self.with_subkey(&nonce, false, |key, n| {
                Chosen::open_in_place(key, n, aad, buf, &tag)
            })
            .map_err(|e| match e {
                Error::Forked => e,
                _ => Error::Tampered,
            })
        })();
        scrub_stack();
        if result.is_err() {
            zeroize::Zeroize::zeroize(buf);
        }
        result
    }
}
