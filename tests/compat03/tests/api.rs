//! 0.3.0-style code runs against the published 0.3.0 and against ours.

#[test]
fn traits_hold_on_both() {
    microkv_compat03::on_03::traits();
    microkv_compat03::on_ours::traits();
}

#[test]
fn in_memory_uses_behave_alike() {
    microkv_compat03::on_03::in_memory().unwrap();
    microkv_compat03::on_ours::in_memory().unwrap();
}

#[test]
fn file_uses_behave_alike() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("03")).unwrap();
    std::fs::create_dir(dir.path().join("ours")).unwrap();
    microkv_compat03::on_03::on_disk(&dir.path().join("03")).unwrap();
    microkv_compat03::on_ours::on_disk(&dir.path().join("ours")).unwrap();
}

#[test]
fn errors_construct_and_match_alike() {
    use microkv_compat03::{on_03, on_ours};
    let a: Vec<String> = on_03::construct_errors()
        .iter()
        .map(on_03::describe)
        .collect();
    let b: Vec<String> = on_ours::construct_errors()
        .iter()
        .map(on_ours::describe)
        .collect();
    assert_eq!(a, b);
}
