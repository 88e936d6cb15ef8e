//! Our store's in-memory operations: put, get, overwrite, update, transaction, keys and
//! prefix, at 10k and 100k entries of 64 B and 4 KiB values; gets from 1, 2, 4 and 8
//! threads and a 90/10 get/put mix from 4 threads. `cargo bench --bench ops` (`-- parallel`
//! for the threaded ones only).
//! (The comparison with microkv 0.3.0 lives in benches/peers, outside the workspace.)
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use microkv::{Credential, MicroKV};
use std::hint::black_box;
use std::time::Duration;

#[path = "support/workload.rs"]
mod workload;
use workload::{key, value};

/// A pseudo-random walk over `0..n`.
fn scatter(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) ^ (i >> 3)) % n
}

fn ops(c: &mut Criterion) {
    for (n, len) in [(10_000, 64), (10_000, 4096), (100_000, 64), (100_000, 4096)] {
        let db = MicroKV::in_memory(Credential::key([0x42; 32])).unwrap();
        let keys: Vec<String> = (0..n).map(key).collect();
        for (i, k) in keys.iter().enumerate() {
            db.put(k, &value(i, len)).unwrap();
        }
        let fresh = value(n + 1, len);
        let id = |w: &str| BenchmarkId::new(w, format!("{n}x{len}B"));
        let mut g = c.benchmark_group("ops");
        g.sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        let mut next = n;
        g.bench_function(id("put"), |b| {
            b.iter(|| {
                next += 1;
                db.put(&key(next), &fresh).unwrap()
            })
        });
        let mut i = 0;
        g.bench_function(id("get"), |b| {
            b.iter(|| {
                i += 1;
                black_box(db.get::<String>(&keys[scatter(i, n)]).unwrap())
            })
        });
        g.bench_function(id("overwrite"), |b| {
            b.iter(|| {
                i += 1;
                db.put(&keys[scatter(i, n)], &fresh).unwrap()
            })
        });
        g.bench_function(id("update"), |b| {
            b.iter(|| {
                db.update::<u64, _>("counter", |c| Some(c.unwrap_or(0) + 1))
                    .unwrap()
            })
        });
        g.bench_function(id("transaction"), |b| {
            b.iter(|| {
                i += 1;
                let (a, z) = (&keys[scatter(i, n)], &keys[scatter(i + 7, n)]);
                db.transaction(|tx| {
                    tx.put("", a, &fresh)?;
                    tx.put("", z, &fresh)?;
                    Ok(())
                })
                .unwrap()
            })
        });
        g.bench_function(id("keys"), |b| b.iter(|| black_box(db.keys().unwrap())));
        g.bench_function(id("prefix"), |b| {
            b.iter(|| black_box(db.prefix::<String>("k00001").unwrap()))
        });
        g.finish();
    }
}

/// Runs `op(i)` `iters` times in all, split over `threads` threads sharing the store;
/// returns the wall-clock time, so criterion reports the aggregate time per operation
/// (its inverse is the store's throughput).
fn spread(threads: usize, iters: u64, op: impl Fn(usize) + Sync) -> Duration {
    let per = (iters as usize).div_ceil(threads);
    let barrier = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (op, barrier) = (&op, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in t * 1_000_003..t * 1_000_003 + per {
                    op(i);
                }
            });
        }
        barrier.wait();
        std::time::Instant::now()
    })
    .elapsed()
}

/// Gets from 1, 2, 4 and 8 threads on one store, gets of one key from 1 and 2 threads
/// (one token read on every request), and 90% gets / 10% overwrites from 4 threads (10k
/// entries of 64 B). The time is per operation over all threads together:
/// two threads that scale perfectly show half the time of one.
fn parallel(c: &mut Criterion) {
    let (n, len) = (10_000, 64);
    let db = MicroKV::in_memory(Credential::key([0x42; 32])).unwrap();
    let keys: Vec<String> = (0..n).map(key).collect();
    for (i, k) in keys.iter().enumerate() {
        db.put(k, &value(i, len)).unwrap();
    }
    let fresh = value(n + 1, len);
    let mut g = c.benchmark_group("parallel");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for threads in [1, 2, 4, 8] {
        g.bench_function(BenchmarkId::new("get", format!("{threads} threads")), |b| {
            b.iter_custom(|iters| {
                spread(threads, iters, |i| {
                    black_box(db.get::<String>(&keys[scatter(i, n)]).unwrap());
                })
            })
        });
    }
    // One key, as a token read on every request: 64 B, and 1 KiB (a JWT's size).
    let jwt = MicroKV::in_memory(Credential::key([0x42; 32])).unwrap();
    jwt.put(&keys[0], &value(0, 1024)).unwrap();
    for (name, db) in [("get, one key", &db), ("get, one 1 KiB key", &jwt)] {
        for threads in [1, 2] {
            let id = BenchmarkId::new(name, format!("{threads} threads"));
            g.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    spread(threads, iters, |_| {
                        black_box(db.get::<String>(&keys[0]).unwrap());
                    })
                })
            });
        }
    }
    g.bench_function(BenchmarkId::new("90/10 get/put", "4 threads"), |b| {
        b.iter_custom(|iters| {
            spread(4, iters, |i| {
                let k = &keys[scatter(i, n)];
                if i % 10 == 9 {
                    db.put(k, &fresh).unwrap();
                } else {
                    black_box(db.get::<String>(k).unwrap());
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, ops, parallel);
criterion_main!(benches);
