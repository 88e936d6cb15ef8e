//! Snapshot encoding, save (with fsync) and open of a file store at 10k and 100k entries of
//! 64-byte and 4 KiB values, raw key; and a put with `AutoSave::OnEveryWrite` (one journal
//! append and `fdatasync`) into the 10k x 64 B store, from 1, 2, 4 and 8 threads at once.
//! `cargo bench --bench persistence`
//! (the 100k x 4 KiB store is a 420 MB file: that part takes a few minutes).
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use microkv::{AutoSave, Config, Credential, MicroKV};

const KEY: [u8; 32] = [0x42; 32];

fn filled(path: &Path, n: usize, len: usize) -> MicroKV {
    let db = MicroKV::create_new_with(path, Credential::key(KEY), Config::default()).unwrap();
    let value = vec![0xabu8; len];
    for i in 0..n {
        db.put(&format!("key-{i:06}"), &value[..]).unwrap();
    }
    db.save().unwrap();
    db
}

fn persistence(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("persistence");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for (n, len) in [(10_000, 64), (10_000, 4096), (100_000, 64), (100_000, 4096)] {
        let id = |w: &str| BenchmarkId::new(w, format!("{n}x{len}B"));
        let path = dir.path().join(format!("{n}x{len}.kv"));
        let db = filled(&path, n, len);
        let bytes = db.export().unwrap().len();
        eprintln!("{n} entries of {len} bytes: a {bytes}-byte file");
        group.bench_function(id("snapshot (encode only)"), |b| {
            b.iter(|| db.export().unwrap())
        });
        group.bench_function(id("save (fsync)"), |b| b.iter(|| db.save().unwrap()));
        drop(db);
        // Each opened store takes the exclusive lock, so it is dropped (outside the
        // timing) before the next open.
        group.bench_function(id("open"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    let db = MicroKV::open_existing(black_box(&path), Credential::key(KEY));
                    total += started.elapsed();
                    drop(db.unwrap());
                }
                total
            })
        });
        if (n, len) != (10_000, 64) {
            std::fs::remove_file(&path).unwrap();
            continue;
        }
        // Fresh keys into the 10k-entry store, each put durable before it returns; the
        // journal is compacted into a new snapshot whenever it passes half the
        // snapshot, so the mean includes that rewrite's share.
        let config = Config {
            autosave: AutoSave::OnEveryWrite,
            ..Default::default()
        };
        let db = MicroKV::open_existing_with(&path, Credential::key(KEY), config.clone()).unwrap();
        let value = [0xcdu8; 64];
        let mut next = n;
        group.bench_function(id("put OnEveryWrite"), |b| {
            b.iter(|| {
                next += 1;
                db.put(&format!("key-{next:06}"), &value[..]).unwrap()
            })
        });
        drop(db);
        // The same puts from 1, 2, 4 and 8 threads at once (group commit: the puts that
        // wait while a sync is in flight share the next one); the time is per put, all
        // threads together.
        for threads in [1u64, 2, 4, 8] {
            let db =
                MicroKV::open_existing_with(&path, Credential::key(KEY), config.clone()).unwrap();
            let mut round = 0;
            let name = format!("put OnEveryWrite, {threads} threads");
            group.bench_function(id(&name), |b| {
                b.iter_custom(|iters| {
                    round += 1;
                    let per_thread = iters.div_ceil(threads);
                    let started = Instant::now();
                    std::thread::scope(|s| {
                        for t in 0..threads {
                            let db = &db;
                            s.spawn(move || {
                                for i in 0..per_thread {
                                    let key = format!("t{threads}-{round}-{t}-{i}");
                                    db.put(&key, &value[..]).unwrap();
                                }
                            });
                        }
                    });
                    started
                        .elapsed()
                        .mul_f64(iters as f64 / (per_thread * threads) as f64)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, persistence);
criterion_main!(benches);
