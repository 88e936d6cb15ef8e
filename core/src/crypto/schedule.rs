//! [`KeySchedule`]: the key-encryption key and key commitment derived from a credential,
//! and the wrapping of the data key under them.
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use blake2::{Blake2b512, Digest};
use zeroize::Zeroize;

use super::aead::{Aead, Chosen};
use super::{on_own_stack, random, xchacha, Keyring, XNonce, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::arena::{Arena, SecretBuf};
use crate::error::{Error, Result};

/// The key-encryption key and key commitment derived from a credential's root secret.
pub(crate) struct KeySchedule {
    secret: SecretBuf,
}

impl KeySchedule {
    /// `BLAKE2b-512("microkv v1 key schedule" || salt || root)`: the first half is the
    /// key-encryption key, the second half the commitment stored in the header.
    pub(crate) fn derive(arena: &Arc<Arena>, root: &[u8], salt: &[u8]) -> Result<Self> {
        let mut secret = arena.alloc(2 * KEY_LEN)?;
        on_own_stack(|| {
            let mut hasher = Blake2b512::new();
            hasher.update(b"microkv v1 key schedule\0");
            hasher.update(salt);
            hasher.update(root);
            let mut out = hasher.finalize();
            secret.copy_from_slice(&out);
            out.as_mut_slice().zeroize();
        });
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
        let mut nonce: XNonce = [0; NONCE_LEN];
        random(&mut nonce)?;
        on_own_stack(|| {
            let (head, rest) = out.split_at_mut(NONCE_LEN);
            head.copy_from_slice(&nonce);
            if data_key.len() != KEY_LEN {
                return Err(Error::Crypto);
            }
            xchacha(self.kek(), &nonce, |key, n| {
                Chosen::seal(key, n, aad, data_key, rest)
            })
        })?;
        Ok(out)
    }

    /// Unwraps the data key into a keyring; `Error::Tampered` if the wrap or its
    /// authenticated header was modified.
    pub(crate) fn unwrap(
        &self,
        arena: &Arc<Arena>,
        wrapped: &[u8; WRAPPED_LEN],
        aad: &[u8],
    ) -> Result<Keyring> {
        // Unwrapped straight into the keyring's buffer: no second copy of the key.
        Keyring::new(arena, |key| {
            let (nonce, rest) = wrapped.split_at(NONCE_LEN);
            let nonce = XNonce::try_from(nonce).map_err(|_| Error::Tampered)?;
            // On the keyring's own stack (`Keyring::new`).
            xchacha(self.kek(), &nonce, |k, n| {
                Chosen::open(k, n, aad, rest, key)
            })
            .map_err(|_| Error::Tampered)
        })
    }
}

/// Length of a wrapped data key: nonce, key, tag.
pub(crate) const WRAPPED_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;
