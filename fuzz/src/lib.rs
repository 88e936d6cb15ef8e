//! The fuzz targets' code, shared by the `cargo fuzz` targets (`fuzz_targets/*.rs`) and
//! by the ordinary test `fuzz/tests/corpus.rs` (the root package's `fuzz_corpus`, which
//! CI runs with the rest of the suite).
//!
//! - [`open_bytes`]: arbitrary bytes as a store file, opened with a raw key and with a
//!   password under tiny KDF parameters. Never panics; what opens must read, save and
//!   reopen to the same contents.
//! - [`open_body`]: arbitrary bytes as the *plaintext body* of a store file, sealed into a
//!   valid file by this harness (FORMAT.md's key schedule, wrap and body seal), so the
//!   fuzzer reaches the body parser behind the authentication tag.
//! - [`ops_model`]: a sequence of operations (put, get, remove, update, compare-and-swap,
//!   transactions, TTL puts, clock advances, saves, reopens, injected storage faults)
//!   checked against a `BTreeMap` model, with `ManualClock` and `FaultyStorage`.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use microkv::{
    AutoSave, Config, Credential, Error, HeapPages, KdfParams, ManualClock, MemoryStorage, MicroKV,
    Storage,
};
use microkv_testing::{Fault, FaultyStorage, Step};

#[path = "../../tests/support/format_v1.rs"]
mod format_v1;
use format_v1::{entry, key_schedule, seal, sealed_value, varint};

/// The raw key every target opens with (seeds are made with it too).
pub const KEY: [u8; 32] = [0x5A; 32];
/// The password of the password mode (seeds are made with it too).
pub const PASSWORD: &str = "fuzz";
const SALT: [u8; 16] = [0x21; 16];
const DATA_KEY: [u8; 32] = [0x42; 32];

fn memory(bytes: &[u8]) -> MemoryStorage {
    let storage = MemoryStorage::default();
    storage.store(bytes).unwrap();
    storage
}

/// Everything a store holds, read every way the API offers.
type Contents = BTreeMap<(String, String), Vec<u8>>;

fn read_all(db: &MicroKV) -> Result<Contents, Error> {
    let mut out = Contents::new();
    for ns in db.tree_names()? {
        let tree = db.namespace(&ns);
        let keys = tree.keys_sorted()?;
        assert_eq!(keys.len(), tree.len()?);
        for k in keys {
            assert!(tree.contains(&k)?);
            // Arbitrary bodies hold values that may not decrypt or decode: an error is fine,
            // a panic is not.
            let _ = tree.get::<String>(&k);
            let _ = tree.get_secret_bytes(&k);
            if let Some(v) = tree.get::<Vec<u8>>(&k)? {
                out.insert((ns.clone(), k), v);
            }
        }
    }
    Ok(out)
}

/// Opens `bytes` with `credential`; what opens must read, and save and reopen to the
/// same contents.
fn open_and_check(bytes: &[u8], credential: impl Fn() -> Credential, config: impl Fn() -> Config) {
    let Ok(db) = MicroKV::with_storage(memory(bytes), credential(), config()) else {
        return;
    };
    let Ok(before) = read_all(&db) else { return };
    let Ok(snapshot) = db.export() else { return };
    drop(db);
    let again = MicroKV::with_storage(memory(&snapshot), credential(), config())
        .expect("a snapshot of an opened store reopens");
    let after = read_all(&again).expect("a reopened snapshot reads");
    assert_eq!(before, after, "contents changed across save and reopen");
}

/// Whether the header's KDF parameters are tiny enough to run per input (the password
/// mode skips others: their cost is the KDF's, not the parser's).
fn tiny_kdf(bytes: &[u8]) -> bool {
    if bytes.len() < 24 {
        return true;
    }
    let word = |i: usize| u32::from_le_bytes(bytes[12 + 4 * i..16 + 4 * i].try_into().unwrap());
    match bytes[10] {
        1 => word(0) <= 64 && word(1) <= 2 && word(2) <= 2,
        2 => word(0) <= 8 && word(1) <= 8 && word(2) <= 2,
        _ => true,
    }
}

/// Target `open_bytes`.
pub fn open_bytes(data: &[u8]) {
    open_and_check(data, || Credential::key(KEY), Config::default);
    if tiny_kdf(data) {
        open_and_check(
            data,
            || Credential::password(PASSWORD),
            || Config {
                kdf: KdfParams::argon2id(8, 1, 1),
                ..Default::default()
            },
        );
    }
}

/// A v1 store file (raw key [`KEY`]) whose sealed body is `body`, as FORMAT.md describes.
pub fn file_with_body(body: &[u8]) -> Vec<u8> {
    let (kek, commitment) = key_schedule(&KEY, &SALT);
    let mut out = Vec::with_capacity(176 + body.len() + 16);
    out.extend_from_slice(b"MICROKV\0");
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&[0, 1]); // raw key; values in MessagePack
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(&SALT);
    out.extend_from_slice(&commitment);
    let wrap_nonce = [0x33; 24];
    let wrapped = seal(&kek, &wrap_nonce, &out, &DATA_KEY);
    out.extend_from_slice(&wrap_nonce);
    out.extend_from_slice(&wrapped);
    let body_nonce = [0x44; 24];
    out.extend_from_slice(&body_nonce);
    out.extend_from_slice(&((body.len() + 16) as u64).to_le_bytes());
    let sealed = seal(&DATA_KEY, &body_nonce, &out, body);
    out.extend(sealed);
    out
}

/// A seed entry: key, expiry (ms since the epoch), value bytes.
pub type SeedEntry<'a> = (&'a str, Option<u64>, &'a [u8]);

/// A well-formed body (a seed for [`open_body`]): `(namespace, [(key, expiry, value)])`,
/// each value sealed under the data key as FORMAT.md describes (value: its plaintext bytes).
pub fn body(spaces: &[(&str, &[SeedEntry])]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(spaces.len() as u64, &mut out);
    for (i, (ns, entries)) in spaces.iter().enumerate() {
        varint(ns.len() as u64, &mut out);
        out.extend_from_slice(ns.as_bytes());
        varint(entries.len() as u64, &mut out);
        for (j, (key, expires, value)) in entries.iter().enumerate() {
            let mut plain = Vec::new();
            varint(value.len() as u64, &mut plain);
            plain.extend_from_slice(value);
            let mut nonce = [0u8; 24];
            nonce[0] = i as u8;
            nonce[1] = j as u8;
            let sealed = sealed_value(&DATA_KEY, &nonce, ns, key, &plain);
            entry(key, *expires, &sealed, &mut out);
        }
    }
    out
}

/// Target `open_body`.
pub fn open_body(data: &[u8]) {
    open_and_check(
        &file_with_body(data),
        || Credential::key(KEY),
        Config::default,
    );
}

/// The fuzz input as a stream of choices; zeros once it runs out.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn below(&mut self, n: u8) -> u8 {
        self.byte() % n
    }
    fn value(&mut self) -> Vec<u8> {
        let len = self.below(24) as usize;
        (0..len).map(|_| self.byte()).collect()
    }
}

const NAMESPACES: [&str; 3] = ["", "a", "b"];
const KEYS: [&str; 4] = ["k0", "k1", "k2", "k3"];
const MAX_OPS: usize = 256;

/// The model: `(namespace, key) -> (value, expiry in ms)`.
type Model = BTreeMap<(String, String), (Vec<u8>, Option<u64>)>;

fn live(model: &Model, now: u64, k: &(String, String)) -> Option<Vec<u8>> {
    model
        .get(k)
        .filter(|(_, at)| at.is_none_or(|at| now < at))
        .map(|(v, _)| v.clone())
}

fn view(model: &Model, now: u64) -> Contents {
    model
        .iter()
        .filter(|(_, (_, at))| at.is_none_or(|at| now < at))
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect()
}

/// `model` once the value of `name` becomes `new` in place (an update, a swap): a value
/// replacing a live one (`was_live`) keeps its expiry, any other has none; `None` removes it
/// (an expired entry left in the model would be invisible all the same).
fn replaced(model: &Model, name: (String, String), was_live: bool, new: Option<Vec<u8>>) -> Model {
    let mut next = model.clone();
    match new {
        Some(v) => {
            let ttl = model.get(&name).and_then(|e| e.1).filter(|_| was_live);
            next.insert(name, (v, ttl));
        }
        None => {
            next.remove(&name);
        }
    }
    next
}

fn now_ms(clock: &ManualClock) -> u64 {
    use microkv::Clock;
    clock.now().as_millis() as u64
}

struct Harness {
    clock: ManualClock,
    autosave: AutoSave,
    storage: FaultyStorage,
    db: MicroKV,
    /// What the store holds in memory.
    mem: Model,
    /// What the storage durably holds.
    durable: Model,
    /// The armed fault: `(store number, durable image is the new one)`.
    armed: Option<(u64, bool)>,
}

impl Harness {
    fn config(clock: &ManualClock, autosave: AutoSave) -> Config {
        // The arena on the heap: the OS page source (mmap, mlock, guard pages) has its own
        // tests, and its system calls would cost this target a third of its speed.
        Config {
            autosave,
            clock: Some(Arc::new(clock.clone())),
            pages: Some(Arc::new(HeapPages)),
            ..Default::default()
        }
    }

    fn open(storage: FaultyStorage, clock: &ManualClock, autosave: AutoSave) -> MicroKV {
        MicroKV::with_storage(storage, Credential::key(KEY), Self::config(clock, autosave))
            .expect("the store opens")
    }

    fn reopen(&mut self) {
        self.storage = self.storage.restart();
        self.db = Self::open(self.storage.clone(), &self.clock, self.autosave);
        self.mem = self.durable.clone();
        self.armed = None;
        self.check_all();
    }

    fn check_all(&self) {
        let now = now_ms(&self.clock);
        let found = read_all(&self.db).expect("the store reads");
        assert_eq!(found, view(&self.mem, now), "store and model differ");
    }

    /// Runs a write whose effect on the model is `next` (the state if it succeeds), and
    /// whose return value is `result`. Checks it against the armed fault.
    fn write<R: PartialEq + core::fmt::Debug>(
        &mut self,
        next: Model,
        expected: R,
        run: impl FnOnce(&MicroKV) -> microkv::Result<R>,
    ) {
        let (stores, appends) = (self.storage.stores(), self.storage.appends());
        let result = run(&self.db);
        // Durable by a full save or by a journal append (`OnEveryWrite`).
        let saved = self.storage.stores() > stores || self.storage.appends() > appends;
        let faulted = match self.armed {
            Some((n, durable_new)) if self.storage.stores() >= n => {
                self.armed = None;
                Some(durable_new)
            }
            _ => None,
        };
        match (result, faulted) {
            (Ok(r), None) => {
                assert_eq!(r, expected, "result differs from the model");
                self.mem = next;
                if saved {
                    self.durable = self.mem.clone();
                }
            }
            (Ok(r), Some(_)) => {
                // The fault hit a compaction after the write's journal record was
                // durable: the write stands, in memory and on disk.
                assert!(
                    self.storage.appends() > appends,
                    "a failed save returned Ok({r:?})"
                );
                assert_eq!(r, expected, "result differs from the model");
                self.mem = next;
                self.durable = self.mem.clone();
            }
            (Err(Error::NotDurable(_)), Some(true)) => {
                // The snapshot holding the write is in place (the directory sync failed
                // after the rename): the write happened, in memory and on disk.
                self.mem = next;
                self.durable = self.mem.clone();
            }
            (Err(Error::Io(_)), Some(durable_new)) => {
                // Not applied in memory; on disk, old or new as the fault leaves it.
                if durable_new {
                    self.durable = next;
                }
            }
            (Err(e), faulted) => panic!("write failed: {e:?} (fault fired: {faulted:?})"),
        }
        if self.storage.crashed() {
            self.reopen();
        }
    }
}

/// Target `ops_model`.
pub fn ops_model(data: &[u8]) {
    let mut input = Input { data, pos: 0 };
    let autosave = if input.byte() & 1 == 0 {
        AutoSave::Manual
    } else {
        AutoSave::OnEveryWrite
    };
    let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
    let storage = FaultyStorage::new();
    let db = Harness::open(storage.clone(), &clock, autosave);
    let mut h = Harness {
        clock,
        autosave,
        storage,
        db,
        mem: Model::new(),
        durable: Model::new(),
        armed: None,
    };
    let mut ops = 0;
    while !input.done() && ops < MAX_OPS {
        ops += 1;
        let ns = NAMESPACES[input.below(3) as usize];
        let key = KEYS[input.below(4) as usize];
        let name = (ns.to_owned(), key.to_owned());
        let now = now_ms(&h.clock);
        let current = live(&h.mem, now, &name);
        match input.below(11) {
            0 => {
                let v = input.value();
                let mut next = h.mem.clone();
                next.insert(name, (v.clone(), None));
                h.write(next, (), |db| db.namespace(ns).put(key, &v));
            }
            1 => {
                let got = h.db.namespace(ns).get::<Vec<u8>>(key).unwrap();
                assert_eq!(got, current, "get {ns}/{key}");
                let secret = h.db.namespace(ns).get_secret_bytes(key).unwrap();
                assert_eq!(
                    secret.as_ref().map(|s| s.expose_secret()),
                    current.as_deref()
                );
            }
            2 => {
                let mut next = h.mem.clone();
                if current.is_some() {
                    next.remove(&name);
                }
                h.write(next, current.is_some(), |db| db.namespace(ns).remove(key));
            }
            3 => {
                let how = input.below(3);
                let b = input.byte();
                let f = move |v: Option<Vec<u8>>| match how {
                    0 => None,
                    1 => Some(v.unwrap_or_default().into_iter().chain([b]).collect()),
                    _ => v.map(|_| vec![b]),
                };
                let next = replaced(&h.mem, name, current.is_some(), f(current.clone()));
                h.write(next, (), |db| db.namespace(ns).update::<Vec<u8>, _>(key, f));
            }
            4 => {
                let expected = match input.below(3) {
                    0 => None,
                    1 => current.clone(),
                    _ => Some(input.value()),
                };
                let new = (input.below(4) != 0).then(|| input.value());
                let swaps = expected == current;
                let next = if swaps {
                    replaced(&h.mem, name, current.is_some(), new.clone())
                } else {
                    h.mem.clone()
                };
                h.write(next, swaps, |db| {
                    db.namespace(ns)
                        .compare_and_swap(key, expected.as_ref(), new.as_ref())
                });
            }
            5 => {
                // A transaction of 1-4 writes; sometimes aborted at the end.
                let n = 1 + input.below(4);
                let abort = input.below(4) == 0;
                let mut writes = Vec::new();
                let mut next = h.mem.clone();
                for _ in 0..n {
                    let name = (
                        NAMESPACES[input.below(3) as usize].to_owned(),
                        KEYS[input.below(4) as usize].to_owned(),
                    );
                    let value = (input.below(3) != 0).then(|| input.value());
                    match &value {
                        Some(v) => next.insert(name.clone(), (v.clone(), None)),
                        None => next.remove(&name),
                    };
                    writes.push((name, value));
                }
                let run = |db: &MicroKV| {
                    db.transaction(|tx| {
                        for ((ns, k), v) in &writes {
                            match v {
                                Some(v) => tx.put(ns, k, v)?,
                                None => {
                                    tx.remove(ns, k)?;
                                }
                            }
                        }
                        if abort {
                            return Err(Error::abort("fuzz"));
                        }
                        Ok(())
                    })
                };
                if abort {
                    let stores = h.storage.stores();
                    assert!(matches!(run(&h.db), Err(Error::Aborted(_))));
                    assert_eq!(h.storage.stores(), stores, "an aborted transaction saved");
                } else {
                    h.write(next, (), run);
                }
            }
            6 => {
                let v = input.value();
                let ttl = u64::from(input.byte()) * 8;
                let mut next = h.mem.clone();
                next.insert(name, (v.clone(), Some(now + ttl)));
                h.write(next, (), |db| {
                    db.namespace(ns)
                        .put_with_ttl(key, &v, Duration::from_millis(ttl))
                });
            }
            7 => h
                .clock
                .advance(Duration::from_millis(u64::from(input.byte()) * 8)),
            8 => {
                let stores = h.storage.stores();
                let result = h.db.save();
                let faulted = h
                    .armed
                    .filter(|&(n, _)| h.storage.stores() >= n && h.storage.stores() > stores);
                match (result, faulted) {
                    (Ok(()), None) => h.durable = h.mem.clone(),
                    (Err(Error::Io(_) | Error::NotDurable(_)), Some((_, durable_new))) => {
                        h.armed = None;
                        if durable_new {
                            h.durable = h.mem.clone();
                        }
                    }
                    (r, f) => panic!("save: {r:?}, fault {f:?}"),
                }
                if h.storage.crashed() {
                    h.reopen();
                }
            }
            9 => h.reopen(),
            _ => {
                if h.armed.is_none() {
                    let step = Step::ALL[input.below(4) as usize];
                    let (fault, durable_new) = match input.below(3) {
                        0 => (Fault::Error, step == Step::SyncDir),
                        1 => (Fault::Crash, false),
                        _ => (Fault::CrashAfterRenameKeepsNew, true),
                    };
                    let n = h.storage.stores() + 1;
                    h.storage.fail_store(n, step, fault);
                    h.armed = Some((n, durable_new));
                }
            }
        }
    }
    h.check_all();
    h.reopen();
}

/// Seed inputs for `target` (written to `fuzz/corpus/<target>/` by
/// `scripts/fuzz-seeds.sh`; run by `fuzz/tests/corpus.rs`).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "open_bytes" => {
            let mut out = Vec::new();
            let raw = MemoryStorage::default();
            let db = MicroKV::with_storage(raw.clone(), Credential::key(KEY), Config::default())
                .unwrap();
            db.save().unwrap();
            out.push(raw.load().unwrap().unwrap());
            db.put("name", "value").unwrap();
            db.namespace("users").put("alice", &42u32).unwrap();
            db.put_with_ttl("otp", &[1u8, 2, 3][..], Duration::from_secs(60))
                .unwrap();
            db.save().unwrap();
            out.push(raw.load().unwrap().unwrap());
            let pw = MemoryStorage::default();
            let config = Config {
                kdf: KdfParams::argon2id(8, 1, 1),
                ..Default::default()
            };
            let db =
                MicroKV::with_storage(pw.clone(), Credential::password(PASSWORD), config).unwrap();
            db.put("k", "v").unwrap();
            db.save().unwrap();
            out.push(pw.load().unwrap().unwrap());
            out.push(b"MICROKV\0".to_vec());
            out.push(Vec::new());
            out
        }
        "open_body" => vec![
            body(&[]),
            body(&[("", &[("k", None, b"value")])]),
            body(&[
                ("", &[("a", None, b"1"), ("b", Some(1 << 40), b"two")]),
                ("users", &[("alice", None, b"\x2a"), ("bob", Some(5), b"")]),
            ]),
            vec![1, 0, 1, 1, b'k', 0, 0],
        ],
        "ops_model" => vec![
            vec![
                0, 0, 0, 0, 3, b'a', b'b', b'c', 1, 0, 0, 1, 0, 0, 2, 0, 0, 9,
            ],
            vec![1, 0, 1, 0, 3, 1, 2, 3, 0, 1, 5, 2, 0, 0, 1, 4, 1, 0, 9],
            vec![
                0, 2, 3, 6, 2, 7, 7, 50, 0, 0, 7, 9, 2, 3, 1, 0, 0, 8, 0, 0, 9,
            ],
            vec![
                1, 0, 0, 10, 1, 1, 0, 0, 0, 2, 5, 6, 0, 0, 10, 3, 0, 0, 0, 0, 1, 9,
            ],
            vec![
                0, 1, 1, 5, 3, 1, 0, 0, 1, 4, 2, 1, 1, 2, 2, 0, 0, 9, 1, 1, 8,
            ],
        ],
        other => panic!("no target {other}"),
    }
}

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// The fuzz targets by name.
pub const TARGETS: [(&str, Target); 3] = [
    ("open_bytes", open_bytes),
    ("open_body", open_body),
    ("ops_model", ops_model),
];
