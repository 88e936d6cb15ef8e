//! Resident bytes per entry at 100k entries of 64 bytes, each store in its own process.
//! `cargo run --release --bin rss` in benches/peers.
use microkv_peers::*;
use std::process::Command;

fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn measure<S: Kv>(n: usize) -> f64 {
    let values: Vec<String> = (0..n).map(|i| value(i, 64)).collect();
    let keys: Vec<String> = (0..n).map(key).collect();
    let store = S::new();
    store.put("warm-up", &values[0]);
    let before = resident();
    for i in 0..n {
        store.put(&keys[i], &values[i]);
    }
    let after = resident();
    std::hint::black_box(&store);
    (after - before) as f64 / n as f64
}

fn main() {
    const N: usize = 100_000;
    match std::env::args().nth(1).as_deref() {
        Some("ours") => println!("{}", measure::<Ours>(N)),
        Some("0.3.0") => println!("{}", measure::<V03>(N)),
        Some("floor") => println!("{}", measure::<Floor<RustCrypto>>(N)),
        _ => {
            let me = std::env::current_exe().unwrap();
            println!("| store | resident bytes per entry (100k x 64 B) |");
            println!("| --- | --- |");
            for which in ["ours", "0.3.0", "floor"] {
                let out = Command::new(&me).arg(which).output().unwrap();
                let v: f64 = String::from_utf8(out.stdout)
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                println!("| {which} | {v:.0} |");
            }
        }
    }
}
