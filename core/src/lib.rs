//! `no_std + alloc` core of microkv: the secure arena, sealing, and the store engine.
//!
//! Most users want the `microkv` crate, which adds files, locking, the system clock and
//! locked OS pages on top of this one. This crate runs anywhere with an allocator: pages
//! come from a [`PageSource`], time from a [`Clock`], snapshots go to a [`Storage`].
#![no_std]
#![warn(missing_docs)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod arena;
mod clock;
mod codec;
mod config;
mod crypto;
mod engine;
mod entry;
mod error;
mod format;
mod journal;
mod kdf;
mod keys;
mod secret;
mod storage;
mod store;
mod sync;
#[cfg(feature = "testing")]
pub mod testing;
mod tree;
mod txn;

#[cfg(all(feature = "std", unix))]
pub use arena::{harden_process, OsPages};
pub use arena::{Arena, HeapPages, MemoryPolicy, MemoryReport, PageSource, Region, SecretBuf};
#[cfg(feature = "std")]
pub use clock::SystemClock;
pub use clock::{Clock, ManualClock};
pub use codec::ValueEncoding;
pub use config::{AutoSave, Config, LockMode};
pub use error::{AllocFailure, Error, IoError, Result};
pub use format::{MAGIC, MAX_STORE_LEN, VERSION};
pub use journal::MAX_JOURNAL_LEN;
pub use kdf::{
    Credential, KdfLimit, KdfParams, MAX_ARGON2_PASSES, MAX_KDF_MEMORY_KIB, MAX_KDF_PARALLELISM,
};
pub use secret::{Secret, SecretBytes, SecretString};
pub use storage::{MemoryStorage, Storage};
pub use store::Store;
pub use tree::Tree;
pub use txn::Txn;
