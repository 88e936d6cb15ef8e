//! A scanner of this process's own memory (`/proc/self/mem`, every mapping, PROT_NONE ones
//! included) for 16-byte pieces of registered secrets, shared by the memory-exposure
//! tests (`#[path = "support/self_scan.rs"] mod self_scan;`). It never allocates once a
//! secret exists: its buffers, files and tables are made first, so it cannot reuse (and
//! overwrite) a freed block it is looking into. Secrets are registered only as masked
//! pieces, so its tables never match themselves.
#![allow(dead_code)] // not every test binary that includes this file uses every helper

use std::fs::File;
use std::os::unix::fs::FileExt;

pub const PIECE: usize = 16;
const CHUNK: usize = 1 << 20;
const FILTER_BITS: u32 = 20;

#[derive(Clone, Copy, Default)]
struct Mapping {
    start: u64,
    end: u64,
    locked_and_undumpable: bool,
    skip: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// In ordinary memory: a failure.
    pub exposed: usize,
    /// In mappings that are both `lo` and `dd`.
    pub locked: usize,
    /// In this thread's stack below the scanner's frame.
    pub dead_stack: usize,
}

pub struct Scanner {
    mem: File,
    smaps: File,
    buf: Vec<u8>,
    smaps_text: Vec<u8>,
    maps: Vec<Mapping>,
    mask: [u8; PIECE],
    /// (masked first half, masked second half, secret id), sorted.
    pieces: Vec<(u64, u64, usize)>,
    filter: Vec<u64>,
    counts: Vec<Counts>,
}

fn halves(bytes: &[u8]) -> (u64, u64) {
    (
        u64::from_le_bytes(bytes[..8].try_into().unwrap()),
        u64::from_le_bytes(bytes[8..16].try_into().unwrap()),
    )
}

fn filter_slot(lo: u64) -> usize {
    (lo.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - FILTER_BITS)) as usize
}

impl Scanner {
    pub fn new(secrets: usize) -> Self {
        let mut mask = [0u8; PIECE];
        getrandom::fill(&mut mask).unwrap();
        Scanner {
            mem: File::open("/proc/self/mem").unwrap(),
            smaps: File::open("/proc/self/smaps").unwrap(),
            buf: vec![0; CHUNK + PIECE],
            smaps_text: vec![0; 64 << 20],
            maps: Vec::with_capacity(16_384),
            mask,
            pieces: Vec::with_capacity(64 * 1024),
            filter: vec![0; 1 << (FILTER_BITS - 6)],
            counts: vec![Counts::default(); secrets],
        }
    }

    /// Registers every 16-byte piece of `secret`, masked.
    pub fn register(&mut self, id: usize, secret: &[u8]) {
        assert!(self.pieces.len() + secret.len() < self.pieces.capacity());
        for window in secret.windows(PIECE) {
            let mut masked = [0u8; PIECE];
            for (m, (w, k)) in masked.iter_mut().zip(window.iter().zip(self.mask)) {
                *m = w ^ k;
            }
            let (lo, hi) = halves(&masked);
            self.filter[filter_slot(lo) / 64] |= 1 << (filter_slot(lo) % 64);
            self.pieces.push((lo, hi, id));
        }
        self.pieces.sort_unstable();
    }

    fn read_smaps(&mut self) {
        let mut len = 0;
        loop {
            assert!(
                len < self.smaps_text.len(),
                "smaps larger than the scanner's buffer"
            );
            let n = self
                .smaps
                .read_at(&mut self.smaps_text[len..], len as u64)
                .unwrap();
            if n == 0 {
                break;
            }
            len += n;
        }
        self.maps.clear();
        for line in self.smaps_text[..len].split(|&b| b == b'\n') {
            let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
            let Some(first) = fields.next() else { continue };
            if let Some(dash) = first.iter().position(|&b| b == b'-') {
                let hex = |s: &[u8]| u64::from_str_radix(std::str::from_utf8(s).unwrap(), 16);
                if let (Ok(start), Ok(end)) = (hex(&first[..dash]), hex(&first[dash + 1..])) {
                    let name = fields.nth(4).unwrap_or(b"");
                    let skip = name.starts_with(b"[vvar") || name == b"[vsyscall]";
                    assert!(self.maps.len() < self.maps.capacity());
                    self.maps.push(Mapping {
                        start,
                        end,
                        locked_and_undumpable: false,
                        skip,
                    });
                    continue;
                }
            }
            if first == b"VmFlags:" {
                let flags: Vec<&[u8]> = fields.collect();
                if let Some(m) = self.maps.last_mut() {
                    m.locked_and_undumpable =
                        flags.contains(&&b"lo"[..]) && flags.contains(&&b"dd"[..]);
                }
            }
        }
    }

    /// Scans every mapping; returns the counts per secret id.
    #[inline(never)]
    pub fn scan(&mut self) -> Vec<Counts> {
        let marker = 0u8;
        let sp = std::hint::black_box(&marker) as *const u8 as u64;
        self.read_smaps();
        for c in self.counts.iter_mut() {
            *c = Counts::default();
        }
        for index in 0..self.maps.len() {
            let m = self.maps[index];
            if m.skip {
                continue;
            }
            let mut addr = m.start;
            while addr < m.end {
                let want = (m.end - addr).min((CHUNK + PIECE) as u64) as usize;
                if let Ok(n) = self.mem.read_at(&mut self.buf[..want], addr) {
                    self.scan_chunk(n, addr, &m, sp);
                }
                self.buf.fill(0);
                addr += CHUNK as u64;
            }
        }
        self.counts.clone()
    }

    fn scan_chunk(&mut self, n: usize, base: u64, m: &Mapping, sp: u64) {
        if n < PIECE {
            return;
        }
        let (mask_lo, mask_hi) = halves(&self.mask);
        let mut page = 0;
        while page < n - PIECE + 1 {
            let page_end = (page + 4096).min(n - PIECE + 1);
            if self.buf[page..page_end].iter().all(|&b| b == 0) {
                page = page_end;
                continue;
            }
            for i in page..page_end {
                let (lo, hi) = halves(&self.buf[i..i + PIECE]);
                let (lo, hi) = (lo ^ mask_lo, hi ^ mask_hi);
                let slot = filter_slot(lo);
                if self.filter[slot / 64] & (1 << (slot % 64)) == 0 {
                    continue;
                }
                let first = self.pieces.partition_point(|p| (p.0, p.1) < (lo, hi));
                for p in self.pieces[first..]
                    .iter()
                    .take_while(|p| (p.0, p.1) == (lo, hi))
                {
                    let addr = base + i as u64;
                    let c = &mut self.counts[p.2];
                    if m.start <= sp && sp < m.end && addr < sp {
                        c.dead_stack += 1;
                    } else if m.locked_and_undumpable {
                        c.locked += 1;
                    } else {
                        c.exposed += 1;
                    }
                }
            }
            page = page_end;
        }
    }
}

pub fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).unwrap();
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}
