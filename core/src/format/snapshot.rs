//! The store file (a snapshot): the [`header`](super::header), then, in a v2 file (what
//! this build writes, [`super::v2_out`]), every namespace's directory, records and names
//! block and the sealed toc ([`super::v2_in`] reads them); in a v1 file (still read), the
//! body (every namespace's key names, expiries and sealed values, in postcard) sealed
//! under the data key with the whole header as associated data.
//!
//! ```text
//! v1 body = varint(spaces) || { str name || varint(entries) || { str key ||
//!           option<u64> expires_at || bytes sealed }* }* || varint(sequence)
//! ```
//!
//! The sequence counts the snapshots of the store's history: each save writes the one
//! before it plus one, a rekey included (v1 files written before it existed end after the
//! spaces, and read as sequence 0). With the journal's record count it makes
//! [`Position`](super::position::Position) an order an application can pin.
#![forbid(unsafe_code)]

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use hashbrown::HashMap;

use super::header::{KeyHeader, BODY_LEN, BODY_NONCE, HEADER_LEN, KEY_PART_LEN, V1};
use super::journal::Cursor;
use crate::arena::Arena;
use crate::crypto::{Keyring, TAG_LEN};
use crate::error::{corrupt, Result};
use crate::kdf::KdfLimit;
use crate::space::Space;
use crate::storage::{check_len, Snapshot};

pub(crate) use super::v2_out::encode;

/// The longest store file this build reads or writes (1 GiB): a longer one is
/// `Error::TooLarge`, refused before it is read (a store lives in memory whole).
pub const MAX_STORE_LEN: u64 = 1 << 30;

/// One entry as a v1 body holds it, read by [`super::body_in`] into the maps.
#[derive(serde::Deserialize)]
pub(super) struct EntryRecord<'a> {
    pub(super) key: &'a str,
    pub(super) expires_at: Option<u64>,
    pub(super) sealed: &'a [u8],
}

/// Opens the bytes of a store file (v1 or v2) with the keyring `unlock` gets from their
/// header: the header's structure and bounds first, then the KDF's cost against `limit`,
/// then the lengths, then `unlock` (which checks the credential against the commitment,
/// `WrongPassword`, and the key wrap, `Tampered`), then the body (v1) or the toc and the
/// directories (v2), `Tampered`, then their structure.
///
/// A v2 file kept open ([`Snapshot::File`]) is read lazily: its header, toc and
/// directories now, its records and names blocks when a read needs them (the checks are
/// the same, each when its bytes are read). Anything else is read whole first.
pub(crate) fn decode(
    snapshot: Snapshot,
    limit: KdfLimit,
    arena: &Arc<Arena>,
    unlock: impl FnOnce(&KeyHeader) -> Result<Keyring>,
) -> Result<(KeyHeader, Arc<Keyring>, Opened)> {
    let (file, head) = match snapshot {
        Snapshot::File(file) => {
            let len = usize::try_from(file.len()).unwrap_or(usize::MAX);
            check_len(file.len(), MAX_STORE_LEN)?;
            let mut head = vec![0u8; len.min(HEADER_LEN)];
            file.read_exact_at(0, &mut head)?;
            if head.len() < HEADER_LEN || version(&head) == V1 {
                // Short (its error comes from the whole) or version 1: read whole.
                let mut bytes = vec![0u8; len];
                file.read_exact_at(0, &mut bytes)?;
                (None, bytes)
            } else {
                (Some((file, len)), head)
            }
        }
        Snapshot::Bytes(bytes) => (None, bytes),
    };
    let header = KeyHeader::parse(&head)?;
    if let Some(kdf) = &header.kdf {
        limit.admit(kdf)?;
    }
    let Some((file, len)) = file else {
        check_lengths(&head)?;
        let keyring = Arc::new(unlock(&header)?);
        let opened = open_file(&keyring, arena, head)?;
        return Ok((header, keyring, opened));
    };
    super::v2_in::check_lengths(&head, len)?;
    let keyring = Arc::new(unlock(&header)?);
    let (key_part, nonce) = key_part_and_nonce(&head);
    let (spaces, sequence, tag) = super::v2_in::open_lazily(&keyring, arena, head, file)?;
    let opened = Opened {
        spaces,
        sequence,
        len,
        key_part,
        cursor: Cursor::of(nonce, tag, sequence),
    };
    Ok((header, keyring, opened))
}

/// The key part (bytes `0..144`) and the body or snapshot nonce of a file's header.
fn key_part_and_nonce(head: &[u8]) -> ([u8; KEY_PART_LEN], [u8; 24]) {
    let mut key_part = [0u8; KEY_PART_LEN];
    key_part.copy_from_slice(&head[..KEY_PART_LEN]);
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&head[BODY_NONCE]);
    (key_part, nonce)
}

/// The namespaces of `bytes`, a file whose key part (bytes `0..144`) is the one `keyring`
/// was unwrapped from (perhaps of another version): how a shared handle reads a snapshot
/// another handle saved under the same credential, without running the KDF again. The
/// caller compares the key part first.
pub(crate) fn decode_with(
    keyring: &Arc<Keyring>,
    arena: &Arc<Arena>,
    bytes: Vec<u8>,
) -> Result<Opened> {
    KeyHeader::parse(&bytes)?;
    check_lengths(&bytes)?;
    open_file(keyring, arena, bytes)
}

fn version(bytes: &[u8]) -> u16 {
    u16::from_le_bytes([bytes[8], bytes[9]])
}

/// Checks the lengths in the header of `bytes` (parsed) against the file's.
fn check_lengths(bytes: &[u8]) -> Result<()> {
    if version(bytes) != V1 {
        return super::v2_in::check_lengths(bytes, bytes.len());
    }
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

/// What a snapshot holds: the namespaces, and the snapshot's sequence number; and what
/// the journal and the next save need of the file.
pub(crate) struct Opened {
    pub(crate) spaces: HashMap<String, Space>,
    pub(crate) sequence: u64,
    /// The file's length.
    pub(crate) len: usize,
    /// The file's first 144 bytes, as they are in the file.
    pub(crate) key_part: [u8; KEY_PART_LEN],
    /// The start of the snapshot's journal.
    pub(crate) cursor: Cursor,
}

/// Opens the body of `bytes` (its lengths checked) under `keyring` and parses it.
fn open_file(keyring: &Arc<Keyring>, arena: &Arc<Arena>, bytes: Vec<u8>) -> Result<Opened> {
    let len = bytes.len();
    let (key_part, nonce) = key_part_and_nonce(&bytes);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&bytes[len - TAG_LEN..]);
    let (spaces, sequence) = match version(&bytes) {
        V1 => open_v1(keyring, bytes)?,
        _ => super::v2_in::open(keyring, arena, bytes)?,
    };
    Ok(Opened {
        spaces,
        sequence,
        len,
        key_part,
        cursor: Cursor::of(nonce, tag, sequence),
    })
}

/// Opens the body of the v1 file `bytes` in place under `keyring` and parses it (the
/// namespaces keep their records where they lie in it).
fn open_v1(keyring: &Keyring, mut bytes: Vec<u8>) -> Result<(HashMap<String, Space>, u64)> {
    let (head, sealed) = bytes.split_at_mut(HEADER_LEN);
    let (plain, tag) = sealed.split_at_mut(sealed.len() - TAG_LEN);
    keyring.open_in_place(&head[BODY_NONCE], head, plain, tag)?;
    let file = Arc::new(zeroize::Zeroizing::new(bytes));
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
    Ok((spaces, sequence))
}
