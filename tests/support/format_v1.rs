//! docs/FORMAT.md's pieces written from the document alone (nothing shared with the
//! store's encoder), for the tests and fuzz targets that build store files byte by byte
//! (shared with `#[path = "support/format_v1.rs"] mod format_v1;`, and by
//! fuzz/src/lib.rs).
use blake2::{Blake2b512, Digest};
use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, KeyInit, XChaCha20Poly1305, XNonce};

/// "Primitives": an unsigned LEB128 varint (postcard's), appended to `out`.
pub fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// XChaCha20-Poly1305: `ciphertext || tag` of `plain`.
pub fn seal(key: &[u8], nonce: &[u8; 24], aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    let tag = XChaCha20Poly1305::new_from_slice(key)
        .unwrap()
        .encrypt_inout_detached(&XNonce::from(*nonce), aad, InOutBuf::from(&mut buf[..]))
        .unwrap();
    buf.extend_from_slice(&tag);
    buf
}

/// "Keys": (key-encryption key, commitment) of a root key and the header's salt.
pub fn key_schedule(root: &[u8; 32], salt: &[u8; 16]) -> ([u8; 32], [u8; 32]) {
    let mut h = Blake2b512::new();
    h.update(b"microkv v1 key schedule\0");
    h.update(salt);
    h.update(root);
    let out = h.finalize();
    (out[..32].try_into().unwrap(), out[32..].try_into().unwrap())
}

/// "Values": the associated data of the value of `ns`/`key`.
pub fn value_aad(ns: &str, key: &str) -> Vec<u8> {
    let mut aad = vec![1u8];
    aad.extend_from_slice(&(ns.len() as u32).to_le_bytes());
    aad.extend_from_slice(ns.as_bytes());
    aad.extend_from_slice(key.as_bytes());
    aad
}

/// "Values": the sealed bytes of `ns`/`key` (`nonce || ciphertext || tag`) for the
/// plaintext `plain`, under the data key.
pub fn sealed_value(
    data_key: &[u8],
    nonce: &[u8; 24],
    ns: &str,
    key: &str,
    plain: &[u8],
) -> Vec<u8> {
    let mut sealed = nonce.to_vec();
    sealed.extend(seal(data_key, nonce, &value_aad(ns, key), plain));
    sealed
}

/// "Body": one entry (key, optional expiry in ms since the epoch, sealed bytes), appended
/// to `out`.
pub fn entry(key: &str, expires: Option<u64>, sealed: &[u8], out: &mut Vec<u8>) {
    varint(key.len() as u64, out);
    out.extend_from_slice(key.as_bytes());
    match expires {
        None => out.push(0),
        Some(at) => {
            out.push(1);
            varint(at, out);
        }
    }
    varint(sealed.len() as u64, out);
    out.extend_from_slice(sealed);
}
