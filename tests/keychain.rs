//! `Keychain` (the `keyring` feature): a store's random raw key in a keychain. Against
//! `keyring-core`'s mock store: first run and later runs, refusals (a second key, a file
//! with no key, an entry of another length, a failing keychain). Against a real Secret
//! Service: GNOME Keyring in a D-Bus session of its own (`dbus-run-session`), unlocked
//! with a password on its standard input, with the store created by one process and
//! opened by the next with no typing.
#![cfg(feature = "keyring")]

use std::sync::Arc;

use microkv::keyring_core::{self, mock, CredentialStore};
use microkv::{Error, Keychain, MicroKV};

fn mock_store() -> Arc<CredentialStore> {
    mock::Store::new().unwrap()
}

#[test]
fn the_first_run_makes_a_key_and_later_runs_open_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cli.kv");
    let store = mock_store();
    let keychain = Keychain::in_store(&store, "microkv-test", "cli").unwrap();
    let db = keychain.open_or_create(&path).unwrap();
    db.put("token", "s3cr3t").unwrap();
    db.save().unwrap();
    drop(db);
    // The key is in the keychain: 32 bytes, and another handle on the entry opens it.
    let again = Keychain::in_store(&store, "microkv-test", "cli").unwrap();
    let db = again.open_or_create(&path).unwrap();
    assert_eq!(db.require::<String>("token").unwrap(), "s3cr3t");
    drop(db);
    let db = MicroKV::open_existing(&path, again.credential().unwrap()).unwrap();
    drop(db);

    // Another entry's key is another key: refused.
    let other = Keychain::in_store(&store, "microkv-test", "other").unwrap();
    let refused = MicroKV::open_existing(&path, other.create_key().unwrap());
    assert!(matches!(refused, Err(Error::WrongPassword)), "{refused:?}");
}

#[test]
fn refusals_are_typed_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = mock_store();
    let keychain = Keychain::in_store(&store, "microkv-test", "refusals").unwrap();
    let missing = keychain.credential().unwrap_err();
    assert!(matches!(&missing, Error::NoCredential(s) if s.contains("microkv-test/refusals")));

    // A key already there is never replaced.
    keychain.create_key().unwrap();
    assert!(matches!(keychain.create_key(), Err(Error::AlreadyExists)));

    // A store file with no key in the keychain: no new key, the file untouched.
    let path = dir.path().join("orphan.kv");
    std::fs::write(&path, b"not opened").unwrap();
    let orphan = Keychain::in_store(&store, "microkv-test", "orphan").unwrap();
    let refused = orphan.open_or_create(&path).unwrap_err();
    assert!(matches!(refused, Error::NoCredential(_)), "{refused:?}");
    assert!(matches!(orphan.credential(), Err(Error::NoCredential(_))));
    assert_eq!(std::fs::read(&path).unwrap(), b"not opened");

    // An entry something else wrote, of another length.
    let foreign = Keychain::in_store(&store, "microkv-test", "foreign").unwrap();
    let entry = keyring_core::Entry::new_in_store(&store, "microkv-test", "foreign").unwrap();
    entry.set_secret(&[1; 16]).unwrap();
    assert!(matches!(foreign.credential(), Err(Error::InvalidKey(_))));

    // A failing keychain (the next call on the entry fails): its error is the source.
    let failing = Keychain::in_store(&store, "microkv-test", "failing").unwrap();
    let e2 = keyring_core::Entry::new_in_store(&store, "microkv-test", "failing").unwrap();
    e2.set_secret(&[2; 32]).unwrap();
    let cred: &mock::Cred = e2.as_any().downcast_ref().unwrap();
    cred.set_error(keyring_core::Error::Invalid("mock".into(), "locked".into()));
    let error = failing.credential().unwrap_err();
    assert!(matches!(error, Error::Keychain(_)), "{error:?}");
    assert!(std::error::Error::source(&error).is_some());

    // Deleting the entry: gone, and the next create makes a new key.
    keychain.delete().unwrap();
    assert!(matches!(keychain.credential(), Err(Error::NoCredential(_))));
    assert!(matches!(keychain.delete(), Err(Error::NoCredential(_))));
}

/// In the child, under a session bus with GNOME Keyring: what `MICROKV_KEYCHAIN_STEP` says.
#[test]
fn secret_service_step() {
    let Ok(step) = std::env::var("MICROKV_KEYCHAIN_STEP") else {
        return; // Only as the child of `a_real_secret_service_holds_the_key`.
    };
    let path = std::env::var("MICROKV_KEYCHAIN_PATH").unwrap();
    let keychain = Keychain::new("microkv-test", "secret-service").unwrap();
    match step.as_str() {
        "create" => {
            assert!(!std::path::Path::new(&path).exists());
            let db = keychain.open_or_create(&path).unwrap();
            db.put("token", "from-the-first-process").unwrap();
            db.save().unwrap();
        }
        "open" => {
            let db = keychain.open_or_create(&path).unwrap();
            assert_eq!(
                db.require::<String>("token").unwrap(),
                "from-the-first-process"
            );
            drop(db);
            keychain.delete().unwrap();
            // The control: with the key gone, the store no longer opens.
            let refused = keychain.open_or_create(&path).unwrap_err();
            assert!(matches!(refused, Error::NoCredential(_)), "{refused:?}");
        }
        other => panic!("unknown step {other}"),
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_real_secret_service_holds_the_key() {
    use std::process::Command;
    for tool in ["dbus-run-session", "gnome-keyring-daemon"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        assert!(
            found.status.success(),
            "{tool} is missing: apt-get install -y dbus-daemon gnome-keyring (.ci/run does)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&runtime).unwrap();
    let path = dir.path().join("cli.kv");
    let me = std::env::current_exe().unwrap();
    let step = |s: &str| {
        format!(
            "MICROKV_KEYCHAIN_STEP={s} '{}' secret_service_step --exact --quiet --test-threads=1",
            me.display()
        )
    };
    // A private session bus; the daemon creates the login keyring with this password
    // and unlocks it, then serves the Secret Service on that bus. Two processes follow:
    // one creates the store, the next opens it.
    let script = format!(
        "set -e; echo -n test-login-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null; {}; {}",
        step("create"),
        step("open")
    );
    let out = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("MICROKV_KEYCHAIN_PATH", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    // Both steps ran their test (and did not return early).
    assert_eq!(stdout.matches("1 passed").count(), 2, "{stdout}");
    // The key was in the keychain, not beside the store: the directory holds the store
    // and its lock only, and the keyring file under HOME.
    let keyrings = home.join("data/keyrings");
    assert!(keyrings.join("login.keyring").exists(), "{keyrings:?}");
}
