//! The victim of tests/attack_builds.rs, built with cargo's default profiles as an
//! application would build it.
//!
//! Usage: `microkv-downstream PATH MODE`. Session one creates the store at `PATH` with a
//! password (Argon2id), puts eight values from stdin and saves; session two reopens it
//! (the KDF, the key schedule and the unwrap run again), gets every value (each opens
//! under session one's nonce prefix: a subkey derived for the call) and puts one more
//! (a journal record under its own prefix). It then says `ready` and idles until stdin
//! closes, so that an attacker can read its memory.
//!
//! `MODE` `control` adds the weakened path the attack must catch: the victim derives the
//! key schedule itself, in its own frames, from a root it stretched, and leaves both on the
//! stack unwiped (what the store did in this build before issue 24).
//!
//! `MODE` `small-stack` instead uses a store from a thread with a 32 KiB stack (put, get,
//! save, on a store opened on the main thread; then reopened and read there) and exits 0
//! if every value came back: the scrub after each call must stay within the stack this
//! build's frames leave it.
//! `small-stack-control` recurses through 64 KiB of frames on such a thread, which must
//! kill the process (the thread really is that small).
use std::io::{BufRead, BufReader, Write};

#[path = "../../support/frames.rs"]
mod frames;
use frames::recurse;

use microkv::{AutoSave, Config, Credential, KdfParams, MemoryPolicy, MicroKV};

const PASSWORD: &str = "downstream-password";
const VALUES: usize = 8;

fn config(autosave: AutoSave) -> Config {
    Config {
        // Small, so that unoptimised Argon2 opens in a second; the code path is the same.
        kdf: KdfParams::argon2id(1024, 1, 1),
        memory: MemoryPolicy::RequireSecretMemory,
        autosave,
        ..Config::default()
    }
}

/// Opens (or creates) the store at `path` with the password; `what` names the step if
/// it fails.
fn open(path: &str, autosave: AutoSave, what: &str) -> MicroKV {
    MicroKV::open_with(path, Credential::password(PASSWORD), config(autosave)).expect(what)
}

/// The weakened path: the key schedule computed in this frame and left on the stack.
#[inline(never)]
fn leave_key_schedule_on_the_stack(path: &str) -> u8 {
    let file = std::fs::read(path).expect("victim: read the store");
    let salt = &file[24..40];
    let mut root = [0u8; 32];
    KdfParams::argon2id(1024, 1, 1)
        .stretch(PASSWORD.as_bytes(), salt, Default::default(), &mut root)
        .expect("victim: stretch");
    use blake2::Digest;
    let mut hasher = blake2::Blake2b512::new();
    hasher.update(b"microkv v1 key schedule\0");
    hasher.update(salt);
    hasher.update(root);
    let out = hasher.finalize();
    std::hint::black_box(&root);
    std::hint::black_box(&out);
    out[0] ^ root[0]
}

/// The stack of the thread `small-stack` uses the store from.
const SMALL_STACK: usize = 32 * 1024;

/// Put, get and save from a [`SMALL_STACK`] thread on a store opened on this one, then
/// reopen and get here: 0 if every value came back. Opening stays on the main thread: in
/// an unoptimised build its own frames take about 45 KiB (`Store::build` and
/// `Engine::open` hold 15 and 13 KiB of temporaries), more than such a thread has.
fn use_the_store(path: &str) -> i32 {
    let db = open(path, AutoSave::Manual, "victim: create");
    let db = std::sync::Arc::new(db);
    let shared = std::sync::Arc::clone(&db);
    let code = on_small_thread(move || {
        shared.put("k", "a value").expect("victim: put");
        let got = shared.get::<String>("k").expect("victim: get");
        let held = shared.get_secret_bytes("k").expect("victim: get bytes");
        shared.save().expect("victim: save");
        let held = held.map(|h| h.expose_secret() == b"a value");
        i32::from(got.as_deref() != Some("a value") || held != Some(true))
    });
    drop(db);
    let db = open(path, AutoSave::Manual, "victim: reopen");
    let again = db.get::<String>("k").expect("victim: get again");
    code.max(i32::from(again.as_deref() != Some("a value")) * 2)
}

/// Runs `f` on a thread with a [`SMALL_STACK`] stack; its result (101 if it panicked).
fn on_small_thread(f: impl FnOnce() -> i32 + Send + 'static) -> i32 {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("victim: spawn")
        .join()
        .unwrap_or(101)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (path, mode) = (&args[1], args[2].as_str());
    if mode == "small-stack" {
        std::process::exit(use_the_store(path));
    }
    if mode == "small-stack-control" {
        std::process::exit(on_small_thread(|| i32::from(recurse(64) == 7)));
    }
    let mut input = BufReader::new(std::io::stdin());
    let mut values = Vec::new();
    for _ in 0..VALUES {
        let mut line = zeroize::Zeroizing::new(String::new());
        input.read_line(&mut line).expect("victim: read a value");
        values.push(zeroize::Zeroizing::new(line.trim_end().to_string()));
    }
    {
        let db = open(path, AutoSave::Manual, "victim: create");
        for (i, v) in values.iter().enumerate() {
            db.put(&format!("secret-{i}"), v.as_str())
                .expect("victim: put");
        }
        db.save().expect("victim: save");
    }
    let db = open(path, AutoSave::OnEveryWrite, "victim: reopen");
    for (i, v) in values.iter().enumerate() {
        let got = db
            .get_secret_bytes(&format!("secret-{i}"))
            .expect("victim: get")
            .expect("victim: a value is missing");
        assert_eq!(got.expose_secret(), v.as_bytes());
    }
    db.put("extra", "one more, in the journal")
        .expect("victim: put");
    drop(values);
    if mode == "control" {
        std::hint::black_box(leave_key_schedule_on_the_stack(path));
    }
    println!("ready secret_memory={}", db.memory_report().secret_memory);
    std::io::stdout().flush().unwrap();
    let mut rest = String::new();
    let _ = input.read_line(&mut rest);
    drop(db);
}
