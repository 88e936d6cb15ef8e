//! The write-ahead journal: one sealed record per write, appended after a snapshot, so an
//! autosaved write costs one small durable append instead of a rewrite of the store.
//! `docs/FORMAT.md` ("Journal") documents every byte.
//!
//! ```text
//! header = "MKVJRNL\0" (8) || version u16 = 1 || reserved u16 = 0 || snapshot body nonce (24)
//! record = u32 len || u32 !len || nonce (24) || ciphertext || tag (16)
//!          len = 24 + ciphertext + 16; !len, its complement, tells a damaged length from
//!          a torn one
//! aad(i) = "microkv journal v1" || snapshot body nonce || u64 i || tag of record i-1
//!          (record 0: the snapshot's body tag)
//! ```
//!
//! The chain (index and previous tag in the associated data) makes a reordered, removed or
//! replayed record fail authentication. Only the tail is forgiving, and only of what a
//! crash leaves: a last record that is incomplete, or complete but zeros from a sector
//! boundary to its end, is a write that never committed and is dropped; a complete last
//! record that does not authenticate otherwise (a flipped tag, a forged record) is
//! `Error::Tampered`.
#![forbid(unsafe_code)]

use alloc::format;
use alloc::vec::Vec;

use super::check_magic;
use super::header::BODY_NONCE as SNAPSHOT_NONCE;
use super::position::Position;
use super::serial::{append_serialized, as_bytes, serialized_len};
use crate::crypto::{Keyring, NONCE_LEN, SEAL_OVERHEAD, TAG_LEN};
use crate::entry::{Change, Entry};
use crate::error::{corrupt, Error, Result};

/// The magic bytes a journal starts with.
const MAGIC: [u8; 8] = *b"MKVJRNL\0";
/// The journal version this build writes and reads.
const VERSION: u16 = 1;
/// Length of the journal header.
pub(crate) const HEADER_LEN: usize = 36;
/// The most bytes a journal may hold before a writer compacts it into a snapshot (the
/// bound itself is half the snapshot, at least 64 KiB: see the store's compaction).
pub(crate) const MAX_COMPACTION_BOUND: u64 = 8 << 20;
/// The longest journal a writer leaves: the committed records stay within the compaction
/// bound, and one more record (itself within it) may pass it before the compaction. A
/// longer journal is `Error::TooLarge`, refused before it is read.
pub const MAX_JOURNAL_LEN: u64 = 2 * MAX_COMPACTION_BOUND;
/// Length of a record's length field: the length and its complement.
const LEN_LEN: usize = 8;
/// First bytes of every record's associated data.
const LABEL: &[u8; 18] = b"microkv journal v1";

/// A position in the journal of one snapshot: where the next record goes and what it
/// chains to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// The body nonce of the snapshot the journal extends (unique per save).
    snapshot: [u8; NONCE_LEN],
    /// That snapshot's sequence number (in its body: `snapshot.rs`).
    pub(crate) sequence: u64,
    /// Bytes of the journal that belong to this snapshot and committed; `0` when it holds
    /// nothing of it yet (not even the header): the next append then replaces whatever
    /// the journal holds.
    pub(crate) len: u64,
    /// Index of the next record.
    index: u64,
    /// Tag of the last record (the snapshot's body tag before the first one).
    prev: [u8; TAG_LEN],
}

impl Cursor {
    /// The durable position this cursor stands at.
    pub(crate) fn position(&self) -> Position {
        Position {
            sequence: self.sequence,
            snapshot: self.snapshot,
            records: self.index,
            last_tag: self.prev,
        }
    }

    /// The start of the journal of `snapshot`, the bytes of a store file (valid: just
    /// written or just decoded) of sequence number `sequence`.
    pub(crate) fn after(snapshot: &[u8], sequence: u64) -> Cursor {
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&snapshot[SNAPSHOT_NONCE]);
        let mut prev = [0u8; TAG_LEN];
        prev.copy_from_slice(&snapshot[snapshot.len() - TAG_LEN..]);
        Cursor::of(nonce, prev, sequence)
    }

    /// The start of the journal of the snapshot whose nonce (header bytes `144..168`) and
    /// last 16 bytes (its body's tag, v1, or its toc's, v2) are these.
    pub(crate) fn of(snapshot: [u8; NONCE_LEN], tag: [u8; TAG_LEN], sequence: u64) -> Cursor {
        Cursor {
            snapshot,
            sequence,
            len: 0,
            index: 0,
            prev: tag,
        }
    }

    /// Whether this is a position in the journal of the snapshot whose first bytes (176 or
    /// more: its header) are `head`.
    pub(crate) fn extends(&self, head: &[u8]) -> bool {
        head.get(SNAPSHOT_NONCE) == Some(&self.snapshot[..])
    }

    fn aad(&self) -> [u8; LABEL.len() + NONCE_LEN + 8 + TAG_LEN] {
        super::concat(&[LABEL, &self.snapshot, &self.index.to_le_bytes(), &self.prev])
    }

    fn header(&self) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(&MAGIC);
        header[8..10].copy_from_slice(&VERSION.to_le_bytes());
        header[12..].copy_from_slice(&self.snapshot);
        header
    }
}

/// One change of a record, as written and read.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChangeRecord<'a> {
    ns: &'a str,
    key: &'a str,
    #[serde(borrow)]
    value: Option<ValueRecord<'a>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ValueRecord<'a> {
    expires_at: Option<u64>,
    #[serde(serialize_with = "as_bytes")]
    sealed: &'a [u8],
}

/// The bytes to append for one write (`changes`, applied together) at `at`, and the
/// cursor after them. At the start of a journal (`at.len == 0`) they begin with the
/// header.
pub(crate) fn encode(
    keyring: &Keyring,
    at: &Cursor,
    changes: &[Change<'_>],
) -> Result<(Vec<u8>, Cursor)> {
    let records: Vec<ChangeRecord<'_>> = changes
        .iter()
        .map(|c| ChangeRecord {
            ns: c.ns,
            key: c.key,
            value: c.entry.as_ref().map(|e| ValueRecord {
                expires_at: e.expires_at,
                sealed: &e.sealed,
            }),
        })
        .collect();
    let plain_len = serialized_len(&records)?;
    let sealed_len = SEAL_OVERHEAD + plain_len;
    let len = u32::try_from(sealed_len)
        .map_err(|_| Error::Serialization(format!("journal record of {sealed_len} bytes")))?;
    let head = if at.len == 0 { HEADER_LEN } else { 0 };
    let mut out = Vec::with_capacity(head + LEN_LEN + sealed_len);
    if head > 0 {
        out.extend_from_slice(&at.header());
    }
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    let nonce = keyring.next_nonce()?;
    out.extend_from_slice(&nonce);
    let start = out.len();
    let mut out = append_serialized(&records, out, plain_len)?;
    let tag = keyring.seal_in_place(&nonce, &at.aad(), &mut out[start..])?;
    out.extend_from_slice(&tag);
    let mut prev = [0u8; TAG_LEN];
    prev.copy_from_slice(&tag);
    let next = Cursor {
        len: at.len + out.len() as u64,
        index: at.index + 1,
        prev,
        ..*at
    };
    Ok((out, next))
}

/// Applies the committed records of `journal`, the journal's bytes from `start.len` on
/// (all of it, header included, for a cursor at the journal's start: `Cursor::after`),
/// in order, through `apply`, and returns the cursor after the last of them. Records that
/// do not chain to `start` fail authentication (`Error::Tampered`, or a torn tail if
/// nothing follows): a shared handle catches up with the records others appended since
/// its last known position this way.
///
/// A journal of another snapshot (left by a crash between a save's rename and the reset
/// of the journal) is ignored, and so is one of zeros only (of any length). A torn tail
/// (an incomplete header, an incomplete last record, a complete last record whose bytes
/// are zeros from a sector boundary on, or zeros where a record would start) is dropped;
/// the cursor's `len` then points before it, so the next append cuts it off. Any other
/// record that does not authenticate, the last one included, is `Error::Tampered`; a
/// malformed header or record is `Error::CorruptStore`.
pub(crate) fn replay(
    keyring: &Keyring,
    start: Cursor,
    journal: &[u8],
    apply: impl FnMut(&str, &str, Option<Entry>) -> Result<()>,
) -> Result<Cursor> {
    if start.len > 0 {
        return replay_records(keyring, start, journal, apply);
    }
    if journal.iter().all(|&b| b == 0) {
        // A journal extended before its header landed (a crash after its creation or a
        // compaction's cut): zeros end a journal anywhere, its header included.
        return Ok(start);
    }
    if !check_magic(journal, &MAGIC, &[VERSION], "journal: bad magic")?
        || journal.len() < HEADER_LEN
    {
        return Ok(start); // a torn header: nothing committed yet
    }
    if journal[10..12] != [0, 0] {
        return Err(corrupt("journal: reserved header bytes are not zero"));
    }
    if journal[12..HEADER_LEN] != start.snapshot {
        // The journal of an older snapshot: nothing in it belongs to this one.
        return Ok(start);
    }
    let at = Cursor {
        len: HEADER_LEN as u64,
        ..start
    };
    replay_records(keyring, at, &journal[HEADER_LEN..], apply)
}

/// The records of [`replay`]: `tail` is the journal's bytes from `at.len` on, `at` past
/// the header of its snapshot's journal.
fn replay_records(
    keyring: &Keyring,
    mut at: Cursor,
    tail: &[u8],
    mut apply: impl FnMut(&str, &str, Option<Entry>) -> Result<()>,
) -> Result<Cursor> {
    let mut rest = tail;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break; // space the file system allocated for a write that never landed
        }
        let Some((field, body)) = rest.split_first_chunk::<LEN_LEN>() else {
            break; // a torn length field
        };
        let len = u32::from_le_bytes([field[0], field[1], field[2], field[3]]);
        let check = u32::from_le_bytes([field[4], field[5], field[6], field[7]]);
        if check != !len || (len as usize) < SEAL_OVERHEAD {
            return Err(corrupt(format!(
                "journal: record {} has a bad length",
                at.index
            )));
        }
        let len = len as usize;
        if len > body.len() {
            break; // a torn record
        }
        let (record, after) = body.split_at(len);
        let (nonce, sealed) = record.split_at(NONCE_LEN);
        let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        // Key names in the clear once opened: wiped as it drops, on every path.
        let mut plain = zeroize::Zeroizing::new(ciphertext.to_vec());
        if let Err(e) = keyring.open_in_place(nonce, &at.aad(), &mut plain, tag) {
            if after.iter().all(|&b| b == 0) && torn(at.len + LEN_LEN as u64, record) {
                break; // the last record, torn
            }
            return Err(e);
        }
        let malformed =
            |why: &dyn core::fmt::Display| corrupt(format!("journal: record {}: {why}", at.index));
        let (changes, trailing) = postcard::take_from_bytes::<Vec<ChangeRecord<'_>>>(&plain)
            .map_err(|e| malformed(&e))?;
        if !trailing.is_empty() {
            return Err(malformed(&"trailing bytes"));
        }
        for c in changes {
            let value = c
                .value
                .map(|v| Entry::from_sealed(v.sealed, v.expires_at))
                .transpose()?;
            apply(c.ns, c.key, value)?;
        }
        at.len += (LEN_LEN + len) as u64;
        at.index += 1;
        at.prev.copy_from_slice(tag);
        rest = after;
    }
    Ok(at)
}

/// The file system's unit of a torn write: a crash can leave the sectors of an append
/// that never landed as zeros (where the file grew, or the space was allocated), never
/// half of one sector.
const SECTOR: u64 = 512;

/// Whether a complete record that does not authenticate, `record` (its nonce, ciphertext
/// and tag) at offset `at` of the journal, is an append a crash tore: its bytes are zeros
/// from a sector boundary of the file to its end. Anything else (a flipped bit, a forged
/// or replayed record) is `Error::Tampered`: zeroing a record's last sectors drops it as
/// a cut at its start would, which the format cannot tell from a crash either
/// (`docs/FORMAT.md`, "Rollback").
fn torn(at: u64, record: &[u8]) -> bool {
    let kept = record.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let zeros_from = at + kept as u64;
    zeros_from.div_ceil(SECTOR) * SECTOR < at + record.len() as u64
}
