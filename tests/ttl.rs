//! TTLs on an injected clock: expired entries are absent everywhere, sweeping counts
//! them, expiry survives a save and reopen, and a clock stepping back resurrects nothing.
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use microkv::{Config, Credential, Error, ManualClock, MemoryStorage, MicroKV, Store};

fn config(clock: &ManualClock) -> Config {
    Config {
        clock: Some(Arc::new(clock.clone())),
        ..Default::default()
    }
}

#[test]
fn an_expired_entry_reads_as_absent_everywhere() {
    let clock = ManualClock::new(Duration::from_secs(10_000));
    let db = MicroKV::in_memory_with(Credential::key([1; 32]), config(&clock)).unwrap();
    let ns = db.namespace("s");
    ns.put_with_ttl("tmp:otp", &"123456".to_string(), Duration::from_secs(30))
        .unwrap();
    ns.put("tmp:keep", &"kept".to_string()).unwrap();
    clock.advance(Duration::from_secs(30));

    assert_eq!(ns.get::<String>("tmp:otp").unwrap(), None);
    assert!(matches!(
        ns.require::<String>("tmp:otp"),
        Err(Error::KeyNotFound)
    ));
    assert!(!ns.contains("tmp:otp").unwrap());
    assert_eq!(ns.len().unwrap(), 1);
    assert_eq!(ns.keys().unwrap(), vec!["tmp:keep".to_string()]);
    assert_eq!(
        ns.prefix::<String>("tmp:").unwrap(),
        vec![("tmp:keep".into(), "kept".into())]
    );
    let mut visited = Vec::new();
    ns.for_each::<String, _>(|k, _| {
        visited.push(k.to_string());
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(visited, vec!["tmp:keep".to_string()]);
    assert!(ns.get_secret_bytes("tmp:otp").unwrap().is_none());
    db.transaction(|tx| {
        assert_eq!(tx.get::<String>("s", "tmp:otp")?, None);
        assert!(!tx.contains("s", "tmp:otp"));
        Ok(())
    })
    .unwrap();
    assert!(!ns.remove("tmp:otp").unwrap());
    // update and compare_and_swap see it as absent too.
    assert!(ns
        .compare_and_swap::<String>("tmp:otp", None, Some(&"new".into()))
        .unwrap());
    assert_eq!(ns.get::<String>("tmp:otp").unwrap().as_deref(), Some("new"));
}

#[test]
fn sweep_counts_what_it_drops_and_update_keeps_the_ttl() {
    let clock = ManualClock::new(Duration::from_secs(1));
    let db = MicroKV::in_memory_with(Credential::key([1; 32]), config(&clock)).unwrap();
    for i in 0..5u32 {
        db.put_with_ttl(&format!("t{i}"), &i, Duration::from_secs(10 + u64::from(i)))
            .unwrap();
    }
    db.namespace("x")
        .put_with_ttl("t", &0u8, Duration::from_secs(1))
        .unwrap();
    db.put("forever", &0u8).unwrap();
    db.update::<u32, _>("t0", |v| v.map(|v| v + 100)).unwrap();
    clock.advance(Duration::from_secs(12)); // t0, t1, t2 and x/t are past due
    assert_eq!(db.sweep_expired().unwrap(), 4);
    assert_eq!(db.sweep_expired().unwrap(), 0);
    assert_eq!(db.keys_sorted().unwrap(), vec!["forever", "t3", "t4"]);
    assert_eq!(db.tree_names().unwrap(), vec![String::new()]);
}

#[test]
fn a_clock_stepping_back_resurrects_nothing() {
    let clock = ManualClock::new(Duration::from_secs(1_000));
    let db = MicroKV::in_memory_with(Credential::key([1; 32]), config(&clock)).unwrap();
    db.put_with_ttl("k", &1u8, Duration::from_secs(5)).unwrap();
    clock.advance(Duration::from_secs(6));
    assert!(!db.contains("k").unwrap());
    clock.set(Duration::from_secs(0));
    assert!(
        !db.contains("k").unwrap(),
        "expired entry came back when the clock stepped back"
    );
    // A TTL set while the clock is behind counts from the store's latest time.
    db.put_with_ttl("j", &1u8, Duration::from_secs(5)).unwrap();
    clock.set(Duration::from_secs(1_006 + 4));
    assert!(db.contains("j").unwrap());
    clock.set(Duration::from_secs(1_006 + 5));
    assert!(!db.contains("j").unwrap());
}

#[test]
fn expiry_survives_save_and_reopen() {
    let clock = ManualClock::new(Duration::from_secs(500));
    let storage = MemoryStorage::default();
    {
        let db = MicroKV::with_storage(storage.clone(), Credential::key([8; 32]), config(&clock))
            .unwrap();
        db.put_with_ttl("otp", &"1".to_string(), Duration::from_secs(60))
            .unwrap();
        db.put("plain", &"2".to_string()).unwrap();
        db.save().unwrap();
    }
    clock.advance(Duration::from_secs(59));
    let db =
        MicroKV::with_storage(storage.clone(), Credential::key([8; 32]), config(&clock)).unwrap();
    assert!(db.contains("otp").unwrap());
    clock.advance(Duration::from_secs(1));
    assert!(!db.contains("otp").unwrap());
    assert!(db.contains("plain").unwrap());
}

/// The core's own constructors (re-exported as `microkv::Store`) under `std` take the
/// system clock and OS pages when the config names none: no silent fallback to "no clock"
/// (TTL calls failing with `NoClock`) or to heap pages that a forked child can read.
#[test]
fn core_constructors_under_std_have_a_clock_and_os_pages() {
    let db = Store::in_memory(Credential::key([1; 32])).unwrap();
    db.put_with_ttl("k", &1u8, Duration::from_secs(60)).unwrap();
    assert_eq!(db.get::<u8>("k").unwrap(), Some(1));
    assert_eq!(db.sweep_expired().unwrap(), 0);
    let report = db.memory_report();
    assert!(report.guarded && report.hidden_from_fork, "{report:?}");
}
