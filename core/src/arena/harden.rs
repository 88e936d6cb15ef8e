//! [`harden_process`]: keeps other processes of the same user out of this one, by each OS's
//! means, and [`process_dumpable`], what the page sources report of it.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

extern crate std;

use core::sync::atomic::{AtomicBool, Ordering};
use std::io;

use crate::error::{Error, Result};

#[cfg(windows)]
mod windows;

/// `harden_process` succeeded in this process (read where the OS cannot be asked).
static HARDENED: AtomicBool = AtomicBool::new(false);

/// Keeps other processes of the same user from reading this one's memory and stops crash
/// dumps, by each OS's means, as ssh-agent, gpg-agent and KeePassXC do. Call it once, early
/// (before secrets exist); it is for the whole process and for good. The same name and
/// signature on every OS.
///
/// | OS | what it does | what it costs |
/// | --- | --- | --- |
/// | Linux, Android | `prctl(PR_SET_DUMPABLE, 0)` and `RLIMIT_CORE` 0: no ptrace attach, no `/proc/PID/mem` for the same user, no core dump | debuggers (gdb, strace) and profilers (perf) need root; `/proc/PID/*` becomes root's, so `ps` details, `environ` and `fd/` are hidden from the user; a `setuid`/`execve` of a set-user-ID program resets it |
/// | Windows | a protected process DACL: the user gets only `SYNCHRONIZE`, `PROCESS_QUERY_LIMITED_INFORMATION` and `PROCESS_TERMINATE` (so `PROCESS_VM_READ`, `VM_WRITE`, `VM_OPERATION`, `DUP_HANDLE` are refused to other processes: no `ReadProcessMemory`, no `MiniDumpWriteDump`), the owner only `READ_CONTROL` (so it cannot quietly rewrite the DACL); `SetErrorMode(SEM_NOGPFAULTERRORBOX)` and `WerSetFlags(WER_FAULT_REPORTING_FLAG_NOHEAP)`: no crash dialog, no heap in error reports | debuggers, Process Explorer and crash-dump tools of the same user cannot attach or dump; an administrator (`SeDebugPrivilege`, or taking ownership) still can |
/// | macOS | `ptrace(PT_DENY_ATTACH)` and `RLIMIT_CORE` 0 | no debugger (lldb, dtrace on the process) can attach; a process that tries is refused, one already attached gets the process killed; root can still read the memory through `task_for_pid` |
/// | FreeBSD | `procctl(PROC_TRACE_CTL, PROC_TRACE_CTL_DISABLE)` and `RLIMIT_CORE` 0: no ptrace, no procfs memory, no core dump | debuggers and `truss` need root; kept across `fork`, cleared by `execve` |
///
/// Where the arena is not in secret memory (`MemoryReport::secret_memory` false: every OS
/// but Linux 5.14+), this is what stands between a same-user attacker and the store's keys.
/// It does not stop root or an administrator; only Linux secret memory does.
///
/// ```
/// # use microkv_core as microkv;
/// # #[cfg(any(target_os = "linux", windows))] {
/// microkv::harden_process()?;
/// # }
/// # Ok::<(), microkv::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`] with the failing system call's error; `Unsupported` on other systems.
pub fn harden_process() -> Result<()> {
    let hardened = imp::harden().map_err(Error::Io);
    match &hardened {
        Ok(()) => {
            HARDENED.store(true, Ordering::Relaxed);
            let _done = imp::DONE; // read without the `tracing` feature too
            crate::event::info_event!("{}", _done);
        }
        Err(_e) => crate::event::warn_event!(error = %_e, "harden_process failed"),
    }
    hardened
}

/// Whether other processes of the same user may read this one: Linux's `PR_GET_DUMPABLE`,
/// FreeBSD's `PROC_TRACE_STATUS`; on Windows and macOS, which cannot be asked, whether
/// [`harden_process`] succeeded in this process. `None` elsewhere.
pub(crate) fn process_dumpable() -> Option<bool> {
    imp::dumpable()
}

/// `RLIMIT_CORE` 0, soft and hard.
#[cfg(unix)]
fn no_core_dumps() -> io::Result<()> {
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `none` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use super::*;

    pub(super) const DONE: &str = "the process is non-dumpable (PR_SET_DUMPABLE 0, RLIMIT_CORE 0)";

    pub(super) fn harden() -> io::Result<()> {
        // SAFETY: PR_SET_DUMPABLE changes a flag of this process and takes no pointers.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        no_core_dumps()
    }

    pub(super) fn dumpable() -> Option<bool> {
        // SAFETY: PR_GET_DUMPABLE reads a flag of this process and takes no pointers.
        let rc = unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
        (rc >= 0).then_some(rc != 0)
    }
}

#[cfg(target_os = "freebsd")]
mod imp {
    use super::*;

    pub(super) const DONE: &str =
        "the process is hardened (procctl PROC_TRACE_CTL_DISABLE, RLIMIT_CORE 0)";

    pub(super) fn harden() -> io::Result<()> {
        let mut disable: libc::c_int = libc::PROC_TRACE_CTL_DISABLE;
        if procctl(libc::PROC_TRACE_CTL, &mut disable) != 0 {
            return Err(io::Error::last_os_error());
        }
        no_core_dumps()
    }

    pub(super) fn dumpable() -> Option<bool> {
        let mut status: libc::c_int = 0;
        // -1: tracing disabled; 0: enabled and not traced; a pid: traced by it.
        (procctl(libc::PROC_TRACE_STATUS, &mut status) == 0).then_some(status != -1)
    }

    /// `procctl(P_PID, this process, cmd, arg)` for a command whose argument is one int.
    fn procctl(cmd: libc::c_int, arg: &mut libc::c_int) -> libc::c_int {
        // SAFETY: PROC_TRACE_CTL reads and PROC_TRACE_STATUS writes the one int `arg`
        // points to, valid for the call; the target is this process.
        unsafe {
            libc::procctl(
                libc::P_PID,
                libc::id_t::from(std::process::id()),
                cmd,
                (arg as *mut libc::c_int).cast(),
            )
        }
    }
}

#[cfg(any(target_os = "macos", target_os = "ios"))]
mod imp {
    use super::*;

    pub(super) const DONE: &str = "the process is hardened (PT_DENY_ATTACH, RLIMIT_CORE 0)";

    pub(super) fn harden() -> io::Result<()> {
        // SAFETY: PT_DENY_ATTACH concerns the calling process and takes no pointers.
        if unsafe { libc::ptrace(libc::PT_DENY_ATTACH, 0, core::ptr::null_mut(), 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        no_core_dumps()
    }

    pub(super) fn dumpable() -> Option<bool> {
        Some(!HARDENED.load(Ordering::Relaxed))
    }
}

#[cfg(windows)]
mod imp {
    use super::*;

    pub(super) const DONE: &str = "the process is hardened (a process DACL without memory \
        access for other processes, no error-report heap dumps)";

    pub(super) fn harden() -> io::Result<()> {
        windows::deny_other_processes()?;
        windows::no_error_reports()
    }

    pub(super) fn dumpable() -> Option<bool> {
        Some(!HARDENED.load(Ordering::Relaxed))
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "macos",
    target_os = "ios",
    windows
)))]
mod imp {
    use super::*;

    pub(super) const DONE: &str = "";

    pub(super) fn harden() -> io::Result<()> {
        let _ = &HARDENED;
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    pub(super) fn dumpable() -> Option<bool> {
        None
    }
}
