//! Eight threads run random operations against one store: on keys of their own, checked
//! operation by operation against a per-thread model (`BTreeMap`), and on shared
//! counters, whose final values must equal the sum of every thread's increments.
//! Also run under `--release` (see docs/TESTING.md).
use std::collections::BTreeMap;
use std::sync::Arc;

use microkv::{Credential, MicroKV};

const THREADS: usize = 8;
const OPS: usize = 2_000;
const SHARED: usize = 4;

/// xorshift64*: a small deterministic generator, one seed per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One thread's work; returns how much it added to each shared counter.
fn worker(db: &MicroKV, t: usize) -> [u64; SHARED] {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
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
