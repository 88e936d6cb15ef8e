//! `no_std + alloc` core of microkv: the secure arena, sealing, and the store engine.
//!
//! Most users want the `microkv` crate, which adds files, locking, the system clock and
//! locked OS pages on top of this one. This crate runs anywhere with an allocator: pages
//! come from a [`PageSource`], time from a [`Clock`], snapshots go to a [`Storage`].
//!
//! The `microkv` facade re-exports most of this crate's items, with these docs: their
//! examples name them by the facade's paths (`microkv::Store`). With this crate alone,
//! read `microkv_core` for `microkv`; each example's hidden first line,
//! `use microkv_core as microkv;`, does exactly that.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![deny(unsafe_code)]

extern crate alloc;

mod arena;
mod clock;
mod codec;
mod config;
mod credential;
mod crypto;
mod engine;
mod entry;
mod error;
mod event;
mod format;
mod kdf;
mod keys;
mod secret;
mod space;
mod storage;
mod store;
mod sync;
mod tree;
mod txn;

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use arena::harden_process;
#[cfg(all(feature = "std", any(unix, windows)))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "std", any(unix, windows)))))]
pub use arena::OsPages;
pub use arena::{Arena, HeapPages, MemoryPolicy, MemoryReport, PageSource, Region, SecretBuf};
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use clock::SystemClock;
pub use clock::{Clock, ManualClock};
pub use config::{AutoSave, Config, LockMode, Refresh};
pub use credential::Credential;
pub use crypto::chacha20poly1305_open_in_place;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use error::IoContext;
pub use error::{AllocFailure, Error, IoError, Result};
pub use format::header::{MAGIC, VERSION};
pub use format::journal::MAX_JOURNAL_LEN;
pub use format::position::Position;
pub use format::snapshot::MAX_STORE_LEN;
pub use kdf::{KdfLimit, KdfParams, MAX_ARGON2_PASSES, MAX_KDF_MEMORY_KIB, MAX_KDF_PARALLELISM};
/// The `secrecy` crate this one speaks: [`SecretBytes`] implements its `ExposeSecret`,
/// a [`Credential`] is made from its `SecretString`, values read as its types.
pub use secrecy;
#[allow(deprecated)]
pub use secret::SecretString;
pub use secret::{Secret, SecretBytes};
pub use storage::{MemoryStorage, Snapshot, SnapshotFile, Storage, WriteLock};
pub use store::Store;
pub use tree::Tree;
pub use txn::Txn;
