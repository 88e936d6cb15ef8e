//! The v2 store file as read (docs/FORMAT.md, "Reading"): the toc opened under the
//! header, and each namespace's region checked against the file. Nothing else is read: no
//! name and no value is decrypted, and the namespaces look their entries up where they
//! lie in the file's bytes ([`crate::space::Indexed`]), checking each chunk of a directory
//! against its tag (from the toc) when a read first touches it.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use hashbrown::HashMap;
use zeroize::Zeroizing;

use super::header::{BODY_NONCE, DATA_LEN, HEADER_LEN, TOC_LEN};
use super::toc::{chunk_base, chunks, entry_len, names_k, nonce, Toc, HAS_EXPIRY, PREFIX_LEN};
use crate::arena::Arena;
use crate::crypto::{Keyring, TAG_LEN};
use crate::error::{corrupt, Result};
use crate::space::{Indexed, Layout, SealedFile, Space};
use crate::storage::SnapshotFile;

/// Fewest bytes a namespace's toc entry takes: a name's length, a count, flags, two
/// lengths, a tag count and a tag.
const MIN_TOC_SPACE: usize = 6 + TAG_LEN;

fn u32_at(bytes: &[u8], at: core::ops::Range<usize>) -> usize {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at]);
    u32::from_le_bytes(word) as usize
}

/// Checks the lengths in the header `head` (parsed) against the file's, `len` bytes.
pub(super) fn check_lengths(head: &[u8], len: usize) -> Result<()> {
    let (data, toc) = (u32_at(head, DATA_LEN), u32_at(head, TOC_LEN));
    let expected = (HEADER_LEN as u64) + data as u64 + toc as u64 + TAG_LEN as u64;
    if expected != len as u64 {
        return Err(corrupt(format!(
            "data length {data} and toc length {toc} disagree with the file ({len} bytes)"
        )));
    }
    Ok(())
}

/// A v2 file's toc, opened: its sequence number, its values' nonce prefixes, and where
/// each namespace lies in the file.
struct Contents {
    sequence: u64,
    prefixes: Vec<[u8; PREFIX_LEN]>,
    layouts: Vec<(String, Layout)>,
}

/// Opens in place the toc `sealed` (the file's bytes from the end of its data: ciphertext
/// and tag; the namespaces' names in the clear once opened, so wiped as it drops) of the
/// file whose header is `head` (its lengths checked) under `keyring`; `Tampered` if it is
/// not authentic. Also returns the tag (the file's last 16 bytes).
fn contents(
    keyring: &Keyring,
    head: &[u8],
    mut toc_plain: Zeroizing<Vec<u8>>,
) -> Result<(Contents, [u8; TAG_LEN])> {
    let data_end = HEADER_LEN + u32_at(head, DATA_LEN);
    if head[BODY_NONCE][PREFIX_LEN..] != [0u8; 8] {
        return Err(corrupt("snapshot nonce: its last 8 bytes are not zero"));
    }
    let ct_len = toc_plain.len() - TAG_LEN;
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&toc_plain[ct_len..]);
    toc_plain.truncate(ct_len);
    let mut prefix = [0u8; PREFIX_LEN];
    prefix.copy_from_slice(&head[BODY_NONCE][..PREFIX_LEN]);
    keyring.open_in_place(&head[BODY_NONCE], &head[..HEADER_LEN], &mut toc_plain, &tag)?;
    let (mut toc, rest) = postcard::take_from_bytes::<Toc<'_>>(&toc_plain)
        .map_err(|e| corrupt(format!("toc: {e}")))?;
    if !rest.is_empty() {
        return Err(corrupt("trailing bytes in toc"));
    }
    if toc.spaces.len() > toc_plain.len() / MIN_TOC_SPACE {
        return Err(corrupt("toc: more namespaces than it can hold"));
    }
    let mut layouts = Vec::with_capacity(toc.spaces.len());
    let mut at = HEADER_LEN;
    for (i, space) in toc.spaces.iter().enumerate() {
        let layout = region(&mut at, data_end, space, &prefix, i)?;
        layouts.push((String::from(space.name), layout));
    }
    if at != data_end {
        return Err(corrupt("toc: the namespaces do not fill the data"));
    }
    let mut prefixes = core::mem::take(&mut toc.prefixes);
    prefixes.shrink_to_fit();
    let contents = Contents {
        sequence: toc.sequence,
        prefixes,
        layouts,
    };
    Ok((contents, tag))
}

/// The namespaces of `file`, as `contents` lays them out.
fn spaces(file: SealedFile, contents: Contents) -> Result<(HashMap<String, Space>, u64)> {
    let file = Arc::new(file);
    let mut spaces = HashMap::with_capacity(contents.layouts.len());
    for (name, layout) in contents.layouts {
        let space = Space::indexed(Indexed::new(file.clone(), &name, layout));
        if spaces.insert(name, space).is_some() {
            return Err(corrupt("duplicate namespace in toc"));
        }
    }
    Ok((spaces, contents.sequence))
}

/// Reads the v2 file `bytes` (its lengths checked) under `keyring`: its namespaces and
/// its sequence number. `Tampered` if the toc is not authentic.
pub(super) fn open(
    keyring: &Arc<Keyring>,
    arena: &Arc<Arena>,
    bytes: Vec<u8>,
) -> Result<(HashMap<String, Space>, u64)> {
    let data_end = HEADER_LEN + u32_at(&bytes, DATA_LEN);
    let toc = Zeroizing::new(bytes[data_end..].to_vec());
    let (mut contents, _) = contents(keyring, &bytes[..HEADER_LEN], toc)?;
    let file = SealedFile {
        bytes,
        lazy: None,
        prefixes: core::mem::take(&mut contents.prefixes),
        keyring: keyring.clone(),
        arena: arena.clone(),
    };
    spaces(file, contents)
}

/// Reads the v2 file `file` (its header `head`, its lengths checked) under `keyring`, as
/// [`open`] does, but only its toc and its directories: the namespaces read their records
/// and names from `file` when they need them. Also returns the file's last 16 bytes (the
/// toc's tag).
pub(super) fn open_lazily(
    keyring: &Arc<Keyring>,
    arena: &Arc<Arena>,
    head: Vec<u8>,
    file: Box<dyn SnapshotFile>,
) -> Result<(HashMap<String, Space>, u64, [u8; TAG_LEN])> {
    let data_end = HEADER_LEN + u32_at(&head, DATA_LEN);
    let len = usize::try_from(file.len()).map_err(|_| corrupt("file too long"))?;
    let mut toc = Zeroizing::new(vec![0u8; len - data_end]);
    file.read_exact_at(data_end as u64, &mut toc)?;
    let (mut contents, tag) = contents(keyring, &head, toc)?;
    // The header, then each directory, back to back.
    let dirs: usize = contents
        .layouts
        .iter()
        .map(|(_, l)| l.directory.len())
        .sum();
    let mut bytes = head;
    bytes.reserve_exact(dirs);
    for (_, layout) in &mut contents.layouts {
        let at = bytes.len();
        let directory = layout.directory.clone();
        file.read_to_vec_at(directory.start as u64, directory.len(), &mut bytes)?;
        layout.directory = at..bytes.len();
    }
    let file = SealedFile {
        bytes,
        lazy: Some(file),
        prefixes: core::mem::take(&mut contents.prefixes),
        keyring: keyring.clone(),
        arena: arena.clone(),
    };
    let (spaces, sequence) = spaces(file, contents)?;
    Ok((spaces, sequence, tag))
}

/// Where namespace `i` lies in the file, from `*at` on (moved past it), before `end`.
fn region(
    at: &mut usize,
    end: usize,
    space: &super::toc::TocSpace<'_>,
    prefix: &[u8; PREFIX_LEN],
    i: usize,
) -> Result<Layout> {
    let fits = |len: u64| usize::try_from(len).ok().filter(|&l| l <= end);
    let count = fits(space.count).filter(|&c| c >= 1);
    let (Some(count), Some(records_len), Some(names_len)) =
        (count, fits(space.records_len), fits(space.names_len))
    else {
        return Err(corrupt("toc: a namespace's lengths exceed the file"));
    };
    if space.flags & !HAS_EXPIRY != 0 || names_len < TAG_LEN {
        return Err(corrupt("toc: bad flags or names length"));
    }
    let dir_len = count.checked_mul(entry_len(space.flags));
    let total = dir_len.and_then(|d| d.checked_add(records_len)?.checked_add(names_len));
    let Some(stop) = total.and_then(|t| at.checked_add(t)).filter(|&s| s <= end) else {
        return Err(corrupt("toc: a namespace's region exceeds the data"));
    };
    let directory = *at;
    let records = directory + count * entry_len(space.flags);
    let directory = directory..records;
    let names = records + records_len;
    if space.tags.len() != chunks(directory.len()) {
        return Err(corrupt("toc: a directory's tags do not match its chunks"));
    }
    *at = stop;
    Ok(Layout {
        count,
        expiries: space.flags & HAS_EXPIRY != 0,
        directory,
        records: records..names,
        names: names..stop,
        names_nonce: nonce(prefix, names_k(i)),
        chunk_tags: space.tags.clone(),
        chunk_nonce: nonce(prefix, chunk_base(i)),
    })
}
