//! Key setup: the [`KeyHeader`] (what is public about a store's keys, the first 144 bytes
//! of its file), creating keys for a new store, and unlocking the data key of an
//! existing one with a credential.
#![forbid(unsafe_code)]

use alloc::format;
use alloc::sync::Arc;

use crate::arena::Arena;
use crate::codec::MESSAGEPACK;
use crate::credential::Credential;
use crate::crypto::{random, KeySchedule, Keyring, KEY_LEN, WRAPPED_LEN};
use crate::entry::VERSION;
use crate::error::{corrupt, Error, Result};
use crate::kdf::{derive_root, Kdf, KdfLimit, KdfParams};

/// Length of the whole file header (key header, body nonce and body length): a file
/// shorter than this is truncated.
pub(crate) const HEADER_LEN: usize = 176;

/// The format version of a store written by microkv 0.3, if `bytes` start like one: a
/// MessagePack array whose first items are the string `"microkv"` and a small integer.
fn legacy_version(bytes: &[u8]) -> Option<u8> {
    match bytes {
        [0x90..=0x9f, 0xa7, b'm', b'i', b'c', b'r', b'o', b'k', b'v', v @ 0..=0x7f, ..] => Some(*v),
        _ => None,
    }
}

/// The magic bytes every store file starts with.
pub const MAGIC: [u8; 8] = *b"MICROKV\0";
/// Length of the part of the header the key wrap authenticates.
pub(crate) const KEY_AAD_LEN: usize = 72;
/// Length of the key part of the header: everything but the body nonce and length.
pub(crate) const KEY_PART_LEN: usize = KEY_AAD_LEN + WRAPPED_LEN;

/// Everything about the store's keys that is public: how to derive the key-encryption
/// key, the commitment that tells a wrong credential from a tampered file, and the
/// wrapped data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyHeader {
    /// `None` for a store opened by a raw key.
    pub(crate) kdf: Option<KdfParams>,
    pub(crate) salt: [u8; 16],
    pub(crate) commitment: [u8; KEY_LEN],
    pub(crate) wrapped: [u8; WRAPPED_LEN],
}

impl KeyHeader {
    /// Bytes 0..72 of the header: the key wrap's associated data.
    pub(crate) fn aad(&self) -> [u8; KEY_AAD_LEN] {
        let mut out = [0u8; KEY_AAD_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&VERSION.to_le_bytes());
        let (id, a, b, c) = match self.kdf.map(|k| k.0) {
            None => (0u8, 0, 0, 0),
            Some(Kdf::Argon2id { m_kib, t, p }) => (1, m_kib, t, p),
            Some(Kdf::Scrypt { log_n, r, p }) => (2, u32::from(log_n), r, p),
        };
        out[10] = id;
        out[11] = MESSAGEPACK;
        out[12..16].copy_from_slice(&a.to_le_bytes());
        out[16..20].copy_from_slice(&b.to_le_bytes());
        out[20..24].copy_from_slice(&c.to_le_bytes());
        out[24..40].copy_from_slice(&self.salt);
        out[40..72].copy_from_slice(&self.commitment);
        out
    }

    /// The first bytes of every snapshot written under this header (`0..144`: the key
    /// wrap's associated data, then the wrapped data key). Saves compare them with the
    /// storage's, so that no handle replaces a credential it did not load.
    pub(crate) fn key_part(&self) -> [u8; KEY_PART_LEN] {
        let mut out = [0u8; KEY_PART_LEN];
        out[..KEY_AAD_LEN].copy_from_slice(&self.aad());
        out[KEY_AAD_LEN..].copy_from_slice(&self.wrapped);
        out
    }

    /// Parses the key part of a file's header (its first 144 bytes, of a file at least
    /// [`HEADER_LEN`] long); checks magic, version and KDF bounds.
    pub(crate) fn parse(bytes: &[u8]) -> Result<KeyHeader> {
        if bytes.is_empty() {
            return Err(corrupt("empty file"));
        }
        if bytes.len() < MAGIC.len() {
            return Err(corrupt(if MAGIC.starts_with(bytes) {
                "truncated header"
            } else {
                "not a microkv store (bad magic)"
            }));
        }
        if bytes[..MAGIC.len()] != MAGIC {
            if let Some(version) = legacy_version(bytes) {
                return Err(Error::LegacyStore { version });
            }
            return Err(corrupt("not a microkv store (bad magic)"));
        }
        if bytes.len() < 10 {
            return Err(corrupt("truncated header"));
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != VERSION {
            return Err(Error::UnsupportedStoreVersion {
                found: version,
                expected: VERSION,
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(corrupt("truncated header"));
        }
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let (a, b, c) = (word(12), word(16), word(20));
        if bytes[11] != MESSAGEPACK {
            return Err(corrupt(format!("unknown value encoding {}", bytes[11])));
        }
        let kdf = match bytes[10] {
            0 if (a, b, c) == (0, 0, 0) => None,
            0 => return Err(corrupt("raw-key store with KDF parameters")),
            1 => Some(KdfParams::argon2id(a, b, c)),
            2 => {
                let log_n = u8::try_from(a)
                    .map_err(|_| Error::InvalidKdfParams(format!("scrypt log_n={a}")))?;
                Some(KdfParams::scrypt(log_n, b, c))
            }
            id => return Err(corrupt(format!("unknown KDF id {id}"))),
        };
        if let Some(kdf) = &kdf {
            kdf.check()?;
        }
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&bytes[24..40]);
        let mut commitment = [0u8; KEY_LEN];
        commitment.copy_from_slice(&bytes[40..72]);
        let mut wrapped = [0u8; WRAPPED_LEN];
        wrapped.copy_from_slice(&bytes[72..144]);
        Ok(KeyHeader {
            kdf,
            salt,
            commitment,
            wrapped,
        })
    }
}

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
