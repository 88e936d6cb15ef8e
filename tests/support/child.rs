#![allow(dead_code)] // not every test binary that includes this file uses every helper
//! Helpers for tests that fork children (shared with `#[path = "support/child.rs"] mod
//! child;`). Forked children run only simple code and leave with `libc::_exit`, reporting
//! through their exit status.

/// Forks; the child runs `child` (catching panics: code 101) and exits with its code.
/// Returns the child's raw wait status.
///
/// Call it only from a binary with one test, or with `--test-threads=1`: the child is a
/// copy of one thread, and must not need a lock another thread held at the fork.
pub fn in_child(child: impl FnOnce() -> i32) -> libc::c_int {
    wait_child(fork_child(child))
}

/// Forks; the child runs `child` (catching panics: code 101) and exits with its code.
/// Returns the child's pid at once, for [`wait_child`]. Same caveat as [`in_child`].
pub fn fork_child(child: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: fork itself has no memory-safety preconditions; the child only runs `child`
    // (no locks held by other threads are needed: the caller's binary has no other busy
    // thread) and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: `_exit` ends the child at once, running nothing of the parent's state.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// A child's exit code from its raw wait status; a child killed by signal N gives
/// `128 + N`, as a shell reports it.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

/// Waits for a child made by [`fork_child`]; returns its raw wait status.
pub fn wait_child(pid: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    // SAFETY: waits for our own child, writing its status into a local.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid, "waitpid failed");
    status
}

/// `struct __user_cap_header_struct`.
#[cfg(target_os = "linux")]
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[cfg(target_os = "linux")]
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
#[cfg(target_os = "linux")]
const CAP_IPC_LOCK: u32 = 14;

/// In a (single-threaded) child: drops CAP_IPC_LOCK from this thread when running as
/// root (Linux; other systems have no capability to drop), then sets RLIMIT_MEMLOCK (soft and hard) to `limit` bytes. `Err` names the step
/// that failed: 10 capget, 11 capset, 12 setrlimit.
pub fn drop_lock_privilege(limit: libc::rlim_t) -> Result<(), i32> {
    // SAFETY: geteuid has no preconditions.
    #[cfg(target_os = "linux")]
    if unsafe { libc::geteuid() } == 0 {
        let mut header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        // SAFETY: capget writes a version-3 header and two data structs, which we provide.
        if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
            return Err(10);
        }
        data[0].effective &= !(1 << CAP_IPC_LOCK);
        data[0].permitted &= !(1 << CAP_IPC_LOCK);
        // SAFETY: capset reads the header and two data structs; dropping a capability is
        // always allowed.
        if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
            return Err(11);
        }
    }
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlimit) } != 0 {
        return Err(12);
    }
    Ok(())
}
