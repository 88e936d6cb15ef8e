//! Kill loop: a child process (this test binary, re-run filtered to the one test below)
//! opens a file store with `AutoSave::OnEveryWrite` and writes without pause: puts,
//! overwrites, removes, updates and transactions. After each call returns `Ok` it writes
//! `ACK <n>` to stdout (flushed) before it starts the next one. The parent SIGKILLs it at
//! a random moment, opens the store and compares it with a model.
//!
//! The child's operations come from a seeded generator that does not look at the store,
//! so the parent replays the same sequence into its model. Pass rule, after every kill:
//! the store opens, and its contents equal the model after the acknowledged operations,
//! or after those plus the single operation in flight (committed, killed before its ack).
//! Nothing else.
//!
//! `MICROKV_KILL_LOOPS` sets the number of kills (default 200).
#![cfg(unix)]
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use microkv::{AutoSave, Config, Credential, MicroKV};

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;
#[path = "support/rerun.rs"]
mod rerun;

const TEST: &str = "acknowledged_writes_survive_sigkill";
const CHILD_PATH: &str = "MICROKV_KILL_CHILD_PATH";
const CHILD_SEED: &str = "MICROKV_KILL_CHILD_SEED";
const LOOPS: &str = "MICROKV_KILL_LOOPS";
const KEY: [u8; 32] = [0x4B; 32];
const NAMESPACES: [&str; 3] = ["", "alpha", "beta"];
const KEYS: u64 = 12;

type Name = (String, String);
type Model = BTreeMap<Name, u64>;

#[derive(Clone, Debug)]
enum Op {
    /// A put: a fresh key or an overwrite (the key space is small).
    Put(Name, u64),
    Remove(Name),
    /// Adds to the value, or inserts it when absent.
    Update(Name, u64),
    /// Puts (`Some`) and removes (`None`), all or nothing.
    Txn(Vec<(Name, Option<u64>)>),
}

fn name(rng: &mut Rng) -> Name {
    let ns = NAMESPACES[rng.below(NAMESPACES.len() as u64) as usize];
    (ns.to_owned(), format!("k{}", rng.below(KEYS)))
}

fn gen_op(rng: &mut Rng) -> Op {
    match rng.below(10) {
        0..=3 => Op::Put(name(rng), rng.next()),
        4 | 5 => Op::Remove(name(rng)),
        6 | 7 => Op::Update(name(rng), rng.below(1000) + 1),
        _ => {
            let n = 2 + rng.below(4);
            Op::Txn(
                (0..n)
                    .map(|_| {
                        let target = name(rng);
                        let value = (rng.below(3) != 0).then(|| rng.next());
                        (target, value)
                    })
                    .collect(),
            )
        }
    }
}

fn apply_model(model: &mut Model, op: &Op) {
    match op {
        Op::Put(k, v) => {
            model.insert(k.clone(), *v);
        }
        Op::Remove(k) => {
            model.remove(k);
        }
        Op::Update(k, by) => {
            let v = model.entry(k.clone()).or_insert(0);
            *v = v.wrapping_add(*by);
        }
        Op::Txn(writes) => {
            for (k, v) in writes {
                match v {
                    Some(v) => model.insert(k.clone(), *v),
                    None => model.remove(k),
                };
            }
        }
    }
}

fn apply_store(db: &MicroKV, op: &Op) -> microkv::Result<()> {
    match op {
        Op::Put((ns, k), v) => db.namespace(ns).put(k, v),
        Op::Remove((ns, k)) => db.namespace(ns).remove(k).map(drop),
        Op::Update((ns, k), by) => db
            .namespace(ns)
            .update::<u64, _>(k, |v| Some(v.unwrap_or(0).wrapping_add(*by))),
        Op::Txn(writes) => db.transaction(|tx| {
            for ((ns, k), v) in writes {
                match v {
                    Some(v) => tx.put(ns, k, v)?,
                    None => {
                        tx.remove(ns, k)?;
                    }
                }
            }
            Ok(())
        }),
    }
}

fn child_config() -> Config {
    Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    }
}

/// The child: writes until killed, acknowledging each write after it returns.
fn child(path: &Path, seed: u64) -> ! {
    // A failing child reports on the ack pipe and exits at once (the parent checks both).
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(
            std::io::stdout(),
            "FAIL {}",
            info.to_string().replace('\n', " ")
        );
        std::process::exit(3);
    }));
    let db = MicroKV::open_with(path, Credential::key(KEY), child_config())
        .unwrap_or_else(|e| panic!("child open: {e:?}"));
    let mut rng = Rng::new(seed);
    let mut out = std::io::stdout().lock();
    for n in 0u64.. {
        let op = gen_op(&mut rng);
        apply_store(&db, &op).unwrap_or_else(|e| panic!("child op {n} {op:?}: {e:?}"));
        writeln!(out, "ACK {n}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

/// Everything the store holds, as a model.
fn contents(db: &MicroKV) -> Model {
    let mut found = Model::new();
    for ns in db.tree_names().unwrap() {
        let tree = db.namespace(&ns);
        for k in tree.keys().unwrap() {
            let v = tree.get::<u64>(&k).unwrap().expect("a listed key reads");
            found.insert((ns.clone(), k), v);
        }
    }
    found
}

/// One round: spawns a child, kills it after `delay`, returns the acknowledged count.
fn run_child(path: &Path, seed: u64, delay: Duration) -> u64 {
    let mut child = rerun::self_command(TEST)
        .env(CHILD_PATH, path)
        .env(CHILD_SEED, seed.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Reads acks until the pipe closes (the child is dead); a torn last line is no ack.
    let reader = std::thread::spawn(move || {
        let mut acked = 0u64;
        for line in BufReader::new(stdout).split(b'\n') {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix(b"ACK ") {
                let n: u64 = std::str::from_utf8(n).unwrap().parse().unwrap();
                assert_eq!(n, acked, "acks out of order");
                acked += 1;
            } else if line.starts_with(b"FAIL ") {
                panic!("the child failed: {}", String::from_utf8_lossy(&line));
            }
        }
        acked
    });
    std::thread::sleep(delay);
    // `Child::kill` sends SIGKILL on Unix.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let acked = reader
        .join()
        .unwrap_or_else(|_| panic!("the child failed ({status:?}); see its message above"));
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the child ended before the kill ({status:?}) after {acked} acks"
    );
    acked
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if let (Some(path), Some(seed)) = (std::env::var_os(CHILD_PATH), std::env::var(CHILD_SEED).ok())
    {
        child(Path::new(&path), seed.parse().unwrap());
    }
    let loops: u64 = std::env::var(LOOPS)
        .ok()
        .map(|s| s.parse().expect("MICROKV_KILL_LOOPS is a number"))
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.kv");
    let mut seeds = [0u8; 8];
    getrandom::fill(&mut seeds).unwrap();
    let base = u64::from_le_bytes(seeds);
    eprintln!("kill loop: {loops} kills, base seed {base:#x}");
    let mut timing = Rng::new(base ^ 0xD1B5_4A32_D192_ED03);

    // The store file exists (empty) before the first child starts.
    let db = MicroKV::create_new(&path, Credential::key(KEY)).unwrap();
    db.save().unwrap();
    drop(db);

    let started = Instant::now();
    let mut model = Model::new();
    let (mut total_acked, mut in_flight_landed, mut zero_ack_rounds) = (0u64, 0u64, 0u64);
    for round in 0..loops {
        let seed = base.wrapping_add(round).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // Kill moments from 0 to 60 ms after the spawn: some land during startup or the
        // open, most among the writes.
        let delay = Duration::from_micros(timing.below(60_000));
        let acked = run_child(&path, seed, delay);

        let mut ops = Rng::new(seed);
        for _ in 0..acked {
            apply_model(&mut model, &gen_op(&mut ops));
        }
        let mut with_in_flight = model.clone();
        apply_model(&mut with_in_flight, &gen_op(&mut ops));

        let db = MicroKV::open_existing_with(&path, Credential::key(KEY), child_config())
            .unwrap_or_else(|e| panic!("round {round}: the store does not open: {e:?}"));
        let found = contents(&db);
        drop(db);
        if found == with_in_flight && found != model {
            in_flight_landed += 1;
            model = with_in_flight;
        } else {
            assert!(
                found == model,
                "round {round} (seed {seed:#x}, {acked} acks): the store holds neither the \
                 acknowledged state nor it plus the write in flight\n found: {found:?}\n \
                 acked: {model:?}"
            );
        }
        total_acked += acked;
        zero_ack_rounds += u64::from(acked == 0);
    }
    eprintln!(
        "kill loop: {loops} kills in {:.1} s, {total_acked} acknowledged writes, \
         {in_flight_landed} kills landed after a commit and before its ack, \
         {zero_ack_rounds} kills before the first ack; final store {} entries",
        started.elapsed().as_secs_f64(),
        model.len()
    );
    assert!(
        total_acked > loops,
        "too few writes to prove anything: {total_acked}"
    );
}
