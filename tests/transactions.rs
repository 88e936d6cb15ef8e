//! Transactions: own-write visibility, rollback on `Err`, abort and panic, and
//! serializability under threads.
use std::sync::Arc;

use microkv::{Credential, Error, MicroKV};

#[path = "support/panics.rs"]
mod panics;
use panics::panics_on_a_thread;

fn db() -> MicroKV {
    MicroKV::in_memory(Credential::key([4; 32])).unwrap()
}

#[test]
fn reads_see_the_transactions_own_writes() {
    let db = db();
    db.put("a", &1u32).unwrap();
    let seen = db
        .transaction(|tx| {
            tx.put("", "a", &2u32)?;
            tx.put("ns", "b", &3u32)?;
            let a: u32 = tx.require("", "a")?;
            let b: Option<u32> = tx.get("ns", "b")?;
            assert!(tx.remove("", "a")?);
            let gone: Option<u32> = tx.get("", "a")?;
            assert!(!tx.contains("", "a"));
            Ok((a, b, gone))
        })
        .unwrap();
    assert_eq!(seen, (2, Some(3), None));
    assert_eq!(db.get::<u32>("a").unwrap(), None);
    assert_eq!(db.namespace("ns").get::<u32>("b").unwrap(), Some(3));
}

#[test]
fn an_error_rolls_everything_back() {
    let db = db();
    db.put("balance", &5u64).unwrap();
    let r = db.transaction(|tx| {
        tx.put("", "balance", &0u64)?;
        tx.put("audit", "x", &1u8)?;
        let _missing: u64 = tx.require("", "no-such-key")?; // `?` aborts here
        Ok(())
    });
    assert!(matches!(r, Err(Error::KeyNotFound)));
    let r: microkv::Result<()> = db.transaction(|tx| {
        tx.remove("", "balance")?;
        Err(Error::abort("insufficient funds"))
    });
    assert!(matches!(r, Err(Error::Aborted(why)) if why == "insufficient funds"));
    assert_eq!(db.get::<u64>("balance").unwrap(), Some(5));
    assert!(db.namespace("audit").is_empty().unwrap());
}

#[test]
fn a_panic_inside_leaves_the_store_unchanged_and_usable() {
    let db = Arc::new(db());
    db.put("k", &1u32).unwrap();
    assert!(panics_on_a_thread(&db, |d| {
        let _ = d.transaction(|tx| {
            tx.put("", "k", &2u32)?;
            tx.put("", "other", &3u32)?;
            panic!("closure panics midway");
            #[allow(unreachable_code)]
            Ok(())
        });
    }));
    assert_eq!(db.get::<u32>("k").unwrap(), Some(1));
    assert!(!db.contains("other").unwrap());
    db.transaction(|tx| tx.put("", "k", &4u32)).unwrap();
    assert_eq!(db.get::<u32>("k").unwrap(), Some(4));
}

#[test]
fn transfers_under_eight_threads_keep_the_invariant() {
    const TOTAL: i64 = 1_000;
    let db = Arc::new(db());
    db.put("a", &TOTAL).unwrap();
    db.put("b", &0i64).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut moved = 0i64;
                for i in 0..200 {
                    let amount = ((t * 7 + i) % 5) as i64 + 1;
                    let forward = (t + i) % 2 == 0;
                    let sum = db
                        .transaction(|tx| {
                            let a: i64 = tx.require("", "a")?;
                            let b: i64 = tx.require("", "b")?;
                            let (from, to) = if forward { ("a", "b") } else { ("b", "a") };
                            let have = if forward { a } else { b };
                            if have < amount {
                                return Ok(a + b);
                            }
                            let (f, t2): (i64, i64) = (tx.require("", from)?, tx.require("", to)?);
                            tx.put("", from, &(f - amount))?;
                            tx.put("", to, &(t2 + amount))?;
                            Ok(a + b)
                        })
                        .unwrap();
                    assert_eq!(sum, TOTAL, "a transaction saw a torn state");
                    moved += amount;
                }
                moved
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap() > 0);
    }
    let (a, b) = (
        db.require::<i64>("a").unwrap(),
        db.require::<i64>("b").unwrap(),
    );
    assert_eq!(a + b, TOTAL);
    assert!(a >= 0 && b >= 0);
}
