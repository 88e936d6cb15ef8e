//! Opening an engine: loading a storage's snapshot and journal, or creating new keys.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::sync::Arc;
use hashbrown::HashMap;

use super::{Contents, Engine, SaveState};
use crate::arena::Arena;
use crate::config::Config;
use crate::credential::Credential;
use crate::crypto::Keyring;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::format::journal::{self, Cursor};
use crate::format::snapshot;
use crate::keys::{new_keys, unlock};
use crate::storage::Storage;
use crate::sync::{AtomicU64, Mutex, RwLock};

impl Engine {
    /// Opens the store held by `storage` (or a new one, when it holds nothing or there
    /// is no storage), and says whether it is new and must be saved once.
    pub(crate) fn open(
        storage: Option<Box<dyn Storage>>,
        credential: Credential,
        config: Config,
    ) -> Result<(Engine, bool)> {
        let pages = config.page_source();
        let arena = Arena::new(pages, config.memory);
        let existing = match &storage {
            Some(s) => s.open_snapshot(snapshot::MAX_STORE_LEN)?,
            None => None,
        };
        let fresh = existing.is_none();
        // The entries stay where they lie in the file's bytes (a v1 file's body decrypted
        // in place; a v2 file as it is).
        let (header, keyring, opened) = match existing {
            Some(found) => {
                let (header, keyring, opened) =
                    snapshot::decode(found, config.kdf_limit, &arena, |header| {
                        unlock(&arena, &credential, header, config.kdf_limit)
                    })?;
                (header, keyring, Some(opened))
            }
            None if config.read_only && storage.is_some() => return Err(Error::NotFound),
            None => {
                let (header, keyring) =
                    new_keys(&arena, &credential, &config.kdf, config.kdf_limit)?;
                (header, Arc::new(keyring), None)
            }
        };
        drop(credential);
        let (spaces, sequence, file) = match opened {
            Some(o) => (o.spaces, o.sequence, Some((o.cursor, o.len, o.key_part))),
            None => (HashMap::new(), 0, None),
        };
        let mut contents = Contents {
            keyring: keyring.clone(),
            generation: 0,
            header,
            spaces,
        };
        let mut save = SaveState {
            // As the file has them (a v1 file's say version 1: the first save replaces it).
            stored_keys: file.as_ref().map(|f| f.2),
            dirty: false,
            last_save: None,
            journal: None,
            journaling: true,
            sequence,
            snapshot_len: file.as_ref().map_or(0, |f| f.1),
            pending: None,
        };
        if let (Some(storage), Some((start, _, _))) = (&storage, file) {
            // The writes committed since the snapshot (read-only opens see them too).
            let at = replay_journal(&**storage, &keyring, start, |ns, key, e| {
                contents.set(ns, key, e)
            })?;
            save.journal = Some(at);
        }
        let must_save = fresh && storage.is_some();
        let shared = storage.as_ref().is_some_and(|s| s.is_shared());
        if shared {
            save.pending = Some(Default::default());
        }
        let engine = Engine {
            arena,
            contents: RwLock::new(contents),
            writer: Mutex::new(save),
            scratch: Default::default(),
            queue: Default::default(),
            owner: AtomicU64::new(0),
            clock: config.time_source(),
            high_water: AtomicU64::new(0),
            read_only: config.read_only,
            autosave: config.autosave,
            kdf_limit: config.kdf_limit,
            storage,
            shared,
            refresh: config.refresh,
            refreshed_at: AtomicU64::new(0),
        };
        Ok((engine, must_save))
    }
}

/// Reads the journal from `storage` from `start` (the start of a snapshot's journal) and
/// applies its committed records through `apply`; returns the cursor after them. How an
/// open, and a catch-up that reads a newer snapshot, replay the writes committed since
/// the snapshot.
pub(super) fn replay_journal(
    storage: &dyn Storage,
    keyring: &Keyring,
    start: Cursor,
    apply: impl FnMut(&str, &str, Option<Entry>) -> Result<()>,
) -> Result<Cursor> {
    let log = storage.load_journal_at_most(journal::MAX_JOURNAL_LEN)?;
    journal::replay(keyring, start, &log, apply)
}
