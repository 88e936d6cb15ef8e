//! Postcard, as the snapshot's body and the journal's records use it: sized first, then
//! written once behind what a buffer already holds, byte strings copied whole.
#![forbid(unsafe_code)]

use alloc::format;
use alloc::vec::Vec;
use serde::{Serialize, Serializer};

use crate::error::{Error, Result};

/// Serializes a byte slice as one byte string. serde would write `&[u8]` as a sequence
/// of `u8`, one call per byte; postcard encodes both as `varint(len) || bytes`, so the
/// file is the same, made several times faster. (Deserializing `&[u8]` already reads a
/// borrowed byte string.)
pub(super) fn as_bytes<S: Serializer>(bytes: &&[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

/// The length of `value` in postcard.
pub(super) fn serialized_len<T: Serialize + ?Sized>(value: &T) -> Result<usize> {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
        .map_err(|e| Error::Serialization(format!("{e}")))
}

/// `out` with `value` (of `len` bytes in postcard, from [`serialized_len`]) serialized
/// behind what it holds, so that it can be encrypted where it lies.
pub(super) fn append_serialized<T: Serialize + ?Sized>(
    value: &T,
    out: Vec<u8>,
    len: usize,
) -> Result<Vec<u8>> {
    let start = out.len();
    let out = postcard::serialize_with_flavor(value, Append(out))
        .map_err(|e| Error::Serialization(format!("{e}")))?;
    let written = out.len() - start;
    if written != len {
        return Err(Error::Serialization(format!(
            "serialized to {written} bytes, {len} expected"
        )));
    }
    Ok(out)
}

/// A postcard flavor that appends to a vector, copying byte strings whole.
struct Append(Vec<u8>);

impl postcard::ser_flavors::Flavor for Append {
    type Output = Vec<u8>;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}
