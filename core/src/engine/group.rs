//! Group commit: durable puts from several threads share one journal append and its sync.
//!
//! A put on a store that saves on every write (`AutoSave::OnEveryWrite`, with storage)
//! encodes its value into the arena and queues itself. The put at the front of the queue
//! leads: it takes the writer lock, commits every put queued by then as one write
//! ([`Exclusive::apply`]: one journal record, one sync), hands each its outcome and wakes
//! them. The others wait for their outcome (the leveldb writer queue). Puts that arrive
//! while a sync is in flight queue behind it, the first of them waits for the writer lock
//! as the next leader, and the next sync makes them all durable.
//!
//! Each put still returns `Ok` only once the record holding it is durable, and readers
//! still see it only then (the record is applied after its append, as for one write). An
//! append that fails fails every put it covered: none is applied, or, for
//! `Error::NotDurable`, all are (memory keeps them and the next write saves a snapshot),
//! as for the writes of one transaction.
#![forbid(unsafe_code)]

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;

use super::Engine;
use crate::arena::SecretBuf;
use crate::config::AutoSave;
use crate::entry::{Change, Entry};
use crate::error::{Error, IoError, Result};
use crate::sync::{yield_now, Mutex, Signal};

/// One queued put: where it goes, its encoded value (taken by the committer), its TTL,
/// and, once committed, its outcome.
struct Put {
    ns: String,
    key: String,
    ttl: Option<Duration>,
    plain: Mutex<Option<SecretBuf>>,
    outcome: Mutex<Option<Result<()>>>,
}

/// The puts queued for the next commit, in arrival order (the first leads), and where
/// they wait for their outcome.
#[derive(Default)]
pub(super) struct Queue {
    puts: Mutex<Vec<Arc<Put>>>,
    done: Signal,
    /// Puts between their start and their return now, and the most there were since the
    /// last batch was taken (a leader expects that many in its batch: see
    /// [`Queue::wait_for_company`]).
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

/// How many times a leader lets other threads run while it waits for the puts it
/// expects (each a `yield`: 256 took 47-66 us on an idle 2-core VM, where a sync costs
/// 200 us there). 32 were too few there: the threads its last batch woke had not all
/// been scheduled again, and 4 writers got 2.4x one writer's durable puts (BENCHMARKS.md,
/// "Session 14"). A leader waits that long only once after writers stop: the next batch
/// expects only the puts under way then.
const COMPANY_TRIES: usize = 256;

/// A put under way, counted out of [`Queue::in_flight`] when it drops (at the put's
/// return, or its unwinding).
struct UnderWay<'a>(&'a AtomicUsize);

impl Drop for UnderWay<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Queue {
    /// Counts a put in, until the returned guard drops.
    fn enter(&self) -> UnderWay<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.most_in_flight.fetch_max(now, Ordering::AcqRel);
        UnderWay(&self.in_flight)
    }

    /// Lets the threads that put again as soon as their last put returned (the ones the
    /// last batch's leader and its batch woke) queue before the batch is taken: while
    /// fewer puts are queued than were under way at once since the last batch, the leader
    /// yields, a bounded number of times. A lone writer never waits (at most one put was
    /// ever under way); four writers fill batches of four instead of three, the one that
    /// led the last batch no longer always missing the next.
    fn wait_for_company(&self) {
        let expected = self.most_in_flight.swap(0, Ordering::AcqRel);
        if expected > 1 {
            for _ in 0..COMPANY_TRIES {
                if self.puts.lock().len() >= expected {
                    break;
                }
                yield_now();
            }
        }
        self.most_in_flight
            .fetch_max(self.in_flight.load(Ordering::Acquire), Ordering::AcqRel);
    }
}

impl Engine {
    /// Whether puts go through the group commit: every write is made durable before it
    /// returns (`OnEveryWrite`, with storage, writable).
    pub(crate) fn groups_puts(&self) -> bool {
        self.autosave == AutoSave::OnEveryWrite && self.storage.is_some() && !self.read_only
    }

    /// Puts the encoded value `plain` under `ns`/`key` (to expire `ttl` after the commit's
    /// time), committed together with the puts other threads queued meanwhile. Errors as
    /// [`Engine::lock_write`] and [`Exclusive::apply`]; a failed commit fails every put it
    /// covered alike.
    pub(crate) fn put_grouped(
        &self,
        ns: &str,
        key: &str,
        plain: SecretBuf,
        ttl: Option<Duration>,
    ) -> Result<()> {
        // Refused before queueing: a queued put is committed by whoever takes the lock.
        if self.held_here() {
            return Err(Error::Reentrant);
        }
        let _under_way = self.queue.enter();
        let mine = Arc::new(Put {
            ns: String::from(ns),
            key: String::from(key),
            ttl,
            plain: Mutex::new(Some(plain)),
            outcome: Mutex::new(None),
        });
        let queue = &self.queue;
        let mut waiting = queue.puts.lock();
        waiting.push(mine.clone());
        loop {
            if let Some(outcome) = mine.outcome.lock().take() {
                return outcome;
            }
            if waiting
                .first()
                .is_some_and(|first| Arc::ptr_eq(first, &mine))
            {
                break;
            }
            waiting = queue.done.wait(&queue.puts, waiting);
        }
        drop(waiting);
        // The leader: the puts queued behind it wait until it hands them their outcome.
        let mut g = self.lock_here()?;
        if let Err(e) = g.lock_storage() {
            let mut waiting = queue.puts.lock();
            waiting.retain(|p| !Arc::ptr_eq(p, &mine));
            // The next put in the queue leads now.
            queue.done.notify_all();
            return Err(e);
        }
        queue.wait_for_company();
        let batch = core::mem::take(&mut *queue.puts.lock());
        let mut sealed: Vec<(&Put, Entry)> = Vec::with_capacity(batch.len());
        for put in &batch {
            let plain = put.plain.lock().take();
            let entry = plain.ok_or(Error::Crypto).and_then(|mut plain| {
                let expires_at = g.expiry(put.ttl)?;
                Entry::seal(g.keyring(), &put.ns, &put.key, &mut plain, expires_at)
            });
            match entry {
                Ok(entry) => sealed.push((put, entry)),
                Err(e) => *put.outcome.lock() = Some(Err(e)),
            }
        }
        let covered: Vec<&Put> = sealed.iter().map(|(put, _)| *put).collect();
        let changes = sealed.into_iter().map(|(put, entry)| Change {
            ns: &put.ns,
            key: &put.key,
            entry: Some(entry),
        });
        let outcome = g.apply(changes);
        for put in covered {
            *put.outcome.lock() = Some(match &outcome {
                Ok(()) => Ok(()),
                Err(e) => Err(for_another_writer(e)),
            });
        }
        // A put checks its outcome under the queue's lock before it waits: taking the lock
        // once after setting them, none misses the wake-up.
        drop(queue.puts.lock());
        queue.done.notify_all();
        // The waiters are woken before the next leader gets the writer lock: the threads
        // that put again at once queue in time for its batch, where else they would miss
        // it and every other sync would cover only them.
        drop(g);
        let mine = mine.outcome.lock().take();
        // Set above: this put led the batch.
        mine.unwrap_or(Err(Error::Crypto))
    }

    /// How many puts wait for a commit (for tests that line writers up).
    #[cfg(test)]
    pub(crate) fn queued_puts(&self) -> usize {
        self.queue.puts.lock().len()
    }
}

/// The error of a failed commit as each other put it covered gets it: the same variant
/// and text (an I/O error keeps its kind and message, not its OS code or source).
fn for_another_writer(e: &Error) -> Error {
    use Error::*;
    match e {
        KeyNotFound => KeyNotFound,
        WrongPassword => WrongPassword,
        CorruptStore(why) => CorruptStore(why.clone()),
        Tampered => Tampered,
        UnsupportedStoreVersion { found, expected } => UnsupportedStoreVersion {
            found: *found,
            expected: *expected,
        },
        LegacyStore { version } => LegacyStore { version: *version },
        InvalidKdfParams(why) => InvalidKdfParams(why.clone()),
        KdfLimitExceeded { cost, limit } => KdfLimitExceeded {
            cost: *cost,
            limit: *limit,
        },
        TooLarge { len, max } => TooLarge {
            len: *len,
            max: *max,
        },
        CredentialChanged => CredentialChanged,
        NotDurable(io) => NotDurable(io_copy(io)),
        InvalidKey(why) => InvalidKey(why),
        InsecureKeyFile { mode } => InsecureKeyFile { mode: *mode },
        NoCredential(why) => NoCredential(why.clone()),
        Keychain(source) => Error::io(Copied(source.to_string())),
        Crypto => Crypto,
        Random => Random,
        SecureAlloc => SecureAlloc,
        Forked => Forked,
        Serialization(why) => Serialization(why.clone()),
        Io(io) => Io(io_copy(io)),
        UnexpectedFile(why) => UnexpectedFile(why.clone()),
        Locked => Locked,
        AlreadyExists => AlreadyExists,
        NotFound => NotFound,
        ReadOnly => ReadOnly,
        NoPath => NoPath,
        Reentrant => Reentrant,
        NoClock => NoClock,
        Aborted(why) => Aborted(why.clone()),
        Expired => Expired,
    }
}

/// An I/O error's copy: its kind (under `std`) and its message.
fn io_copy(io: &IoError) -> IoError {
    #[cfg(feature = "std")]
    return IoError::new(io.kind(), io.to_string());
    #[cfg(not(feature = "std"))]
    return IoError(alloc::boxed::Box::new(Copied(io.to_string())));
}

/// An error's message, copied.
#[derive(Debug)]
struct Copied(String);

impl core::fmt::Display for Copied {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for Copied {}
