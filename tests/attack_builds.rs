//! The attack of tests/attack.rs against the store as applications build it: the victim is
//! `tests/downstream`, a package of its own with cargo's default profiles (none of the
//! root's opt-level overrides), built in the dev profile, in the dev profile without debug
//! assertions, and in release. The victim runs on
//! secret memory, so the arena reads as `EIO`: anything found is a copy outside it, on the
//! ordinary stack or heap. The attacker (this process, root or the victim's user) reads
//! every writable mapping through `/proc/PID/mem` and tries every 8-aligned 32-byte window
//! that looks random as each key the store derives:
//!
//! - the Argon2 root (through the key schedule, against the key wrap);
//! - the key-encryption key (XChaCha20-Poly1305 against the key wrap);
//! - the wrap subkey (HChaCha20 of the KEK and the wrap nonce: ChaCha20-Poly1305 there);
//! - the data key (against the snapshot's sealed toc, FORMAT.md version 2);
//! - each session's subkey: session one's prefix (whose values session two opened with a
//!   subkey derived per call) against the file's first record, a value session one sealed
//!   (under the associated data of each of the victim's key names, as the attacker does
//!   not know which name the record is), and session two's (its cached subkey) against its
//!   journal record.
//!
//! Expected (and asserted): in the `control` mode the victim leaves a root and a key
//! schedule of its own on its stack, and the attack finds both (the search works in this
//! build); in the plain mode it finds nothing, in both profiles.
//!
//! Each build also runs the victim's `small-stack` mode: the store used from a thread of
//! 32 KiB must work in every profile (the scrub bounded by the stack left, issue 24), and
//! its control, 64 KiB of frames on such a thread, must kill the victim. The root's own
//! tests/small_stack.rs cannot show this for dependents: the root's profile optimises
//! microkv-core even in dev builds, and unoptimised frames are several times larger.
//!
//! A custom harness (`harness = false`): it builds the victim with cargo, which takes a
//! while the first time.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

#[macro_use]
#[path = "support/linux_main.rs"]
mod linux_main;

#[cfg(target_os = "linux")]
#[path = "support/memscan.rs"]
mod memscan;

linux_only_main!("attack_builds", "/proc/PID/mem, memfd_secret");

/// The attacker's varint, as the other attack test reads store files.
#[cfg(target_os = "linux")]
#[path = "support/leb128.rs"]
mod leb128;

#[cfg(target_os = "linux")]
mod linux {
    use super::leb128::varint;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use blake2::{Blake2b512, Digest};
    use chacha20poly1305::aead::inout::InOutBuf;
    use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, Tag, XChaCha20Poly1305};

    use super::memscan::{ietf, scan, start_victim};

    const VALUES: usize = 8;
    const HEADER: usize = 176;
    const KINDS: [&str; 6] = ["root", "kek", "wrap-subkey", "data", "subkey-1", "subkey-2"];

    /// A sealed message: nonce, associated data, `ciphertext || tag`.
    struct Sealed {
        nonce: Vec<u8>,
        aad: Vec<u8>,
        body: Vec<u8>,
    }

    impl Sealed {
        fn opens_x(&self, key: &[u8; 32]) -> bool {
            let Ok(cipher) = XChaCha20Poly1305::new_from_slice(key) else {
                return false;
            };
            self.opens(|buf, tag| {
                cipher
                    .decrypt_inout_detached(self.nonce[..].try_into().unwrap(), &self.aad, buf, tag)
                    .is_ok()
            })
        }

        fn opens_ietf(&self, subkey: &[u8; 32]) -> bool {
            let Ok(cipher) = ChaCha20Poly1305::new_from_slice(subkey) else {
                return false;
            };
            let n = ietf(&self.nonce);
            self.opens(|buf, tag| {
                cipher
                    .decrypt_inout_detached(&n.into(), &self.aad, buf, tag)
                    .is_ok()
            })
        }

        fn opens(&self, f: impl FnOnce(InOutBuf<'_, '_, u8>, &Tag) -> bool) -> bool {
            let (ct, tag) = self.body.split_at(self.body.len() - 16);
            let mut buf = ct.to_vec();
            f(InOutBuf::from(&mut buf[..]), &Tag::try_from(tag).unwrap())
        }
    }

    /// What the attacker knows from the files: the key wrap, the toc, the first value (one
    /// candidate for each name it may be), journal record 0.
    struct Files {
        salt: Vec<u8>,
        wrap: Sealed,
        toc: Sealed,
        value: Vec<Sealed>,
        record: Sealed,
    }

    fn files(store: &Path) -> Files {
        let file = std::fs::read(store).expect("read the store");
        let journal = std::fs::read(store.with_extension("kv.journal")).expect("read the journal");
        let header = &file[..HEADER];
        let n = u32::from_le_bytes(journal[36..40].try_into().unwrap()) as usize;
        let record = &journal[44..44 + n];
        // The one namespace's first record (FORMAT.md, v2): the file holds the victim's
        // `VALUES` entries (the extra one is in the journal), so its directory is `VALUES`
        // rows of 24 bytes (no expiries), and the record ends where the first row's `end`
        // (after its hash and check) says. The record is varint(p) varint(c) ciphertext
        // tag: its nonce's last 8 bytes are c, all a subkey's ChaCha20-Poly1305 nonce
        // takes; its prefix (in the sealed toc) is what made the subkey the window may be,
        // so it is left as zeros here.
        let data_len = u32::from_le_bytes(header[168..172].try_into().unwrap()) as usize;
        let data = &file[HEADER..HEADER + data_len];
        let end = u32::from_le_bytes(data[12..16].try_into().unwrap());
        let first = &data[VALUES * 24..VALUES * 24 + end as usize];
        let mut nonce = vec![0u8; 16];
        let mut at = 0;
        let _p = varint(first, &mut at);
        nonce.extend_from_slice(&varint(first, &mut at).unwrap().to_le_bytes());
        let value = (0..VALUES)
            .map(|i| {
                let mut aad = vec![1, 0, 0, 0, 0];
                aad.extend_from_slice(format!("secret-{i}").as_bytes());
                Sealed {
                    nonce: nonce.clone(),
                    aad,
                    body: first[at..].to_vec(),
                }
            })
            .collect();
        let mut aad = b"microkv journal v1".to_vec();
        aad.extend_from_slice(&journal[12..36]);
        aad.extend_from_slice(&0u64.to_le_bytes());
        aad.extend_from_slice(&file[file.len() - 16..]);
        Files {
            salt: header[24..40].to_vec(),
            wrap: Sealed {
                nonce: header[72..96].to_vec(),
                // The wrap's associated data: header bytes 0..72 with the version read as 1.
                aad: [&header[..8], &[1, 0], &header[10..72]].concat(),
                body: header[96..144].to_vec(),
            },
            toc: Sealed {
                nonce: header[144..168].to_vec(),
                aad: header.to_vec(),
                body: file[HEADER + data_len..].to_vec(),
            },
            value,
            record: Sealed {
                nonce: record[..24].to_vec(),
                aad,
                body: record[24..].to_vec(),
            },
        }
    }

    /// Which keys the window is (a window can be only one, but each test is cheap).
    fn identify(f: &Files, w: &[u8; 32]) -> Option<&'static str> {
        if f.wrap.opens_x(w) {
            return Some("kek");
        }
        if f.wrap.opens_ietf(w) {
            return Some("wrap-subkey");
        }
        if f.toc.opens_x(w) {
            return Some("data");
        }
        if f.value.iter().any(|v| v.opens_ietf(w)) {
            return Some("subkey-1");
        }
        if f.record.opens_ietf(w) {
            return Some("subkey-2");
        }
        let mut h = Blake2b512::new();
        h.update(b"microkv v1 key schedule\0");
        h.update(&f.salt);
        h.update(w);
        let kek: [u8; 32] = h.finalize()[..32].try_into().unwrap();
        f.wrap.opens_x(&kek).then_some("root")
    }

    /// Builds the victim in `profile` (`dev` or `release`) and returns its path.
    fn build(profile: &str) -> PathBuf {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let package = root.join("tests/downstream");
        // The root's lock file: the same dependency versions as the rest of the tests.
        std::fs::copy(root.join("Cargo.lock"), package.join("Cargo.lock")).unwrap();
        let target = root.join("target/downstream");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--profile", profile, "--manifest-path"])
            .arg(package.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .status()
            .expect("run cargo");
        assert!(
            status.success(),
            "building tests/downstream ({profile}) failed"
        );
        let dir = if profile == "dev" { "debug" } else { profile };
        target.join(dir).join("microkv-downstream")
    }

    /// Runs the victim once and attacks it: how many windows were each kind of key.
    fn attack(victim: &Path, mode: &str) -> (BTreeMap<&'static str, usize>, usize, usize) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("victim.kv");
        let mut victim = start_victim(Command::new(victim).arg(&path).arg(mode), VALUES);
        let ready = &victim.ready;
        assert!(
            ready.trim() == "ready secret_memory=true",
            "victim did not start on secret memory: {ready:?}"
        );
        let f = files(&path);
        let mut found = BTreeMap::new();
        let scanned = scan(victim.child.id(), |w| {
            if let Some(kind) = identify(&f, w) {
                *found.entry(kind).or_insert(0) += 1;
            }
            true
        });
        drop(victim.stdin);
        assert!(victim.child.wait().unwrap().success(), "the victim failed");
        assert!(scanned.opened && scanned.unreadable > 0, "{scanned:?}");
        (found, scanned.candidates, scanned.unreadable)
    }

    /// Runs the victim's `mode` (`small-stack` or its control): whether it exited 0, and
    /// how it ended.
    fn small_stack(victim: &Path, mode: &str) -> (bool, String) {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new(victim)
            .arg(dir.path().join("small.kv"))
            .arg(mode)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("start the victim");
        (status.success(), format!("{status}"))
    }

    pub fn main() {
        if let Err(e) = microkv::OsPages::probe_secret_memory() {
            panic!("this kernel gives no secret memory ({e}): the victim needs it");
        }
        let mut failures = Vec::new();
        for profile in ["dev", "dev-no-assertions", "release"] {
            let victim = build(profile);
            for mode in ["control", "store"] {
                let (found, candidates, unreadable) = attack(&victim, mode);
                let shown: Vec<String> = KINDS
                    .iter()
                    .map(|k| format!("{k} {}", found.get(k).copied().unwrap_or(0)))
                    .collect();
                println!(
                    "attack_builds: {profile:>17} | {mode:>7} | {candidates} windows tried, \
                     {} KiB unreadable | {}",
                    unreadable / 1024,
                    shown.join(", ")
                );
                let ok = if mode == "control" {
                    found.contains_key("root") && found.contains_key("kek")
                } else {
                    found.is_empty()
                };
                if !ok {
                    failures.push(format!("{profile} {mode}: {found:?}"));
                }
            }
            let (works, how) = small_stack(&victim, "small-stack");
            let (control, control_how) = small_stack(&victim, "small-stack-control");
            println!(
                "attack_builds: {profile:>17} | 32 KiB thread: store {how}, control {control_how}"
            );
            if !works || control {
                failures.push(format!(
                    "{profile} small stack: store {how}, control {control_how}"
                ));
            }
        }
        assert!(failures.is_empty(), "unexpected outcomes: {failures:?}");
        println!("attack_builds: every outcome as expected");
    }
}
