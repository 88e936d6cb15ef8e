use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{name_at, own_slot, value_at, NAMES_MAX, NAME_BITS, VALUES_MAX};
use crate::entry::Entry;
use crate::error::Error;
use crate::space::buf::Buf;
use crate::space::{Space, OWN};

fn entry(fill: u8, len: usize) -> Entry {
    Entry {
        sealed: alloc::vec![fill; len].into(),
        expires_at: None,
    }
}

/// Puts `key` = `len` bytes of `fill` into `space`.
fn put(space: &mut Space, key: &str, fill: u8, len: usize) {
    space.insert(key, &entry(fill, len), false).unwrap();
}

/// A space of the entries `names(i)` = `len` bytes of `i`, each `i` of `range`.
fn puts(range: core::ops::Range<u8>, names: impl Fn(u8) -> String, len: usize) -> Space {
    let mut space = Space::default();
    for i in range {
        put(&mut space, &names(i), i, len);
    }
    space
}

/// What `space` holds, sorted: each key with its sealed value.
fn contents(space: &Space) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = (space.iter().unwrap())
        .map(|s| (s.key.into(), s.sealed.to_vec()))
        .collect();
    all.sort();
    all
}

/// `model` as [`contents`] lists a space.
fn listed(model: &BTreeMap<String, Vec<u8>>) -> Vec<(String, Vec<u8>)> {
    model.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The live bytes of the log's names and values: what it holds less what it counts dead.
fn live(space: &Space) -> (usize, usize) {
    let own = &space.own;
    (
        own.names.len() - own.names.dead,
        own.values.len() - own.values.dead,
    )
}

/// The bytes of the names and values records of `model`'s entries (no expiry, names and
/// values under 128 bytes: one length byte each).
fn model_bytes(model: &BTreeMap<String, Vec<u8>>) -> (usize, usize) {
    let names = model.keys().map(|k| 1 + k.len()).sum();
    (names, model.values().map(|v| 2 + v.len()).sum())
}

#[test]
fn a_slot_holds_both_offsets_up_to_their_bounds() {
    let cases = [
        (0, 0),
        (1, 2),
        (12_345, 678_901),
        (NAMES_MAX, 0),
        (0, VALUES_MAX),
        (NAMES_MAX, VALUES_MAX),
    ];
    for (name, value) in cases {
        let slot = own_slot(name, value);
        assert_eq!((name_at(slot), value_at(slot)), (name, value));
        assert_ne!(slot & OWN, 0);
        assert_eq!(slot & NAME_BITS, own_slot(name, 0));
    }
    // Control: one past either bound does not come back (hence `Log::fits`).
    assert_ne!(name_at(own_slot(NAMES_MAX + 1, 0)), NAMES_MAX + 1);
    #[cfg(target_pointer_width = "64")]
    assert_ne!(value_at(own_slot(0, VALUES_MAX + 1)), VALUES_MAX + 1);
}

#[test]
fn the_log_keeps_names_apart_from_values() {
    let mut space = Space::default();
    let key = |i: u8| format!("name{i:02}");
    for i in 0..50u8 {
        space.insert(&key(i), &entry(i, 30), false).unwrap();
    }
    // The names buffer is the names alone, each after its length; the values buffer has
    // none of them (the sealed bytes are 0..50, no letter).
    let names: Vec<u8> = (0..50u8)
        .flat_map(|i| core::iter::once(6).chain(key(i).into_bytes()))
        .collect();
    let held = |buf: &Buf| -> Vec<u8> { buf.chunks().flat_map(|(_, c)| c.to_vec()).collect() };
    assert_eq!(held(&space.own.names), names);
    assert_eq!(held(&space.own.values).len(), 50 * (1 + 1 + 30));
    assert!(!held(&space.own.values).windows(4).any(|w| w == b"name"));
    for i in 0..50u8 {
        let got = space.get(&key(i)).unwrap().map(|s| s.sealed.to_vec());
        assert_eq!(got, Some(alloc::vec![i; 30]));
    }
    assert!(space.get("name50").unwrap().is_none());
}

#[test]
fn overwrites_and_removes_count_dead_names_and_values() {
    let mut space = puts(0..10, |i| format!("k{i}"), 40);
    // Values of another length are appended, the old ones dead.
    let was = space.insert("k0", &entry(100, 41), true).unwrap();
    assert_eq!(was.map(|e| e.sealed[0]), Some(0));
    space.insert("k1", &entry(101, 41), false).unwrap();
    assert_eq!(
        space.remove("k2", true).unwrap().map(|e| e.sealed[0]),
        Some(2)
    );
    // Three values of 42 dead, and one name of 3 bytes (the one removed): an overwrite
    // keeps its name where it lies. Under half of either: kept.
    let own = &space.own;
    assert_eq!((own.names.dead, own.values.dead), (3, 3 * 42));
    assert_eq!(
        (own.names.len(), own.values.len()),
        (10 * 3, 10 * 42 + 2 * 43)
    );
    assert_eq!((own.names.dead_entries, own.values.dead_entries), (1, 3));
    // A value of the same length is written where the old one lies: nothing appended,
    // nothing dead, the old bytes gone.
    let was = space.insert("k3", &entry(103, 40), true).unwrap();
    assert_eq!(was.map(|e| e.sealed.to_vec()), Some(alloc::vec![3; 40]));
    let own = &space.own;
    assert_eq!((own.names.dead, own.values.dead), (3, 3 * 42));
    assert_eq!(
        (own.names.len(), own.values.len()),
        (10 * 3, 10 * 42 + 2 * 43)
    );
    let held: Vec<u8> = (own.values.chunks())
        .flat_map(|(_, c)| c.to_vec())
        .collect();
    assert!(
        !held.windows(40).any(|w| w == [3; 40]),
        "the old value is gone"
    );
    let mut model = BTreeMap::new();
    for i in 4..10u8 {
        model.insert(format!("k{i}"), alloc::vec![i; 40]);
    }
    model.insert("k0".into(), alloc::vec![100; 41]);
    model.insert("k1".into(), alloc::vec![101; 41]);
    model.insert("k3".into(), alloc::vec![103; 40]);
    assert_eq!(contents(&space), listed(&model));
    assert_eq!(live(&space), model_bytes(&model));
}

#[test]
fn names_and_values_compact_apart() {
    // Values die faster: k0 rewritten with large values, its name short.
    let mut space = puts(0..10, |i| format!("k{i}"), 40);
    for round in 0..5u8 {
        // Each round's value one byte longer: appended, not written over the last.
        let len = 120 + usize::from(round);
        space.insert("k0", &entry(200 + round, len), false).unwrap();
        if round == 3 {
            // 42 + 122 + 123 + 124 of 10 x 42 + 122 + .. + 125 bytes dead: under half.
            assert_eq!(space.own.values.len(), 10 * 42 + 122 + 123 + 124 + 125);
        }
    }
    // Values: 42 + 122 + .. + 125 dead of 10 x 42 + 122 + .. + 126: past half,
    // compacted; names: none dead (an overwrite keeps its name), none appended.
    let own = &space.own;
    assert_eq!((own.values.dead, own.values.len()), (0, 9 * 42 + 126));
    assert_eq!((own.names.dead, own.names.len()), (0, 10 * 3));
    let mut model = BTreeMap::new();
    for i in 1..10u8 {
        model.insert(format!("k{i}"), alloc::vec![i; 40]);
    }
    model.insert("k0".into(), alloc::vec![204; 124]);
    assert_eq!(contents(&space), listed(&model));

    // Names die faster: long names removed, a large value kept.
    let mut space = Space::default();
    space.insert("big", &entry(1, 120), false).unwrap();
    space.insert("big2", &entry(2, 120), false).unwrap();
    let long = |i: u8| format!("{i:02}-a-name-of-fifty-bytes-{:->25}", "");
    assert_eq!(long(0).len(), 50);
    for i in 0..10u8 {
        space.insert(&long(i), &entry(i, 10), false).unwrap();
    }
    for i in 0..6u8 {
        assert!(space.remove(&long(i), true).unwrap().is_some());
    }
    // Names: 6 x 51 dead of 4 + 5 + 10 x 51: compacted; values: 6 x 12 of 2 x 122 +
    // 10 x 12: kept.
    let own = &space.own;
    assert_eq!((own.names.dead, own.names.len()), (0, 4 + 5 + 4 * 51));
    assert_eq!(
        (own.values.dead, own.values.len()),
        (6 * 12, 2 * 122 + 10 * 12)
    );
    let mut model = BTreeMap::new();
    model.insert("big".into(), alloc::vec![1; 120]);
    model.insert("big2".into(), alloc::vec![2; 120]);
    for i in 6..10u8 {
        model.insert(long(i), alloc::vec![i; 10]);
    }
    assert_eq!(contents(&space), listed(&model));
    assert_eq!(live(&space), model_bytes(&model));
}

/// Random writes, overwrites, removes and retains against a map: the space holds what
/// the map does, the log counts its dead bytes exactly, and neither buffer is more than
/// half dead after any call.
#[test]
fn a_log_under_random_writes_matches_a_map() {
    let mut space = Space::default();
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Whether each buffer compacted at some point (it shrank), and apart from the other.
    let (mut names_shrank, mut values_shrank, mut apart) = (false, false, false);
    for step in 0..3_000u32 {
        let held = (space.own.names.len(), space.own.values.len());
        let r = next();
        let key = format!("{:0w$}", r % 60, w = 1 + (r >> 8) as usize % 40);
        match (r >> 16) % 10 {
            0..=5 => {
                let value = alloc::vec![(r >> 24) as u8; (r >> 32) as usize % 100];
                let entry = Entry {
                    sealed: value.clone().into(),
                    expires_at: None,
                };
                let was = space.insert(&key, &entry, true).unwrap();
                let want = model.insert(key, value);
                assert_eq!(was.map(|e| e.sealed.to_vec()), want);
            }
            6..=8 => {
                let was = space.remove(&key, true).unwrap();
                assert_eq!(was.map(|e| e.sealed.to_vec()), model.remove(&key));
            }
            _ => {
                let byte = (r >> 24) as u8;
                space.retain(|s| s.sealed.first() != Some(&byte));
                model.retain(|_, v| v.first() != Some(&byte));
            }
        }
        let own = &space.own;
        let shrank = (own.names.len() < held.0, own.values.len() < held.1);
        names_shrank |= shrank.0;
        values_shrank |= shrank.1;
        apart |= shrank.0 != shrank.1;
        assert!(own.names.dead * 2 <= own.names.len(), "step {step}");
        assert!(own.values.dead * 2 <= own.values.len(), "step {step}");
        assert_eq!(live(&space), model_bytes(&model), "step {step}");
        if step % 50 == 0 {
            assert_eq!(contents(&space), listed(&model), "step {step}");
        }
    }
    assert_eq!(contents(&space), listed(&model));
    assert!(names_shrank && values_shrank && apart);
}

/// A log whose offsets would not fit in a slot lets its dead bytes go first, and refuses
/// (changing nothing it holds) once its live bytes alone are too many. Small bounds
/// stand in for a slot's (2^31 and 2^32 bytes), which [`Space::insert`] passes.
#[test]
fn a_log_with_no_room_compacts_or_refuses() {
    let mut space = puts(0..10, |i| format!("k{i}"), 40);
    for i in 0..3u8 {
        // Removed and written again: a name and a value dead each.
        space.remove(&format!("k{i}"), false).unwrap();
        put(&mut space, &format!("k{i}"), 50 + i, 41);
    }
    let before = contents(&space);
    let (names, values) = (space.own.names.len(), space.own.values.len());
    // Room: nothing moves.
    space.make_room(names, values).unwrap();
    assert_eq!(
        (space.own.names.len(), space.own.values.len()),
        (names, values)
    );
    assert_eq!(space.own.names.dead, 9);
    // No room for names: they compact, the values stay.
    space.make_room(names - 1, values).unwrap();
    assert_eq!((space.own.names.len(), space.own.names.dead), (30, 0));
    assert_eq!(space.own.values.len(), values);
    assert_eq!(contents(&space), before);
    // No room for the live values: refused, the entries as they were.
    let refused = space.make_room(usize::MAX, 10);
    assert!(
        matches!(refused, Err(Error::TooLarge { len: 423, max: 10 })),
        "{refused:?}"
    );
    assert_eq!(space.own.values.dead, 0);
    assert_eq!(contents(&space), before);
    space.insert("k9", &entry(9, 40), false).unwrap();
    assert_eq!(contents(&space), before);
}

mod listing;
