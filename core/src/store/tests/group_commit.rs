//! Group commit: durable puts from several threads that wait while a sync is in flight
//! share the next one, and a failed one fails every put it covered.
extern crate std;

use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::{AutoSave, Config};
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::storage::{MemoryStorage, Storage};
use crate::store::Store;

/// A [`MemoryStorage`] whose first append waits for `gate` to open, whose append number
/// `fail_at` fails (`Io`: nothing written; `NotDurable` if `not_durable`: written), and
/// which counts appends.
#[derive(Clone, Default)]
struct Gated {
    images: MemoryStorage,
    appends: Arc<AtomicU64>,
    gate: Arc<AtomicBool>,
    fail_at: Arc<AtomicU64>,
    not_durable: bool,
}

impl Storage for Gated {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        self.images.load()
    }
    fn store(&self, bytes: &[u8]) -> Result<()> {
        self.images.store(bytes)
    }
    fn append(&self, keep: u64, bytes: &[u8]) -> Result<bool> {
        let n = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 1 {
            wait_for(|| self.gate.load(Ordering::SeqCst));
        }
        if n == self.fail_at.load(Ordering::SeqCst) {
            let e = std::io::Error::other("injected: sync failed");
            if !self.not_durable {
                return Err(Error::Io(e));
            }
            self.images.append(keep, bytes)?;
            return Err(Error::NotDurable(e));
        }
        self.images.append(keep, bytes)
    }
    fn load_journal(&self) -> Result<Vec<u8>> {
        self.images.load_journal()
    }
}

fn wait_for(done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out");
        thread::sleep(Duration::from_millis(1));
    }
}

fn open(storage: &Gated) -> Store {
    let config = Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    };
    Store::with_storage(storage.clone(), Credential::key([3; 32]), config).unwrap()
}

/// Thread 0 puts `k0` and holds the first append (its sync) until seven more threads
/// have queued their puts `k1`..`k7`; then the gate opens. Returns every put's outcome.
fn eight_puts(storage: &Gated) -> (Store, Vec<Result<()>>) {
    let db = open(storage);
    let outcomes = thread::scope(|s| {
        let first = s.spawn(|| db.put("k0", &0u32));
        wait_for(|| storage.appends.load(Ordering::SeqCst) == 1);
        let rest: Vec<_> = (1..8u32)
            .map(|i| {
                let db = &db;
                s.spawn(move || db.put(&format!("k{i}"), &i))
            })
            .collect();
        wait_for(|| db.engine.queued_puts() == 7);
        storage.gate.store(true, Ordering::SeqCst);
        let mut outcomes = alloc::vec![first.join().unwrap()];
        outcomes.extend(rest.into_iter().map(|t| t.join().unwrap()));
        outcomes
    });
    (db, outcomes)
}

#[test]
fn puts_waiting_while_a_sync_is_in_flight_share_the_next_one() {
    let storage = Gated::default();
    let (db, outcomes) = eight_puts(&storage);
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    // One append for k0, one for the seven that queued behind it (not seven).
    assert_eq!(storage.appends.load(Ordering::SeqCst), 2);
    let fresh = open(&storage);
    for i in 0..8u32 {
        assert_eq!(db.get::<u32>(&format!("k{i}")).unwrap(), Some(i));
        assert_eq!(fresh.get::<u32>(&format!("k{i}")).unwrap(), Some(i), "k{i}");
    }
}

#[test]
fn a_failed_shared_sync_fails_every_put_it_covered_and_applies_none() {
    let storage = Gated::default();
    storage.fail_at.store(2, Ordering::SeqCst);
    let (db, outcomes) = eight_puts(&storage);
    assert!(outcomes[0].is_ok());
    for (i, outcome) in outcomes.iter().enumerate().skip(1) {
        assert!(matches!(outcome, Err(Error::Io(_))), "k{i}: {outcome:?}");
        assert_eq!(db.get::<u32>(&format!("k{i}")).unwrap(), None, "k{i}");
    }
    assert_eq!(storage.appends.load(Ordering::SeqCst), 2);
    let fresh = open(&storage);
    assert_eq!(fresh.get::<u32>("k0").unwrap(), Some(0));
    for i in 1..8 {
        assert_eq!(fresh.get::<u32>(&format!("k{i}")).unwrap(), None, "k{i}");
    }
    // The store goes on: the next put is durable.
    drop(fresh);
    db.put("after", &9u32).unwrap();
    assert_eq!(open(&storage).get::<u32>("after").unwrap(), Some(9));
}

#[test]
fn a_shared_sync_not_known_durable_is_not_durable_for_every_put_it_covered() {
    let storage = Gated {
        not_durable: true,
        ..Default::default()
    };
    storage.fail_at.store(2, Ordering::SeqCst);
    let (db, outcomes) = eight_puts(&storage);
    assert!(outcomes[0].is_ok());
    for (i, outcome) in outcomes.iter().enumerate().skip(1) {
        assert!(
            matches!(outcome, Err(Error::NotDurable(_))),
            "k{i}: {outcome:?}"
        );
        // Applied: memory keeps them, and the next write saves a snapshot holding them.
        assert_eq!(db.get::<u32>(&format!("k{i}")).unwrap(), Some(i as u32));
    }
    db.put("after", &9u32).unwrap();
    let fresh = open(&storage);
    for i in 0..8u32 {
        assert_eq!(fresh.get::<u32>(&format!("k{i}")).unwrap(), Some(i), "k{i}");
    }
}
