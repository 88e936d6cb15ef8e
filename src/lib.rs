//! microkv facade.
pub use microkv_core::*;
