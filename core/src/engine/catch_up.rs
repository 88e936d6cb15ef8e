//! Catching up with other handles of a shared storage (docs/DECISIONS.md, 32): before a
//! write, a save, a `reload` or a refresh, a handle takes the storage's write lock and
//! brings its contents up to what the storage holds.
//!
//! - The snapshot's first 176 bytes say which snapshot is in place: its key part (bytes
//!   `0..144`) must still be the one this handle knows (`Error::CredentialChanged`
//!   otherwise: another handle rotated the credential), and its body nonce (`144..168`,
//!   new at every save) names it. No snapshot: `Error::NotFound` (it was deleted).
//! - The same snapshot: the journal records appended after this handle's cursor are
//!   replayed (chained to the cursor, so only the records that follow it authenticate;
//!   the whole journal when the cursor is at its start). A journal shorter than the
//!   cursor lost committed records (deleted or cut under us): everything is read afresh,
//!   as below, so the handle holds what a fresh open of the files would.
//! - Another snapshot: it is read and decrypted with this handle's keyring (same key
//!   part, so the same data key), then its journal replayed, and it replaces the
//!   contents.
//!
//! Either way the keys this handle changed and has not yet made durable (`Pending`) keep
//! this handle's values: its save, later, writes them over what the others committed.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;
use hashbrown::HashSet;

use super::contents::replace_in;
use super::open::replay_journal;
use super::{Engine, Exclusive};
use crate::config::Refresh;
use crate::entry::{Change, Name};
use crate::error::{Error, Result};
use crate::format::header::{same_keys, HEADER_LEN, KEY_PART_LEN};
use crate::format::journal::{self, Cursor, MAX_JOURNAL_LEN};
use crate::format::snapshot;
use crate::space::Space;

/// The keys (namespace, key) a shared handle changed in memory and has not made durable.
pub(crate) type Pending = HashSet<(String, Name)>;

impl Exclusive<'_> {
    /// Takes the storage's write lock (held until this guard drops), if there is a
    /// storage, and catches up if it is shared.
    pub(crate) fn lock_storage(&mut self) -> Result<()> {
        let Some(storage) = self.engine.storage.as_ref() else {
            return Ok(());
        };
        self._storage_lock = storage.lock_writes()?;
        if self.engine.shared {
            self.catch_up()?;
        }
        Ok(())
    }

    /// Brings the contents up to what the storage holds (see the module's text). On an
    /// error the contents are as they were, or hold a prefix of the records committed
    /// since; the cursor is then forgotten, so the next catch-up reads the whole store.
    fn catch_up(&mut self) -> Result<()> {
        let result = self.try_catch_up();
        if let Err(_e) = &result {
            self.journal = None;
            #[cfg(feature = "tracing")]
            match _e {
                Error::CredentialChanged => crate::event::warn_event!(
                    "catch-up refused: another handle changed the store's credential (CredentialChanged)"
                ),
                other => crate::event::warn_event!(error = %other, "catch-up with other handles failed"),
            }
        }
        self.engine.mark_refreshed();
        result
    }

    fn try_catch_up(&mut self) -> Result<()> {
        let storage = self.engine.storage.as_ref().ok_or(Error::NoPath)?;
        let Some(known) = self.stored_keys else {
            // Nothing saved yet by this handle (a new store's first save is under way).
            return Ok(());
        };
        let head = storage.load_head(HEADER_LEN)?.ok_or(Error::NotFound)?;
        if head.len() < HEADER_LEN {
            return Err(Error::CorruptStore(alloc::format!(
                "store file of {} bytes, shorter than its header",
                head.len()
            )));
        }
        if !same_keys(&head[..KEY_PART_LEN], &known) {
            return Err(Error::CredentialChanged);
        }
        match self.journal {
            Some(at) if at.extends(&head) => self.replay_tail(at),
            _ => self.reload_snapshot(&known),
        }
    }

    /// Replays what the journal holds past `at` (the snapshot in place is `at`'s).
    fn replay_tail(&mut self, at: Cursor) -> Result<()> {
        let engine = self.engine;
        let storage = engine.storage.as_ref().ok_or(Error::NoPath)?;
        let len = storage.journal_len()?;
        if len == at.len {
            return Ok(());
        }
        if len < at.len {
            // Records committed to this snapshot are gone from the journal (deleted or cut
            // under us): read everything afresh, as a fresh open would.
            let known = self.stored_keys.ok_or(Error::NoPath)?;
            return self.reload_snapshot(&known);
        }
        // The whole journal, header included, when none of it was read yet (`at.len` 0).
        let tail = storage.load_journal_from(at.len, MAX_JOURNAL_LEN)?;
        let keyring = self.keyring().clone();
        let pending = self.save.pending.take();
        let mut contents = engine.contents.write();
        // Every directory chunk checked first: a record then applies whole.
        let checked = contents.spaces.values().try_for_each(Space::check);
        let replayed = checked.and_then(|()| {
            journal::replay(&keyring, at, &tail, |ns, key, entry| {
                match is_pending(&pending, ns, key) {
                    true => Ok(()),
                    false => contents.set(ns, key, entry),
                }
            })
        });
        drop(contents);
        self.save.pending = pending;
        self.journal = Some(replayed?);
        Ok(())
    }

    /// Reads the snapshot in place and its journal, and makes them the contents (this
    /// handle's pending keys kept).
    fn reload_snapshot(&mut self, known: &[u8; KEY_PART_LEN]) -> Result<()> {
        let engine = self.engine;
        let storage = engine.storage.as_ref().ok_or(Error::NoPath)?;
        let bytes = storage
            .load_at_most(snapshot::MAX_STORE_LEN)?
            .ok_or(Error::NotFound)?;
        if !bytes
            .get(..KEY_PART_LEN)
            .is_some_and(|part| same_keys(part, known))
        {
            return Err(Error::CredentialChanged);
        }
        let keyring = self.keyring().clone();
        let snapshot::Opened {
            mut spaces,
            sequence,
            len,
            cursor,
            key_part,
        } = snapshot::decode_with(&keyring, &engine.arena, bytes)?;
        let at = replay_journal(&**storage, &keyring, cursor, |ns, key, entry| {
            replace_in(&mut spaces, ns, key, entry, false).map(drop)
        })?;
        let mut contents = engine.contents.write();
        if let Some(pending) = &self.save.pending {
            for (ns, key) in pending {
                let mine = match contents.spaces.get(ns.as_str()) {
                    Some(space) => space.get(key)?,
                    None => None,
                };
                replace_in(&mut spaces, ns, key, mine.map(|e| e.to_entry()), false)?;
            }
        }
        contents.spaces = spaces;
        drop(contents);
        self.journal = Some(at);
        self.sequence = sequence;
        self.snapshot_len = len;
        // The file's own (the same keys; a v1 file's version until a save replaces it).
        self.stored_keys = Some(key_part);
        Ok(())
    }

    /// Records `changes` as pending (not yet durable) on a shared storage; returns the
    /// keys that were not pending before, for [`Exclusive::forget_pending`] should the
    /// changes be undone.
    pub(super) fn note_pending(&mut self, changes: &[Change<'_>]) -> Vec<(String, Name)> {
        let Some(pending) = &mut self.save.pending else {
            return Vec::new();
        };
        (changes.iter())
            .map(|c| (String::from(c.ns), Name::from(c.key)))
            .filter(|k| pending.insert(k.clone()))
            .collect()
    }

    /// Undoes [`Exclusive::note_pending`] for `new` (their writes were undone).
    pub(super) fn forget_pending(&mut self, new: Vec<(String, Name)>) {
        if let Some(pending) = &mut self.save.pending {
            for key in new {
                pending.remove(&key);
            }
        }
    }

    /// Every pending change is durable now (a save wrote them all).
    pub(super) fn clear_pending(&mut self) {
        if let Some(pending) = &mut self.save.pending {
            pending.clear();
        }
    }
}

/// Whether `ns`/`key` is one of this handle's pending keys.
fn is_pending(pending: &Option<Pending>, ns: &str, key: &str) -> bool {
    pending
        .as_ref()
        .is_some_and(|p| !p.is_empty() && p.contains(&(String::from(ns), Name::from(key))))
}

impl Engine {
    /// Catches up with what other handles committed, now ([`crate::Store::reload`]): on
    /// a shared storage, under its write lock. Nothing to do on a storage this handle owns
    /// or without storage. `Error::Reentrant` from inside one of the store's closures.
    pub(crate) fn reload(&self) -> Result<()> {
        if !self.shared {
            return Ok(());
        }
        self.lock_here()?.lock_storage()
    }

    /// Catches up before a read if `Config::refresh` says it is due. A read from inside
    /// one of the store's closures (this thread holds the writer lock, caught up when it
    /// took it) does not.
    pub(crate) fn refresh_if_due(&self) -> Result<()> {
        if !self.shared {
            return Ok(());
        }
        let due = match self.refresh {
            Refresh::Never => false,
            Refresh::OnEveryRead => true,
            Refresh::Every(every) => match self.clock_reading() {
                Some(now) => {
                    let every = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
                    let last = self
                        .refreshed_at
                        .load(core::sync::atomic::Ordering::Relaxed);
                    // A clock stepped back before the last catch-up: due too.
                    now < last || now - last >= every
                }
                None => true,
            },
        };
        if !due {
            return Ok(());
        }
        match self.reload() {
            Err(Error::Reentrant) => Ok(()),
            other => other,
        }
    }

    /// The clock as it reads, in ms, without the store's high-water mark: a read that
    /// checks whether a refresh is due writes nothing other readers share.
    fn clock_reading(&self) -> Option<u64> {
        let ms = self.clock.as_ref()?.now().as_millis();
        Some(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// Notes the time of a catch-up (for `Refresh::Every`).
    fn mark_refreshed(&self) {
        if let (Refresh::Every(_), Some(now)) = (self.refresh, self.clock_reading()) {
            (self.refreshed_at).store(now, core::sync::atomic::Ordering::Relaxed);
        }
    }
}
