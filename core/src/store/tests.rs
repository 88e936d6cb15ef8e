//! Crypto properties seen through the engine: a value cannot be altered, moved to another
//! name, or opened under another data key without an error.
use alloc::string::String;
use alloc::vec::Vec;

use super::*;
use crate::entry::Entry;
use crate::error::Error;
use core::sync::atomic::Ordering;
use core::time::Duration;

mod catch_up;
mod group_commit;

fn store() -> Store {
    Store::in_memory(Credential::key([5; 32])).unwrap()
}

fn sealed(db: &Store, ns: &str, key: &str) -> Vec<u8> {
    db.engine
        .contents_for_test()
        .raw(ns, key)
        .unwrap()
        .sealed
        .to_vec()
}

fn plant(db: &Store, ns: &str, key: &str, sealed: Vec<u8>) {
    db.engine
        .contents_for_test()
        .replace(
            ns,
            key,
            Some(Entry {
                sealed: sealed.into(),
                expires_at: None,
            }),
        )
        .unwrap();
}

#[test]
fn every_flipped_ciphertext_byte_is_an_error() {
    let db = store();
    db.put("k", "a secret value").unwrap();
    let original = sealed(&db, "", "k");
    for i in 0..original.len() {
        for bit in [0, 7] {
            let mut bad = original.clone();
            bad[i] ^= 1 << bit;
            plant(&db, "", "k", bad);
            assert!(
                matches!(db.get::<String>("k"), Err(Error::Crypto)),
                "byte {i} bit {bit}"
            );
        }
    }
    for len in 0..original.len() {
        plant(&db, "", "k", original[..len].into());
        assert!(
            matches!(db.get::<String>("k"), Err(Error::Crypto)),
            "truncated to {len}"
        );
    }
    plant(&db, "", "k", original);
    assert_eq!(
        db.get::<String>("k").unwrap().as_deref(),
        Some("a secret value")
    );
}

#[test]
fn a_ciphertext_moved_to_another_key_or_namespace_is_an_error() {
    let db = store();
    db.put("k", "v").unwrap();
    let s = sealed(&db, "", "k");
    plant(&db, "", "other", s.clone());
    assert!(matches!(db.get::<String>("other"), Err(Error::Crypto)));
    plant(&db, "ns", "k", s.clone());
    assert!(matches!(
        db.namespace("ns").get::<String>("k"),
        Err(Error::Crypto)
    ));
    // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
    db.namespace("ab").put("c", "v").unwrap();
    plant(&db, "a", "bc", sealed(&db, "ab", "c"));
    assert!(matches!(
        db.namespace("a").get::<String>("bc"),
        Err(Error::Crypto)
    ));
}

#[test]
fn a_ciphertext_under_another_data_key_is_an_error() {
    let a = store();
    let b = store(); // same credential, but its own random data key
    a.put("k", "v").unwrap();
    plant(&b, "", "k", sealed(&a, "", "k"));
    assert!(matches!(b.get::<String>("k"), Err(Error::Crypto)));
}

#[test]
fn nonces_never_repeat() {
    let db = store();
    let mut nonces: Vec<Vec<u8>> = Vec::new();
    for i in 0..1000u32 {
        db.put("k", &i).unwrap();
        nonces.push(sealed(&db, "", "k")[..crate::crypto::NONCE_LEN].to_vec());
    }
    let other = store();
    other.put("k", &0u32).unwrap();
    nonces.push(sealed(&other, "", "k")[..crate::crypto::NONCE_LEN].to_vec());
    let n = nonces.len();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), n);
}

#[test]
fn rekey_failing_midway_keeps_the_old_key_and_every_entry() {
    let db = store();
    for i in 0..20u32 {
        db.put(&alloc::format!("k{i}"), &i).unwrap();
    }
    // Corrupt one entry: re-encryption hits it midway and must give up cleanly.
    let mut bad = sealed(&db, "", "k7");
    bad[30] ^= 1;
    plant(&db, "", "k7", bad);
    let before = db.engine.lock().unwrap().header();
    assert!(matches!(
        db.rekey(Credential::key([6; 32])),
        Err(Error::Crypto)
    ));
    assert_eq!(db.engine.lock().unwrap().header(), before);
    for i in (0..20u32).filter(|&i| i != 7) {
        assert_eq!(db.get::<u32>(&alloc::format!("k{i}")).unwrap(), Some(i));
    }
}

/// A clock that counts its readings.
struct Counting(core::sync::atomic::AtomicUsize);

impl crate::clock::Clock for Counting {
    fn now(&self) -> Duration {
        self.0.fetch_add(1, Ordering::Relaxed);
        Duration::from_secs(1_700_000_000)
    }
}

#[test]
fn the_clock_is_read_only_when_a_ttl_needs_it_and_once_per_operation() {
    let clock = Arc::new(Counting(Default::default()));
    let config = Config {
        clock: Some(clock.clone()),
        ..Config::default()
    };
    let db = Store::in_memory_with(Credential::key([5; 32]), config).unwrap();
    let reads = || clock.0.load(Ordering::Relaxed);
    db.put("plain", "no ttl").unwrap();
    db.get::<String>("plain").unwrap();
    db.update::<String, _>("plain", |v| v).unwrap();
    assert_eq!(db.keys().unwrap().len(), 1);
    assert_eq!(db.len().unwrap(), 1);
    assert_eq!(db.tree_names().unwrap().len(), 1);
    assert_eq!(reads(), 0, "no entry has a TTL: no reading");
    db.put_with_ttl("t", "ttl", Duration::from_secs(60))
        .unwrap();
    assert_eq!(reads(), 1);
    db.get::<String>("t").unwrap();
    assert_eq!(reads(), 2);
    // A transaction that reads a TTL entry twice and writes one more: one reading.
    db.transaction(|tx| {
        tx.get::<String>("", "t")?;
        tx.get::<String>("", "t")?;
        tx.put_with_ttl("", "u", "ttl", Duration::from_secs(60))
    })
    .unwrap();
    assert_eq!(reads(), 3);
}

#[test]
fn a_rekey_leaves_no_reader_holding_the_old_keyring() {
    let db = store();
    db.put("k", "v").unwrap();
    let old = db.engine.contents_for_test().keyring.clone();
    // A read caches the keyring in this thread's scratch slot.
    assert_eq!(db.get::<String>("k").unwrap().as_deref(), Some("v"));
    assert!(
        Arc::strong_count(&old) > 2,
        "control: the slot holds the keyring"
    );
    db.rekey(Credential::key([9; 32])).unwrap();
    assert_eq!(Arc::strong_count(&old), 1);
    assert_eq!(db.get::<String>("k").unwrap().as_deref(), Some("v"));
}

/// Readers seal too (a snapshot seals its body under the next nonce) while a writer seals
/// entries: the nonces drawn by all of them, concurrently, are distinct.
#[test]
fn concurrent_sealers_never_share_a_nonce() {
    extern crate std;
    let db = Arc::new(store());
    let snapshots: Vec<Vec<u8>> = std::thread::scope(|s| {
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let db = &db;
                s.spawn(move || {
                    (0..100)
                        .map(|_| db.export().unwrap()[144..168].to_vec())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut nonces = Vec::new();
        for i in 0..300u32 {
            db.put(&alloc::format!("k{i}"), &i).unwrap();
            nonces.push(sealed(&db, "", &alloc::format!("k{i}"))[..24].to_vec());
        }
        for r in readers {
            nonces.extend(r.join().unwrap());
        }
        nonces
    });
    let n = snapshots.len();
    assert_eq!(n, 600);
    let mut unique = snapshots;
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), n);
}

/// A value whose `Deserialize` panics halfway through a get: the plaintext in the reader's
/// scratch slot is wiped all the same, and the slot works afterwards.
#[test]
fn a_panicking_deserialize_leaves_no_plaintext_in_the_scratch_slot() {
    extern crate std;
    struct Panics;
    impl<'de> serde::Deserialize<'de> for Panics {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> core::result::Result<Self, D::Error> {
            panic!("deserialize fails loudly");
        }
    }
    let db = store();
    db.put("k", "a secret worth wiping").unwrap();
    assert_eq!(
        db.get::<String>("k").unwrap().as_deref(),
        Some("a secret worth wiping")
    );
    assert!(
        db.engine.scratch.any_buffer(),
        "control: the get went through a slot"
    );
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.get::<Panics>("k")));
    assert!(caught.is_err());
    assert!(db.engine.scratch.all_wiped());
    assert_eq!(
        db.get::<String>("k").unwrap().as_deref(),
        Some("a secret worth wiping")
    );
    assert!(db.engine.scratch.all_wiped());
}

#[test]
fn a_slot_grows_for_longer_values_up_to_the_largest_class_and_is_wiped() {
    let db = store();
    assert_eq!(db.engine.scratch.longest_buffer(), 0);
    // (value length, slot buffer after reading it): a MessagePack string is 2-3 bytes
    // longer than its text; past 4096 bytes the value gets a buffer of its own.
    for (len, slot) in [
        (100, 256),
        (1000, 1024),
        (300, 1024),
        (4000, 4096),
        (5000, 4096),
    ] {
        let value = "v".repeat(len);
        db.put("k", &value).unwrap();
        assert_eq!(db.get::<String>("k").unwrap().as_deref(), Some(&value[..]));
        assert_eq!(
            db.engine.scratch.longest_buffer(),
            slot,
            "after {len} bytes"
        );
        assert!(db.engine.scratch.all_wiped(), "after {len} bytes");
    }
}

#[cfg(feature = "std")]
#[test]
fn position_from_inside_the_stores_own_closure_returns_at_once() {
    extern crate std;
    let storage = crate::storage::MemoryStorage::default();
    let db = Store::with_storage(storage, Credential::key([5; 32]), Config::default()).unwrap();
    let db = Arc::new(db);
    let outside = db.position();
    assert!(outside.is_some(), "saved when it was created");
    let (sent, received) = std::sync::mpsc::channel();
    let inner = db.clone();
    // On a thread of its own: a position() that waits for the writer lock its own
    // transaction holds never returns.
    std::thread::spawn(move || {
        let inside = inner.transaction(|_| Ok(inner.position()));
        let _ = sent.send(inside.map(|p| p.is_none()));
    });
    let inside = received.recv_timeout(Duration::from_secs(10));
    assert_eq!(inside.expect("position() returned").ok(), Some(true));
    assert_eq!(db.position(), outside);
}
