//! `no_std + alloc` core of microkv.
#![no_std]
#![warn(missing_docs)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod arena;
pub mod error;
mod sync;

pub use arena::{Arena, HeapPages, MemoryPolicy, MemoryReport, PageSource, Region, SecretBuf};
pub use error::{AllocFailure, Error, Result};
