//! std platform layer of microkv: the pieces the `no_std` core takes through its seams.
#![warn(missing_docs)]

pub mod clock;

pub use clock::SystemClock;
