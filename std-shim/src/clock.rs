//! [`SystemClock`]: wall-clock time for TTLs (it lives in `microkv-core` under its `std`
//! feature, so that a core store never runs without a clock; re-exported here).

pub use microkv_core::SystemClock;
