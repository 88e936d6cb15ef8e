//! A v2 file read lazily ([`crate::Snapshot::File`]): what an open reads of it, what each
//! read adds, and that a file changed under the open handle gives typed errors.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::header::{DATA_LEN, HEADER_LEN};
use super::snapshot::Opened;
use super::v2_in::open_lazily;
use super::v2_tests::{fixture, Fixture};
use crate::error::{Error, Result};
use crate::storage::SnapshotFile;
use crate::sync::Mutex;

/// The bytes under a handle, which a test may change.
type Shared = Arc<Mutex<Vec<u8>>>;

/// A file in memory that counts the bytes read from it, and that a test may change.
struct Counted {
    bytes: Arc<Mutex<Vec<u8>>>,
    len: u64,
    read: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

impl SnapshotFile for Counted {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        let bytes = self.bytes.lock();
        let at = at as usize;
        let from = bytes.get(at..at + buf.len()).ok_or(Error::Tampered)?;
        buf.copy_from_slice(from);
        self.read.fetch_add(buf.len(), Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// `file` opened lazily through a [`Counted`]: the namespaces, the bytes under the
/// handle (to change), and the count of bytes read.
fn lazily(f: &Fixture, file: &[u8]) -> (Opened, Arc<Mutex<Vec<u8>>>, Arc<AtomicUsize>) {
    let (opened, bytes, read, _) = counted(f, file);
    (opened, bytes, read)
}

/// [`lazily`], and the count of reads.
fn counted(f: &Fixture, file: &[u8]) -> (Opened, Shared, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (bytes, read) = (
        Arc::new(Mutex::new(file.to_vec())),
        Arc::new(AtomicUsize::new(0)),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Counted {
        bytes: bytes.clone(),
        len: file.len() as u64,
        read: read.clone(),
        calls: calls.clone(),
    };
    let head = file[..HEADER_LEN].to_vec();
    let (spaces, sequence, tag) =
        open_lazily(&f.keyring, &f.arena, head, Box::new(counted)).unwrap();
    assert_eq!((sequence, &tag[..]), (7, &file[file.len() - 16..]));
    let cursor = f.decode(file.to_vec()).unwrap().cursor;
    let opened = Opened {
        spaces,
        sequence,
        len: file.len(),
        key_part: [0; 144],
        cursor,
    };
    (opened, bytes, read, calls)
}

/// A store read through takes in its groups a few reads at a time, not a read a group:
/// a listing reads the 16 groups of 64 here in directory order, in 5 reads (1, 2, 4 and
/// 8 groups, then the last one), besides the names block's 2 (its bytes and its tag);
/// the gets after it read nothing more. In directory order, so that the count does not
/// depend on the fixture's random key (gets in key order hit the groups in an order that
/// does). Control: a read a group makes 2 + 16.
#[test]
fn a_store_read_through_reads_its_groups_a_span_at_a_time() {
    let f = fixture();
    let file = f.encode(&f.spaces(1000));
    let (opened, _, read, calls) = counted(&f, &file);
    let (calls_at_open, read_at_open) =
        (calls.load(Ordering::Relaxed), read.load(Ordering::Relaxed));
    assert_eq!(opened.spaces[""].iter().unwrap().count(), 1000);
    let reads = calls.load(Ordering::Relaxed) - calls_at_open;
    assert_eq!(reads, 2 + 5, "{reads} reads for 16 groups and the names");
    let eager = f.decode(file.clone()).unwrap();
    for i in 0..1000 {
        let key = alloc::format!("k{i}");
        assert_eq!(
            f.value(&opened, "", &key).unwrap(),
            f.value(&eager, "", &key).unwrap()
        );
    }
    assert_eq!(calls.load(Ordering::Relaxed) - calls_at_open, reads);
    // Each record read once: less than the rest of the file.
    let records = read.load(Ordering::Relaxed) - read_at_open;
    assert!(records < file.len() - read_at_open, "{records}");
}

#[test]
fn an_open_reads_the_directories_and_each_read_its_records_group() {
    let f = fixture();
    let file = f.encode(&f.spaces(1000));
    let (opened, _, read) = lazily(&f, &file);
    // The open: the header, toc and the directories (rows of 24 or 32 bytes), no record
    // or name.
    let at_open = read.load(Ordering::Relaxed);
    let data_end = HEADER_LEN + u32::from_le_bytes(file[DATA_LEN].try_into().unwrap()) as usize;
    let directories = 1000 * 32 + 24; // "" has expiries; "other" one entry, none
                                      // (The header is read before, by the decode that chooses this path.)
    assert_eq!(at_open, directories + (file.len() - data_end));
    // A get reads the one group of records it needs.
    let eager = f.decode(file.clone()).unwrap();
    assert_eq!(f.value(&opened, "", "k1").unwrap(), b"value 1");
    let one_group = read.load(Ordering::Relaxed) - at_open;
    assert!(one_group > 0 && one_group < 64 * 64, "{one_group}");
    // Every value reads as the whole file's does, each group read once.
    for i in 0..1000 {
        let key = alloc::format!("k{i}");
        let (lazy, whole) = (f.value(&opened, "", &key), f.value(&eager, "", &key));
        assert_eq!(lazy.unwrap(), whole.unwrap(), "{key}");
    }
    assert!(read.load(Ordering::Relaxed) < file.len());
    // A listing opens the names from the file, and matches.
    let mut lazy: Vec<&str> = opened.spaces[""].iter().unwrap().map(|e| e.key).collect();
    let mut whole: Vec<&str> = eager.spaces[""].iter().unwrap().map(|e| e.key).collect();
    lazy.sort();
    whole.sort();
    assert_eq!(lazy, whole);
}

#[test]
fn a_file_cut_short_under_the_handle_gives_typed_errors() {
    let f = fixture();
    let file = f.encode(&f.spaces(1000));
    let eager = f.decode(file.clone()).unwrap();
    let (opened, bytes, _) = lazily(&f, &file);
    // Read before the cut: kept, and still read after it.
    assert_eq!(f.value(&opened, "", "k999").unwrap(), b"value 999");
    bytes.lock().truncate(file.len() / 2);
    let (mut ok, mut cut) = (0, 0);
    for i in 0..1000 {
        let key = alloc::format!("k{i}");
        match f.value(&opened, "", &key) {
            Ok(v) => {
                assert_eq!(v, f.value(&eager, "", &key).unwrap());
                ok += 1;
            }
            Err(Error::Tampered) => cut += 1,
            Err(e) => panic!("{key}: {e:?}"),
        }
    }
    // The groups before the cut read; the later ones do not (a listing neither).
    assert!(ok > 0 && cut > 0, "{ok} read, {cut} cut");
    assert_eq!(f.value(&opened, "", "k999").unwrap(), b"value 999");
    assert!(matches!(
        opened.spaces[""].iter().err(),
        Some(Error::Tampered)
    ));
}

#[test]
fn a_record_changed_under_the_handle_fails_its_read() {
    let f = fixture();
    let file = f.encode(&f.spaces(10));
    let (opened, bytes, _) = lazily(&f, &file);
    // Every byte after the directories changed after the open (the records and names).
    let dirs_end = HEADER_LEN + 10 * 32;
    for b in &mut bytes.lock()[dirs_end..file.len() - 200] {
        *b ^= 0x55;
    }
    let failed = (0..10)
        .filter(|i| f.value(&opened, "", &alloc::format!("k{i}")).is_err())
        .count();
    assert!(failed >= 8, "{failed}");
    // Control: the whole file as it was reads every value.
    let eager = f.decode(file.clone()).unwrap();
    assert!((0..10).all(|i| f.value(&eager, "", &alloc::format!("k{i}")).is_ok()));
}
