//! docs/FORMAT.md's toc `prefixes` as the current build writes them, read by FORMAT.md
//! alone (`tests/support/format_v2.rs`): each handle seals its values under a prefix of
//! its own ("Nonces"), and a save lists each prefix its records use once, and no other
//! ("Toc", "Writing a snapshot"), the records' `p` and `c` in the shortest form
//! ("Records").
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use microkv::{Config, Credential, ManualClock, MicroKV};

#[path = "support/format_v1.rs"]
mod format_v1;
use format_v1::sealed_value;
#[path = "support/format_v2.rs"]
mod format_v2;
use format_v2::writer_rules;
#[path = "support/vectors.rs"]
mod vectors;
use vectors::{msgpack_str, DATA_KEY, EXPIRES_AT, KEY};

fn writer(path: &Path) -> MicroKV {
    let clock = ManualClock::new(Duration::from_millis(EXPIRES_AT - 60_000));
    let config = Config {
        clock: Some(Arc::new(clock)),
        ..Default::default()
    };
    if path.exists() {
        MicroKV::open_existing_with(path, Credential::key(KEY), config).unwrap()
    } else {
        MicroKV::create_new_with(path, Credential::key(KEY), config).unwrap()
    }
}

fn read(path: &Path) -> format_v2::File {
    format_v2::read(&std::fs::read(path).unwrap(), &KEY).unwrap()
}

/// Each record's sealed value's first 16 bytes (its nonce's prefix), sorted by key.
/// Saves and closes `db` (the store at `path`), then reads its file by FORMAT.md: it lists
/// `prefixes` prefixes, and keeps the writer's rules.
fn save_and_read(db: MicroKV, path: &Path, prefixes: usize) -> format_v2::File {
    db.save().unwrap();
    drop(db);
    let file = read(path);
    assert_eq!(file.prefixes.len(), prefixes);
    assert_eq!(writer_rules(&file), Vec::<String>::new());
    file
}

fn prefix_of_each(file: &format_v2::File) -> Vec<(String, [u8; 16])> {
    let mut out: Vec<_> = (file.spaces.iter().flat_map(|s| &s.entries))
        .map(|e| (e.key.clone(), e.sealed[..16].try_into().unwrap()))
        .collect();
    out.sort();
    out
}

/// Three handles, one after another: the first's values share one prefix; the second's
/// value adds its own (two listed); once that value is removed, the third handle's save
/// lists the first's alone again (the second's is used by no record, and the third sealed
/// nothing). Every file keeps the writer's rules.
#[test]
fn a_save_lists_the_prefixes_its_records_use_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.kv");
    let db = writer(&path);
    for k in ["a", "b", "c"] {
        db.put(k, &k.to_string()).unwrap();
    }
    let first = save_and_read(db, &path, 1);

    let db = writer(&path);
    db.namespace("other").put("d", &4u32).unwrap();
    db.save().unwrap();
    drop(db);
    let second = read(&path);
    assert_eq!(
        second.prefixes.len(),
        2,
        "a second handle's value: its prefix"
    );
    assert!(second.prefixes.contains(&first.prefixes[0]));
    assert_eq!(writer_rules(&second), Vec::<String>::new());
    let each = prefix_of_each(&second);
    let d = each.iter().find(|(k, _)| k == "d").unwrap().1;
    assert_ne!(d, first.prefixes[0]);
    assert!(each.iter().all(|(k, p)| (k == "d") == (*p == d)));

    let db = writer(&path);
    db.namespace("other").remove("d").unwrap();
    db.save().unwrap();
    drop(db);
    let third = read(&path);
    assert_eq!(
        third.prefixes, first.prefixes,
        "d's prefix is no record's now"
    );
    assert_eq!(writer_rules(&third), Vec::<String>::new());
}

/// A value that reached the file through the journal (a record sealed by a handle that
/// never saved a snapshot) keeps the nonce its put sealed it under: the next snapshot, by
/// another handle that sealed nothing, lists that handle's prefix beside the first's, and
/// its own not at all.
#[test]
fn a_journaled_value_keeps_its_handle_s_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.kv");
    let db = writer(&path);
    db.put("a", "one").unwrap();
    db.save().unwrap();
    drop(db);
    let first = read(&path);
    let config = Config {
        autosave: microkv::AutoSave::OnEveryWrite,
        ..Default::default()
    };
    let journaled = MicroKV::open_existing_with(&path, Credential::key(KEY), config).unwrap();
    journaled.put("j", "two").unwrap();
    drop(journaled);
    let journal = std::fs::read(path.with_extension("kv.journal")).unwrap();
    assert!(journal.len() > 36, "the put is a journal record");
    assert_eq!(read(&path).prefixes, first.prefixes, "no snapshot saved");

    let db = writer(&path);
    assert_eq!(db.require::<String>("j").unwrap(), "two");
    let saved = save_and_read(db, &path, 2);
    let each = prefix_of_each(&saved);
    assert_eq!(each[0], ("a".to_string(), first.prefixes[0]));
    assert_ne!(
        each[1].1, first.prefixes[0],
        "j: the journaling handle's prefix"
    );
}

/// A file FORMAT.md's builder made with 300 prefixes, one for each value (so from `p` =
/// 128 on a record writes `p` in two bytes), saved by the store after a write: its 300
/// values copied as they were sealed, with their prefixes, each listed once, and the new
/// value's, 301 in all.
#[test]
fn a_save_copies_300_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.kv");
    let list: Vec<_> = (0..300u32)
        .map(|k| {
            let (key, mut nonce) = (format!("k{k}"), [0x77; 24]);
            nonce[..4].copy_from_slice(&k.to_le_bytes());
            let value = msgpack_str(&format!("v{k}"));
            format_v2::Entry {
                sealed: sealed_value(&DATA_KEY, &nonce, "many", &key, &value),
                ns: "many".into(),
                key,
                expires: None,
            }
        })
        .collect();
    let built = vectors::build_v2(&list);
    let before = format_v2::read(&built, &KEY).unwrap();
    assert_eq!(before.prefixes.len(), 300);
    assert_eq!(writer_rules(&before), Vec::<String>::new());
    std::fs::write(&path, &built).unwrap();

    let db = writer(&path);
    db.namespace("many").put("new", "value").unwrap();
    db.save().unwrap();
    assert_eq!(
        db.namespace("many").require::<String>("k299").unwrap(),
        "v299"
    );
    drop(db);
    let after = read(&path);
    assert_eq!(after.prefixes.len(), 301);
    assert_eq!(writer_rules(&after), Vec::<String>::new());
    let sealed: Vec<_> = (after.spaces.iter().flat_map(|s| &s.entries))
        .map(|e| (e.key.as_str(), &e.sealed))
        .collect();
    for e in &list {
        let kept = sealed.iter().find(|(k, _)| *k == e.key).unwrap().1;
        assert_eq!(*kept, e.sealed, "{} as it was sealed", e.key);
    }
}
