//! The `tracing` events: a scripted run through every situation that has one, with a
//! subscriber of this test's own capturing every event of every thread. The events that
//! should appear do, and none of them holds a key name, a value or a credential of the
//! run (the check is shown to catch one, on an event made to hold a secret).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use microkv::{
    AutoSave, Config, Credential, Error, HeapPages, KdfParams, LockMode, MemoryPolicy, MicroKV,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every event seen, as one line of text: target, level, then each field.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut line = format!("{} {}", meta.target(), meta.level());
        event.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Capture {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// The process-wide capture (the periodic saver's events come from its own thread).
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        tracing::subscriber::set_global_default(capture.clone()).unwrap();
        capture
    })
}

const PASSWORD: &str = "pw-Correct-Horse-7781";
const NEW_PASSWORD: &str = "pw-Battery-Staple-9923";
const KEY_NAME: &str = "acct-zq81-token";
const NAMESPACE: &str = "ns-vault-47";
const VALUE: &str = "val-sk_live_4eC39HqLyjWDarjtT1zdp7dc";
const RAW_KEY: [u8; 32] = [0xA7; 32];

/// The secrets of the run, as text an event might hold them in.
fn secrets() -> Vec<String> {
    let hex: String = RAW_KEY.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        PASSWORD.into(),
        NEW_PASSWORD.into(),
        KEY_NAME.into(),
        NAMESPACE.into(),
        VALUE.into(),
        hex,
        format!("{:?}", RAW_KEY),
        // A part of a secret counts too.
        VALUE[4..16].into(),
    ]
}

/// The lines holding any secret.
fn leaks(lines: &[String]) -> Vec<String> {
    let secrets = secrets();
    lines
        .iter()
        .filter(|line| secrets.iter().any(|s| line.contains(s.as_str())))
        .cloned()
        .collect()
}

fn fast() -> KdfParams {
    KdfParams::argon2id(64, 1, 1)
}

fn config(autosave: AutoSave) -> Config {
    Config {
        autosave,
        kdf: fast(),
        ..Default::default()
    }
}

fn write_secrets(db: &MicroKV) {
    db.put(KEY_NAME, VALUE).unwrap();
    db.namespace(NAMESPACE).put(KEY_NAME, VALUE).unwrap();
}

/// Runs every situation that has an event.
fn scenario(dir: &std::path::Path) {
    // A password store (a KDF run), saved by its periodic thread.
    let path = dir.join("periodic.kv");
    // Its owner (LockMode::Exclusive), so that a second opener is refused below.
    let db = MicroKV::open_with(
        &path,
        Credential::password(PASSWORD),
        Config {
            lock_mode: LockMode::Exclusive,
            ..config(AutoSave::Periodic(Duration::from_millis(100)))
        },
    )
    .unwrap();
    write_secrets(&db);
    std::thread::sleep(Duration::from_millis(400));
    db.change_password(PASSWORD, NEW_PASSWORD).unwrap();
    assert!(matches!(
        db.change_password(PASSWORD, NEW_PASSWORD),
        Err(Error::WrongPassword)
    ));

    // A second writer of the same file: refused.
    let locked = MicroKV::open_with(
        &path,
        Credential::password(NEW_PASSWORD),
        config(AutoSave::Manual),
    );
    assert!(matches!(locked, Err(Error::Locked)));
    drop(db);

    // Heap pages: neither secret, nor locked, nor guarded. BestEffort takes them, Strict
    // refuses them.
    let heap = |memory| Config {
        pages: Some(Arc::new(HeapPages)),
        memory,
        ..Default::default()
    };
    let weak =
        MicroKV::in_memory_with(Credential::key(RAW_KEY), heap(MemoryPolicy::BestEffort)).unwrap();
    write_secrets(&weak);
    assert!(weak.memory_report().warning().unwrap().contains("swap"));
    let strict = MicroKV::in_memory_with(Credential::key(RAW_KEY), heap(MemoryPolicy::Strict));
    assert!(matches!(strict, Err(Error::SecureAlloc)));

    // A write that waits for another thread's transaction, and one refused from inside it.
    let db = MicroKV::in_memory(Credential::key(RAW_KEY)).unwrap();
    let (tx_started, started) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            db.transaction(|tx| {
                tx_started.send(()).unwrap();
                assert!(matches!(db.put(KEY_NAME, VALUE), Err(Error::Reentrant)));
                std::thread::sleep(Duration::from_millis(100));
                tx.put(NAMESPACE, KEY_NAME, VALUE)
            })
            .unwrap();
        });
        started.recv().unwrap();
        db.put(KEY_NAME, VALUE).unwrap();
    });

    // A failed OnDrop save: the store's directory is gone. (Windows refuses to remove a
    // directory while a file in it is open, the store's lock file: not there.)
    #[cfg(not(windows))]
    {
        let gone = dir.join("gone");
        std::fs::create_dir(&gone).unwrap();
        let db = MicroKV::open_with(
            gone.join("store.kv"),
            Credential::key(RAW_KEY),
            config(AutoSave::OnDrop),
        )
        .unwrap();
        write_secrets(&db);
        std::fs::remove_dir_all(&gone).unwrap();
        drop(db);
    }

    // A snapshot in place but not known to be durable: after the rename its journal
    // cannot be emptied (a directory stands at its path).
    let owner = Config {
        lock_mode: LockMode::Exclusive,
        ..config(AutoSave::Manual)
    };
    let db = MicroKV::open_with(dir.join("durable.kv"), Credential::key(RAW_KEY), owner).unwrap();
    write_secrets(&db);
    std::fs::create_dir(dir.join("durable.kv.journal")).unwrap();
    assert!(matches!(db.save(), Err(Error::NotDurable(_))));
    drop(db);

    // Two unlocked handles: one rotates the key, the other's save is refused.
    let path = dir.join("shared.kv");
    let unlocked = Config {
        lock_mode: LockMode::None,
        ..config(AutoSave::Manual)
    };
    let a = MicroKV::open_with(&path, Credential::key(RAW_KEY), unlocked.clone()).unwrap();
    let b = MicroKV::open_with(&path, Credential::key(RAW_KEY), unlocked).unwrap();
    a.rekey(Credential::password(NEW_PASSWORD)).unwrap();
    // The other's next write catches up first, and is refused.
    assert!(matches!(
        b.put(KEY_NAME, VALUE),
        Err(Error::CredentialChanged)
    ));
    assert!(matches!(b.save(), Err(Error::CredentialChanged)));

    // A journal long enough to be compacted.
    let db = MicroKV::open_with(
        dir.join("journal.kv"),
        Credential::key(RAW_KEY),
        config(AutoSave::OnEveryWrite),
    )
    .unwrap();
    let long = VALUE.repeat(40);
    for i in 0..64 {
        db.put(&format!("{KEY_NAME}-{i}"), &long).unwrap();
    }

    #[cfg(target_os = "linux")]
    microkv::harden_process().unwrap();
}

#[test]
fn events_name_what_happened_and_no_secret() {
    let capture = capture();
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path());
    let lines = capture.lines();
    let all = lines.join("\n");

    let expected = [
        "KDF run",
        "the arena is not in secret memory",
        "could not be locked in RAM: it can be swapped out",
        "lacks a protection",
        "the arena refused memory its policy does not allow",
        "open refused: another handle or process holds the store's lock",
        "waited for the store's writer lock",
        "(Reentrant)",
        #[cfg(not(windows))]
        "autosave=on drop",
        #[cfg(not(windows))]
        "an autosave failed",
        "not known to be durable (NotDurable)",
        "(CredentialChanged)",
        "journal compacted into a new snapshot",
        #[cfg(target_os = "linux")]
        "the process is non-dumpable",
    ];
    for what in expected {
        assert!(
            all.contains(what),
            "no event says {what:?}; the events:\n{all}"
        );
    }
    assert!(
        lines.iter().all(|l| l.starts_with("microkv ")),
        "every event's target is microkv:\n{all}"
    );
    let kdf_runs: Vec<&String> = lines.iter().filter(|l| l.contains("KDF run")).collect();
    assert!(
        kdf_runs.iter().all(|l| l.contains(" ms=")),
        "a KDF run says how long it took: {kdf_runs:?}"
    );

    assert_eq!(leaks(&lines), Vec::<String>::new(), "events hold a secret");

    // Control: the check catches a secret in an event, whole or in part.
    tracing::warn!(target: "microkv", key = KEY_NAME, "made to leak");
    tracing::warn!(target: "microkv", "value {}", &VALUE[2..20]);
    let after = capture.lines();
    assert_eq!(
        leaks(&after[lines.len()..]).len(),
        2,
        "the check misses a secret"
    );
}
