//! The write-ahead journal (`AutoSave::OnEveryWrite`): bad journals get a typed error or,
//! only for a torn tail, open to the state of a committed prefix of the writes; never a
//! panic, never other data. A stale journal (another snapshot's) is ignored and replaced;
//! a torn tail is cut before the next append. File journals: mode 0600, read-only opens
//! see them and never write them, saves empty them.
#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use microkv::{
    AutoSave, Config, Credential, Error, LockMode, ManualClock, MemoryStorage, MicroKV, Storage,
};

const KEY: [u8; 32] = [0x5c; 32];
/// Length of the journal header (docs/FORMAT.md, "Journal").
const HEADER: usize = 36;

#[path = "support/contents.rs"]
mod support_contents;
use support_contents::{contents, Contents};

/// A storage holding given images: `store` replaces the snapshot and leaves the journal
/// (as a crash between a save's rename and the journal's reset would).
#[derive(Clone, Default)]
struct Images(Arc<Mutex<Pair>>);

/// A snapshot (if any) and a journal.
type Pair = (Option<Vec<u8>>, Vec<u8>);

impl Images {
    fn new(snapshot: &[u8], journal: &[u8]) -> Self {
        Images(Arc::new(Mutex::new((
            Some(snapshot.to_vec()),
            journal.to_vec(),
        ))))
    }

    fn journal(&self) -> Vec<u8> {
        self.0.lock().unwrap().1.clone()
    }
}

impl Storage for Images {
    fn load(&self) -> microkv::Result<Option<Vec<u8>>> {
        Ok(self.0.lock().unwrap().0.clone())
    }
    fn store(&self, bytes: &[u8]) -> microkv::Result<()> {
        self.0.lock().unwrap().0 = Some(bytes.to_vec());
        Ok(())
    }
    fn append(&self, keep: u64, bytes: &[u8]) -> microkv::Result<bool> {
        let mut images = self.0.lock().unwrap();
        assert!(keep as usize <= images.1.len(), "append past the end");
        images.1.truncate(keep as usize);
        images.1.extend_from_slice(bytes);
        Ok(true)
    }
    fn load_journal(&self) -> microkv::Result<Vec<u8>> {
        Ok(self.0.lock().unwrap().1.clone())
    }
}

fn clock() -> ManualClock {
    ManualClock::new(Duration::from_secs(1_000))
}

fn config(autosave: AutoSave) -> Config {
    Config {
        autosave,
        clock: Some(Arc::new(clock())),
        ..Default::default()
    }
}

fn open(storage: impl Storage + 'static) -> microkv::Result<MicroKV> {
    MicroKV::with_storage(storage, Credential::key(KEY), config(AutoSave::Manual))
}

/// A store over `storage` that writes every change to its journal as it is made.
fn journaling(storage: impl Storage + 'static) -> MicroKV {
    MicroKV::with_storage(
        storage,
        Credential::key(KEY),
        config(AutoSave::OnEveryWrite),
    )
    .unwrap()
}

/// A saved store and the journal of six writes after it.
struct Journal {
    snapshot: Vec<u8>,
    journal: Vec<u8>,
    /// `states[k]`: the contents after the first `k` records.
    states: Vec<Contents>,
    /// `(start, end)` of each record (its length field included).
    records: Vec<(usize, usize)>,
}

fn writes(db: &MicroKV, i: usize) {
    match i {
        0 => db.put("a", &1u32).unwrap(),
        1 => db.namespace("users").put("alice", &42u32).unwrap(),
        2 => db
            .put_with_ttl("otp", &7u32, Duration::from_secs(60))
            .unwrap(),
        3 => db
            .transaction(|tx| {
                tx.put("", "a", &10u32)?;
                tx.put("audit", "last", &1u32)?;
                tx.remove("users", "alice")?;
                Ok(())
            })
            .unwrap(),
        4 => assert!(db.remove("otp").unwrap()),
        5 => db.namespace("users").put("bob", &135u32).unwrap(),
        _ => unreachable!(),
    }
}

const WRITES: usize = 6;

/// Parses the record boundaries by docs/FORMAT.md alone.
fn records(journal: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = HEADER;
    while at < journal.len() {
        let len = u32::from_le_bytes(journal[at..at + 4].try_into().unwrap());
        let check = u32::from_le_bytes(journal[at + 4..at + 8].try_into().unwrap());
        assert_eq!(check, !len);
        let len = len as usize;
        out.push((at, at + 8 + len));
        at += 8 + len;
    }
    assert_eq!(at, journal.len());
    out
}

fn journal() -> Journal {
    let storage = MemoryStorage::default();
    let db = journaling(storage.clone());
    db.put("seed", &5u32).unwrap();
    db.save().unwrap();
    let snapshot = storage.load().unwrap().unwrap();
    assert!(
        storage.load_journal().unwrap().is_empty(),
        "a save empties the journal"
    );
    let mut states = vec![contents(&db)];
    for i in 0..WRITES {
        writes(&db, i);
        states.push(contents(&db));
        // A write appends; the snapshot stays.
        assert_eq!(storage.load().unwrap().unwrap(), snapshot, "write #{i}");
    }
    let journal = storage.load_journal().unwrap();
    let records = records(&journal);
    assert_eq!(records.len(), WRITES);
    for (k, state) in states.iter().enumerate() {
        let end = if k == 0 { HEADER } else { records[k - 1].1 };
        let db = open(Images::new(&snapshot, &journal[..end])).unwrap();
        assert_eq!(&contents(&db), state, "prefix of {k} records");
    }
    Journal {
        snapshot,
        journal,
        states,
        records,
    }
}

impl Journal {
    /// Opens the snapshot with `journal`: a typed error, or the state of a committed
    /// prefix (returned as its number of records).
    fn check(&self, journal: &[u8], what: &str) -> Result<usize, Error> {
        match open(Images::new(&self.snapshot, journal)) {
            Ok(db) => {
                let got = contents(&db);
                let k = self.states.iter().position(|s| *s == got);
                Ok(k.unwrap_or_else(|| panic!("{what}: opened to other data: {got:?}")))
            }
            Err(
                e @ (Error::Tampered
                | Error::CorruptStore(_)
                | Error::UnsupportedStoreVersion { .. }),
            ) => Err(e),
            Err(e) => panic!("{what}: unexpected error {e:?}"),
        }
    }

    fn without(&self, i: usize) -> Vec<u8> {
        let (start, end) = self.records[i];
        [&self.journal[..start], &self.journal[end..]].concat()
    }
}

#[test]
fn every_truncation_opens_to_the_committed_prefix() {
    let j = journal();
    for len in 0..=j.journal.len() {
        let complete = j.records.iter().filter(|&&(_, end)| end <= len).count();
        let k = j.check(&j.journal[..len], &format!("truncated to {len}"));
        assert_eq!(k.ok(), Some(complete), "truncated to {len}");
    }
}

#[test]
fn every_bit_flip_fails_but_in_the_snapshot_nonce() {
    let j = journal();
    let last = j.records[WRITES - 1];
    let (mut failed, mut torn) = (0, 0);
    for byte in 0..j.journal.len() {
        for bit in 0..8 {
            let mut bad = j.journal.clone();
            bad[byte] ^= 1 << bit;
            let what = format!("bit {bit} of byte {byte}");
            match j.check(&bad, &what) {
                Err(_) => failed += 1,
                Ok(k) if (12..HEADER).contains(&byte) => {
                    // The snapshot nonce: the journal reads as another snapshot's, which
                    // is the same as losing all of it (as truncating it would).
                    assert_eq!(k, 0, "{what}");
                    torn += 1;
                }
                Ok(k) => panic!("{what}: opened with {k} records"),
            }
        }
    }
    assert_eq!(torn, 8 * 24);
    assert_eq!(failed, 8 * (j.journal.len() - 24));
    // The last record complete but not authentic is tampering, not a torn tail (before
    // issue 24's item 5 it was dropped as one, and the store opened without it): a
    // spoiled tag, ciphertext or nonce.
    for byte in last.0 + 8..last.1 {
        let mut bad = j.journal.clone();
        bad[byte] ^= 1;
        let k = j.check(&bad, "last");
        assert!(matches!(k, Err(Error::Tampered)), "byte {byte}: {k:?}");
    }
}

/// A journal whose last record (a long key name) spans several sectors, and its bounds.
fn long_last_record() -> (Journal, (usize, usize)) {
    let storage = MemoryStorage::default();
    let db = journaling(storage.clone());
    db.put("seed", &5u32).unwrap();
    db.save().unwrap();
    let snapshot = storage.load().unwrap().unwrap();
    let before = contents(&db);
    db.put("a", &1u32).unwrap();
    let middle = contents(&db);
    db.put(&"k".repeat(3000), &2u32).unwrap();
    let states = vec![before, middle, contents(&db)];
    let journal = storage.load_journal().unwrap();
    let records = records(&journal);
    let last = records[1];
    (
        Journal {
            snapshot,
            journal,
            states,
            records,
        },
        last,
    )
}

/// What a crash on ext4 leaves of an append whose last sectors never landed: the file
/// grown, those sectors zeros. Such a record is a torn tail (the store opens without it,
/// and the next append replaces it); the same record with zeros inside its last sector
/// only, or with its last byte kept, cannot be a crash's and is `Tampered`.
#[test]
fn a_last_record_zeroed_from_a_sector_boundary_is_a_torn_tail_and_nothing_else_is() {
    let (j, (start, end)) = long_last_record();
    let boundaries: Vec<usize> = (start + 9..end).filter(|b| b % 512 == 0).collect();
    assert!(boundaries.len() >= 5, "{boundaries:?}");
    for &b in &boundaries {
        let mut torn = j.journal.clone();
        torn[b..].fill(0);
        assert_eq!(j.check(&torn, "torn").ok(), Some(1), "zeros from {b}");
        // With zeros after it too (space the file system allocated past it).
        let padded = [&torn[..], &[0; 700]].concat();
        assert_eq!(j.check(&padded, "padded").ok(), Some(1), "padded from {b}");
        let storage = Images::new(&j.snapshot, &torn);
        let db = journaling(storage.clone());
        db.put("after", &9u32).unwrap();
        assert_eq!(
            records(&storage.journal()).len(),
            2,
            "zeros from {b} replaced"
        );

        // Control: not what a crash leaves.
        let mut kept = torn.clone();
        kept[end - 1] = j.journal[end - 1] | 1;
        assert!(
            matches!(j.check(&kept, "kept"), Err(Error::Tampered)),
            "zeros from {b} but the last byte"
        );
    }
    // Control: zeros inside the record's last sector only (from just after its last
    // boundary), which no crash leaves: a sector lands whole or not at all.
    let b = *boundaries.last().unwrap();
    let mut off = j.journal.clone();
    off[b] |= 1;
    off[b + 1..].fill(0);
    assert!(matches!(j.check(&off, "off"), Err(Error::Tampered)));
}

#[test]
fn reordered_removed_and_replayed_records_fail_or_are_a_truncation() {
    let j = journal();
    for i in 0..WRITES - 1 {
        let (a, b) = (j.records[i], j.records[i + 1]);
        let swapped = [
            &j.journal[..a.0],
            &j.journal[b.0..b.1],
            &j.journal[a.0..a.1],
            &j.journal[b.1..],
        ]
        .concat();
        assert!(j.check(&swapped, &format!("swap {i}")).is_err(), "swap {i}");
    }
    for i in 0..WRITES {
        let k = j.check(&j.without(i), &format!("remove {i}"));
        match i {
            // Removing the last record is a truncation, which the format cannot tell from
            // a write a crash lost (docs/FORMAT.md, "Rollback").
            _ if i == WRITES - 1 => assert_eq!(k.ok(), Some(WRITES - 1)),
            _ => assert!(k.is_err(), "remove {i}: {k:?}"),
        }
    }
    for i in 0..WRITES {
        let (start, end) = j.records[i];
        let replayed = [&j.journal[..end], &j.journal[start..]].concat();
        let k = j.check(&replayed, &format!("replay {i}"));
        // The last one included: it no longer reads as a torn tail.
        assert!(matches!(k, Err(Error::Tampered)), "replay {i}: {k:?}");
    }
}

#[test]
fn appended_garbage_is_a_torn_tail_or_an_error() {
    let j = journal();
    let record0 = &j.journal[j.records[0].0..j.records[0].1];
    let mut tails: Vec<Vec<u8>> = vec![
        vec![0; 1],
        vec![0; 4],
        vec![0; 100],
        vec![0xff; 3],
        vec![0xff; 200],
        vec![1, 0, 0, 0, 9],
        vec![40, 0, 0, 0, 0xd7, 0xff, 0xff, 0xff],
        vec![200, 0, 0, 0, 0x37, 0xff, 0xff, 0xff, 1],
        record0.to_vec(),
        [record0, b"x"].concat(),
    ];
    let mut x = 0x9e37_79b9_u32;
    for len in [1, 5, 41, 64, 300] {
        tails.push(
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect(),
        );
    }
    for tail in tails {
        let what = format!("tail {tail:?}");
        let k = j.check(&[&j.journal[..], &tail].concat(), &what);
        assert!(matches!(k, Ok(WRITES) | Err(_)), "{what}: {k:?}");
    }
    // Bytes that cannot start a record: a length whose complement disagrees, or one
    // below nonce + tag.
    for bad in [
        &[1, 0, 0, 0, 9, 9, 9, 9][..],
        &[1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff],
    ] {
        let k = j.check(&[&j.journal[..], bad].concat(), "bad length");
        assert!(matches!(k, Err(Error::CorruptStore(_))), "{k:?}");
    }
}

#[test]
fn bad_headers_get_typed_errors() {
    let j = journal();
    let mut magic = j.journal.clone();
    magic[0] ^= 1;
    assert!(matches!(
        j.check(&magic, "magic"),
        Err(Error::CorruptStore(_))
    ));
    assert!(matches!(
        j.check(b"not a journal", "short"),
        Err(Error::CorruptStore(_))
    ));
    let mut version = j.journal.clone();
    version[8] = 2;
    assert!(matches!(
        j.check(&version, "version"),
        Err(Error::UnsupportedStoreVersion {
            found: 2,
            expected: 1
        })
    ));
    let mut reserved = j.journal.clone();
    reserved[11] = 1;
    assert!(matches!(
        j.check(&reserved, "reserved"),
        Err(Error::CorruptStore(_))
    ));
    // A wrong key is told before the journal is read.
    let err = MicroKV::with_storage(
        Images::new(&j.snapshot, &j.journal),
        Credential::key([0; 32]),
        Config::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::WrongPassword), "{err:?}");
}

/// A crash after the journal's creation, or after a compaction cut it, can leave it
/// extended with its header never written: zeros of any length, shorter than a header
/// too. That is a journal with no records (docs/FORMAT.md, "Reading"), and the next
/// append replaces it. The control: the same lengths with one byte not zero are refused.
#[test]
fn a_journal_of_zeros_opens_as_empty_at_any_length() {
    let j = journal();
    for len in [1, 7, 8, 35, 36, 37, 100, 4096, 70_000] {
        let zeros = vec![0u8; len];
        assert_eq!(j.check(&zeros, "zeros").ok(), Some(0), "{len} zeros");
        let storage = Images::new(&j.snapshot, &zeros);
        let db = journaling(storage.clone());
        db.put("after", &9u32).unwrap();
        assert_eq!(records(&storage.journal()).len(), 1, "{len} zeros replaced");
        let mut want = j.states[0].clone();
        want.insert((String::new(), "after".into()), 9);
        assert_eq!(contents(&open(storage).unwrap()), want, "{len} zeros");

        let mut not_zeros = zeros;
        not_zeros[len / 2] = 1;
        assert!(
            matches!(
                j.check(&not_zeros, "not zeros"),
                Err(Error::CorruptStore(_))
            ),
            "{len} bytes, one of them 1"
        );
    }
}

#[test]
fn a_torn_tail_is_cut_before_the_next_append() {
    let j = journal();
    let (start, end) = j.records[WRITES - 1];
    for len in [start + 1, start + 4, start + 8, start + 50, end - 1] {
        let storage = Images::new(&j.snapshot, &j.journal[..len]);
        let db = journaling(storage.clone());
        assert_eq!(contents(&db), j.states[WRITES - 1], "torn at {len}");
        db.put("after", &9u32).unwrap();
        let mut want = j.states[WRITES - 1].clone();
        want.insert((String::new(), "after".into()), 9);
        assert_eq!(records(&storage.journal()).len(), WRITES, "torn at {len}");
        assert_eq!(contents(&open(storage).unwrap()), want, "torn at {len}");
    }
}

#[test]
fn a_stale_journal_is_ignored_and_replaced() {
    let j = journal();
    // A new snapshot of everything, and the old snapshot's journal left beside it.
    let db = open(Images::new(&j.snapshot, &j.journal)).unwrap();
    let newer = db.export().unwrap();
    drop(db);
    let last = &j.states[WRITES];
    assert_eq!(
        &contents(&open(Images::new(&newer, &j.journal)).unwrap()),
        last
    );
    // A journal of another store is another snapshot's too.
    let other = journal_of_other_store();
    assert_eq!(&contents(&open(Images::new(&newer, &other)).unwrap()), last);

    let storage = Images::new(&newer, &j.journal);
    let db = journaling(storage.clone());
    db.put("after", &9u32).unwrap();
    let journal = storage.journal();
    assert_eq!(records(&journal).len(), 1, "the stale journal was replaced");
    let mut want = last.clone();
    want.insert((String::new(), "after".into()), 9);
    assert_eq!(contents(&open(storage).unwrap()), want);
}

fn journal_of_other_store() -> Vec<u8> {
    let storage = MemoryStorage::default();
    let db = journaling(storage.clone());
    db.put("x", &1u32).unwrap();
    storage.load_journal().unwrap()
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn file_journal_appends_and_saves_empty_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.kv");
    let journal = dir.path().join("store.kv.journal");
    let on_write = Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    };
    let db = MicroKV::open_with(&path, Credential::key(KEY), on_write.clone()).unwrap();
    let created = std::fs::read(&path).unwrap();
    for i in 0..20u32 {
        db.put(&format!("k{i}"), &i).unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), created, "writes append only");
    #[cfg(unix)]
    assert_eq!(mode(&journal), 0o600);
    let appended = std::fs::read(&journal).unwrap();
    assert_eq!(records(&appended).len(), 20);

    // A reader sees every acknowledged write and writes nothing.
    let read_only = Config {
        read_only: true,
        ..Default::default()
    };
    let reader = MicroKV::open_with(&path, Credential::key(KEY), read_only).unwrap();
    assert_eq!(reader.get::<u32>("k19").unwrap(), Some(19));
    assert!(matches!(reader.put("x", &1u32), Err(Error::ReadOnly)));
    drop(reader);
    assert_eq!(std::fs::read(&journal).unwrap(), appended);
    assert_eq!(std::fs::read(&path).unwrap(), created);

    db.save().unwrap();
    assert!(
        std::fs::read(&journal).unwrap().is_empty(),
        "a save empties it"
    );
    db.put("after", &1u32).unwrap();
    drop(db);
    let db = MicroKV::open(&path, Credential::key(KEY)).unwrap();
    assert_eq!(db.len().unwrap(), 21);
    assert_eq!(db.get::<u32>("after").unwrap(), Some(1));

    // A torn tail on disk: dropped at open, cut at the next append.
    drop(db);
    let bytes = std::fs::read(&journal).unwrap();
    std::fs::write(&journal, &bytes[..bytes.len() - 3]).unwrap();
    let db = MicroKV::open_with(&path, Credential::key(KEY), on_write).unwrap();
    assert_eq!(db.get::<u32>("after").unwrap(), None);
    db.put("again", &2u32).unwrap();
    drop(db);
    let db = MicroKV::open(&path, Credential::key(KEY)).unwrap();
    assert_eq!(db.get::<u32>("again").unwrap(), Some(2));
    assert_eq!(db.len().unwrap(), 21);
}

#[test]
fn shared_writers_append_to_the_journal_and_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.kv");
    let config = || Config {
        autosave: AutoSave::OnEveryWrite,
        lock_mode: LockMode::Shared,
        ..Default::default()
    };
    let a = MicroKV::open_with(&path, Credential::key(KEY), config()).unwrap();
    let b = MicroKV::open_with(&path, Credential::key(KEY), config()).unwrap();
    let created = std::fs::read(&path).unwrap();
    a.put("a", &1u32).unwrap();
    b.put("b", &2u32).unwrap();
    // Both writes went to the journal, one after the other: the snapshot is as created.
    assert_eq!(std::fs::read(&path).unwrap(), created);
    assert!(dir.path().join("store.kv.journal").exists());
    // `b` caught up with `a`'s write before its own; `a` sees `b`'s after a reload.
    assert_eq!(b.get::<u32>("a").unwrap(), Some(1));
    assert_eq!(a.get::<u32>("b").unwrap(), None);
    a.reload().unwrap();
    assert_eq!(a.get::<u32>("b").unwrap(), Some(2));
    drop((a, b));
    let db = MicroKV::open(&path, Credential::key(KEY)).unwrap();
    assert_eq!(db.get::<u32>("a").unwrap(), Some(1));
    assert_eq!(db.get::<u32>("b").unwrap(), Some(2));
}

#[test]
fn the_journal_is_compacted_into_the_snapshot() {
    let storage = MemoryStorage::default();
    let db = journaling(storage.clone());
    let mut longest = 0;
    for i in 0..3_000u32 {
        db.put(&format!("k{}", i % 50), &i).unwrap();
        longest = longest.max(storage.load_journal().unwrap().len());
    }
    assert!(longest <= 64 << 10, "{longest}");
    assert!(storage.load_journal().unwrap().len() < longest);
    let db = open(storage).unwrap();
    assert_eq!(db.get::<u32>("k49").unwrap(), Some(2_999));
}
