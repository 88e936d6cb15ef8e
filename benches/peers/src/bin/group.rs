//! Group commit (issue 23, item 3): durable puts (`AutoSave::OnEveryWrite`) of 64-byte
//! values into one store of 10k entries, from 1, 2, 4 and 8 threads at once, the thread
//! counts taking turns (the first one changes every round), `rounds` rounds of `ms`
//! milliseconds each; the cells are medians. The disk of a shared host swings between
//! fast and slow syncs within seconds: many short rounds spread the swings over every
//! thread count. Prints Markdown.
//! `cargo run --release --bin group [rounds [ms]]` in benches/peers (default 25 x 150 ms).
use microkv_peers::file_peers::{remove, FileStore};
use microkv_peers::{key, value, Ours};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const THREADS: [usize; 4] = [1, 2, 4, 8];

/// Puts per second from `threads` threads on `store` for about `dur`.
fn puts_per_second(store: &Ours, threads: usize, dur: Duration, next: &AtomicUsize) -> f64 {
    let (stop, done) = (AtomicBool::new(false), AtomicUsize::new(0));
    let fresh = value(0, 64);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    store.put(&key(i), &fresh);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(dur);
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let arg = |i: usize, default: u64| {
        std::env::args()
            .nth(i)
            .map_or(default, |a| a.parse().expect("rounds, ms"))
    };
    let (rounds, ms) = (arg(1, 25) as usize, arg(2, 150));
    let n = 10_000;
    let dir = std::env::temp_dir().join(format!("microkv-group-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ours");
    let keys: Vec<String> = (0..n).map(key).collect();
    let values: Vec<String> = (0..n).map(|i| value(i, 64)).collect();
    <Ours as FileStore>::build(&path, &keys, &values);
    let store = <Ours as FileStore>::open(&path);
    let next = AtomicUsize::new(n);
    let mut rates: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for r in 0..rounds {
        eprintln!("round {}/{rounds}", r + 1);
        for j in 0..THREADS.len() {
            let t = THREADS[(r + j) % THREADS.len()];
            let rate = puts_per_second(&store, t, Duration::from_millis(ms), &next);
            rates.entry(t).or_default().push(rate);
        }
    }
    drop(store);
    remove::<Ours>(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let one = median(&rates[&1]);
    println!("| threads | durable puts/s (all threads), median | over 1 thread | lowest round | highest round |");
    println!("| --- | --- | --- | --- | --- |");
    for t in THREADS {
        let m = median(&rates[&t]);
        let (lo, hi) = rates[&t]
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        println!("| {t} | {m:.0} | {:.2}x | {lo:.0} | {hi:.0} |", m / one);
    }
}
