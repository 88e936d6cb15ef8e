//! The store file (a snapshot): the [`header`](super::header), then the body (every
//! namespace's key names, expiries and sealed values, in postcard) sealed under the data
//! key with the whole header as associated data.
//!
//! ```text
//! body = varint(spaces) || { str name || varint(entries) || { str key ||
//!        option<u64> expires_at || bytes sealed }* }* || varint(sequence)
//! ```
//!
//! The sequence counts the snapshots of the store's history: each save writes the one
//! before it plus one, a rekey included (files written before it existed end after the
//! spaces, and read as sequence 0). With the journal's record count it makes
//! [`Position`](super::position::Position) an order an application can pin.
#![forbid(unsafe_code)]

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use hashbrown::HashMap;
use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use super::header::{KeyHeader, BODY_LEN, BODY_NONCE, HEADER_LEN};
use super::serial::{append_serialized, as_bytes, serialized_len};
use crate::crypto::{Keyring, TAG_LEN};
use crate::error::{corrupt, Result};
use crate::kdf::KdfLimit;
use crate::space::{Segment, Space};

/// The longest store file this build reads or writes (1 GiB): a longer one is
/// `Error::TooLarge`, refused before it is read (a store lives in memory whole).
pub const MAX_STORE_LEN: u64 = 1 << 30;

/// One entry as the body holds it: read by [`super::body_in`] into the maps, written by
/// [`BodyOut`] straight from them (postcard writes no field names and no struct framing:
/// a struct is its fields in order, a sequence is `varint(len) || elements`).
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct EntryRecord<'a> {
    pub(super) key: &'a str,
    pub(super) expires_at: Option<u64>,
    #[serde(serialize_with = "as_bytes")]
    pub(super) sealed: &'a [u8],
}

/// The body as written, straight from the store's maps (no intermediate vectors, which
/// cost as much as the encryption for large stores): the entries live at `now`, without
/// the namespaces that have none, in the wire format of the module's text.
struct BodyOut<'a> {
    spaces: &'a HashMap<String, Space>,
    now: Option<u64>,
    sequence: u64,
}

impl BodyOut<'_> {
    fn live(&self, space: &Space) -> usize {
        space.iter().filter(|e| e.is_live(self.now)).count()
    }
}

impl Serialize for BodyOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut body = serializer.serialize_struct("Body", 2)?;
        body.serialize_field("spaces", &SpacesOut(self))?;
        body.serialize_field("sequence", &self.sequence)?;
        body.end()
    }
}

struct SpacesOut<'a>(&'a BodyOut<'a>);

impl Serialize for SpacesOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let body = self.0;
        let now = body.now;
        let count = body
            .spaces
            .values()
            .filter(|space| space.iter().any(|e| e.is_live(now)))
            .count();
        let mut seq = serializer.serialize_seq(Some(count))?;
        for (name, space) in body.spaces {
            let live = body.live(space);
            if live > 0 {
                seq.serialize_element(&SpaceOut {
                    name,
                    space,
                    live,
                    now,
                })?;
            }
        }
        seq.end()
    }
}

struct SpaceOut<'a> {
    name: &'a str,
    space: &'a Space,
    live: usize,
    now: Option<u64>,
}

impl Serialize for SpaceOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut record = serializer.serialize_struct("SpaceRecord", 2)?;
        record.serialize_field("name", self.name)?;
        record.serialize_field("entries", &EntriesOut(self))?;
        record.end()
    }
}

struct EntriesOut<'a>(&'a SpaceOut<'a>);

impl Serialize for EntriesOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let space = self.0;
        let mut seq = serializer.serialize_seq(Some(space.live))?;
        for e in space.space.iter().filter(|e| e.is_live(space.now)) {
            seq.serialize_element(&EntryRecord {
                key: e.key,
                expires_at: e.expires_at,
                sealed: e.sealed,
            })?;
        }
        seq.end()
    }
}

/// The v1 bytes of a store: the header, then the body sealed under the data key with the
/// whole header as associated data. Entries already expired at `now` are left out.
pub(crate) fn encode(
    header: &KeyHeader,
    keyring: &Keyring,
    spaces: &HashMap<String, Space>,
    now: Option<u64>,
    sequence: u64,
) -> Result<Vec<u8>> {
    let body = BodyOut {
        spaces,
        now,
        sequence,
    };
    // Sized first, then written once behind the header: no reallocation, no second buffer.
    let len = serialized_len(&body)?;
    crate::storage::check_len((HEADER_LEN + len + TAG_LEN) as u64, MAX_STORE_LEN)?;
    let mut out = Vec::with_capacity(HEADER_LEN + len + TAG_LEN);
    out.extend_from_slice(&header.key_part());
    let nonce = keyring.next_nonce()?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&((len + TAG_LEN) as u64).to_le_bytes());
    let mut out = append_serialized(&body, out, len)?;
    let (head, body_out) = out.split_at_mut(HEADER_LEN);
    let tag = keyring.seal_in_place(&nonce, head, body_out)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens the v1 bytes of a store with the keyring `unlock` gets from their header: the
/// header's structure and bounds first, then the KDF's cost against `limit`, then the
/// body's length, then `unlock` (which checks the credential against the commitment,
/// `WrongPassword`, and the key wrap, `Tampered`), then the body (`Tampered`), then the
/// body's structure. The body is decrypted where it lies (it holds names and sealed
/// values, nothing secret); the header and the tag are left as they were.
pub(crate) fn decode(
    bytes: Vec<u8>,
    limit: KdfLimit,
    unlock: impl FnOnce(&KeyHeader) -> Result<Keyring>,
) -> Result<(KeyHeader, Keyring, Opened)> {
    let header = KeyHeader::parse(&bytes)?;
    if let Some(kdf) = &header.kdf {
        limit.admit(kdf)?;
    }
    check_body_len(&bytes)?;
    let keyring = unlock(&header)?;
    let opened = open_body(&keyring, bytes)?;
    Ok((header, keyring, opened))
}

/// The namespaces of `bytes`, a v1 file whose key part (bytes `0..144`) is the one
/// `keyring` was unwrapped from: how a shared handle reads a snapshot another handle
/// saved under the same credential, without running the KDF again. The body is
/// decrypted in place (header and tag stay). The caller compares the key part first.
pub(crate) fn decode_with(keyring: &Keyring, bytes: Vec<u8>) -> Result<Opened> {
    KeyHeader::parse(&bytes)?;
    check_body_len(&bytes)?;
    open_body(keyring, bytes)
}

/// Checks the body length in the header of `bytes` (parsed) against the file's.
fn check_body_len(bytes: &[u8]) -> Result<()> {
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[BODY_LEN]);
    let body_len = u64::from_le_bytes(len);
    let actual = (bytes.len() - HEADER_LEN) as u64;
    if body_len != actual || body_len < TAG_LEN as u64 {
        return Err(corrupt(format!(
            "body length {body_len} disagrees with the file ({actual} bytes)"
        )));
    }
    Ok(())
}

/// What a snapshot's body holds: the namespaces, and the snapshot's sequence number.
pub(crate) struct Opened {
    pub(crate) spaces: HashMap<String, Space>,
    pub(crate) sequence: u64,
    /// The file, its body decrypted (header and tag as they were): the namespaces keep
    /// their records where they lie in it.
    pub(crate) file: Segment,
}

/// Opens the body of `bytes` (its length checked) in place under `keyring` and parses it.
fn open_body(keyring: &Keyring, mut bytes: Vec<u8>) -> Result<Opened> {
    let (head, sealed) = bytes.split_at_mut(HEADER_LEN);
    let (plain, tag) = sealed.split_at_mut(sealed.len() - TAG_LEN);
    keyring.open_in_place(&head[BODY_NONCE], head, plain, tag)?;
    let file = Arc::new(bytes);
    let (spaces, rest) = super::body_in::parse(&file, HEADER_LEN..file.len() - TAG_LEN)?;
    let sequence = match rest {
        [] => 0, // written before the sequence existed
        _ => {
            let (sequence, rest) = postcard::take_from_bytes::<u64>(rest)
                .map_err(|e| corrupt(format!("body: sequence: {e}")))?;
            if !rest.is_empty() {
                return Err(corrupt("trailing bytes in body"));
            }
            sequence
        }
    };
    Ok(Opened {
        spaces,
        sequence,
        file,
    })
}
