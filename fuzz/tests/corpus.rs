//! The fuzz targets as ordinary tests: each target over its seeds, the committed
//! regression inputs in `fuzz/regressions/<target>/` (inputs that once failed), mutations
//! of the seeds, and random inputs. Built twice: as the root package's test `fuzz_corpus`
//! (a `[[test]]` entry in the root `Cargo.toml`, so `cargo test --workspace
//! --all-features` and CI run it in the dev profile), and as this fuzz package's own test.
//! `MICROKV_FUZZ_CASES` sets the number of mutated and random inputs per target
//! (default 3,000). Pass rule: no panic, every model check holds.

use std::path::Path;

#[path = "../../tests/support/rng.rs"]
mod rng;
use rng::Rng;

// The targets' code, included as a module so that the root package can build this file.
#[allow(dead_code)]
#[path = "../src/lib.rs"]
mod microkv_fuzz;

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.index(4) {
        match rng.index(4) {
            0 if !out.is_empty() => {
                let i = rng.index(out.len());
                out[i] ^= 1 << rng.index(8);
            }
            1 if !out.is_empty() => {
                let i = rng.index(out.len());
                out[i] = rng.next() as u8;
            }
            2 if !out.is_empty() => out.truncate(rng.index(out.len())),
            _ => {
                let i = rng.index(out.len() + 1);
                out.insert(i, rng.next() as u8);
            }
        }
    }
    out
}

fn run_target(name: &str, target: fn(&[u8])) {
    let cases: usize = std::env::var("MICROKV_FUZZ_CASES")
        .map(|s| s.parse().expect("MICROKV_FUZZ_CASES is a number"))
        .unwrap_or(3_000);
    let seeds = microkv_fuzz::seeds(name);
    let mut inputs: Vec<Vec<u8>> = seeds.clone();
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(name);
    if let Ok(dir) = std::fs::read_dir(&regressions) {
        for entry in dir {
            inputs.push(std::fs::read(entry.unwrap().path()).unwrap());
        }
    }
    let mut rng = Rng::new(0x5EED_0000 ^ name.len() as u64 ^ (name.as_bytes()[5] as u64) << 32);
    for i in 0..cases {
        if i % 2 == 0 {
            let seed = &seeds[rng.index(seeds.len())];
            inputs.push(mutate(&mut rng, seed));
        } else {
            let len = rng.index(300);
            inputs.push((0..len).map(|_| rng.next() as u8).collect());
        }
    }
    let started = std::time::Instant::now();
    for input in &inputs {
        target(input);
    }
    eprintln!(
        "{name}: {} inputs in {:.1} s",
        inputs.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn open_bytes() {
    run_target("open_bytes", microkv_fuzz::open_bytes);
}

#[test]
fn open_body() {
    run_target("open_body", microkv_fuzz::open_body);
}

#[test]
fn ops_model() {
    run_target("ops_model", microkv_fuzz::ops_model);
}

/// Every target has seeds; with `MICROKV_FUZZ_SEEDS_DIR` set, writes them to
/// `<dir>/<target>/seed-<n>` (what `scripts/fuzz-seeds.sh` does for `cargo fuzz`).
#[test]
fn seeds() {
    let dir = std::env::var_os("MICROKV_FUZZ_SEEDS_DIR");
    for (target, _) in microkv_fuzz::TARGETS {
        let seeds = microkv_fuzz::seeds(target);
        assert!(!seeds.is_empty(), "{target} has no seeds");
        if let Some(dir) = &dir {
            let out = Path::new(dir).join(target);
            std::fs::create_dir_all(&out).unwrap();
            for (i, seed) in seeds.iter().enumerate() {
                std::fs::write(out.join(format!("seed-{i}")), seed).unwrap();
            }
        }
    }
}
