//! Stack frames on demand, for the controls of the small-stack tests (shared with
//! `#[path = "support/frames.rs"] mod frames;`, and by tests/downstream).

/// Recurses `n` deep through frames of at least 1 KiB each (the optimiser keeps every
/// frame's pad: it is read after the call); the byte it returns means nothing.
#[inline(never)]
pub fn recurse(n: usize) -> u8 {
    let mut pad = [n as u8; 1024];
    std::hint::black_box(&mut pad);
    if n == 0 {
        return pad[0];
    }
    recurse(n - 1).wrapping_add(std::hint::black_box(pad[1]))
}
