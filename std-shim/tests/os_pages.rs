//! The arena on real OS pages: secret memory where the kernel has it (this one does: the
//! tests that need it fail, not skip, without it), anonymous locked pages otherwise. Guard
//! pages fault, mappings stay few, the kernel shows the lock and advice flags, a failed
//! `mlock` is refused or reported, and a forked child gets nothing.
//!
//! Forked children run only simple code and leave with `libc::_exit`, reporting through
//! their exit status.
#![cfg(target_os = "linux")]

use std::sync::Arc;

use microkv_core::OsPages;
use microkv_core::{AllocFailure, Arena, Error, MemoryPolicy, PageSource, SecretBuf};

#[path = "../../tests/support/child.rs"]
mod child;
use child::{drop_lock_privilege, in_child};

fn os_arena(policy: MemoryPolicy) -> Arc<Arena> {
    Arena::new(Arc::new(OsPages::new()), policy)
}

/// The fallback source: the guard-page tests write in a forked child, which has no
/// mapping at all of secret memory (so any write there faults, proving nothing).
fn anonymous_arena(policy: MemoryPolicy) -> Arc<Arena> {
    Arena::new(Arc::new(OsPages::anonymous()), policy)
}

#[test]
fn writing_one_byte_past_a_large_allocation_faults() {
    let arena = anonymous_arena(MemoryPolicy::BestEffort);
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
    let arena = anonymous_arena(MemoryPolicy::BestEffort);
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
    let arena = anonymous_arena(MemoryPolicy::BestEffort);
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
    let arena = anonymous_arena(MemoryPolicy::BestEffort);
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
        if report.hidden_from_fork {
            assert!(flags.iter().any(|f| f == "wf"), "{flags:?}");
        }
    }
    let (guard_perms, _) = vm_flags_at(large.as_ptr() as usize + large.len());
    assert_eq!(guard_perms, "---p");
    let (guard_perms, _) = vm_flags_at(large.as_ptr() as usize - 2 * page);
    assert_eq!(guard_perms, "---p");
}

#[test]
fn secret_memory_sits_between_guard_pages_and_is_kept_from_children() {
    OsPages::probe_secret_memory().expect("this kernel has memfd_secret (Linux 5.14+)");
    let arena = os_arena(MemoryPolicy::RequireSecretMemory);
    let small = arena.alloc(64).unwrap();
    let page = OsPages::new().page_size();
    let large = arena.alloc(4 * page).unwrap();
    let report = arena.report();
    assert!(report.secret_memory && !report.fallback, "{report:?}");
    assert!(report.guarded && report.dont_dump && report.hidden_from_fork);
    assert_eq!(report.bytes_locked, report.bytes_mapped);
    for addr in [small.as_ptr() as usize, large.as_ptr() as usize] {
        let (perms, flags) = vm_flags_at(addr);
        // Shared (the secretmem file), locked, undumpable, not copied on fork.
        assert_eq!(perms, "rw-s", "{flags:?}");
        for flag in ["lo", "dd", "dc"] {
            assert!(flags.iter().any(|f| f == flag), "{flag} missing: {flags:?}");
        }
    }
    let (guard_perms, _) = vm_flags_at(large.as_ptr() as usize + large.len());
    assert_eq!(guard_perms, "---p");
    let (guard_perms, _) = vm_flags_at(large.as_ptr() as usize - 2 * page);
    assert_eq!(guard_perms, "---p");
    let slab_start = small.as_ptr() as usize - 8;
    let (guard_perms, _) = vm_flags_at(slab_start - 1);
    assert_eq!(guard_perms, "---p");
}

#[test]
fn secret_memory_cannot_be_read_through_proc_mem() {
    use std::os::unix::fs::FileExt;
    let arena = os_arena(MemoryPolicy::RequireSecretMemory);
    let mut secret = arena.alloc(64).unwrap();
    secret.fill(0x5A);
    let anon = anonymous_arena(MemoryPolicy::BestEffort);
    let mut plain = anon.alloc(64).unwrap();
    plain.fill(0x5A);
    let mem = std::fs::File::open("/proc/self/mem").unwrap();
    let mut out = [0u8; 64];
    // Control: the same read of anonymous locked pages succeeds.
    mem.read_exact_at(&mut out, plain.as_ptr() as u64).unwrap();
    assert_eq!(out, [0x5A; 64]);
    let mut out = [0u8; 64];
    let err = mem
        .read_exact_at(&mut out, secret.as_ptr() as u64)
        .expect_err("secret memory read through /proc/self/mem");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    assert_eq!(out, [0; 64]);
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
    assert!(report.guarded && report.dont_dump && report.hidden_from_fork);
    assert!(report.secret_memory, "{report:?}");
}

const MEMLOCK_LIMIT: libc::rlim_t = 64 * 1024;

/// Allocates 64-byte buffers from `arena` until it holds `target` bytes or refuses one
/// with `Error::SecureAlloc` for `why`: the buffers held and whether one was refused;
/// `None` if an allocation failed any other way.
fn alloc_until_refused(
    arena: &Arc<Arena>,
    target: usize,
    why: AllocFailure,
) -> Option<(Vec<SecretBuf>, bool)> {
    let mut held = Vec::new();
    while held.len() * 64 < target {
        match arena.alloc(64) {
            Ok(buf) => held.push(buf),
            Err(Error::SecureAlloc) if arena.report().last_failure == Some(why) => {
                return Some((held, true));
            }
            Err(_) => return None,
        }
    }
    Some((held, false))
}

/// In the child: the two policies past RLIMIT_MEMLOCK. Returns 0 or a failure code.
fn policies_past_the_lock_limit() -> i32 {
    if let Err(code) = drop_lock_privilege(MEMLOCK_LIMIT) {
        return code;
    }
    let target = 1 << 20;
    // Strict: some allocation beyond the limit fails with LockFailed, and nothing
    // unlocked is ever handed out.
    let strict = os_arena(MemoryPolicy::Strict);
    let Some((held, refused)) = alloc_until_refused(&strict, target, AllocFailure::LockFailed)
    else {
        return 13;
    };
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
    // RequireSecretMemory: secret memory counts against the same limit, and past it the
    // anonymous fallback is refused.
    let secret = os_arena(MemoryPolicy::RequireSecretMemory);
    let Some((held, refused)) = alloc_until_refused(&secret, target, AllocFailure::NotSecret)
    else {
        return 21;
    };
    if !refused || held.is_empty() || !secret.report().secret_memory {
        return 22;
    }
    drop(held);
    drop(secret);
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
         21-22: RequireSecretMemory, 101: panic)"
    );
}

/// In a forked child the arena touches none of its memory (which may not be mapped
/// there): buffers read as empty, dropping them and the arena is quiet, allocation fails.
/// The raw pages themselves are zeros (anonymous, `MADV_WIPEONFORK`) or absent (secret
/// memory, `MADV_DONTFORK`: reading them faults).
fn forked_child_gets_nothing(arena: Arc<Arena>, raw_read_faults: bool) {
    let mut small = arena.alloc(64).unwrap();
    let mut large = arena.alloc(10_000).unwrap();
    small.fill(0xC3);
    large.fill(0xC3);
    assert!(arena.report().hidden_from_fork, "{:?}", arena.report());
    let raw = small.as_ptr();
    let status = in_child(move || {
        if !small.is_empty() || !large.is_empty() {
            return 30;
        }
        drop((small, large));
        if !matches!(arena.alloc(64), Err(Error::Forked)) {
            return 31;
        }
        drop(arena);
        // SAFETY: deliberately reads the parent's block in the child: zeros after
        // MADV_WIPEONFORK, a fault when the mapping was not inherited.
        let byte = unsafe { raw.read_volatile() };
        if byte != 0 {
            return 32;
        }
        0
    });
    if raw_read_faults {
        assert!(
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSEGV,
            "the child read secret memory (status {status:#x})"
        );
    } else {
        assert!(libc::WIFEXITED(status), "child died (status {status:#x})");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "30: readable, 31: allocates, 32: not wiped, 101: panic"
        );
    }
}

#[test]
fn forked_child_gets_nothing_from_anonymous_pages() {
    forked_child_gets_nothing(anonymous_arena(MemoryPolicy::BestEffort), false);
}

#[test]
fn forked_child_gets_nothing_from_secret_memory() {
    forked_child_gets_nothing(os_arena(MemoryPolicy::RequireSecretMemory), true);
}

/// `struct sock_filter`: one classic-BPF instruction.
#[repr(C)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

/// In a (single-threaded) child: a seccomp filter that fails `memfd_secret` with `errno`,
/// as container runtimes' default profiles do (EPERM) or an old kernel would (ENOSYS).
fn forbid_memfd_secret(errno: u32) -> bool {
    const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    let filter = [
        // seccomp_data.nr is at offset 0.
        SockFilter {
            code: BPF_LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        },
        SockFilter {
            code: BPF_JEQ_K,
            jt: 0,
            jf: 1,
            k: libc::SYS_memfd_secret as u32,
        },
        SockFilter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ERRNO | errno,
        },
        SockFilter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ALLOW,
        },
    ];
    let prog = SockFprog {
        len: filter.len() as u16,
        filter: filter.as_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes no pointers; PR_SET_SECCOMP reads `prog` and the
    // filter it points to, both alive for the call. The filter only restricts this child.
    unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const SockFprog,
            ) == 0
    }
}

/// In a child where `memfd_secret` fails with `errno`: the default source falls back to
/// locked anonymous pages and says so, and `RequireSecretMemory` refuses.
fn without_secret_memory(errno: u32) -> i32 {
    if !forbid_memfd_secret(errno) {
        return 50;
    }
    match OsPages::probe_secret_memory() {
        Err(Error::Io(e)) if e.raw_os_error() == Some(errno as i32) => {}
        _ => return 51,
    }
    let arena = os_arena(MemoryPolicy::BestEffort);
    let Ok(buf) = arena.alloc(64) else {
        return 52;
    };
    let report = arena.report();
    if report.secret_memory || !report.guarded || report.warning().is_none() {
        return 53;
    }
    drop(buf);
    let strict = os_arena(MemoryPolicy::RequireSecretMemory);
    if !matches!(strict.alloc(64), Err(Error::SecureAlloc))
        || strict.report().last_failure != Some(AllocFailure::NotSecret)
    {
        return 54;
    }
    0
}

#[test]
fn a_kernel_that_refuses_secret_memory_gets_the_reported_fallback() {
    // Control: here the kernel gives secret memory, so the filter is what takes it away.
    OsPages::probe_secret_memory().expect("this kernel has memfd_secret");
    for errno in [libc::EPERM as u32, libc::ENOSYS as u32] {
        let status = in_child(move || without_secret_memory(errno));
        assert!(libc::WIFEXITED(status), "child died (status {status:#x})");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "errno {errno}: 50 filter, 51 probe, 52 no fallback, 53 report, 54 policy, 101 panic"
        );
    }
}
