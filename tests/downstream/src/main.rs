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
use std::io::{BufRead, BufReader, Write};

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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (path, mode) = (&args[1], args[2].as_str());
    let mut input = BufReader::new(std::io::stdin());
    let mut values = Vec::new();
    for _ in 0..VALUES {
        let mut line = zeroize::Zeroizing::new(String::new());
        input.read_line(&mut line).expect("victim: read a value");
        values.push(zeroize::Zeroizing::new(line.trim_end().to_string()));
    }
    {
        let db = MicroKV::open_with(path, Credential::password(PASSWORD), config(AutoSave::Manual))
            .expect("victim: create");
        for (i, v) in values.iter().enumerate() {
            db.put(&format!("secret-{i}"), v.as_str()).expect("victim: put");
        }
        db.save().expect("victim: save");
    }
    let db = MicroKV::open_with(
        path,
        Credential::password(PASSWORD),
        config(AutoSave::OnEveryWrite),
    )
    .expect("victim: reopen");
    for (i, v) in values.iter().enumerate() {
        let got = db
            .get_secret_bytes(&format!("secret-{i}"))
            .expect("victim: get")
            .expect("victim: a value is missing");
        assert_eq!(got.expose_secret(), v.as_bytes());
    }
    db.put("extra", "one more, in the journal").expect("victim: put");
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
