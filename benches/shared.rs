//! Sharing a store between processes (`LockMode::Shared`, docs/DECISIONS.md 32): a durable
//! put (`AutoSave::OnEveryWrite`: one journal append and `fdatasync`) from one of two
//! processes writing one store, against the same put into a store one process owns
//! (`LockMode::Exclusive`); and a get with `Refresh::Every(100 ms)` and
//! `Refresh::OnEveryRead` against one without refresh. The second process is this bench
//! binary run again: it puts one key every 5 ms, so each catch-up has records to read.
//! `cargo bench --bench shared`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use criterion::Criterion;
use microkv::{AutoSave, Config, Credential, LockMode, MicroKV, Refresh};

const KEY: [u8; 32] = [0x42; 32];
const PEER: &str = "MICROKV_BENCH_PEER";

fn config(lock_mode: LockMode, refresh: Refresh) -> Config {
    Config {
        autosave: AutoSave::OnEveryWrite,
        lock_mode,
        refresh,
        ..Default::default()
    }
}

fn open(path: &Path, config: Config) -> MicroKV {
    MicroKV::open_with(path, Credential::key(KEY), config).unwrap()
}

/// The second process: a put every 5 ms until `<path>.stop` appears.
fn peer(path: &Path) {
    let db = open(path, config(LockMode::Shared, Refresh::Never));
    let stop = path.with_extension("stop");
    let mut i = 0u64;
    while !stop.exists() {
        db.put("peer", &i).unwrap();
        i += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts the peer on `path`.
fn start_peer(path: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(PEER, path)
        .spawn()
        .unwrap()
}

/// A store of 1,000 entries of 64 bytes at `path`.
fn filled(path: &Path) {
    let db = open(path, config(LockMode::Exclusive, Refresh::Never));
    for i in 0..1_000 {
        db.put(&format!("key-{i:04}"), &[0xabu8; 64][..]).unwrap();
    }
}

fn shared(c: &mut Criterion, dir: &Path) {
    let owned = dir.join("owned.kv");
    let both = dir.join("shared.kv");
    filled(&owned);
    filled(&both);
    let mut peer = start_peer(&both);
    std::thread::sleep(Duration::from_millis(200));

    let mut group = c.benchmark_group("shared put (fdatasync)");
    group.measurement_time(Duration::from_secs(5));
    let db = open(&owned, config(LockMode::Exclusive, Refresh::Never));
    let mut i = 0u64;
    group.bench_function("exclusive owner", |b| {
        b.iter(|| {
            i += 1;
            db.put("key-0001", &i).unwrap()
        })
    });
    drop(db);
    let db = open(&both, config(LockMode::Shared, Refresh::Never));
    group.bench_function("shared, a second process writing", |b| {
        b.iter(|| {
            i += 1;
            db.put("key-0001", &i).unwrap()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("shared get");
    group.measurement_time(Duration::from_secs(3));
    let owner = open(&owned, config(LockMode::Exclusive, Refresh::Never));
    group.bench_function("exclusive owner", |b| {
        b.iter(|| owner.get::<Vec<u8>>("key-0500").unwrap())
    });
    for (name, refresh) in [
        ("shared, no refresh", Refresh::Never),
        (
            "shared, refresh every 100 ms",
            Refresh::Every(Duration::from_millis(100)),
        ),
        ("shared, refresh on every read", Refresh::OnEveryRead),
    ] {
        let reader = open(&both, config(LockMode::Shared, refresh));
        group.bench_function(name, |b| {
            b.iter(|| reader.get::<Vec<u8>>("key-0500").unwrap())
        });
    }
    group.finish();

    std::fs::write(both.with_extension("stop"), b"").unwrap();
    peer.wait().unwrap();
}

fn main() {
    if let Some(path) = std::env::var_os(PEER) {
        peer(&PathBuf::from(path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = Criterion::default().configure_from_args();
    shared(&mut c, dir.path());
    c.final_summary();
}
