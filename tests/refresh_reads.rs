//! Every read of a shared store catches up when `Config::refresh` says so, the expiry and
//! raw-bytes reads included: a second handle's write is seen by `expires_at`, `ttl`,
//! `get_encoded` and `for_each_encoded` of a handle with `Refresh::OnEveryRead`. The control
//! is the same reader with `Refresh::Never`, which does not see it.
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use microkv::{AutoSave, Config, Credential, Error, LockMode, ManualClock, MicroKV, Refresh};

fn open(path: &std::path::Path, clock: &ManualClock, refresh: Refresh) -> MicroKV {
    let config = Config {
        lock_mode: LockMode::Shared,
        autosave: AutoSave::OnEveryWrite,
        refresh,
        clock: Some(Arc::new(clock.clone())),
        ..Default::default()
    };
    MicroKV::open_with(path, Credential::key([9; 32]), config).unwrap()
}

/// What `reader` sees of the entry "otp" that `writer` put after `reader` opened.
fn seen(refresh: Refresh) -> (Result<Option<Duration>, Error>, Option<Vec<u8>>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.kv");
    let clock = ManualClock::new(Duration::from_secs(1_000));
    let writer = open(&path, &clock, Refresh::Never);
    writer.put("first", &1u8).unwrap();
    let reader = open(&path, &clock, refresh);
    writer
        .put_with_ttl("otp", "123456", Duration::from_secs(60))
        .unwrap();
    let expires = reader.expires_at("otp");
    assert_eq!(reader.ttl("otp").is_ok(), expires.is_ok());
    let raw = reader
        .get_encoded("otp")
        .unwrap()
        .map(|b| b.expose_secret().to_vec());
    let mut entries = 0;
    reader
        .for_each_encoded(|_, _| {
            entries += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    (expires, raw, entries)
}

#[test]
fn expiry_and_raw_reads_catch_up_with_another_handles_write() {
    let (expires, raw, entries) = seen(Refresh::OnEveryRead);
    assert_eq!(expires.unwrap(), Some(Duration::from_secs(1_060)));
    // MessagePack's "123456": a fixstr of 6 bytes.
    assert_eq!(raw.as_deref(), Some(&b"\xa6123456"[..]));
    assert_eq!(entries, 2);
}

#[test]
fn control_a_reader_that_never_refreshes_does_not_see_it() {
    let (expires, raw, entries) = seen(Refresh::Never);
    assert!(matches!(expires, Err(Error::KeyNotFound)), "{expires:?}");
    assert_eq!(raw, None);
    assert_eq!(entries, 1);
}
