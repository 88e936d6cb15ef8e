//! Crash safety by fault injection: for every failure point of `save`, of
//! `AutoSave::OnEveryWrite` writes (journal appends, and snapshots over a storage without a
//! journal) and of the journal's compaction, the store reopens to exactly the old contents
//! or exactly the new ones; after a failed save the store is still usable and a retry
//! succeeds. Faults come from `FaultyStorage` (the unpublished `microkv-testing` crate, a
//! `Storage` of its own: no feature needed); the same faults in a real file's save and
//! journal are tests/save_faults.rs's, injected by strace.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use microkv::{
    AutoSave, Config, Credential, Error, FileStorage, KdfParams, LockMode, ManualClock, MicroKV,
    Storage,
};
use microkv_testing::{AppendFault, Fault, FaultyStorage, Step};

const KEY: [u8; 32] = [0x11; 32];

/// Every (step, fault) pair a save can meet, with what a reopen must find: `true` for the
/// new image, `false` for the old one.
fn fault_points() -> Vec<(Step, Fault, bool)> {
    let mut points = Vec::new();
    for step in Step::ALL {
        points.push((step, Fault::Error, step == Step::SyncDir));
        points.push((step, Fault::Crash, false));
    }
    points.push((Step::SyncDir, Fault::CrashAfterRenameKeepsNew, true));
    points
}

#[path = "support/files.rs"]
mod files;
#[path = "support/contents.rs"]
mod support_contents;
use files::strays;
use support_contents::{contents, Contents};

fn config(clock: &ManualClock, autosave: AutoSave) -> Config {
    Config {
        autosave,
        clock: Some(Arc::new(clock.clone())),
        ..Default::default()
    }
}

fn reopen(storage: &FaultyStorage, clock: &ManualClock) -> MicroKV {
    MicroKV::with_storage(
        storage.restart(),
        Credential::key(KEY),
        config(clock, AutoSave::Manual),
    )
    .unwrap()
}

/// The writes of the scenario; under `OnEveryWrite` each appends one journal record (or,
/// without a journal, stores one snapshot).
const OPS: usize = 10;

fn op(db: &MicroKV, i: usize) -> microkv::Result<()> {
    match i {
        0 => db.put("a", &1u32),
        1 => db.namespace("users").put("alice", &42u32),
        2 => db.put_with_ttl("otp", &7u32, Duration::from_secs(60)),
        3 => db.update::<u32, _>("a", |v| v.map(|v| v + 1)),
        4 => db.transaction(|tx| {
            tx.put("", "a", &10u32)?;
            tx.put("audit", "last", &1u32)?;
            tx.remove("users", "alice")?;
            Ok(())
        }),
        5 => db
            .compare_and_swap("a", Some(&10u32), Some(&11u32))
            .map(|swapped| assert!(swapped)),
        6 => db.get_or_insert_with("seed", || 5u32).map(drop),
        7 => db.remove("a").map(|removed| assert!(removed)),
        8 => db.namespace("audit").clear(),
        9 => db.sweep_expired().map(|n| assert_eq!(n, 1)),
        _ => unreachable!(),
    }
}

/// Runs before write `i` (and before the contents it starts from are taken): the sweep
/// runs once the TTL entry has expired.
fn prepare(clock: &ManualClock, i: usize) {
    if i == 9 {
        clock.set(Duration::from_secs(2_000));
    }
}

/// What a reader sees around each write, from a run without faults: `before[i]` just
/// before write `i` (after `prepare`), `after[i]` just after it.
struct States {
    before: Vec<Contents>,
    after: Vec<Contents>,
}

impl States {
    fn old_or_new(&self, i: usize, new: bool) -> &Contents {
        if new {
            &self.after[i]
        } else {
            &self.before[i]
        }
    }

    fn last(&self) -> &Contents {
        &self.after[OPS - 1]
    }
}

fn states() -> States {
    let clock = ManualClock::new(Duration::from_secs(1_000));
    let db =
        MicroKV::in_memory_with(Credential::key(KEY), config(&clock, AutoSave::Manual)).unwrap();
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for i in 0..OPS {
        prepare(&clock, i);
        before.push(contents(&db));
        op(&db, i).unwrap();
        after.push(contents(&db));
    }
    // Each write changes what a reader sees (but the sweep: expired entries are
    // invisible already), so "old" and "new" below are told apart.
    for i in 0..OPS - 1 {
        assert_ne!(before[i], after[i], "write #{i}");
    }
    States { before, after }
}

/// How an autosaved write is made to fail: its snapshot's store (a storage without a
/// journal) or its journal append.
#[derive(Clone, Copy, Debug)]
enum WriteFault {
    Store(Step, Fault, bool),
    Append(AppendFault),
}

impl WriteFault {
    /// A storage the write goes to as this fault expects.
    fn storage(self) -> FaultyStorage {
        match self {
            WriteFault::Store(..) => FaultyStorage::without_journal(),
            WriteFault::Append(_) => FaultyStorage::new(),
        }
    }

    /// How many calls of the faulty kind the storage saw.
    fn calls(self, storage: &FaultyStorage) -> u64 {
        match self {
            WriteFault::Store(..) => storage.stores(),
            WriteFault::Append(_) => storage.appends(),
        }
    }

    /// Arms the fault for the next call of its kind.
    fn arm(self, storage: &FaultyStorage) {
        match self {
            WriteFault::Store(step, fault, _) => {
                storage.fail_store(storage.stores() + 1, step, fault)
            }
            WriteFault::Append(fault) => storage.fail_append(storage.appends() + 1, fault),
        }
    }

    /// Whether a reopen finds the write.
    fn keeps_new(self) -> bool {
        match self {
            WriteFault::Store(_, _, keeps_new) => keeps_new,
            WriteFault::Append(fault) => fault.keeps_record(),
        }
    }

    /// Whether the write committed all the same: an error after the snapshot's rename
    /// (`Error::NotDurable`), which a reopen finds.
    fn commits(self) -> bool {
        matches!(self, WriteFault::Store(Step::SyncDir, Fault::Error, _))
    }

    /// Whether the storage keeps working after the fault.
    fn recovers(self) -> bool {
        matches!(
            self,
            WriteFault::Store(_, Fault::Error, _)
                | WriteFault::Append(AppendFault::ErrorBeforeWrite | AppendFault::ErrorAfterWrite)
        )
    }
}

/// For every write of the scenario and every fault: the write fails and is undone in
/// memory; a reopen finds exactly the state before it or after it; after an error the
/// store goes on (the retry and the rest of the writes succeed and are found on reopen).
/// The one error after which the write is in storage (`NotDurable`, a failed directory
/// sync) says so, and memory keeps the write: what the call returns is the truth.
fn every_autosaved_write_keeps_old_or_new(faults: &[WriteFault]) {
    let states = states();
    let mut cases = 0;
    for i in 0..OPS {
        for &fault in faults {
            let what = format!("write #{i}, {fault:?}");
            let clock = ManualClock::new(Duration::from_secs(1_000));
            let storage = fault.storage();
            let db = MicroKV::with_storage(
                storage.clone(),
                Credential::key(KEY),
                config(&clock, AutoSave::OnEveryWrite),
            )
            .unwrap();
            for j in 0..i {
                prepare(&clock, j);
                op(&db, j).unwrap();
            }
            prepare(&clock, i);
            let calls = fault.calls(&storage);
            fault.arm(&storage);
            let err = op(&db, i).unwrap_err();
            assert_eq!(
                fault.calls(&storage),
                calls + 1,
                "{what}: one call per write"
            );
            if fault.commits() {
                assert!(matches!(err, Error::NotDurable(_)), "{what}: {err:?}");
                assert_eq!(contents(&db), states.after[i], "{what}: in memory");
            } else {
                assert!(matches!(err, Error::Io(_)), "{what}: {err:?}");
                // The failed write did not happen, in memory.
                assert_eq!(contents(&db), states.before[i], "{what}: in memory");
            }

            let expected = states.old_or_new(i, fault.keeps_new());
            assert_eq!(
                &contents(&reopen(&storage, &clock)),
                expected,
                "{what}: reopened"
            );

            if fault.recovers() {
                // Still usable: the retry succeeds, and so does the rest.
                let next = if fault.commits() { i + 1 } else { i };
                for j in next..OPS {
                    prepare(&clock, j);
                    op(&db, j).unwrap_or_else(|e| panic!("{what}: retry #{j}: {e:?}"));
                }
                assert_eq!(&contents(&db), states.last(), "{what}: after the retry");
                assert_eq!(
                    &contents(&reopen(&storage, &clock)),
                    states.last(),
                    "{what}: reopened after the retry"
                );
            } else {
                assert!(storage.crashed());
            }
            cases += 1;
        }
    }
    assert_eq!(cases, OPS * faults.len());
}

#[test]
fn every_failure_point_of_every_journaled_write_keeps_old_or_new() {
    let faults: Vec<WriteFault> = AppendFault::ALL.map(WriteFault::Append).to_vec();
    every_autosaved_write_keeps_old_or_new(&faults);
}

#[test]
fn every_failure_point_of_every_autosaved_write_without_a_journal_keeps_old_or_new() {
    let faults: Vec<WriteFault> = fault_points()
        .into_iter()
        .map(|(step, fault, keeps_new)| WriteFault::Store(step, fault, keeps_new))
        .collect();
    every_autosaved_write_keeps_old_or_new(&faults);
}

type Strings = BTreeMap<String, String>;

fn strings(db: &MicroKV) -> Strings {
    let tree = db.namespace("big");
    tree.keys()
        .unwrap()
        .into_iter()
        .map(|k| {
            let v = tree.require::<String>(&k).unwrap();
            (k, v)
        })
        .collect()
}

/// Write `i` of the compaction scenario: 3 KiB values, so the journal passes its 64 KiB
/// bound after about twenty writes.
fn big_put(db: &MicroKV, i: usize) -> microkv::Result<()> {
    let value = format!("{i:04}").repeat(768);
    db.namespace("big").put(&format!("k{}", i % 7), &value)
}

fn journaled(storage: &FaultyStorage) -> MicroKV {
    let config = Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    };
    MicroKV::with_storage(storage.clone(), Credential::key(KEY), config).unwrap()
}

fn reopen_strings(storage: &FaultyStorage) -> Strings {
    strings(
        &MicroKV::with_storage(storage.restart(), Credential::key(KEY), Config::default()).unwrap(),
    )
}

#[test]
fn every_failure_point_of_a_compaction_keeps_the_committed_write() {
    // A run without faults finds the write whose append passes the bound.
    let storage = FaultyStorage::new();
    let db = journaled(&storage);
    let (mut expected, mut compacting) = (Vec::new(), None);
    for i in 0..200 {
        let stores = storage.stores();
        big_put(&db, i).unwrap();
        expected.push(strings(&db));
        assert_eq!(storage.appends(), i as u64 + 1, "one append per write");
        if storage.stores() > stores {
            compacting = Some(i);
            break;
        }
    }
    let k = compacting.expect("the journal is compacted");
    assert!(k > 3, "compaction after {k} writes");
    assert_eq!(reopen_strings(&storage), expected[k]);

    for (step, fault, _) in fault_points() {
        let what = format!("{fault:?} at {step:?} of the compaction");
        let storage = FaultyStorage::new();
        let db = journaled(&storage);
        for i in 0..k {
            big_put(&db, i).unwrap();
        }
        storage.fail_store(storage.stores() + 1, step, fault);
        // The record was committed before the compaction: the write succeeded.
        big_put(&db, k).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!(strings(&db), expected[k], "{what}: in memory");
        if fault == Fault::CrashAfterRenameKeepsNew {
            // The new snapshot is durable and the journal of the old one still there: a
            // reopen must ignore it.
            assert!(!storage.durable_journal().is_empty(), "{what}");
        }
        assert_eq!(reopen_strings(&storage), expected[k], "{what}: reopened");

        if fault == Fault::Error {
            // The next write stores a snapshot (the journal's state is unknown), the one
            // after it appends again.
            let (stores, appends) = (storage.stores(), storage.appends());
            big_put(&db, k + 1).unwrap();
            assert_eq!(storage.stores(), stores + 1, "{what}");
            big_put(&db, k + 2).unwrap();
            assert_eq!(storage.appends(), appends + 1, "{what}");
            assert_eq!(strings(&db), reopen_strings(&storage), "{what}: retried");
        } else {
            assert!(storage.crashed(), "{what}");
        }
    }
}

#[test]
fn every_failure_point_of_save_keeps_old_or_new() {
    let states = states();
    for (step, fault, keeps_new) in fault_points() {
        let what = format!("{fault:?} at {step:?}");
        let clock = ManualClock::new(Duration::from_secs(1_000));
        let storage = FaultyStorage::new();
        let db = MicroKV::with_storage(
            storage.clone(),
            Credential::key(KEY),
            config(&clock, AutoSave::Manual),
        )
        .unwrap();
        for j in 0..5 {
            op(&db, j).unwrap();
        }
        db.save().unwrap();
        for j in 5..OPS {
            prepare(&clock, j);
            op(&db, j).unwrap();
        }
        storage.fail_store(storage.stores() + 1, step, fault);
        let err = db.save().unwrap_err();
        if (step, fault) == (Step::SyncDir, Fault::Error) {
            assert!(matches!(err, Error::NotDurable(_)), "{what}: {err:?}");
        } else {
            assert!(matches!(err, Error::Io(_)), "{what}: {err:?}");
        }
        assert_eq!(
            &contents(&db),
            states.last(),
            "{what}: memory keeps every write"
        );
        // Reopen at the time the old image was written, when its TTL entry was live.
        clock.set(Duration::from_secs(1_000));

        let expected = if keeps_new {
            states.last()
        } else {
            &states.before[5]
        };
        assert_eq!(&contents(&reopen(&storage, &clock)), expected, "{what}");

        if fault == Fault::Error {
            db.put("after", &99u32).unwrap();
            db.save().unwrap();
            let mut want = states.last().clone();
            want.insert((String::new(), "after".into()), 99);
            assert_eq!(contents(&reopen(&storage, &clock)), want, "{what}: retry");
        }
    }
}

#[test]
fn every_failure_point_of_creation_leaves_nothing_or_a_whole_store() {
    for (step, fault, keeps_new) in fault_points() {
        let storage = FaultyStorage::new();
        storage.fail_store(1, step, fault);
        let err = MicroKV::with_storage(storage.clone(), Credential::key(KEY), Config::default())
            .unwrap_err();
        if (step, fault) == (Step::SyncDir, Fault::Error) {
            assert!(matches!(err, Error::NotDurable(_)), "{err:?}");
        } else {
            assert!(matches!(err, Error::Io(_)), "{err:?}");
        }
        let after = storage.restart();
        assert_eq!(
            after.load().unwrap().is_some(),
            keeps_new,
            "{fault:?} at {step:?}"
        );
        if keeps_new {
            MicroKV::with_storage(after, Credential::key(KEY), Config::default()).unwrap();
        }
    }
}

/// How a rotation test changes the credential, and the credential it moves to.
#[derive(Clone, Copy, Debug)]
enum Rotation {
    /// `change_password("old", "new")`.
    Password,
    /// `rekey(Credential::key(..))`: from a password to a raw key.
    RawKey,
}

impl Rotation {
    fn run(self, db: &MicroKV) -> microkv::Result<()> {
        match self {
            Rotation::Password => db.change_password("old", "new"),
            Rotation::RawKey => db.rekey(Credential::key(KEY)),
        }
    }

    fn new_credential(self) -> Credential {
        match self {
            Rotation::Password => Credential::password("new"),
            Rotation::RawKey => Credential::key(KEY),
        }
    }
}

/// For every failure point of a rotation's save: the storage opens, with all data, under
/// exactly one of the two credentials, and it is the one the rotation's result names:
/// `Ok` only the new one, `Err` only the old one (and memory keeps the old key). A
/// failure after the rename (the directory sync) committed the rotation: `Ok`, with the
/// new key in memory. (After a simulated crash the result reaches nobody; the reopen finds
/// what the disk kept.)
fn rotation_keeps_exactly_one_credential(rotation: Rotation) {
    let tiny = KdfParams::argon2id(64, 1, 1);
    for (step, fault, keeps_new) in fault_points() {
        let what = format!("{rotation:?}: {fault:?} at {step:?}");
        let storage = FaultyStorage::new();
        let config = || Config {
            kdf: tiny,
            ..Default::default()
        };
        let db =
            MicroKV::with_storage(storage.clone(), Credential::password("old"), config()).unwrap();
        db.put("k", &1u32).unwrap();
        db.save().unwrap();
        storage.fail_store(storage.stores() + 1, step, fault);
        let result = rotation.run(&db);
        if fault == Fault::Error {
            assert_eq!(result.is_ok(), keeps_new, "{what}: {result:?}");
        } else {
            assert!(result.is_err(), "{what}");
        }

        let open = |c: Credential| MicroKV::with_storage(storage.restart(), c, config());
        let old = || Credential::password("old");
        let (good, bad) = if keeps_new {
            (rotation.new_credential(), old())
        } else {
            (old(), rotation.new_credential())
        };
        assert_eq!(
            open(good).unwrap().get::<u32>("k").unwrap(),
            Some(1),
            "{what}"
        );
        assert!(matches!(open(bad), Err(Error::WrongPassword)), "{what}");

        if fault == Fault::Error {
            if !keeps_new {
                // The store kept its old key: the old password still rotates it.
                rotation.run(&db).unwrap();
            }
            db.put("k", &2u32).unwrap();
            db.save().unwrap();
            let reopened = open(rotation.new_credential()).unwrap();
            assert_eq!(reopened.get::<u32>("k").unwrap(), Some(2), "{what}");
        }
    }
}

#[test]
fn every_failure_point_of_a_password_change_keeps_exactly_one_password() {
    rotation_keeps_exactly_one_credential(Rotation::Password);
}

#[test]
fn every_failure_point_of_a_rekey_to_a_raw_key_keeps_exactly_one_credential() {
    rotation_keeps_exactly_one_credential(Rotation::RawKey);
}

#[test]
fn real_os_failures_leave_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    // A parent that is a file: nothing can be created.
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let err = MicroKV::open(file.join("store.kv"), Credential::key(KEY)).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    let mem = MicroKV::in_memory(Credential::key(KEY)).unwrap();
    let err = mem.save_as(file.join("copy.kv")).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");

    // The store's name is taken by a non-empty directory: the save is refused as
    // `UnexpectedFile` (not a regular file) and leaves no temporary file.
    let path = dir.path().join("store.kv");
    let storage = FileStorage::open(&path, LockMode::Exclusive).unwrap();
    let db =
        MicroKV::with_storage(storage.clone(), Credential::key(KEY), Config::default()).unwrap();
    db.put("k", &1u32).unwrap();
    let old = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("inside"), b"y").unwrap();
    let err = db.save().unwrap_err();
    assert!(matches!(err, Error::UnexpectedFile(_)), "{err:?}");
    assert_eq!(strays(dir.path()), vec!["plain".to_string()]);
    // Put the old file back: the store is still usable.
    std::fs::remove_dir_all(&path).unwrap();
    std::fs::write(&path, &old).unwrap();
    db.save().unwrap();
    assert_eq!(strays(dir.path()), vec!["plain".to_string()]);
}

/// On a real file: a rotation whose snapshot is renamed in but whose journal cannot be
/// emptied after it (here a directory stands at `<file>.journal`) committed the new
/// credential: the result says so (`Ok` or `NotDurable`, never an error that would have
/// the caller keep the old password), the new password opens the store, the old one does
/// not, and the same handle goes on writing (it never mistakes its own rotation for
/// another handle's `CredentialChanged`).
#[test]
fn a_rotation_whose_journal_cannot_be_emptied_tells_the_new_credential() {
    for rotation in [Rotation::Password, Rotation::RawKey] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.kv");
        let journal = dir.path().join("store.kv.journal");
        // The owner of the store: a shared handle would catch up first, and fail to read
        // the journal before it rotates anything.
        let config = || Config {
            kdf: KdfParams::argon2id(64, 1, 1),
            lock_mode: LockMode::Exclusive,
            ..Default::default()
        };
        let db = MicroKV::open_with(&path, Credential::password("old"), config()).unwrap();
        db.put("k", &1u32).unwrap();
        db.save().unwrap();
        std::fs::create_dir(&journal).unwrap();
        let result = rotation.run(&db);
        assert!(
            matches!(result, Err(Error::NotDurable(_))),
            "{rotation:?}: {result:?}"
        );
        std::fs::remove_dir(&journal).unwrap();
        let open = |c: Credential| {
            MicroKV::open_with(
                &path,
                c,
                Config {
                    read_only: true,
                    ..config()
                },
            )
        };
        assert!(
            matches!(open(Credential::password("old")), Err(Error::WrongPassword)),
            "{rotation:?}"
        );
        let new = open(rotation.new_credential()).unwrap();
        assert_eq!(new.get::<u32>("k").unwrap(), Some(1), "{rotation:?}");
        drop(new);
        db.put("k", &2u32).unwrap();
        db.save().unwrap();
        drop(db);
        let reopened = open(rotation.new_credential()).unwrap();
        assert_eq!(reopened.get::<u32>("k").unwrap(), Some(2), "{rotation:?}");
    }
}
