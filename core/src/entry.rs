//! The entry model: what a store holds.
//!
//! A store is namespaces (the `space` module's `Space`, above this one) of [`Entry`]s
//! under [`Name`]s. An entry is a value sealed under the data key with its place
//! (namespace and key) as associated data, and an optional expiry. How a value is sealed, opened and decoded is the format's
//! (`format/value.rs`: `Entry::seal`, `Entry::open`, `Entry::read`); the expiry
//! arithmetic is here. The layers above only move entries around.
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use core::time::Duration;

use crate::crypto::SEAL_OVERHEAD;
use crate::error::{corrupt, Error, Result};

/// A key name copied out of a namespace: up to 24 bytes inline (12 on 32-bit targets),
/// so a short name costs no allocation of its own.
pub(crate) type Name = compact_str::CompactString;

/// A sealed value: `nonce || ciphertext || tag`, and its expiry in ms since the epoch,
/// as a write makes it or a reader copies it out of a namespace (which keeps it as a
/// record with its name, the `space` module) to decrypt it after letting go of the lock.
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
        check_sealed(sealed)?;
        Ok(Entry {
            sealed: sealed.into(),
            expires_at,
        })
    }
}

/// A sealed value read from a file or journal must hold at least a nonce and a tag.
pub(crate) fn check_sealed(sealed: &[u8]) -> Result<()> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(corrupt("sealed value shorter than nonce and tag"));
    }
    Ok(())
}

/// Whether an entry that expires at `expires_at` is live at `now` (always, without a
/// TTL or without a clock).
pub(crate) fn is_live(expires_at: Option<u64>, now: Option<u64>) -> bool {
    match (expires_at, now) {
        (Some(at), Some(now)) => now < at,
        _ => true,
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
