//! Key setup: making the keys of a new store (a data key, and the [`KeyHeader`] that
//! wraps it under a key derived from the credential) and unlocking the data key of an
//! existing one with a credential. The header's bytes are the format's
//! ([`crate::format::header`]).
#![forbid(unsafe_code)]

use alloc::sync::Arc;

use crate::arena::Arena;
use crate::credential::Credential;
use crate::crypto::{random, KeySchedule, Keyring, WRAPPED_LEN};
use crate::error::{Error, Result};
use crate::format::header::KeyHeader;
use crate::kdf::{derive_root, KdfLimit, KdfParams};

/// Derives a new key header and data key for `credential`. A password's KDF parameters
/// must be fit for a new key and within `limit`, so that the store reopens with them.
pub(crate) fn new_keys(
    arena: &Arc<Arena>,
    credential: &Credential,
    kdf: &KdfParams,
    limit: KdfLimit,
) -> Result<(KeyHeader, Keyring)> {
    let kdf = (!credential.is_raw_key()).then_some(*kdf);
    if let Some(kdf) = &kdf {
        kdf.check_new()?;
    }
    let mut salt = [0u8; 16];
    random(&mut salt)?;
    let root = derive_root(arena, credential, kdf.as_ref(), &salt, limit)?;
    let schedule = KeySchedule::derive(arena, &root, &salt)?;
    let keyring = Keyring::generate(arena)?;
    let mut header = KeyHeader {
        kdf,
        salt,
        commitment: schedule.commitment(),
        // Filled below: the wrap authenticates the rest of the header.
        wrapped: [0; WRAPPED_LEN],
    };
    header.wrapped = schedule.wrap(keyring.data_key(), &header.aad())?;
    Ok((header, keyring))
}

/// Checks `credential` against a header and unwraps the data key; a password's KDF runs
/// only within `limit`.
pub(crate) fn unlock(
    arena: &Arc<Arena>,
    credential: &Credential,
    header: &KeyHeader,
    limit: KdfLimit,
) -> Result<Keyring> {
    if header.kdf.is_none() && !credential.is_raw_key() {
        return Err(Error::WrongPassword);
    }
    let root = derive_root(arena, credential, header.kdf.as_ref(), &header.salt, limit)?;
    let schedule = KeySchedule::derive(arena, &root, &header.salt)?;
    if !schedule.matches(&header.commitment) {
        return Err(Error::WrongPassword);
    }
    schedule.unwrap(arena, &header.wrapped, &header.aad())
}
