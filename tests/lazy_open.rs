//! An open of a store file reads its header, toc and directories, and a get the records
//! of its group of entries (docs/DECISIONS.md, 41): measured by the bytes this process
//! reads (`/proc/self/io`), with a control that the counter sees a whole-file read. A file
//! cut short under the open handle (a write into it, which no save of ours does) gives
//! typed errors, never a crash (Linux: the counter is `/proc`'s). A save over a store
//! opened so keeps every entry: on every OS (Windows reads the whole file, DECISIONS 41).

use microkv::{AutoSave, Config, Credential, MicroKV};

/// The bytes this process has read through `read`-like calls.
#[cfg(target_os = "linux")]
fn rchar() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    let line = io.lines().find(|l| l.starts_with("rchar:")).unwrap();
    line["rchar:".len()..].trim().parse().unwrap()
}

fn config() -> Config {
    Config {
        autosave: AutoSave::Manual,
        ..Config::default()
    }
}

#[cfg(target_os = "linux")]
const N: usize = 10_000;

/// Held by each test: the byte counter is the process's, so the tests take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn key(i: usize) -> String {
    format!("k{i:07}")
}

/// A new store in a new directory of `n` entries, `key(i)` = `value(i)`, under the raw
/// key `[byte; 32]`, saved; the directory and the store's path.
fn saved<V: serde::Serialize>(
    byte: u8,
    n: usize,
    value: impl Fn(usize) -> V,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.kv");
    let db = MicroKV::create_new_with(&path, Credential::key([byte; 32]), config()).unwrap();
    for i in 0..n {
        db.put(&key(i), &value(i)).unwrap();
    }
    db.save().unwrap();
    drop(db);
    (dir, path)
}

#[cfg(target_os = "linux")]
#[test]
fn an_open_reads_a_fifth_of_the_file_and_a_cut_file_gives_typed_errors() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, path) = saved(7, N, |i| format!("{i:064}"));
    let credential = || Credential::key([7; 32]);
    let len = std::fs::metadata(&path).unwrap().len();

    // Control: the counter sees a read of the whole file.
    let before = rchar();
    assert_eq!(std::fs::read(&path).unwrap().len() as u64, len);
    assert!(rchar() - before >= len);

    let before = rchar();
    let db = MicroKV::open_existing_with(&path, credential(), config()).unwrap();
    let at_open = rchar() - before;
    assert_eq!(
        db.get::<String>(&key(5)).unwrap(),
        Some(format!("{:064}", 5))
    );
    let first_get = rchar() - before - at_open;
    // Rows of 24 bytes against about 118 bytes an entry in the file.
    assert!(at_open * 4 < len, "{at_open} of {len} bytes read at open");
    assert!(
        first_get > 0 && first_get < 16 * 1024,
        "{first_get} bytes read by a get"
    );

    // Cut short under the handle: the group read before still reads, the others fail
    // with `Tampered`, and so does a save (which copies every record).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    assert_eq!(
        db.get::<String>(&key(5)).unwrap(),
        Some(format!("{:064}", 5))
    );
    let (mut read, mut cut) = (0, 0);
    for i in 0..N {
        match db.get::<String>(&key(i)) {
            Ok(v) => {
                assert_eq!(v, Some(format!("{i:064}")));
                read += 1;
            }
            Err(microkv::Error::Tampered) => cut += 1,
            Err(e) => panic!("{i}: {e:?}"),
        }
    }
    // The records before the cut read, those after it do not.
    assert!(read > 0 && cut > 0, "{read} read, {cut} cut");
    db.put("new", &1u8).unwrap();
    assert!(matches!(db.save(), Err(microkv::Error::Tampered)));
    drop(db);
}

#[test]
fn a_save_over_a_lazily_opened_store_keeps_every_entry() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, path) = saved(8, 1000, |i| i);
    let credential = || Credential::key([8; 32]);
    // Opened (nothing read but the directories), changed, saved: the save reads every
    // group it has not read yet.
    let db = MicroKV::open_existing_with(&path, credential(), config()).unwrap();
    db.put(&key(3), &3_000usize).unwrap();
    db.remove(&key(4)).unwrap();
    db.save().unwrap();
    drop(db);
    let db = MicroKV::open_existing_with(&path, credential(), config()).unwrap();
    assert_eq!(db.len().unwrap(), 999);
    for i in (0..1000).filter(|&i| i != 4) {
        let expected = if i == 3 { 3_000 } else { i };
        assert_eq!(db.get::<usize>(&key(i)).unwrap(), Some(expected), "{i}");
    }
    assert_eq!(db.get::<usize>(&key(4)).unwrap(), None);
}
