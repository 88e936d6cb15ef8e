//! Byte values stored as bytes: [`Tree::put_bytes`] writes a MessagePack `bin` (one
//! header, then the bytes), not the array of integers a `Vec<u8>` serializes as; and
//! [`Tree::get_bytes`] reads either.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use serde::{Serialize, Serializer};

use super::Tree;
use crate::error::Result;

/// Bytes that serialize as bytes (`serialize_bytes`), as `serde_bytes` does.
struct Bin<'a>(&'a [u8]);

impl Serialize for Bin<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> core::result::Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl Tree {
    /// Stores `bytes` under `key` as a MessagePack `bin`: 2 to 5 bytes of header, then the
    /// bytes (a 256-byte value takes 259; `put` of a `Vec<u8>` writes an array of integers,
    /// up to 2 bytes each: 387 for 256 random bytes). It reads back with
    /// [`Tree::get_bytes`], [`Tree::get_secret_bytes`], `get::<Vec<u8>>` and
    /// `get::<serde_bytes::ByteBuf>`. The bytes are serialized straight into the arena.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put_bytes("salt", &[0xde, 0xad, 0xbe, 0xef])?;
    /// assert_eq!(db.get_bytes("salt")?, Some(vec![0xde, 0xad, 0xbe, 0xef]));
    /// assert_eq!(db.get::<Vec<u8>>("salt")?, Some(vec![0xde, 0xad, 0xbe, 0xef]));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::put`].
    pub fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.put(key, &Bin(bytes))
    }

    /// The bytes under `key`, stored by [`Tree::put_bytes`], as a string, or as a
    /// `Vec<u8>` by `put` (an array of integers, as earlier versions and microkv 0.3 wrote
    /// it); `None` if absent or expired. The copy returned is on the ordinary heap: for a
    /// secret, [`Tree::get_secret_bytes`] keeps it in the locked arena.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("old", &vec![1u8, 2, 3])?; // an array of integers
    /// assert_eq!(db.get_bytes("old")?, Some(vec![1, 2, 3]));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::get_secret_bytes`]: `Error::Serialization` for a value of another type.
    pub fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .get_secret_bytes(key)?
            .map(|bytes| bytes.expose_secret().to_vec()))
    }
}
