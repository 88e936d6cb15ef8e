//! Arena tests that need a fake page source or access to block internals.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::layout::{class_size, stride, CANARY};
use super::*;

/// Heap pages that claim whichever protections the test asks for, counting maps.
#[derive(Default)]
struct FakePages {
    locked: bool,
    guarded: bool,
    dont_dump: bool,
    hidden_from_fork: bool,
    secret: bool,
    refuse: bool,
    maps: AtomicUsize,
    unmaps: AtomicUsize,
}

impl FakePages {
    fn protected() -> Self {
        FakePages {
            locked: true,
            guarded: true,
            dont_dump: true,
            hidden_from_fork: true,
            ..FakePages::default()
        }
    }

    /// Protected pages but for what `change` sets.
    fn protected_but(change: impl FnOnce(&mut Self)) -> Self {
        let mut pages = Self::protected();
        change(&mut pages);
        pages
    }
}

// SAFETY: delegates memory to `HeapPages`; only the reported flags are made up, which is
// harmless for heap memory in these tests.
unsafe impl PageSource for FakePages {
    fn page_size(&self) -> usize {
        HeapPages.page_size()
    }

    fn map(&self, len: usize) -> Option<Region> {
        if self.refuse {
            return None;
        }
        self.maps.fetch_add(1, Ordering::Relaxed);
        HeapPages.map(len).map(|r| Region {
            locked: self.locked,
            guarded: self.guarded,
            dont_dump: self.dont_dump,
            hidden_from_fork: self.hidden_from_fork,
            secret: self.secret,
            ..r
        })
    }

    unsafe fn unmap(&self, region: &Region) {
        self.unmaps.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the region came from `HeapPages::map` via our `map`.
        unsafe { HeapPages.unmap(region) }
    }
}

fn arena_on(source: &Arc<FakePages>, policy: MemoryPolicy) -> Arc<Arena> {
    let source: Arc<dyn PageSource> = source.clone();
    Arena::new(source, policy)
}

fn expect_err(result: Result<SecretBuf>) -> Error {
    match result {
        Ok(buf) => panic!("expected an error, got {buf:?}"),
        Err(e) => e,
    }
}

#[test]
fn strict_refuses_unlocked_memory_and_unmaps_it() {
    let fake = Arc::new(FakePages::protected_but(|p| p.locked = false));
    let arena = arena_on(&fake, MemoryPolicy::Strict);
    for len in [64, 10_000] {
        let err = expect_err(arena.alloc(len));
        assert!(matches!(err, Error::SecureAlloc), "{err:?}");
        assert_eq!(arena.report().last_failure, Some(AllocFailure::LockFailed));
    }
    assert_eq!(fake.maps.load(Ordering::Relaxed), 2);
    assert_eq!(fake.unmaps.load(Ordering::Relaxed), 2);
    let report = arena.report();
    assert_eq!(report.mappings, 0);
    assert_eq!(report.bytes_mapped, 0);
    assert!(!report.fallback);
}

#[test]
fn strict_names_the_missing_protection() {
    let cases = [
        (
            FakePages::protected_but(|p| p.guarded = false),
            AllocFailure::GuardFailed,
        ),
        (
            FakePages::protected_but(|p| p.dont_dump = false),
            AllocFailure::AdviseFailed,
        ),
        (
            FakePages::protected_but(|p| p.hidden_from_fork = false),
            AllocFailure::AdviseFailed,
        ),
        (
            FakePages::protected_but(|p| p.refuse = true),
            AllocFailure::MapFailed,
        ),
    ];
    for (fake, want) in cases {
        let only_dumpable = !fake.dont_dump && fake.guarded && fake.hidden_from_fork;
        let arena = arena_on(&Arc::new(fake), MemoryPolicy::Strict);
        if only_dumpable && !super::report::PER_MAPPING_DUMP_EXCLUSION {
            // macOS and Windows cannot exclude one mapping from every dump: Strict does not
            // ask for it there, and the pages are used (and reported not excluded).
            let buf = arena
                .alloc(32)
                .expect("Strict without per-mapping dump exclusion");
            drop(buf);
            assert!(!arena.report().dont_dump && !arena.report().fallback);
            continue;
        }
        let err = expect_err(arena.alloc(32));
        assert!(matches!(err, Error::SecureAlloc), "{err:?}");
        assert_eq!(arena.report().last_failure, Some(want));
    }
}

#[test]
fn best_effort_keeps_unlocked_memory_and_reports_fallback() {
    let fake = Arc::new(FakePages::protected_but(|p| p.locked = false));
    let arena = arena_on(&fake, MemoryPolicy::BestEffort);
    let mut buf = arena.alloc(64).expect("best effort allocates");
    buf.copy_from_slice(&[7; 64]);
    let report = arena.report();
    assert!(report.fallback);
    assert_eq!(report.bytes_locked, 0);
    assert_eq!(report.bytes_mapped, FIRST_SLAB);
    assert!(report.guarded && report.dont_dump && report.hidden_from_fork);
}

#[test]
fn fully_protected_memory_reports_no_fallback() {
    let fake = Arc::new(FakePages::protected());
    let arena = arena_on(&fake, MemoryPolicy::Strict);
    let a = arena.alloc(64).unwrap();
    let b = arena.alloc(100_000).unwrap();
    let report = arena.report();
    assert!(!report.fallback);
    assert_eq!(report.mappings, 2);
    assert_eq!(report.bytes_locked, report.bytes_mapped);
    assert_eq!(report.bytes_in_use, 64 + 100_000);
    drop((a, b));
    assert_eq!(arena.report().bytes_in_use, 0);
    assert_eq!(
        arena.report().mappings,
        2,
        "the slab stays, the large mapping is kept for reuse"
    );
}

#[test]
fn released_large_regions_are_reused_zeroed_and_bounded() {
    let fake = Arc::new(FakePages::protected());
    let arena = arena_on(&fake, MemoryPolicy::Strict);
    let mut a = arena.alloc(4098).unwrap();
    a.fill(0xAB);
    drop(a);
    let mapped = arena.report().mappings;
    for len in [4098, 4097, 5000, 8000] {
        let b = arena.alloc(len).unwrap();
        assert!(
            b.iter().all(|&x| x == 0),
            "a reused region is not zeroed ({len})"
        );
        assert_eq!(
            arena.report().mappings,
            mapped,
            "a fitting cached region was not reused"
        );
    }
    // A region much larger than the need is not used for it.
    let big = arena.alloc(200_000).unwrap();
    drop(big);
    let small = arena.alloc(5000).unwrap();
    assert!(small.capacity() < 8192);
    drop(small);
    // Past the cache's budget, released regions are unmapped.
    let many: Vec<_> = (0..LARGE_CACHE_COUNT + 4)
        .map(|_| arena.alloc(100_000).unwrap())
        .collect();
    drop(many);
    let report = arena.report();
    let cached_bytes = report.bytes_mapped - FIRST_SLAB;
    assert!(
        cached_bytes <= LARGE_CACHE_BYTES,
        "cache holds {cached_bytes} bytes"
    );
    assert!(report.mappings <= 1 + LARGE_CACHE_COUNT);
    assert_eq!(report.bytes_in_use, 0);
}

#[test]
fn report_before_any_mapping_claims_nothing() {
    let arena = arena_on(&Arc::new(FakePages::protected()), MemoryPolicy::Strict);
    assert_eq!(arena.report(), MemoryReport::default());
}

#[test]
fn dropping_the_arena_unmaps_every_slab() {
    let fake = Arc::new(FakePages::protected());
    let arena = arena_on(&fake, MemoryPolicy::Strict);
    let bufs: Vec<SecretBuf> = (0..5_000).map(|_| arena.alloc(100).unwrap()).collect();
    let big = arena.alloc(50_000).unwrap();
    let maps = fake.maps.load(Ordering::Relaxed);
    assert!(maps >= 4, "5,000 blocks of 144 bytes need several slabs");
    drop(arena);
    assert_eq!(
        fake.unmaps.load(Ordering::Relaxed),
        0,
        "buffers keep the arena alive"
    );
    drop(big);
    drop(bufs);
    assert_eq!(fake.unmaps.load(Ordering::Relaxed), maps);
}

#[test]
fn slabs_grow_geometrically() {
    let fake = Arc::new(FakePages::protected());
    let arena = arena_on(&fake, MemoryPolicy::Strict);
    let per_block = stride(layout::class_of(64));
    let count = 3 * MAX_SLAB / per_block;
    let bufs: Vec<SecretBuf> = (0..count).map(|_| arena.alloc(64).unwrap()).collect();
    let report = arena.report();
    // 64 + 128 + 256 + 512 + 1024 KiB, then 1 MiB slabs.
    assert!(report.mappings <= 7, "{report:?}");
    assert_eq!(report.bytes_in_use, count * 64);
    drop(bufs);
}

/// Heap pages that refuse mappings larger than a limit.
struct LimitedPages(usize);

// SAFETY: delegates memory to `HeapPages`, claiming every protection (harmless in tests).
unsafe impl PageSource for LimitedPages {
    fn page_size(&self) -> usize {
        HeapPages.page_size()
    }

    fn map(&self, len: usize) -> Option<Region> {
        (len <= self.0).then(|| HeapPages.map(len)).flatten()
    }

    unsafe fn unmap(&self, region: &Region) {
        // SAFETY: the region came from `HeapPages::map` via our `map`.
        unsafe { HeapPages.unmap(region) }
    }
}

#[test]
fn growth_falls_back_to_the_exact_size_when_doubling_fails() {
    let arena = Arena::new(Arc::new(LimitedPages(128 * 1024)), MemoryPolicy::BestEffort);
    let mut buf = arena.alloc(80_000).unwrap();
    buf[79_999] = 9;
    buf.resize(100_000).unwrap();
    assert_eq!(buf[79_999], 9);
    assert!(buf.resize(200_000).is_err());
    assert_eq!(buf.len(), 100_000);
}

#[test]
fn require_secret_memory_refuses_locked_pages_that_are_not_secret() {
    // Fully protected in every other way: only the secret flag is missing.
    let fake = Arc::new(FakePages::protected());
    let strict = arena_on(&fake, MemoryPolicy::Strict);
    assert!(
        strict.alloc(32).is_ok(),
        "control: Strict accepts these pages"
    );
    let arena = arena_on(&fake, MemoryPolicy::RequireSecretMemory);
    let err = expect_err(arena.alloc(32));
    assert!(matches!(err, Error::SecureAlloc), "{err:?}");
    assert_eq!(arena.report().last_failure, Some(AllocFailure::NotSecret));
    assert_eq!(
        arena.report().mappings,
        0,
        "the refused mapping was released"
    );

    let secret = Arc::new(FakePages::protected_but(|p| p.secret = true));
    let arena = arena_on(&secret, MemoryPolicy::RequireSecretMemory);
    let _buf = arena.alloc(32).expect("secret pages are accepted");
    let report = arena.report();
    assert!(report.secret_memory && !report.fallback);
    assert_eq!(report.warning(), None);
}

#[test]
fn secret_memory_is_reported_only_when_every_mapping_has_it() {
    let fake = Arc::new(FakePages::protected());
    let arena = arena_on(&fake, MemoryPolicy::BestEffort);
    let _buf = arena.alloc(32).unwrap();
    let report = arena.report();
    assert!(!report.secret_memory);
    // Not secret, and a fake source cannot tell whether the process is dumpable.
    assert!(report.warning().unwrap().contains("same user"));
}

#[test]
fn the_warning_says_when_memory_can_be_swapped_out() {
    let locked = Arc::new(FakePages::protected());
    let arena = arena_on(&locked, MemoryPolicy::BestEffort);
    let _buf = arena.alloc(32).unwrap();
    let warning = arena.report().warning().unwrap();
    assert!(
        !warning.contains("swap"),
        "control: locked pages: {warning}"
    );

    let unlocked = Arc::new(FakePages::protected_but(|p| p.locked = false));
    let arena = arena_on(&unlocked, MemoryPolicy::BestEffort);
    let _buf = arena.alloc(32).unwrap();
    let report = arena.report();
    assert!(report.bytes_locked < report.bytes_mapped);
    let warning = report.warning().unwrap();
    assert!(warning.contains("same user"), "{warning}");
    assert!(warning.contains("written to swap"), "{warning}");
}

mod canaries;
