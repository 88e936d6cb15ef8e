//! Eight threads run random operations against one store: on keys of their own, checked
//! operation by operation against a per-thread model (`BTreeMap`), and on shared
//! counters, whose final values must equal the sum of every thread's increments.
//! Also run under `--release` (see docs/TESTING.md).
use std::collections::BTreeMap;
use std::sync::Arc;

use microkv::{Credential, MicroKV};

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

const THREADS: usize = 8;
const OPS: usize = 2_000;
const SHARED: usize = 4;

/// One thread's work; returns how much it added to each shared counter.
fn worker(db: &MicroKV, t: usize) -> [u64; SHARED] {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
    let mut model: BTreeMap<String, u64> = BTreeMap::new();
    let mut added = [0u64; SHARED];
    let ns = db.namespace(format!("thread{t}"));
    for _ in 0..OPS {
        let key = format!("k{}", rng.below(32));
        match rng.below(9) {
            0 | 1 => {
                let v = rng.next();
                ns.put(&key, &v).unwrap();
                model.insert(key, v);
            }
            2 => assert_eq!(ns.remove(&key).unwrap(), model.remove(&key).is_some()),
            3 => assert_eq!(ns.get::<u64>(&key).unwrap(), model.get(&key).copied()),
            4 => {
                ns.update::<u64, _>(&key, |v| v.map(|v| v.wrapping_add(1)))
                    .unwrap();
                if let Some(v) = model.get_mut(&key) {
                    *v = v.wrapping_add(1);
                }
            }
            5 => {
                let expected = if rng.below(2) == 0 {
                    model.get(&key).copied()
                } else {
                    Some(7)
                };
                let new = rng.next();
                let swapped = ns
                    .compare_and_swap(&key, expected.as_ref(), Some(&new))
                    .unwrap();
                assert_eq!(swapped, expected == model.get(&key).copied());
                if swapped {
                    model.insert(key, new);
                }
            }
            6 => {
                let c = rng.below(SHARED as u64) as usize;
                db.update::<u64, _>(&format!("shared{c}"), |v| Some(v.unwrap_or(0) + 1))
                    .unwrap();
                added[c] += 1;
            }
            7 => {
                // Two shared counters move together in one transaction.
                let (a, b) = (
                    rng.below(SHARED as u64) as usize,
                    rng.below(SHARED as u64) as usize,
                );
                db.transaction(|tx| {
                    for c in [a, b] {
                        let name = format!("shared{c}");
                        let v: u64 = tx.get("", &name)?.unwrap_or(0);
                        tx.put("", &name, &(v + 1))?;
                    }
                    Ok(())
                })
                .unwrap();
                added[a] += 1;
                added[b] += 1;
            }
            _ => {
                let v: u64 = ns.get_or_insert_with(&key, || 42).unwrap();
                assert_eq!(v, *model.entry(key).or_insert(42));
            }
        }
    }
    let keys = ns.keys_sorted().unwrap();
    assert_eq!(keys, model.keys().cloned().collect::<Vec<_>>());
    for (k, v) in &model {
        assert_eq!(ns.get::<u64>(k).unwrap(), Some(*v));
    }
    added
}

#[test]
fn eight_threads_against_a_model() {
    let db = Arc::new(MicroKV::in_memory(Credential::key([2; 32])).unwrap());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || worker(&db, t))
        })
        .collect();
    let mut expected = [0u64; SHARED];
    for h in handles {
        for (e, a) in expected.iter_mut().zip(h.join().unwrap()) {
            *e += a;
        }
    }
    for (c, e) in expected.iter().enumerate() {
        assert_eq!(
            db.get::<u64>(&format!("shared{c}")).unwrap().unwrap_or(0),
            *e,
            "shared{c}"
        );
    }
    assert!(expected.iter().sum::<u64>() > 0);
}

/// Readers on four threads (get, get_secret_bytes, contains, keys, prefix, for_each) against
/// two writers whose transactions move a pair of keys to a new version together. Every
/// read must see a committed state: both keys of a pair at one version in a `prefix`
/// (one look at the store), versions that never go back, values that decode.
#[test]
fn readers_in_parallel_with_writers_see_only_committed_states() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const PAIRS: usize = 4;
    const ROUNDS: u64 = 300;
    let db = Arc::new(MicroKV::in_memory(Credential::key([3; 32])).unwrap());
    for p in 0..PAIRS {
        for side in ["a", "b"] {
            db.put(&format!("p{p}{side}"), &format!("v{:08}", 0))
                .unwrap();
        }
    }
    let done = Arc::new(AtomicBool::new(false));
    let version = |s: &str| s[1..].parse::<u64>().unwrap();
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let (db, done) = (db.clone(), done.clone());
            std::thread::spawn(move || {
                let mut last = [0u64; PAIRS];
                let mut reads = 0u64;
                let mut rng = Rng::new(r + 1);
                while !done.load(Ordering::Acquire) || reads < 50 {
                    let p = rng.below(PAIRS as u64) as usize;
                    let pair = db.prefix::<String>(&format!("p{p}")).unwrap();
                    assert_eq!(pair.len(), 2);
                    let (a, b) = (version(&pair[0].1), version(&pair[1].1));
                    assert_eq!(a, b, "a pair seen half-written");
                    assert!(a >= last[p], "a version went back");
                    last[p] = a;
                    let got = db.get::<String>(&format!("p{p}a")).unwrap().unwrap();
                    assert!(version(&got) >= a);
                    let secret = db.get_secret_bytes(&format!("p{p}b")).unwrap().unwrap();
                    assert_eq!(secret.len(), 9);
                    assert!(db.contains(&format!("p{p}a")).unwrap());
                    assert_eq!(db.keys().unwrap().len(), 2 * PAIRS);
                    let mut seen = 0;
                    db.for_each::<String, _>(|_, v| {
                        assert_eq!(v.len(), 9);
                        seen += 1;
                        std::ops::ControlFlow::Continue(())
                    })
                    .unwrap();
                    assert_eq!(seen, 2 * PAIRS);
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                for round in 1..=ROUNDS {
                    let p = (round as usize * 2 + w) % PAIRS;
                    db.transaction(|tx| {
                        let current: String = tx.require("", &format!("p{p}a"))?;
                        let next = format!("v{:08}", version(&current) + 1);
                        tx.put("", &format!("p{p}a"), &next)?;
                        tx.put("", &format!("p{p}b"), &next)
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().unwrap() >= 50);
    }
    let total: u64 = (0..PAIRS)
        .map(|p| version(&db.get::<String>(&format!("p{p}a")).unwrap().unwrap()))
        .sum();
    assert_eq!(total, 2 * ROUNDS);
}

/// A transaction's handle is `Send + Sync`: scoped threads read through it (seeing the
/// transaction's own writes) while the transaction runs, and it still commits whole.
#[test]
fn a_transaction_is_shared_with_scoped_threads() {
    let db = MicroKV::in_memory(Credential::key([4; 32])).unwrap();
    db.put("base", &10u64).unwrap();
    db.transaction(|tx| {
        tx.put("", "pending", &5u64)?;
        let sums: Vec<u64> = std::thread::scope(|s| {
            let tx = &*tx;
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(move || {
                        let base: u64 = tx.require("", "base").unwrap();
                        let pending: u64 = tx.require("", "pending").unwrap();
                        base + pending
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(sums, [15; 4]);
        tx.put("", "sum", &sums[0])
    })
    .unwrap();
    assert_eq!(db.get::<u64>("sum").unwrap(), Some(15));
}

/// A journaled write is durable before any reader can see it: a reader on another thread,
/// run from inside the storage's append (the write is in flight), sees the old value;
/// when the append fails, nobody ever sees the new one.
#[test]
fn readers_never_see_a_write_before_it_is_durable() {
    use microkv::{AutoSave, Config, Error, MemoryStorage, Storage};
    use std::sync::{Mutex, OnceLock, Weak};

    #[derive(Default)]
    struct Watched {
        inner: MemoryStorage,
        store: OnceLock<Weak<MicroKV>>,
        seen: Mutex<Vec<Option<u32>>>,
        fail: std::sync::atomic::AtomicBool,
    }
    struct Handle(Arc<Watched>);
    impl Storage for Handle {
        fn load(&self) -> microkv::Result<Option<Vec<u8>>> {
            self.0.inner.load()
        }
        fn store(&self, bytes: &[u8]) -> microkv::Result<()> {
            self.0.inner.store(bytes)
        }
        fn load_journal(&self) -> microkv::Result<Vec<u8>> {
            self.0.inner.load_journal()
        }
        fn append(&self, keep: u64, bytes: &[u8]) -> microkv::Result<bool> {
            if let Some(db) = self.0.store.get().and_then(Weak::upgrade) {
                let seen = std::thread::spawn(move || db.get::<u32>("k").unwrap())
                    .join()
                    .unwrap();
                self.0.seen.lock().unwrap().push(seen);
            }
            if self.0.fail.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(Error::NotFound);
            }
            self.0.inner.append(keep, bytes)
        }
    }

    let watched = Arc::new(Watched::default());
    let config = Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    };
    let db = Arc::new(
        MicroKV::with_storage(Handle(watched.clone()), Credential::key([5; 32]), config).unwrap(),
    );
    db.put("k", &1u32).unwrap();
    watched.store.set(Arc::downgrade(&db)).unwrap();
    db.put("k", &2u32).unwrap();
    watched
        .fail
        .store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(db.put("k", &3u32).is_err());
    assert_eq!(db.get::<u32>("k").unwrap(), Some(2));
    // Control: the reader did run inside each append, and saw the value before it.
    assert_eq!(*watched.seen.lock().unwrap(), [Some(1), Some(2)]);
}
