//! std platform layer of microkv: the pieces the `no_std` core takes through its seams.
//!
//! Only [`os_pages`] may contain `unsafe` code; every other module of this crate is
//! `#![forbid(unsafe_code)]`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
#[cfg(unix)]
pub mod os_pages;

pub use clock::SystemClock;
#[cfg(unix)]
pub use os_pages::OsPages;
