//! How the contents reach storage: writes applied together and autosaved (a journal
//! record or a snapshot), snapshots, saves, and re-encryption under new keys.
//!
//! Readers never see a write that is not committed. A journaled write is appended (and
//! durable) before it is applied to the contents; a write that saves a whole snapshot is
//! applied, saved and, if the save fails, undone, all under the contents' write lock, so
//! readers wait for that save (the journal-less and periodic cases).
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use hashbrown::HashMap;

use super::{Contents, Engine, Exclusive, Now};
use crate::arena::Arena;
use crate::config::AutoSave;
use crate::credential::Credential;
use crate::entry::{Change, Entry};
use crate::error::{Error, Result};
use crate::format::journal::{self, Cursor};
use crate::format::snapshot;
use crate::kdf::KdfParams;
use crate::keys::new_keys;
use crate::space::Space;
use crate::sync::Once;

/// The journal length past which an `OnEveryWrite` store writes a new snapshot: half the
/// snapshot, at least 64 KiB, at most 8 MiB. Opening reads the journal after the snapshot,
/// so this bounds the extra work of an open to about half of it; a record larger than
/// this is not journaled at all (the write saves a snapshot).
fn compaction_limit(snapshot_len: usize) -> u64 {
    const MIN: usize = 64 << 10;
    const MAX: usize = journal::MAX_COMPACTION_BOUND as usize;
    (snapshot_len / 2).clamp(MIN, MAX) as u64
}

impl Exclusive<'_> {
    /// Applies writes together, then autosaves: with `OnEveryWrite`, one journal record
    /// for all of them when the storage keeps a journal, a snapshot otherwise. If that
    /// fails, every write is undone and the error returned: a write that returns `Err`
    /// did not happen. The exception says so itself: `Error::NotDurable` means the
    /// snapshot holding the writes is in place, and memory keeps them too.
    pub(crate) fn apply<'c>(
        &mut self,
        changes: impl IntoIterator<Item = Change<'c>>,
    ) -> Result<()> {
        let mut changes = changes.into_iter().peekable();
        if changes.peek().is_none() {
            return Ok(());
        }
        let engine = self.engine;
        let changes: Vec<Change<'c>> = changes.collect();
        // A v2 file's directory chunks the changes read, checked before anything is
        // written: after this, applying them to memory cannot fail. One change to memory
        // alone needs no check: it applies whole or fails whole by itself (the chunk is
        // read before the entry's slot changes: `Space::insert`, `Space::remove`).
        let to_memory = !self.saves_on_write();
        if !to_memory || changes.len() > 1 {
            engine.contents.read().check(&changes)?;
        }
        if to_memory {
            let newly_pending = self.note_pending(&changes);
            if let Err(e) = engine.contents.write().replace_all(changes) {
                self.forget_pending(newly_pending);
                return Err(e);
            }
            self.dirty = true;
            return Ok(());
        }
        if let Some((record, next)) = self.journal_record(&changes)? {
            match self.append(&record, next) {
                Ok(true) => {
                    engine.contents.write().replace_all(changes)?;
                    self.compact_if_long(next);
                    return Ok(());
                }
                Ok(false) => {}
                Err(Error::NotDurable(e)) => {
                    // The record may be on disk for a fresh open, or not: the write
                    // happened (memory keeps it), and the next write saves a snapshot
                    // that holds it.
                    self.note_pending(&changes);
                    engine.contents.write().replace_all(changes)?;
                    self.dirty = true;
                    return Err(Error::NotDurable(e));
                }
                Err(e) => return Err(e),
            }
        }
        let newly_pending = self.note_pending(&changes);
        let mut contents = engine.contents.write();
        let was_dirty = self.dirty;
        self.dirty = true;
        let undo: Vec<Change<'c>> = changes
            .into_iter()
            .map(|c| {
                Ok(Change {
                    entry: contents.replace(c.ns, c.key, c.entry)?,
                    ..c
                })
            })
            .collect::<Result<_>>()?;
        if let Err(e) = self.autosave(&mut contents) {
            if matches!(e, Error::NotDurable(_)) {
                // The snapshot holding the write is in place: the write happened.
                return Err(e);
            }
            // Checked above: undoing cannot fail either.
            contents.replace_all(undo.into_iter().rev())?;
            self.dirty = was_dirty;
            self.forget_pending(newly_pending);
            return Err(e);
        }
        if !self.dirty {
            // Saved: the snapshot left out what had expired, and so does memory.
            if let Some(now) = self.now() {
                // The write is durable whatever this does: memory holds the snapshot just
                // saved, whose chunks this checks (they are ours, and do not fail).
                let _ = contents.purge_expired(now);
            }
        }
        Ok(())
    }

    /// Whether a write may save (and so may fail after changing memory).
    fn saves_on_write(&self) -> bool {
        matches!(
            self.engine.autosave,
            AutoSave::OnEveryWrite | AutoSave::Periodic(_)
        )
    }

    /// The journal record of `changes` and the cursor after it, when this write goes to
    /// the journal: `OnEveryWrite`, a storage that keeps a journal, a known position in
    /// it, and a record that is not too large.
    fn journal_record(&self, changes: &[Change<'_>]) -> Result<Option<(Vec<u8>, Cursor)>> {
        let at = match self.journal {
            Some(at) if self.journaling && self.engine.autosave == AutoSave::OnEveryWrite => at,
            _ => return Ok(None),
        };
        let (bytes, next) = journal::encode(self.keyring(), &at, changes)?;
        let limit = compaction_limit(self.snapshot_len);
        Ok((bytes.len() as u64 <= limit).then_some((bytes, next)))
    }

    /// Appends a record durably: `Ok(true)` once it is committed, `Ok(false)` if the
    /// storage keeps no journal (nothing was written: the write saves a snapshot), `Err`
    /// if the record is not committed, `Error::NotDurable` if that is not known.
    fn append(&mut self, record: &[u8], next: Cursor) -> Result<bool> {
        let storage = self.engine.storage.as_ref().ok_or(Error::NoPath)?;
        let keep = self.journal.map_or(0, |at| at.len);
        // Until the append is known to have committed or not, the journal's end is not.
        self.journal = None;
        let appended = storage.append(keep, record);
        #[cfg(feature = "tracing")]
        if let Err(e) = &appended {
            crate::event::warn_event!(error = %e, "journal append failed: the write is undone");
        }
        if !appended? {
            self.journaling = false;
            return Ok(false);
        }
        self.journal = Some(next);
        self.dirty = false;
        Ok(true)
    }

    /// Compacts the journal into a snapshot once it is long.
    fn compact_if_long(&mut self, at: Cursor) {
        if at.len > compaction_limit(self.snapshot_len) {
            // The write is committed: a failed compaction must not report it as failed.
            // It leaves `journal` unknown, so the next write saves a snapshot instead.
            let compacted = self.save();
            crate::event::info_event!(
                journal_len = at.len,
                ok = compacted.is_ok(),
                "journal compacted into a new snapshot"
            );
            drop(compacted);
        }
    }

    fn autosave(&mut self, contents: &mut Contents) -> Result<()> {
        let due = match self.engine.autosave {
            AutoSave::OnEveryWrite => true,
            AutoSave::Periodic(every) => {
                let every = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
                !matches!((self.now(), self.last_save),
                    (Some(now), Some(last)) if now.saturating_sub(last) < every)
            }
            AutoSave::Manual | AutoSave::OnDrop => false,
        };
        if due {
            let bytes = self.save_from(contents)?;
            adopt(contents, &self.engine.arena, bytes);
        }
        Ok(())
    }

    /// Saves if anything changed since the last save.
    pub(crate) fn save_if_dirty(&mut self) -> Result<()> {
        if self.dirty {
            self.save()?;
        }
        Ok(())
    }

    /// Writes a snapshot to the storage, over the one this handle loaded or last wrote
    /// (`Error::CredentialChanged` if another handle rotated the credential meanwhile);
    /// the journal starts afresh after it. `Error::NotDurable`: the snapshot is in place,
    /// but a crash may still bring back the previous one.
    pub(crate) fn save(&mut self) -> Result<()> {
        let engine = self.engine;
        let bytes = self.save_from(&engine.contents.read())?;
        let mut contents = engine.contents.write();
        adopt(&mut contents, &engine.arena, bytes);
        // The snapshot left out what had expired: so does memory from now on. The save is
        // done whatever this does (memory holds the snapshot just saved: its chunks are
        // ours, and do not fail).
        if let Some(now) = self.now() {
            let _ = contents.purge_expired(now);
        }
        Ok(())
    }

    /// Saves `contents`; returns the bytes saved.
    fn save_from(&mut self, contents: &Contents) -> Result<Vec<u8>> {
        if self.engine.read_only {
            return Err(Error::ReadOnly);
        }
        let storage = self.engine.storage.as_ref().ok_or(Error::NoPath)?;
        let sequence = self.sequence + 1;
        let bytes = snapshot_of(contents, &self.engine.arena, self.now(), sequence)?;
        // Until the store succeeds, which snapshot the storage holds is not known: no
        // journal until the next successful one.
        self.journal = None;
        let stored = match &self.stored_keys {
            Some(keys) => storage.store_replacing(keys, &bytes),
            None => storage.store(&bytes),
        };
        if let Ok(()) | Err(Error::NotDurable(_)) = stored {
            // The new snapshot is in place: the next save replaces it.
            self.stored_keys = Some(contents.header.key_part());
            self.snapshot_len = bytes.len();
            self.sequence = sequence;
        }
        #[cfg(feature = "tracing")]
        if let Err(e) = &stored {
            report_failed_save(e);
        }
        stored?;
        self.journal = Some(Cursor::after(&bytes, sequence));
        self.dirty = false;
        self.clear_pending();
        self.last_save = self.now();
        Ok(bytes)
    }

    /// Draws new keys for `credential` and re-encrypts every entry under them, then saves
    /// if the store has storage. All-or-nothing: the new contents are built aside (readers
    /// carry on meanwhile) and swapped in; if sealing or the save fails, the old keys and
    /// entries stay, and the storage holds the old credential. A save that fails after its
    /// snapshot is in place (`Error::NotDurable`) committed the rotation: the new keys stay
    /// and one more save tries to make it durable: `Ok` if it does, `Error::NotDurable`
    /// otherwise (the new credential opens the storage; a crash may bring back the old
    /// one).
    pub(crate) fn rekey(&mut self, credential: &Credential, kdf: &KdfParams) -> Result<()> {
        let engine = self.engine;
        let arena = &engine.arena;
        let (header, keyring) = new_keys(arena, credential, kdf, engine.kdf_limit)?;
        let keyring = Arc::new(keyring);
        let fresh = {
            let old = engine.contents.read();
            let mut spaces: HashMap<String, Space> = HashMap::with_capacity(old.spaces.len());
            for (ns, space) in &old.spaces {
                let mut fresh = Space::with_capacity(space.len());
                for e in space.iter()? {
                    let mut plain = e.to_entry().open(&old.keyring, arena, ns, e.key)?;
                    let sealed = Entry::seal(&keyring, ns, e.key, &mut plain, e.expires_at)?;
                    fresh.insert(e.key, &sealed, false)?;
                }
                spaces.insert(ns.clone(), fresh);
            }
            Contents {
                keyring,
                generation: old.generation.wrapping_add(1),
                header,
                spaces,
            }
        };
        let mut contents = engine.contents.write();
        let old = core::mem::replace(&mut *contents, fresh);
        self.keyring = Once::new();
        let saved = match engine.storage {
            Some(_) => self
                .save_from(&contents)
                .map(|bytes| adopt(&mut contents, arena, bytes)),
            None => Ok(()),
        };
        let outcome = match saved {
            Err(Error::NotDurable(first)) => {
                // The storage holds the new credential: so must memory, whatever this
                // second save does. It only decides whether that is durable.
                match self.save_from(&contents) {
                    Ok(bytes) => {
                        adopt(&mut contents, arena, bytes);
                        Ok(())
                    }
                    Err(Error::NotDurable(e)) => Err(Error::NotDurable(e)),
                    Err(_) => Err(Error::NotDurable(first)),
                }
            }
            Err(e) => {
                *contents = old;
                Err(e)
            }
            Ok(()) => Ok(()),
        };
        let generation = contents.generation;
        drop(contents);
        if matches!(outcome, Ok(()) | Err(Error::NotDurable(_))) {
            // Readers' slots still hold the old keyring: let it go now, not on their next
            // read (after the contents' lock: a reader holds its slot while it waits).
            engine.scratch.forget_keyrings_before(generation);
        }
        outcome
    }
}

/// Makes `bytes`, the snapshot of `contents` just saved, what `contents` holds: the
/// entries then lie in it as in a file just opened (their names sealed, the records
/// written since and the dead ones let go). The two are the same entries: should the
/// bytes not read back (they always do), the contents stay as they are. The bytes never
/// left this process's memory, and their directories' tags were just computed from it:
/// they count as checked, so the next write does not authenticate them all again.
fn adopt(contents: &mut Contents, arena: &Arc<Arena>, bytes: Vec<u8>) {
    if let Ok(opened) = snapshot::decode_with(&contents.keyring, arena, bytes) {
        opened.spaces.values().for_each(Space::written_here);
        contents.spaces = opened.spaces;
    }
}

/// The event of a snapshot that could not be saved (or not durably).
#[cfg(feature = "tracing")]
fn report_failed_save(e: &Error) {
    match e {
        Error::NotDurable(io) => crate::event::warn_event!(
            error = %io,
            "the snapshot is in place but not known to be durable (NotDurable): a crash may \
             bring back the previous one"
        ),
        Error::CredentialChanged => crate::event::warn_event!(
            "save refused: another handle changed the store's credential (CredentialChanged)"
        ),
        other => crate::event::warn_event!(error = %other, "save failed"),
    }
}

/// The bytes of `contents` (a v2 file) as snapshot number `sequence`, leaving out what expired by
/// `now`.
fn snapshot_of(
    contents: &Contents,
    arena: &Arc<Arena>,
    now: Option<u64>,
    sequence: u64,
) -> Result<Vec<u8>> {
    snapshot::encode(
        &contents.header,
        &contents.keyring,
        arena,
        &contents.spaces,
        now,
        sequence,
    )
}

impl Engine {
    /// The store as the bytes of a store file (what `save` would write, but of sequence 0:
    /// a copy starts a history of its own). Readers carry on meanwhile; a write waits to
    /// apply until it is taken.
    pub(crate) fn snapshot(&self) -> Result<Vec<u8>> {
        let now = Now::new(self);
        let contents = self.contents.read();
        snapshot_of(&contents, &self.arena, now.get(), 0)
    }
}
