//! Fault injection for tests (the `testing` feature). **Semver-exempt**: anything in this
//! module may change in any release.
//!
//! [`FaultyStorage`] models a rename-based file storage (write a temporary file, sync it,
//! rename it over the store file, sync the directory) as a *durable image*, what a reboot
//! would find, and a *visible image*, what `load` returns now. Faults fail a chosen
//! `store` at a chosen step, with an error or with a simulated crash.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::storage::Storage;
use crate::sync::Mutex;

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
    /// model, durable: the next successful sync would make it so).
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

#[derive(Default)]
struct State {
    /// What a reboot finds.
    durable: Option<Vec<u8>>,
    /// What `load` returns now.
    visible: Option<Vec<u8>>,
    stores: u64,
    loads: u64,
    /// `(n, step, fault)`: the `n`th store (1-based, over this storage's life) fails.
    armed: Vec<(u64, Step, Fault)>,
    crashed: bool,
}

/// A [`Storage`] that fails on request. Clones share the same images, counters and
/// faults, so a test keeps one handle while the store owns another.
///
/// ```
/// use microkv_core::testing::{Fault, FaultyStorage, Step};
/// use microkv_core::{Config, Credential, Store};
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
/// # Ok::<(), microkv_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct FaultyStorage {
    state: Arc<Mutex<State>>,
}

impl core::fmt::Debug for FaultyStorage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("FaultyStorage")
            .field("stores", &s.stores)
            .field("loads", &s.loads)
            .field("crashed", &s.crashed)
            .finish_non_exhaustive()
    }
}

fn injected(what: &str) -> Error {
    Error::Io(Box::new(Injected(format!("injected fault: {what}"))))
}

/// The I/O error an injected fault reports.
#[derive(Debug)]
struct Injected(alloc::string::String);

impl core::fmt::Display for Injected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for Injected {}

impl FaultyStorage {
    /// An empty storage without faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// A storage holding `bytes` (durable and visible).
    pub fn with_image(bytes: Vec<u8>) -> Self {
        let storage = Self::default();
        {
            let mut s = storage.state.lock();
            s.durable = Some(bytes.clone());
            s.visible = Some(bytes);
        }
        storage
    }

    /// Arms a fault: the `n`th call of `store` over this storage's life (1-based; see
    /// [`FaultyStorage::stores`]) fails at `step` with `fault`.
    pub fn fail_store(&self, n: u64, step: Step, fault: Fault) {
        self.state.lock().armed.push((n, step, fault));
    }

    /// Disarms every fault not yet triggered.
    pub fn clear_faults(&self) {
        self.state.lock().armed.clear();
    }

    /// How many times `store` was called (including failed calls).
    pub fn stores(&self) -> u64 {
        self.state.lock().stores
    }

    /// How many times `load` was called.
    pub fn loads(&self) -> u64 {
        self.state.lock().loads
    }

    /// Whether a simulated crash happened (every call fails until `restart`).
    pub fn crashed(&self) -> bool {
        self.state.lock().crashed
    }

    /// What a reboot would find now.
    pub fn durable(&self) -> Option<Vec<u8>> {
        self.state.lock().durable.clone()
    }

    /// A fresh storage, as after a reboot: the durable image, no faults, counters at 0.
    /// This handle (and its clones) stay as they are.
    pub fn restart(&self) -> FaultyStorage {
        let durable = self.durable();
        match durable {
            Some(bytes) => Self::with_image(bytes),
            None => Self::new(),
        }
    }
}

impl Storage for FaultyStorage {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        let mut s = self.state.lock();
        if s.crashed {
            return Err(injected("load after a crash"));
        }
        s.loads += 1;
        Ok(s.visible.clone())
    }

    fn store(&self, bytes: &[u8]) -> Result<()> {
        let mut s = self.state.lock();
        if s.crashed {
            return Err(injected("store after a crash"));
        }
        s.stores += 1;
        let n = s.stores;
        let Some(i) = s.armed.iter().position(|&(at, _, _)| at == n) else {
            s.visible = Some(bytes.to_vec());
            s.durable = Some(bytes.to_vec());
            return Ok(());
        };
        let (_, step, fault) = s.armed.swap_remove(i);
        let renamed = step == Step::SyncDir;
        match fault {
            Fault::Error => {
                if renamed {
                    s.visible = Some(bytes.to_vec());
                    s.durable = Some(bytes.to_vec());
                }
            }
            Fault::Crash => s.crashed = true,
            Fault::CrashAfterRenameKeepsNew => {
                s.crashed = true;
                s.durable = Some(bytes.to_vec());
            }
        }
        Err(injected(&format!("{fault:?} at {step:?} of store #{n}")))
    }
}
