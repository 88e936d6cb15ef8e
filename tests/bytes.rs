//! Byte values as bytes: `put_bytes` writes a MessagePack bin, and each of the ways bytes
//! are written (bin, `serde_bytes`, the array of integers `put` makes of a `Vec<u8>`, which
//! earlier stores hold) reads back through each of the ways they are read.

use microkv::{Credential, MicroKV};

fn db() -> MicroKV {
    MicroKV::in_memory(Credential::key([5; 32])).unwrap()
}

/// The snapshot's length with one value `write` has put under "k".
fn snapshot_len(write: impl Fn(&MicroKV)) -> usize {
    let db = db();
    write(&db);
    db.export().unwrap().len()
}

#[test]
fn put_bytes_is_compact_and_reads_back_every_way() {
    let bytes: Vec<u8> = (0..=255).collect();
    let as_array = snapshot_len(|db| db.put("k", &bytes).unwrap());
    let as_bin = snapshot_len(|db| db.put_bytes("k", &bytes).unwrap());
    // An array of 256 integers: 3 bytes of header, 128 one-byte and 128 two-byte
    // integers (387); a bin: 3 bytes of header and the bytes (259).
    assert_eq!(as_array - as_bin, 387 - 259, "{as_array} vs {as_bin}");

    let db = db();
    db.put_bytes("k", &bytes).unwrap();
    assert_eq!(db.get_bytes("k").unwrap().unwrap(), bytes);
    assert_eq!(db.get::<Vec<u8>>("k").unwrap().unwrap(), bytes);
    let buf: serde_bytes::ByteBuf = db.get("k").unwrap().unwrap();
    assert_eq!(buf.into_vec(), bytes);
    assert_eq!(
        db.get_secret_bytes("k").unwrap().unwrap().expose_secret(),
        &bytes[..]
    );
    db.put_bytes("four", &[1, 2, 3, 4]).unwrap();
    assert_eq!(db.get::<[u8; 4]>("four").unwrap(), Some([1, 2, 3, 4]));
    // Not a byte type: the bin is refused with a typed error, not misread (MessagePack's
    // reader takes a bin that is UTF-8 as a string; these bytes are not).
    db.put_bytes("not-utf8", &[0xff, 0xfe]).unwrap();
    assert!(matches!(
        db.get::<String>("not-utf8"),
        Err(microkv::Error::Serialization(_))
    ));
    assert!(db.get::<[u8; 3]>("four").is_err());
    assert!(db
        .get::<Vec<u16>>("four")
        .is_ok_and(|v| v == Some(vec![1, 2, 3, 4])));
}

#[test]
fn serde_bytes_values_read_as_vec_u8_and_arrays_still_read() {
    let db = db();
    let bytes = vec![0u8, 127, 128, 255];
    db.put("serde-bytes", serde_bytes::Bytes::new(&bytes))
        .unwrap();
    // The control of the fallback: MessagePack's own reader refuses a bin as a Vec<u8>.
    let plain = {
        let mut out = Vec::new();
        out.extend_from_slice(&[0xc4, 4]);
        out.extend_from_slice(&bytes);
        out
    };
    assert!(messagepack_serde::from_slice::<Vec<u8>>(&plain).is_err());
    assert_eq!(db.get::<Vec<u8>>("serde-bytes").unwrap().unwrap(), bytes);
    assert_eq!(db.get_bytes("serde-bytes").unwrap().unwrap(), bytes);

    // What earlier stores (and microkv 0.3) hold: arrays of integers.
    db.put("array", &bytes).unwrap();
    assert_eq!(db.get::<Vec<u8>>("array").unwrap().unwrap(), bytes);
    assert_eq!(db.get_bytes("array").unwrap().unwrap(), bytes);
    let buf: serde_bytes::ByteBuf = db.get("array").unwrap().unwrap();
    assert_eq!(buf.into_vec(), bytes);

    // Neither bytes nor a string: a typed error.
    db.put("n", &7u32).unwrap();
    assert!(matches!(
        db.get_bytes("n"),
        Err(microkv::Error::Serialization(_))
    ));
    assert_eq!(db.get_bytes("absent").unwrap(), None);
}
