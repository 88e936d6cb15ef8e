//! Save (with fsync), open, and a put with `AutoSave::OnEveryWrite` (one journal append
//! and `fdatasync`) of a file store of 10,000 entries of 64 bytes, raw key.
//! `cargo bench --bench persistence`.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use microkv::{AutoSave, Config, Credential, MicroKV};

const ENTRIES: usize = 10_000;
const KEY: [u8; 32] = [0x42; 32];

fn filled(path: &std::path::Path) -> MicroKV {
    let db = MicroKV::create_new_with(path, Credential::key(KEY), Config::default()).unwrap();
    let value = [0xabu8; 64];
    for i in 0..ENTRIES {
        db.put(&format!("key-{i:05}"), &value[..]).unwrap();
    }
    db.save().unwrap();
    db
}

fn persistence(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("persistence");
    group.measurement_time(Duration::from_secs(5));

    let db = filled(&dir.path().join("save.kv"));
    let bytes = db.snapshot().unwrap().len();
    eprintln!("{ENTRIES} entries of 64 bytes: a {bytes}-byte file");
    group.bench_function("snapshot 10k x 64 B (encode only)", |b| {
        b.iter(|| db.snapshot().unwrap())
    });
    group.bench_function("save 10k x 64 B (fsync)", |b| b.iter(|| db.save().unwrap()));
    drop(db);

    let path = dir.path().join("open.kv");
    drop(filled(&path));
    // Each opened store takes the exclusive lock, so it is dropped (outside the timing)
    // before the next open.
    group.bench_function("open 10k x 64 B", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let db = MicroKV::open_existing(black_box(&path), Credential::key(KEY)).unwrap();
                total += started.elapsed();
                drop(db);
            }
            total
        })
    });

    // Fresh keys into the 10k-entry store, each put durable before it returns; the
    // journal is compacted into a new snapshot whenever it passes half the snapshot, so
    // the mean includes that rewrite's share.
    let config = Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    };
    let db = MicroKV::open_existing_with(&path, Credential::key(KEY), config).unwrap();
    let value = [0xcdu8; 64];
    let mut next = ENTRIES;
    group.bench_function("put OnEveryWrite 10k x 64 B", |b| {
        b.iter(|| {
            next += 1;
            db.put(&format!("key-{next:05}"), &value[..]).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, persistence);
criterion_main!(benches);
