//! The read/write API under bad input, threads and re-entrant calls.
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use microkv::{Config, Credential, Error, ManualClock, MicroKV};

#[path = "support/panics.rs"]
mod panics;
use panics::panics_on_a_thread;

fn db() -> MicroKV {
    MicroKV::in_memory(Credential::key([9; 32])).expect("in-memory store")
}

#[test]
fn type_mismatch_is_a_typed_error() {
    let db = db();
    db.put("s", &"not a number at all".to_string()).unwrap();
    assert!(matches!(db.get::<u32>("s"), Err(Error::Serialization(_))));
    db.put("n", &5u32).unwrap();
    assert!(matches!(
        db.get::<String>("n"),
        Err(Error::Serialization(_))
    ));
    assert!(matches!(
        db.get::<(u32, u32)>("n"),
        Err(Error::Serialization(_))
    ));
    // The failed reads changed nothing.
    assert_eq!(db.get::<u32>("n").unwrap(), Some(5));
    // update with the wrong type fails before calling the closure and changes nothing.
    let mut called = false;
    let r = db.update::<bool, _>("s", |v| {
        called = true;
        v
    });
    assert!(matches!(r, Err(Error::Serialization(_))));
    assert!(!called);
    assert_eq!(db.require::<String>("s").unwrap(), "not a number at all");
}

#[test]
fn empty_and_very_long_keys() {
    let db = db();
    db.put("", &1u8).unwrap();
    assert_eq!(db.get::<u8>("").unwrap(), Some(1));
    let long = "k".repeat(1 << 20);
    db.put(&long, &2u8).unwrap();
    assert_eq!(db.get::<u8>(&long).unwrap(), Some(2));
    assert!(db.contains(&long).unwrap());
    assert!(db.remove(&long).unwrap());
    assert!(!db.contains(&long).unwrap());
    let ns = db.namespace("n".repeat(100_000));
    ns.put("", &3u8).unwrap();
    assert_eq!(ns.get::<u8>("").unwrap(), Some(3));
    assert_eq!(db.get::<u8>("").unwrap(), Some(1));
}

#[test]
fn values_larger_than_a_slab() {
    let db = db();
    for len in [0usize, 1, 4095, 4096, 4097, 300_000, 1 << 20] {
        let value: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        db.put("big", &value).unwrap();
        assert_eq!(
            db.get::<Vec<u8>>("big").unwrap().as_ref(),
            Some(&value),
            "len {len}"
        );
    }
}

#[test]
fn remove_len_clear_and_keys() {
    let db = db();
    assert!(db.is_empty().unwrap());
    for i in 0..10u32 {
        db.put(&format!("k{i}"), &i).unwrap();
    }
    db.namespace("other").put("k0", &0u32).unwrap();
    assert_eq!(db.len().unwrap(), 10);
    assert!(db.remove("k3").unwrap());
    assert!(!db.remove("k3").unwrap());
    assert_eq!(db.len().unwrap(), 9);
    let mut seen = 0;
    db.for_each::<u32, _>(|k, v| {
        assert_eq!(k, format!("k{v}"));
        seen += 1;
        if seen == 4 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(seen, 4);
    db.clear().unwrap();
    assert!(db.is_empty().unwrap());
    assert_eq!(db.keys().unwrap(), Vec::<String>::new());
    assert_eq!(
        db.namespace("other").len().unwrap(),
        1,
        "clear is per namespace"
    );
}

#[test]
fn update_none_removes_and_cas_handles_absence() {
    let db = db();
    assert!(db.compare_and_swap::<u32>("c", None, Some(&1)).unwrap());
    assert!(!db.compare_and_swap::<u32>("c", None, Some(&2)).unwrap());
    assert!(db.compare_and_swap::<u32>("c", Some(&1), None).unwrap());
    assert!(!db.contains("c").unwrap());
    db.put("u", &1u32).unwrap();
    db.update::<u32, _>("u", |_| None).unwrap();
    assert!(!db.contains("u").unwrap());
    db.update::<u32, _>("missing", |_| None).unwrap();
    assert!(!db.contains("missing").unwrap());
}

#[test]
fn eight_threads_thousand_updates_each() {
    let db = Arc::new(db());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    db.update::<u64, _>("counter", |c| Some(c.unwrap_or(0) + 1))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(db.get::<u64>("counter").unwrap(), Some(8000));
}

#[test]
fn calls_from_inside_closures_neither_deadlock_nor_corrupt() {
    let db = Arc::new(db());
    db.put("a", &1u32).unwrap();
    db.put("b", &2u32).unwrap();

    // update: a nested read works (it sees the committed value), a nested write is
    // refused, and the update itself goes through.
    let mut nested = None;
    db.update::<u32, _>("a", |v| {
        nested = Some((db.get::<u32>("b"), db.get::<u32>("a"), db.put("x", &0u32)));
        v.map(|v| v + 10)
    })
    .unwrap();
    let (read_b, read_a, write) = nested.unwrap();
    assert_eq!(read_b.unwrap(), Some(2));
    assert_eq!(read_a.unwrap(), Some(1));
    assert!(matches!(write, Err(Error::Reentrant)));
    assert_eq!(db.get::<u32>("a").unwrap(), Some(11));
    assert!(!db.contains("x").unwrap());

    // get_or_insert_with: same.
    let v = db
        .get_or_insert_with::<u32, _>("c", || {
            assert!(matches!(db.put("d", &0u32), Err(Error::Reentrant)));
            assert_eq!(db.get::<u32>("c").unwrap(), None);
            assert_eq!(db.keys_sorted().unwrap(), ["a", "b"]);
            3
        })
        .unwrap();
    assert_eq!(v, 3);
    assert!(!db.contains("d").unwrap());

    // transaction: nested reads see the committed state (not the transaction's pending
    // writes), nested writes are refused; the transaction still commits.
    db.transaction(|tx| {
        tx.put("", "e", &5u32)?;
        assert_eq!(db.get::<u32>("a").unwrap(), Some(11));
        assert_eq!(db.get::<u32>("e").unwrap(), None);
        assert!(db.get_secret_bytes("e").unwrap().is_none());
        assert_eq!(db.len().unwrap(), 3);
        assert!(db.export().is_ok());
        assert!(matches!(db.put("f", &0u32), Err(Error::Reentrant)));
        assert!(matches!(
            db.update::<u32, _>("a", |v| v),
            Err(Error::Reentrant)
        ));
        assert!(matches!(db.transaction(|_| Ok(())), Err(Error::Reentrant)));
        Ok(())
    })
    .unwrap();
    assert_eq!(db.get::<u32>("e").unwrap(), Some(5));
    assert!(!db.contains("f").unwrap());

    // for_each runs on a snapshot without the lock: nested calls work.
    db.for_each::<u32, _>(|k, v| {
        db.put(&format!("copy-{k}"), &v).unwrap();
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(db.get::<u32>("copy-a").unwrap(), Some(11));

    // Another thread's read is never refused and never waits for a writer: it completes
    // while this thread holds the writer lock (joined inside the closure).
    db.update::<u32, _>("a", |v| {
        let other = db.clone();
        let read = std::thread::spawn(move || other.get::<u32>("b")).join();
        assert_eq!(read.unwrap().unwrap(), Some(2));
        v
    })
    .unwrap();

    // Another thread's write is never refused either: it waits for the writer lock.
    let other = db.clone();
    db.update::<u32, _>("a", |v| {
        let t = std::thread::spawn({
            let other = other.clone();
            move || other.put("late", &7u32)
        });
        // The other thread blocks until we release the lock; don't join here.
        std::mem::forget(t);
        v
    })
    .unwrap();
    while !db.contains("late").unwrap() {
        std::thread::yield_now();
    }
    assert_eq!(other.get::<u32>("late").unwrap(), Some(7));
}

#[test]
fn panic_inside_update_leaves_store_unchanged_and_usable() {
    let db = Arc::new(db());
    db.put("a", &1u32).unwrap();
    assert!(panics_on_a_thread(&db, |d| {
        d.update::<u32, _>("a", |_| panic!("boom")).unwrap();
    }));
    assert_eq!(db.get::<u32>("a").unwrap(), Some(1));
    db.put("a", &2u32).unwrap();
    assert_eq!(db.get::<u32>("a").unwrap(), Some(2));
}

#[test]
fn ttl_with_manual_clock() {
    let clock = ManualClock::new(Duration::from_secs(1_000));
    let config = Config {
        clock: Some(Arc::new(clock.clone())),
        ..Default::default()
    };
    let db = MicroKV::in_memory_with(Credential::key([1; 32]), config).unwrap();
    db.put_with_ttl("otp", &"123456".to_string(), Duration::from_secs(60))
        .unwrap();
    db.put("plain", &1u8).unwrap();
    clock.advance(Duration::from_secs(59));
    assert!(db.contains("otp").unwrap());
    clock.advance(Duration::from_secs(1));
    assert_eq!(db.get::<String>("otp").unwrap(), None);
    assert!(!db.contains("otp").unwrap());
    assert_eq!(db.len().unwrap(), 1);
    assert_eq!(db.keys().unwrap(), vec!["plain".to_string()]);
    // A clock stepping back does not resurrect the expired entry.
    clock.set(Duration::from_secs(1_000));
    assert_eq!(db.get::<String>("otp").unwrap(), None);
    assert_eq!(db.sweep_expired().unwrap(), 1);
    assert_eq!(db.sweep_expired().unwrap(), 0);
}
