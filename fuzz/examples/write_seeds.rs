//! Writes each target's seeds to `<dir>/<target>/seed-<n>` (`scripts/fuzz-seeds.sh`).
fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: write_seeds <corpus dir>");
    for (target, _) in microkv_fuzz::TARGETS {
        let out = std::path::Path::new(&dir).join(target);
        std::fs::create_dir_all(&out).unwrap();
        for (i, seed) in microkv_fuzz::seeds(target).iter().enumerate() {
            std::fs::write(out.join(format!("seed-{i}")), seed).unwrap();
        }
    }
}
