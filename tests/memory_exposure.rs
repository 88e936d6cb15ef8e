//! Memory exposure: after secrets pass through the store, scan every mapping of this
//! process through `/proc/self/mem` (PROT_NONE ones included) for any 16-byte piece of
//! any secret.
//!
//! Pass rule: while a store is idle, 0 pieces of the password or of any value anywhere
//! (the arena included); after it is dropped, 0. Pieces of a raw key are allowed only in
//! mappings whose `VmFlags` carry `lo` and `dd` while the store is open, and none after.
//! Pieces in this thread's dead stack (below the scanner's frame) are counted apart and
//! reported: goal 0, not asserted for values, since a caller's own argument copies land
//! there. The store's data key, its cached XChaCha20 subkey and format v2's name-hash key
//! (read out through the `testing` accessors) are held to more: never in ordinary memory, never in dead stack, and
//! nowhere after drop, through saves, snapshots and journal appends of bodies longer than
//! the short-message threshold (512 bytes), which run RustCrypto's cipher. CI runs this test
//! in release too, where inlining moves cipher state between frames.
//!
//! The scanner never allocates once a secret exists: its buffers, files and tables are
//! made first, so it cannot reuse (and overwrite) a freed block it is looking into.
//! Secrets are registered only as masked pieces, so its tables never match themselves.
#![cfg(target_os = "linux")]

#[path = "support/self_scan.rs"]
mod self_scan;
use self_scan::{random_text, Counts, Scanner};

use microkv::{AutoSave, Config, Credential, MemoryStorage, MicroKV};
use zeroize::{Zeroize, Zeroizing};

const CONTROL: usize = 0;
const PASSWORD: usize = 1;
const RAW_KEY: usize = 2;
const DATA_KEY: usize = 3;
const SUBKEY: usize = 4;
const STACK_CONTROL: usize = 5;
const VALUES: usize = 6;
const N_VALUES: usize = 6;
/// The key of format v2's name hash (after the values' ids).
const NAME_KEY: usize = VALUES + N_VALUES;

/// Puts, gets, updates and prefix-scans the values through `db`, wiping every copy the
/// test itself holds. Runs in its own frame, so its temporaries end up in dead stack.
#[inline(never)]
fn exercise(db: &MicroKV, values: &mut [String]) {
    let users = db.namespace("users");
    db.put("a", &values[0]).unwrap();
    users.put("admin:x", &values[1]).unwrap();
    users.put("admin:y", &values[2]).unwrap();
    db.put("c", &values[3]).unwrap();

    let mut got: String = db.require("a").unwrap();
    assert_eq!(got, values[0]);
    got.zeroize();

    let replacement = Zeroizing::new(values[4].clone());
    db.update::<Zeroizing<String>, _>("c", |cur| {
        assert_eq!(cur.as_deref().map(String::as_str), Some(values[3].as_str()));
        Some(replacement)
    })
    .unwrap();

    let admins: Vec<(String, Zeroizing<String>)> = users.prefix("admin:").unwrap();
    assert_eq!(admins.len(), 2);
    assert_eq!(*admins[0].1, values[1]);
    drop(admins);

    let mut last: String = db.require("c").unwrap();
    assert_eq!(last, values[4]);
    last.zeroize();
    db.put("e", &values[5]).unwrap();
    // Bodies over 512 bytes take the long-message cipher: a journal record (autosaved
    // stores) and a snapshot.
    let big = Zeroizing::new(values[5].repeat(12));
    db.put("big", &*big).unwrap();
    db.save().unwrap();
    // Read back through the saved file's directory: the name hash (and its key) on the
    // path of a get.
    let mut e: String = db.require("e").unwrap();
    assert_eq!(e, values[5]);
    e.zeroize();
    for v in values.iter_mut() {
        v.zeroize();
    }
}

/// Leaves a copy of `secret` in this function's frame, which is dead stack once it
/// returns: the control that the scanner finds what a call leaves below the caller.
#[inline(never)]
fn leave_in_dead_stack(secret: &[u8]) {
    let mut copy = [0u8; 32];
    copy.copy_from_slice(secret);
    std::hint::black_box(&mut copy);
}

/// Registers the store's data key and subkey with the scanner; wipes the copies.
///
/// Never inlined: the accessor returns the keys by value, and a move leaves its source
/// unwiped. Inlined into a caller whose frame is live during a scan (a helper that
/// registers, exercises and scans), that stale copy is read as a data key in ordinary
/// memory (17 pieces: one whole copy; seen in dev and release), although the store left
/// none: in a frame of its own it is dead and overwritten by the scan's calls.
#[inline(never)]
fn register_keys(scanner: &mut Scanner, db: &MicroKV) {
    let [data, sub] = db.testing_key_material().unwrap();
    scanner.register(DATA_KEY, &data[..]);
    scanner.register(SUBKEY, &sub[..]);
    scanner.register(NAME_KEY, &db.testing_name_key().unwrap()[..]);
}

/// Scans, then asserts [`assert_clean`] and [`assert_keys_clean`] of `stage`.
fn scan_and_assert(scanner: &mut Scanner, stage: &str, raw_key_may_be_locked: bool, open: bool) {
    let counts = scanner.scan();
    assert_clean(stage, &counts, raw_key_may_be_locked);
    assert_keys_clean(stage, &counts, open);
}

/// The keys may sit only in the arena while the store is open (where a scan reads them
/// at all: secret memory cannot be read even by this process): never in ordinary memory or
/// dead stack, and nowhere once the store is dropped.
fn assert_keys_clean(stage: &str, counts: &[Counts], open: bool) {
    for id in [DATA_KEY, SUBKEY, NAME_KEY] {
        let c = counts[id];
        assert_eq!(c.exposed, 0, "{stage}: key #{id} in ordinary memory: {c:?}");
        assert_eq!(c.dead_stack, 0, "{stage}: key #{id} in dead stack: {c:?}");
        if !open {
            assert_eq!(c.locked, 0, "{stage}: key #{id} outlived its store: {c:?}");
        }
    }
}

/// Runs `f` 32 KiB deeper in the stack than the scanner's own calls ever reach, so that
/// whatever the store's calls leave in dead stack is still there when the scan reads it.
#[inline(never)]
fn deep<R>(f: impl FnOnce() -> R) -> R {
    let mut pad = [0u8; 32 * 1024];
    std::hint::black_box(&mut pad);
    let r = f();
    std::hint::black_box(&pad);
    r
}

#[inline(never)]
fn open_with_password(storage: &MemoryStorage, password: &mut String) -> MicroKV {
    // Autosaved: every write appends a journal record.
    let config = Config {
        autosave: AutoSave::OnEveryWrite,
        ..Config::default()
    };
    let db = MicroKV::with_storage(
        storage.clone(),
        Credential::password(password.clone()),
        config,
    );
    password.zeroize();
    db.unwrap()
}

#[inline(never)]
fn open_with_key(key: &mut [u8; 32]) -> MicroKV {
    let db = MicroKV::with_storage(
        MemoryStorage::default(),
        Credential::key(*key),
        Config::default(),
    );
    key.zeroize();
    db.unwrap()
}

fn report(stage: &str, counts: &[Counts]) {
    let names = [
        "control",
        "password",
        "raw key",
        "data key",
        "subkey",
        "stack control",
    ];
    for (id, c) in counts.iter().enumerate() {
        let name = match id {
            NAME_KEY => "name key",
            _ => names.get(id).copied().unwrap_or("value"),
        };
        eprintln!("{stage}: {name} #{id}: {c:?}");
    }
}

fn assert_clean(stage: &str, counts: &[Counts], raw_key_may_be_locked: bool) {
    report(stage, counts);
    for (id, c) in counts.iter().enumerate().skip(PASSWORD) {
        if matches!(id, DATA_KEY | SUBKEY | NAME_KEY | STACK_CONTROL) {
            continue; // held to their own rules
        }
        assert_eq!(
            c.exposed, 0,
            "{stage}: secret #{id} exposed in ordinary memory"
        );
        if id != RAW_KEY || !raw_key_may_be_locked {
            assert_eq!(
                c.locked, 0,
                "{stage}: secret #{id} left in the arena while idle"
            );
        }
    }
}

#[test]
fn secrets_leave_no_trace_in_process_memory() {
    let mut scanner = Scanner::new(NAME_KEY + 1);

    // The scanner must see a live secret, or the test proves nothing.
    let mut control = random_text(48);
    scanner.register(CONTROL, control.as_bytes());
    let seen = scanner.scan()[CONTROL];
    assert!(
        seen.exposed >= 1,
        "scanner did not find a live control secret: {seen:?}"
    );
    control.zeroize();
    assert_eq!(
        scanner.scan()[CONTROL].exposed,
        0,
        "control secret survived its wipe"
    );
    // ...and must see what a call leaves in dead stack, or "no key in dead stack" below
    // proves nothing.
    let mut stack_control = [0u8; 32];
    getrandom::fill(&mut stack_control).unwrap();
    scanner.register(STACK_CONTROL, &stack_control);
    deep(|| leave_in_dead_stack(&stack_control));
    stack_control.zeroize();
    let seen = scanner.scan()[STACK_CONTROL];
    assert!(
        seen.dead_stack >= 1,
        "scanner did not find a copy left in dead stack: {seen:?}"
    );

    let mut password = random_text(40);
    let mut values: Vec<String> = (0..N_VALUES).map(|_| random_text(64)).collect();
    scanner.register(PASSWORD, password.as_bytes());
    for (i, v) in values.iter().enumerate() {
        scanner.register(VALUES + i, v.as_bytes());
    }

    // Password store: created, saved, dropped, then opened again from its snapshot.
    let storage = MemoryStorage::default();
    let mut first = password.clone();
    drop(deep(|| open_with_password(&storage, &mut first)));
    let mut again = password.clone();
    password.zeroize();
    let db = deep(|| open_with_password(&storage, &mut again));
    register_keys(&mut scanner, &db);
    deep(|| exercise(&db, &mut values));
    scan_and_assert(&mut scanner, "password store idle", false, true);
    drop(db);
    scan_and_assert(&mut scanner, "password store dropped", false, false);

    // Raw-key store: its key may sit only in locked, undumpable pages while open.
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    scanner.register(RAW_KEY, &key);
    let mut values: Vec<String> = (0..N_VALUES).map(|_| random_text(64)).collect();
    for (i, v) in values.iter().enumerate() {
        scanner.register(VALUES + i, v.as_bytes());
    }
    let db = deep(|| open_with_key(&mut key));
    register_keys(&mut scanner, &db);
    deep(|| exercise(&db, &mut values));
    scan_and_assert(&mut scanner, "raw-key store idle", true, true);
    drop(db);
    scan_and_assert(&mut scanner, "raw-key store dropped", false, false);
}
