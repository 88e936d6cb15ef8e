//! The on-disk snippets of SEED.md, as written, each inside a function returning
//! `Result<(), Box<dyn std::error::Error>>`. One test in this binary: the snippets use the
//! relative path "store.kv", so the test moves into a private directory first.
use std::error::Error;

fn basic_usage() -> Result<(), Box<dyn Error>> {
    use microkv::{Credential, MicroKV};
    // open (or create) an encrypted store on disk
    let db = MicroKV::open("store.kv", Credential::password("p@ssw0rd"))?;
    db.put("name", &"test".to_string())?; // any Serialize value
    let name: String = db.require("name")?; // errors if absent
    let maybe: Option<u32> = db.get("count")?; // None if absent
    db.remove("name")?;
    db.save()?; // flush to disk
    assert_eq!(name, "test");
    assert_eq!(maybe, None);
    db.put("kept", &1u32)?;
    db.save()?;
    Ok(())
}

fn with_config() -> Result<(), Box<dyn Error>> {
    use microkv::{AutoSave, Config, Credential, KdfParams, LockMode, MicroKV};
    let db = MicroKV::open_with(
        "store.kv",
        Credential::password("p@ssw0rd"),
        Config {
            autosave: AutoSave::OnEveryWrite, // persist after each write
            lock_mode: LockMode::Exclusive,   // cross-process file lock
            kdf: KdfParams::sensitive(),      // stronger KDF for new stores
            ..Default::default()
        },
    )?;
    // open read-only: writes return Error::ReadOnly
    let ro = MicroKV::open_with(
        "store.kv",
        Credential::password("p@ssw0rd"),
        Config {
            read_only: true,
            ..Default::default()
        },
    )?;
    // The existing store keeps the KDF it was made with.
    assert_eq!(db.kdf(), Some(KdfParams::default()));
    assert_eq!(ro.get::<u32>("kept")?, Some(1));
    assert!(matches!(ro.put("x", &1u8), Err(microkv::Error::ReadOnly)));
    // A second writer is refused at once.
    assert!(matches!(
        MicroKV::open("store.kv", Credential::password("p@ssw0rd")),
        Err(microkv::Error::Locked)
    ));
    db.put("every-write", &2u32)?; // persisted at once
    drop(db);
    let reopened = MicroKV::open("store.kv", Credential::password("p@ssw0rd"))?;
    assert_eq!(reopened.get::<u32>("every-write")?, Some(2));
    assert!(matches!(
        MicroKV::open("store.kv", Credential::password("wrong")),
        Err(microkv::Error::Locked | microkv::Error::WrongPassword)
    ));
    Ok(())
}

fn strict_constructors() -> Result<(), Box<dyn Error>> {
    use microkv::{Config, Credential, KdfParams, MicroKV};
    assert!(matches!(
        MicroKV::create_new("store.kv", Credential::password("p@ssw0rd")),
        Err(microkv::Error::AlreadyExists)
    ));
    assert!(matches!(
        MicroKV::open_existing("missing.kv", Credential::password("p@ssw0rd")),
        Err(microkv::Error::NotFound)
    ));
    assert!(!std::path::Path::new("missing.kv").exists());
    // "stronger KDF for new stores": a new store records the sensitive parameters.
    let config = Config {
        kdf: KdfParams::sensitive(),
        ..Default::default()
    };
    let strong = MicroKV::create_new_with("strong.kv", Credential::password("p@ssw0rd"), config)?;
    assert_eq!(strong.kdf(), Some(KdfParams::sensitive()));
    Ok(())
}

#[test]
fn seed_on_disk_snippets_as_written() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    std::env::set_current_dir(dir.path())?;
    basic_usage()?;
    with_config()?;
    strict_constructors()?;
    Ok(())
}
