//! The KDF presets' time per derivation (what an open with a password costs):
//! `KdfParams::default()`, `interactive()`, `sensitive()`, and scrypt's 2^15 for
//! comparison; and what `KdfParams::calibrate` picks for 250 ms within 64 MiB, timed the
//! same way (`cargo bench --bench kdf -- calibrated` runs that one alone). `cargo bench
//! --bench kdf`: about 2 minutes on an idle machine (`sensitive` alone is ~1 min).
//! The figures in the presets' docs and README come from this bench.
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use microkv::{KdfLimit, KdfParams};
use std::hint::black_box;
use std::time::Duration;

/// Times `params` deriving one key, as an open with a password does, over `secs` seconds.
fn derive(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, params: &KdfParams, secs: u64) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(secs));
    let mut out = [0u8; 32];
    g.bench_function(name, |b| {
        b.iter(|| {
            params
                .stretch(b"p@ssw0rd", &[7; 16], KdfLimit::default(), &mut out)
                .unwrap();
            black_box(&out);
        })
    });
}

fn presets(c: &mut Criterion) {
    let mut g = c.benchmark_group("kdf");
    for (name, params, secs) in [
        ("default (argon2id 19 MiB, t=2)", KdfParams::default(), 5),
        (
            "interactive (argon2id 64 MiB, t=2)",
            KdfParams::interactive(),
            10,
        ),
        (
            "sensitive (argon2id 1 GiB, t=4)",
            KdfParams::sensitive(),
            60,
        ),
        ("scrypt 2^15, r=8", KdfParams::scrypt(15, 8, 1), 5),
    ] {
        derive(&mut g, name, &params, secs);
    }
    g.finish();
}

fn calibrated(c: &mut Criterion) {
    let target = Duration::from_millis(250);
    let params = KdfParams::calibrate(target, 64 * 1024).unwrap();
    let mut g = c.benchmark_group("kdf");
    let name = format!("calibrated for 250 ms within 64 MiB: {params:?}");
    derive(&mut g, &name, &params, 10);
    g.finish();
}

criterion_group!(benches, presets, calibrated);
criterion_main!(benches);
