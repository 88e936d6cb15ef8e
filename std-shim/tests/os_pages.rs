//! The arena on real OS pages: guard pages fault, mappings stay few, the kernel shows the
//! lock and advice flags, and a failed `mlock` is refused or reported.
//!
//! Forked children run only simple code and leave with `libc::_exit`, reporting through
//! their exit status.
#![cfg(target_os = "linux")]

use std::sync::Arc;

use microkv_core::{AllocFailure, Arena, Error, MemoryPolicy, PageSource, SecretBuf};
use microkv_std::OsPages;

#[path = "../../tests/support/child.rs"]
mod child;
use child::{drop_lock_privilege, in_child};

fn os_arena(policy: MemoryPolicy) -> Arc<Arena> {
    Arena::new(Arc::new(OsPages::new()), policy)
}

#[test]
fn writing_one_byte_past_a_large_allocation_faults() {
    let arena = os_arena(MemoryPolicy::BestEffort);
    let page = OsPages::new().page_size();
    // A large allocation whose length is a multiple of 16 ends exactly at its mapping's
    // end, which the trailing guard page follows.
    let mut buf = arena.alloc(2 * page).unwrap();
    assert!(arena.report().guarded, "{:?}", arena.report());
    buf.fill(1);
    let past_end = buf.as_mut_ptr().wrapping_add(buf.len());
    let status = in_child(|| {
        // SAFETY: deliberately unsound: writes one byte past the buffer, into the guard
        // page; the child is expected to die of SIGSEGV right here.
        unsafe { past_end.write_volatile(0x42) };
        0
    });
    assert!(
        libc::WIFSIGNALED(status) && matches!(libc::WTERMSIG(status), libc::SIGSEGV | libc::SIGBUS),
        "the child survived an out-of-bounds write (status {status:#x})"
    );
    assert!(
        buf.iter().all(|&b| b == 1),
        "the parent's copy is untouched"
    );
}

#[test]
fn writing_one_byte_before_a_slab_faults() {
    // The first block carved from a fresh arena's first slab starts 8 bytes (its head
    // canary) after the slab's first byte, which the leading guard page precedes.
    let arena = os_arena(MemoryPolicy::BestEffort);
    let buf = arena.alloc(64).unwrap();
    let before_slab = buf.as_ptr().wrapping_sub(9).cast_mut();
    assert_eq!(
        before_slab.wrapping_add(1) as usize % OsPages::new().page_size(),
        0
    );
    let status = in_child(|| {
        // SAFETY: deliberately unsound: writes one byte before the slab, into the guard
        // page; the child is expected to die of SIGSEGV right here.
        unsafe { before_slab.write_volatile(0x42) };
        0
    });
    assert!(
        libc::WIFSIGNALED(status) && matches!(libc::WTERMSIG(status), libc::SIGSEGV | libc::SIGBUS),
        "the child survived an out-of-bounds write (status {status:#x})"
    );
}

#[test]
fn writing_one_byte_past_a_slab_faults() {
    // The first slab is 64 KiB, and its first block's head canary is its first byte; the
    // byte right after the slab is the trailing guard page.
    let arena = os_arena(MemoryPolicy::BestEffort);
    let buf = arena.alloc(64).unwrap();
    let slab_start = buf.as_ptr().wrapping_sub(8);
    let past_slab = slab_start.wrapping_add(64 * 1024).cast_mut();
    assert_eq!(arena.report().bytes_mapped, 64 * 1024);
    let status = in_child(|| {
        // SAFETY: deliberately unsound: writes the first byte past the slab, into the
        // guard page; the child is expected to die of SIGSEGV right here.
        unsafe { past_slab.write_volatile(0x42) };
        0
    });
    assert!(
        libc::WIFSIGNALED(status) && matches!(libc::WTERMSIG(status), libc::SIGSEGV | libc::SIGBUS),
        "the child survived an out-of-bounds write (status {status:#x})"
    );
    // One byte before it is the slab's own memory: writable.
    let last = past_slab.wrapping_sub(1);
    let status = in_child(|| {
        // SAFETY: the last byte of the slab is mapped and writable (an unused block); the
        // write happens in the child only.
        unsafe { last.write_volatile(0x42) };
        0
    });
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "last slab byte faulted"
    );
}

fn map_lines() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn many_small_values_need_few_mappings() {
    let arena = os_arena(MemoryPolicy::BestEffort);
    let before = map_lines();
    let bufs: Vec<SecretBuf> = (0..100_000).map(|_| arena.alloc(64).unwrap()).collect();
    let after = map_lines();
    let report = arena.report();
    assert!(
        after.saturating_sub(before) < 200,
        "{before} -> {after} lines in /proc/self/maps"
    );
    assert!(report.mappings <= 16, "{report:?}");
    assert_eq!(report.bytes_in_use, 100_000 * 64);
    drop(bufs);
}

/// The VmFlags of the smaps entry containing `addr`, and its permissions.
fn vm_flags_at(addr: usize) -> (String, Vec<String>) {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut lines = smaps.lines();
    while let Some(line) = lines.next() {
        let mut fields = line.split_whitespace();
        let Some((start, end)) = fields.next().and_then(|r| r.split_once('-')) else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        if !(start..end).contains(&addr) {
            continue;
        }
        let perms = fields.next().unwrap_or_default().to_owned();
        for line in lines.by_ref() {
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                return (perms, flags.split_whitespace().map(str::to_owned).collect());
            }
        }
    }
    panic!("no smaps entry with VmFlags contains {addr:#x}");
}

#[test]
fn kernel_shows_lock_and_advice_flags() {
    let arena = os_arena(MemoryPolicy::BestEffort);
    let small = arena.alloc(64).unwrap();
    let page = OsPages::new().page_size();
    let large = arena.alloc(4 * page).unwrap();
    let report = arena.report();
    assert!(report.guarded && report.dont_dump, "{report:?}");
    for addr in [small.as_ptr() as usize, large.as_ptr() as usize] {
        let (perms, flags) = vm_flags_at(addr);
        assert!(perms.starts_with("rw"), "{perms}");
        if report.bytes_locked == report.bytes_mapped {
            assert!(flags.iter().any(|f| f == "lo"), "{flags:?}");
        }
        assert!(flags.iter().any(|f| f == "dd"), "{flags:?}");
        if report.wipe_on_fork {
            assert!(flags.iter().any(|f| f == "wf"), "{flags:?}");
        }
    }
    let (guard_perms, _) = vm_flags_at(large.as_ptr() as usize + large.len());
    assert_eq!(guard_perms, "---p");
    let (guard_perms, _) = vm_flags_at(large.as_ptr() as usize - 2 * page);
    assert_eq!(guard_perms, "---p");
}

#[test]
fn root_process_locks_everything_it_maps() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let arena = os_arena(MemoryPolicy::Strict);
    let _bufs: Vec<SecretBuf> = (0..10).map(|i| arena.alloc(1 << i).unwrap()).collect();
    let _large = arena.alloc(100_000).unwrap();
    let report = arena.report();
    assert!(!report.fallback, "{report:?}");
    assert_eq!(report.bytes_locked, report.bytes_mapped);
    assert!(report.guarded && report.dont_dump && report.wipe_on_fork);
}

const MEMLOCK_LIMIT: libc::rlim_t = 64 * 1024;

/// In the child: the two policies past RLIMIT_MEMLOCK. Returns 0 or a failure code.
fn policies_past_the_lock_limit() -> i32 {
    if let Err(code) = drop_lock_privilege(MEMLOCK_LIMIT) {
        return code;
    }
    let target = 1 << 20;
    // Strict: some allocation beyond the limit fails with LockFailed, and nothing
    // unlocked is ever handed out.
    let strict = os_arena(MemoryPolicy::Strict);
    let mut held = Vec::new();
    let mut refused = false;
    while held.len() * 64 < target {
        match strict.alloc(64) {
            Ok(buf) => held.push(buf),
            Err(Error::SecureAlloc)
                if strict.report().last_failure == Some(AllocFailure::LockFailed) =>
            {
                refused = true;
                break;
            }
            Err(_) => return 13,
        }
    }
    if !refused {
        return 14;
    }
    if !matches!(strict.alloc(256 * 1024), Err(Error::SecureAlloc))
        || strict.report().last_failure != Some(AllocFailure::LockFailed)
    {
        return 15;
    }
    let report = strict.report();
    if report.fallback || report.bytes_locked != report.bytes_mapped {
        return 16;
    }
    drop(held);
    drop(strict);
    // BestEffort: everything succeeds, and the report says memory is not all locked.
    let lenient = os_arena(MemoryPolicy::BestEffort);
    let mut held = Vec::new();
    while held.len() * 64 < target {
        match lenient.alloc(64) {
            Ok(buf) => held.push(buf),
            Err(_) => return 17,
        }
    }
    if lenient.alloc(256 * 1024).is_err() {
        return 18;
    }
    let report = lenient.report();
    if !report.fallback {
        return 19;
    }
    if report.bytes_locked > MEMLOCK_LIMIT as usize || report.bytes_locked >= report.bytes_mapped {
        return 20;
    }
    0
}

#[test]
fn lock_limit_fails_strict_and_degrades_best_effort() {
    let status = in_child(policies_past_the_lock_limit);
    assert!(libc::WIFEXITED(status), "child died (status {status:#x})");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "child check failed (10-12: privilege drop, 13-16: Strict, 17-20: BestEffort, \
         101: panic)"
    );
}

#[test]
fn forked_child_sees_wiped_secrets_and_drops_them_quietly() {
    let arena = os_arena(MemoryPolicy::BestEffort);
    let mut small = arena.alloc(64).unwrap();
    let mut large = arena.alloc(10_000).unwrap();
    small.fill(0xC3);
    large.fill(0xC3);
    assert!(arena.report().wipe_on_fork, "{:?}", arena.report());
    let status = in_child(move || {
        if !small.iter().all(|&b| b == 0) || !large.iter().all(|&b| b == 0) {
            return 30;
        }
        // Zeroed canaries are not corruption: dropping must not panic (101).
        drop((small, large));
        match arena.alloc(64) {
            Ok(buf) if buf.iter().all(|&b| b == 0) => 0,
            _ => 31,
        }
    });
    assert!(libc::WIFEXITED(status), "child died (status {status:#x})");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "30: not wiped, 31: no reuse, 101: panic"
    );
}
