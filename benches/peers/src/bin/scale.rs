//! One run of the parallel workload, for quick looks (and `perf record`):
//! `cargo run --release --bin scale -- ours|v03 THREADS MS [mix]` prints the wall-clock
//! and CPU time per operation (all threads together) of gets, or of the 90/10 mix, on a
//! store of 10k entries of 64 bytes. The table's `parallel` mode is the comparison.
use microkv_peers::*;
use std::time::Duration;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (n, len) = (10_000, 64);
    let keys: Vec<String> = (0..n).map(key).collect();
    let fresh = value(n + 1, len);
    let t: usize = a[2].parse().unwrap();
    let dur = Duration::from_millis(a[3].parse().unwrap());
    let w = if a.get(4).map(String::as_str) == Some("mix") {
        "90/10 get/put"
    } else {
        "get"
    };
    let r = if a[1] == "ours" {
        let s = filled::<Ours>(n, len).0;
        parallel(&s, &keys, &fresh, w, t, dur)
    } else {
        let s = filled::<V03>(n, len).0;
        parallel(&s, &keys, &fresh, w, t, dur)
    };
    println!(
        "{} {} threads: {:.0} ns/op wall, {:.0} ns/op cpu, {:.0} kops/s",
        a[1],
        t,
        r.wall.as_nanos(),
        r.cpu.as_nanos(),
        1e6 / r.wall.as_nanos() as f64
    );
}
