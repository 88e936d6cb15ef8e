//! Events through `tracing`, under the `tracing` feature; without it they compile to
//! nothing. Every event has the target `microkv` and carries only what is safe in a log:
//! sizes, durations, flags, OS errors and file paths, never a key name, a value or a
//! credential (`tests/events.rs` checks a scripted run's events against its secrets).
#![forbid(unsafe_code)]

#[cfg(all(feature = "tracing", feature = "std"))]
extern crate std;

/// `tracing::warn!` with the target `microkv`, or nothing without the feature.
macro_rules! warn_event {
    ($($arg:tt)+) => {
        {
            #[cfg(feature = "tracing")]
            ::tracing::warn!(target: "microkv", $($arg)+);
        }
    };
}

/// `tracing::info!` with the target `microkv`, or nothing without the feature.
macro_rules! info_event {
    ($($arg:tt)+) => {
        {
            #[cfg(feature = "tracing")]
            ::tracing::info!(target: "microkv", $($arg)+);
        }
    };
}

/// `tracing::debug!` with the target `microkv`, or nothing without the feature.
macro_rules! debug_event {
    ($($arg:tt)+) => {
        {
            #[cfg(feature = "tracing")]
            ::tracing::debug!(target: "microkv", $($arg)+);
        }
    };
}

pub(crate) use {debug_event, info_event, warn_event};

/// How long something took, for an event's `ms` field: measured under `std` (no clock
/// without it: the field is then absent).
#[cfg(feature = "tracing")]
pub(crate) struct Timer(#[cfg(feature = "std")] std::time::Instant);

#[cfg(feature = "tracing")]
impl Timer {
    pub(crate) fn start() -> Self {
        Timer(
            #[cfg(feature = "std")]
            std::time::Instant::now(),
        )
    }

    /// Milliseconds since `start`, under `std`.
    pub(crate) fn ms(&self) -> Option<u64> {
        #[cfg(feature = "std")]
        return Some(u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX));
        #[cfg(not(feature = "std"))]
        return None;
    }
}
