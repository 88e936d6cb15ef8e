//! Core dumps: a live child process (this test binary re-run, filtered to the test below)
//! holds an open file store with values put and saved, and one `get_secret_bytes` handle (its
//! plaintext in the arena), its own copies of every secret wiped. The parent dumps it with
//! `gcore` (gdb) and scans the core file for every 16-byte piece of the raw key and of
//! each value.
//!
//! The secrets reach the child through its stdin pipe, read with `read_exact` on a
//! `/dev/stdin` file (no std buffer in between) into one buffer that the child zeroizes.
//! The parent is not dumped.
//!
//! Pass rule: 0 pieces of the key and of every value in the core file. Control: the child
//! keeps one more random secret in ordinary heap memory on purpose, and the same scan
//! must find it, or the scan proves nothing. Skips (printing why) only when `gcore`
//! reports that ptrace is not permitted; a missing `gcore` is a failure (`.ci/run`
//! installs gdb).
#![cfg(target_os = "linux")]
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

#[path = "support/rerun.rs"]
mod rerun;

use microkv::{Credential, MicroKV};
use zeroize::Zeroize;

const TEST: &str = "a_core_dump_holds_no_piece_of_the_key_or_values";
const CHILD_DIR: &str = "MICROKV_CORE_CHILD_DIR";
const PIECE: usize = 16;
const KEY_LEN: usize = 32;
const CONTROL_LEN: usize = 48;
const N_VALUES: usize = 8;
const VALUE_LEN: usize = 64;
const INPUT_LEN: usize = KEY_LEN + CONTROL_LEN + N_VALUES * VALUE_LEN;

/// The child: reads the secrets, stores them, wipes its copies, says READY and waits for
/// its stdin to close.
fn child(dir: &Path) -> ! {
    let mut input = File::open("/dev/stdin").unwrap();
    let mut buf = vec![0u8; INPUT_LEN];
    input.read_exact(&mut buf).unwrap();
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&buf[..KEY_LEN]);
    let db = MicroKV::open(dir.join("store.kv"), Credential::key(key)).unwrap();
    key.zeroize();
    // Deliberately kept in ordinary heap memory: the scan's control.
    let control: Vec<u8> = buf[KEY_LEN..KEY_LEN + CONTROL_LEN].to_vec();
    for i in 0..N_VALUES {
        let at = KEY_LEN + CONTROL_LEN + i * VALUE_LEN;
        let value = std::str::from_utf8(&buf[at..at + VALUE_LEN]).unwrap();
        db.put(&format!("v{i}"), value).unwrap();
    }
    buf.zeroize();
    db.save().unwrap();
    let held = db.get_secret_bytes("v0").unwrap().unwrap();
    assert_eq!(held.len(), VALUE_LEN);
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    // Wait for the parent to close our stdin: the dump is taken meanwhile.
    let _ = input.read(&mut [0u8; 1]);
    std::hint::black_box(&control);
    drop(held);
    drop(db);
    std::process::exit(0);
}

fn random_text(len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).unwrap();
    for b in &mut bytes {
        *b = ALPHABET[*b as usize % ALPHABET.len()];
    }
    bytes
}

fn piece(bytes: &[u8]) -> u128 {
    u128::from_le_bytes(bytes[..PIECE].try_into().unwrap())
}

/// Counts, per secret, the offsets in `core` where one of its 16-byte pieces starts.
fn scan(core: &[u8], secrets: &[&[u8]]) -> Vec<usize> {
    let mut pieces: HashMap<u128, Vec<usize>> = HashMap::new();
    let mut filter = vec![false; 1 << 16];
    for (id, secret) in secrets.iter().enumerate() {
        for w in secret.windows(PIECE) {
            let p = piece(w);
            filter[(p as u16) as usize] = true;
            pieces.entry(p).or_default().push(id);
        }
    }
    let mut counts = vec![0; secrets.len()];
    if core.len() < PIECE {
        return counts;
    }
    let mut page = 0;
    let last = core.len() - PIECE + 1;
    while page < last {
        let end = (page + 4096).min(last);
        // Pages of zeros (most of a core) hold nothing: skip them fast.
        if core[page..end + PIECE - 1].iter().all(|&b| b == 0) {
            page = end;
            continue;
        }
        for i in page..end {
            if !filter[u16::from_le_bytes([core[i], core[i + 1]]) as usize] {
                continue;
            }
            if let Some(ids) = pieces.get(&piece(&core[i..])) {
                for &id in ids {
                    counts[id] += 1;
                }
            }
        }
        page = end;
    }
    counts
}

#[test]
fn a_core_dump_holds_no_piece_of_the_key_or_values() {
    rerun::be_the_child(CHILD_DIR, child);
    let dir = tempfile::tempdir().unwrap();
    let mut key = vec![0u8; KEY_LEN];
    getrandom::fill(&mut key).unwrap();
    let control = random_text(CONTROL_LEN);
    let values: Vec<Vec<u8>> = (0..N_VALUES).map(|_| random_text(VALUE_LEN)).collect();

    let mut child = rerun::self_command(TEST)
        .env(CHILD_DIR, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut input = Vec::with_capacity(INPUT_LEN);
    input.extend_from_slice(&key);
    input.extend_from_slice(&control);
    for v in &values {
        input.extend_from_slice(v);
    }
    stdin.write_all(&input).unwrap();
    stdin.flush().unwrap();
    input.zeroize();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim() != "READY" {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            panic!("the child ended before it was ready: {:?}", child.wait());
        }
    }

    let prefix = dir.path().join("core");
    let dumped = Command::new("gcore")
        .arg("-o")
        .arg(&prefix)
        .arg(pid.to_string())
        .output();
    drop(stdin); // lets the child finish
    let status = child.wait().unwrap();
    let dumped = dumped.unwrap_or_else(|e| {
        panic!("cannot run gcore ({e}): install gdb (apt-get install -y gdb); .ci/run does")
    });
    let core_path = dir.path().join(format!("core.{pid}"));
    if !core_path.exists() {
        let err = String::from_utf8_lossy(&dumped.stderr);
        if err.contains("ptrace") || err.contains("Operation not permitted") {
            // Straight to the stream, past the test harness's output capture: a skip must
            // be visible in a normal run.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED core_dump: ptrace is not permitted here, gcore said: {err}"
            );
            return;
        }
        panic!(
            "gcore made no core file ({:?}):\n{}\n{err}",
            dumped.status,
            String::from_utf8_lossy(&dumped.stdout)
        );
    }
    assert!(status.success(), "child: {status:?}");
    let core = std::fs::read(&core_path).unwrap();

    let mut secrets: Vec<&[u8]> = vec![&control, &key];
    secrets.extend(values.iter().map(Vec::as_slice));
    let counts = scan(&core, &secrets);
    eprintln!(
        "core file: {} bytes; pieces found: control {}, key {}, values {:?}",
        core.len(),
        counts[0],
        counts[1],
        &counts[2..]
    );
    assert!(
        counts[0] >= 1,
        "the scan did not find the control secret the child kept in its heap"
    );
    assert_eq!(counts[1], 0, "pieces of the raw key in the core dump");
    assert!(
        counts[2..].iter().all(|&c| c == 0),
        "pieces of values in the core dump: {:?}",
        &counts[2..]
    );
    key.zeroize();
}
