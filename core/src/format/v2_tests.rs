//! The v2 file through its writer and reader: what an open reads and what it leaves to
//! the reads, the pin that refuses an older value put back, and forged tocs.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use hashbrown::HashMap;

use super::header::{KeyHeader, DATA_LEN, HEADER_LEN};
use super::snapshot::{decode_with, encode, Opened};
use super::toc::{nonce, Toc, PREFIX_LEN};
use crate::arena::{Arena, HeapPages, MemoryPolicy};
use crate::crypto::{Keyring, TAG_LEN, WRAPPED_LEN};
use crate::entry::Entry;
use crate::error::Error;
use crate::space::Space;

pub(super) struct Fixture {
    pub(super) arena: Arc<Arena>,
    header: KeyHeader,
    pub(super) keyring: Arc<Keyring>,
}

pub(super) fn fixture() -> Fixture {
    let arena = Arena::new(Arc::new(HeapPages), MemoryPolicy::BestEffort);
    let keyring = Keyring::generate(&arena).unwrap();
    // The key part is only written and compared here: no credential unwraps it.
    let header = KeyHeader {
        kdf: None,
        salt: [1; 16],
        commitment: [2; 32],
        wrapped: [3; WRAPPED_LEN],
    };
    Fixture {
        arena,
        header,
        keyring: Arc::new(keyring),
    }
}

impl Fixture {
    pub(super) fn seal(&self, ns: &str, key: &str, value: &[u8], expires_at: Option<u64>) -> Entry {
        let mut plain = self.arena.alloc(value.len()).unwrap();
        plain.copy_from_slice(value);
        Entry::seal(&self.keyring, ns, key, &mut plain, expires_at).unwrap()
    }

    /// Namespaces `""` (`n` keys `k<i>`, every third with an expiry) and `"other"` (one).
    pub(super) fn spaces(&self, n: usize) -> HashMap<String, Space> {
        let mut spaces: HashMap<String, Space> = HashMap::new();
        for i in 0..n {
            let (key, value) = (alloc::format!("k{i}"), alloc::format!("value {i}"));
            let expiry = (i % 3 == 0).then_some(1_000 + i as u64);
            let e = self.seal("", &key, value.as_bytes(), expiry);
            spaces
                .entry(String::new())
                .or_default()
                .insert(&key, &e, false)
                .unwrap();
        }
        let e = self.seal("other", "k0", b"other value", None);
        spaces
            .entry("other".into())
            .or_default()
            .insert("k0", &e, false)
            .unwrap();
        spaces
    }

    pub(super) fn encode(&self, spaces: &HashMap<String, Space>) -> Vec<u8> {
        encode(&self.header, &self.keyring, &self.arena, spaces, None, 7).unwrap()
    }

    pub(super) fn decode(&self, bytes: Vec<u8>) -> crate::error::Result<Opened> {
        decode_with(&self.keyring, &self.arena, bytes)
    }

    pub(super) fn value(
        &self,
        opened: &Opened,
        ns: &str,
        key: &str,
    ) -> crate::error::Result<Vec<u8>> {
        let stored = opened.spaces[ns].get(key)?.ok_or(Error::KeyNotFound)?;
        let plain = stored
            .to_entry()
            .open(&self.keyring, &self.arena, ns, key)?;
        Ok(plain.to_vec())
    }
}

#[test]
fn a_v2_file_reads_back_every_entry_name_and_expiry() {
    let f = fixture();
    let spaces = f.spaces(300);
    let opened = f.decode(f.encode(&spaces)).unwrap();
    assert_eq!(opened.sequence, 7);
    assert_eq!(opened.spaces.len(), 2);
    let space = &opened.spaces[""];
    assert_eq!(space.len(), 300);
    for i in 0..300 {
        let key = alloc::format!("k{i}");
        let value = f.value(&opened, "", &key).unwrap();
        assert_eq!(value, alloc::format!("value {i}").as_bytes());
        let expiry = space.get(&key).unwrap().unwrap().expires_at;
        assert_eq!(expiry, (i % 3 == 0).then_some(1_000 + i as u64));
    }
    assert!(space.get("k300").unwrap().is_none() && space.get("").unwrap().is_none());
    let mut names: Vec<String> = space.iter().unwrap().map(|e| e.key.into()).collect();
    names.sort();
    let mut expected: Vec<String> = (0..300).map(|i| alloc::format!("k{i}")).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(f.value(&opened, "other", "k0").unwrap(), b"other value");
    // A name of one namespace is not found in another.
    assert!(opened.spaces["other"].get("k1").unwrap().is_none());
}

#[test]
fn writes_over_a_v2_files_entries_shadow_them_and_save_again() {
    let f = fixture();
    let mut opened = f.decode(f.encode(&f.spaces(50))).unwrap();
    let space = opened.spaces.get_mut("").unwrap();
    let new = f.seal("", "k1", b"new one", None);
    assert!(space.insert("k1", &new, true).unwrap().is_some());
    assert!(space.remove("k2", true).unwrap().is_some());
    assert!(space.remove("k2", true).unwrap().is_none());
    assert!(space
        .insert("fresh", &f.seal("", "fresh", b"f", None), true)
        .unwrap()
        .is_none());
    space.retain_live(1_004).unwrap(); // k0 (1,000) and k3 (1,003) expire
    assert_eq!(space.len(), 50 - 1 - 2 + 1);
    assert!(space.get("k0").unwrap().is_none() && space.get("k3").unwrap().is_none());
    assert_eq!(space.count_live(|_| true).unwrap(), space.len());
    let names: Vec<&str> = space.iter().unwrap().map(|e| e.key).collect();
    assert_eq!(names.len(), space.len());
    assert!(names.contains(&"fresh") && names.contains(&"k1") && !names.contains(&"k2"));
    // Saved again, and read back: the new value, the removals.
    let again = f.decode(f.encode(&opened.spaces)).unwrap();
    assert_eq!(f.value(&again, "", "k1").unwrap(), b"new one");
    assert_eq!(f.value(&again, "", "fresh").unwrap(), b"f");
    assert!(
        again.spaces[""].get("k2").unwrap().is_none()
            && again.spaces[""].get("k0").unwrap().is_none()
    );
    assert_eq!(again.spaces[""].len(), 48);
}

/// Where the one namespace of a file of one entry has its record.
fn only_record(bytes: &[u8]) -> core::ops::Range<usize> {
    let start = HEADER_LEN + super::toc::entry_len(0);
    let end = HEADER_LEN + 12;
    let len = u32::from_le_bytes(bytes[end..end + 4].try_into().unwrap()) as usize;
    start..start + len
}

#[test]
fn an_older_sealed_value_put_back_is_refused_by_its_pin() {
    let f = fixture();
    let file_of = |value: &[u8]| {
        let mut spaces: HashMap<String, Space> = HashMap::new();
        let e = f.seal("", "token", value, None);
        spaces
            .entry(String::new())
            .or_default()
            .insert("token", &e, false)
            .unwrap();
        (f.encode(&spaces), e)
    };
    let ((old, old_entry), (new, _)) = (file_of(b"old secret"), file_of(b"new secret"));
    let (was, now) = (only_record(&old), only_record(&new));
    assert_eq!(was.len(), now.len());
    // Control: the old record is an authentic sealed value of that very key, written
    // short (`p = 0`, the one prefix both files list, the handle's; `c`, its counter), so
    // the value's own AEAD would take it.
    let old_record = old[was].to_vec();
    let sealed = &old_entry.sealed;
    assert_eq!(old_record[0], 0);
    assert_eq!(
        u64::from(old_record[1]),
        u64::from_le_bytes(sealed[16..24].try_into().unwrap())
    );
    assert_eq!(old_record[2..], sealed[24..]);
    let plain = old_entry.open(&f.keyring, &f.arena, "", "token").unwrap();
    assert_eq!(&plain[..], b"old secret");
    // Put back into the newer file, it does not read: the directory pins the new tag.
    let mut rolled = new.clone();
    rolled[now].copy_from_slice(&old_record);
    let opened = f.decode(rolled).unwrap();
    assert!(matches!(f.value(&opened, "", "token"), Err(Error::Crypto)));
    // And a save does not launder it into a file of its own.
    let err = encode(&f.header, &f.keyring, &f.arena, &opened.spaces, None, 8).unwrap_err();
    assert!(matches!(err, Error::Crypto), "{err:?}");
    // The newer file as written reads.
    assert_eq!(
        f.value(&f.decode(new).unwrap(), "", "token").unwrap(),
        b"new secret"
    );
}

#[test]
fn a_damaged_names_block_is_found_by_the_first_listing_and_reads_still_work() {
    let f = fixture();
    let mut bytes = f.encode(&f.spaces(20));
    let data_end = HEADER_LEN + u32::from_le_bytes(bytes[DATA_LEN].try_into().unwrap()) as usize;
    // Some namespace's names block ends where the data ends: its tag's last byte.
    bytes[data_end - 1] ^= 1;
    let opened = f.decode(bytes).unwrap();
    let failed = opened.spaces.values().filter(|s| s.iter().is_err()).count();
    assert_eq!(failed, 1);
    assert!(matches!(
        opened.spaces.values().find_map(|s| s.iter().err()),
        Some(Error::Tampered)
    ));
    assert_eq!(f.value(&opened, "other", "k0").unwrap(), b"other value");
    assert_eq!(f.value(&opened, "", "k5").unwrap(), b"value 5");
}

#[test]
fn a_damaged_toc_does_not_open_and_a_damaged_directory_fails_the_reads_of_its_chunk() {
    let f = fixture();
    let good = f.encode(&f.spaces(100));
    for at in [good.len() - 20, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        assert!(matches!(f.decode(bad), Err(Error::Tampered)), "byte {at}");
    }
    // The first namespace's directory is one chunk (at most 101 rows of 32 bytes): every
    // lookup there reads it. Its first row's check is damaged.
    let mut bad = good.clone();
    bad[HEADER_LEN + 8] ^= 0x40;
    let opened = f.decode(bad).unwrap();
    // Whichever namespace the encoder wrote first is the damaged one.
    let damaged: Vec<&str> = ["", "other"]
        .into_iter()
        .filter(|ns| matches!(opened.spaces[*ns].get("k0"), Err(Error::Tampered)))
        .collect();
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    let (bad_ns, good_ns) = match damaged[0] {
        "" => ("", "other"),
        _ => ("other", ""),
    };
    let space = &opened.spaces[bad_ns];
    assert!(matches!(space.iter().err(), Some(Error::Tampered)));
    assert!(matches!(space.count_live(|_| true), Err(Error::Tampered)));
    // The other namespace reads, and the damage is found again (never kept as good).
    assert!(opened.spaces[good_ns].get("k0").unwrap().is_some());
    assert!(matches!(space.get("k0"), Err(Error::Tampered)));
    // A write there fails whole, by itself (what applying one change to memory counts
    // on): no slot of the table takes the key, so a get still reads the directory.
    let mut opened = opened;
    let space = opened.spaces.get_mut(bad_ns).unwrap();
    let fresh = f.seal(bad_ns, "k0", b"fresh", None);
    assert!(matches!(
        space.insert("k0", &fresh, true),
        Err(Error::Tampered)
    ));
    assert!(matches!(space.remove("k1", true), Err(Error::Tampered)));
    assert!(matches!(space.get("k0"), Err(Error::Tampered)));
    assert_eq!(space.len(), if bad_ns.is_empty() { 100 } else { 1 });
    // Control: the same reads of the undamaged file succeed.
    let opened = f.decode(good).unwrap();
    assert!(opened.spaces[bad_ns].get("k0").unwrap().is_some());
}

/// `good` with its toc changed by `change` and sealed again under the right key: what
/// only a writer holding the key could make.
fn forged(f: &Fixture, good: &[u8], change: impl FnOnce(&mut Toc<'_>)) -> Vec<u8> {
    let data_end = HEADER_LEN + u32::from_le_bytes(good[DATA_LEN].try_into().unwrap()) as usize;
    let mut plain = good[data_end..good.len() - TAG_LEN].to_vec();
    let head = &good[..HEADER_LEN];
    f.keyring
        .open_in_place(
            &head[144..168],
            head,
            &mut plain,
            &good[good.len() - TAG_LEN..],
        )
        .unwrap();
    let mut toc: Toc<'_> = postcard::from_bytes(&plain).unwrap();
    change(&mut toc);
    let mut toc = postcard::to_allocvec(&toc).unwrap();
    let mut out = good[..data_end].to_vec();
    out[172..176].copy_from_slice(&(toc.len() as u32).to_le_bytes());
    let mut prefix = [0u8; PREFIX_LEN];
    prefix.copy_from_slice(&out[144..160]);
    let tag = f
        .keyring
        .seal_in_place(&nonce(&prefix, 0), &out[..HEADER_LEN], &mut toc)
        .unwrap();
    out.extend_from_slice(&toc);
    out.extend_from_slice(&tag);
    out
}

/// A change a forger makes to a toc.
type Change = fn(&mut Toc<'_>);

#[test]
fn a_forged_toc_gets_a_typed_error_and_allocates_by_the_file() {
    let f = fixture();
    let good = f.encode(&f.spaces(20));
    // Control: the forger's resealing alone makes a file that opens.
    assert!(f.decode(forged(&f, &good, |_| ())).is_ok());
    let cases: [(&str, Change); 6] = [
        ("a count past the file", |t| t.spaces[0].count = u64::MAX),
        ("a count of zero", |t| t.spaces[0].count = 0),
        ("records past the file", |t| {
            t.spaces[0].records_len = 1 << 40
        }),
        ("an unknown flag", |t| t.spaces[0].flags |= 0x80),
        ("a namespace twice", |t| {
            let name = t.spaces[1].name;
            t.spaces[0].name = name;
        }),
        ("regions that do not fill the data", |t| {
            t.spaces[1].names_len -= 1
        }),
    ];
    for (what, change) in cases {
        match f.decode(forged(&f, &good, change)) {
            Err(Error::CorruptStore(_)) => {}
            // A region moved by the change no longer matches its directory's tag.
            Err(Error::Tampered) if what.starts_with("regions") => {}
            Err(e) => panic!("{what}: {e:?}"),
            Ok(_) => panic!("{what}: opened"),
        }
    }
}

#[test]
fn records_write_their_nonces_short_under_the_prefixes_the_toc_lists() {
    let mut f = fixture();
    let key = [9u8; 32];
    f.keyring = Arc::new(Keyring::with_key(&f.arena, &key).unwrap());
    // A second handle on the same data key: its own nonce prefix.
    let other = Keyring::with_key(&f.arena, &key).unwrap();
    let mut spaces: HashMap<String, Space> = HashMap::new();
    let mut expected_len = 0;
    for i in 0..20 {
        let (name, value) = (alloc::format!("k{i}"), alloc::format!("value {i}"));
        let ring = if i % 2 == 0 { &*f.keyring } else { &other };
        let mut plain = f.arena.alloc(value.len()).unwrap();
        plain.copy_from_slice(value.as_bytes());
        let e = Entry::seal(ring, "", &name, &mut plain, None).unwrap();
        // p and c below 128: one byte each, then ciphertext and tag.
        expected_len += 2 + value.len() + TAG_LEN;
        spaces.entry(String::new()).or_default();
        spaces
            .get_mut("")
            .unwrap()
            .insert(&name, &e, false)
            .unwrap();
    }
    let good = f.encode(&spaces);
    let mut seen = None;
    forged(&f, &good, |t| {
        seen = Some((t.prefixes.len(), t.spaces[0].records_len))
    });
    assert_eq!(seen, Some((2, expected_len as u64)));
    let opened = f.decode(good.clone()).unwrap();
    for i in 0..20 {
        let value = f.value(&opened, "", &alloc::format!("k{i}")).unwrap();
        assert_eq!(value, alloc::format!("value {i}").as_bytes());
    }
    // Control: the forger's resealing alone changes nothing a read sees.
    let resealed = f.decode(forged(&f, &good, |_| ())).unwrap();
    assert!(f.value(&resealed, "", "k1").is_ok());
    // A list that lost a prefix, or has them swapped: the values under them do not open
    // (a typed error at the read, never a panic), and the open still succeeds.
    let cases: [Change; 2] = [|t| t.prefixes.truncate(1), |t| t.prefixes.swap(0, 1)];
    for change in cases {
        let opened = f.decode(forged(&f, &good, change)).unwrap();
        let failed = (0..20)
            .filter(|i| {
                matches!(
                    f.value(&opened, "", &alloc::format!("k{i}")),
                    Err(Error::Crypto)
                )
            })
            .count();
        assert!(failed >= 10, "{failed}");
    }
}
