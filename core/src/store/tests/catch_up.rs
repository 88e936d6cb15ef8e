//! A shared handle's catch-up, through a storage in memory that says it is shared.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::config::{AutoSave, Config};
use crate::credential::Credential;
use crate::error::Result;
use crate::storage::{MemoryStorage, Storage};
use crate::store::Store;

/// A [`MemoryStorage`] shared by every handle opened on it, counting whole-snapshot reads.
struct Shared {
    images: MemoryStorage,
    snapshot_reads: Arc<AtomicUsize>,
}

impl Storage for Shared {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        self.snapshot_reads.fetch_add(1, Ordering::Relaxed);
        self.images.load()
    }
    fn store(&self, bytes: &[u8]) -> Result<()> {
        self.images.store(bytes)
    }
    fn store_replacing(&self, expected: &[u8], bytes: &[u8]) -> Result<()> {
        self.images.store_replacing(expected, bytes)
    }
    fn append(&self, keep: u64, bytes: &[u8]) -> Result<bool> {
        self.images.append(keep, bytes)
    }
    fn load_journal(&self) -> Result<Vec<u8>> {
        self.images.load_journal()
    }
    fn is_shared(&self) -> bool {
        true
    }
    fn load_head(&self, len: usize) -> Result<Option<Vec<u8>>> {
        self.images.load_head(len)
    }
}

fn open(images: &MemoryStorage, snapshot_reads: &Arc<AtomicUsize>) -> Store {
    let storage = Shared {
        images: images.clone(),
        snapshot_reads: snapshot_reads.clone(),
    };
    let config = Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    };
    Store::with_storage(storage, Credential::key([9; 32]), config).unwrap()
}

#[test]
fn a_handle_at_the_start_of_the_journal_replays_it_without_reading_the_snapshot() {
    let images = MemoryStorage::default();
    let (a_reads, b_reads) = (Arc::default(), Arc::default());
    let a = open(&images, &a_reads);
    let b = open(&images, &b_reads);
    assert_eq!(
        b_reads.load(Ordering::Relaxed),
        1,
        "b's open reads the snapshot"
    );
    a.put("x", &1u8).unwrap(); // starts the journal: b's cursor is at its start
    b.put("y", &2u8).unwrap();
    assert_eq!(b.get::<u8>("x").unwrap(), Some(1));
    // b caught up from the journal alone: the snapshot in place is the one it opened.
    assert_eq!(b_reads.load(Ordering::Relaxed), 1);
    let a_opened = a_reads.load(Ordering::Relaxed);
    a.reload().unwrap();
    assert_eq!(a.get::<u8>("y").unwrap(), Some(2));
    assert_eq!(a_reads.load(Ordering::Relaxed), a_opened);
}

#[test]
fn a_journal_cut_under_a_handle_is_read_afresh_as_a_fresh_open_reads_it() {
    let images = MemoryStorage::default();
    let reads = Arc::default();
    let a = open(&images, &reads);
    let b = open(&images, &reads);
    a.put("x", &1u8).unwrap();
    let with_x = images.load_journal().unwrap().len() as u64;
    b.put("y", &2u8).unwrap();
    // The journal loses b's record (cut back at a record boundary, under both handles).
    images.append(with_x, &[]).unwrap();
    b.reload().unwrap();
    let fresh = open(&images, &reads);
    for key in ["x", "y"] {
        assert_eq!(
            b.get::<u8>(key).unwrap(),
            fresh.get::<u8>(key).unwrap(),
            "{key}"
        );
    }
    assert_eq!(b.get::<u8>("y").unwrap(), None);
    // b's next write extends what is there now: a fresh open sees it and x.
    b.put("z", &3u8).unwrap();
    let fresh = open(&images, &reads);
    assert_eq!(fresh.get::<u8>("x").unwrap(), Some(1));
    assert_eq!(fresh.get::<u8>("z").unwrap(), Some(3));
}
