//! The README's usage snippet, as written (in a private directory: it uses "store.kv").
use microkv::{AutoSave, Config, Credential, MicroKV};

fn readme_usage() -> Result<(), Box<dyn std::error::Error>> {
    // open (or create) an encrypted store on disk; writes are durable at once
    let db = MicroKV::open_with(
        "store.kv",
        Credential::password("p@ssw0rd"),
        Config {
            autosave: AutoSave::OnEveryWrite,
            ..Default::default()
        },
    )?;
    db.namespace("users").put("alice", &42u32)?;
    db.update::<u32, _>("counter", |cur| Some(cur.unwrap_or(0) + 1))?;
    db.transaction(|tx| {
        let n: u32 = tx.require("", "counter")?;
        tx.put("audit", "last", &n)
    })?;
    // a secret you can hold without it leaving locked memory
    db.put("api-token", "s3cr3t")?;
    let token = db.get_secret_bytes("api-token")?.expect("present");
    assert_eq!(token.expose_secret(), b"s3cr3t");
    println!("{:?}", db.memory_report()); // locked? guarded? excluded from dumps?

    // What the snippet promises: every write is on disk already.
    drop(token);
    drop(db);
    let again = MicroKV::open("store.kv", Credential::password("p@ssw0rd"))?;
    assert_eq!(again.namespace("audit").get::<u32>("last")?, Some(1));
    assert_eq!(again.namespace("users").get::<u32>("alice")?, Some(42));
    Ok(())
}

#[test]
fn readme_usage_as_written() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::env::set_current_dir(dir.path())?;
    readme_usage()
}
