//! The snapshot body as read ([`super::snapshot`]'s wire format), straight into the
//! store's maps: each entry goes from the decrypted bytes into its namespace's map as it
//! is parsed, with no vector of every entry in between (which cost an open about as much
//! memory as the maps, and its reallocations, at 100k entries). The map keeps each
//! entry's record where it lies in the decrypted file (`crate::space`): no copy at all.
#![forbid(unsafe_code)]

use alloc::format;
use alloc::string::String;
use core::cell::RefCell;
use core::fmt;
use core::ops::Range;
use hashbrown::HashMap;
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};

use super::snapshot::EntryRecord;
use crate::crypto::SEAL_OVERHEAD;
use crate::entry::check_sealed;
use crate::error::{corrupt, Error, Result};
use crate::space::{varint_len, Segment, Space, Stored};

/// Fewest bytes an entry takes in a body: its key's length, its expiry's tag, its sealed
/// value's length (one byte each at least), and the value's nonce and tag.
const MIN_ENTRY_LEN: usize = 3 + SEAL_OVERHEAD;
/// Fewest bytes a namespace takes: its name's length and its entry count.
const MIN_SPACE_LEN: usize = 2;

/// Parses the namespaces at the start of the decrypted body `body` of `file`; returns
/// them (their records left in `file`) and the bytes after them. A count in the body
/// sizes a map only as far as the body's length allows that many records, so a hostile
/// count allocates no more than the body could hold.
pub(super) fn parse(file: &Segment, body: Range<usize>) -> Result<(HashMap<String, Space>, &[u8])> {
    let plain = file
        .get(body)
        .ok_or_else(|| corrupt("body: out of the file"))?;
    let failure = RefCell::new(None);
    let mut de = postcard::Deserializer::from_bytes(plain);
    let parsed = Spaces {
        failure: &failure,
        budget: plain.len(),
        file,
    }
    .deserialize(&mut de);
    if let Some(e) = failure.take() {
        return Err(e);
    }
    let spaces = parsed.map_err(|e| corrupt(format!("body: {e}")))?;
    let rest = de.finalize().map_err(|e| corrupt(format!("body: {e}")))?;
    Ok((spaces, rest))
}

/// The body: `varint(spaces) || space*`. `failure` keeps an error of ours (a duplicate
/// name, a short sealed value), which postcard's own error type cannot carry.
struct Spaces<'f> {
    failure: &'f RefCell<Option<Error>>,
    budget: usize,
    file: &'f Segment,
}

/// Records `e` for [`parse`] and stops the parse.
fn fail<E: de::Error>(failure: &RefCell<Option<Error>>, e: Error) -> E {
    *failure.borrow_mut() = Some(e);
    E::custom("invalid body")
}

impl<'de> DeserializeSeed<'de> for Spaces<'_> {
    type Value = HashMap<String, Space>;
    fn deserialize<D: Deserializer<'de>>(
        self,
        d: D,
    ) -> core::result::Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Spaces<'_> {
    type Value = HashMap<String, Space>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of namespaces")
    }
    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> core::result::Result<Self::Value, A::Error> {
        let most = self.budget / MIN_SPACE_LEN;
        let mut spaces = HashMap::with_capacity(seq.size_hint().unwrap_or(0).min(most));
        let one = Space1 {
            failure: self.failure,
            budget: self.budget,
            file: self.file,
        };
        while let Some((name, space)) = seq.next_element_seed(one.clone())? {
            if spaces.insert(name, space).is_some() {
                return Err(fail(self.failure, corrupt("duplicate namespace in body")));
            }
        }
        Ok(spaces)
    }
}

/// One namespace: `str name || varint(entries) || entry*`.
#[derive(Clone)]
struct Space1<'f> {
    failure: &'f RefCell<Option<Error>>,
    budget: usize,
    file: &'f Segment,
}

impl<'de> DeserializeSeed<'de> for Space1<'_> {
    type Value = (String, Space);
    fn deserialize<D: Deserializer<'de>>(
        self,
        d: D,
    ) -> core::result::Result<Self::Value, D::Error> {
        d.deserialize_tuple(2, self)
    }
}

impl<'de> Visitor<'de> for Space1<'_> {
    type Value = (String, Space);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a namespace")
    }
    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> core::result::Result<Self::Value, A::Error> {
        let name: &str = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let entries = Entries {
            failure: self.failure,
            budget: self.budget,
            file: self.file,
        };
        let space = seq
            .next_element_seed(entries)?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        Ok((String::from(name), space))
    }
}

/// A namespace's entries: `varint(entries) || (str key || option<u64> || bytes sealed)*`.
struct Entries<'f> {
    failure: &'f RefCell<Option<Error>>,
    budget: usize,
    file: &'f Segment,
}

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = Space;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> core::result::Result<Space, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = Space;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> core::result::Result<Space, A::Error> {
        let most = self.budget / MIN_ENTRY_LEN;
        let n = seq.size_hint().unwrap_or(0).min(most);
        let mut space = Space::in_segment(self.file.clone(), n);
        // Where the records lie in the file: each starts at its key's length, and ends
        // with its sealed value (a record elsewhere, which no file of ours holds, is
        // copied: `Space::insert_at` checks).
        let base = self.file.as_ptr() as usize;
        while let Some(e) = seq.next_element::<EntryRecord<'de>>()? {
            check_sealed(e.sealed).map_err(|e| fail(self.failure, e))?;
            let key_at = (e.key.as_ptr() as usize).wrapping_sub(base);
            let at = key_at.saturating_sub(varint_len(e.key.len()));
            let end = (e.sealed.as_ptr() as usize).wrapping_sub(base) + e.sealed.len();
            let stored = Stored::whole(e.key, e.expires_at, e.sealed);
            if !space.insert_at(at, end, stored) {
                return Err(fail(self.failure, corrupt("duplicate key in body")));
            }
        }
        Ok(space)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::error::Error;
    use alloc::vec::Vec;

    /// `varint(1) || str "ns" || varint(count)`, then `rest`.
    fn body(count: &[u8], rest: &[u8]) -> Vec<u8> {
        let mut b = alloc::vec![1, 2, b'n', b's'];
        b.extend_from_slice(count);
        b.extend_from_slice(rest);
        b
    }

    fn file(plain: &[u8]) -> (crate::space::Segment, core::ops::Range<usize>) {
        let file = [&[9; 5][..], plain, &[9; 3]].concat();
        (
            alloc::sync::Arc::new(zeroize::Zeroizing::new(file)),
            5..5 + plain.len(),
        )
    }

    fn error(plain: &[u8]) -> Error {
        let (file, body) = file(plain);
        parse(&file, body).err().expect("an error")
    }

    /// The namespaces of `plain`, which must hold nothing after them.
    fn spaces(plain: &[u8]) -> hashbrown::HashMap<alloc::string::String, crate::space::Space> {
        let (file, body) = file(plain);
        let Ok((spaces, rest)) = parse(&file, body) else {
            panic!("a body")
        };
        assert!(rest.is_empty());
        spaces
    }

    fn entry(key: u8) -> Vec<u8> {
        let mut e = alloc::vec![1, key, 0, 40];
        e.extend_from_slice(&[0; 40]);
        e
    }

    #[test]
    fn a_count_past_the_end_of_the_body_is_corrupt() {
        // 2^63 entries claimed by a 13-byte body: an error, not a map sized for them
        // (postcard gives no size hint for a count past the bytes left; `parse` caps a
        // hint it does give at what the body's length can hold).
        let count = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        let e = error(&body(&count, &[]));
        assert!(
            matches!(e, Error::CorruptStore(ref why) if why.starts_with("body:")),
            "{e:?}"
        );
    }

    #[test]
    fn duplicates_and_short_values_keep_their_own_errors() {
        let twice = [entry(b'k'), entry(b'k')].concat();
        let e = error(&body(&[2], &twice));
        assert!(matches!(e, Error::CorruptStore(ref why) if why == "duplicate key in body"));
        let mut short = entry(b'k');
        short.truncate(4 + 39);
        short[3] = 39;
        let e = error(&body(&[1], &short));
        assert!(
            matches!(e, Error::CorruptStore(ref why) if why.contains("shorter")),
            "{e:?}"
        );
        let mut two = alloc::vec![2];
        for _ in 0..2 {
            two.extend_from_slice(&[2, b'n', b's', 1]);
            two.extend_from_slice(&entry(b'k'));
        }
        let e = error(&two);
        assert!(matches!(e, Error::CorruptStore(ref why) if why == "duplicate namespace in body"));
        // And the well-formed body parses, leaving what follows it (the sequence).
        let parsed = spaces(&body(&[2], &[entry(b'a'), entry(b'b')].concat()));
        assert_eq!(parsed["ns"].len(), 2);
        let b = parsed["ns"]
            .get("b")
            .unwrap()
            .map(|e| (e.sealed.len(), e.expires_at));
        assert_eq!(b, Some((40, None)));
        // Both records stay where they lie in the file: no copy of either.
        assert_eq!(parsed["ns"].in_segment_count(), 2);
        let followed = [body(&[1], &entry(b'a')), alloc::vec![7]].concat();
        let (file, range) = file(&followed);
        let Ok((_, rest)) = parse(&file, range) else {
            panic!("a body")
        };
        assert_eq!(rest, [7]);
    }
}
