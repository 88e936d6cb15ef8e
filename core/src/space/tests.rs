use alloc::sync::Arc;
use alloc::vec::Vec;

use super::record::{parse, record};
use super::Space;
use crate::entry::Entry;

fn entry(fill: u8, len: usize, expires_at: Option<u64>) -> Entry {
    Entry {
        sealed: alloc::vec![fill; len].into(),
        expires_at,
    }
}

/// A segment of `n` records `k<i>` (sealed bytes `i` repeated 50 times), after a 7-byte
/// head, as a body holds them; and each record's start and end.
fn segment(n: u8) -> (super::Segment, Vec<(usize, usize)>) {
    let mut bytes = alloc::vec![0xee; 7];
    let mut at = Vec::new();
    for i in 0..n {
        let start = bytes.len();
        let expiry = (i % 2 == 0).then_some(1_000 + u64::from(i) * 300);
        bytes.extend_from_slice(&record(&alloc::format!("k{i}"), &entry(i, 50, expiry)));
        at.push((start, bytes.len()));
    }
    (Arc::new(zeroize::Zeroizing::new(bytes)), at)
}

/// Every entry's key and first sealed byte, sorted.
fn first_bytes(space: &Space) -> Vec<(alloc::string::String, u8)> {
    let mut seen: Vec<(alloc::string::String, u8)> = space
        .iter()
        .unwrap()
        .map(|s| (s.key.into(), s.sealed[0]))
        .collect();
    seen.sort();
    seen
}

/// [`filled`]`(40)`, then `n` records `log<i>` written since (sealed bytes `i` 20 times).
fn with_log(n: u8) -> Space {
    let mut space = filled(40);
    for i in 0..n {
        space
            .insert(&alloc::format!("log{i}"), &entry(i, 20, None), false)
            .unwrap();
    }
    space
}

fn filled(n: u8) -> Space {
    let (seg, at) = segment(n);
    let mut space = Space::in_segment(seg.clone(), at.len());
    for (start, end) in at {
        let Some((stored, e)) = parse(&seg, start) else {
            panic!("a record")
        };
        assert_eq!(e, end);
        assert!(space.insert_at(start, end, stored));
    }
    space
}

fn seg_slots(space: &Space) -> usize {
    space.in_segment_count()
}

#[test]
fn records_round_trip_with_and_without_an_expiry() {
    for expiry in [None, Some(0), Some(127), Some(128), Some(u64::MAX)] {
        let rec = record("name", &entry(7, 300, expiry));
        let Some((stored, end)) = parse(&rec, 0) else {
            panic!("a record")
        };
        assert_eq!(end, rec.len());
        assert_eq!((stored.key, stored.expires_at), ("name", expiry));
        assert_eq!(stored.sealed, &[7; 300][..]);
    }
    // A cut record or a bad option tag is no record.
    let rec = record("name", &entry(7, 30, Some(5)));
    assert!(parse(&rec[..rec.len() - 1], 0).is_none());
    let mut bad = rec.to_vec();
    bad[5] = 2;
    assert!(parse(&bad, 0).is_none());
}

#[test]
fn a_space_in_a_segment_finds_replaces_and_removes() {
    let mut space = filled(40);
    assert_eq!((space.len(), seg_slots(&space)), (40, 40));
    let Some(k3) = space.get("k3").unwrap() else {
        panic!("k3")
    };
    assert_eq!((k3.sealed, k3.expires_at), (&[3; 50][..], None));
    assert_eq!(
        space.get("k4").unwrap().map(|s| s.expires_at),
        Some(Some(2_200))
    );
    assert!(space.get("k40").unwrap().is_none());
    // A duplicate key is refused, the first kept.
    let (seg, at) = segment(1);
    let Some((stored, _)) = parse(&seg, at[0].0) else {
        panic!("a record")
    };
    assert!(!space.insert_at(at[0].0, at[0].1, stored));
    // Replacing gives back the old entry when asked.
    let old = space.insert("k3", &entry(9, 20, Some(1)), true).unwrap();
    assert_eq!(old.map(|e| e.sealed.to_vec()), Some(alloc::vec![3; 50]));
    assert_eq!(
        space
            .get("k3")
            .unwrap()
            .map(|s| (s.sealed.len(), s.expires_at)),
        Some((20, Some(1)))
    );
    assert!(space
        .insert("new", &entry(1, 24, None), true)
        .unwrap()
        .is_none());
    assert_eq!(
        space.remove("k5", true).unwrap().map(|e| e.sealed[0]),
        Some(5)
    );
    assert!(space.remove("k5", true).unwrap().is_none());
    assert_eq!(space.len(), 40);
}

#[test]
fn a_space_compacts_once_half_its_segment_is_dead() {
    let mut space = filled(40);
    let before = space.seg.clone();
    for i in 0..20u8 {
        space.remove(&alloc::format!("k{i}"), false).unwrap();
        // Still the shared segment until more than half is dead.
        assert!(Arc::ptr_eq(
            space.seg.as_ref().unwrap(),
            before.as_ref().unwrap()
        ));
    }
    space.retain(|s| s.key != "k20");
    // Compacted: a segment of its own, holding just the 19 records left.
    let seg = space.seg.clone().unwrap();
    assert!(!Arc::ptr_eq(&seg, before.as_ref().unwrap()));
    assert_eq!(space.seg_live, seg.len());
    assert_eq!(seg_slots(&space), 19);
    for i in 21..40u8 {
        let key = alloc::format!("k{i}");
        let s = space.get(&key).unwrap().unwrap();
        assert_eq!(s.sealed, &[i; 50][..]);
    }
    // Overwriting everything left lets the segment go.
    for i in 21..40u8 {
        space
            .insert(&alloc::format!("k{i}"), &entry(i, 10, None), false)
            .unwrap();
    }
    assert!(space.seg.is_none());
    assert_eq!(space.get("k39").unwrap().map(|s| s.sealed.len()), Some(10));
}

#[test]
fn a_record_not_where_the_parse_says_is_copied() {
    let (seg, at) = segment(2);
    let mut space = Space::in_segment(seg.clone(), 2);
    let Some((stored, _)) = parse(&seg, at[1].0) else {
        panic!("a record")
    };
    // Claimed at the first record's place: kept as a copy, not as a pointer there.
    assert!(space.insert_at(at[0].0, at[0].1, stored));
    assert_eq!(seg_slots(&space), 0);
    assert_eq!(space.get("k1").unwrap().map(|s| s.sealed[0]), Some(1));
    assert!(space.get("k0").unwrap().is_none());
}

#[test]
fn records_written_since_follow_removals_and_retains() {
    // Half in the segment, half written since; then removals and a retain of both kinds.
    let mut space = filled(40);
    for i in 0..40u8 {
        let key = alloc::format!("w{i}");
        space
            .insert(&key, &entry(100 + i, 30, Some(u64::from(i))), false)
            .unwrap();
    }
    for i in (0..40u8).step_by(3) {
        assert_eq!(
            space
                .remove(&alloc::format!("w{i}"), true)
                .unwrap()
                .map(|e| e.sealed[0]),
            Some(100 + i)
        );
    }
    space.retain(|s| !s.key.ends_with('7'));
    for i in 0..40u8 {
        let (k, w) = (alloc::format!("k{i}"), alloc::format!("w{i}"));
        let gone_w = i % 3 == 0 || i % 10 == 7;
        assert_eq!(
            space.get(&w).unwrap().map(|s| s.sealed[0]),
            (!gone_w).then_some(100 + i),
            "{w}"
        );
        let gone_k = i % 10 == 7;
        assert_eq!(
            space.get(&k).unwrap().map(|s| s.sealed[0]),
            (!gone_k).then_some(i),
            "{k}"
        );
    }
    let left = space.len();
    assert_eq!(left, space.iter().unwrap().count());
    // The log holds every record written since that is live, and at most as many dead
    // bytes as live ones.
    let own = space
        .iter()
        .unwrap()
        .filter(|s| s.key.starts_with('w'))
        .count();
    assert_eq!(left - space.in_segment_count(), own);
    let own = &space.own;
    assert!(own.names.dead * 2 <= own.names.len() && own.values.dead * 2 <= own.values.len());
}

#[test]
fn a_log_rewritten_over_and_over_stays_within_twice_its_live_bytes() {
    let mut space = Space::default();
    for round in 0..50u8 {
        for i in 0..10u8 {
            space
                .insert(&alloc::format!("w{i}"), &entry(round, 40, None), false)
                .unwrap();
        }
        let live: usize = space
            .iter()
            .unwrap()
            .map(|s| s.sealed.len() + s.key.len() + 3)
            .sum();
        let held = space.own.names.len() + space.own.values.len();
        assert!(held <= 2 * live + 64, "round {round}: {held}");
        assert_eq!(space.get("w3").unwrap().map(|s| s.sealed[0]), Some(round));
    }
    assert_eq!(space.len(), 10);
}

/// A keyed walk yields exactly the entries whose key bytes pass, from the segment and the
/// log alike, over more entries than one batch holds (and none from an empty space).
#[test]
fn a_keyed_walk_yields_the_chosen_keys_of_both_kinds_of_record() {
    let space = with_log(40);
    // k1, k10..k19 of the segment; log1, log10..log19 of the log.
    let picked = |prefix: &'static [u8]| {
        let mut keys: Vec<alloc::string::String> = space
            .iter_keyed(|k: &[u8]| k.starts_with(prefix))
            .unwrap()
            .map(|s| s.key.into())
            .collect();
        keys.sort();
        keys
    };
    let k1 = picked(b"k1");
    assert_eq!(k1.len(), 11, "{k1:?}");
    assert!(k1.iter().all(|k| k.starts_with("k1")));
    assert_eq!(picked(b"log1").len(), 11);
    assert_eq!(picked(b"").len(), 80);
    assert_eq!(space.iter().unwrap().count(), 80);
    assert!(picked(b"zz").is_empty());
    assert_eq!(
        Space::with_capacity(0)
            .iter_keyed(|_: &[u8]| true)
            .unwrap()
            .count(),
        0
    );
    // Each record yielded whole: the sealed bytes are those of its key.
    let s = space
        .iter_keyed(|k: &[u8]| k == b"k23")
        .unwrap()
        .next()
        .map(|s| s.sealed.to_vec());
    assert_eq!(s, Some(alloc::vec![23; 50]));
}

/// The walk in the records' order yields each live entry once, with its latest value:
/// the records an overwrite or a removal left dead in the segment and in the log are
/// passed over (none of them compacted away yet), and so are records another space holds
/// between this one's. Bytes that are no record between them send the scan through the
/// slots (the last case fails if the walk is taken regardless).
#[test]
fn a_walk_in_record_order_passes_over_dead_records() {
    let mut space = with_log(10);
    // Dead in the segment: k0..k4 overwritten, k5..k7 removed; in the log: log0 and
    // log1 overwritten, log2 removed. Fewer than half of either, so nothing compacts.
    for i in 0..5u8 {
        space
            .insert(&alloc::format!("k{i}"), &entry(100 + i, 50, None), false)
            .unwrap();
    }
    for i in 5..8u8 {
        assert!(space
            .remove(&alloc::format!("k{i}"), false)
            .unwrap()
            .is_none());
    }
    space.insert("log0", &entry(200, 20, None), false).unwrap();
    space.insert("log1", &entry(201, 20, None), false).unwrap();
    space.remove("log2", false).unwrap();
    assert_eq!(seg_slots(&space), 32);
    let seen = first_bytes(&space);
    let mut want: Vec<(alloc::string::String, u8)> = Vec::new();
    for i in 0..40u8 {
        match i {
            0..=4 => want.push((alloc::format!("k{i}"), 100 + i)),
            5..=7 => {}
            _ => want.push((alloc::format!("k{i}"), i)),
        }
    }
    for i in 0..10u8 {
        match i {
            0 | 1 => want.push((alloc::format!("log{i}"), 200 + i)),
            2 => {}
            _ => want.push((alloc::format!("log{i}"), i)),
        }
    }
    want.sort();
    assert_eq!(seen, want);
    assert_eq!(space.len(), want.len());

    // Every other record of a segment: the rest are another space's, which a walk passes
    // over as dead records.
    let (seg, at) = segment(20);
    let mut half = Space::in_segment(seg.clone(), 10);
    for &(start, end) in at.iter().step_by(2) {
        let Some((stored, _)) = parse(&seg, start) else {
            panic!("a record")
        };
        assert!(half.insert_at(start, end, stored));
    }
    let keys = |space: &Space| {
        let mut keys: Vec<alloc::string::String> =
            space.iter().unwrap().map(|s| s.key.into()).collect();
        keys.sort();
        keys
    };
    let mut want: Vec<alloc::string::String> =
        (0..20).step_by(2).map(|i| alloc::format!("k{i}")).collect();
    want.sort();
    assert_eq!(keys(&half), want);

    // Records with bytes that are no record between them: read through the slots (a walk
    // would lose its way at the first such byte).
    let mut bytes = Vec::new();
    let mut at = Vec::new();
    for i in 0..10u8 {
        let start = bytes.len();
        bytes.extend_from_slice(&record(&alloc::format!("g{i}"), &entry(i, 30, None)));
        at.push((start, bytes.len()));
        bytes.extend_from_slice(&[0xff; 3]);
    }
    let seg = Arc::new(zeroize::Zeroizing::new(bytes));
    let mut gapped = Space::in_segment(seg.clone(), 10);
    for (start, end) in at {
        let Some((stored, _)) = parse(&seg, start) else {
            panic!("a record")
        };
        assert!(gapped.insert_at(start, end, stored));
    }
    let want: Vec<alloc::string::String> = (0..10).map(|i| alloc::format!("g{i}")).collect();
    assert_eq!(keys(&gapped), want);
}

/// Records of over `WALK_MAX` bytes are read through the slots: the same entries, each
/// with its latest value, overwritten ones' records left in the log.
#[test]
fn a_scan_of_large_records_reads_the_slots() {
    let mut space = Space::with_capacity(0);
    for round in 0..2u8 {
        for i in 0..30u8 {
            space
                .insert(
                    &alloc::format!("big{i}"),
                    &entry(i + round, 700, None),
                    false,
                )
                .unwrap();
        }
    }
    let seen = first_bytes(&space);
    let mut want: Vec<(alloc::string::String, u8)> = (0..30u8)
        .map(|i| (alloc::format!("big{i}"), i + 1))
        .collect();
    want.sort();
    assert_eq!(seen, want);
    assert_eq!(
        space
            .iter_keyed(|k: &[u8]| k.starts_with(b"big1"))
            .unwrap()
            .count(),
        11
    );
}
