//! Locked-memory limits, through the store: forked children with RLIMIT_MEMLOCK at 0,
//! 64 KiB and 8 MiB (CAP_IPC_LOCK dropped when running as root), under both policies.
//! Each child opens an in-memory store, puts 100,000 values of 100 bytes, then holds a
//! `get_secret_bytes` handle on every one of them (12.8 MB of plaintext in the arena, past every
//! limit), checking `memory_report()` after every call.
//!
//! Pass rule, after every call: either `fallback == false` and every mapped byte is
//! locked, within the limit; or `fallback == true`, under `BestEffort` only, and it
//! turned true at the call that took the mapped total past the limit. `Strict` fails with
//! `Error::SecureAlloc`, with `MemoryReport::last_failure` `LockFailed` (at 0: at open), within one slab (1 MiB)
//! of the limit, and the store keeps working once handles are dropped. `BestEffort`
//! never fails and ends with `fallback == true` (every limit here is exceeded).
//!
//! One test in this binary: the children are forks of a process with no other busy thread.
//! The six children run in parallel.
#![cfg(target_os = "linux")]

#[path = "support/child.rs"]
mod child;

use std::path::Path;

use microkv::{AllocFailure, Config, Credential, Error, MemoryPolicy, MemoryReport, MicroKV};

const VALUES: usize = 100_000;
const VALUE_LEN: usize = 100;
/// The arena's largest slab: Strict must fail within this distance of the limit.
const MAX_SLAB: usize = 1 << 20;

fn value(i: usize) -> String {
    let mut v = format!("value-{i:08}-");
    while v.len() < VALUE_LEN {
        v.push((b'a' + (v.len() % 26) as u8) as char);
    }
    v
}

/// The invariant after every call. `was_fallback`: the previous report's `fallback`.
fn check(
    r: &MemoryReport,
    limit: usize,
    policy: MemoryPolicy,
    was_fallback: &mut bool,
) -> Result<(), i32> {
    if !r.fallback {
        if r.bytes_locked != r.bytes_mapped || r.bytes_locked > limit {
            return Err(30); // unlocked memory without a fallback, or over the limit
        }
    } else {
        if policy == MemoryPolicy::Strict {
            return Err(31);
        }
        if !*was_fallback && r.bytes_mapped <= limit {
            return Err(32); // a fallback although everything mapped fits the limit
        }
        if r.bytes_locked > limit {
            return Err(33);
        }
    }
    *was_fallback = r.fallback;
    Ok(())
}

fn fmt(r: &MemoryReport) -> String {
    format!(
        "locked {} B, mapped {} B, in use {} B, {} mappings, fallback {}",
        r.bytes_locked, r.bytes_mapped, r.bytes_in_use, r.mappings, r.fallback
    )
}

/// The child's work; returns 0 or a failure code, and writes its figures to `out`.
fn limit_child(limit: usize, policy: MemoryPolicy, out: &Path) -> i32 {
    let mut figures = format!("RLIMIT_MEMLOCK {limit} B, {policy:?}:");
    let code = run(limit, policy, &mut figures).err().unwrap_or(0);
    figures.push_str(&format!(" => exit {code}"));
    std::fs::write(out, figures).map_or(60, |()| code)
}

fn run(limit: usize, policy: MemoryPolicy, figures: &mut String) -> Result<(), i32> {
    child::drop_lock_privilege(limit as libc::rlim_t)?;
    let strict = policy == MemoryPolicy::Strict;
    let config = Config {
        memory: policy,
        ..Default::default()
    };
    let db = match MicroKV::in_memory_with(Credential::key([9; 32]), config) {
        Err(Error::SecureAlloc) if strict && limit == 0 => {
            figures.push_str(" open refused (SecureAlloc)");
            return Ok(());
        }
        Err(e) => {
            figures.push_str(&format!(" open failed: {e:?}"));
            return Err(20);
        }
        Ok(_) if strict && limit == 0 => return Err(21), // opened without locked memory
        Ok(db) => db,
    };
    let mut was_fallback = false;
    let r = db.memory_report();
    check(&r, limit, policy, &mut was_fallback)?;
    figures.push_str(&format!("\n  open: {}", fmt(&r)));
    if limit == 0 && !r.fallback {
        return Err(22);
    }

    let started = std::time::Instant::now();
    // Values are sealed outside the arena: puts need plaintext room only while they run.
    for i in 0..VALUES {
        match db.put(&format!("v{i}"), &value(i)) {
            Ok(()) => {}
            Err(Error::SecureAlloc)
                if strict && db.memory_report().last_failure == Some(AllocFailure::LockFailed) =>
            {
                figures.push_str(&format!("\n  put #{i} refused with LockFailed"));
                break;
            }
            Err(_) => return Err(40),
        }
        check(&db.memory_report(), limit, policy, &mut was_fallback)?;
    }
    figures.push_str(&format!(
        "\n  after {VALUES} puts ({:.1} s): {}",
        started.elapsed().as_secs_f64(),
        fmt(&db.memory_report())
    ));
    let started = std::time::Instant::now();

    // Handles keep plaintext in the arena: it has to grow past the limit.
    let mut handles = Vec::with_capacity(VALUES);
    let mut refused = None;
    for i in 0..VALUES {
        match db.get_secret_bytes(&format!("v{i}")) {
            Ok(Some(h)) if h.expose_secret() == value(i).as_bytes() => handles.push(h),
            Ok(_) => return Err(41),
            Err(Error::SecureAlloc)
                if strict && db.memory_report().last_failure == Some(AllocFailure::LockFailed) =>
            {
                refused = Some(i);
                break;
            }
            Err(_) => return Err(42),
        }
        check(&db.memory_report(), limit, policy, &mut was_fallback)?;
    }
    let r = db.memory_report();
    match refused {
        Some(i) => figures.push_str(&format!(
            "\n  get_secret_bytes handle #{i} refused with LockFailed ({:.1} s): {}",
            started.elapsed().as_secs_f64(),
            fmt(&r)
        )),
        None => figures.push_str(&format!(
            "\n  {} get_secret_bytes handles held ({:.1} s): {}",
            handles.len(),
            started.elapsed().as_secs_f64(),
            fmt(&r)
        )),
    }
    if strict {
        if refused.is_none() {
            return Err(50); // 12.8 MB of plaintext fitted under the limit?
        }
        if r.bytes_locked + MAX_SLAB <= limit {
            return Err(51); // refused far below the limit
        }
        drop(handles);
        // The store keeps working once memory is free again.
        if db.get::<String>("v7").ok().flatten() != Some(value(7)) {
            return Err(52);
        }
        if db.put("after", &value(0)).is_err() {
            return Err(53);
        }
    } else if !r.fallback {
        return Err(54); // BestEffort went past the limit without saying so
    }
    Ok(())
}

#[test]
fn memlock_limits_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    // All six children run at once: each is a separate process with its own limit.
    let mut children = Vec::new();
    for limit in [0, 64 * 1024, 8 * 1024 * 1024] {
        for policy in [MemoryPolicy::Strict, MemoryPolicy::BestEffort] {
            let out = dir.path().join(format!("{limit}-{policy:?}"));
            let pid = child::fork_child(|| limit_child(limit, policy, &out));
            children.push((limit, policy, out, pid));
        }
    }
    let mut failures = Vec::new();
    for (limit, policy, out, pid) in children {
        let status = child::wait_child(pid);
        let figures = std::fs::read_to_string(&out).unwrap_or_default();
        eprintln!("{figures}");
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            failures.push(format!("{limit} B {policy:?}: status {status:#x}"));
        }
    }
    assert!(
        failures.is_empty(),
        "children failed (10-12: privilege drop, 20-22: open, 30-33: report invariant, \
         40-42: put/get, 50-54: end state, 60: figures, 101: panic): {failures:?}"
    );
}
