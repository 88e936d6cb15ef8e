//! The store in an async service: tokio tasks read short-lived tokens while a refresher
//! rotates them, every rotation one durable transaction.
//!
//! ```sh
//! cargo run --example token_service -- [DIR] [SECONDS]
//! ```
//!
//! What blocks, and what to do about it:
//! - **Opening** runs the KDF (Argon2id: tens of milliseconds to seconds) and reads the
//!   file: do it once, in `spawn_blocking`, and share the handle (a clone is the same
//!   store; it is `Send + Sync`).
//! - **Writes under `AutoSave::OnEveryWrite`** append to the journal and `fsync` it before
//!   they return (about a millisecond on a local disk, far more on a busy or network one):
//!   run them in `spawn_blocking`, as the refresher does. So do `save`, `close`,
//!   `change_password` and `rekey`.
//! - **Reads** (`get`, `ttl`, `get_secret_bytes`, ...) decrypt one value in memory, a few
//!   microseconds, and never touch the disk: call them from async code directly. A read
//!   waits for no write, except for the instant a write swaps its entry in.
//!
//! Tokens carry a TTL: a reader never sees an expired one (it reads as absent), and the
//! expired ones are dropped from memory at the next save.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use microkv::{AutoSave, Config, Credential, MicroKV};

const SERVICES: [&str; 3] = ["billing", "search", "storage"];
const TTL: Duration = Duration::from_secs(3);
const REFRESH_EVERY: Duration = Duration::from_millis(200);

/// A token as the refresher mints it (a real one would come from an identity provider).
fn mint(service: &str, generation: u64) -> String {
    format!("tok-{service}-{generation:08}")
}

fn config() -> Config {
    Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    }
}

/// Opens the store off the async threads: the KDF runs here.
async fn open(path: PathBuf) -> microkv::Result<MicroKV> {
    let credential = Credential::password(
        std::env::var("MICROKV_PASSWORD").unwrap_or_else(|_| "example password".into()),
    );
    tokio::task::spawn_blocking(move || MicroKV::open_with(path, credential, config()))
        .await
        .expect("the open task panicked")
}

/// Rotates every service's token in one transaction, durable when it returns.
async fn refresh(db: &MicroKV, generation: u64) -> microkv::Result<()> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        db.transaction(|tx| {
            for service in SERVICES {
                tx.put_with_ttl("tokens", service, &mint(service, generation), TTL)?;
            }
            tx.put("", "generation", &generation)
        })
    })
    .await
    .expect("the refresher's write panicked")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let seconds: u64 = args.next().map_or(Ok(2), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("tokens.kv");

    let db = open(path.clone()).await?;
    // The store's contents survive restarts: carry on from the last generation.
    let start: u64 = db.get("generation")?.unwrap_or(0);
    refresh(&db, start + 1).await?;

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let reads = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for service in SERVICES {
        let (db, reads) = (db.clone(), reads.clone());
        readers.push(tokio::spawn(async move {
            let tokens = db.namespace("tokens");
            while Instant::now() < deadline {
                // A read is in memory: no spawn_blocking needed.
                let token: String = tokens.require(service)?;
                assert!(token.starts_with(&format!("tok-{service}-")));
                let left = tokens.ttl(service)?.expect("tokens have a TTL");
                assert!(left <= TTL);
                reads.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok::<_, microkv::Error>(())
        }));
    }

    let refresher = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut generation = start + 1;
            let mut ticks = tokio::time::interval(REFRESH_EVERY);
            ticks.tick().await;
            while Instant::now() < deadline {
                ticks.tick().await;
                generation += 1;
                refresh(&db, generation).await?;
            }
            Ok::<_, microkv::Error>(generation)
        })
    };

    for reader in readers {
        reader.await??;
    }
    let last = refresher.await??;
    // Close off the async threads too: it returns the result of the last save.
    tokio::task::spawn_blocking(move || db.close()).await??;

    // A fresh open sees the last rotation: every transaction was durable.
    let db = open(path).await?;
    assert_eq!(db.require::<u64>("generation")?, last);
    let tokens = db.namespace("tokens");
    for service in SERVICES {
        if let Some(token) = tokens.get::<String>(service)? {
            assert_eq!(token, mint(service, last));
        }
    }
    println!(
        "{} reads by {} tasks, {} rotations (generations {}..={last}), all on disk",
        reads.load(Ordering::Relaxed),
        SERVICES.len(),
        last - start,
        start + 1,
    );
    Ok(())
}
