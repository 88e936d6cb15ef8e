//! Every in-memory snippet of SEED.md, as written, inside a function returning
//! `Result<(), Box<dyn std::error::Error>>`, with assertions on what each must do.
use microkv::{Credential, MicroKV};

fn db() -> Result<MicroKV, Box<dyn std::error::Error>> {
    Ok(MicroKV::in_memory(Credential::password("p@ssw0rd"))?)
}

#[test]
fn basic_usage_without_disk() -> Result<(), Box<dyn std::error::Error>> {
    let db = db()?;
    db.put("name", &"test".to_string())?; // any Serialize value
    let name: String = db.require("name")?; // errors if absent
    let maybe: Option<u32> = db.get("count")?; // None if absent
    db.remove("name")?;
    assert_eq!(name, "test");
    assert_eq!(maybe, None);
    assert!(matches!(
        db.require::<String>("name"),
        Err(microkv::Error::KeyNotFound)
    ));
    Ok(())
}

#[test]
fn deref_to_default_namespace() -> Result<(), Box<dyn std::error::Error>> {
    let db = db()?;
    db.put("k", &1u8)?;
    assert_eq!(db.namespace("").get::<u8>("k")?, Some(1));
    db.namespace("").put("k", &2u8)?;
    assert_eq!(db.get::<u8>("k")?, Some(2));
    Ok(())
}

#[test]
fn in_memory_store() -> Result<(), Box<dyn std::error::Error>> {
    use microkv::{Credential, MicroKV};
    // ephemeral store, never touches disk
    let cache = MicroKV::in_memory(Credential::password("p@ssw0rd"))?;
    cache.put("x", &1u64)?;
    assert!(matches!(cache.save(), Err(microkv::Error::NoPath)));
    Ok(())
}

#[test]
fn namespacing() -> Result<(), Box<dyn std::error::Error>> {
    let db = db()?;
    let users = db.namespace("users");
    let sessions = db.namespace("sessions");
    users.put("alice", &42u32)?;
    sessions.put("alice", &"token-xyz".to_string())?; // same key, no collision
    let id: Option<u32> = users.get("alice")?;
    assert_eq!(id, Some(42));
    assert_eq!(
        sessions.get::<String>("alice")?.as_deref(),
        Some("token-xyz")
    );
    assert_eq!(
        db.tree_names()?,
        vec!["sessions".to_string(), "users".to_string()]
    );
    Ok(())
}

#[test]
fn atomic_updates() -> Result<(), Box<dyn std::error::Error>> {
    let db = db()?;
    // read-modify-write under one lock (no get/put race)
    db.update::<u32, _>("counter", |cur| Some(cur.unwrap_or(0) + 1))?;
    assert_eq!(db.get::<u32>("counter")?, Some(1));
    // insert only if missing
    let v: u32 = db.get_or_insert_with("seed", || 7)?;
    assert_eq!(v, 7);
    assert_eq!(db.get_or_insert_with::<u32, _>("seed", || 8)?, 7);
    // compare-and-swap
    let swapped = db.compare_and_swap("counter", Some(&1u32), Some(&2u32))?;
    assert!(swapped);
    assert_eq!(db.get::<u32>("counter")?, Some(2));
    assert!(!db.compare_and_swap("counter", Some(&1u32), Some(&3u32))?);
    assert_eq!(db.get::<u32>("counter")?, Some(2));
    Ok(())
}

#[test]
fn transactions() -> Result<(), Box<dyn std::error::Error>> {
    let db = db()?;
    db.put("balance", &100u64)?;
    db.transaction(|tx| {
        let balance: u64 = tx.require("", "balance")?;
        tx.put("", "balance", &(balance - 10))?;
        tx.put("audit", "last", &"debit".to_string())?;
        Ok(())
    })?;
    assert_eq!(db.require::<u64>("balance")?, 90);
    assert_eq!(db.namespace("audit").require::<String>("last")?, "debit");
    Ok(())
}

#[test]
fn expiring_entries() -> Result<(), Box<dyn std::error::Error>> {
    let db = db()?;
    use std::time::Duration;
    db.put_with_ttl("otp", &"123456".to_string(), Duration::from_secs(60))?;
    let purged = db.sweep_expired()?; // drop expired entries
    assert_eq!(purged, 0);
    assert_eq!(db.get::<String>("otp")?.as_deref(), Some("123456"));
    Ok(())
}

#[test]
fn iteration() -> Result<(), Box<dyn std::error::Error>> {
    let db = db()?;
    db.put("b", &1u32)?;
    db.put("a", &2u32)?;
    db.namespace("users").put("admin:root", &0u32)?;
    db.namespace("users").put("admin:ops", &1u32)?;
    db.namespace("users").put("guest", &2u32)?;
    let all_keys: Vec<String> = db.keys()?;
    let sorted: Vec<String> = db.keys_sorted()?;
    // decrypt every entry matching a prefix
    let active: Vec<(String, u32)> = db.namespace("users").prefix("admin:")?;
    assert_eq!(all_keys.len(), 2);
    assert_eq!(sorted, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(
        active,
        vec![("admin:ops".to_string(), 1), ("admin:root".to_string(), 0)]
    );
    Ok(())
}

#[test]
fn password_rotation() -> Result<(), Box<dyn std::error::Error>> {
    let db = db()?;
    db.put("kept", &"value".to_string())?;
    // verify the old password, then re-encrypt everything under the new one
    db.change_password("p@ssw0rd", "even-better-passphrase")?;
    assert_eq!(db.require::<String>("kept")?, "value");
    assert!(matches!(
        db.change_password("p@ssw0rd", "x"),
        Err(microkv::Error::WrongPassword)
    ));
    db.change_password("even-better-passphrase", "third")?;
    assert_eq!(db.require::<String>("kept")?, "value");
    Ok(())
}
