//! Criterion view of the peer comparison: each workload of the speed issue for our store,
//! microkv 0.3.0 and the floors, at 10k and 100k entries of 64 B and 4 KiB values.
//! The ratio table (alternating rounds) comes from `cargo run --release --bin table`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use microkv_peers::*;
use std::hint::black_box;
use std::time::Duration;

fn workloads<S: Kv>(c: &mut Criterion, n: usize, len: usize) {
    let (store, _) = filled::<S>(n, len);
    let keys: Vec<String> = (0..n).map(key).collect();
    let fresh = value(n + 1, len);
    let id = |w: &str| BenchmarkId::new(format!("{w}/{n}x{len}B"), S::NAME);
    let mut g = c.benchmark_group("peers");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    let mut next = n;
    g.bench_function(id("put"), |b| {
        b.iter(|| {
            next += 1;
            store.put(&key(next), &fresh)
        })
    });
    let mut i = 0;
    g.bench_function(id("get"), |b| {
        b.iter(|| {
            i += 1;
            black_box(store.get(&keys[scatter(i, n)]))
        })
    });
    g.bench_function(id("overwrite"), |b| {
        b.iter(|| {
            i += 1;
            store.put(&keys[scatter(i, n)], &fresh)
        })
    });
    g.bench_function(id("update"), |b| b.iter(|| store.bump("counter")));
    g.bench_function(id("txn2"), |b| {
        b.iter(|| {
            i += 1;
            store.txn2(&keys[scatter(i, n)], &keys[scatter(i + 7, n)], &fresh)
        })
    });
    g.bench_function(id("keys"), |b| b.iter(|| black_box(store.keys())));
    g.bench_function(id("prefix"), |b| b.iter(|| black_box(store.prefix(PREFIX))));
    g.finish();
}

fn peers(c: &mut Criterion) {
    for (n, len) in [(10_000, 64), (10_000, 4096), (100_000, 64), (100_000, 4096)] {
        workloads::<Ours>(c, n, len);
        workloads::<V03>(c, n, len);
        workloads::<Floor<RustCrypto>>(c, n, len);
        workloads::<Floor<Orion>>(c, n, len);
    }
}

criterion_group!(benches, peers);
criterion_main!(benches);
