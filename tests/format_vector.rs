//! The committed test vectors (`tests/vectors/v1.kv`, `tests/vectors/v2.kv`) and
//! `docs/FORMAT.md`, checked against each other and against the store:
//! - every later version of microkv must open both committed files and read their values;
//! - each file is rebuilt here byte for byte from FORMAT.md alone, with a fixed key, salt,
//!   data key and nonces, by code that shares nothing with the store's encoder
//!   (`tests/support/format_v1.rs`, `format_v2.rs`);
//! - a file the current build writes (version 2) parses by FORMAT.md alone too, every
//!   directory tag, pin, value and names block checked.
//!
//! `MICROKV_WRITE_VECTORS=1 cargo test --test format_vector` rewrites the files (only ever
//! needed when a vector is first made: it must never change once a release has shipped
//! it). v1 was remade once before 0.4's release, when values became MessagePack only
//! (issue 20): the first vector's values were postcard, an encoding no release reads.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use microkv::{Config, Credential, ManualClock, MicroKV};

#[path = "support/format_v1.rs"]
mod format_v1;
use format_v1::sealed_value;
#[path = "support/format_v1_read.rs"]
mod format_v1_read;
#[path = "support/format_v2.rs"]
mod format_v2;
use format_v1_read::{parse_by_the_doc, DocEntry};
#[path = "support/vectors.rs"]
mod vectors;
use vectors::{
    at, build_v2_vector, build_vector, entries, v2_vector_path, vector_path, DATA_KEY, EXPIRES_AT,
    KEY, P, V2_SEQUENCE,
};

/// Writes `built` to `path` under `MICROKV_WRITE_VECTORS`, then checks the committed file
/// is `built`, byte for byte.
fn committed_is(path: &Path, built: &[u8]) {
    if std::env::var_os("MICROKV_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, built).unwrap();
    }
    let committed = std::fs::read(path).unwrap();
    assert_eq!(committed.len(), built.len(), "{}", path.display());
    assert!(
        committed == built,
        "{} differs from FORMAT.md",
        path.display()
    );
}

/// Every entry of a file read by FORMAT.md's version 2, sorted: namespace, key, value
/// plaintext, expiry.
fn read_entries(file: &format_v2::File) -> Vec<DocEntry> {
    let mut out: Vec<DocEntry> = file
        .spaces
        .iter()
        .flat_map(|s| {
            s.entries
                .iter()
                .map(|e| (s.name.clone(), e.key.clone(), e.value.clone(), e.expires))
        })
        .collect();
    out.sort();
    out
}

/// The vector's entries as FORMAT.md reads them, sorted.
fn vector_entries() -> Vec<DocEntry> {
    let mut want: Vec<_> = entries()
        .into_iter()
        .map(|(ns, k, v, e, _)| (ns.to_string(), k.to_string(), v, e))
        .collect();
    want.sort();
    want
}

fn read_only_at(ms: u64) -> Config {
    Config {
        read_only: true,
        ..at(ms)
    }
}

/// What both vectors hold, read through the store.
fn the_store_reads_the_vector(path: &Path) {
    let db = MicroKV::open_existing_with(path, Credential::key(KEY), read_only_at(EXPIRES_AT - 1))
        .unwrap_or_else(|e| panic!("every version of microkv opens {}: {e}", path.display()));
    assert_eq!(db.require::<String>("name").unwrap(), "test");
    assert_eq!(db.require::<String>("otp").unwrap(), "123456");
    let users = db.namespace("users");
    assert_eq!(users.get::<u32>("alice").unwrap(), Some(42));
    assert_eq!(users.get::<u32>("bob").unwrap(), Some(135));
    assert_eq!(
        db.namespace("sessions").require::<String>("alice").unwrap(),
        "token-xyz"
    );
    assert_eq!(db.tree_names().unwrap(), ["", "sessions", "users"]);
    assert_eq!(db.keys_sorted().unwrap(), ["name", "otp"]);
    assert_eq!(users.keys_sorted().unwrap(), ["alice", "bob"]);
    assert_eq!(db.kdf(), None);
    drop(db);

    let db =
        MicroKV::open_existing_with(path, Credential::key(KEY), read_only_at(EXPIRES_AT)).unwrap();
    assert_eq!(db.get::<String>("otp").unwrap(), None, "expired");
    assert_eq!(db.keys_sorted().unwrap(), ["name"]);

    let mut wrong = KEY;
    wrong[31] ^= 1;
    let err = MicroKV::open_existing_with(path, Credential::key(wrong), read_only_at(0));
    assert!(matches!(err, Err(microkv::Error::WrongPassword)), "{err:?}");
}

#[test]
fn the_committed_v1_vector_opens_and_reads_its_values() {
    the_store_reads_the_vector(&vector_path());
}

#[test]
fn the_committed_v2_vector_opens_and_reads_its_values() {
    the_store_reads_the_vector(&v2_vector_path());
}

#[test]
fn the_committed_v1_vector_is_what_format_md_describes() {
    committed_is(&vector_path(), &build_vector());
    let (parsed, sequence) = parse_by_the_doc(&std::fs::read(vector_path()).unwrap(), &KEY, 1);
    // The vector was made before bodies ended with a sequence number: it reads as 0.
    assert_eq!(sequence, None);
    assert_eq!(parsed, vector_entries());
}

/// The v2 vector: rebuilt byte for byte, read back by FORMAT.md's "Reading" (every tag,
/// pin, record's `p` and `c`, value and names block), its sealed values v1's (nonce,
/// ciphertext and tag: only the nonce's spelling differs), its `prefixes` those of the
/// values in the order of first use, and its key part (bytes 10..144) is v1's: the key
/// wrap carries over.
#[test]
fn the_committed_v2_vector_is_what_format_md_describes() {
    let built = build_v2_vector();
    committed_is(&v2_vector_path(), &built);
    let file = format_v2::read(&built, &KEY).unwrap();
    assert_eq!(
        (file.sequence, file.p, file.data_key),
        (V2_SEQUENCE, P, DATA_KEY)
    );
    assert_eq!(read_entries(&file), vector_entries());
    let names: Vec<_> = file
        .spaces
        .iter()
        .map(|s| (s.name.as_str(), s.flags))
        .collect();
    assert_eq!(names, [("", 1), ("sessions", 0), ("users", 0)]);
    // Records in file order: ""/"otp" (nonce 32×24), ""/"name" (31×24), then 33, 34, 35.
    let first_use = [0x32, 0x31, 0x33, 0x34, 0x35].map(|b| [b; 16]);
    assert_eq!(file.prefixes, first_use);
    // The page's regions table and toc tag.
    let regions: Vec<_> = (file.spaces.iter())
        .map(|s| (s.dir_at, s.records_at, s.names_at, s.names_at + s.names_len))
        .collect();
    let table = [
        (176, 240, 304, 329),
        (329, 353, 389, 411),
        (411, 459, 514, 540),
    ];
    assert_eq!((regions, built.len() - 16), (table.to_vec(), 702));
    let tag: String = built[702..].iter().map(|x| format!("{x:02x}")).collect();
    assert_eq!(tag, "9e0e54a8d64e47ba92f53e8d0b0cd1e5");
    assert_eq!(format_v2::writer_rules(&file), Vec::<String>::new());
    for s in &file.spaces {
        for e in &s.entries {
            let (_, _, value, _, nonce) = (entries().into_iter())
                .find(|v| (v.0, v.1) == (s.name.as_str(), e.key.as_str()))
                .unwrap();
            let sealed = sealed_value(&DATA_KEY, &nonce, &s.name, &e.key, &value);
            assert_eq!(e.sealed, sealed, "{}/{}", s.name, e.key);
            // varint(p), then c = 0x3131313131313131 in 9 bytes, then ciphertext and tag.
            assert_eq!(e.record_len, 1 + 9 + value.len() + 16);
        }
    }
    let v1 = std::fs::read(vector_path()).unwrap();
    assert_eq!(built[10..144], v1[10..144]);
    assert_eq!(built[8..10], [2, 0]);
    // SipHash-2-4-128 as the reference `siphash()` computes it (its test vectors: key
    // 00..0f, messages 00..(len - 1)).
    let k: [u8; 16] = std::array::from_fn(|i| i as u8);
    let hex = |b: [u8; 16]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        hex(format_v2::siphash128(&k, &[])),
        "a3817f04ba25a8e66df67214c7550293"
    );
    let m: Vec<u8> = (0..15).collect();
    assert_eq!(
        hex(format_v2::siphash128(&k, &m)),
        "5493e99933b0a8117e08ec0f97cfc3d9"
    );
}

/// The vector's contents written by the current build, as a new store at `path`.
fn write_the_vector_contents(path: &Path) -> MicroKV {
    let clock = ManualClock::new(Duration::from_millis(EXPIRES_AT - 60_000));
    let db = MicroKV::create_new_with(
        path,
        Credential::key(KEY),
        Config {
            clock: Some(Arc::new(clock)),
            ..Default::default()
        },
    )
    .unwrap();
    db.put("name", "test").unwrap();
    db.put_with_ttl("otp", "123456", Duration::from_secs(60))
        .unwrap();
    db.namespace("sessions").put("alice", "token-xyz").unwrap();
    db.namespace("users").put("alice", &42u32).unwrap();
    db.namespace("users").put("bob", &135u32).unwrap();
    db.save().unwrap();
    db
}

/// A file the current build writes is version 2 and reads by FORMAT.md alone: header,
/// toc, every directory tag, pin, record's `p` and `c`, value under `value_aad` and names
/// block, each name's hash that of its directory entry, sort order, regions adding up
/// (format_v2::read); and it keeps the writer's rules (shortest varints, each prefix once,
/// only the prefixes its records use: one here, one handle sealed every value;
/// tests/format_v2_prefixes.rs has more handles).
#[test]
fn files_the_current_build_writes_follow_format_md() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("now.kv");
    let db = write_the_vector_contents(&path);
    let first = std::fs::read(&path).unwrap();
    assert_eq!(first[8..10], [2, 0], "the current build writes version 2");
    let file = format_v2::read(&first, &KEY).unwrap();
    // New stores: value encoding 1, MessagePack; the same values as the vector's.
    assert_eq!(read_entries(&file), vector_entries());
    // The creation saved snapshot 1, the save snapshot 2.
    assert_eq!(file.sequence, 2);
    assert_eq!(db.position().unwrap().sequence(), 2);
    // Each snapshot draws its own P; the values are copied as they were sealed.
    db.namespace("users").put("carol", &7u32).unwrap();
    db.save().unwrap();
    let second = format_v2::read(&std::fs::read(&path).unwrap(), &KEY).unwrap();
    assert_eq!(second.sequence, 3);
    assert_ne!(second.p, file.p);
    let sealed = |f: &format_v2::File| -> Vec<Vec<u8>> {
        let mut all: Vec<_> = (f.spaces.iter().flat_map(|s| &s.entries))
            .map(|e| e.sealed.clone())
            .collect();
        all.sort();
        all
    };
    let kept: Vec<_> = (sealed(&second).into_iter())
        .filter(|r| sealed(&file).contains(r))
        .collect();
    assert_eq!(
        kept.len(),
        5,
        "every value but the new one copied as it was sealed"
    );
    // One handle sealed every value: one prefix.
    for f in [&file, &second] {
        assert_eq!(f.prefixes.len(), 1);
        assert_eq!(format_v2::writer_rules(f), Vec::<String>::new());
    }
}

/// A writable handle that opens a version 1 file writes version 2 at its next save: the
/// key part (bytes 10..144) as it was, every value's sealed bytes as the v1 body held
/// them, and the v1 snapshot's sequence (0) plus one.
#[test]
fn a_v1_file_is_saved_as_v2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.kv");
    let v1 = std::fs::read(vector_path()).unwrap();
    std::fs::write(&path, &v1).unwrap();
    let db = MicroKV::open_existing_with(&path, Credential::key(KEY), at(EXPIRES_AT - 1)).unwrap();
    db.save().unwrap();
    drop(db);
    let saved = std::fs::read(&path).unwrap();
    assert_eq!(saved[8..10], [2, 0]);
    assert_eq!(saved[10..144], v1[10..144]);
    let file = format_v2::read(&saved, &KEY).unwrap();
    assert_eq!(file.sequence, 1);
    assert_eq!(read_entries(&file), vector_entries());
    for s in &file.spaces {
        for e in &s.entries {
            let (_, _, value, _, nonce) = entries()
                .into_iter()
                .find(|v| (v.0, v.1) == (s.name.as_str(), e.key.as_str()))
                .unwrap();
            let sealed = sealed_value(&DATA_KEY, &nonce, &s.name, &e.key, &value);
            assert_eq!(e.sealed, sealed);
        }
    }
    assert_eq!(format_v2::writer_rules(&file), Vec::<String>::new());
    the_store_reads_the_vector(&path);
}

/// Two writers share a version 1 file; one saves it (as version 2). The other goes on
/// writing: the header's bytes 0..144 it compares to tell a rotation (FORMAT.md,
/// "Sharing") differ only in the version, which they compare as the key wrap reads it.
#[test]
fn shared_writers_of_a_v1_file_go_on_after_one_saves_it_as_v2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.kv");
    std::fs::write(&path, std::fs::read(vector_path()).unwrap()).unwrap();
    let writer = || Config {
        autosave: microkv::AutoSave::OnEveryWrite,
        ..at(EXPIRES_AT - 1)
    };
    let a = MicroKV::open_existing_with(&path, Credential::key(KEY), writer()).unwrap();
    let b = MicroKV::open_existing_with(&path, Credential::key(KEY), writer()).unwrap();
    a.save().unwrap();
    assert_eq!(std::fs::read(&path).unwrap()[8..10], [2, 0]);
    b.namespace("users").put("carol", &7u32).unwrap();
    a.reload().unwrap();
    assert_eq!(a.namespace("users").get::<u32>("carol").unwrap(), Some(7));
    assert_eq!(b.namespace("users").get::<u32>("alice").unwrap(), Some(42));
}

/// Directories of several chunks ("Directories": a tag per 4,096 bytes): the store writes
/// them as the page says (300 entries with an expiry column, 9,600 bytes in 3 chunks; 128,
/// exactly 4,096 bytes in 1), checked by FORMAT.md's reader, and reads one FORMAT.md's
/// builder made, whose 300 values each have a prefix of their own (300 `prefixes`, so
/// records from `p` = 128 on write it in two bytes).
#[test]
fn directories_of_several_chunks_follow_format_md() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.kv");
    let clock = ManualClock::new(Duration::from_millis(EXPIRES_AT - 60_000));
    let config = Config {
        clock: Some(Arc::new(clock)),
        ..Default::default()
    };
    let db = MicroKV::create_new_with(&path, Credential::key(KEY), config).unwrap();
    for (ns, n) in [("many", 300u32), ("edge", 128)] {
        for k in 0..n {
            let ttl = Duration::from_secs(60);
            db.namespace(ns)
                .put_with_ttl(&format!("k{k}"), &format!("v{k}"), ttl)
                .unwrap();
        }
    }
    db.save().unwrap();
    let file = format_v2::read(&std::fs::read(&path).unwrap(), &KEY).unwrap();
    let mut dirs: Vec<_> = (file.spaces.iter())
        .map(|s| (s.name.as_str(), s.entries.len(), s.records_at - s.dir_at))
        .collect();
    dirs.sort();
    assert_eq!(dirs, [("edge", 128, 4096), ("many", 300, 9600)]);

    let list: Vec<_> = (0..300u32)
        .map(|k| {
            let (key, mut nonce) = (format!("k{k}"), [0x77; 24]);
            nonce[..4].copy_from_slice(&k.to_le_bytes());
            let value = vectors::msgpack_str(&format!("v{k}"));
            format_v2::Entry {
                sealed: sealed_value(&DATA_KEY, &nonce, "many", &key, &value),
                ns: "many".into(),
                key,
                expires: Some(EXPIRES_AT),
            }
        })
        .collect();
    let path = dir.path().join("built.kv");
    let built = vectors::build_v2(&list);
    let read = format_v2::read(&built, &KEY).unwrap();
    assert_eq!(read.prefixes.len(), 300);
    let long = (read.spaces.iter().flat_map(|s| &s.entries)).filter(|e| e.p >= 128);
    assert_eq!(long.count(), 300 - 128);
    std::fs::write(&path, built).unwrap();
    let db = MicroKV::open_existing_with(&path, Credential::key(KEY), read_only_at(EXPIRES_AT - 1))
        .unwrap();
    let many = db.namespace("many");
    for k in 0..300 {
        assert_eq!(
            many.require::<String>(&format!("k{k}")).unwrap(),
            format!("v{k}")
        );
    }
    assert_eq!(many.keys_sorted().unwrap().len(), 300);
}

/// Byte 11 names the values' encoding, and MessagePack (1) is the only one: a file with
/// another (0 was postcard, in development builds before 0.4) is refused before any key is
/// derived, with the reason. The control: the same bytes with 1 open.
#[test]
fn a_file_of_another_value_encoding_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.kv");
    let mut bytes = std::fs::read(vector_path()).unwrap();
    for id in [0u8, 2, 0xff] {
        bytes[11] = id;
        std::fs::write(&path, &bytes).unwrap();
        let err = MicroKV::open_existing_with(&path, Credential::key(KEY), read_only_at(0));
        match err {
            Err(microkv::Error::CorruptStore(why)) => {
                assert_eq!(why, format!("unknown value encoding {id}"))
            }
            other => panic!("byte 11 = {id}: {other:?}"),
        }
    }
    bytes[11] = 1;
    std::fs::write(&path, &bytes).unwrap();
    let db = MicroKV::open_existing_with(&path, Credential::key(KEY), read_only_at(0)).unwrap();
    assert_eq!(db.namespace("users").require::<u32>("bob").unwrap(), 135);
}
