//! docs/FORMAT.md's version 2 "Reading", from the document alone: a raw-key file read and
//! checked whole, every value opened and every names block listed (what a get of each
//! entry and a listing of each namespace would check), each failure of the kind the
//! page's tables give it. A module of `format_v2.rs`.

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};

use super::super::format_v1::value_aad;
use super::{chunk_tags, hash_check, key_schedule, n, name_hash, name_key, names_k, wrap_aad};
use super::{row_len, CHECK, DIR_CHUNK, END, EXPIRY, HASH, HEADER_LEN, PIN};

/// Why a file is refused, as FORMAT.md's "Reading" tables name it.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `CorruptStore`.
    Corrupt(String),
    /// `WrongPassword`: the commitment does not match.
    WrongKey,
    /// `Tampered`: at open the key wrap or the toc; at a read, a directory chunk's tag
    /// ("directory of ..."), or (at a listing) a names block ("names of ...").
    Tampered(String),
    /// `Error::Crypto` at a read: a pin, a record's `p` or `c` (not parsing within it, `p`
    /// not below `#prefixes`), or a value's AEAD.
    Crypto(String),
}

/// What a version 2 file holds, and where.
#[derive(Debug)]
pub struct File {
    pub sequence: u64,
    /// The snapshot's prefix `P`.
    pub p: [u8; 16],
    /// The toc's `prefixes`, the values' nonce prefixes.
    pub prefixes: Vec<[u8; 16]>,
    pub data_key: [u8; 32],
    pub spaces: Vec<Space>,
}

/// One space (namespace), with its regions' offsets in the file.
#[derive(Debug)]
pub struct Space {
    pub name: String,
    pub flags: u8,
    pub dir_at: usize,
    pub records_at: usize,
    pub names_at: usize,
    pub names_len: usize,
    /// In directory order.
    pub entries: Vec<ReadEntry>,
}

/// One entry: its name, value plaintext, expiry, record's place in the file, and its
/// sealed value as "Values" gives it (`nonce || ciphertext || tag`, the nonce
/// `prefixes[p] || u64le(c)`).
#[derive(Debug)]
pub struct ReadEntry {
    pub key: String,
    pub value: Vec<u8>,
    pub expires: Option<u64>,
    pub record_at: usize,
    pub record_len: usize,
    pub sealed: Vec<u8>,
    /// The record's `p`.
    pub p: u64,
    /// Whether the record's `p` and `c` are each in the shortest form (what a writer
    /// writes; a reader accepts any).
    pub shortest: bool,
}

fn corrupt<T>(why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::Corrupt(why.into()))
}

/// Postcard varints and raw bytes over a buffer; `None` past its end.
pub struct Cursor<'a> {
    pub buf: &'a [u8],
    pub at: usize,
}

impl<'a> Cursor<'a> {
    pub fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(len).filter(|&e| e <= self.buf.len())?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Some(out)
    }

    pub fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// Unsigned LEB128, at most 10 bytes for a `u64`.
    pub fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return None;
            }
            n |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Some(n);
            }
        }
        None
    }

    /// `varint(n)` then `n` raw 16-byte strings (prefixes, tags); `None` if the count is
    /// more than the bytes left could hold or they run out.
    pub fn sixteens(&mut self) -> Option<Vec<[u8; 16]>> {
        let n = self.varint()?;
        if n > (self.buf.len() - self.at) as u64 / 16 {
            return None;
        }
        (0..n)
            .map(|_| self.take(16).map(|x| x.try_into().unwrap()))
            .collect()
    }

    /// `varint(len) bytes`.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }

    fn text(&mut self, what: &str) -> Result<String, Refusal> {
        let bytes = self
            .bytes()
            .ok_or(Refusal::Corrupt(format!("{what}: truncated")))?;
        String::from_utf8(bytes.to_vec()).or(corrupt(format!("{what}: not UTF-8")))
    }
}

/// The plaintext of `ciphertext || tag`, or `None` if it is not authentic.
pub fn open(key: &[u8], nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let (ct, tag) = sealed.split_at(sealed.len().checked_sub(16)?);
    let mut buf = ct.to_vec();
    XChaCha20Poly1305::new_from_slice(key)
        .unwrap()
        .decrypt_inout_detached(
            &XNonce::try_from(nonce).ok()?,
            aad,
            InOutBuf::from(&mut buf[..]),
            &Tag::try_from(tag).ok()?,
        )
        .ok()?;
    Some(buf)
}

/// "Directories", "Records": the fewest bytes of a record (two one-byte varints and the
/// tag).
pub const MIN_RECORD: usize = 18;

/// "Records": a record's nonce `prefixes[p] || u64le(c)`, where its ciphertext starts, its
/// `p`, and whether both varints are in their shortest form; why not, if its varints do
/// not both parse within it or `p` is not below `#prefixes`.
pub fn short_nonce(
    record: &[u8],
    prefixes: &[[u8; 16]],
) -> Result<([u8; 24], usize, u64, bool), &'static str> {
    let mut at = Cursor { buf: record, at: 0 };
    let p = at.varint().ok_or("p does not parse")?;
    let p_len = at.at;
    let c = at.varint().ok_or("c does not parse")?;
    let prefix = usize::try_from(p)
        .ok()
        .and_then(|p| prefixes.get(p))
        .ok_or("p not below #prefixes")?;
    let mut nonce = [0u8; 24];
    nonce[..16].copy_from_slice(prefix);
    nonce[16..].copy_from_slice(&c.to_le_bytes());
    let shortest = |n: u64| (64 - (n | 1).leading_zeros() as usize).div_ceil(7);
    let short = p_len == shortest(p) && at.at - p_len == shortest(c);
    Ok((nonce, at.at, p, short))
}

fn le(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(b)
}

/// Field `at` (offset, length) of row `j` of a directory of rows `width` bytes long.
fn field(dir: &[u8], width: usize, j: usize, at: (usize, usize)) -> u64 {
    le(&dir[j * width + at.0..][..at.1])
}

/// A space as the toc gives it: name, count, flags, records_len, names_len, its
/// directory's chunk tags.
type TocSpace = (String, usize, u8, usize, usize, Vec<Vec<u8>>);

/// Reads a version 2 file of a raw-key store by FORMAT.md alone.
pub fn read(file: &[u8], key: &[u8; 32]) -> Result<File, Refusal> {
    if file.len() < HEADER_LEN || &file[..8] != b"MICROKV\0" {
        return corrupt("not a store header");
    }
    if le(&file[8..10]) != 2 {
        return corrupt(format!("version {}", le(&file[8..10])));
    }
    if file[10] != 0 || file[11] != 1 || file[12..24] != [0; 12] {
        return corrupt("not a raw-key MessagePack header");
    }
    // The lengths before any key is derived, as a version 1 file's body length.
    let (data_len, toc_len) = (le(&file[168..172]) as usize, le(&file[172..176]) as usize);
    if HEADER_LEN + data_len + toc_len + 16 != file.len() {
        return corrupt("lengths");
    }
    let (kek, commitment) = key_schedule(key, &file[24..40].try_into().unwrap());
    if file[40..72] != commitment {
        return Err(Refusal::WrongKey);
    }
    let data_key: [u8; 32] = open(&kek, &file[72..96], &wrap_aad(file), &file[96..144])
        .ok_or(Refusal::Tampered("key wrap".into()))?
        .try_into()
        .unwrap();
    let p: [u8; 16] = file[144..160].try_into().unwrap();
    if file[160..168] != [0; 8] {
        return corrupt("snapshot nonce: not P || 00×8");
    }
    let toc = open(
        &data_key,
        &n(&p, 0),
        &file[..HEADER_LEN],
        &file[176 + data_len..],
    )
    .ok_or(Refusal::Tampered("toc".into()))?;
    let mut c = Cursor { buf: &toc, at: 0 };
    let short = || Refusal::Corrupt("toc: truncated".into());
    let sequence = c.varint().ok_or_else(short)?;
    let prefixes = c.sixteens().ok_or_else(short)?;
    let mut spaces: Vec<TocSpace> = Vec::new();
    let mut sum = 0u128;
    for _ in 0..c.varint().ok_or_else(short)? {
        let name = c.text("toc: space name")?;
        let count = c.varint().ok_or_else(short)?;
        let flags = c.byte().ok_or_else(short)?;
        let records_len = c.varint().ok_or_else(short)?;
        let names_len = c.varint().ok_or_else(short)?;
        let tags: Vec<Vec<u8>> = (c.sixteens().ok_or_else(short)?)
            .into_iter()
            .map(|t| t.to_vec())
            .collect();
        if spaces.iter().any(|s| s.0 == name) || count == 0 || flags & !1 != 0 {
            return corrupt(format!(
                "toc: space {name:?}: twice, empty or unknown flags"
            ));
        }
        if names_len < 16 || u128::from(records_len) < MIN_RECORD as u128 * u128::from(count) {
            return corrupt(format!("toc: space {name:?}: counts do not fit"));
        }
        let width = 24 + 8 * u128::from(flags & 1);
        let chunks = (width * u128::from(count))
            .div_ceil(DIR_CHUNK as u128)
            .max(1);
        if tags.len() as u128 != chunks {
            return corrupt(format!("toc: space {name:?}: {} tags", tags.len()));
        }
        sum += width * u128::from(count) + u128::from(records_len) + u128::from(names_len);
        if sum > data_len as u128 {
            return corrupt("toc: regions pass data_len");
        }
        let (count, records_len) = (count as usize, records_len as usize);
        spaces.push((name, count, flags, records_len, names_len as usize, tags));
    }
    if c.at != toc.len() || sum != data_len as u128 {
        return corrupt("toc: trailing bytes, or regions short of data_len");
    }
    // Reads: every directory's chunks against their tags, then its rows.
    let mut at = HEADER_LEN;
    let mut out = Vec::new();
    for (i, (name, count, flags, records_len, names_len, tags)) in spaces.iter().enumerate() {
        let i = i as u64;
        let width = row_len(*flags);
        let dir = &file[at..at + count * width];
        if &chunk_tags(&data_key, &p, i, dir) != tags {
            return Err(Refusal::Tampered(format!("directory of {name:?}")));
        }
        let key = |j: usize| (field(dir, width, j, HASH), field(dir, width, j, CHECK));
        let mut last_end = 0;
        for j in 0..*count {
            let end = field(dir, width, j, END) as usize;
            if j > 0 && key(j - 1) > key(j) {
                return corrupt(format!("directory of {name:?}: out of order"));
            }
            if end < last_end + MIN_RECORD || end > *records_len {
                return corrupt(format!("directory of {name:?}: end {end}"));
            }
            last_end = end;
        }
        if last_end != *records_len {
            return corrupt(format!("directory of {name:?}: last end"));
        }
        let records_at = at + dir.len();
        let names_at = records_at + records_len;
        out.push(Space {
            name: name.clone(),
            flags: *flags,
            dir_at: at,
            records_at,
            names_at,
            names_len: *names_len,
            entries: Vec::new(),
        });
        at = names_at + names_len;
    }
    let nk = name_key(&data_key);
    for (i, space) in out.iter_mut().enumerate() {
        let (i, count) = (i as u64, spaces[i].1);
        let dir = &file[space.dir_at..space.records_at];
        // A listing: the names block.
        let names = open(
            &data_key,
            &n(&p, names_k(i)),
            &[],
            &file[space.names_at..][..space.names_len],
        )
        .ok_or(Refusal::Tampered(format!("names of {:?}", space.name)))?;
        let mut c = Cursor { buf: &names, at: 0 };
        let mut start = 0;
        for j in 0..count {
            let key = c.text("names")?;
            let (hash, check) = hash_check(&name_hash(&nk, &space.name, &key));
            let width = row_len(space.flags);
            let row = |at: (usize, usize)| field(dir, width, j, at);
            if (row(HASH), row(CHECK)) != (hash, u64::from(check)) {
                return corrupt(format!(
                    "names of {:?}: {key:?} is not entry {j}'s",
                    space.name
                ));
            }
            if space.entries.iter().any(|e| e.key == key) {
                return corrupt(format!("names of {:?}: {key:?} twice", space.name));
            }
            // A get: the pin, then the value under value_aad.
            let end = row(END) as usize;
            let record = &file[space.records_at + start..space.records_at + end];
            if le(&record[record.len() - 16..][..8]) != row(PIN) {
                return Err(Refusal::Crypto(format!("{}/{key}: pin", space.name)));
            }
            let (nonce, sealed_at, p, shortest) = (short_nonce(record, &prefixes))
                .map_err(|why| Refusal::Crypto(format!("{}/{key}: {why}", space.name)))?;
            let body = &record[sealed_at..];
            let value = open(&data_key, &nonce, &value_aad(&space.name, &key), body)
                .ok_or(Refusal::Crypto(format!("{}/{key}: value", space.name)))?;
            let expiry = (space.flags & 1 == 1).then(|| row(EXPIRY));
            space.entries.push(ReadEntry {
                key,
                value,
                expires: expiry.filter(|&ms| ms != u64::MAX),
                record_at: space.records_at + start,
                record_len: end - start,
                sealed: [&nonce[..], body].concat(),
                p,
                shortest,
            });
            start = end;
        }
        if c.at != names.len() {
            return corrupt(format!("names of {:?}: trailing bytes", space.name));
        }
    }
    Ok(File {
        sequence,
        p,
        prefixes,
        data_key,
        spaces: out,
    })
}
