//! The workloads of the speed issue, over three stores behind one trait: our `microkv`,
//! the published `microkv` 0.3.0, and a floor (a hash map of XChaCha20-Poly1305-sealed
//! values with nothing else), the floor in two AEAD flavours.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

pub mod file_peers;

/// A raw 256-bit key, so no KDF runs while a store is built.
pub const KEY: [u8; 32] = [0x42; 32];

/// The key of entry `i`: 7 digits, so `k00001` selects 100 entries.
pub fn key(i: usize) -> String {
    format!("k{i:07}")
}

/// The prefix the `prefix` workload asks for: 100 entries.
pub const PREFIX: &str = "k00001";

/// A value of `len` bytes, distinct per `i`.
pub fn value(i: usize, len: usize) -> String {
    let mut v = format!("{i:016x}");
    while v.len() < len {
        v.push((b'a' + (v.len() % 26) as u8) as char);
    }
    v
}

/// One store under test. Values are passed as `&String`, the spec's own idiom
/// (`db.put("name", &"test".to_string())`), which both stores' generic `put` accepts.
#[allow(clippy::ptr_arg)]
pub trait Kv {
    /// The name in tables.
    const NAME: &'static str;
    /// An empty in-memory store.
    fn new() -> Self;
    /// Put `value` under `key`.
    fn put(&self, key: &str, value: &String);
    /// The value under `key`.
    fn get(&self, key: &str) -> Option<String>;
    /// Increment the `u64` counter under `key`.
    fn bump(&self, key: &str);
    /// Put two values in one transaction.
    fn txn2(&self, a: &str, b: &str, value: &String);
    /// All key names.
    fn keys(&self) -> Vec<String>;
    /// Every entry whose key starts with `prefix`, decrypted.
    fn prefix(&self, prefix: &str) -> Vec<(String, String)>;
}

/// Our store.
pub struct Ours(microkv::MicroKV);

/// The published microkv 0.3.0.
pub struct V03(microkv03::MicroKV);

/// A store on disk (ours and 0.3.0; the floor has no file).
pub trait Disk: Kv {
    /// A new store at `path` (raw key), saving on every write when `on_every_write`.
    fn create(path: &Path, on_every_write: bool) -> Self;
    /// Opens the store at `path` (raw key), saving on every write when `on_every_write`.
    fn open(path: &Path, on_every_write: bool) -> Self;
    /// Writes the whole store to its file.
    fn save(&self);
}

/// The [`Kv`], [`Disk`] and [`file_peers::FileStore`] impls of `$store`, which wraps the
/// `MicroKV` of the crate `$krate`: 0.4 keeps 0.3's API, so one body serves ours and
/// 0.3.0. `$files` are the suffixes of the files a store at a path keeps.
macro_rules! microkv_peer {
    ($store:ident, $krate:ident, $name:literal, $files:expr) => {
        impl $store {
            fn config(on_every_write: bool) -> $krate::Config {
                $krate::Config {
                    autosave: if on_every_write {
                        $krate::AutoSave::OnEveryWrite
                    } else {
                        $krate::AutoSave::Manual
                    },
                    ..Default::default()
                }
            }
        }

        impl Kv for $store {
            const NAME: &'static str = $name;
            fn new() -> Self {
                $store($krate::MicroKV::in_memory($krate::Credential::key(KEY)).unwrap())
            }
            fn put(&self, key: &str, value: &String) {
                self.0.put(key, value).unwrap();
            }
            fn get(&self, key: &str) -> Option<String> {
                self.0.get(key).unwrap()
            }
            fn bump(&self, key: &str) {
                self.0
                    .update::<u64, _>(key, |c| Some(c.unwrap_or(0) + 1))
                    .unwrap();
            }
            fn txn2(&self, a: &str, b: &str, value: &String) {
                self.0
                    .transaction(|tx| {
                        tx.put("", a, value)?;
                        tx.put("", b, value)?;
                        Ok(())
                    })
                    .unwrap();
            }
            fn keys(&self) -> Vec<String> {
                self.0.keys().unwrap()
            }
            fn prefix(&self, prefix: &str) -> Vec<(String, String)> {
                self.0.prefix(prefix).unwrap()
            }
        }

        impl Disk for $store {
            fn create(path: &Path, on_every_write: bool) -> Self {
                let (key, config) = ($krate::Credential::key(KEY), Self::config(on_every_write));
                $store($krate::MicroKV::create_new_with(path, key, config).unwrap())
            }
            fn open(path: &Path, on_every_write: bool) -> Self {
                let (key, config) = ($krate::Credential::key(KEY), Self::config(on_every_write));
                $store($krate::MicroKV::open_existing_with(path, key, config).unwrap())
            }
            fn save(&self) {
                self.0.save().unwrap();
            }
        }

        impl file_peers::FileStore for $store {
            const NAME: &'static str = $name;
            fn build(path: &Path, keys: &[String], values: &[String]) {
                let store = <$store as Disk>::create(path, false);
                for (k, v) in keys.iter().zip(values) {
                    Kv::put(&store, k, v);
                }
                store.save();
            }
            fn open(path: &Path) -> Self {
                <$store as Disk>::open(path, true)
            }
            fn get(&self, key: &str) -> Option<String> {
                Kv::get(self, key)
            }
            fn put(&self, key: &str, value: &str) {
                self.0.put(key, &value).unwrap();
            }
            fn files(path: &Path) -> Vec<std::path::PathBuf> {
                $files
                    .iter()
                    .map(|s| file_peers::with_suffix(path, s))
                    .collect()
            }
        }
    };
}

microkv_peer!(Ours, microkv, "ours", [".lock", ".journal", ".wlock", ""]);
microkv_peer!(V03, microkv03, "0.3.0", [".lock", ""]);

/// The file workloads of the table, on a store of `n` entries of `len`-byte
/// values in `dir`: `save` (the whole store, fsync), `open` (raw key), and a `put` with
/// `OnEveryWrite` (fresh keys, durable before it returns). `(workload, time per call)`.
pub fn disk_workloads<S: Disk>(dir: &Path, n: usize, len: usize) -> Vec<(&'static str, Duration)> {
    let path = dir.join(format!("{}-{n}x{len}.kv", S::NAME));
    for stale in [".lock", ".journal", ""] {
        let mut name = path.clone().into_os_string();
        name.push(stale);
        let _ = std::fs::remove_file(name);
    }
    let store = S::create(&path, false);
    for i in 0..n {
        store.put(&key(i), &value(i, len));
    }
    let min = Duration::from_millis(300);
    let save = per_op(10, 1_000, min, |_| store.save());
    drop(store);
    // Only the open is timed, not the drop of the opened store.
    let (mut open, mut opens, started) = (Duration::ZERO, 0, Instant::now());
    while opens < 10 || started.elapsed() < min {
        let t = Instant::now();
        let store = black_box(S::open(&path, false));
        open += t.elapsed();
        drop(store);
        opens += 1;
    }
    let open = open / opens;
    let store = S::open(&path, true);
    let fresh = value(n + 1, len);
    let put = per_op(50, 100_000, Duration::from_millis(600), |i| {
        store.put(&key(n + i), &fresh)
    });
    vec![("save", save), ("open", open), ("put (OnEveryWrite)", put)]
}

/// The median of `v` (the upper one of an even count).
pub fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

/// `d` for a table: ms or us to two decimals, or whole ns.
pub fn show(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// An XChaCha20-Poly1305 implementation for the floor: the implementations seal and open
/// `ciphertext || tag`; the provided methods add and strip the nonce in front.
pub trait Aead {
    /// The name in tables.
    const NAME: &'static str;
    /// Seals `plaintext` into `out` (`plaintext.len() + 16` bytes): `ciphertext || tag`.
    fn seal_into(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], plaintext: &[u8], out: &mut [u8]);
    /// Opens `ct` (`ciphertext || tag`) into `out` (16 bytes shorter); whether it was authentic.
    fn open_into(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], ct: &[u8], out: &mut [u8]) -> bool;

    /// `nonce || ciphertext || tag`.
    fn seal(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; 24 + plaintext.len() + 16];
        out[..24].copy_from_slice(nonce);
        Self::seal_into(key, nonce, aad, plaintext, &mut out[24..]);
        out
    }
    /// The plaintext of `nonce || ciphertext || tag`, if authentic.
    fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, rest) = sealed.split_at(24);
        let mut out = vec![0u8; rest.len() - 16];
        Self::open_into(key, nonce.try_into().unwrap(), aad, rest, &mut out).then_some(out)
    }
}

/// RustCrypto chacha20poly1305 0.11 on default flags.
pub struct RustCrypto;

impl Aead for RustCrypto {
    const NAME: &'static str = "floor (RustCrypto)";
    fn seal_into(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], plaintext: &[u8], out: &mut [u8]) {
        use chacha20poly1305::aead::inout::InOutBuf;
        use chacha20poly1305::{AeadInOut, KeyInit, XChaCha20Poly1305, XNonce};
        let (body, tag_out) = out.split_at_mut(plaintext.len());
        let tag = XChaCha20Poly1305::new_from_slice(key)
            .unwrap()
            .encrypt_inout_detached(
                &XNonce::from(*nonce),
                aad,
                InOutBuf::new(plaintext, body).unwrap(),
            )
            .unwrap();
        tag_out.copy_from_slice(&tag);
    }
    fn open_into(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], ct: &[u8], out: &mut [u8]) -> bool {
        use chacha20poly1305::aead::inout::InOutBuf;
        use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};
        let (body, tag) = ct.split_at(ct.len() - 16);
        XChaCha20Poly1305::new_from_slice(key)
            .unwrap()
            .decrypt_inout_detached(
                &XNonce::from(*nonce),
                aad,
                InOutBuf::new(body, out).unwrap(),
                &Tag::try_from(tag).unwrap(),
            )
            .is_ok()
    }
}

/// orion 0.18, the short-message path our keyring takes.
pub struct Orion;

impl Aead for Orion {
    const NAME: &'static str = "floor (orion)";
    fn seal_into(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], plaintext: &[u8], out: &mut [u8]) {
        use orion::hazardous::aead::xchacha20poly1305::{Nonce, SecretKey, XChaCha20Poly1305};
        let sk = SecretKey::try_from(&key[..]).unwrap();
        let n = Nonce::try_from(&nonce[..]).unwrap();
        XChaCha20Poly1305::seal(&sk, &n, plaintext, Some(aad), out).unwrap();
    }
    fn open_into(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], ct: &[u8], out: &mut [u8]) -> bool {
        use orion::hazardous::aead::xchacha20poly1305::{Nonce, SecretKey, XChaCha20Poly1305};
        let sk = SecretKey::try_from(&key[..]).unwrap();
        let n = Nonce::try_from(&nonce[..]).unwrap();
        XChaCha20Poly1305::open(&sk, &n, ct, Some(aad), out).is_ok()
    }
}

/// The floor: a hash map of sealed values (AAD = key name, counter nonces), nothing else.
pub struct Floor<A: Aead> {
    map: RefCell<HashMap<String, Vec<u8>>>,
    counter: Cell<u64>,
    _aead: std::marker::PhantomData<A>,
}

impl<A: Aead> Floor<A> {
    fn nonce(&self) -> [u8; 24] {
        let n = self.counter.get();
        self.counter.set(n + 1);
        let mut nonce = [7u8; 24];
        nonce[16..].copy_from_slice(&n.to_le_bytes());
        nonce
    }
    fn seal(&self, key: &str, plain: &[u8]) -> Vec<u8> {
        A::seal(&KEY, &self.nonce(), key.as_bytes(), plain)
    }
}

impl<A: Aead> Kv for Floor<A> {
    const NAME: &'static str = A::NAME;
    fn new() -> Self {
        Floor {
            map: RefCell::new(HashMap::new()),
            counter: Cell::new(0),
            _aead: std::marker::PhantomData,
        }
    }
    fn put(&self, key: &str, value: &String) {
        let sealed = self.seal(key, value.as_bytes());
        self.map.borrow_mut().insert(key.to_owned(), sealed);
    }
    fn get(&self, key: &str) -> Option<String> {
        let map = self.map.borrow();
        let plain = A::open(&KEY, key.as_bytes(), map.get(key)?)?;
        Some(String::from_utf8(plain).unwrap())
    }
    fn bump(&self, key: &str) {
        let mut map = self.map.borrow_mut();
        let n = match map.get(key) {
            Some(s) => u64::from_le_bytes(
                A::open(&KEY, key.as_bytes(), s)
                    .unwrap()
                    .try_into()
                    .unwrap(),
            ),
            None => 0,
        };
        let sealed = self.seal(key, &(n + 1).to_le_bytes());
        map.insert(key.to_owned(), sealed);
    }
    fn txn2(&self, a: &str, b: &str, value: &String) {
        let sa = self.seal(a, value.as_bytes());
        let sb = self.seal(b, value.as_bytes());
        let mut map = self.map.borrow_mut();
        map.insert(a.to_owned(), sa);
        map.insert(b.to_owned(), sb);
    }
    fn keys(&self) -> Vec<String> {
        self.map.borrow().keys().cloned().collect()
    }
    fn prefix(&self, prefix: &str) -> Vec<(String, String)> {
        self.map
            .borrow()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, s)| {
                let plain = A::open(&KEY, k.as_bytes(), s).unwrap();
                (k.clone(), String::from_utf8(plain).unwrap())
            })
            .collect()
    }
}

/// The workloads of the table that need no file.
pub const WORKLOADS: [&str; 7] = [
    "put",
    "get",
    "overwrite",
    "update",
    "txn2",
    "keys",
    "prefix",
];

/// Runs `op(i)` for i = 0, 1, .. until at least `min_ops` ran and `min_time` passed (or
/// `max_ops` ran); returns the mean time per call.
pub fn per_op(
    min_ops: usize,
    max_ops: usize,
    min_time: Duration,
    mut op: impl FnMut(usize),
) -> Duration {
    let start = Instant::now();
    let mut i = 0;
    while i < max_ops && (i < min_ops || start.elapsed() < min_time) {
        op(i);
        i += 1;
    }
    start.elapsed() / i as u32
}

/// A store of `n` entries of `len`-byte values, filled through its public API; returns the
/// store and the time per put (the `put` workload: fresh keys into a growing store).
pub fn filled<S: Kv>(n: usize, len: usize) -> (S, Duration) {
    let store = S::new();
    let values: Vec<String> = (0..n).map(|i| value(i, len)).collect();
    let keys: Vec<String> = (0..n).map(key).collect();
    let start = Instant::now();
    for i in 0..n {
        store.put(&keys[i], &values[i]);
    }
    (store, start.elapsed() / n as u32)
}

/// A cheap pseudo-random walk over `0..n` (so gets do not follow insertion order).
pub fn scatter(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) ^ (i >> 3)) % n
}

/// A store under test, filled and run in batches: the stores of a table take turns every
/// few milliseconds, so that a busy host (this one is shared) slows them all alike.
pub trait Contender {
    /// The name in tables.
    fn name(&self) -> &'static str;
    /// Puts the fresh entries `from..to`; returns the time it took.
    fn fill(&mut self, from: usize, to: usize) -> Duration;
    /// One batch of `workload`: calls for `min / 4` to warm up, then calls until `min`
    /// has passed (at least one), carrying on from where the last batch of that workload
    /// stopped; returns the time per measured call.
    fn batch(&mut self, workload: &'static str, min: Duration) -> Duration;
}

/// A [`Contender`]: a store of `n` entries of `len`-byte values, and its workload state.
pub struct Runner<S: Kv> {
    store: S,
    n: usize,
    keys: Vec<String>,
    values: Vec<String>,
    fresh: String,
    next: HashMap<&'static str, usize>,
}

/// An empty store of type `S` for `n` entries of `len`-byte values.
pub fn contender<S: Kv + 'static>(n: usize, len: usize) -> Box<dyn Contender> {
    Box::new(Runner {
        store: S::new(),
        n,
        keys: (0..n).map(key).collect(),
        values: (0..n).map(|i| value(i, len)).collect(),
        fresh: value(n + 1, len),
        next: HashMap::new(),
    })
}

impl<S: Kv> Contender for Runner<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn fill(&mut self, from: usize, to: usize) -> Duration {
        let start = Instant::now();
        for i in from..to {
            self.store.put(&self.keys[i], &self.values[i]);
        }
        start.elapsed()
    }

    fn batch(&mut self, workload: &'static str, min: Duration) -> Duration {
        let (store, keys, fresh, n) = (&self.store, &self.keys, &self.fresh, self.n);
        let op = |i: usize| match workload {
            "get" => {
                black_box(store.get(&keys[scatter(i, n)]));
            }
            "overwrite" => store.put(&keys[scatter(i, n)], fresh),
            "update" => store.bump("counter"),
            "txn2" => store.txn2(&keys[scatter(i, n)], &keys[scatter(i + 7, n)], fresh),
            "keys" => {
                black_box(store.keys());
            }
            "prefix" => assert_eq!(black_box(store.prefix(PREFIX)).len(), 100),
            other => panic!("unknown workload {other}"),
        };
        let mut i = self.next.get(workload).copied().unwrap_or(0);
        let mut timed = |min: Duration| {
            let (first, start) = (i, Instant::now());
            loop {
                op(i);
                i += 1;
                if start.elapsed() >= min {
                    break start.elapsed() / (i - first) as u32;
                }
            }
        };
        timed(min / 4);
        let per_call = timed(min);
        self.next.insert(workload, i);
        per_call
    }
}

/// The workloads of the parallel table: gets from several threads on one store, gets of
/// one key from every thread, and a mix of 90% gets and 10% overwrites.
pub const PARALLEL_WORKLOADS: [&str; 3] = ["get", "get, one key", "90/10 get/put"];

/// CPU time this process has used (user and system, all threads), from `/proc/self/stat`
/// (clock ticks of 10 ms); zero where that file does not exist.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(vec![], |(_, rest)| rest.split(' ').collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// What [`parallel`] measured: wall-clock time per operation over all threads together
/// (its inverse is the store's throughput), and CPU time per operation (the work each
/// operation costs, contention included, whatever else the host runs).
#[derive(Clone, Copy, Debug)]
pub struct PerOp {
    /// Wall-clock time per operation, all threads together.
    pub wall: Duration,
    /// CPU time per operation.
    pub cpu: Duration,
}

/// Runs `workload` on `threads` threads sharing `store` (filled with `keys`) for about
/// `dur`.
pub fn parallel<S: Kv + Sync>(
    store: &S,
    keys: &[String],
    fresh: &String,
    workload: &str,
    threads: usize,
    dur: Duration,
) -> PerOp {
    use std::sync::atomic::{AtomicBool, Ordering};
    let n = keys.len();
    // "get, one key": every thread reads the same entry (one token read on every request).
    let (write_every, one_key) = match workload {
        "get" => (usize::MAX, false),
        "get, one key" => (usize::MAX, true),
        "90/10 get/put" => (10, false),
        other => panic!("unknown workload {other}"),
    };
    let barrier = std::sync::Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let (ops, elapsed, cpu) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, stop) = (&barrier, &stop);
                s.spawn(move || {
                    barrier.wait();
                    let mut i = t * 1_000_003;
                    let mut ops = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..16 {
                            let k = &keys[if one_key { 0 } else { scatter(i, n) }];
                            if i % write_every == write_every - 1 {
                                store.put(k, fresh);
                            } else {
                                black_box(store.get(k));
                            }
                            i += 1;
                        }
                        ops += 16;
                    }
                    ops
                })
            })
            .collect();
        barrier.wait();
        let (start, cpu) = (Instant::now(), cpu_time());
        std::thread::sleep(dur);
        stop.store(true, Ordering::Relaxed);
        let ops: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        (ops, start.elapsed(), cpu_time() - cpu)
    });
    PerOp {
        wall: elapsed / ops as u32,
        cpu: cpu / ops as u32,
    }
}
