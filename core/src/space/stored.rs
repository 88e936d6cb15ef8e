//! [`Stored`]: one entry as a namespace holds it, borrowed from where it lies (a record of
//! a segment or a log, or a v2 file's directory row and record).
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use super::record::varint;
use crate::crypto::{XNonce, NONCE_LEN, SEAL_OVERHEAD, TAG_LEN};
use crate::entry::Entry;

/// Bytes of a value nonce's prefix (a v2 record's `p` indexes its file's list of them).
pub(crate) const NONCE_PREFIX_LEN: usize = 16;

/// One entry as its record holds it.
#[derive(Clone, Copy)]
pub(crate) struct Stored<'a> {
    pub(crate) key: &'a str,
    pub(crate) expires_at: Option<u64>,
    /// The sealed value: `nonce || ciphertext || tag`, or, with [`Stored::nonce`] set (a
    /// v2 file's record, which writes its nonce short), `ciphertext || tag`.
    pub(crate) sealed: &'a [u8],
    pub(crate) nonce: Option<XNonce>,
}

impl<'a> Stored<'a> {
    /// An entry whose sealed value carries its nonce.
    pub(crate) const fn whole(key: &'a str, expires_at: Option<u64>, sealed: &'a [u8]) -> Self {
        Stored {
            key,
            expires_at,
            sealed,
            nonce: None,
        }
    }

    /// The value's nonce and its `ciphertext || tag`; `None` if it is too short to be a
    /// sealed value.
    pub(crate) fn parts(&self) -> Option<(XNonce, &'a [u8])> {
        match self.nonce {
            Some(nonce) => (self.sealed.len() >= TAG_LEN).then_some((nonce, self.sealed)),
            None => {
                let (nonce, rest) = self.sealed.split_at_checked(NONCE_LEN)?;
                let nonce = XNonce::try_from(nonce).ok()?;
                (rest.len() >= TAG_LEN).then_some((nonce, rest))
            }
        }
    }

    /// Appends the sealed value, `nonce || ciphertext || tag`, to `out`.
    pub(crate) fn append_sealed(&self, out: &mut Vec<u8>) {
        if let Some(nonce) = &self.nonce {
            out.extend_from_slice(nonce);
        }
        out.extend_from_slice(self.sealed);
    }

    /// An owned copy of the entry, to use without the map.
    pub(crate) fn to_entry(self) -> Entry {
        let sealed = match &self.nonce {
            None => self.sealed.into(),
            // One allocation, of the exact length (the chain of two slices says it).
            Some(nonce) => nonce.iter().chain(self.sealed).copied().collect(),
        };
        Entry {
            sealed,
            expires_at: self.expires_at,
        }
    }

    /// Whether the entry is live at `now` (always, without a TTL or without a clock).
    pub(crate) fn is_live(&self, now: Option<u64>) -> bool {
        crate::entry::is_live(self.expires_at, now)
    }

    /// The length of the plaintext sealed in this entry.
    pub(crate) fn plain_len(&self) -> usize {
        let overhead = match self.nonce {
            Some(_) => TAG_LEN,
            None => SEAL_OVERHEAD,
        };
        self.sealed.len().saturating_sub(overhead)
    }
}

/// A v2 file's record, `varint(p) || varint(c) || ciphertext || tag`, as its value's nonce
/// (`prefixes[p] || u64le(c)`) and `ciphertext || tag`; `None` if it does not parse (no
/// room for the tag) or `p` is not listed.
pub(super) fn short_sealed<'r>(
    record: &'r [u8],
    prefixes: &[[u8; NONCE_PREFIX_LEN]],
) -> Option<(XNonce, &'r [u8])> {
    let mut at = 0;
    let p = usize::try_from(varint(record, &mut at)?).ok()?;
    let c = varint(record, &mut at)?;
    let prefix = prefixes.get(p)?;
    let sealed = record.get(at..).filter(|s| s.len() >= TAG_LEN)?;
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
    nonce[NONCE_PREFIX_LEN..].copy_from_slice(&c.to_le_bytes());
    Some((nonce, sealed))
}
