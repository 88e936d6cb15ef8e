//! Key names out of readable memory: a store opened from its file (FORMAT.md, version 2)
//! finds entries by a keyed hash of their names, and its names stay sealed until a call
//! lists them. So while the store is idle after opens, gets, puts and a save, no 16-byte
//! piece of any key name is anywhere in this process's memory outside the arena's locked,
//! undumpable pages (scanned as `tests/memory_exposure.rs` scans for values).
//!
//! Controls: the scanner finds a name the test holds; and once the test lists the names
//! (`keys`, which hands them to the caller as ordinary strings) it finds them too.
#![cfg(target_os = "linux")]

#[path = "support/self_scan.rs"]
mod self_scan;
use self_scan::Scanner;

use microkv::{AutoSave, Config, Credential, MemoryStorage, MicroKV};
use zeroize::{Zeroize, Zeroizing};

const NAMES: usize = 24;

/// Name `i` of the test: 40 characters drawn from `seed`, made afresh for each call so
/// that the test keeps no copy of it between calls.
fn name(seed: &[u8; 32], i: usize) -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state = u64::from_le_bytes(seed[..8].try_into().unwrap()) ^ (i as u64 + 1) << 32;
    let mut out = Zeroizing::new(String::with_capacity(40));
    for k in 0..40 {
        // xorshift64*, mixed with the seed's bytes.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let b = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8 ^ seed[k % 32];
        out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
    }
    out
}

fn config() -> Config {
    Config {
        autosave: AutoSave::Manual,
        ..Default::default()
    }
}

#[inline(never)]
fn fill(storage: &MemoryStorage, key: [u8; 32], seed: &[u8; 32]) {
    let db = MicroKV::with_storage(storage.clone(), Credential::key(key), config()).unwrap();
    for i in 0..NAMES / 2 {
        db.put(&name(seed, i), &(i as u32)).unwrap();
    }
    db.save().unwrap();
}

#[inline(never)]
fn use_it(db: &MicroKV, seed: &[u8; 32]) {
    for i in 0..NAMES / 2 {
        assert_eq!(db.get::<u32>(&name(seed, i)).unwrap(), Some(i as u32));
    }
    for i in NAMES / 2..NAMES {
        db.put(&name(seed, i), &(i as u32)).unwrap();
    }
    db.remove(&name(seed, 0)).unwrap();
    db.save().unwrap();
    for i in 1..NAMES {
        assert_eq!(db.get::<u32>(&name(seed, i)).unwrap(), Some(i as u32));
    }
}

#[test]
fn key_names_stay_out_of_readable_memory_while_a_store_is_idle() {
    let mut scanner = Scanner::new(NAMES + 1);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    for i in 0..NAMES {
        scanner.register(i, name(&seed, i).as_bytes());
    }
    // Control: a name the test holds is found.
    let held = name(&seed, 3);
    assert!(
        scanner.scan()[3].exposed >= 1,
        "the scanner misses a live name"
    );
    drop(held);

    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    let storage = MemoryStorage::default();
    fill(&storage, key, &seed);
    let db = MicroKV::with_storage(storage.clone(), Credential::key(key), config()).unwrap();
    key.zeroize();
    use_it(&db, &seed);

    let counts = scanner.scan();
    let exposed: Vec<(usize, usize)> = (counts.iter().enumerate())
        .filter(|(_, c)| c.exposed > 0)
        .map(|(i, c)| (i, c.exposed))
        .collect();
    let in_arena: usize = counts.iter().map(|c| c.locked).sum();
    let dead: usize = counts.iter().map(|c| c.dead_stack).sum();
    eprintln!(
        "idle: names exposed {exposed:?}; pieces in the arena {in_arena}, in dead stack {dead}"
    );
    assert!(
        exposed.is_empty(),
        "key names in readable memory: {exposed:?}"
    );

    // Control: listed, the names are the caller's strings, and the scanner sees them.
    let mut keys = db.keys().unwrap();
    assert_eq!(keys.len(), NAMES - 1);
    assert!(scanner
        .scan()
        .iter()
        .take(NAMES)
        .skip(1)
        .all(|c| c.exposed >= 1));
    keys.iter_mut().for_each(Zeroize::zeroize);
    drop(keys);
}
