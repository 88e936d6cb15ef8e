//! The entry model: what a store holds and how one value is sealed, opened and decoded.
//!
//! A store is namespaces ([`Space`]) of [`Entry`]s under [`Name`]s. An entry is a value
//! sealed under the data key with its place (namespace and key) as associated data, and
//! an optional expiry. Everything about a single key lives here once: encoding a value
//! into the arena, sealing it, computing its expiry, opening and decoding it. The layers
//! above (the engine, `Tree`, `Txn`, the file format and the journal)
//! only move entries around.
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;
use hashbrown::HashMap;
use serde::de::DeserializeOwned;

use crate::arena::{Arena, SecretBuf};
use crate::crypto::{Keyring, SEAL_OVERHEAD};
use crate::error::{corrupt, Error, Result};

/// The format version this build writes. Also the first byte of every value's
/// associated data, so a value sealed under one version never opens under another.
pub const VERSION: u16 = 1;

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

    /// Seals a plaintext (in the arena, left holding the ciphertext) as the value of
    /// `ns`/`key`.
    pub(crate) fn seal(
        keyring: &Keyring,
        ns: &str,
        key: &str,
        plain: &mut [u8],
        expires_at: Option<u64>,
    ) -> Result<Entry> {
        // Allocated once, at its final size, and sealed where it lies.
        let mut sealed: Arc<[u8]> = core::iter::repeat_n(0, plain.len() + SEAL_OVERHEAD).collect();
        let out = Arc::get_mut(&mut sealed).ok_or(Error::Crypto)?;
        keyring.seal_into(&value_aad(ns, key), plain, out)?;
        Ok(Entry { sealed, expires_at })
    }

    /// Whether the entry is live at `now` (always, without a TTL or without a clock).
    pub(crate) fn is_live(&self, now: Option<u64>) -> bool {
        match (self.expires_at, now) {
            (Some(at), Some(now)) => now < at,
            _ => true,
        }
    }

    /// Opens the value of `ns`/`key` into the arena.
    pub(crate) fn open(
        &self,
        keyring: &Keyring,
        arena: &Arc<Arena>,
        ns: &str,
        key: &str,
    ) -> Result<SecretBuf> {
        keyring.open(arena, &value_aad(ns, key), &self.sealed)
    }

    /// The length of the plaintext sealed in this entry.
    pub(crate) fn plain_len(&self) -> usize {
        self.sealed.len().saturating_sub(SEAL_OVERHEAD)
    }

    /// Opens the value of `ns`/`key` and decodes it as a `V`.
    pub(crate) fn read<V: DeserializeOwned>(
        &self,
        keyring: &Keyring,
        arena: &Arc<Arena>,
        ns: &str,
        key: &str,
    ) -> Result<V> {
        decode(&self.open(keyring, arena, ns, key)?)
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

/// How values are encoded and decoded: [`crate::codec`], by the store's encoding.
pub(crate) use crate::codec::{decode, encode};

/// Longest value AAD kept on the stack: namespace and key names of up to 123 bytes together.
const INLINE_AAD: usize = 128;

/// A value's associated data (names only: nothing secret), read as `&[u8]`.
pub(crate) enum ValueAad {
    Inline(heapless::Vec<u8, INLINE_AAD>),
    Heap(Vec<u8>),
}

impl core::ops::Deref for ValueAad {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ValueAad::Inline(bytes) => bytes,
            ValueAad::Heap(bytes) => bytes,
        }
    }
}

/// The associated data that binds a value to its place: format version, namespace, key.
/// The namespace is length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
/// Built on the stack when short (every get and put needs one), on the heap otherwise.
pub(crate) fn value_aad(namespace: &str, key: &str) -> ValueAad {
    let parts: [&[u8]; 4] = [
        &[VERSION as u8],
        &(namespace.len() as u32).to_le_bytes(),
        namespace.as_bytes(),
        key.as_bytes(),
    ];
    let mut inline = heapless::Vec::new();
    for part in parts {
        if inline.extend_from_slice(part).is_err() {
            return ValueAad::Heap(parts.concat());
        }
    }
    ValueAad::Inline(inline)
}

#[cfg(test)]
mod tests {
    #[test]
    fn value_aad_is_the_same_bytes_inline_and_on_the_heap() {
        for ns_len in [0usize, 1, 60, 122, 123, 124, 200] {
            for key_len in [0usize, 1, 5, 6, 64] {
                let (ns, key) = ("n".repeat(ns_len), "k".repeat(key_len));
                let mut expected = alloc::vec![super::VERSION as u8];
                expected.extend_from_slice(&(ns_len as u32).to_le_bytes());
                expected.extend_from_slice(ns.as_bytes());
                expected.extend_from_slice(key.as_bytes());
                let aad = super::value_aad(&ns, &key);
                assert_eq!(&*aad, &expected[..], "ns {ns_len} key {key_len}");
                let inline = matches!(aad, super::ValueAad::Inline(_));
                assert_eq!(inline, expected.len() <= super::INLINE_AAD);
            }
        }
    }
}
