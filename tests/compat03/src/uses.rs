// Uses of microkv 0.3.0's public API, each written as its documented signatures allow.
// This file is included twice by lib.rs: `microkv` is 0.3.0 in one module, ours in the
// other. Only what both do alike is asserted here; tests/ compares the rest.

use std::ops::ControlFlow;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::path::Path;
use std::time::Duration;

use microkv::{
    AutoSave, Config, Credential, Error, KdfParams, LockMode, MicroKV, Result, Secret,
    SecretString, Tree, Txn,
};

/// A small scrypt cost, so the tests stay fast on both.
pub fn fast_kdf() -> KdfParams {
    KdfParams::scrypt(10, 8, 1)
}

/// Auto traits and trait impls 0.3.0's types have.
pub fn traits() {
    fn send_sync<T: Send + Sync>() {}
    fn unwind<T: UnwindSafe + RefUnwindSafe>() {}
    fn ref_unwind<T: RefUnwindSafe>() {}
    fn clone<T: Clone>() {}
    fn default<T: Default>() {}
    fn copy<T: Copy>() {}
    fn debug<T: std::fmt::Debug>() {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    // Each check names a bound and the types that must meet it.
    macro_rules! meet {
        ($($bound:ident: $($t:ty),+;)+) => { $($( $bound::<$t>(); )+)+ };
    }
    meet! {
        send_sync: MicroKV, Tree, Txn<'static>, Config, KdfParams, Credential, Error;
        unwind: MicroKV, Tree, Config, KdfParams, Credential;
        ref_unwind: Txn<'static>;
        clone: MicroKV, Tree, Config, KdfParams, AutoSave, LockMode;
        default: Config, KdfParams, AutoSave, LockMode;
        copy: AutoSave, LockMode;
        debug: MicroKV, Error;
        error: Error;
    }
    // A `MicroKV` is a `&Tree` where one is wanted (0.3: `Deref<Target = Tree>`; here
    // through `Store`, MIGRATING.md).
    fn default_tree(db: &MicroKV) -> &Tree {
        db
    }
    let _ = default_tree;
}

/// `?` on an `std::io::Error` in a function returning microkv's `Result`.
pub fn io_question_mark(path: &Path) -> Result<Vec<u8>> {
    Ok(std::fs::read(path)?)
}

/// Matches every variant 0.3.0 declares, as its docs prescribe (with a wildcard arm).
pub fn describe(e: &Error) -> String {
    match e {
        Error::KeyNotFound => "key not found".into(),
        Error::WrongPassword => "wrong password".into(),
        Error::CorruptStore(why) => format!("corrupt: {why}"),
        Error::UnsupportedStoreVersion { found, expected } => {
            format!("version {found}, expected {expected}")
        }
        Error::Crypto => "crypto".into(),
        Error::Random => "random".into(),
        Error::SecureAlloc => "secure alloc".into(),
        Error::Serialization(why) => format!("serialization: {why}"),
        Error::Io(io) => format!("io: {:?}", io.kind()),
        Error::Locked => "locked".into(),
        Error::AlreadyExists => "already exists".into(),
        Error::ReadOnly => "read-only".into(),
        Error::Expired => "expired".into(),
        Error::NoPath => "no path".into(),
        _ => "other".into(),
    }
}

/// Constructs the unit and struct variants, as a wrapper or a test double would.
pub fn construct_errors() -> Vec<Error> {
    vec![
        Error::KeyNotFound,
        Error::SecureAlloc,
        Error::Expired,
        Error::UnsupportedStoreVersion {
            found: 1,
            expected: 3,
        },
        Error::Io(std::io::Error::new(std::io::ErrorKind::Other, "disk")),
        Error::from(std::io::Error::new(std::io::ErrorKind::NotFound, "gone")),
        Error::CorruptStore("x".to_string()),
        Error::Serialization("y".to_string()),
    ]
}

/// A config as 0.3.0's docs write it.
pub fn config(read_only: bool) -> Config {
    Config {
        kdf: fast_kdf(),
        autosave: AutoSave::Manual,
        lock_mode: LockMode::Exclusive,
        read_only,
        ..Default::default()
    }
}

/// The store-wide and per-namespace API on an in-memory store.
pub fn in_memory() -> Result<()> {
    let db = MicroKV::in_memory_with(Credential::password("p@ssw0rd"), config(false))?;
    let _plain = MicroKV::in_memory(Credential::key([7u8; 32]))?;

    // Handles: a clone is the same store; Deref to the default namespace.
    let handle: MicroKV = db.clone();
    handle.put("shared", &1u32)?;
    assert_eq!(db.get::<u32>("shared")?, Some(1));
    let default_tree: &Tree = &db;
    assert_eq!(default_tree.name(), "");
    let moved = std::thread::spawn({
        let db = db.clone();
        move || db.get::<u32>("shared")
    })
    .join()
    .unwrap()?;
    assert_eq!(moved, Some(1));

    // Default-namespace (Tree) methods through Deref.
    db.put("name", &"test".to_string())?;
    let name: String = db.require("name")?;
    assert_eq!(name, "test");
    let maybe: Option<u32> = db.get("count")?;
    assert_eq!(maybe, None);
    assert!(db.contains("name")?);
    assert!(db.remove("name")?);
    assert!(!db.remove("name")?);
    assert!(matches!(db.require::<String>("name"), Err(Error::KeyNotFound)));
    db.put_with_ttl("otp", &"123456".to_string(), Duration::from_secs(60))?;
    assert_eq!(db.len()?, 2);
    assert!(!db.is_empty()?);
    db.update::<u32, _>("counter", |cur| Some(cur.unwrap_or(0) + 1))?;
    db.update::<u32, _>("counter", |cur| Some(cur.unwrap_or(0) + 1))?;
    assert_eq!(db.require::<u32>("counter")?, 2);
    let seed: u32 = db.get_or_insert_with("seed", || 7)?;
    assert_eq!(seed, 7);
    assert!(db.compare_and_swap("counter", Some(&2u32), Some(&3u32))?);
    assert!(!db.compare_and_swap::<u32>("counter", Some(&2u32), None)?);
    let mut keys: Vec<String> = db.keys()?;
    keys.sort();
    assert_eq!(keys, db.keys_sorted()?);
    let mut seen = 0;
    db.for_each::<serde_json_like::Any, _>(|_, _| {
        seen += 1;
        ControlFlow::Continue(())
    })
    .ok();
    let _ = seen;
    let mut first = None;
    db.for_each::<u32, _>(|k, v| {
        if k == "seed" {
            first = Some(v);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })
    .ok();

    // Secrets.
    db.put("api-token", &"s3cr3t".to_string())?;
    let token: Secret<String> = db.get_secret::<String>("api-token")?.expect("present");
    assert_eq!(token.expose(), "s3cr3t");
    assert_eq!(token.into_inner(), "s3cr3t");
    let none: Option<Secret<u32>> = db.get_secret("missing")?;
    assert!(none.is_none());
    let password: SecretString = SecretString::new("p@ssw0rd".to_string());
    let _from_secret = Credential::password(password.as_str());

    // Namespaces: &str, String and &String names.
    let users = db.namespace("users");
    let sessions = db.namespace(String::from("sessions"));
    let name = String::from("users");
    let users_again: Tree = db.namespace(&name);
    users.put("alice", &42u32)?;
    sessions.put("alice", &"token-xyz".to_string())?;
    assert_eq!(users_again.get::<u32>("alice")?, Some(42));
    users.put("admin:root", &1u32)?;
    let active: Vec<(String, u32)> = db.namespace("users").prefix("admin:")?;
    assert_eq!(active, vec![("admin:root".to_string(), 1)]);
    let mut trees: Vec<String> = db.tree_names()?;
    trees.sort();
    assert!(trees.contains(&"users".to_string()));
    users.clear()?;
    assert!(users.is_empty()?);

    // Transactions, with the generic order 0.3.0 declares (F, then R).
    db.put("balance", &100u64)?;
    db.transaction(|tx| {
        let balance: u64 = tx.require("", "balance")?;
        tx.put("audit", "last", &"debit".to_string())?;
        tx.put("", "balance", &(balance - 10))
    })?;
    let n = db.transaction::<_, u64>(|tx: &mut Txn<'_>| {
        let got: Option<u64> = tx.get("", "balance")?;
        tx.remove("audit", "last")?;
        Ok(got.unwrap_or(0))
    })?;
    assert_eq!(n, 90);
    let failed: Result<()> = db.transaction(|tx| {
        tx.put("", "balance", &0u64)?;
        Err(Error::KeyNotFound)
    });
    assert!(matches!(failed, Err(Error::KeyNotFound)));
    assert_eq!(db.require::<u64>("balance")?, 90);

    // Store-wide methods, and as functions (in method-call form: a path such as
    // `MicroKV::save` is 0.3's only, MIGRATING.md).
    let _params: KdfParams = db.kdf_params();
    db.change_password("p@ssw0rd", "even-better-passphrase")?;
    db.change_password(String::from("even-better-passphrase"), String::from("third"))?;
    assert!(matches!(
        db.change_password("wrong", "x"),
        Err(Error::WrongPassword)
    ));
    db.rekey(Credential::key([3u8; 32]))?;
    let exported: Vec<u8> = db.export()?;
    assert!(!exported.is_empty());
    let swept: usize = db.sweep_expired()?;
    assert_eq!(swept, 0);
    assert!(matches!(db.save(), Err(Error::NoPath)));
    let save: fn(&MicroKV) -> Result<()> = |db| db.save();
    assert!(matches!(save(&db), Err(Error::NoPath)));
    let _: fn(&MicroKV) -> Result<Vec<u8>> = |db| db.export();
    let _: fn(&MicroKV) -> KdfParams = |db| db.kdf_params();
    let _: fn(&MicroKV) -> Result<Vec<String>> = |db| db.tree_names();
    let _: fn(MicroKV) -> Result<()> = MicroKV::destroy;
    let _ = (KdfParams::interactive(), KdfParams::sensitive(), KdfParams::default());
    let _ = AutoSave::Periodic(Duration::from_secs(5));
    let _ = (AutoSave::OnEveryWrite, AutoSave::OnDrop, LockMode::None, LockMode::Shared);
    db.destroy()?;
    Ok(())
}

/// The file API.
pub fn on_disk(dir: &Path) -> Result<()> {
    let path = dir.join("store.kv");
    let db = MicroKV::open_with(&path, Credential::password("p@ssw0rd"), config(false))?;
    db.put("name", &"test".to_string())?;
    db.namespace("users").put("alice", &42u32)?;
    db.save()?;
    db.save_as(dir.join("copy.kv"))?;
    drop(db);
    let db = MicroKV::open_existing_with(&path, Credential::password("p@ssw0rd"), config(false))?;
    assert_eq!(db.require::<String>("name")?, "test");
    drop(db);
    let ro = MicroKV::open_with(&path, Credential::password("p@ssw0rd"), config(true))?;
    assert!(matches!(ro.put("x", &1u8), Err(Error::ReadOnly)));
    drop(ro);
    assert!(matches!(
        MicroKV::create_new_with(&path, Credential::password("p@ssw0rd"), config(false)),
        Err(Error::AlreadyExists)
    ));
    let copy = MicroKV::open_existing(dir.join("copy.kv"), Credential::password("p@ssw0rd"))?;
    assert_eq!(copy.namespace("users").require::<u32>("alice")?, 42);
    drop(copy);
    let fresh = MicroKV::create_new(dir.join("new.kv"), Credential::key([1u8; 32]))?;
    fresh.put("k", &1u8)?;
    fresh.save()?;
    drop(fresh);
    let again = MicroKV::open(dir.join("new.kv"), Credential::key([1u8; 32]))?;
    assert_eq!(again.get::<u8>("k")?, Some(1));
    again.destroy()?;
    assert!(!dir.join("new.kv").exists());
    assert!(matches!(
        io_question_mark(&dir.join("none")),
        Err(Error::Io(ref e)) if e.kind() == std::io::ErrorKind::NotFound
    ));
    Ok(())
}

/// A self-describing stand-in, for `for_each` over mixed values.
mod serde_json_like {
    /// Any value, ignored.
    pub struct Any;
    impl<'de> serde::Deserialize<'de> for Any {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            serde::de::IgnoredAny::deserialize(d).map(|_| Any)
        }
    }
}
