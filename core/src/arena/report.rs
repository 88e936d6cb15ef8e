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
    /// Fail with [`crate::Error::SecureAlloc`] unless every mapping is locked, guarded,
    /// excluded from core dumps and hidden from forked children.
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
    /// What another process could still get at, in one sentence, or `None` when the keys
    /// are out of reach of every other process (all of the arena in secret memory): who
    /// can read the arena, and whether some of it can be swapped out (`bytes_locked`
    /// short of `bytes_mapped`).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::MemoryReport;
    /// let nothing_mapped = MemoryReport::default();
    /// assert!(nothing_mapped.warning().is_some());
    /// ```
    pub fn warning(&self) -> Option<&'static str> {
        // The sentence's parts, as literals so that `concat!` joins them at compile time.
        macro_rules! non_dumpable {
            () => {
                "the arena is not in secret memory: root can read the keys through \
                 /proc/PID/mem or ptrace (the process is non-dumpable, so other users and the \
                 same user cannot)"
            };
        }
        macro_rules! dumpable {
            () => {
                "the arena is not in secret memory and the process is dumpable: any process \
                 of the same user (and root) can read the keys through /proc/PID/mem or \
                 ptrace; call microkv::harden_process() to refuse the same user"
            };
        }
        macro_rules! swappable {
            () => {
                "; and some of it is not locked in RAM (RLIMIT_MEMLOCK): those pages can be \
                 written to swap, and read back from the swap device"
            };
        }
        let swappable = self.bytes_locked < self.bytes_mapped;
        match (
            self.secret_memory,
            self.process_dumpable == Some(false),
            swappable,
        ) {
            (true, _, _) => None,
            (false, true, false) => Some(non_dumpable!()),
            (false, true, true) => Some(concat!(non_dumpable!(), swappable!())),
            (false, false, false) => Some(dumpable!()),
            (false, false, true) => Some(concat!(dumpable!(), swappable!())),
        }
    }
}

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
                "the arena is not in secret memory: root, and unless the process is \
                 non-dumpable the same user, can read it (MemoryReport::warning)"
            );
        }
        if !region.locked && !self.unlocked {
            crate::event::warn_event!(
                len = region.len,
                "arena memory could not be locked in RAM: it can be swapped out \
                 (RLIMIT_MEMLOCK spent, or a page source without mlock)"
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
    } else if !(region.dont_dump && region.hidden_from_fork) {
        Some(AllocFailure::AdviseFailed)
    } else {
        None
    }
}
