//! Errors a person reads: a file error names the operation and the file, an error chain
//! (anyhow's `{:#}`) prints each part once, and a value read as the wrong type says in
//! plain words what was stored and what was asked for, with no Rust module paths.

use microkv::{Credential, Error, MicroKV};

#[path = "support/files.rs"]
mod files;
#[cfg(unix)]
use files::file_in_a_subdir;
use std::io;

const KEY: [u8; 32] = [0x61; 32];

/// What an error chain reporter prints: each `Display` in the chain, joined by ": ".
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out = format!("{out}: {cause}");
        next = cause.source();
    }
    out
}

#[cfg(unix)] // Windows refuses to remove a directory holding an open file (the lock file).
#[test]
fn a_failed_save_names_the_file_and_its_cause_once() {
    use microkv::{AutoSave, Config};
    let (_dir, gone, path) = file_in_a_subdir("store.kv");
    let config = Config {
        autosave: AutoSave::Manual,
        ..Default::default()
    };
    let db = MicroKV::open_with(&path, Credential::key(KEY), config).unwrap();
    db.put("secret-key-name", "v").unwrap();
    std::fs::remove_dir_all(&gone).unwrap();
    let err = db.save().unwrap_err();
    assert!(matches!(err, Error::Io(ref e) if e.kind() == std::io::ErrorKind::NotFound));
    let printed = chain(&err);
    let os = std::io::Error::from_raw_os_error(2).to_string();
    assert_eq!(printed.matches(&os).count(), 1, "{printed}");
    let context = err.io_context().expect("the file storage names the file");
    assert!(context.path().starts_with(&gone), "{printed}");
    assert!(printed.contains(&gone.display().to_string()), "{printed}");
    assert!(!printed.contains("secret-key-name"), "{printed}");
}

#[derive(serde::Deserialize, Debug)]
#[allow(dead_code)]
struct Token {
    value: String,
}

#[test]
fn a_value_of_another_type_is_described_in_plain_words() {
    let db = MicroKV::in_memory(Credential::key(KEY)).unwrap();
    db.put("name", "alice").unwrap();
    db.put("n", &7u32).unwrap();
    let said = |e: Error| match e {
        Error::Serialization(why) => why,
        other => panic!("{other:?}"),
    };
    let why = said(db.get::<u32>("name").unwrap_err());
    assert_eq!(
        why,
        "the stored value is a string, which does not read as a u32"
    );
    let why = said(db.get::<Vec<String>>("n").unwrap_err());
    assert_eq!(
        why,
        "the stored value is an integer, which does not read as a Vec<String>"
    );
    let why = said(db.get::<Token>("n").unwrap_err());
    assert_eq!(
        why,
        "the stored value is an integer, which does not read as a Token"
    );
    assert!(!why.contains("::"), "{why}");
}

#[test]
fn an_io_error_prints_each_part_once() {
    let os = || io::Error::from_raw_os_error(2);
    let plain = Error::Io(os());
    assert_eq!(chain(&plain), format!("I/O error: {}", os()));
    let named = Error::io_at("renaming the new snapshot over", "/d/s.kv", os());
    assert_eq!(
        chain(&named),
        format!(
            "I/O error: renaming the new snapshot over /d/s.kv: {}",
            os()
        )
    );
    assert_eq!(chain(&named).matches(&os().to_string()).count(), 1);
    let late = Error::NotDurable(os()).in_file("syncing the directory of", "/d/s.kv");
    assert_eq!(chain(&late).matches(&os().to_string()).count(), 1);
    assert!(chain(&late).contains("/d/s.kv"));
    // Control: the old shape, a Display that shows its source, prints it twice.
    struct Old(io::Error);
    impl core::fmt::Debug for Old {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl core::fmt::Display for Old {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "I/O error: {}", self.0)
        }
    }
    impl core::error::Error for Old {
        fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    assert_eq!(chain(&Old(os())).matches(&os().to_string()).count(), 2);
}
