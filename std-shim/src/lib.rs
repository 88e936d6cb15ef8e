//! std platform layer of microkv: the pieces the `no_std` core takes through its seams.
#![warn(missing_docs)]

pub mod clock;
pub mod file_storage;

pub use clock::SystemClock;
pub use file_storage::{FailPoint, FileStorage};
