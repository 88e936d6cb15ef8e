//! The attacker's varint: unsigned LEB128 as postcard writes it (docs/FORMAT.md), read
//! from a store file it has taken apart by FORMAT.md alone.

/// Reads an unsigned LEB128 varint at `at`, moving `at` past it.
pub fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}
