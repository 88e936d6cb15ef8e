//! How the contents reach storage: writes applied together and autosaved (a journal
//! record or a snapshot), snapshots, saves, and re-encryption under new keys.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use hashbrown::HashMap;

use super::Exclusive;
use crate::config::AutoSave;
use crate::entry::{Change, Entry, Space};
use crate::error::{Error, Result};
use crate::format;
use crate::journal::{self, Cursor};
use crate::kdf::{Credential, KdfParams};
use crate::keys::new_keys;

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
        if !self.saves_on_write() {
            self.dirty = true;
            for c in changes {
                self.replace(c.ns, c.key, c.entry);
            }
            return Ok(());
        }
        let changes: Vec<Change<'c>> = changes.collect();
        let record = self.journal_record(&changes)?;
        let was_dirty = self.dirty;
        self.dirty = true;
        let undo: Vec<Change<'c>> = changes
            .into_iter()
            .map(|c| Change {
                entry: self.replace(c.ns, c.key, c.entry),
                ..c
            })
            .collect();
        let saved = match record {
            Some((bytes, next)) => self.append(&bytes, next),
            None => self.autosave(),
        };
        if let Err(e) = saved {
            if matches!(e, Error::NotDurable(_)) {
                // The snapshot holding the write is in place: the write happened.
                return Err(e);
            }
            for c in undo.into_iter().rev() {
                self.replace(c.ns, c.key, c.entry);
            }
            self.dirty = was_dirty;
            return Err(e);
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
        let (bytes, next) = journal::encode(&self.keyring, &at, changes)?;
        let limit = compaction_limit(self.snapshot_len);
        Ok((bytes.len() as u64 <= limit).then_some((bytes, next)))
    }

    /// Appends a record durably; compacts the journal into a snapshot once it is long.
    /// `Err` only if the record is not committed.
    fn append(&mut self, record: &[u8], next: Cursor) -> Result<()> {
        let storage = self.engine.storage.as_ref().ok_or(Error::NoPath)?;
        let keep = self.journal.map_or(0, |at| at.len);
        // Until the append is known to have committed or not, the journal's end is not.
        self.journal = None;
        if !storage.append(keep, record)? {
            self.journaling = false;
            return self.save();
        }
        self.journal = Some(next);
        self.dirty = false;
        if next.len > compaction_limit(self.snapshot_len) {
            // The write is committed: a failed compaction must not report it as failed.
            // It leaves `journal` unknown, so the next write saves a snapshot instead.
            let _ = self.save();
        }
        Ok(())
    }

    fn autosave(&mut self) -> Result<()> {
        match self.engine.autosave {
            AutoSave::OnEveryWrite => self.save(),
            AutoSave::Periodic(every) => {
                let every = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
                match (self.now(), self.last_save) {
                    (Some(now), Some(last)) if now.saturating_sub(last) < every => Ok(()),
                    _ => self.save(),
                }
            }
            AutoSave::Manual | AutoSave::OnDrop => Ok(()),
        }
    }

    /// The store as the bytes of a v1 file.
    pub(crate) fn snapshot(&self) -> Result<Vec<u8>> {
        format::encode(&self.header, &self.keyring, &self.spaces, self.now())
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
        if self.engine.read_only {
            return Err(Error::ReadOnly);
        }
        let storage = self.engine.storage.as_ref().ok_or(Error::NoPath)?;
        let bytes = self.snapshot()?;
        // Until the store succeeds, which snapshot the storage holds is not known: no
        // journal until the next successful one.
        self.journal = None;
        let stored = match &self.stored_keys {
            Some(keys) => storage.store_replacing(keys, &bytes),
            None => storage.store(&bytes),
        };
        if let Err(e) = stored {
            if matches!(e, Error::NotDurable(_)) {
                self.stored_keys = Some(self.header.key_part());
                self.snapshot_len = bytes.len();
            }
            return Err(e);
        }
        self.stored_keys = Some(self.header.key_part());
        self.journal = Some(Cursor::after(&bytes));
        self.snapshot_len = bytes.len();
        self.dirty = false;
        self.last_save = self.now();
        Ok(())
    }

    /// Draws new keys for `credential` and re-encrypts every entry under them, then saves
    /// if the store has storage. All-or-nothing: the new state is built aside and swapped
    /// in; if sealing or the save fails, the old keys and entries stay, and the storage
    /// holds the old credential. A save that fails after its snapshot is in place
    /// (`Error::NotDurable`) committed the rotation: the new keys stay and the rotation
    /// returns `Ok` (after one more save, which makes it durable if it can).
    pub(crate) fn rekey(&mut self, credential: &Credential, kdf: &KdfParams) -> Result<()> {
        let arena = self.engine.arena.clone();
        let (header, keyring) = new_keys(&arena, credential, kdf, self.engine.kdf_limit)?;
        let mut spaces: HashMap<String, Space> = HashMap::with_capacity(self.spaces.len());
        for (ns, space) in &self.spaces {
            let mut fresh = Space::with_capacity(space.len());
            for (key, entry) in space {
                let plain = entry.open(&self.keyring, &arena, ns, key)?;
                let sealed = Entry::seal(&keyring, ns, key, &plain, entry.expires_at)?;
                fresh.insert(key.clone(), sealed);
            }
            spaces.insert(ns.clone(), fresh);
        }
        let old_spaces = core::mem::replace(&mut self.spaces, spaces);
        let old_keyring = core::mem::replace(&mut self.keyring, Arc::new(keyring));
        let old_header = core::mem::replace(&mut self.header, header);
        let saved = match self.engine.storage {
            Some(_) => self.save(),
            None => Ok(()),
        };
        if let Err(Error::NotDurable(_)) = saved {
            // The storage holds the new credential: so must memory. Whether this second
            // save succeeds changes nothing of that.
            let _ = self.save();
            return Ok(());
        }
        if let Err(e) = saved {
            self.spaces = old_spaces;
            self.keyring = old_keyring;
            self.header = old_header;
            return Err(e);
        }
        Ok(())
    }
}
