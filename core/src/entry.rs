//! The entry model: what a store holds.
//!
//! A store is namespaces ([`Space`]) of [`Entry`]s under [`Name`]s. An entry is a value
//! sealed under the data key with its place (namespace and key) as associated data, and
//! an optional expiry. How a value is sealed, opened and decoded is the format's
//! (`format/value.rs`: `Entry::seal`, `Entry::open`, `Entry::read`); the expiry
//! arithmetic is here. The layers above only move entries around.
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use core::time::Duration;
use hashbrown::HashMap;

use crate::crypto::SEAL_OVERHEAD;
use crate::error::{corrupt, Error, Result};

/// One namespace: key name -> sealed entry.
pub(crate) type Space = HashMap<Name, Entry>;

/// A key name as a map holds it: up to 24 bytes inline in the bucket (12 on 32-bit
/// targets), so a lookup compares names without a pointer chase, and a short name costs
/// no allocation of its own.
pub(crate) type Name = compact_str::CompactString;

/// A sealed value: `nonce || ciphertext || tag`, and its expiry in ms since the epoch.
/// The sealed bytes are shared: a reader copies an entry out of the map by bumping a
/// count, and decrypts it after letting go of the lock.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) sealed: Arc<[u8]>,
    pub(crate) expires_at: Option<u64>,
}

/// A write to apply: `entry: None` removes the key. Names are borrowed: the maps copy a
/// name only when it is new to them.
pub(crate) struct Change<'a> {
    pub(crate) ns: &'a str,
    pub(crate) key: &'a str,
    pub(crate) entry: Option<Entry>,
}

impl Entry {
    /// An entry read from a file or journal: a sealed value must hold at least a nonce
    /// and a tag.
    pub(crate) fn from_sealed(sealed: &[u8], expires_at: Option<u64>) -> Result<Entry> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(corrupt("sealed value shorter than nonce and tag"));
        }
        Ok(Entry {
            sealed: sealed.into(),
            expires_at,
        })
    }

    /// Whether the entry is live at `now` (always, without a TTL or without a clock).
    pub(crate) fn is_live(&self, now: Option<u64>) -> bool {
        match (self.expires_at, now) {
            (Some(at), Some(now)) => now < at,
            _ => true,
        }
    }

    /// The length of the plaintext sealed in this entry.
    pub(crate) fn plain_len(&self) -> usize {
        self.sealed.len().saturating_sub(SEAL_OVERHEAD)
    }
}

/// The expiry time of an entry written at `now` (ms since the epoch) with `ttl`;
/// `Error::NoClock` if a TTL is asked for and the store has no clock.
pub(crate) fn expiry(
    now: impl FnOnce() -> Option<u64>,
    ttl: Option<Duration>,
) -> Result<Option<u64>> {
    let Some(ttl) = ttl else {
        return Ok(None);
    };
    let now = now().ok_or(Error::NoClock)?;
    Ok(Some(now.saturating_add(
        u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
    )))
}
