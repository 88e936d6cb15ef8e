//! The README's quickstart: `cargo run --example quickstart`.
use std::time::Duration;

use microkv::{Credential, MicroKV};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = MicroKV::in_memory(Credential::password("p@ssw0rd"))?;
    db.put("name", &"test".to_string())?;
    let name: String = db.require("name")?;
    println!("name = {name}");

    let users = db.namespace("users");
    users.put("admin:alice", &42u32)?;
    users.put("bob", &7u32)?;
    db.update::<u32, _>("counter", |cur| Some(cur.unwrap_or(0) + 1))?;
    db.put_with_ttl("otp", &"123456".to_string(), Duration::from_secs(60))?;
    let admins: Vec<(String, u32)> = users.prefix("admin:")?;
    println!("admins = {admins:?}, namespaces = {:?}", db.tree_names()?);
    let report = db.memory_report();
    println!("arena: {report:?}");
    // In one sentence: what another process could still read (None with secret memory).
    println!(
        "exposure: {}",
        report
            .warning()
            .unwrap_or("none: the arena is in secret memory, out of every other process's reach")
    );
    Ok(())
}
