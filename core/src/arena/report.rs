//! What an arena promises and what it got: [`MemoryPolicy`], [`MemoryReport`], and the
//! counters behind the report.
#![forbid(unsafe_code)]

use super::source::Region;
use crate::error::{AllocFailure, Error};

/// What to do when the page source cannot lock, guard or advise memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MemoryPolicy {
    /// The default: [`BestEffort`](Self::BestEffort), except on the OS pages that the
    /// `microkv` crate maps when it is built with its `strict-mlock` feature, where it is
    /// [`Strict`](Self::Strict) (what that feature meant in microkv 0.3). An arena
    /// treats it as `BestEffort`.
    #[default]
    Auto,
    /// Keep going with what could be had, and say so in [`MemoryReport::fallback`].
    BestEffort,
    /// Fail with [`crate::Error::SecureAlloc`] unless every mapping has the strongest
    /// protection this OS offers: locked, guarded, hidden from forked children, and
    /// excluded from core dumps where the OS can exclude a mapping (Linux `MADV_DONTDUMP`,
    /// FreeBSD `MAP_NOCORE`; not macOS, nor Windows, whose `WerRegisterExcludedMemoryBlock`
    /// covers only its own error reports and is missing before Windows 10 1703: there
    /// `harden_process` stops dumps for the whole process). Windows has no fork, so every
    /// mapping there is hidden from one.
    Strict,
    /// Everything [`Strict`](Self::Strict) demands, and every mapping in secret memory
    /// ([`Region::secret`]: Linux `memfd_secret`), which no other process can read, root
    /// included. Fails with `SecureAlloc` (`MemoryReport::last_failure`: `NotSecret`) where the kernel lacks
    /// it (before 5.14), a seccomp filter forbids it (`EPERM`, as container defaults do) or
    /// `RLIMIT_MEMLOCK` is spent.
    RequireSecretMemory,
}

/// What the arena holds and how well it is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryReport {
    /// Bytes held by live buffers (their capacities: size classes or large mappings'
    /// payload capacity).
    pub bytes_in_use: usize,
    /// Bytes currently mapped from the page source (slabs and large allocations, guard
    /// pages not included).
    pub bytes_mapped: usize,
    /// Bytes of `bytes_mapped` that the source reported locked in RAM.
    pub bytes_locked: usize,
    /// Number of mappings currently held (slabs and large allocations).
    pub mappings: usize,
    /// Some mapping came back without full protection (not locked, not guarded or not
    /// advised) and was used anyway (any policy but [`MemoryPolicy::Strict`]). Never cleared:
    /// secrets may have been held in that memory.
    pub fallback: bool,
    /// Every mapping made so far was fenced by guard pages (`false` before the first).
    pub guarded: bool,
    /// Every mapping made so far was excluded from core dumps (`false` before the first).
    pub dont_dump: bool,
    /// Every mapping made so far is hidden from forked children: not mapped there, or
    /// zeros (`false` before the first).
    pub hidden_from_fork: bool,
    /// Every mapping made so far is secret memory ([`Region::secret`]): no other process,
    /// root included, can read it (`false` before the first).
    pub secret_memory: bool,
    /// Whether other processes of the same user may attach to or read this process
    /// (`/proc/PID/mem`, ptrace, core dumps), as the page source reports it: Linux's
    /// `PR_GET_DUMPABLE`. `None` where the source cannot tell (heap pages, other systems).
    pub process_dumpable: Option<bool>,
    /// Why the arena last failed to provide memory ([`crate::Error::SecureAlloc`]), if it
    /// ever did.
    pub last_failure: Option<AllocFailure>,
}

impl MemoryReport {
    /// What another process could still get at, in one sentence for this OS, or `None`
    /// when the keys are out of reach of every other process (all of the arena in secret
    /// memory: Linux 5.14+ only). The sentence names the means another process has on this
    /// OS, whether `harden_process` (as `process_dumpable` reports it) took them from the
    /// same user, and whether some of the arena can be swapped out (`bytes_locked` short of
    /// `bytes_mapped`).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::MemoryReport;
    /// let nothing_mapped = MemoryReport::default();
    /// assert!(nothing_mapped.warning().is_some());
    /// ```
    pub fn warning(&self) -> Option<&'static str> {
        // Each sentence, alone and with the swap clause, joined at compile time.
        macro_rules! sentence {
            ($text:literal) => {
                (
                    $text,
                    concat!(
                        $text,
                        "; and some of it is not locked in RAM (RLIMIT_MEMLOCK on Unix, the \
                         working-set minimum on Windows): those pages can be written to swap \
                         or the page file, and read back from it"
                    ),
                )
            };
        }
        if self.secret_memory {
            return None;
        }
        let hardened = self.process_dumpable == Some(false);
        let (alone, swappable) = match (OS, hardened) {
            (Family::Linux, true) => sentence!(
                "the arena is not in secret memory: root can read the keys through \
                 /proc/PID/mem or ptrace (the process is non-dumpable, so other users and \
                 the same user cannot)"
            ),
            (Family::Linux, false) => sentence!(
                "the arena is not in secret memory and the process is dumpable: any process \
                 of the same user (and root) can read the keys through /proc/PID/mem or \
                 ptrace; call microkv::harden_process() to refuse the same user"
            ),
            (Family::Windows, true) => sentence!(
                "Windows has no secret memory: an administrator (SeDebugPrivilege) can read \
                 the keys with ReadProcessMemory or a minidump (the process DACL refuses \
                 other processes of the same user)"
            ),
            (Family::Windows, false) => sentence!(
                "Windows has no secret memory and the process DACL is the default: any \
                 process of the same user (and an administrator) can read the keys with \
                 ReadProcessMemory or a minidump; call microkv::harden_process() to refuse \
                 the same user"
            ),
            (Family::Apple, true) => sentence!(
                "macOS has no secret memory: root can read the keys through task_for_pid \
                 (debugger attachment by the same user is denied and core dumps are off)"
            ),
            (Family::Apple, false) => sentence!(
                "macOS has no secret memory: root, and a debugger of the same user that the \
                 system lets attach, can read the keys through task_for_pid or ptrace, and a \
                 core dump holds them when core dumps are enabled; call \
                 microkv::harden_process() to deny attachment and core dumps"
            ),
            (Family::FreeBsd, true) => sentence!(
                "FreeBSD has no secret memory: root can read the keys through ptrace or \
                 procfs (tracing by the same user is disabled)"
            ),
            (Family::FreeBsd, false) => sentence!(
                "FreeBSD has no secret memory: any process of the same user (and root) can \
                 read the keys through ptrace or procfs; call microkv::harden_process() to \
                 refuse the same user"
            ),
            (Family::Other, _) => sentence!(
                "the arena is not in secret memory: whatever can read this process's memory \
                 on this system (the same user, an administrator) can read the keys"
            ),
        };
        Some(if self.bytes_locked < self.bytes_mapped {
            swappable
        } else {
            alone
        })
    }
}

/// The OS family [`MemoryReport::warning`] speaks of.
#[allow(dead_code)] // a target constructs one of them
enum Family {
    Linux,
    Windows,
    Apple,
    FreeBsd,
    Other,
}

const OS: Family = if cfg!(any(target_os = "linux", target_os = "android")) {
    Family::Linux
} else if cfg!(windows) {
    Family::Windows
} else if cfg!(target_vendor = "apple") {
    Family::Apple
} else if cfg!(target_os = "freebsd") {
    Family::FreeBsd
} else {
    Family::Other
};

/// Counters behind [`MemoryReport`].
#[derive(Default)]
pub(super) struct Stats {
    pub(super) in_use: usize,
    pub(super) mapped: usize,
    pub(super) locked: usize,
    pub(super) mappings: usize,
    pub(super) fallback: bool,
    pub(super) made: usize,
    pub(super) unguarded: bool,
    pub(super) dumpable: bool,
    pub(super) kept_on_fork: bool,
    pub(super) last_failure: Option<AllocFailure>,
    pub(super) not_secret: bool,
    /// Some mapping was not locked in RAM (may be swapped out).
    pub(super) unlocked: bool,
}

impl Stats {
    /// Records why an allocation failed and returns the error for it.
    pub(super) fn fail(&mut self, why: AllocFailure) -> Error {
        self.last_failure = Some(why);
        Error::SecureAlloc
    }

    pub(super) fn add(&mut self, region: &Region) {
        #[cfg(feature = "tracing")]
        self.note_weaker(region);
        self.mapped += region.len;
        if region.locked {
            self.locked += region.len;
        } else {
            self.unlocked = true;
        }
        self.mappings += 1;
        self.made += 1;
        self.unguarded |= !region.guarded;
        self.dumpable |= !region.dont_dump;
        self.kept_on_fork |= !region.hidden_from_fork;
        self.not_secret |= !region.secret;
        self.fallback |= missing_protection(region, MemoryPolicy::Strict).is_some();
    }

    /// Emits an event the first time this arena takes memory weaker than its best in each
    /// of three ways: not secret memory, not locked (swappable), or missing another
    /// protection (guard pages, dump or fork advice).
    #[cfg(feature = "tracing")]
    fn note_weaker(&self, region: &Region) {
        if !region.secret && !self.not_secret {
            crate::event::warn_event!(
                locked = region.locked,
                "the arena is not in secret memory: a process allowed to read this \
                 one's memory can read it (MemoryReport::warning says which, on this OS)"
            );
        }
        if !region.locked && !self.unlocked {
            crate::event::warn_event!(
                len = region.len,
                "arena memory could not be locked in RAM: it can be swapped out \
                 (RLIMIT_MEMLOCK or the working-set minimum spent, or a page source \
                 that does not lock)"
            );
        }
        let weaker = !(region.guarded && region.dont_dump && region.hidden_from_fork);
        if weaker && !(self.unguarded || self.dumpable || self.kept_on_fork) {
            crate::event::warn_event!(
                guarded = region.guarded,
                dont_dump = region.dont_dump,
                hidden_from_fork = region.hidden_from_fork,
                "arena memory lacks a protection: used anyway (MemoryPolicy::BestEffort)"
            );
        }
    }

    /// The report of these counters; `process_dumpable` is the source's answer.
    pub(super) fn report(&self, process_dumpable: Option<bool>) -> MemoryReport {
        let all = |missing: bool| self.made > 0 && !missing;
        MemoryReport {
            bytes_in_use: self.in_use,
            bytes_mapped: self.mapped,
            bytes_locked: self.locked,
            mappings: self.mappings,
            fallback: self.fallback,
            guarded: all(self.unguarded),
            dont_dump: all(self.dumpable),
            hidden_from_fork: all(self.kept_on_fork),
            secret_memory: all(self.not_secret),
            process_dumpable,
            last_failure: self.last_failure,
        }
    }

    pub(super) fn remove(&mut self, region: &Region) {
        self.mapped -= region.len;
        if region.locked {
            self.locked -= region.len;
        }
        self.mappings -= 1;
    }
}

/// Whether this OS can keep a single mapping out of every core dump, so that
/// [`MemoryPolicy::Strict`] demands it: Linux (`MADV_DONTDUMP`), FreeBSD (`MAP_NOCORE`) and
/// systems without an OS. macOS has no such thing, and Windows only for its own error
/// reports (`WerRegisterExcludedMemoryBlock`, missing before Windows 10 1703 and under Wine):
/// there, dumps are refused for the whole process (`harden_process`), and `Strict` demands
/// locked, guarded pages hidden from forks.
pub(super) const PER_MAPPING_DUMP_EXCLUSION: bool = !cfg!(any(windows, target_vendor = "apple"));

/// The first protection `region` lacks that `policy` demands, as the error it returns.
pub(super) fn missing_protection(region: &Region, policy: MemoryPolicy) -> Option<AllocFailure> {
    if matches!(policy, MemoryPolicy::BestEffort | MemoryPolicy::Auto) {
        None
    } else if policy == MemoryPolicy::RequireSecretMemory && !region.secret {
        Some(AllocFailure::NotSecret)
    } else if !region.locked {
        Some(AllocFailure::LockFailed)
    } else if !region.guarded {
        Some(AllocFailure::GuardFailed)
    } else if !((region.dont_dump || !PER_MAPPING_DUMP_EXCLUSION) && region.hidden_from_fork) {
        Some(AllocFailure::AdviseFailed)
    } else {
        None
    }
}
