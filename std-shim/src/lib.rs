//! std platform layer of microkv.
//!
//! Only [`os_pages`] may contain `unsafe` code; every other module of this crate is
//! `#![forbid(unsafe_code)]`.
#![deny(unsafe_code)]

#[cfg(unix)]
pub mod os_pages;

#[cfg(unix)]
pub use os_pages::OsPages;
