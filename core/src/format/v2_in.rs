//! The v2 store file as read (docs/FORMAT.md, "Reading"): the toc opened under the
//! header, and each namespace's region checked against the file. Nothing else is read: no
//! name and no value is decrypted, and the namespaces look their entries up where they
//! lie in the file's bytes ([`crate::space::Indexed`]), checking each chunk of a directory
//! against its tag (from the toc) when a read first touches it.
#![forbid(unsafe_code)]

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use hashbrown::HashMap;

use super::header::{BODY_NONCE, DATA_LEN, HEADER_LEN, TOC_LEN};
use super::toc::{chunk_base, chunks, entry_len, names_k, nonce, Toc, HAS_EXPIRY, PREFIX_LEN};
use crate::arena::Arena;
use crate::crypto::{Keyring, TAG_LEN};
use crate::error::{corrupt, Result};
use crate::space::{Indexed, Layout, SealedFile, Space};

/// Fewest bytes a namespace's toc entry takes: a name's length, a count, flags, two
/// lengths, a tag count and a tag.
const MIN_TOC_SPACE: usize = 6 + TAG_LEN;

fn u32_at(bytes: &[u8], at: core::ops::Range<usize>) -> usize {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at]);
    u32::from_le_bytes(word) as usize
}

/// Checks the lengths in the header of `bytes` (a parsed header) against the file's.
pub(super) fn check_lengths(bytes: &[u8]) -> Result<()> {
    let (data, toc) = (u32_at(bytes, DATA_LEN), u32_at(bytes, TOC_LEN));
    let expected = (HEADER_LEN as u64) + data as u64 + toc as u64 + TAG_LEN as u64;
    if expected != bytes.len() as u64 {
        return Err(corrupt(format!(
            "data length {data} and toc length {toc} disagree with the file ({} bytes)",
            bytes.len()
        )));
    }
    Ok(())
}

/// Reads the v2 file `bytes` (its lengths checked) under `keyring`: its namespaces and
/// its sequence number. `Tampered` if the toc is not authentic.
pub(super) fn open(
    keyring: &Arc<Keyring>,
    arena: &Arc<Arena>,
    bytes: Vec<u8>,
) -> Result<(HashMap<String, Space>, u64)> {
    let data_end = HEADER_LEN + u32_at(&bytes, DATA_LEN);
    let toc_end = bytes.len() - TAG_LEN;
    if bytes[BODY_NONCE][PREFIX_LEN..] != [0u8; 8] {
        return Err(corrupt("snapshot nonce: its last 8 bytes are not zero"));
    }
    // The namespaces' names in the clear once opened: wiped as it drops.
    let mut toc_plain = zeroize::Zeroizing::new(bytes[data_end..toc_end].to_vec());
    let mut prefix = [0u8; PREFIX_LEN];
    prefix.copy_from_slice(&bytes[BODY_NONCE][..PREFIX_LEN]);
    keyring.open_in_place(
        &bytes[BODY_NONCE],
        &bytes[..HEADER_LEN],
        &mut toc_plain,
        &bytes[toc_end..],
    )?;
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
    let sequence = toc.sequence;
    let prefixes = core::mem::take(&mut toc.prefixes);
    drop(toc);
    let file = Arc::new(SealedFile {
        bytes,
        prefixes,
        keyring: keyring.clone(),
        arena: arena.clone(),
    });
    let mut spaces = HashMap::with_capacity(layouts.len());
    for (name, layout) in layouts {
        let space = Space::indexed(Indexed::new(file.clone(), &name, layout));
        if spaces.insert(name, space).is_some() {
            return Err(corrupt("duplicate namespace in toc"));
        }
    }
    Ok((spaces, sequence))
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
    let names = records + records_len;
    if space.tags.len() != chunks(records - directory) {
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
