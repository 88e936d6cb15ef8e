//! Fault injection for microkv's tests: a workspace crate that is never published
//! (`publish = false`), which the tests and the fuzz targets take as a dev-dependency. It
//! uses only the public [`Storage`] trait, so no build of microkv ships it.
//!
//! [`FaultyStorage`] models a rename-based file storage (write a temporary file, sync it,
//! rename it over the store file, sync the directory) as a *durable image*, what a reboot
//! would find, and a *visible image*, what `load` returns now, for the snapshot and for the
//! journal. Faults fail a chosen `store` at a chosen step, or a chosen `append`, with an
//! error or with a simulated crash.
//!
//! The journal is modelled as a file that `store` empties after its rename without
//! syncing it: the visible journal is empty, the durable one is left as it was (a journal
//! of the old snapshot, which a reopen must ignore).
#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use microkv_core::{Error, Result, Storage};

/// A step of a rename-based save, where a fault can strike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Writing the temporary file (a torn write: part of the bytes reach it).
    Write,
    /// Syncing the temporary file.
    Sync,
    /// Renaming the temporary file over the store file.
    Rename,
    /// Syncing the directory: the new image is visible, not yet durable.
    SyncDir,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 4] = [Step::Write, Step::Sync, Step::Rename, Step::SyncDir];
}

/// What happens at the faulty step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The step fails with an I/O error and the storage keeps working. Before the rename
    /// nothing changed; at [`Step::SyncDir`] the new image is visible (and, in this
    /// model, durable: the next successful sync would make it so), and the error is
    /// `Error::NotDurable`, as the [`Storage`] contract asks.
    Error,
    /// The process "crashes" at the step: the `store` returns an I/O error and every later
    /// call fails until [`FaultyStorage::restart`], which sees the durable image. Before
    /// the rename that is the old image; at [`Step::SyncDir`] a crash may keep either,
    /// so `CrashAt(Step::SyncDir)` keeps the old one and
    /// [`Fault::CrashAfterRenameKeepsNew`] the new one.
    Crash,
    /// A crash after which the rename did reach the disk: the durable image is the new
    /// one (meant for [`Step::SyncDir`], the only step after the rename).
    CrashAfterRenameKeepsNew,
}

/// What happens to a faulty `append`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppendFault {
    /// Fails before anything is written; the storage keeps working.
    ErrorBeforeWrite,
    /// The bytes are written (visible, and in this model durable) but the sync fails;
    /// the storage keeps working.
    ErrorAfterWrite,
    /// A crash that keeps only the first `n` appended bytes (at most all but one: a torn
    /// record). Every later call fails until [`FaultyStorage::restart`].
    CrashTorn(usize),
    /// A crash after every appended byte reached the disk, before the call returned.
    CrashKeepsAll,
}

impl AppendFault {
    /// Representative faults: both errors, both crashes, and torn prefixes of 0, 1, 3,
    /// 4 (the length field), 30, 60 and all but one byte.
    pub const ALL: [AppendFault; 10] = [
        AppendFault::ErrorBeforeWrite,
        AppendFault::ErrorAfterWrite,
        AppendFault::CrashTorn(0),
        AppendFault::CrashTorn(1),
        AppendFault::CrashTorn(3),
        AppendFault::CrashTorn(4),
        AppendFault::CrashTorn(30),
        AppendFault::CrashTorn(60),
        AppendFault::CrashTorn(usize::MAX),
        AppendFault::CrashKeepsAll,
    ];

    /// Whether a reopen after this fault finds the appended record.
    pub fn keeps_record(self) -> bool {
        matches!(
            self,
            AppendFault::ErrorAfterWrite | AppendFault::CrashKeepsAll
        )
    }
}

#[derive(Default)]
struct State {
    /// What a reboot finds.
    durable: Option<Vec<u8>>,
    /// What `load` returns now.
    visible: Option<Vec<u8>>,
    /// The journal a reboot finds.
    durable_journal: Vec<u8>,
    /// What `load_journal` returns now.
    visible_journal: Vec<u8>,
    stores: u64,
    appends: u64,
    loads: u64,
    /// `(n, step, fault)`: the `n`th store (1-based, over this storage's life) fails.
    armed: Vec<(u64, Step, Fault)>,
    /// `(n, fault)`: the `n`th append (1-based) fails.
    armed_appends: Vec<(u64, AppendFault)>,
    /// `append` answers `Ok(false)`, as a storage without a journal.
    no_journal: bool,
    crashed: bool,
}

/// A [`Storage`] that fails on request. Clones share the same images, counters and
/// faults, so a test keeps one handle while the store owns another.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv_testing::{Fault, FaultyStorage, Step};
/// use microkv::{Config, Credential, Store};
/// let storage = FaultyStorage::new();
/// let db = Store::with_storage(storage.clone(), Credential::key([1; 32]), Config::default())?;
/// db.put("k", &1u32)?;
/// db.save()?;
/// storage.fail_store(storage.stores() + 1, Step::Sync, Fault::Error);
/// db.put("k", &2u32)?;
/// assert!(db.save().is_err());
/// db.save()?; // the fault has passed
/// let reopened = Store::with_storage(storage.restart(), Credential::key([1; 32]), Config::default())?;
/// assert_eq!(reopened.get::<u32>("k")?, Some(2));
/// # Ok::<(), microkv::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct FaultyStorage {
    state: Arc<Mutex<State>>,
}

impl core::fmt::Debug for FaultyStorage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.state();
        f.debug_struct("FaultyStorage")
            .field("stores", &s.stores)
            .field("loads", &s.loads)
            .field("crashed", &s.crashed)
            .finish_non_exhaustive()
    }
}

/// The I/O error an injected fault reports.
fn injected_io(what: &str) -> std::io::Error {
    std::io::Error::other(format!("injected fault: {what}"))
}

fn injected(what: &str) -> Error {
    Error::io(injected_io(what))
}

impl FaultyStorage {
    /// The shared state, poisoning ignored (a test that panicked left it consistent).
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An empty storage without faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// A storage holding `bytes` (durable and visible) and no journal.
    pub fn with_image(bytes: Vec<u8>) -> Self {
        Self::with_images(Some(bytes), Vec::new())
    }

    /// A storage holding `snapshot` and `journal` (durable and visible).
    pub fn with_images(snapshot: Option<Vec<u8>>, journal: Vec<u8>) -> Self {
        let storage = Self::default();
        {
            let mut s = storage.state();
            s.durable = snapshot.clone();
            s.visible = snapshot;
            s.durable_journal = journal.clone();
            s.visible_journal = journal;
        }
        storage
    }

    /// An empty storage that keeps no journal (`append` answers `Ok(false)`), like a
    /// storage written before journals: every autosaved write stores a snapshot.
    pub fn without_journal() -> Self {
        let storage = Self::default();
        storage.state().no_journal = true;
        storage
    }

    /// Arms a fault: the `n`th call of `append` over this storage's life (1-based; see
    /// [`FaultyStorage::appends`]) fails with `fault`.
    pub fn fail_append(&self, n: u64, fault: AppendFault) {
        self.state().armed_appends.push((n, fault));
    }

    /// How many times `append` was called (including failed calls).
    pub fn appends(&self) -> u64 {
        self.state().appends
    }

    /// The journal a reboot would find now.
    pub fn durable_journal(&self) -> Vec<u8> {
        self.state().durable_journal.clone()
    }

    /// Arms a fault: the `n`th call of `store` over this storage's life (1-based; see
    /// [`FaultyStorage::stores`]) fails at `step` with `fault`.
    pub fn fail_store(&self, n: u64, step: Step, fault: Fault) {
        self.state().armed.push((n, step, fault));
    }

    /// Disarms every fault not yet triggered.
    pub fn clear_faults(&self) {
        let mut s = self.state();
        s.armed.clear();
        s.armed_appends.clear();
    }

    /// How many times `store` was called (including failed calls).
    pub fn stores(&self) -> u64 {
        self.state().stores
    }

    /// How many times `load` was called.
    pub fn loads(&self) -> u64 {
        self.state().loads
    }

    /// Whether a simulated crash happened (every call fails until `restart`).
    pub fn crashed(&self) -> bool {
        self.state().crashed
    }

    /// What a reboot would find now.
    pub fn durable(&self) -> Option<Vec<u8>> {
        self.state().durable.clone()
    }

    /// A fresh storage, as after a reboot: the durable images, no faults, counters at 0
    /// (and a journal if this one keeps one). This handle (and its clones) stay as they
    /// are.
    pub fn restart(&self) -> FaultyStorage {
        let s = self.state();
        let storage = Self::with_images(s.durable.clone(), s.durable_journal.clone());
        storage.state().no_journal = s.no_journal;
        storage
    }
}

impl FaultyStorage {
    /// `store`, or `store_replacing` when `expected` is given: the comparison is made
    /// under the lock, before the fault (a refused store writes nothing, and counts).
    fn store_over(&self, expected: Option<&[u8]>, bytes: &[u8]) -> Result<()> {
        let mut s = self.state();
        if s.crashed {
            return Err(injected("store after a crash"));
        }
        s.stores += 1;
        if let (Some(expected), Some(current)) = (expected, &s.visible) {
            if !current.starts_with(expected) {
                return Err(Error::CredentialChanged);
            }
        }
        let n = s.stores;
        let Some(i) = s.armed.iter().position(|&(at, _, _)| at == n) else {
            s.visible = Some(bytes.to_vec());
            s.durable = Some(bytes.to_vec());
            s.visible_journal.clear();
            return Ok(());
        };
        let (_, step, fault) = s.armed.swap_remove(i);
        let renamed = step == Step::SyncDir;
        let what = format!("{fault:?} at {step:?} of store #{n}");
        match fault {
            Fault::Error if renamed => {
                s.visible = Some(bytes.to_vec());
                s.durable = Some(bytes.to_vec());
                s.visible_journal.clear();
                return Err(Error::not_durable(injected_io(&what)));
            }
            Fault::Error => {}
            Fault::Crash => s.crashed = true,
            Fault::CrashAfterRenameKeepsNew => {
                s.crashed = true;
                s.durable = Some(bytes.to_vec());
            }
        }
        Err(injected(&what))
    }
}

impl Storage for FaultyStorage {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        let mut s = self.state();
        if s.crashed {
            return Err(injected("load after a crash"));
        }
        s.loads += 1;
        Ok(s.visible.clone())
    }

    fn store(&self, bytes: &[u8]) -> Result<()> {
        self.store_over(None, bytes)
    }

    fn store_replacing(&self, expected: &[u8], bytes: &[u8]) -> Result<()> {
        self.store_over(Some(expected), bytes)
    }

    fn append(&self, keep: u64, bytes: &[u8]) -> Result<bool> {
        let mut s = self.state();
        if s.crashed {
            return Err(injected("append after a crash"));
        }
        if s.no_journal {
            return Ok(false);
        }
        s.appends += 1;
        let n = s.appends;
        let keep = usize::try_from(keep)
            .ok()
            .filter(|&keep| keep <= s.visible_journal.len())
            .ok_or_else(|| injected("append past the end of the journal"))?;
        let fault = match s.armed_appends.iter().position(|&(at, _)| at == n) {
            Some(i) => s.armed_appends.swap_remove(i).1,
            None => {
                s.visible_journal.truncate(keep);
                s.visible_journal.extend_from_slice(bytes);
                s.durable_journal = s.visible_journal.clone();
                return Ok(true);
            }
        };
        let kept = match fault {
            AppendFault::ErrorBeforeWrite => None,
            AppendFault::ErrorAfterWrite | AppendFault::CrashKeepsAll => Some(bytes.len()),
            AppendFault::CrashTorn(n) => Some(n.min(bytes.len().saturating_sub(1))),
        };
        if let Some(kept) = kept {
            s.visible_journal.truncate(keep);
            s.visible_journal.extend_from_slice(&bytes[..kept]);
            s.durable_journal = s.visible_journal.clone();
        }
        s.crashed = !matches!(
            fault,
            AppendFault::ErrorBeforeWrite | AppendFault::ErrorAfterWrite
        );
        Err(injected(&format!("{fault:?} at append #{n}")))
    }

    fn load_journal(&self) -> Result<Vec<u8>> {
        let s = self.state();
        if s.crashed {
            return Err(injected("load after a crash"));
        }
        Ok(s.visible_journal.clone())
    }
}
