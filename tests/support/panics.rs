//! Panics on another thread, for the tests that check a panic leaves a store unchanged and
//! usable (shared with `#[path = "support/panics.rs"] mod panics;`).
use std::sync::Arc;

/// Runs `f` on `shared` from a new thread; whether it panicked there.
pub fn panics_on_a_thread<T: Send + Sync + 'static>(
    shared: &Arc<T>,
    f: impl FnOnce(&T) + Send + 'static,
) -> bool {
    let shared = Arc::clone(shared);
    std::thread::spawn(move || f(&shared)).join().is_err()
}
