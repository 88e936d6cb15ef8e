//! Seeing what is stored: an entry's expiry, expired entries gone from memory once a save
//! left them out, a dump of every value whatever its type (byte strings included), and an
//! update whose closure can fail.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use microkv::{AutoSave, Config, Credential, Error, ManualClock, MicroKV};

const KEY: [u8; 32] = [0x3c; 32];

fn clocked(clock: &ManualClock, autosave: AutoSave) -> Config {
    Config {
        clock: Some(Arc::new(clock.clone())),
        autosave,
        ..Default::default()
    }
}

#[test]
fn an_entry_s_expiry_reads_back_and_survives_a_reopen() -> microkv::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.kv");
    let clock = ManualClock::new(Duration::from_secs(10_000));
    let db = MicroKV::open_with(
        &path,
        Credential::key(KEY),
        clocked(&clock, AutoSave::Manual),
    )?;
    db.put_with_ttl("otp", "123456", Duration::from_millis(90_500))?;
    db.put("name", "forever")?;
    assert_eq!(
        db.expires_at("otp")?,
        Some(Duration::from_millis(10_090_500))
    );
    assert_eq!(db.ttl("otp")?, Some(Duration::from_millis(90_500)));
    assert_eq!((db.expires_at("name")?, db.ttl("name")?), (None, None));
    assert!(matches!(db.ttl("absent"), Err(Error::KeyNotFound)));
    db.save()?;
    drop(db);

    clock.advance(Duration::from_secs(30));
    let db = MicroKV::open_with(
        &path,
        Credential::key(KEY),
        clocked(&clock, AutoSave::Manual),
    )?;
    assert_eq!(
        db.expires_at("otp")?,
        Some(Duration::from_millis(10_090_500))
    );
    assert_eq!(db.ttl("otp")?, Some(Duration::from_millis(60_500)));
    clock.advance(Duration::from_millis(60_500));
    assert!(matches!(db.expires_at("otp"), Err(Error::KeyNotFound)));
    Ok(())
}

#[test]
fn a_save_purges_expired_entries_from_memory() -> microkv::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Duration::from_secs(10_000));
    let open = |name: &str, autosave| {
        MicroKV::open_with(
            dir.path().join(name),
            Credential::key(KEY),
            clocked(&clock, autosave),
        )
    };

    // Control: without a save, the expired entry is still held (a sweep finds it).
    let db = open("control.kv", AutoSave::Manual)?;
    db.put_with_ttl("otp", "1", Duration::from_secs(1))?;
    clock.advance(Duration::from_secs(2));
    assert_eq!(db.sweep_expired()?, 1);

    // A manual save.
    let db = open("manual.kv", AutoSave::Manual)?;
    db.namespace("codes")
        .put_with_ttl("otp", "1", Duration::from_secs(1))?;
    db.put("kept", "yes")?;
    clock.advance(Duration::from_secs(2));
    db.save()?;
    assert_eq!(db.sweep_expired()?, 0, "the save purged it");
    assert_eq!(db.require::<String>("kept")?, "yes");

    // A journal compaction (OnEveryWrite, once the journal is long: 64 KiB here).
    let filler = "x".repeat(2048);
    let journaled = |name: &str, writes: usize| -> microkv::Result<(usize, u64)> {
        let db = open(name, AutoSave::OnEveryWrite)?;
        db.put_with_ttl("otp", "1", Duration::from_secs(1))?;
        clock.advance(Duration::from_secs(2));
        for i in 0..writes {
            db.put(&format!("k{i}"), &filler)?;
        }
        let journal =
            std::fs::metadata(dir.path().join(format!("{name}.journal"))).map_or(0, |m| m.len());
        Ok((db.sweep_expired()?, journal))
    };
    let (left, journal) = journaled("short.kv", 4)?;
    assert_eq!(left, 1, "control: no compaction yet, the entry is held");
    assert!(
        journal > 8 * 1024,
        "four writes are in the journal: {journal}"
    );
    let (left, journal) = journaled("long.kv", 40)?;
    assert!(journal < 64 * 1024, "compacted: the journal is {journal} B");
    assert_eq!(left, 0, "the compaction purged it");
    Ok(())
}

#[derive(serde::Serialize)]
struct Blob(#[serde(with = "serde_bytes")] Vec<u8>);

/// A record with a byte-string field.
#[derive(serde::Serialize)]
struct Record {
    name: &'static str,
    #[serde(with = "serde_bytes")]
    key: Vec<u8>,
}

#[test]
fn every_stored_value_dumps_byte_strings_included() -> microkv::Result<()> {
    let db = MicroKV::in_memory(Credential::key(KEY))?;
    db.put("name", "alice")?;
    db.put("n", &42u32)?;
    db.put("blob", &Blob(vec![0, 1, 255]))?;
    db.put("json", &serde_json::json!({"a": [1, true, null]}))?;
    let record = Record {
        name: "k1",
        key: vec![9, 8],
    };
    db.put("record", &record)?;

    // Control: a typed dump stops at the byte string inside the record.
    let mut seen = 0;
    let typed = db.for_each::<serde_json::Value, _>(|_, _| {
        seen += 1;
        ControlFlow::Continue(())
    });
    assert!(matches!(typed, Err(Error::Serialization(_))), "{typed:?}");

    let mut dump = BTreeMap::new();
    db.for_each_encoded(|key, raw| {
        let value = rmpv::decode::read_value(&mut raw.expose_secret()).expect("MessagePack");
        dump.insert(key.to_owned(), value);
        ControlFlow::Continue(())
    })?;
    assert_eq!(dump.len(), 5);
    assert_eq!(dump["blob"], rmpv::Value::Binary(vec![0, 1, 255]));
    assert_eq!(dump["name"], rmpv::Value::from("alice"));
    assert_eq!(dump["n"], rmpv::Value::from(42u32));
    let json: serde_json::Value = serde_json::to_value(&dump).unwrap();
    assert_eq!(json["blob"], serde_json::json!([0, 1, 255]));
    assert_eq!(json["json"], serde_json::json!({"a": [1, true, null]}));
    assert_eq!(
        json["record"],
        serde_json::json!({"name": "k1", "key": [9, 8]})
    );
    assert_eq!(
        db.get_encoded("n")?.expect("present").expose_secret(),
        [42],
        "MessagePack's 42"
    );
    Ok(())
}

#[test]
fn a_failing_try_update_changes_nothing_in_memory_or_on_disk() -> microkv::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.kv");
    let config = Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    };
    let db = MicroKV::open_with(&path, Credential::key(KEY), config)?;
    db.put("balance", &10u32)?;
    let debit = |amount: u32| {
        db.try_update::<u32, _>("balance", |cur| {
            let cur = cur.ok_or(Error::KeyNotFound)?;
            let left = cur
                .checked_sub(amount)
                .ok_or_else(|| Error::abort("insufficient funds"))?;
            Ok(Some(left))
        })
    };
    debit(4)?;
    let refused = debit(7);
    assert!(matches!(refused, Err(Error::Aborted(ref why)) if why == "insufficient funds"));
    assert_eq!(db.require::<u32>("balance")?, 6);
    drop(db);
    let ro = Config {
        read_only: true,
        ..Default::default()
    };
    let db = MicroKV::open_with(&path, Credential::key(KEY), ro)?;
    assert_eq!(db.require::<u32>("balance")?, 6);
    Ok(())
}
