//! One value as the format holds it: `nonce (24) || ciphertext || tag (16)`, sealed under
//! the data key with its place as associated data,
//! `version (u8) || len(namespace) (u32) || namespace || key`, so that a value moved to
//! another key, namespace or format version fails to open. The plaintext is the value
//! in MessagePack ([`crate::codec`]).
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::header::V1;
use crate::arena::{Arena, SecretBuf};
use crate::crypto::{Keyring, SEAL_OVERHEAD};
use crate::entry::Entry;
use crate::error::{Error, Result};

impl Entry {
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
}

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
        &[V1 as u8],
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
                let mut expected = alloc::vec![super::V1 as u8];
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
