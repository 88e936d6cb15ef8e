//! How a value's plaintext encodes it: MessagePack, as microkv 0.3 stored values
//! (self-describing, so a value read as another numeric type is the same number or an
//! error, and any `Serialize` type round-trips; structs are written as maps, and arrays, as
//! 0.3 wrote them, read too). The body and the journal are postcard (format.rs, journal.rs).
#![forbid(unsafe_code)]

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;
use messagepack_serde::messagepack_core::io::{IoRead, IoWrite, Reference};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::arena::{Arena, SecretBuf};
use crate::error::{Error, Result};

mod newtypes;
use newtypes::{De, Newtypes};

/// Header byte 11: the encoding of the store's values, MessagePack (1), the only one.
pub(crate) const MESSAGEPACK: u8 = 1;

/// Errors carry the type's short name (`Vec<u8>`, not `alloc::vec::Vec<u8>`) and what
/// kind of value was stored, never the serializer's message: that can quote the value,
/// and errors end up in logs.
fn not_serializable<V: ?Sized>() -> Error {
    Error::Serialization(format!(
        "a {} could not be written as a value",
        short_type_name::<V>()
    ))
}

fn mismatch<V>(plain: &[u8]) -> Error {
    Error::Serialization(format!(
        "the stored value is {}, which does not read as a {}",
        stored_kind(plain),
        short_type_name::<V>()
    ))
}

/// `V`'s name without module paths: `Option<String>`, `HashMap<String, u32>`, `Token`.
fn short_type_name<V: ?Sized>() -> String {
    let full = core::any::type_name::<V>();
    let mut out = String::with_capacity(full.len());
    // Where the path segment being copied began in `out`: a `::` drops it.
    let mut segment = 0;
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.truncate(segment);
            continue;
        }
        out.push(c);
        if !(c.is_alphanumeric() || c == '_') {
            segment = out.len();
        }
    }
    out
}

/// What a MessagePack value is, in words, from its first byte.
fn stored_kind(plain: &[u8]) -> &'static str {
    match plain.first() {
        None => "empty",
        Some(0x00..=0x7f | 0xe0..=0xff | 0xcc..=0xd3) => "an integer",
        Some(0xca | 0xcb) => "a floating-point number",
        Some(0xc0) => "nil (a None or a unit)",
        Some(0xc2 | 0xc3) => "a boolean",
        Some(0xa0..=0xbf | 0xd9..=0xdb) => "a string",
        Some(0xc4..=0xc6) => "a byte string",
        Some(0x90..=0x9f | 0xdc | 0xdd) => "a sequence (an array, tuple or struct)",
        Some(0x80..=0x8f | 0xde | 0xdf) => "a map (a map or struct)",
        Some(_) => "a MessagePack extension value",
    }
}

/// A MessagePack writer that only counts bytes, for sizing the arena buffer.
struct Count(usize);

impl IoWrite for Count {
    type Error = core::convert::Infallible;
    fn write(&mut self, buf: &[u8]) -> core::result::Result<(), Self::Error> {
        self.0 += buf.len();
        Ok(())
    }
}

/// A MessagePack reader over a plaintext that reports how much is left unread, so that
/// trailing bytes are an error.
struct Reader<'de, 'r> {
    rest: &'de [u8],
    left: &'r mut usize,
}

#[derive(Debug)]
struct Truncated;

impl fmt::Display for Truncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("truncated value")
    }
}

impl core::error::Error for Truncated {}

impl<'de> IoRead<'de> for Reader<'de, '_> {
    type Error = Truncated;
    fn read_slice<'a>(
        &'a mut self,
        len: usize,
    ) -> core::result::Result<Reference<'de, 'a>, Truncated> {
        if len > self.rest.len() {
            return Err(Truncated);
        }
        let (read, rest) = self.rest.split_at(len);
        self.rest = rest;
        *self.left = rest.len();
        Ok(Reference::Borrowed(read))
    }
}

/// Serializes `value` straight into an arena buffer of exactly the right size.
pub(crate) fn encode<V: Serialize + ?Sized>(arena: &Arc<Arena>, value: &V) -> Result<SecretBuf> {
    let mut count = Count(0);
    messagepack_serde::ser::to_core_writer(value, &mut count)
        .map_err(|_| not_serializable::<V>())?;
    let mut buf = arena.alloc(count.0)?;
    let len = messagepack_serde::to_slice(value, &mut buf).map_err(|_| not_serializable::<V>())?;
    if len != buf.len() {
        // A `Serialize` impl that wrote something else the second time.
        return Err(not_serializable::<V>());
    }
    Ok(buf)
}

/// Deserializes a plaintext as a `V`, which must use every byte: a value stored as
/// another type is an error, never a silently truncated reading.
pub(crate) fn decode<V: DeserializeOwned>(plain: &[u8]) -> Result<V> {
    let mut left = plain.len();
    let reader = Reader {
        rest: plain,
        left: &mut left,
    };
    match messagepack_serde::de::from_core_reader::<_, Newtypes<V>>(reader) {
        Ok(Newtypes(value)) if left == 0 => Ok(value),
        _ => decode_bin_as_seq(plain).ok_or_else(|| mismatch::<V>(plain)),
    }
}

/// A MessagePack `bin` (what `put_bytes` and `serde_bytes` write) read as a `V` that
/// wants a sequence of bytes (a `Vec<u8>`, a `[u8; N]`), whose `Deserialize` does not
/// take `bin` itself; `None` if `plain` is not a `bin` or `V` is not such a type. Only a
/// whole value: a `bin` inside a struct reads only as a field that takes bytes.
fn decode_bin_as_seq<V: DeserializeOwned>(plain: &[u8]) -> Option<V> {
    if !matches!(plain.first(), Some(0xc4..=0xc6)) {
        return None;
    }
    let start = bytes_start(plain).ok()??;
    let bytes = plain.get(start..)?.iter().copied();
    let seq = serde::de::value::SeqDeserializer::<_, serde::de::value::Error>::new(bytes);
    V::deserialize(De(seq)).ok()
}

/// The error for a value read as bytes that was stored as something else.
fn not_bytes() -> Error {
    Error::Serialization("stored value is not bytes or a string".into())
}

/// Where the bytes of a value stored as a string or byte string lie in its plaintext:
/// `Ok(Some(start))` when they are its tail from `start` on; `Ok(None)` for a
/// MessagePack array of bytes (a `Vec<u8>` or `&[u8]` without `serde_bytes`), which
/// [`unpack_byte_array`] copies out.
pub(crate) fn bytes_start(plain: &[u8]) -> Result<Option<usize>> {
    let (start, len): (usize, usize) = match plain {
        [b @ 0xa0..=0xbf, ..] => (1, usize::from(b & 0x1f)),
        [0xd9 | 0xc4, n, ..] => (2, usize::from(*n)),
        [0xda | 0xc5, a, b, ..] => (3, usize::from(u16::from_be_bytes([*a, *b]))),
        [0xdb | 0xc6, a, b, c, d, ..] => {
            let n = u32::from_be_bytes([*a, *b, *c, *d]);
            (5, usize::try_from(n).map_err(|_| not_bytes())?)
        }
        [0x90..=0x9f | 0xdc | 0xdd, ..] => return Ok(None),
        _ => return Err(not_bytes()),
    };
    if start.checked_add(len) != Some(plain.len()) {
        return Err(not_bytes());
    }
    Ok(Some(start))
}

/// A MessagePack array of bytes (each a positive fixint or a `uint8`) decoded into a
/// new arena buffer.
pub(crate) fn unpack_byte_array(arena: &Arc<Arena>, plain: &[u8]) -> Result<SecretBuf> {
    let (len, mut rest) = match plain {
        [b @ 0x90..=0x9f, rest @ ..] => (usize::from(b & 0x0f), rest),
        [0xdc, a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
        [0xdd, a, b, c, d, rest @ ..] => {
            let n = u32::from_be_bytes([*a, *b, *c, *d]);
            (usize::try_from(n).map_err(|_| not_bytes())?, rest)
        }
        _ => return Err(not_bytes()),
    };
    // Each element takes at least one byte: a length past that is malformed, and must
    // not size an allocation.
    if len > rest.len() {
        return Err(not_bytes());
    }
    let mut out = arena.alloc(len)?;
    for byte in out.iter_mut() {
        (*byte, rest) = match rest {
            [b @ 0x00..=0x7f, tail @ ..] => (*b, tail),
            [0xcc, b, tail @ ..] => (*b, tail),
            _ => return Err(not_bytes()),
        };
    }
    if !rest.is_empty() {
        return Err(not_bytes());
    }
    Ok(out)
}
