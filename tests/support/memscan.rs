#![allow(dead_code)] // not every test binary that includes this file uses every helper
//! Reading another process's memory as an attacker does (shared with `#[path =
//! "support/memscan.rs"] mod memscan;`): every writable mapping through `/proc/PID/mem`,
//! every 8-aligned 32-byte window that looks like key material; and the random values a
//! victim is given to store, for the attacker to find.
use std::fs::File;
use std::os::unix::fs::FileExt;

/// A secret value for a victim to store: 24 random letters and digits.
pub fn random_value() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).unwrap();
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// A victim process holding secret values.
pub struct Victim {
    pub child: std::process::Child,
    /// The values it was given.
    pub values: Vec<String>,
    /// Its first line (`ready ...` once it holds them).
    pub ready: String,
    /// Its stdin, kept open while the attacker works: the victim idles until it closes.
    pub stdin: std::process::ChildStdin,
}

/// Starts `command` with piped stdin and stdout, gives it `count` random values, one a
/// line, and waits for its first line.
pub fn start_victim(command: &mut std::process::Command, count: usize) -> Victim {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the victim");
    let values: Vec<String> = (0..count).map(|_| random_value()).collect();
    let mut stdin = child.stdin.take().unwrap();
    for v in &values {
        writeln!(stdin, "{v}").unwrap();
    }
    stdin.flush().unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    Victim {
        child,
        values,
        ready,
        stdin,
    }
}

/// What a scan read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// `/proc/PID/mem` could be opened.
    pub opened: bool,
    /// Bytes read, and bytes the kernel refused (secret memory reads as `EIO`).
    pub readable: usize,
    pub unreadable: usize,
    /// Windows handed to the callback.
    pub candidates: usize,
}

/// Whether 32 bytes look like key material: at least 20 distinct byte values (random
/// bytes have about 30; the chance that a random key has fewer than 20 is below 1e-6).
pub fn looks_random(w: &[u8]) -> bool {
    let mut seen = [0u64; 4];
    let mut distinct = 0;
    for &b in w {
        let (word, bit) = (usize::from(b >> 6), 1u64 << (b & 63));
        if seen[word] & bit == 0 {
            seen[word] |= bit;
            distinct += 1;
        }
    }
    distinct >= 20
}

/// The ChaCha20-Poly1305 nonce of an XChaCha20-Poly1305 nonce (FORMAT.md, "Nonces").
pub fn ietf(nonce: &[u8]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&nonce[16..24]);
    n
}

/// Calls `f` with every 8-aligned 32-byte window of `pid`'s writable mappings that looks
/// random, until `f` returns `false`.
pub fn scan(pid: u32, mut f: impl FnMut(&[u8; 32]) -> bool) -> Scanned {
    let mut got = Scanned::default();
    let Ok(mem) = File::open(format!("/proc/{pid}/mem")) else {
        return got;
    };
    got.opened = true;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let mut buf = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.contains('w') {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut at = start;
        while at < end {
            let len = (end - at).min(1 << 20) as usize;
            buf.resize(len, 0);
            if mem.read_exact_at(&mut buf, at).is_err() {
                got.unreadable += len;
                at += len as u64;
                continue;
            }
            got.readable += len;
            for w in buf.windows(32).step_by(8) {
                if !looks_random(w) {
                    continue;
                }
                got.candidates += 1;
                if !f(w.try_into().unwrap()) {
                    return got;
                }
            }
            at += len as u64;
        }
    }
    got
}
