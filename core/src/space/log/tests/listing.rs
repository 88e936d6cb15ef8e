//! The log's listings: names and values read side by side, a scan that keeps a few
//! names, and `keys`' names-alone listing.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{contents, put, puts};
use crate::entry::Entry;
use crate::space::Space;

/// A log no slot has let go of is listed by reading its names and values side by side
/// (`Log::all_live`): after a fill, and again once both buffers compacted their dead
/// entries away (each keeps its records' order), each name paired with its own value;
/// with dead entries it is not, nor once a value was appended apart from its name (an
/// overwrite by a value of another length: the values are out of their names' order).
#[test]
fn a_log_with_no_dead_entries_lists_names_and_values_side_by_side() {
    let mut space = Space::default();
    // Removed first, so that the name and the value are appended together.
    let set = |space: &mut Space, i: usize, round: usize| {
        let v = alloc::vec![(i * 7 + round) as u8; (i * 13 + round) % 300];
        let key = format!("k{i:03}");
        space.remove(&key, false).unwrap();
        space.insert(&key, &entry_of(&v), false).unwrap();
    };
    for i in 0..400 {
        set(&mut space, i, 0);
    }
    assert_eq!(space.own.all_live().map(Iterator::count), Some(400));
    let filled = contents(&space);
    assert_eq!(filled.len(), 400);
    for round in 1..6 {
        for i in (0..400).filter(|i| i % 5 == round % 5 || i % 7 == 0) {
            set(&mut space, i, round);
        }
    }
    assert!(space.own.all_live().is_none(), "dead entries: probed");
    let probed = contents(&space);
    assert_ne!(probed, filled);
    // Both buffers compacted (a bound of 0 makes it refuse the write, after compacting).
    assert!(space.make_room(0, 0).is_err());
    assert_eq!(
        (space.own.names.dead_entries, space.own.values.dead_entries),
        (0, 0)
    );
    assert_eq!(space.own.all_live().map(Iterator::count), Some(400));
    assert_eq!(contents(&space), probed, "side by side, as probed");
    space.remove("k007", false).unwrap();
    assert!(space.own.all_live().is_none());
    assert_eq!(contents(&space).len(), 399);
    // An overwrite by a longer value, appended apart: never side by side again.
    space.insert("k008", &entry_of(&[9; 301]), false).unwrap();
    assert!(space.make_room(0, 0).is_err());
    assert!(space.own.all_live().is_none());
    assert_eq!(contents(&space).len(), 399);
    assert_eq!(
        space.get("k008").unwrap().map(|s| s.sealed.len()),
        Some(301)
    );
}

fn entry_of(value: &[u8]) -> Entry {
    Entry {
        sealed: value.into(),
        expires_at: None,
    }
}

/// A scan that keeps a few names reads those entries' latest values (an overwrite keeps
/// its name), passing over the removed names of the same prefix that the names buffer
/// holds.
#[test]
fn a_scan_that_keeps_a_few_names_yields_their_latest_values() {
    let mut space = puts(0..200, |i| format!("a{i:03}"), 20);
    for i in 10..15u8 {
        put(&mut space, &format!("a{i:03}"), i + 100, 30);
    }
    for i in [16u8, 18] {
        space.remove(&format!("a{i:03}"), false).unwrap();
    }
    let met = (space.own.names())
        .filter(|(_, k)| k.starts_with(b"a01"))
        .count();
    assert_eq!(met, 10, "the names buffer holds the removed names too");
    let mut got: Vec<(String, Vec<u8>)> = (space.iter_keyed(|k: &[u8]| k.starts_with(b"a01")))
        .unwrap()
        .map(|s| (s.key.into(), s.sealed.to_vec()))
        .collect();
    got.sort();
    let want: Vec<(String, Vec<u8>)> = (10..20u8)
        .filter(|i| ![16, 18].contains(i))
        .map(|i| {
            let value = if i < 15 {
                alloc::vec![i + 100; 30]
            } else {
                alloc::vec![i; 20]
            };
            (format!("a{i:03}"), value)
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        space.iter_keyed(|k: &[u8]| k == b"a016").unwrap().count(),
        0
    );
}

/// `keys`' names-alone listing (`Space::live_names`): every name of a log whose names are
/// all live and none of whose values ever had an expiry, and nothing (the side-by-side or
/// probing scan instead) once a name is dead or a value with an expiry was written.
#[test]
fn a_log_of_live_names_without_expiries_lists_its_names_alone() {
    let mut space = puts(0..200, |i| format!("n{i:03}"), 40);
    let listed = |space: &Space| {
        space.live_names().map(|n| {
            let mut names: Vec<String> = n.map(String::from).collect();
            names.sort();
            names
        })
    };
    let all: Vec<String> = (0..200).map(|i| format!("n{i:03}")).collect();
    assert_eq!(listed(&space), Some(all.clone()));
    // Overwritten in place (same length): the name stays live.
    put(&mut space, "n005", 9, 40);
    assert_eq!(listed(&space), Some(all.clone()));
    // Overwritten by a longer value: the value appended apart, the name kept live.
    put(&mut space, "n006", 9, 80);
    assert_eq!(listed(&space), Some(all.clone()));
    // Removed and written again: the old name is dead until the log compacts.
    space.remove("n006", false).unwrap();
    put(&mut space, "n006", 9, 80);
    assert_eq!(listed(&space), None);
    assert!(space.make_room(0, 0).is_err());
    assert_eq!(listed(&space), Some(all));
    let expiring = Entry {
        sealed: alloc::vec![1; 40].into(),
        expires_at: Some(7),
    };
    space.insert("n007", &expiring, false).unwrap();
    assert_eq!(listed(&space), None, "an expiry: each value must be read");
}

/// The names-alone listing checks a chunk of names as UTF-8 once when every length is one
/// byte, and name by name when one is not (a name of 128 bytes or more): both list every
/// name whole, multi-byte characters included.
#[test]
fn names_alone_list_whole_with_short_and_long_names() {
    let short = |i: u8| format!("é{i:03}✓");
    let listed = |space: &Space| {
        let mut names: Vec<String> = space.live_names().unwrap().map(String::from).collect();
        names.sort();
        names
    };
    let mut space = puts(0..100, short, 40);
    let mut want: Vec<String> = (0..100).map(short).collect();
    want.sort();
    assert_eq!(listed(&space), want);
    // A long name: its length takes two bytes (the second below 0x80, the first not), so
    // the chunk is no longer UTF-8 as a whole.
    let long = "ü".repeat(100);
    put(&mut space, &long, 7, 40);
    want.push(long);
    want.sort();
    assert_eq!(listed(&space), want);
}
