//! The secure arena through its public API, on `HeapPages`.
#![forbid(unsafe_code)]

use std::sync::Arc;

use microkv_core::{AllocFailure, Arena, Error, HeapPages, MemoryPolicy, SecretBuf};

fn heap_arena() -> Arc<Arena> {
    Arena::new(Arc::new(HeapPages), MemoryPolicy::BestEffort)
}

#[test]
fn alloc_returns_zeroed_buffers_of_the_exact_length() {
    let arena = heap_arena();
    for len in [0, 1, 7, 16, 64, 1000, 4096, 4097, 70_000] {
        let buf = arena.alloc(len).unwrap();
        assert_eq!(buf.len(), len);
        assert!(buf.capacity() >= len);
        assert!(buf.iter().all(|&b| b == 0), "len {len}");
    }
}

#[test]
fn size_class_boundaries() {
    let arena = heap_arena();
    let cases = [
        (0, 16),
        (1, 16),
        (16, 16),
        (17, 32),
        (32, 32),
        (33, 64),
        (64, 64),
        (65, 128),
        (255, 256),
        (256, 256),
        (257, 512),
        (1024, 1024),
        (2048, 2048),
        (2049, 4096),
        (4096, 4096),
    ];
    for (len, cap) in cases {
        assert_eq!(arena.alloc(len).unwrap().capacity(), cap, "len {len}");
    }
    assert_eq!(arena.report().mappings, 1, "all classes share one slab");
}

#[test]
fn large_allocations_get_their_own_mapping() {
    let arena = heap_arena();
    let _small = arena.alloc(8).unwrap();
    let before = arena.report();
    let mut big = arena.alloc(4097).unwrap();
    assert_eq!(big.capacity(), 4112);
    let mut huge = arena.alloc(1 << 20).unwrap();
    for (i, b) in huge.iter_mut().enumerate() {
        *b = i as u8;
    }
    big.fill(0xEE);
    let during = arena.report();
    assert_eq!(during.mappings, before.mappings + 2);
    assert!(during.bytes_mapped >= before.bytes_mapped + 4097 + (1 << 20));
    assert!(huge.iter().enumerate().all(|(i, &b)| b == i as u8));
    assert!(big.iter().all(|&b| b == 0xEE));
    drop((big, huge));
    let after = arena.report();
    // The 1 MiB mapping is over the reuse cache's budget and goes; the small large one is
    // kept (wiped) for the next allocation of its size.
    assert_eq!(after.mappings, before.mappings + 1);
    assert_eq!(after.bytes_mapped, before.bytes_mapped + 8192);
    assert_eq!(after.bytes_in_use, before.bytes_in_use);
    let again = arena.alloc(4097).unwrap();
    assert!(again.iter().all(|&b| b == 0));
    assert_eq!(arena.report().mappings, after.mappings);
}

#[test]
fn absurd_sizes_fail_cleanly() {
    let arena = heap_arena();
    for len in [usize::MAX, usize::MAX - 4096] {
        match arena.alloc(len) {
            Err(Error::SecureAlloc) => {
                assert_eq!(arena.report().last_failure, Some(AllocFailure::TooLarge))
            }
            other => panic!("len {len}: {other:?}"),
        }
    }
    match arena.alloc(isize::MAX as usize / 2) {
        Err(Error::SecureAlloc) => {
            assert_eq!(arena.report().last_failure, Some(AllocFailure::MapFailed))
        }
        other => panic!("{other:?}"),
    }
    let mut buf = arena.alloc(3).unwrap();
    buf.copy_from_slice(b"abc");
    assert!(buf.resize(usize::MAX).is_err());
    assert_eq!(
        &buf[..],
        b"abc",
        "a failed resize leaves the buffer unchanged"
    );
}

#[test]
fn freed_blocks_read_back_as_zeros_on_reuse() {
    let arena = heap_arena();
    for len in [5, 64, 4096] {
        let mut buf = arena.alloc(len).unwrap();
        buf.fill(0xA5);
        let addr = buf.as_ptr();
        drop(buf);
        let again = arena.alloc(len).unwrap();
        assert_eq!(again.as_ptr(), addr, "the free list hands the block back");
        assert!(again.iter().all(|&b| b == 0), "len {len}");
    }
    // The whole capacity is clean too, not just the requested length.
    let mut buf = arena.alloc(60).unwrap();
    buf.fill(0xFF);
    drop(buf);
    let mut again = arena.alloc(3).unwrap();
    again.resize(64).unwrap();
    assert!(again.iter().all(|&b| b == 0));
}

#[test]
fn truncate_wipes_the_cut_tail() {
    let arena = heap_arena();
    let mut buf = arena.alloc(40).unwrap();
    buf.fill(0x11);
    let cap = buf.capacity();
    buf.truncate(10);
    assert_eq!(buf.len(), 10);
    buf.truncate(20);
    assert_eq!(buf.len(), 10, "truncate never grows");
    buf.resize(40).unwrap();
    assert_eq!(buf.capacity(), cap, "growing within capacity does not move");
    assert!(buf[..10].iter().all(|&b| b == 0x11));
    assert!(buf[10..].iter().all(|&b| b == 0));
}

#[test]
fn resize_and_extend_keep_contents_across_moves() {
    let arena = heap_arena();
    let mut buf = arena.alloc(0).unwrap();
    let mut model = Vec::new();
    let mut chunk = 0u8;
    while model.len() < 20_000 {
        let data: Vec<u8> = (0..=chunk).map(|i| i.wrapping_mul(31) ^ chunk).collect();
        buf.extend_from_slice(&data).unwrap();
        model.extend_from_slice(&data);
        assert_eq!(&buf[..], &model[..]);
        chunk = chunk.wrapping_add(7);
    }
    buf.resize(30_000).unwrap();
    model.resize(30_000, 0);
    assert_eq!(&buf[..], &model[..]);
    buf.truncate(100);
    model.truncate(100);
    assert_eq!(&buf[..], &model[..]);
    buf.resize(5_000).unwrap();
    model.resize(5_000, 0);
    assert_eq!(&buf[..], &model[..]);
    drop(buf);
    assert_eq!(arena.report().bytes_in_use, 0);
}

#[test]
fn report_tracks_use_and_heap_pages_fallback() {
    let arena = heap_arena();
    let empty = arena.report();
    assert_eq!(
        (empty.bytes_in_use, empty.mappings, empty.fallback),
        (0, 0, false)
    );
    let a = arena.alloc(64).unwrap();
    let b = arena.alloc(100).unwrap();
    let report = arena.report();
    assert_eq!(report.bytes_in_use, 64 + 128);
    assert_eq!(report.mappings, 1);
    assert_eq!(report.bytes_locked, 0);
    assert!(report.bytes_mapped >= 64 * 1024);
    assert!(report.fallback, "HeapPages locks nothing");
    assert!(!report.guarded && !report.dont_dump && !report.hidden_from_fork);
    drop((a, b));
    assert_eq!(arena.report().bytes_in_use, 0);
}

#[test]
fn strict_policy_refuses_heap_pages() {
    let arena = Arena::new(Arc::new(HeapPages), MemoryPolicy::Strict);
    match arena.alloc(64) {
        Err(Error::SecureAlloc) => {
            assert_eq!(arena.report().last_failure, Some(AllocFailure::LockFailed))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(arena.report().mappings, 0);
}

#[test]
fn debug_output_is_redacted() {
    let arena = heap_arena();
    let mut buf = arena.alloc(6).unwrap();
    buf.copy_from_slice(b"hunter");
    let shown = format!("{buf:?}");
    assert_eq!(shown, "SecretBuf { len: 6, .. }");
    assert!(!format!("{arena:?}").contains("hunter"));
}

#[test]
fn buffers_are_send_and_sync_and_keep_the_arena_alive() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SecretBuf>();
    assert_send_sync::<Arena>();
    let arena = heap_arena();
    let mut buf = arena.alloc(4).unwrap();
    drop(arena);
    buf.copy_from_slice(b"live");
    buf.extend_from_slice(&[1; 5000]).unwrap();
    assert_eq!(&buf[..4], b"live");
}

#[test]
fn concurrent_alloc_and_free() {
    let arena = heap_arena();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let arena = Arc::clone(&arena);
            std::thread::spawn(move || {
                let mut live = Vec::new();
                for i in 0..5_000usize {
                    let mut buf = arena.alloc(1 + (i * 37) % 600).unwrap();
                    buf.fill(t);
                    live.push(buf);
                    if i % 3 == 0 {
                        let old = live.swap_remove(i % live.len());
                        assert!(old.iter().all(|&b| b == t));
                    }
                }
                live.iter().all(|b| b.iter().all(|&x| x == t))
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap());
    }
    assert_eq!(arena.report().bytes_in_use, 0);
}
