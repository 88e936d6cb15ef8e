//! `alloc(64)` + drop in the secure arena (secret memory, anonymous locked pages, heap
//! pages), against memsec's per-value allocation and a plain `Box`; and what one new
//! 64 KiB slab costs from secret memory against anonymous pages (map, first touch of every
//! page, wipe and unmap).
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use microkv_core::OsPages;
use microkv_core::{Arena, HeapPages, MemoryPolicy, PageSource};

fn alloc_64_and_drop(c: &mut Criterion) {
    let mut group = c.benchmark_group("alloc_64_and_drop");
    let os = Arena::new(Arc::new(OsPages::new()), MemoryPolicy::BestEffort);
    let _warm = os.alloc(64).unwrap();
    assert!(
        os.report().secret_memory,
        "no secret memory here: {:?}",
        os.report()
    );
    group.bench_function("arena_secret_memory", |b| {
        b.iter(|| drop(black_box(os.alloc(black_box(64)).unwrap())))
    });
    let anon = Arena::new(Arc::new(OsPages::anonymous()), MemoryPolicy::BestEffort);
    group.bench_function("arena_anonymous_pages", |b| {
        b.iter(|| drop(black_box(anon.alloc(black_box(64)).unwrap())))
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

/// One slab's life: map 64 KiB, fault in every page, wipe and unmap.
fn slab(c: &mut Criterion) {
    let mut group = c.benchmark_group("slab_64k_map_touch_unmap");
    for (name, source) in [
        ("secret_memory", OsPages::new()),
        ("anonymous_pages", OsPages::anonymous()),
    ] {
        let page = source.page_size();
        let probe = source.map(64 * 1024).unwrap();
        assert_eq!(probe.secret, name == "secret_memory", "{name}");
        // SAFETY: the probe region was just mapped by this source and is not used again.
        unsafe { source.unmap(&probe) };
        group.bench_function(name, |b| {
            b.iter(|| {
                let region = source.map(64 * 1024).unwrap();
                for i in (0..region.len).step_by(page) {
                    // SAFETY: `i < region.len`: inside the writable region just mapped.
                    unsafe { region.ptr.as_ptr().add(i).write_volatile(1) };
                }
                // SAFETY: the region came from this source and is not used after this.
                unsafe { source.unmap(black_box(&region)) };
            })
        });
    }
    group.finish();
}

criterion_group!(benches, alloc_64_and_drop, slab);
criterion_main!(benches);
