//! Per-thread scratch buffers for reads, so that readers on different threads share no
//! cache line on their way to a value.
//!
//! A get decrypts into an arena buffer and decodes from it. Allocating that buffer takes
//! the arena's lock and bumps the arena's reference count, both shared by every thread:
//! with two reader threads those two lines bounced between cores on every get and cost
//! more than the decryption (BENCHMARKS.md, "Parallel readers"). Instead each thread
//! (by its token, under `std`) has a slot: a small buffer in the arena, allocated on first
//! use and wiped after every value, and its own reference to the keyring, refreshed only
//! when a rekey replaced it. A slot is claimed with `try_lock`, never waited for: a reader
//! that finds its slot busy (a token collision, or a read from inside `for_each`'s
//! closure) tries the next few, then takes the ordinary path.
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use zeroize::Zeroize;

use crate::arena::{Arena, SecretBuf};
use crate::crypto::Keyring;
use crate::crypto::SEAL_OVERHEAD;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::format::value::value_aad;
use crate::space::Stored;
use crate::sync::{thread_token, Mutex, MutexGuard};

/// Number of slots: threads beyond this share slots.
const SLOTS: usize = 16;
/// Slots a reader tries, its own first, before it takes the ordinary path.
const PROBES: usize = 4;
/// Plaintexts up to this length (the arena's largest size class) decrypt into the slot;
/// longer ones into a buffer of their own.
const SCRATCH_MAX: usize = 4096;
/// The length of a slot's first buffer. A longer value replaces it with one of the next
/// power of two, so a thread reading only short values holds only a short buffer.
const SCRATCH_MIN: usize = 256;

/// One thread's scratch space.
#[derive(Default)]
pub(crate) struct Slot {
    /// `SCRATCH_MIN` to `SCRATCH_MAX` bytes of the arena, zero between uses.
    buf: Option<SecretBuf>,
    /// The keyring of the given rekey generation.
    keyring: Option<(u64, Arc<Keyring>)>,
    /// A copy of the sealed value being read (not secret: ordinary heap). Copied under the
    /// contents' lock rather than shared: cloning the entry's `Arc` writes its count, so
    /// every read left the entry's line modified in the reader's cache, and the next
    /// reader of that entry on another core had to fetch it from there.
    sealed: Vec<u8>,
}

/// A slot on a cache line of its own.
#[derive(Default)]
#[repr(align(128))]
struct Padded(Mutex<Slot>);

/// The slots of one engine.
#[derive(Default)]
pub(crate) struct Scratch {
    slots: [Padded; SLOTS],
}

impl Scratch {
    /// Whether every slot's buffer reads as zeros (for tests).
    #[cfg(test)]
    pub(crate) fn all_wiped(&self) -> bool {
        self.slots.iter().all(|slot| {
            let slot = slot.0.try_lock().expect("no slot in use");
            slot.buf
                .as_deref()
                .is_none_or(|b| b.iter().all(|&x| x == 0))
        })
    }

    /// The longest slot buffer (for tests: slots grow for longer values).
    #[cfg(test)]
    pub(crate) fn longest_buffer(&self) -> usize {
        (self.slots.iter())
            .filter_map(|slot| slot.0.try_lock()?.buf.as_ref().map(|b| b.len()))
            .max()
            .unwrap_or(0)
    }

    /// Whether some slot has a buffer (for tests: the control of `all_wiped`).
    #[cfg(test)]
    pub(crate) fn any_buffer(&self) -> bool {
        (self.slots.iter()).any(|slot| slot.0.try_lock().is_some_and(|s| s.buf.is_some()))
    }

    /// The calling thread's slot if it is free, else the first free one of the next
    /// [`PROBES`]` - 1` (a thread sharing this one's slot, or a read from inside
    /// `for_each`'s closure on this thread, then still decrypts into a slot).
    pub(crate) fn claim(&self) -> Option<MutexGuard<'_, Slot>> {
        let token = usize::try_from(thread_token()).unwrap_or(0);
        (0..PROBES).find_map(|i| self.slots[token.wrapping_add(i) % SLOTS].0.try_lock())
    }
}

impl Scratch {
    /// Drops every slot's reference to a keyring older than `generation` (after a rekey,
    /// so that the old data key does not outlive it in a slot). Waits for slots in use;
    /// must not be called holding the contents' lock.
    pub(crate) fn forget_keyrings_before(&self, generation: u64) {
        for slot in &self.slots {
            let mut slot = slot.0.lock();
            if matches!(&slot.keyring, Some((g, _)) if *g != generation) {
                slot.keyring = None;
            }
        }
    }
}

impl Slot {
    /// Makes the slot's keyring the one of `generation`, cloning `current` only when the
    /// slot holds another (called under the contents' read lock).
    pub(crate) fn refresh(&mut self, generation: u64, current: &Arc<Keyring>) {
        if !matches!(&self.keyring, Some((g, _)) if *g == generation) {
            self.keyring = Some((generation, current.clone()));
        }
    }

    /// Copies `entry`'s sealed bytes into the slot, with the keyring of `generation`, if
    /// its plaintext fits the scratch buffer; `false` (and nothing copied) otherwise.
    /// Called under the contents' read lock; [`Slot::open_copy`] opens the copy after.
    pub(crate) fn copy(
        &mut self,
        generation: u64,
        current: &Arc<Keyring>,
        entry: &Stored<'_>,
    ) -> bool {
        if entry.plain_len() > SCRATCH_MAX {
            return false;
        }
        self.refresh(generation, current);
        self.sealed.clear();
        entry.append_sealed(&mut self.sealed);
        true
    }

    /// Opens the copy [`Slot::copy`] made (the value of `ns`/`key`) under the keyring it
    /// refreshed, as [`Slot::open`].
    pub(crate) fn open_copy<T>(
        &mut self,
        arena: &Arc<Arena>,
        place: (&str, &str),
        f: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<T> {
        let Slot {
            buf,
            keyring,
            sealed,
        } = self;
        let (_, keyring) = keyring.as_ref().ok_or(Error::Crypto)?;
        open_in(buf, arena, keyring, sealed, place, f)
    }

    /// Opens `entry` (the value of `ns`/`key`) under `keyring` and hands the plaintext to
    /// `f`: in the scratch buffer when it fits (wiped after `f`), in a buffer of its own
    /// otherwise.
    pub(crate) fn open<T>(
        &mut self,
        arena: &Arc<Arena>,
        keyring: &Keyring,
        entry: &Entry,
        place: (&str, &str),
        f: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<T> {
        open_in(&mut self.buf, arena, keyring, &entry.sealed, place, f)
    }
}

/// Opens `sealed` (`nonce || ciphertext || tag`, the value of `ns`/`key`) for `f`, into
/// the slot's buffer `buf` when it fits: the buffer grows to the next power of two for a
/// longer value, up to `SCRATCH_MAX`.
fn open_in<T>(
    buf: &mut Option<SecretBuf>,
    arena: &Arc<Arena>,
    keyring: &Keyring,
    sealed: &[u8],
    (ns, key): (&str, &str),
    f: impl FnOnce(&[u8]) -> Result<T>,
) -> Result<T> {
    let aad = value_aad(ns, key);
    let len = sealed.len().saturating_sub(SEAL_OVERHEAD);
    if len <= SCRATCH_MAX && buf.as_ref().is_none_or(|b| b.len() < len) {
        // The old buffer (if any) is wiped as it is freed; on failure it stays.
        if let Ok(bigger) = arena.alloc(len.next_power_of_two().max(SCRATCH_MIN)) {
            *buf = Some(bigger);
        }
    }
    let out = match buf.as_deref_mut().and_then(|b| b.get_mut(..len)) {
        Some(out) => out,
        None => return f(&keyring.open(arena, &aad, sealed)?),
    };
    // Wiped as the guard drops: after `f`, and also if `f` (a type's `Deserialize`)
    // panics.
    let out = Wipe(out);
    keyring.open_into(&aad, sealed, out.0)?;
    f(out.0)
}

/// A plaintext in a slot, wiped when dropped.
struct Wipe<'a>(&'a mut [u8]);

impl Drop for Wipe<'_> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::{Scratch, PROBES};

    #[test]
    fn a_reader_whose_slot_is_busy_takes_one_of_the_next() {
        let scratch = Scratch::default();
        let held: alloc::vec::Vec<_> = (0..PROBES)
            .map(|i| {
                scratch
                    .claim()
                    .unwrap_or_else(|| panic!("claim {i}: a free slot"))
            })
            .collect();
        assert!(scratch.claim().is_none(), "every probed slot held");
        drop(held);
        assert!(scratch.claim().is_some());
    }
}
