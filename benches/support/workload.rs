//! The entries every in-workspace benchmark fills a store with (the names and values of
//! benches/peers too): `#[path]`-included by each bench.

/// The name of entry `i`: `k0000000`, `k0000001`, ...
pub fn key(i: usize) -> String {
    format!("k{i:07}")
}

/// A value of `len` bytes, distinct per `i`.
pub fn value(i: usize, len: usize) -> String {
    let mut v = format!("{i:016x}");
    while v.len() < len {
        v.push((b'a' + (v.len() % 26) as u8) as char);
    }
    v
}
