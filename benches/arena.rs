//! `alloc(64)` + drop in the secure arena, against memsec's per-value allocation and a
//! plain `Box`.
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use microkv_core::{Arena, HeapPages, MemoryPolicy};
use microkv_std::OsPages;

fn alloc_64_and_drop(c: &mut Criterion) {
    let mut group = c.benchmark_group("alloc_64_and_drop");
    let os = Arena::new(Arc::new(OsPages::new()), MemoryPolicy::BestEffort);
    group.bench_function("arena_os_pages", |b| {
        b.iter(|| drop(black_box(os.alloc(black_box(64)).unwrap())))
    });
    let heap = Arena::new(Arc::new(HeapPages), MemoryPolicy::BestEffort);
    group.bench_function("arena_heap_pages", |b| {
        b.iter(|| drop(black_box(heap.alloc(black_box(64)).unwrap())))
    });
    group.bench_function("memsec_malloc_free", |b| {
        b.iter(|| {
            // SAFETY: the 64 bytes memsec hands out are freed once, right away, and never
            // touched in between.
            unsafe {
                let p = memsec::malloc_sized(black_box(64)).unwrap();
                memsec::free(black_box(p));
            }
        })
    });
    group.bench_function("box", |b| {
        b.iter(|| drop(black_box(Box::new(black_box([0u8; 64])))))
    });
    group.finish();
}

criterion_group!(benches, alloc_64_and_drop);
criterion_main!(benches);
