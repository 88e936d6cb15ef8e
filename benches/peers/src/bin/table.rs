//! The peer table: every workload, for our store, microkv 0.3.0 and the floors, in
//! alternating rounds in one process; prints medians and ratios as Markdown.
//! `cargo run --release --bin table [rounds]` in benches/peers; `table [rounds] disk` for
//! the file workloads (save, open, put with `OnEveryWrite`).
use microkv_peers::*;
use std::collections::BTreeMap;
use std::time::Duration;

type Times = BTreeMap<(usize, usize, &'static str, &'static str), Vec<Duration>>;

fn round<S: Kv>(times: &mut Times, n: usize, len: usize) {
    for (w, t) in all_workloads::<S>(n, len) {
        times.entry((n, len, w, S::NAME)).or_default().push(t);
    }
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn show(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

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

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(5, |a| a.parse().expect("rounds"));
    if std::env::args().nth(2).as_deref() == Some("disk") {
        return disk_table(rounds);
    }
    let configs = [(10_000, 64), (10_000, 4096), (100_000, 64), (100_000, 4096)];
    let mut times = Times::new();
    for r in 0..rounds {
        eprintln!("round {}/{rounds}", r + 1);
        for &(n, len) in &configs {
            // Alternate which store goes first.
            if r % 2 == 0 {
                round::<Ours>(&mut times, n, len);
                round::<V03>(&mut times, n, len);
                round::<Floor<RustCrypto>>(&mut times, n, len);
                round::<Floor<Orion>>(&mut times, n, len);
            } else {
                round::<Floor<Orion>>(&mut times, n, len);
                round::<Floor<RustCrypto>>(&mut times, n, len);
                round::<V03>(&mut times, n, len);
                round::<Ours>(&mut times, n, len);
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
