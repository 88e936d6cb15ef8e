//! The store file's header: its first 176 bytes, the [`KeyHeader`] (what is public about
//! the store's keys) followed by the body's nonce and length.
//!
//! ```text
//! off  len  field
//!   0    8  magic "MICROKV\0"
//!   8    2  format version (u16) = 2 (1: read, never written)
//!  10    1  KDF id: 0 raw key, 1 Argon2id, 2 scrypt
//!  11    1  value encoding: 1 MessagePack (the only one)
//!  12   12  KDF parameters, three u32: Argon2id (m KiB, t, p); scrypt (log_n, r, p); raw: 0
//!  24   16  salt
//!  40   32  key commitment
//!  --- 72 bytes: associated data of the key wrap
//!  72   72  wrapped data key: nonce (24) || ciphertext (32) || tag (16)
//! 144   24  snapshot nonce (v1: the body's; v2: the toc's, `P || 0u64`)
//! 168    8  v1: body length (u64), ciphertext + tag; v2: data length (u32), toc length (u32)
//!  --- 176 bytes: the header, associated data of the body (v1) or the toc (v2)
//! ```
#![forbid(unsafe_code)]

use alloc::format;
use core::ops::Range;

use super::check_magic;
use crate::codec::MESSAGEPACK;
use crate::crypto::{KEY_LEN, WRAPPED_LEN};
use crate::error::{corrupt, Error, Result};
use crate::kdf::{Kdf, KdfParams};

/// The magic bytes every store file starts with.
pub const MAGIC: [u8; 8] = *b"MICROKV\0";
/// The format version this build writes (it reads version 1 too).
pub const VERSION: u16 = 2;
/// The first version: what the key wrap's associated data says at bytes 8..10 whatever
/// the file's version (so a v1 store's wrapped key carries over to v2 unchanged), and the
/// first byte of every value's associated data.
pub(crate) const V1: u16 = 1;
/// Length of the whole file header (key header, body nonce and body length): a file
/// shorter than this is truncated.
pub(crate) const HEADER_LEN: usize = 176;
/// Length of the part of the header the key wrap authenticates.
pub(crate) const KEY_AAD_LEN: usize = 72;
/// Length of the key part of the header: everything but the body nonce and length.
pub(crate) const KEY_PART_LEN: usize = KEY_AAD_LEN + WRAPPED_LEN;
/// Where the body nonce (v1), or the snapshot nonce (v2), sits in the header.
pub(crate) const BODY_NONCE: Range<usize> = KEY_PART_LEN..168;
/// Where a v1 header has the body length.
pub(crate) const BODY_LEN: Range<usize> = 168..HEADER_LEN;
/// Where a v2 header has the data length and the toc length.
pub(crate) const DATA_LEN: Range<usize> = 168..172;
pub(crate) const TOC_LEN: Range<usize> = 172..HEADER_LEN;

/// Whether two key parts (bytes `0..144` of a header) are the same but perhaps for the
/// format version: a v1 file and the v2 file saved over it under the same keys.
pub(crate) fn same_keys(a: &[u8], b: &[u8]) -> bool {
    a.len() == KEY_PART_LEN && b.len() == KEY_PART_LEN && a[..8] == b[..8] && a[10..] == b[10..]
}

/// The format version of a store written by microkv 0.3, if `bytes` start like one: a
/// MessagePack array whose first items are the string `"microkv"` and a small integer.
fn legacy_version(bytes: &[u8]) -> Option<u8> {
    match bytes {
        [0x90..=0x9f, 0xa7, b'm', b'i', b'c', b'r', b'o', b'k', b'v', v @ 0..=0x7f, ..] => Some(*v),
        _ => None,
    }
}

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
    /// The key wrap's associated data: bytes 0..72 of the header, with bytes 8..10 the
    /// first version's whatever the file's.
    pub(crate) fn aad(&self) -> [u8; KEY_AAD_LEN] {
        let mut out = [0u8; KEY_AAD_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&V1.to_le_bytes());
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
        out[8..10].copy_from_slice(&VERSION.to_le_bytes());
        out[KEY_AAD_LEN..].copy_from_slice(&self.wrapped);
        out
    }

    /// Parses the key part of a file's header (its first 144 bytes, of a file at least
    /// [`HEADER_LEN`] long); checks magic, version and KDF bounds.
    pub(crate) fn parse(bytes: &[u8]) -> Result<KeyHeader> {
        if bytes.is_empty() {
            return Err(corrupt("empty file"));
        }
        if let Some(version) = legacy_version(bytes) {
            return Err(Error::LegacyStore { version });
        }
        if !check_magic(
            bytes,
            &MAGIC,
            &[V1, VERSION],
            "not a microkv store (bad magic)",
        )? || bytes.len() < HEADER_LEN
        {
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
