//! The thread behind `AutoSave::Periodic` under `std`: it saves a store's unsaved writes
//! about one period after they were made, even when no further write comes to save them.
//!
//! The store handle owns it and stops it when dropped (or closed). The thread holds only
//! a weak reference to the engine, so it never keeps a store alive; it wakes once a
//! period, and saves if anything is unsaved, under the writer lock like any save.
#![forbid(unsafe_code)]

extern crate std;

use alloc::sync::{Arc, Weak};
use core::time::Duration;
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::engine::Engine;

/// The shortest period the thread ticks at (`Periodic(Duration::ZERO)` saves on every
/// write anyway; this keeps the thread from spinning).
const MIN_TICK: Duration = Duration::from_millis(10);

/// A running periodic saver; stops (and is joined) when dropped.
pub(super) struct Flusher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts the thread for `engine`, waking every `period`. `None` if the OS refuses a
    /// thread (an event says so; writes then save only as they come, as without it).
    pub(super) fn start(engine: &Arc<Engine>, period: Duration) -> Option<Flusher> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let weak: Weak<Engine> = Arc::downgrade(engine);
        let signal = stop.clone();
        let tick = period.max(MIN_TICK);
        let spawned = std::thread::Builder::new()
            .name("microkv-saver".into())
            .spawn(move || run(&weak, &signal, tick));
        match spawned {
            Ok(thread) => Some(Flusher {
                stop,
                thread: Some(thread),
            }),
            Err(_e) => {
                crate::event::warn_event!(
                    error = %_e,
                    "no thread for AutoSave::Periodic: writes save only when a later write \
                     comes, or on drop"
                );
                None
            }
        }
    }
}

fn run(engine: &Weak<Engine>, stop: &(Mutex<bool>, Condvar), tick: Duration) {
    let (stopped, wake) = stop;
    loop {
        {
            let guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
            let (guard, _) = wake
                .wait_timeout_while(guard, tick, |stopped| !*stopped)
                .unwrap_or_else(PoisonError::into_inner);
            if *guard {
                return;
            }
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        // A failure is reported by an event; the writes stay unsaved, for the next tick.
        let _ = engine.save_pending("AutoSave::Periodic");
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread never panics (a save returns its errors); a join error would
            // only repeat that.
            let _ = thread.join();
        }
    }
}
