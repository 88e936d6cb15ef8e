//! The peer table: every workload, for our store, microkv 0.3.0 and the floors, in one
//! process. `put` fills a new store of each kind whole, the kinds taking turns, over
//! `PUT_ROUNDS` rounds. The stores of the last round then stay side by side and take turns
//! in short batches of every other workload (`rounds` batches each: 5 ms of warm-up, then
//! at least 20 ms or one call measured), so that a busy host (this one is shared) slows
//! them all alike. Each cell is the median over rounds or batches. Prints Markdown.
//! `cargo run --release --bin table [rounds]` in benches/peers; `table [rounds] disk` for
//! the file workloads (save, open, put with `OnEveryWrite`); `table [rounds] parallel` for
//! gets from 1, 2, 4 and 8 threads on one store and the 90/10 mix from 4 threads.
use microkv_peers::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// Rounds of the put workload (each fills four stores whole).
const PUT_ROUNDS: usize = 5;

type Times = BTreeMap<(usize, usize, &'static str, &'static str), Vec<Duration>>;

/// The file workloads (10k entries of 64 bytes), ours and 0.3.0 in alternating rounds.
fn disk_table(rounds: usize) {
    let dir = std::env::temp_dir().join(format!("microkv-peers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (n, len) = (10_000, 64);
    let mut times = Times::new();
    for r in 0..rounds {
        eprintln!("disk round {}/{rounds}", r + 1);
        let mut round = |ours_first: bool| {
            for first in [ours_first, !ours_first] {
                let results = if first {
                    disk_workloads::<Ours>(&dir, n, len)
                        .into_iter()
                        .map(|(w, t)| (w, t, Ours::NAME))
                        .collect::<Vec<_>>()
                } else {
                    disk_workloads::<V03>(&dir, n, len)
                        .into_iter()
                        .map(|(w, t)| (w, t, V03::NAME))
                        .collect()
                };
                for (w, t, name) in results {
                    times.entry((n, len, w, name)).or_default().push(t);
                }
            }
        };
        round(r % 2 == 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    println!("| entries | value | workload | ours | 0.3.0 | ours / 0.3.0 |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for w in ["save", "open", "put (OnEveryWrite)"] {
        let m = |name: &'static str| median(&times[&(n, len, w, name)]);
        let (o, v) = (m(Ours::NAME), m(V03::NAME));
        println!(
            "| {n} | {len} B | {w} | {} | {} | {:.3} |",
            show(o),
            show(v),
            o.as_secs_f64() / v.as_secs_f64()
        );
    }
}

/// Gets from 1, 2, 4 and 8 threads on one store (10k entries of 64 bytes), gets of one
/// key from 1 and 2 threads, and the 90/10 mix from 4 threads, ours and 0.3.0 taking turns (`dur` each), `rounds` times; medians.
fn parallel_table(rounds: usize) {
    let (n, len) = (10_000, 64);
    let dur = Duration::from_millis(200);
    let keys: Vec<String> = (0..n).map(key).collect();
    let fresh = value(n + 1, len);
    let (ours, v03) = (filled::<Ours>(n, len).0, filled::<V03>(n, len).0);
    let runs: Vec<(&str, usize)> = [1, 2, 4, 8]
        .into_iter()
        .map(|t| ("get", t))
        .chain([
            ("get, one key", 1),
            ("get, one key", 2),
            ("90/10 get/put", 4),
        ])
        .collect();
    let mut times: BTreeMap<(&str, usize, &str), Vec<PerOp>> = BTreeMap::new();
    for r in 0..rounds {
        eprintln!("parallel round {}/{rounds}", r + 1);
        for &(w, t) in &runs {
            for first in [r % 2 == 0, r % 2 == 1] {
                let (name, d) = if first {
                    (Ours::NAME, parallel(&ours, &keys, &fresh, w, t, dur))
                } else {
                    (V03::NAME, parallel(&v03, &keys, &fresh, w, t, dur))
                };
                times.entry((w, t, name)).or_default().push(d);
            }
        }
    }
    println!("| workload | threads | ours (ns/op, all threads) | 0.3.0 | ours / 0.3.0 | ours: ops/s over 1 thread | 0.3.0: ops/s over 1 thread | ours: CPU ns/op | 0.3.0: CPU ns/op |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let m = |w, t, name, f: fn(&PerOp) -> Duration| {
        let v: Vec<Duration> = times[&(w, t, name)].iter().map(f).collect();
        median(&v).as_secs_f64()
    };
    for &(w, t) in &runs {
        let wall = |name| m(w, t, name, |p| p.wall);
        let cpu = |name| m(w, t, name, |p| p.cpu);
        let (o, v) = (wall(Ours::NAME), wall(V03::NAME));
        // Throughput against the same workload on one thread, where the table has it.
        let over = |x: f64, name| {
            if times.contains_key(&(w, 1, name)) {
                format!("{:.2}x", m(w, 1, name, |p| p.wall) / x)
            } else {
                String::from("-")
            }
        };
        println!(
            "| {w} | {t} | {:.0} | {:.0} | {:.3} | {} | {} | {:.0} | {:.0} |",
            o * 1e9,
            v * 1e9,
            o / v,
            over(o, Ours::NAME),
            over(v, V03::NAME),
            cpu(Ours::NAME) * 1e9,
            cpu(V03::NAME) * 1e9
        );
    }
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(5, |a| a.parse().expect("rounds"));
    match std::env::args().nth(2).as_deref() {
        Some("disk") => return disk_table(rounds),
        Some("parallel") => return parallel_table(rounds),
        _ => {}
    }
    let configs = [(10_000, 64), (10_000, 4096), (100_000, 64), (100_000, 4096)];
    let mut times = Times::new();
    // Each batch runs for at least this long (or one call).
    let min = Duration::from_millis(20);
    for &(n, len) in &configs {
        eprintln!("{n} x {len} B: {rounds} rounds");
        let make = [
            contender::<Ours>,
            contender::<V03>,
            contender::<Floor<RustCrypto>>,
            contender::<Floor<Orion>>,
        ];
        let k = make.len();
        // Round r starts with store r % k, so that no store always goes first.
        let turns = |r: usize| (0..k).map(move |j| (r + j) % k);
        // put: n fresh keys into a new store, each store filled whole in its turn; the
        // stores of the last round stay for the other workloads.
        let mut stores: Vec<Option<Box<dyn Contender>>> = (0..k).map(|_| None).collect();
        for r in 0..PUT_ROUNDS {
            for s in turns(r) {
                stores[s] = None;
                let mut store = make[s](n, len);
                let t = store.fill(0, n) / n as u32;
                times
                    .entry((n, len, "put", store.name()))
                    .or_default()
                    .push(t);
                stores[s] = Some(store);
            }
        }
        let mut stores: Vec<Box<dyn Contender>> = stores.into_iter().flatten().collect();
        for w in &WORKLOADS[1..] {
            for r in 0..rounds {
                for s in turns(r) {
                    let t = stores[s].batch(w, min);
                    times
                        .entry((n, len, w, stores[s].name()))
                        .or_default()
                        .push(t);
                }
            }
        }
    }
    println!(
        "| entries | value | workload | ours | 0.3.0 | floor (RustCrypto) | floor (orion) | ours / 0.3.0 | ours / floor (RustCrypto) | ours / floor (orion) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for &(n, len) in &configs {
        for w in WORKLOADS {
            let m = |name: &'static str| median(&times[&(n, len, w, name)]);
            let (o, v, fr, fo) = (
                m(Ours::NAME),
                m(V03::NAME),
                m(<Floor<RustCrypto> as Kv>::NAME),
                m(<Floor<Orion> as Kv>::NAME),
            );
            let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
            println!(
                "| {n} | {len} B | {w} | {} | {} | {} | {} | {:.3} | {:.2} | {:.2} |",
                show(o),
                show(v),
                show(fr),
                show(fo),
                ratio(o, v),
                ratio(o, fr),
                ratio(o, fo)
            );
        }
    }
}
