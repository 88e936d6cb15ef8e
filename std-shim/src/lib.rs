//! std platform layer of microkv: the pieces the `no_std` core takes through its seams.
//!
//! Only [`os_pages`] may contain `unsafe` code; every other module of this crate is
//! `#![forbid(unsafe_code)]`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod file_storage;
#[cfg(unix)]
pub mod os_pages;

pub use clock::SystemClock;
#[cfg(feature = "testing")]
pub use file_storage::FailPoint;
pub use file_storage::FileStorage;
#[cfg(unix)]
pub use os_pages::OsPages;
