//! std platform layer of microkv: the pieces the `no_std` core takes through its seams.
//!
//! OS pages (secret memory, with locked anonymous pages as the fallback), process
//! hardening and the system clock live in `microkv-core` under its `std` feature, so that no
//! core constructor falls back to heap pages or to no clock: `microkv_core::OsPages` and
//! `microkv_core::harden_process` (the facade re-exports them as `microkv::OsPages` and
//! `microkv::harden_process`).
// Only the Windows module of the file layer (file_storage/windows.rs) may use `unsafe`.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod clock;
pub mod file_storage;

pub use clock::SystemClock;
pub use file_storage::FileStorage;
