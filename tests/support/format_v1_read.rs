//! docs/FORMAT.md's "Version 1 files" read from the document alone: a raw-key v1 file's
//! entries and sequence number. Included beside `format_v1.rs` and `format_v2.rs` (whose
//! AEAD open and cursor it uses): `#[path = "support/format_v1_read.rs"] mod
//! format_v1_read;`.
#![allow(dead_code)] // not every test binary that includes this file uses every helper

use super::format_v1::{key_schedule, value_aad};
use super::format_v2::{open, Cursor};

/// An entry as FORMAT.md reads it: namespace, key, value plaintext, expiry.
pub type DocEntry = (String, String, Vec<u8>, Option<u64>);

/// Parses a v1 file of a raw-key store by FORMAT.md alone ("Version 1 files"): every
/// entry, and the body's sequence number (`None` if it has none).
pub fn parse_by_the_doc(
    file: &[u8],
    key: &[u8; 32],
    value_encoding: u8,
) -> (Vec<DocEntry>, Option<u64>) {
    assert_eq!(&file[..8], b"MICROKV\0");
    assert_eq!(u16::from_le_bytes([file[8], file[9]]), 1);
    assert_eq!(file[10], 0, "raw key: KDF id 0");
    assert_eq!(file[11], value_encoding, "value encoding");
    assert_eq!(&file[12..24], &[0; 12], "raw key: no parameters");
    let salt: [u8; 16] = file[24..40].try_into().unwrap();
    let (kek, commitment) = key_schedule(key, &salt);
    assert_eq!(&file[40..72], &commitment);
    let data_key = open(&kek, &file[72..96], &file[..72], &file[96..144]).expect("key wrap");
    let body_len = u64::from_le_bytes(file[168..176].try_into().unwrap()) as usize;
    assert_eq!(body_len, file.len() - 176);
    let body = open(&data_key, &file[144..168], &file[..176], &file[176..]).expect("body");

    let mut out = Vec::new();
    let mut cursor = Cursor { buf: &body, at: 0 };
    let text = |c: &mut Cursor| String::from_utf8(c.bytes().unwrap().to_vec()).unwrap();
    for _ in 0..cursor.varint().unwrap() {
        let ns = text(&mut cursor);
        for _ in 0..cursor.varint().unwrap() {
            let key = text(&mut cursor);
            let expires = match cursor.byte().unwrap() {
                0 => None,
                1 => Some(cursor.varint().unwrap()),
                t => panic!("option tag {t}"),
            };
            let sealed = cursor.bytes().unwrap();
            let aad = value_aad(&ns, &key);
            let value = open(&data_key, &sealed[..24], &aad, &sealed[24..]).expect("value");
            out.push((ns.clone(), key, value, expires));
        }
    }
    let sequence = (cursor.at < body.len()).then(|| cursor.varint().unwrap());
    assert_eq!(cursor.at, body.len(), "nothing after the sequence");
    out.sort();
    (out, sequence)
}
