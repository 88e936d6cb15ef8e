//! No copy of a value in microkv's own dead frames after a typed read: `get`, `prefix` and
//! `for_each` of a fixed-size type (`Zeroizing<[u8; 32]>`, which wipes where it ends up, but
//! not the frames it was moved through: the decoder's, the read's, the closure's). Each
//! read runs 8 KiB below the test's frame (so the scanner's own frames cannot overwrite
//! what it left), the values drop, and the stack below the reading closure's frame (where
//! only the store's frames ran: the closure's own temporaries are the caller's to mind) is
//! read through `/proc/self/mem` for any 16-byte half of any value.
//!
//! Control: a function at the same depth that copies a value into a local array of its own
//! and returns leaves it there, and the scan finds it. On main before issue 24 the reads
//! themselves left copies (release: found 0.8-1.2 KiB below the caller).
#![cfg(target_os = "linux")]

use std::fs::File;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;

use microkv::{Credential, MicroKV};
use zeroize::Zeroizing;

const VALUES: usize = 4;
/// How far below the test's frame the reads run.
const DEPTH: usize = 8;
/// The stack read: from this far below the test's frame...
const SCAN_FROM: usize = 6 * 1024;
/// ...to this far.
const SCAN_TO: usize = 256 * 1024;

type Value = Zeroizing<[u8; 32]>;

/// Runs `f` `n` KiB below the caller's frame; returns what `f` returned: the address below
/// which only the calls it made ran.
#[inline(never)]
fn at_depth(n: usize, f: &mut dyn FnMut() -> usize) -> usize {
    let mut pad = [0u8; 1024];
    std::hint::black_box(&mut pad);
    let below = if n == 0 { f() } else { at_depth(n - 1, f) };
    std::hint::black_box(&mut pad);
    below
}

/// The address of a local of the caller's frame (the stack top as far as the scan goes).
#[inline(never)]
fn frame_address() -> usize {
    let here = 0u8;
    std::hint::black_box(&here) as *const u8 as usize
}

/// Which values have a 16-byte half in the dead stack from `SCAN_TO` below `top` up to
/// `below` (and at most to `SCAN_FROM` below `top`). `buf` is allocated before, so the scan
/// allocates nothing.
fn found_below(top: usize, below: usize, values: &[[u8; 32]], mem: &File, buf: &mut [u8]) -> usize {
    let start = top - SCAN_TO;
    let end = below.min(top - SCAN_FROM);
    let buf = &mut buf[..end - start];
    mem.read_exact_at(buf, start as u64)
        .expect("read the stack");
    values
        .iter()
        .filter(|v| v.chunks(16).any(|half| buf.windows(16).any(|w| w == half)))
        .count()
}

#[inline(never)]
fn plant(value: &[u8; 32]) {
    let mut copy = [0u8; 32];
    copy.copy_from_slice(value);
    std::hint::black_box(&mut copy);
}

#[test]
fn typed_reads_leave_no_value_in_dead_frames() {
    let db = MicroKV::in_memory(Credential::key([9; 32])).unwrap();
    let mut values = Vec::new();
    for i in 0..VALUES {
        let mut v = [0u8; 32];
        getrandom::fill(&mut v).unwrap();
        db.put(&format!("k{i}"), &v).unwrap();
        values.push(v);
    }
    let mem = File::open("/proc/self/mem").unwrap();
    let mut buf = vec![0u8; SCAN_TO - SCAN_FROM];
    let top = frame_address();
    let mut failures = Vec::new();
    // Scans below the frame a read returned (`below`) for the values.
    let mut check = |read: &str, below: usize| {
        let n = found_below(top, below, &values, &mem, &mut buf);
        if n > 0 {
            failures.push(format!("{read}: {n} values"));
        }
    };

    check(
        "get",
        at_depth(DEPTH, &mut || {
            let below = frame_address();
            let got = db.get::<Value>("k0").unwrap().unwrap();
            assert_eq!(*got, values[0]);
            below
        }),
    );
    check(
        "prefix",
        at_depth(DEPTH, &mut || {
            let below = frame_address();
            let all = db.prefix::<Value>("k").unwrap();
            assert_eq!(all.len(), VALUES);
            below
        }),
    );
    check(
        "for_each",
        at_depth(DEPTH, &mut || {
            let below = frame_address();
            let mut seen = 0;
            db.for_each::<Value, _>(|_, v| {
                seen += usize::from(values.contains(&v));
                ControlFlow::Continue(())
            })
            .unwrap();
            assert_eq!(seen, VALUES);
            below
        }),
    );

    // Control: a copy left in a dead frame at the same depth is found.
    let below = at_depth(DEPTH, &mut || {
        let below = frame_address();
        plant(&values[1]);
        below
    });
    assert_eq!(
        found_below(top, below, &values[1..2], &mem, &mut buf),
        1,
        "control: a planted copy must be found"
    );
    assert!(failures.is_empty(), "values in dead frames: {failures:?}");
}
