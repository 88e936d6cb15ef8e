//! Damaged copies of the v2 vector for tests/format_v2_errors.rs: where FORMAT.md's
//! "Reading" tables say each fails ([`Expect`]), the changes a forger holding the data key
//! makes (a toc or a directory sealed again), the cases of the records' short nonces and
//! the toc's `prefixes`, and what the store does with each case.
//! Included beside `format_v1.rs`, `format_v2.rs` and `vectors.rs`
//! (`#[path = "support/v2_cases.rs"] mod v2_cases;`).
#![allow(dead_code)] // not every test binary that includes this file uses every helper

use microkv::{Config, Credential, Error, MicroKV};

use super::format_v1::{self, seal};
use super::format_v2::{self, chunk_k, n, open};
use super::vectors::{at, build_v2_raw, entries, v2_entries, v2_raw_entries};
use super::vectors::{DATA_KEY, EXPIRES_AT, KEY, P};

/// Where a case fails, and how.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    /// At open: `CorruptStore`.
    Corrupt,
    /// At open: `WrongPassword`.
    WrongKey,
    /// At open: `Tampered`.
    Tampered,
    /// Opens; the get of this namespace/key is `Error::Crypto`, every other entry reads.
    Get(&'static str, &'static str),
    /// Opens; the first listing of this namespace is `Tampered`.
    List(&'static str),
    /// Opens; every read that touches this namespace's directory (each get of one of its
    /// keys, its listing) is `Tampered`: a chunk that does not match its tag.
    Space(&'static str),
    /// Opens; this namespace's directory is authentic but breaks one of the rules of
    /// "Directories": its listing (which reads the whole directory) is `CorruptStore`; its
    /// gets are not held to anything (one may miss an entry whose row is out of order).
    Rule(&'static str),
    /// The control of a rule's edge: opens, and every get and listing reads as the
    /// vector's.
    Reads,
}

/// The vector's toc offset and `toc_len`.
pub fn toc_at(file: &[u8]) -> (usize, usize) {
    let le = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
    (176 + le(168), le(172))
}

/// `file` with its toc plaintext changed by `change` and sealed again (toc_len updated).
pub fn reseal_toc(file: &[u8], change: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let (at, _) = toc_at(file);
    let mut toc = open(&DATA_KEY, &n(&P, 0), &file[..176], &file[at..]).unwrap();
    change(&mut toc);
    let mut out = file[..at].to_vec();
    out[172..176].copy_from_slice(&(toc.len() as u32).to_le_bytes());
    let sealed = seal(&DATA_KEY, &n(&P, 0), &out[..176], &toc);
    out.extend(sealed);
    out
}

/// `file` with space `i`'s directory (at `dir_at`, `len` bytes, one chunk) changed by
/// `change`, its tag made anew in the toc: an authentic directory that breaks a rule.
pub fn retag_directory(
    file: &[u8],
    dir: (u64, usize, usize),
    change: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let (i, dir_at, len) = dir;
    let old = seal(
        &DATA_KEY,
        &n(&P, chunk_k(i, 0)),
        &file[dir_at..dir_at + len],
        &[],
    );
    let mut out = file.to_vec();
    change(&mut out[dir_at..dir_at + len]);
    let new = seal(
        &DATA_KEY,
        &n(&P, chunk_k(i, 0)),
        &out[dir_at..dir_at + len],
        &[],
    );
    reseal_toc(&out, |toc| {
        let at = toc.windows(16).position(|w| w == old).unwrap();
        toc[at..at + 16].copy_from_slice(&new);
    })
}

pub fn flip(file: &[u8], at: usize) -> Vec<u8> {
    let mut out = file.to_vec();
    out[at] ^= 0x01;
    out
}

/// `file` with `bytes` written over it from `at`.
pub fn set(file: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = file.to_vec();
    out[at..at + bytes.len()].copy_from_slice(bytes);
    out
}

/// What the store does with one case, if it is not what FORMAT.md says.
pub fn store_differs(path: &std::path::Path, expect: Expect) -> Option<String> {
    let config = Config {
        read_only: true,
        ..at(EXPIRES_AT - 1)
    };
    let opened = MicroKV::open_existing_with(path, Credential::key(KEY), config);
    // The reads that fail, and how: gets of one key or of a namespace, a listing.
    let (bad_get, bad_list, bad_space, bad_rule) = match expect {
        Expect::Get(ns, key) => (Some((ns, key)), None, None, None),
        Expect::List(ns) => (None, Some(ns), None, None),
        Expect::Space(ns) => (None, None, Some(ns), None),
        Expect::Rule(ns) => (None, None, None, Some(ns)),
        Expect::Reads => (None, None, None, None),
        _ => {
            let err = opened.err();
            let ok = matches!(
                (&expect, &err),
                (Expect::Corrupt, Some(Error::CorruptStore(_)))
                    | (Expect::WrongKey, Some(Error::WrongPassword))
                    | (Expect::Tampered, Some(Error::Tampered))
            );
            return (!ok).then(|| format!("the open says {err:?}"));
        }
    };
    let db = match opened {
        Ok(db) => db,
        Err(e) => return Some(format!("the open says {e:?}")),
    };
    for (ns, key, value, _, _) in entries() {
        let got = db.namespace(ns).get_encoded(key);
        let got = got.map(|v| v.map(|v| v.expose_secret().to_vec()));
        let ok = if bad_rule == Some(ns) {
            true
        } else if bad_space == Some(ns) {
            matches!(got, Err(Error::Tampered))
        } else if bad_get == Some((ns, key)) {
            matches!(got, Err(Error::Crypto))
        } else {
            matches!(&got, Ok(Some(v)) if *v == value)
        };
        if !ok {
            return Some(format!("the get of {ns}/{key} says {got:?}"));
        }
    }
    for ns in ["", "sessions", "users"] {
        let got = db.namespace(ns).keys_sorted();
        let ok = if bad_rule == Some(ns) {
            matches!(got, Err(Error::CorruptStore(_)))
        } else if bad_list == Some(ns) || bad_space == Some(ns) {
            matches!(got, Err(Error::Tampered))
        } else {
            got.is_ok()
        };
        if !ok {
            return Some(format!("the keys of {ns:?} say {got:?}"));
        }
    }
    None
}

/// Every difference between what the store does with `cases` and what FORMAT.md says.
pub fn store_differences(cases: Vec<(String, Vec<u8>, Expect)>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut differ = Vec::new();
    for (i, (name, file, expect)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("{i}.kv"));
        std::fs::write(&path, &file).unwrap();
        if let Some(what) = store_differs(&path, expect) {
            differ.push(format!("{name}: {what}, FORMAT.md {expect:?}"));
        }
    }
    differ
}

/// The toc's first space: after varint(sequence), varint(#prefixes) (one byte each: 1,
/// 5), the five prefixes and varint(#spaces).
pub const FIRST_SPACE: usize = 2 + 5 * 16 + 1;

/// Cases of "Records" and of the toc's `prefixes`, on `v` (the vector) whose users/alice
/// record is at `at`: `varint(p)` (one byte, 3: her prefix `34`×16 is the fourth used),
/// `varint(c)` (9 bytes), her value (1 byte), her tag.
pub fn short_nonce_cases(v: &[u8], at: usize) -> Vec<(String, Vec<u8>, Expect)> {
    let get = Expect::Get("users", "alice");
    let (prefixes, raw) = v2_raw_entries();
    let alice = raw.iter().position(|e| e.key == "alice" && e.ns == "users");
    let own = raw[alice.unwrap()].record.clone();
    assert_eq!((&own[..], v[at]), (&v[at..at + 27], 3));
    // A file whose alice record is `record`: its end, pin and tags made to match.
    let with_alice = |record: Vec<u8>| {
        let mut list = raw.clone();
        list[alice.unwrap()].record = record;
        build_v2_raw(&prefixes, &list)
    };
    // p = 3 in 10 bytes, the most a varint may take.
    let long_p = [&[0x83][..], &[0x80; 8], &[0x00]].concat();
    // c in 10 bytes: its 9-byte form continued by a zero byte.
    let long_c = [&own[1..9], &[own[9] | 0x80, 0x00]].concat();
    let mut reversed = prefixes.clone();
    reversed.reverse();
    let list: Vec<_> = (raw.iter().zip(v2_entries()))
        .map(|(e, sealed)| format_v2::RawEntry {
            record: format_v2::record(&sealed.sealed, &reversed),
            ..e.clone()
        })
        .collect();
    let reversed = build_v2_raw(&reversed, &list);
    let mut toc_varint = Vec::new();
    format_v1::varint(1 << 40, &mut toc_varint);
    vec![
        ("alice's p: another prefix".into(), flip(v, at), get),
        ("alice's p: #prefixes".into(), set(v, at, &[5]), get),
        ("alice's c".into(), flip(v, at + 1), get),
        // c's 9 bytes and the value's byte all continue: an eleventh byte (the tag's).
        (
            "alice's c: 11 bytes".into(),
            set(v, at + 1, &[0xff; 10]),
            get,
        ),
        (
            "alice's c: 2^64 or more".into(),
            with_alice([&[3][..], &[0xff; 9], &[0x02], &own[10..]].concat()),
            get,
        ),
        // A record of 18 bytes (the listing takes it), whose c runs past its end.
        (
            "alice's c: past her record".into(),
            with_alice([&long_p[..], &[0xff; 8]].concat()),
            get,
        ),
        (
            "alice's p and c in 10 bytes each".into(),
            with_alice([&long_p[..], &long_c, &own[10..]].concat()),
            Expect::Reads,
        ),
        // p = 2^32 + 3: her prefix's index, were p cut to 32 bits.
        (
            "alice's p: 2^32 + 3".into(),
            with_alice([&[0x83, 0x80, 0x80, 0x80, 0x10][..], &own[1..]].concat()),
            get,
        ),
        // p and c fit, but 15 bytes are left for ciphertext and tag.
        (
            "alice's record: a tag short".into(),
            with_alice([&[3, 0x80, 0x01][..], &own[12..]].concat()),
            get,
        ),
        // "in no particular order": the prefixes listed last used first.
        ("prefixes in another order".into(), reversed, Expect::Reads),
        (
            "toc: prefixes truncated".into(),
            reseal_toc(v, |t| t.truncate(2 + 3 * 16 + 8)),
            Expect::Corrupt,
        ),
        (
            "toc: #prefixes + 1".into(),
            reseal_toc(v, |t| t[1] += 1),
            Expect::Corrupt,
        ),
        (
            "toc: #prefixes 2^40".into(),
            reseal_toc(v, |t| {
                t.splice(1..2, toc_varint);
            }),
            Expect::Corrupt,
        ),
        // "each written once", "only those its records use": what a writer does; the
        // "Reading" tables hold a reader to neither.
        (
            "toc: a prefix twice".into(),
            reseal_toc(v, |t| {
                t[1] += 1;
                t.splice(2 + 5 * 16..2 + 5 * 16, [0x34; 16]);
            }),
            Expect::Reads,
        ),
        (
            "toc: a prefix no record uses".into(),
            reseal_toc(v, |t| {
                t[1] += 1;
                t.splice(2 + 5 * 16..2 + 5 * 16, [0x36; 16]);
            }),
            Expect::Reads,
        ),
    ]
}
