//! Credential sources (`CredentialSources`): environment variables (kept or removed),
//! key and password files (raw, hex, base64; refused when group or others may read them),
//! systemd credentials. Each credential read must open the store made with the same
//! secret given directly, and no other.

use std::path::Path;
#[cfg(not(windows))]
use std::process::Command;

#[cfg(windows)]
#[path = "support/rerun.rs"]
mod rerun;

use microkv::{Config, Credential, CredentialSources, Error, KdfParams, MemoryStorage, MicroKV};

const KEY: [u8; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31,
];
const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn quick() -> Config {
    Config {
        kdf: KdfParams::scrypt(4, 8, 1),
        ..Default::default()
    }
}

/// A store made with `made`, saved; `Ok` if `opener` opens it (and reads its value).
fn opens(made: Credential, opener: Credential) -> microkv::Result<()> {
    let storage = MemoryStorage::default();
    let db = MicroKV::with_storage(storage.clone(), made, quick())?;
    db.put("k", "v")?;
    db.save()?;
    drop(db);
    let db = MicroKV::with_storage(storage, opener, quick())?;
    assert_eq!(db.require::<String>("k")?, "v");
    Ok(())
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(not(unix))]
fn chmod(_path: &Path, _mode: u32) {}

fn private_file(dir: &Path, name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    chmod(&path, 0o600);
    path
}

/// What a child process started now sees of `var` (`<unset>` if nothing).
#[cfg(not(windows))]
fn child_sees(var: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s \"${{{var}-<unset>}}\""))
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// What a child process started now sees of `var` (`<unset>` if nothing): on Windows
/// the child is this test binary, running [`print_env_child`].
#[cfg(windows)]
fn child_sees(var: &str) -> String {
    let out = rerun::self_command("print_env_child")
        .env("MICROKV_PRINT_ENV", var)
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    let line = out.lines().find_map(|l| l.strip_prefix("SEEN "));
    line.expect("the child printed nothing").to_owned()
}

/// The child's side of the Windows [`child_sees`]: prints the variable it is told to.
#[cfg(windows)]
#[test]
fn print_env_child() {
    if let Ok(var) = std::env::var("MICROKV_PRINT_ENV") {
        let seen = std::env::var(&var).unwrap_or_else(|_| "<unset>".into());
        println!("SEEN {seen}");
    }
}

#[test]
fn an_environment_variable_is_a_password_and_is_removed_on_request() {
    std::env::set_var("MICROKV_TEST_KEEP", "p@ss-keep");
    let kept = Credential::from_env("MICROKV_TEST_KEEP").unwrap();
    opens(Credential::password("p@ss-keep"), kept).unwrap();
    // The control: `from_env` leaves it, and a child process inherits it.
    assert_eq!(child_sees("MICROKV_TEST_KEEP"), "p@ss-keep");

    std::env::set_var("MICROKV_TEST_TAKE", "p@ss-take");
    assert_eq!(child_sees("MICROKV_TEST_TAKE"), "p@ss-take");
    let taken = Credential::take_env("MICROKV_TEST_TAKE").unwrap();
    assert!(std::env::var_os("MICROKV_TEST_TAKE").is_none());
    assert_eq!(child_sees("MICROKV_TEST_TAKE"), "<unset>");
    opens(Credential::password("p@ss-take"), taken).unwrap();

    // Gone now: a second read finds nothing, with a typed error naming the variable.
    let again = Credential::take_env("MICROKV_TEST_TAKE").unwrap_err();
    assert!(matches!(again, Error::NoCredential(_)), "{again:?}");
    assert!(again.to_string().contains("MICROKV_TEST_TAKE"));

    // A different password from the environment does not open the store.
    std::env::set_var("MICROKV_TEST_WRONG", "not-it");
    let wrong = Credential::from_env("MICROKV_TEST_WRONG").unwrap();
    let refused = opens(Credential::password("p@ss-keep"), wrong).unwrap_err();
    assert!(matches!(refused, Error::WrongPassword), "{refused:?}");
}

#[test]
fn key_files_raw_hex_and_base64_open_the_store_of_the_raw_key() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        private_file(dir.path(), "raw", &KEY),
        private_file(dir.path(), "hex", format!("{HEX}\n").as_bytes()),
        private_file(dir.path(), "b64", format!("{B64}\n").as_bytes()),
    ];
    for file in &files {
        let read = Credential::key_file(file).unwrap();
        opens(Credential::key(KEY), read).unwrap();
    }
    let other = private_file(dir.path(), "other", &[9; 32]);
    let refused = opens(Credential::key(KEY), Credential::key_file(&other).unwrap());
    assert!(matches!(refused, Err(Error::WrongPassword)), "{refused:?}");

    // Not a key: a typed error, quoting nothing of the file.
    let text = private_file(dir.path(), "pw", b"correct horse battery staple\n");
    let bad = Credential::key_file(&text).unwrap_err();
    assert!(matches!(bad, Error::InvalidKey(_)), "{bad:?}");
    assert!(!bad.to_string().contains("horse"));
    // Longer than any key file: refused, not read whole.
    let big = private_file(dir.path(), "big", &vec![b'a'; 5000]);
    assert!(matches!(
        Credential::key_file(&big),
        Err(Error::InvalidKey(_))
    ));
    let missing = Credential::key_file(dir.path().join("missing")).unwrap_err();
    assert!(
        matches!(&missing, Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound),
        "{missing:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_key_file_others_may_read_is_refused_as_ssh_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = private_file(dir.path(), "store.key", HEX.as_bytes());
    for mode in [0o644, 0o640, 0o604, 0o660, 0o602, 0o1644] {
        chmod(&path, mode);
        let refused = Credential::key_file(&path).unwrap_err();
        assert!(
            matches!(refused, Error::InsecureKeyFile { mode: m } if m == mode),
            "{mode:o}: {refused:?}"
        );
        assert!(refused.to_string().contains("chmod 600"));
        let refused = Credential::password_file(&path).unwrap_err();
        assert!(matches!(refused, Error::InsecureKeyFile { .. }));
    }
    // The control: the same file, owner-only, is read.
    for mode in [0o600, 0o400, 0o700] {
        chmod(&path, mode);
        let read = Credential::key_file(&path).unwrap();
        opens(Credential::key(KEY), read).unwrap();
    }
}

#[test]
fn a_password_file_loses_one_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    for (contents, password) in [
        (&b"p@ssw0rd\n"[..], "p@ssw0rd"),
        (b"p@ssw0rd\r\n", "p@ssw0rd"),
        (b"p@ssw0rd", "p@ssw0rd"),
        (b"p@ssw0rd \n\n", "p@ssw0rd \n"),
    ] {
        let path = private_file(dir.path(), "pw", contents);
        let read = Credential::password_file(&path).unwrap();
        opens(Credential::password(password), read).unwrap();
    }
}

#[test]
fn systemd_credentials_are_files_in_credentials_directory() {
    // The only test that touches CREDENTIALS_DIRECTORY.
    std::env::remove_var("CREDENTIALS_DIRECTORY");
    let unset = Credential::systemd("store-key").unwrap_err();
    assert!(matches!(unset, Error::NoCredential(_)), "{unset:?}");
    assert!(unset.to_string().contains("CREDENTIALS_DIRECTORY"));

    // As systemd lays it out: a directory of owner-only files (0400).
    let dir = tempfile::tempdir().unwrap();
    let key = private_file(dir.path(), "store-key", format!("{B64}\n").as_bytes());
    chmod(&key, 0o400);
    let pw = private_file(dir.path(), "store-password", b"p@ssw0rd\n");
    chmod(&pw, 0o400);
    std::env::set_var("CREDENTIALS_DIRECTORY", dir.path());
    opens(
        Credential::key(KEY),
        Credential::systemd("store-key").unwrap(),
    )
    .unwrap();
    opens(
        Credential::password("p@ssw0rd"),
        Credential::systemd_password("store-password").unwrap(),
    )
    .unwrap();
    let missing = Credential::systemd("absent").unwrap_err();
    assert!(matches!(missing, Error::Io(_)), "{missing:?}");
    // Only a name inside the directory: no path out of it.
    for name in ["../store-key", "a/b", "", ".", ".."] {
        let refused = Credential::systemd(name).unwrap_err();
        assert!(
            matches!(refused, Error::NoCredential(_)),
            "{name}: {refused:?}"
        );
    }
    std::env::remove_var("CREDENTIALS_DIRECTORY");
}
