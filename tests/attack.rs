//! The attack the threat model names, played for real: a victim process holds an open file
//! store with eight secret values and sits idle; an attacker process reads every writable
//! mapping of the victim through `/proc/PID/mem`, reads the store file, and tries every
//! 8-aligned 32-byte window that looks random as the data key (XChaCha20-Poly1305) and as
//! the cached subkey (ChaCha20-Poly1305 under the snapshot nonce's prefix) against the
//! file's sealed toc, with nothing but docs/FORMAT.md to go on. With a key, it opens every
//! names block and every value.
//!
//! Configurations: where the arena's pages come from (heap pages: the control, nothing
//! protects them; locked anonymous pages: the fallback without secret memory; secret
//! memory: `memfd_secret`) × whether the victim called `harden_process()`. Each runs with
//! the attacker as root and, when this test runs as root, with attacker and victim both as
//! `nobody` (the same unprivileged user). The attacker starts the victim as its own child,
//! so Yama's `ptrace_scope = 1` would not stop it either.
//!
//! Expected (and asserted): the control and the unhardened fallback give up the key and all
//! eight values to both attackers; hardening stops the same-user attacker (it cannot even
//! open `/proc/PID/mem`) but not root; secret memory stops both (its pages read as `EIO`).
//!
//! A custom harness (`harness = false`): the binary re-runs itself as attacker and victim.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

#[macro_use]
#[path = "support/linux_main.rs"]
mod linux_main;

#[cfg(target_os = "linux")]
#[path = "support/leb128.rs"]
mod leb128;
#[cfg(target_os = "linux")]
#[path = "support/memscan.rs"]
mod memscan;

linux_only_main!("attack", "/proc/PID/mem, memfd_secret");

#[cfg(target_os = "linux")]
mod linux {
    use super::leb128::varint;
    use std::fmt;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    use std::time::Instant;

    use chacha20poly1305::aead::inout::InOutBuf;
    use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, Tag, XChaCha20Poly1305};
    use microkv::{Config, Credential, HeapPages, MemoryPolicy, MicroKV, OsPages, PageSource};
    use zeroize::Zeroizing;

    use super::memscan::{ietf, scan, start_victim, Scanned};

    const ROLE: &str = "MICROKV_ATTACK_ROLE";
    const VALUES: usize = 8;
    const NOBODY: u32 = 65534;
    const HEADER: usize = 176;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Pages {
        /// The control: heap pages, which nothing protects.
        Heap,
        /// Locked, guarded, advised anonymous pages: the fallback without secret memory.
        Anonymous,
        /// `memfd_secret`, required (`MemoryPolicy::RequireSecretMemory`).
        Secret,
    }

    impl Pages {
        fn name(self) -> &'static str {
            match self {
                Pages::Heap => "heap",
                Pages::Anonymous => "anonymous",
                Pages::Secret => "secret",
            }
        }

        fn parse(s: &str) -> Pages {
            match s {
                "heap" => Pages::Heap,
                "anonymous" => Pages::Anonymous,
                "secret" => Pages::Secret,
                other => panic!("unknown pages {other}"),
            }
        }
    }

    /// What one attack got.
    #[derive(Debug, Default, Clone, PartialEq, Eq)]
    struct Outcome {
        scanned: Scanned,
        /// `data`, `subkey` or `none`.
        key: String,
        values: usize,
        millis: u128,
    }

    impl fmt::Display for Outcome {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if !self.scanned.opened {
                return write!(f, "cannot open /proc/PID/mem: nothing read");
            }
            write!(
                f,
                "read {} KiB ({} KiB refused), {} candidate windows, key: {}, values: {}/{} ({} ms)",
                self.scanned.readable / 1024,
                self.scanned.unreadable / 1024,
                self.scanned.candidates,
                self.key,
                self.values,
                VALUES,
                self.millis
            )
        }
    }

    pub fn main() {
        match std::env::var(ROLE).as_deref() {
            Ok("victim") => victim(),
            Ok("attacker") => attacker(),
            _ => driver(),
        }
    }

    // ---- the victim -------------------------------------------------------------------

    /// Opens the store, takes eight values from stdin, saves, says `ready`, idles until
    /// stdin closes.
    fn victim() {
        let args: Vec<String> = std::env::args().collect();
        let (path, pages, harden) = (&args[1], Pages::parse(&args[2]), args[3] == "1");
        if harden {
            microkv::harden_process().expect("harden_process");
        }
        let (source, memory): (Arc<dyn PageSource>, _) = match pages {
            Pages::Heap => (Arc::new(HeapPages), MemoryPolicy::BestEffort),
            Pages::Anonymous => (Arc::new(OsPages::anonymous()), MemoryPolicy::BestEffort),
            Pages::Secret => (Arc::new(OsPages::new()), MemoryPolicy::RequireSecretMemory),
        };
        let config = Config {
            pages: Some(source),
            memory,
            ..Config::default()
        };
        let db = MicroKV::open_with(path, Credential::password("attack-password"), config)
            .expect("victim: open");
        let mut input = BufReader::new(std::io::stdin());
        for i in 0..VALUES {
            let mut line = Zeroizing::new(String::new());
            input.read_line(&mut line).expect("victim: read a value");
            db.put(&format!("secret-{i}"), line.trim_end())
                .expect("victim: put");
        }
        db.save().expect("victim: save");
        let report = db.memory_report();
        println!("ready secret_memory={}", report.secret_memory);
        std::io::stdout().flush().unwrap();
        let mut rest = String::new();
        let _ = input.read_line(&mut rest);
        drop(db);
    }

    // ---- the attacker -----------------------------------------------------------------

    fn attacker() {
        let args: Vec<String> = std::env::args().collect();
        let (path, pages, harden) = (&args[1], &args[2], &args[3]);
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.args([path, pages, harden]).env(ROLE, "victim");
        let mut victim = start_victim(&mut command, VALUES);
        let ready = &victim.ready;
        assert!(
            ready.starts_with("ready"),
            "victim did not start: {ready:?}"
        );
        let outcome = attack(victim.child.id(), Path::new(path), &victim.values);
        drop(victim.stdin);
        let status = victim.child.wait().unwrap();
        assert!(status.success(), "victim failed: {status}");
        println!(
            "RESULT {} {} {} {} {} {} {}",
            outcome.scanned.opened,
            outcome.scanned.readable,
            outcome.scanned.unreadable,
            outcome.scanned.candidates,
            outcome.key,
            outcome.values,
            outcome.millis
        );
    }

    /// A key the attacker found: the data key, or the subkey of one nonce prefix.
    enum Found {
        Data([u8; 32]),
        Subkey([u8; 32], [u8; 16]),
    }

    impl Found {
        /// Opens `ciphertext || tag` sealed under `nonce` with `aad`, if this key can.
        fn open(&self, nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
            let (ct, tag) = sealed.split_at(sealed.len().checked_sub(16)?);
            let tag = Tag::try_from(tag).ok()?;
            let mut buf = ct.to_vec();
            let inout = InOutBuf::from(&mut buf[..]);
            let ok = match self {
                Found::Data(key) => XChaCha20Poly1305::new_from_slice(key)
                    .ok()?
                    .decrypt_inout_detached(nonce.try_into().ok()?, aad, inout, &tag)
                    .is_ok(),
                Found::Subkey(sub, prefix) if nonce[..16] == prefix[..] => {
                    ChaCha20Poly1305::new_from_slice(sub)
                        .ok()?
                        .decrypt_inout_detached(&ietf(nonce).into(), aad, inout, &tag)
                        .is_ok()
                }
                Found::Subkey(..) => false,
            };
            ok.then_some(buf)
        }
    }

    fn attack(pid: u32, store: &Path, values: &[String]) -> Outcome {
        let started = Instant::now();
        let file = std::fs::read(store).expect("attacker: read the store file");
        let header = &file[..HEADER];
        // A v2 file (FORMAT.md): the toc, sealed under the snapshot nonce with the
        // header as associated data, is the file's end.
        let toc_nonce = &header[144..168];
        let data_len = u32::from_le_bytes(header[168..172].try_into().unwrap()) as usize;
        let toc = &file[HEADER + data_len..];
        let prefix: [u8; 16] = toc_nonce[..16].try_into().unwrap();
        let mut found = None;
        let scanned = scan(pid, |key| {
            for (name, candidate) in [
                ("data", Found::Data(*key)),
                ("subkey", Found::Subkey(*key, prefix)),
            ] {
                if candidate.open(toc_nonce, header, toc).is_some() {
                    found = Some((name, candidate));
                    return false;
                }
            }
            true
        });
        let mut outcome = Outcome {
            scanned,
            key: "none".into(),
            ..Outcome::default()
        };
        if let Some((name, key)) = found {
            let plain = key.open(toc_nonce, header, toc).unwrap();
            outcome.key = name.into();
            outcome.values = open_values(&key, &prefix, &plain, &file[HEADER..], values);
        }
        outcome.millis = started.elapsed().as_millis();
        outcome
    }

    fn bytes<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
        let len = usize::try_from(varint(b, at)?).ok()?;
        let s = b.get(*at..*at + len)?;
        *at += len;
        Some(s)
    }

    fn u32_at(b: &[u8], at: usize) -> usize {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
    }

    /// Walks the toc and each namespace's directory, records and names block (FORMAT.md,
    /// version 2) and opens every value; counts the values whose plaintext holds one of
    /// the victim's secrets.
    fn open_values(
        key: &Found,
        prefix: &[u8; 16],
        toc: &[u8],
        data: &[u8],
        values: &[String],
    ) -> usize {
        let mut recovered = 0;
        let mut at = 0;
        varint(toc, &mut at); // the sequence
                              // The values' nonce prefixes, 16 bytes each.
        let prefixes = varint(toc, &mut at).unwrap_or(0) as usize;
        let prefixes: Vec<&[u8]> = toc[at..][..16 * prefixes].chunks(16).collect();
        at += 16 * prefixes.len();
        let spaces = varint(toc, &mut at).unwrap_or(0);
        let mut region = 0;
        for i in 0..spaces {
            let ns = bytes(toc, &mut at).unwrap_or_default();
            let count = varint(toc, &mut at).unwrap_or(0) as usize;
            let flags = toc[at];
            at += 1;
            let records_len = varint(toc, &mut at).unwrap_or(0) as usize;
            let names_len = varint(toc, &mut at).unwrap_or(0) as usize;
            let tags = varint(toc, &mut at).unwrap_or(0) as usize;
            at += 16 * tags; // the directory's chunks' tags
            let dir_len = count * (24 + 8 * usize::from(flags & 1));
            let records = &data[region + dir_len..][..records_len];
            let mut nonce = prefix.to_vec();
            nonce.extend_from_slice(&(2 * i + 1).to_le_bytes());
            let names = &data[region + dir_len + records_len..][..names_len];
            let names = key.open(&nonce, &[], names).unwrap_or_default();
            let mut name_at = 0;
            let mut start = 0;
            for j in 0..count {
                let row = 24 + 8 * usize::from(flags & 1);
                let end = u32_at(data, region + row * j + 12);
                let name = bytes(&names, &mut name_at).unwrap_or_default();
                // The record: varint(p) varint(c) ciphertext tag, its nonce prefixes[p] || c.
                let record = &records[start..end];
                start = end;
                let mut body = 0;
                let (Some(p), Some(c)) = (varint(record, &mut body), varint(record, &mut body))
                else {
                    continue;
                };
                let Some(prefix) = prefixes.get(p as usize) else {
                    continue;
                };
                let nonce = [prefix, &c.to_le_bytes()[..]].concat();
                let mut aad = vec![1u8];
                aad.extend_from_slice(&(ns.len() as u32).to_le_bytes());
                aad.extend_from_slice(ns);
                aad.extend_from_slice(name);
                if let Some(plain) = key.open(&nonce, &aad, &record[body..]) {
                    if values
                        .iter()
                        .any(|v| plain.windows(v.len()).any(|w| w == v.as_bytes()))
                    {
                        recovered += 1;
                    }
                }
            }
            region += dir_len + records_len + names_len;
        }
        recovered
    }

    // ---- the driver -------------------------------------------------------------------

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    /// Runs one attack: the attacker (as `uid`) starts the victim and attacks it.
    fn run(pages: Pages, harden: bool, uid: u32) -> Outcome {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let path = dir.path().join("victim.kv");
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            path.to_str().unwrap(),
            pages.name(),
            if harden { "1" } else { "0" },
        ])
        .env(ROLE, "attacker")
        .stdout(Stdio::piped());
        if uid != 0 || !is_root() {
            cmd.uid(uid).gid(uid);
        }
        let out = cmd.output().expect("start the attacker");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "attacker ({pages:?}, harden {harden}, uid {uid}) failed: {}\n{text}",
            out.status
        );
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("no result from the attacker: {text}"));
        let f: Vec<&str> = line.split_whitespace().collect();
        Outcome {
            scanned: Scanned {
                opened: f[0] == "true",
                readable: f[1].parse().unwrap(),
                unreadable: f[2].parse().unwrap(),
                candidates: f[3].parse().unwrap(),
            },
            key: f[4].into(),
            values: f[5].parse().unwrap(),
            millis: f[6].parse().unwrap(),
        }
    }

    fn driver() {
        if let Err(e) = OsPages::probe_secret_memory() {
            panic!(
                "this kernel gives no secret memory ({e}): the secret-memory rows cannot be \
                 shown here (memfd_secret needs Linux 5.14+ and no seccomp filter)"
            );
        }
        // SAFETY: getuid has no preconditions.
        let me = unsafe { libc::getuid() };
        let mut attackers = vec![("root", 0u32)];
        if is_root() {
            attackers.push(("same user (nobody)", NOBODY));
        } else {
            attackers = vec![("same user", me)];
        }
        let mut failures = Vec::new();
        println!("attack: {} configurations", 6 * attackers.len());
        for (who, uid) in &attackers {
            let root = *uid == 0 && is_root();
            for pages in [Pages::Heap, Pages::Anonymous, Pages::Secret] {
                for harden in [false, true] {
                    let got = run(pages, harden, *uid);
                    // Only secret memory stops root; hardening stops the same user.
                    let protected = pages == Pages::Secret || (harden && !root);
                    let ok = if protected {
                        got.key == "none" && got.values == 0
                    } else {
                        got.key != "none" && got.values == VALUES
                    };
                    let extra = match (pages, harden, root) {
                        (Pages::Secret, false, _) => {
                            got.scanned.opened && got.scanned.unreadable > 0
                        }
                        (_, true, false) => !got.scanned.opened,
                        _ => true,
                    };
                    println!(
                        "attack: {who:>18} | {:>9} pages | hardened {:>5} | {} | {}",
                        pages.name(),
                        harden,
                        if protected {
                            "expect nothing"
                        } else {
                            "expect all  "
                        },
                        got
                    );
                    if !(ok && extra) {
                        failures.push(format!("{who}, {pages:?}, hardened {harden}: {got}"));
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "unexpected outcomes:\n{}",
            failures.join("\n")
        );
        println!("attack: every outcome as expected");
    }
}
