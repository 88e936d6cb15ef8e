//! Ours against the stores a Rust developer would use instead (issue 23): SQLCipher and
//! redb + XChaCha20-Poly1305, with 0.3.0, on files. For each size, every store's file is
//! built once; then the stores take turns (the first one changes every round), each
//! running open + first get, a batch of gets (1 thread) and, at 10k x 64 B, a batch of
//! durable puts. Each cell is the median over `rounds`. Prints Markdown.
//! `cargo run --release --bin versus [rounds]` in benches/peers.
use microkv_peers::file_peers::*;
use microkv_peers::{key, median, scatter, show, value, Ours, V03};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One store's file of `n` entries and its workloads.
trait Contestant {
    fn name(&self) -> &'static str;
    /// Mean time of an open plus the first get, over at least 5 opens and 100 ms (the
    /// handle the other workloads use is closed first: redb allows one per file).
    fn open_first_get(&mut self) -> Duration;
    /// Mean time per get over a 20 ms batch (after 5 ms of warm-up), on an opened store.
    fn gets(&mut self) -> Duration;
    /// Mean time per durable put of a fresh key, over at least 5 puts and 100 ms.
    fn puts(&mut self) -> Duration;
    fn bytes_per_entry(&self) -> f64;
}

struct Entry<S: FileStore> {
    path: PathBuf,
    /// A second copy the durable puts go to, so that every open reads the file as built
    /// (ours would otherwise replay the journal of every earlier round's puts, and
    /// SQLCipher read a longer WAL).
    put_path: PathBuf,
    keys: Vec<String>,
    fresh: String,
    opened: Option<S>,
    put_store: Option<S>,
    next_get: usize,
    next_put: usize,
}

fn entry<S: FileStore + 'static>(dir: &Path, n: usize, len: usize) -> Box<dyn Contestant> {
    let path = dir.join(format!("{}-{n}x{len}", S::NAME.replace(' ', "")));
    remove::<S>(&path);
    let put_path = dir.join(format!("{}-{n}x{len}-puts", S::NAME.replace(' ', "")));
    remove::<S>(&put_path);
    let keys: Vec<String> = (0..n).map(key).collect();
    let values: Vec<String> = (0..n).map(|i| value(i, len)).collect();
    S::build(&path, &keys, &values);
    S::build(&put_path, &keys, &values);
    Box::new(Entry::<S> {
        path,
        keys,
        fresh: value(n + 1, len),
        opened: None,
        put_store: None,
        put_path,
        next_get: 0,
        next_put: n,
    })
}

impl<S: FileStore> Contestant for Entry<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn open_first_get(&mut self) -> Duration {
        self.opened = None;
        let probe = &self.keys[self.keys.len() / 2];
        let (mut total, mut opens, started) = (Duration::ZERO, 0u32, Instant::now());
        while opens < 5 || started.elapsed() < Duration::from_millis(100) {
            let t = Instant::now();
            let store = S::open(&self.path);
            assert!(black_box(store.get(probe)).is_some());
            total += t.elapsed();
            // The drop is not timed.
            drop(store);
            opens += 1;
        }
        total / opens
    }
    fn gets(&mut self) -> Duration {
        let store = self.opened.get_or_insert_with(|| S::open(&self.path));
        let n = self.keys.len();
        let mut i = self.next_get;
        let mut timed = |min: Duration| {
            let (first, start) = (i, Instant::now());
            loop {
                assert!(black_box(store.get(&self.keys[scatter(i, n)])).is_some());
                i += 1;
                if start.elapsed() >= min {
                    break start.elapsed() / (i - first) as u32;
                }
            }
        };
        timed(Duration::from_millis(5));
        let t = timed(Duration::from_millis(20));
        self.next_get = i;
        t
    }
    fn puts(&mut self) -> Duration {
        let store = self.put_store.get_or_insert_with(|| S::open(&self.put_path));
        let (mut puts, started) = (0u32, Instant::now());
        while puts < 5 || started.elapsed() < Duration::from_millis(100) {
            store.put(&key(self.next_put), &self.fresh);
            self.next_put += 1;
            puts += 1;
        }
        started.elapsed() / puts
    }
    fn bytes_per_entry(&self) -> f64 {
        file_bytes::<S>(&self.path) as f64 / self.keys.len() as f64
    }
}

impl<S: FileStore> Drop for Entry<S> {
    fn drop(&mut self) {
        self.opened = None;
        self.put_store = None;
        remove::<S>(&self.path);
        remove::<S>(&self.put_path);
    }
}

/// What an open of today's design cannot go below, for a store file of `len` bytes: read
/// the file once and decrypt and authenticate its body, one ChaCha20-Poly1305 pass (ring,
/// the store's own cipher). A file of that length sealed once is read and opened in place
/// each time; mean over at least 5 opens and 100 ms.
fn floor_open(dir: &Path, len: usize) -> Duration {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7; 32]).unwrap());
    let mut sealed = vec![0u8; len - 16];
    let nonce = || Nonce::assume_unique_for_key([1; 12]);
    key.seal_in_place_append_tag(nonce(), Aad::empty(), &mut sealed)
        .unwrap();
    let path = dir.join("floor");
    std::fs::write(&path, &sealed).unwrap();
    let (mut total, mut opens, started) = (Duration::ZERO, 0u32, Instant::now());
    while opens < 5 || started.elapsed() < Duration::from_millis(100) {
        let t = Instant::now();
        let mut bytes = std::fs::read(&path).unwrap();
        black_box(
            key.open_in_place(nonce(), Aad::empty(), &mut bytes)
                .unwrap(),
        );
        total += t.elapsed();
        opens += 1;
    }
    std::fs::remove_file(&path).unwrap();
    total / opens
}

const STORES: [&str; 4] = ["ours", "0.3.0", "SQLCipher", "redb + AEAD"];

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(5, |a| a.parse().expect("rounds"));
    let dir = std::env::temp_dir().join(format!("microkv-versus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rows: Vec<(String, BTreeMap<&'static str, String>)> = vec![];
    for (n, len) in [(10_000, 64), (100_000, 64), (10_000, 1024)] {
        eprintln!("{n} x {len} B: building");
        let mut stores = [
            entry::<Ours>(&dir, n, len),
            entry::<V03>(&dir, n, len),
            entry::<SqlCipher>(&dir, n, len),
            entry::<RedbAead>(&dir, n, len),
        ];
        let size = format!(
            "{}k x {}",
            n / 1000,
            if len == 1024 {
                "1 KiB".into()
            } else {
                format!("{len} B")
            }
        );
        let per_entry: BTreeMap<&str, f64> = stores
            .iter()
            .map(|s| (s.name(), s.bytes_per_entry()))
            .collect();
        let mut bytes: BTreeMap<&str, String> = per_entry
            .iter()
            .map(|(&s, b)| (s, format!("{b:.0}")))
            .collect();
        let b = |s| per_entry[s];
        bytes.insert(
            "ratio",
            format!(
                "{:.2} {:.2}",
                b("ours") / b("SQLCipher"),
                b("ours") / b("redb + AEAD")
            ),
        );
        let mut times: BTreeMap<(&str, &str), Vec<Duration>> = BTreeMap::new();
        let durable = (n, len) == (10_000, 64);
        for r in 0..rounds {
            eprintln!("{n} x {len} B: round {}/{rounds}", r + 1);
            let ours_file = (per_entry["ours"] * n as f64) as usize;
            let floor = floor_open(&dir, ours_file);
            times.entry(("open floor", "ours")).or_default().push(floor);
            for j in 0..stores.len() {
                let s = &mut stores[(r + j) % STORES.len()];
                let name = s.name();
                times
                    .entry(("open + first get", name))
                    .or_default()
                    .push(s.open_first_get());
                times
                    .entry(("get, 1 thread", name))
                    .or_default()
                    .push(s.gets());
                if durable {
                    times
                        .entry(("durable put", name))
                        .or_default()
                        .push(s.puts());
                }
            }
        }
        for w in ["get, 1 thread", "open + first get", "durable put"] {
            if w == "durable put" && !durable {
                continue;
            }
            let cells = STORES
                .iter()
                .map(|&s| (s, show(median(&times[&(w, s)]))))
                .collect();
            let ratios = ratios(&times, w);
            rows.push((format!("{size}: {w}"), cells));
            rows.last_mut().unwrap().1.insert("ratio", ratios);
        }
        let floor = median(&times[&("open floor", "ours")]);
        let open = median(&times[&("open + first get", "ours")]);
        let pct = 100.0 * floor.as_secs_f64() / open.as_secs_f64();
        let mut cells = BTreeMap::new();
        cells.insert(
            "ours",
            format!("{} ({pct:.0} % of ours' open)", show(floor)),
        );
        rows.push((
            format!("{size}: v1's open floor (read + decrypt the file)"),
            cells,
        ));
        rows.push((format!("{size}: file bytes per entry"), bytes));
    }
    std::fs::remove_dir_all(&dir).unwrap();
    println!(
        "| workload | ours | 0.3.0 | SQLCipher | redb + AEAD | ours / SQLCipher | ours / redb |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (w, cells) in rows {
        let c = |k: &str| cells.get(k).cloned().unwrap_or_else(|| "-".into());
        let ratio = c("ratio");
        let (rs, rr) = ratio.split_once(' ').unwrap_or(("-", "-"));
        println!(
            "| {w} | {} | {} | {} | {} | {rs} | {rr} |",
            c("ours"),
            c("0.3.0"),
            c("SQLCipher"),
            c("redb + AEAD")
        );
    }
}

/// "ours/SQLCipher ours/redb" from the medians of workload `w`.
fn ratios(times: &BTreeMap<(&str, &str), Vec<Duration>>, w: &str) -> String {
    let m = |s| median(&times[&(w, s)]).as_secs_f64();
    format!(
        "{:.2} {:.2}",
        m("ours") / m("SQLCipher"),
        m("ours") / m("redb + AEAD")
    )
}
