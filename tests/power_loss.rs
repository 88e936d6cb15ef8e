//! Power loss at every instant: a scripted scenario (creation, journaled puts, a save,
//! puts that compact the journal, more puts, one write whose journal sync fails with a
//! real `EIO`) runs as a child under strace, which records every file operation with
//! its bytes (`-y -xx`). The parent replays the record into a model of the files and,
//! at every point between two operations, builds every state a power cut could leave:
//! what was synced (data by an `fsync`/`fdatasync` of its file, names by one of their
//! directory) plus every prefix of what was not, in order, the last write of a prefix
//! also as zeros (the file extended, its data never written). Each state is written to a
//! fresh directory and opened there, as a fresh process would after the reboot.
//!
//! Pass rule: the store opens (no store at all only before the open was acknowledged);
//! every write acknowledged before that point is there with its value; the write that
//! returned `Err` is not there at any point after its `Err`; nothing else is there but
//! writes that were in flight. Needs `strace`.
#![cfg(target_os = "linux")]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

#[path = "support/strace.rs"]
mod strace;

use microkv::{AutoSave, Config, Credential, Error, MicroKV};

const KEY: [u8; 32] = [0x77; 32];
const DIR: &str = "MICROKV_POWER_LOSS_DIR";
const TEST: &str = "every_power_cut_keeps_every_acknowledged_write";
/// The `fdatasync` (of the child's thread) that fails: one of a journal append's.
const FAILING_SYNC: usize = 9;

fn value(key: &str) -> String {
    let len = if key.starts_with('b') { 8 << 10 } else { 24 };
    format!("{key}=").repeat(len / (key.len() + 1))
}

/// Writes `text` to `/dev/null`, where the record sees it.
fn say(text: &str) {
    use std::io::Write;
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    null.write_all(text.as_bytes()).unwrap();
}

/// The child: the scenario, each result said to `/dev/null` after it returned.
fn child(dir: &Path) -> ! {
    let config = Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    };
    let db = MicroKV::open_with(dir.join("store.kv"), Credential::key(KEY), config).unwrap();
    say("ack open");
    let mut keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    keys.push("save".into());
    keys.extend((0..9).map(|i| format!("b{i}")));
    keys.extend((10..16).map(|i| format!("k{i}")));
    for key in keys {
        if key == "save" {
            let saved = db.save();
            say(if saved.is_ok() {
                "ack save"
            } else {
                "err save"
            });
            continue;
        }
        let put = db.put(&key, &value(&key));
        let word = match put {
            Ok(()) => "ack",
            Err(Error::NotDurable(_)) => "nd",
            Err(_) => "err",
        };
        say(&format!("{word} {key}"));
    }
    std::process::exit(0)
}

/// `\xNN` escapes (strace `-xx`) decoded.
fn unhex(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 4);
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            let h = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
            out.push(u8::from_str_radix(h, 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// A quoted string argument (`"\x41..."`), decoded.
fn string(arg: &str) -> Vec<u8> {
    unhex(arg.trim().trim_matches('"'))
}

/// The path of a descriptor argument (`3<\x2f...>`).
fn fd_path(arg: &str) -> PathBuf {
    let inner = &arg[arg.find('<').unwrap() + 1..arg.rfind('>').unwrap()];
    PathBuf::from(String::from_utf8(unhex(inner)).unwrap())
}

/// A file operation of the record, on files of the store's directory.
#[derive(Clone, Debug)]
enum Op {
    /// A new name for a new, empty file (`id`).
    Create {
        name: String,
        id: usize,
    },
    Write {
        id: usize,
        at: u64,
        data: Vec<u8>,
    },
    Truncate {
        id: usize,
        len: u64,
    },
    Link {
        from: String,
        to: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Unlink {
        name: String,
    },
}

impl Op {
    /// The file whose data this changes (`None`: a change of names).
    fn data_of(&self) -> Option<usize> {
        match self {
            Op::Write { id, .. } | Op::Truncate { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// The files: names to ids, ids to bytes.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
struct Files {
    names: BTreeMap<String, usize>,
    data: BTreeMap<usize, Vec<u8>>,
}

impl Files {
    fn apply(&mut self, op: &Op, zeros: bool) {
        match op {
            Op::Create { name, id } => {
                self.names.insert(name.clone(), *id);
                self.data.entry(*id).or_default();
            }
            Op::Write { id, at, data } => {
                let file = self.data.entry(*id).or_default();
                let end = *at as usize + data.len();
                if file.len() < end {
                    file.resize(end, 0);
                }
                if !zeros {
                    file[*at as usize..end].copy_from_slice(data);
                }
            }
            Op::Truncate { id, len } => self.data.entry(*id).or_default().resize(*len as usize, 0),
            Op::Link { from, to } => {
                if let Some(id) = self.names.get(from).copied() {
                    self.names.insert(to.clone(), id);
                }
            }
            Op::Rename { from, to } => {
                if let Some(id) = self.names.remove(from) {
                    self.names.insert(to.clone(), id);
                }
            }
            Op::Unlink { name } => {
                self.names.remove(name);
            }
        }
    }

    fn write_to(&self, dir: &Path) {
        for (name, id) in &self.names {
            std::fs::write(dir.join(name), &self.data[id]).unwrap();
        }
    }
}

/// What the record holds: the operations (each with the index of the sync that made it
/// durable, if one did), and the markers the child said, each at the operation count
/// when it was said.
struct Record {
    ops: Vec<(Op, Option<usize>)>,
    said: Vec<(usize, String)>,
}

/// With `honour_fdatasync` false (the control), an `fdatasync` makes nothing durable, as
/// if the store never synced its journal.
fn parse(log: &str, dir: &Path, honour_fdatasync: bool) -> Record {
    let name_in = |path: &Path| -> Option<String> {
        (path.parent() == Some(dir)).then(|| path.file_name().unwrap().to_str().unwrap().into())
    };
    let mut ops: Vec<(Op, Option<usize>)> = Vec::new();
    let mut said = Vec::new();
    let mut full = Files::default();
    let mut next_id = 0;
    // Per open descriptor of a store file: its id, its offset, whether it appends.
    let mut fds: BTreeMap<i64, (usize, u64, bool)> = BTreeMap::new();
    let push = |op: Op, full: &mut Files, ops: &mut Vec<(Op, Option<usize>)>| {
        full.apply(&op, false);
        ops.push((op, None));
    };
    // A call another thread interrupted is logged in two pieces
    // (`write(... <unfinished ...>`, then `<... write resumed>...`): joined again here.
    let mut unfinished: BTreeMap<String, String> = BTreeMap::new();
    let mut joined = Vec::new();
    for line in log.lines() {
        let (pid, call) = match line.split_once(' ') {
            Some((pid, call)) if pid.parse::<u32>().is_ok() => (pid.to_string(), call.trim_start()),
            _ => (String::new(), line),
        };
        if let Some(start) = call.strip_suffix(" <unfinished ...>") {
            unfinished.insert(pid, start.to_string());
        } else if call.starts_with("<... ") {
            let rest = &call[call.find("resumed>").map_or(call.len(), |i| i + 8)..];
            let start = unfinished.remove(&pid).unwrap_or_default();
            joined.push(format!("{start}{rest}"));
        } else {
            joined.push(call.to_string());
        }
    }
    for call in &joined {
        let Some((name, rest)) = call.split_once('(') else {
            continue;
        };
        let Some((args, ret)) = rest.rsplit_once(") = ") else {
            continue;
        };
        if ret.starts_with('-') {
            continue; // failed (or injected): changed nothing
        }
        let args: Vec<&str> = args.split(", ").collect();
        let ret_fd = || {
            ret.split('<')
                .next()
                .unwrap()
                .trim()
                .parse::<i64>()
                .unwrap()
        };
        match name {
            "openat" => {
                let path = PathBuf::from(String::from_utf8(string(args[1])).unwrap());
                let Some(file) = name_in(&path) else { continue };
                let flags = args[2];
                let fd = ret_fd();
                let id = match full.names.get(&file) {
                    Some(id) => *id,
                    None if flags.contains("O_CREAT") => {
                        next_id += 1;
                        push(
                            Op::Create {
                                name: file,
                                id: next_id,
                            },
                            &mut full,
                            &mut ops,
                        );
                        next_id
                    }
                    None => continue,
                };
                if flags.contains("O_TRUNC") {
                    push(Op::Truncate { id, len: 0 }, &mut full, &mut ops);
                }
                fds.insert(fd, (id, 0, flags.contains("O_APPEND")));
            }
            "close" => {}
            "write" | "pwrite64" => {
                let data = string(args[1]);
                if fd_path(args[0]) == Path::new("/dev/null") {
                    said.push((ops.len(), String::from_utf8(data).unwrap()));
                    continue;
                }
                if name_in(&fd_path(args[0])).is_none() {
                    continue;
                }
                let fd: i64 = args[0].split('<').next().unwrap().parse().unwrap();
                let Some((id, offset, append)) = fds.get_mut(&fd) else {
                    continue;
                };
                let id = *id;
                let at = if name == "pwrite64" {
                    args[3].trim().parse().unwrap()
                } else if *append {
                    full.data[&id].len() as u64
                } else {
                    *offset
                };
                let written: u64 = ret.trim().parse().unwrap();
                let data = data[..written as usize].to_vec();
                if name == "write" {
                    *offset = at + written;
                }
                push(Op::Write { id, at, data }, &mut full, &mut ops);
            }
            "ftruncate" => {
                if name_in(&fd_path(args[0])).is_none() {
                    continue;
                }
                let fd: i64 = args[0].split('<').next().unwrap().parse().unwrap();
                let Some((id, _, _)) = fds.get(&fd) else {
                    continue;
                };
                let len = args[1].trim().parse().unwrap();
                push(Op::Truncate { id: *id, len }, &mut full, &mut ops);
            }
            "rename" | "renameat" | "renameat2" | "linkat" => {
                let (from, to) = if name == "rename" {
                    (string(args[0]), string(args[1]))
                } else {
                    (string(args[1]), string(args[3]))
                };
                let from = PathBuf::from(String::from_utf8(from).unwrap());
                let to = PathBuf::from(String::from_utf8(to).unwrap());
                let (Some(from), Some(to)) = (name_in(&from), name_in(&to)) else {
                    continue;
                };
                let op = if name == "linkat" {
                    Op::Link { from, to }
                } else {
                    Op::Rename { from, to }
                };
                push(op, &mut full, &mut ops);
            }
            "unlink" => {
                let path = PathBuf::from(String::from_utf8(string(args[0])).unwrap());
                let Some(file) = name_in(&path) else { continue };
                push(Op::Unlink { name: file }, &mut full, &mut ops);
            }
            "fdatasync" if !honour_fdatasync => {}
            "fsync" | "fdatasync" => {
                let path = fd_path(args[0]);
                let sync = ops.len();
                if path == dir {
                    for (op, durable) in ops.iter_mut() {
                        if op.data_of().is_none() && durable.is_none() {
                            *durable = Some(sync);
                        }
                    }
                } else if let Some(file) = name_in(&path) {
                    let fd: i64 = args[0].split('<').next().unwrap().parse().unwrap();
                    let id = fds.get(&fd).map(|f| f.0).or(full.names.get(&file).copied());
                    for (op, durable) in ops.iter_mut() {
                        if op.data_of().is_some() && op.data_of() == id && durable.is_none() {
                            *durable = Some(sync);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Record { ops, said }
}

#[test]
fn every_power_cut_keeps_every_acknowledged_write() {
    if let Some(dir) = std::env::var_os(DIR) {
        child(Path::new(&dir));
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    let inject = format!("inject=fdatasync:error=EIO:when={FAILING_SYNC}");
    let run = strace::traced(
        TEST,
        &[(DIR, dir.as_os_str())],
        "openat,close,write,pwrite64,ftruncate,rename,renameat,renameat2,linkat,unlink,fsync,fdatasync",
        &["-xx", "-s", "1000000", "-e", &inject],
        &root.path().join("record.log"),
    );
    assert!(run.status.success(), "the child failed");
    assert!(run.injected(), "the sync did not fail");
    let record = parse(&run.log, &dir, true);
    let errs = record.said.iter().filter(|(_, s)| s.starts_with("err"));
    let head: Vec<&str> = run
        .log
        .lines()
        .filter(|l| l.contains("null"))
        .take(5)
        .collect();
    assert_eq!(
        errs.count(),
        1,
        "one write fails: {:?}; log: {head:?}",
        record.said
    );
    let acks = record
        .said
        .iter()
        .filter(|(_, s)| s.starts_with("ack"))
        .count();
    assert!(acks > 20, "{:?}", record.said);
    let (states, violations) = replay(&record, &root.path().join("state"));
    eprintln!(
        "{} operations, {states} distinct power-loss states, {acks} acknowledged writes, {} violations",
        record.ops.len(),
        violations.len()
    );
    for v in violations.iter().take(20) {
        eprintln!("  {v}");
    }
    assert!(states >= record.ops.len(), "{states} states");
    assert!(violations.is_empty());

    // The control: the same record, as if the journal were never synced. Acknowledged
    // writes are lost at some power cuts, and the replay says so.
    let unsynced = parse(&run.log, &dir, false);
    let (_, violations) = replay(&unsynced, &root.path().join("state"));
    eprintln!("control (no fdatasync): {} violations", violations.len());
    assert!(
        violations.iter().any(|v| v.contains("lost")),
        "{violations:?}"
    );
}

/// Every power-loss state of `record`, each checked from files written to `check_dir`:
/// how many distinct states there were, and what was wrong in any.
fn replay(record: &Record, check_dir: &Path) -> (usize, Vec<String>) {
    let mut seen: HashSet<Files> = HashSet::new();
    let (mut states, mut violations) = (0usize, Vec::new());
    for cut in 0..=record.ops.len() {
        // Everything said before the cut: acknowledged, failed.
        let said: Vec<&String> = record
            .said
            .iter()
            .filter(|(at, _)| *at <= cut)
            .map(|(_, s)| s)
            .collect();
        let unsynced: Vec<usize> = (0..cut)
            .filter(|&i| record.ops[i].1.is_none_or(|s| s > cut))
            .collect();
        for keep in 0..=unsynced.len() {
            for zeros in [false, true] {
                let last = keep.checked_sub(1).map(|k| unsynced[k]);
                if zeros && !matches!(last.map(|i| &record.ops[i].0), Some(Op::Write { .. })) {
                    continue;
                }
                let kept: BTreeSet<usize> = unsynced[..keep].iter().copied().collect();
                let mut files = Files::default();
                for i in 0..cut {
                    if kept.contains(&i) || !unsynced.contains(&i) {
                        files.apply(&record.ops[i].0, zeros && Some(i) == last);
                    }
                }
                if !seen.insert(files.clone()) {
                    continue;
                }
                states += 1;
                let _ = std::fs::remove_dir_all(check_dir);
                std::fs::create_dir(check_dir).unwrap();
                files.write_to(check_dir);
                if let Some(v) = check(check_dir, &said) {
                    violations.push(format!(
                        "cut {cut}, {keep} of {} unsynced kept, zeros {zeros}: {v}",
                        unsynced.len()
                    ));
                }
            }
        }
    }
    (states, violations)
}

/// What a fresh open of the files in `dir` finds, against what the child said before the
/// cut: `None` if it keeps the contract, else what is wrong.
fn check(dir: &Path, said: &[&String]) -> Option<String> {
    let config = Config {
        read_only: true,
        ..Default::default()
    };
    let db = match MicroKV::open_with(dir.join("store.kv"), Credential::key(KEY), config) {
        Ok(db) => db,
        Err(Error::NotFound) if !said.iter().any(|s| *s == "ack open") => return None,
        Err(e) => return Some(format!("does not open: {e:?}")),
    };
    for s in said {
        let (word, key) = s.split_once(' ').unwrap();
        if key == "open" || key == "save" {
            continue;
        }
        let found: Option<String> = match db.get(key) {
            Ok(found) => found,
            Err(e) => return Some(format!("{key}: {e:?}")),
        };
        match word {
            "ack" if found.as_deref() != Some(value(key).as_str()) => {
                return Some(format!("{key} acknowledged, lost"));
            }
            "err" if found.is_some() => return Some(format!("{key} returned Err, is there")),
            _ => {}
        }
    }
    // Nothing there but what was written.
    for key in db.keys().unwrap() {
        if db.get::<String>(&key).unwrap().as_deref() != Some(value(&key).as_str()) {
            return Some(format!("{key} holds what nobody wrote"));
        }
    }
    None
}
