//! A fixed number of gets of ours at random (the `versus` order) on a store file of `n`
//! entries of `len`-byte values, after every entry was read once (in key order): for
//! counting what one steady get costs with valgrind, which counts instructions and
//! simulated cache misses the same on a busy host as on an idle one. The file is built
//! once, in the temporary directory, and kept for the next run (give each build compared
//! a `TMPDIR` of its own: an older build cannot read a newer one's file). Two runs that differ only
//! in `gets` give one get's cost by subtraction:
//!
//! ```text
//! cargo build --release --bin gets
//! for g in 2000 12000; do valgrind --tool=cachegrind --cache-sim=yes --LL=1048576,16,64 \
//!     --cachegrind-out-file=cg-$g.out target/release/gets 10000 1024 $g; done
//! ```
//!
//! (`--LL` models this host's 1 MiB L2 as the last level: the 32 MiB L3 would hold every
//! store here.) `cargo run --release --bin gets N LEN GETS`.
use microkv_peers::{key, scatter, value, Disk, Kv, Ours};
use std::hint::black_box;

fn main() {
    let arg = |i: usize| -> usize {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .expect("usage: gets N LEN GETS")
    };
    let (n, len, gets) = (arg(1), arg(2), arg(3));
    let path = std::env::temp_dir().join(format!("microkv-gets-{n}x{len}.kv"));
    if !path.exists() {
        let store = Ours::create(&path, false);
        for i in 0..n {
            store.put(&key(i), &value(i, len));
        }
        store.save();
    }
    let keys: Vec<String> = (0..n).map(key).collect();
    let store = Ours::open(&path, false);
    for k in &keys {
        black_box(store.get(k));
    }
    for i in 0..gets {
        assert!(black_box(store.get(&keys[scatter(i, n)])).is_some());
    }
}
