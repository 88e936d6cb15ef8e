//! [`Indexed`]: the entries a v2 store file holds for one namespace, looked up where they
//! lie in the file's bytes, through its directory (docs/FORMAT.md, "Directory"): `count`
//! fixed-size rows sorted by the keyed hash of each name, so a lookup hashes the name and
//! searches the rows, and no name is decrypted for it. The names are in a block of their
//! own, sealed, opened into the arena by the first call that lists them.
//!
//! ```text
//! row    = hash u64 || check u32 || end u32 || pin [u8; 8] || (expiry u64, with expiries)
//! record = varint(p) || varint(c) || ciphertext || tag     (nonce: prefixes[p] || u64le(c))
//! ```
//!
//! The directory was authenticated when the file was read (its tag, in the sealed toc);
//! a record is checked when it is read: its bounds, and its value's tag against the pin.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::Range;
use core::sync::atomic::Ordering;
use subtle::ConstantTimeEq;

use super::lazy::{Groups, GROUP_ROWS};
use super::record::{prefixed, preload};
use super::row::Row;
pub(crate) use super::row::{DIR_ENTRY_LEN, EXPIRY_LEN, NO_EXPIRY, PIN_LEN};
use super::search::{self, Fence};
use super::stored::{short_sealed, NONCE_PREFIX_LEN};
use super::Stored;
use crate::arena::{Arena, SecretBuf};
use crate::crypto::{Keyring, XNonce, TAG_LEN};
use crate::error::{corrupt, Error, Result};
use crate::storage::SnapshotFile;
use crate::sync::{AtomicU64, Once};

/// Bytes of a directory each tag authenticates (the last chunk may be shorter).
pub(crate) const DIR_CHUNK: usize = 4096;

/// Fewest bytes of a record: two one-byte varints and the tag.
const MIN_RECORD_LEN: usize = 2 + TAG_LEN;

/// A v2 store file as read: its bytes (all of them; or, with `lazy`, its header and
/// directories, the rest read from `lazy` when needed), the nonce prefixes of its values
/// (from its toc), and the keys and arena its names open with.
pub(crate) struct SealedFile {
    pub(crate) bytes: Vec<u8>,
    pub(crate) lazy: Option<Box<dyn SnapshotFile>>,
    pub(crate) prefixes: Vec<[u8; NONCE_PREFIX_LEN]>,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) arena: Arc<Arena>,
}

/// Where one namespace's parts lie in a [`SealedFile`] (checked against its length by the
/// reader): the directory in its bytes, the records and names in the file (the same
/// offsets, unless the file is read lazily); and what authenticates its directory.
pub(crate) struct Layout {
    pub(crate) count: usize,
    pub(crate) expiries: bool,
    pub(crate) directory: Range<usize>,
    pub(crate) records: Range<usize>,
    pub(crate) names: Range<usize>,
    pub(crate) names_nonce: XNonce,
    /// The tag of each [`DIR_CHUNK`] bytes of the directory, and the nonce of chunk 0
    /// (chunk `c`'s: its last 8 bytes, a `u64le`, plus `c`).
    pub(crate) chunk_tags: Vec<[u8; TAG_LEN]>,
    pub(crate) chunk_nonce: XNonce,
}

/// One namespace of a v2 file.
pub(crate) struct Indexed {
    file: Arc<SealedFile>,
    ns: String,
    layout: Layout,
    /// A bit per directory chunk found authentic, and whether the rows were checked (after
    /// every chunk: then the whole directory is).
    checked: Vec<AtomicU64>,
    rows_checked: Once<()>,
    /// The names block, opened into the arena by the first listing.
    names: Once<SecretBuf>,
    /// The records as read so far, if the file is read lazily.
    groups: Groups,
    /// Every 32nd row's hash, where a search starts.
    fence: Fence,
}

/// Bytes of one row of `layout`'s directory.
fn row_len(layout: &Layout) -> usize {
    DIR_ENTRY_LEN + usize::from(layout.expiries) * EXPIRY_LEN
}

/// Where row `j` of `layout`'s directory starts in the file's bytes (unchecked).
fn row_start(layout: &Layout, j: usize) -> usize {
    layout.directory.start + j * row_len(layout)
}

impl Indexed {
    pub(crate) fn new(file: Arc<SealedFile>, ns: &str, layout: Layout) -> Indexed {
        let words = layout.chunk_tags.len().div_ceil(64);
        let groups = match file.lazy {
            Some(_) => Groups::of(layout.count),
            None => Groups::default(),
        };
        let fence = Fence::of(layout.count, |j| {
            let at = row_start(&layout, j);
            let hash = file.bytes.get(at..at + DIR_ENTRY_LEN)?;
            Some(Row(hash).hash())
        });
        Indexed {
            groups,
            fence,
            file,
            ns: String::from(ns),
            checked: (0..words).map(|_| AtomicU64::new(0)).collect(),
            rows_checked: Once::new(),

            layout,
            names: Once::new(),
        }
    }

    /// The number of entries the directory holds.
    pub(crate) fn count(&self) -> usize {
        self.layout.count
    }

    /// Checks chunk `c` of the directory against its tag, once: `Tampered` if it does not
    /// match (at every call: a failure is not kept).
    #[inline]
    fn check_chunk(&self, c: usize) -> Result<()> {
        let checked = self.checked.get(c / 64);
        if checked.is_some_and(|w| w.load(Ordering::Acquire) & (1 << (c % 64)) != 0) {
            return Ok(());
        }
        self.check_chunk_now(c)
    }

    #[inline(never)]
    fn check_chunk_now(&self, c: usize) -> Result<()> {
        let start = self.layout.directory.start + c * DIR_CHUNK;
        let end = self.layout.directory.end.min(start + DIR_CHUNK);
        let mut nonce = self.layout.chunk_nonce;
        let mut k = [0u8; 8];
        k.copy_from_slice(&nonce[16..]);
        let k = u64::from_le_bytes(k).wrapping_add(c as u64);
        nonce[16..].copy_from_slice(&k.to_le_bytes());
        let (Some(chunk), Some(expected), Some(flags)) = (
            self.file.bytes.get(start..end),
            self.layout.chunk_tags.get(c),
            self.checked.get(c / 64),
        ) else {
            return Err(Error::Tampered);
        };
        let tag = self.file.keyring.mac(&nonce, chunk)?;
        if !bool::from(tag.ct_eq(expected)) {
            return Err(Error::Tampered);
        }
        flags.fetch_or(1 << (c % 64), Ordering::Release);
        Ok(())
    }

    /// Checks every chunk of the directory, then (once) its rows: sorted by hash and
    /// check, each record at least a sealed value's overhead long, the last ending where
    /// the records do (`CorruptStore` if not). What a listing or a write does first; a get
    /// checks only the chunks it reads and its record's bounds, so an authentic directory
    /// out of order (which only a writer holding the key makes) can make a get miss.
    /// Once it has passed, it costs one load: writes call it each time.
    pub(crate) fn check_all(&self) -> Result<()> {
        if self.rows_checked.get().is_some() {
            return Ok(());
        }
        (0..self.layout.chunk_tags.len()).try_for_each(|c| self.check_chunk(c))?;
        let (mut last, mut end) = ((0u64, 0u32), 0usize);
        for j in 0..self.layout.count {
            let key = (self.hash_at(j)?, self.check_at(j)?);
            let next = self.end_at(j)?;
            if (j > 0 && key < last) || next < end + MIN_RECORD_LEN {
                return Err(corrupt("directory: rows out of order or records too short"));
            }
            (last, end) = (key, next);
        }
        if end != self.layout.records.len() {
            return Err(corrupt("directory: the records end elsewhere"));
        }
        self.rows_checked.call_once(|| ());
        Ok(())
    }

    /// Counts the whole directory as checked: for a file this process wrote from its own
    /// memory a moment ago (a save's, made the contents), whose tags it has just computed.
    pub(crate) fn written_here(&self) {
        for word in &self.checked {
            word.store(u64::MAX, Ordering::Release);
        }
        self.rows_checked.call_once(|| ());
    }

    /// Row `j` of the directory, the chunks it lies in checked.
    #[inline]
    fn row(&self, j: usize) -> Result<Row<'_>> {
        let len = row_len(&self.layout);
        let at = j * len;
        self.check_chunk(at / DIR_CHUNK)?;
        if (at + len - 1) / DIR_CHUNK != at / DIR_CHUNK {
            self.check_chunk((at + len - 1) / DIR_CHUNK)?;
        }
        let start = self.layout.directory.start + at;
        match self.file.bytes.get(start..start + len) {
            Some(bytes) => Ok(Row(bytes)),
            None => Err(Error::Tampered),
        }
    }

    fn hash_at(&self, j: usize) -> Result<u64> {
        Ok(self.row(j)?.hash())
    }

    fn check_at(&self, j: usize) -> Result<u32> {
        Ok(self.row(j)?.check())
    }

    fn end_at(&self, j: usize) -> Result<usize> {
        Ok(self.row(j)?.end())
    }

    /// The expiry of entry `j`.
    pub(crate) fn expiry_at(&self, j: usize) -> Result<Option<u64>> {
        Ok(self.row(j)?.expiry())
    }

    /// The value of entry `j` (row `row`): its nonce and `ciphertext || tag`; nothing
    /// (which opens as nothing does, `Error::Crypto`) if its record is out of bounds, does
    /// not parse, names a prefix the file does not list, or ends in a tag other than the
    /// one the directory pins.
    fn value_at(&self, j: usize, row: Row<'_>) -> Result<Option<(XNonce, &[u8])>> {
        let record = self.record(j, self.end_before(j)?, row.end())?;
        let value = record.and_then(|r| short_sealed(r, &self.file.prefixes));
        Ok(value.filter(|(_, sealed)| sealed[sealed.len() - TAG_LEN..][..PIN_LEN] == *row.pin()))
    }

    /// Where entry `j`'s record starts (where entry `j - 1`'s ends).
    fn end_before(&self, j: usize) -> Result<usize> {
        match j {
            0 => Ok(0),
            _ => self.end_at(j - 1),
        }
    }

    /// Entry `j`'s record, `start..end` of the records; `None` if that is not within
    /// them (or, read lazily, within the entry's group of records).
    fn record(&self, j: usize, start: usize, end: usize) -> Result<Option<&[u8]>> {
        let records = &self.layout.records;
        if start > end || end > records.len() {
            return Ok(None);
        }
        let Some(file) = &self.file.lazy else {
            return Ok(self
                .file
                .bytes
                .get(records.start + start..records.start + end));
        };
        let g = j / GROUP_ROWS;
        // A group's bounds are read from the directory once, when it is read.
        let bounds = |g: usize| {
            let from = self.end_before(g * GROUP_ROWS)?;
            let to = self.end_before(self.layout.count.min((g + 1) * GROUP_ROWS))?;
            Ok((from <= to && to <= records.len()).then_some(from..to))
        };
        let Some((from, bytes)) = self.groups.get(g, &**file, records.start, bounds)? else {
            return Ok(None);
        };
        let record = (start.checked_sub(from)).and_then(|at| bytes.get(at..end - from));
        // Its second line and its last (the tag, which the pin is compared with) are asked
        // for with its first, not after its head is parsed.
        if let Some(record) = record {
            preload(record, 64);
            preload(record, record.len().wrapping_sub(1));
        }
        Ok(record)
    }

    /// Entry `j` (its key left empty: lookups do not need it).
    pub(crate) fn at(&self, j: usize) -> Result<Stored<'_>> {
        self.named(j, "")
    }

    fn named<'a>(&'a self, j: usize, key: &'a str) -> Result<Stored<'a>> {
        let row = self.row(j)?;
        let value = self.value_at(j, row)?;
        Ok(Stored {
            key,
            expires_at: row.expiry(),
            sealed: value.map_or(&[][..], |(_, sealed)| sealed),
            nonce: value.map(|(nonce, _)| nonce),
        })
    }

    /// The position of `key`'s entry in the directory; `Tampered` if a chunk the search
    /// reads is not authentic, `Forked` in a process forked from the keyring's.
    pub(crate) fn find(&self, key: &str) -> Result<Option<usize>> {
        let n = self.layout.count;
        if n == 0 {
            return Ok(None);
        }
        let (hash, check) = self.file.keyring.name_hash(&self.ns, key)?;
        let mut j = self.lower_bound(hash)?;
        while j < n {
            let row = self.row(j)?;
            if row.hash() != hash {
                break;
            }
            if row.check() == check {
                return Ok(Some(j));
            }
            j += 1;
        }
        Ok(None)
    }

    /// The first position whose hash is at least `hash`: between the fence's posts
    /// (whose rows are checked first, so that only authentic hashes bracket the search:
    /// their chunks' bits, in the steady state) by [`search::lower_bound_in`]. Each row
    /// read asks for the row before it too ([`preload`]): where a hit's record starts.
    fn lower_bound(&self, hash: u64) -> Result<usize> {
        let within = self.fence.bracket(self.layout.count, hash);
        for post in within.posts.into_iter().flatten() {
            self.row(post)?;
        }
        search::lower_bound_in(within, hash, |j| {
            if let Some(before) = j.checked_sub(1) {
                preload(&self.file.bytes, row_start(&self.layout, before));
            }
            self.preload_guess(j);
            self.hash_at(j)
        })
    }

    /// Asks for where entry `j`'s record would lie if its group's records were all as
    /// long: where it does lie in a store of values of one length, before the row that
    /// says so is read.
    #[inline]
    fn preload_guess(&self, j: usize) {
        let (bytes, at) = match &self.file.lazy {
            Some(_) => {
                let g = j / GROUP_ROWS;
                let Some(bytes) = self.groups.read(g) else {
                    return;
                };
                let rows = GROUP_ROWS
                    .min(self.layout.count.saturating_sub(g * GROUP_ROWS))
                    .max(1);
                (bytes, bytes.len() / rows * (j % GROUP_ROWS))
            }
            None => {
                let records = &self.layout.records;
                let each = records.len() / self.layout.count.max(1);
                (&self.file.bytes[..], records.start + each * j)
            }
        };
        preload(bytes, at);
        preload(bytes, at + 64);
    }

    /// Every entry `alive` says is, with its name, in directory order, if `keep` takes
    /// its name's bytes (the others are passed over on their names alone); `Tampered` if
    /// the names block does not open.
    pub(crate) fn entries<'a>(
        &'a self,
        alive: impl Fn(usize) -> bool + 'a,
        keep: impl Fn(&[u8]) -> bool + 'a,
    ) -> Result<impl Iterator<Item = Stored<'a>> + 'a> {
        self.check_all()?;
        let names = self.names()?;
        let mut at = 0;
        // Every chunk checked: the reads below cannot fail.
        Ok((0..self.layout.count).filter_map(move |j| {
            let name = prefixed(names, &mut at)?;
            (alive(j) && keep(name))
                .then(|| self.named(j, core::str::from_utf8(name).ok()?).ok())
                .flatten()
        }))
    }
}

mod names;
