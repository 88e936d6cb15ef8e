//! Forged store headers, for tests of hostile files (shared with `#[path =
//! "support/forge.rs"] mod forge;`). Offsets from docs/FORMAT.md, "Header".

/// `bytes` (a store file) with the header's KDF id (byte 10) and its three parameters
/// (bytes 12..24, little-endian) replaced; the rest, commitment included, as it was: the
/// forgery shows only once the KDF has run.
pub fn forge(bytes: &[u8], id: u8, a: u32, b: u32, c: u32) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    bytes[10] = id;
    bytes[12..16].copy_from_slice(&a.to_le_bytes());
    bytes[16..20].copy_from_slice(&b.to_le_bytes());
    bytes[20..24].copy_from_slice(&c.to_le_bytes());
    bytes
}
