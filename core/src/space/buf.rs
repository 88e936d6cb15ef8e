//! Bytes that never move and never leave a copy behind: a write log's buffer, kept in
//! chunks that double in size, each allocated once at its full size and written in place.
//!
//! A buffer that grew by moving to one twice as large copied every byte it held at each
//! step, faulted in the fresh pages for the copy, wiped the old ones and let them go: a
//! fill of 10k x 4 KiB values spent half its time in page faults and copies (11.8 us a
//! put, where sealing the value takes 1.5). Chunks are written once, where they lie.
//!
//! An offset is a place in the chunks laid end to end: chunk `k` (of `first << k` bytes)
//! starts at `first * (2^k - 1)`, so the chunk of an offset is a shift and a leading-zero
//! count away. A record never straddles two chunks: one that does not fit in the rest of
//! the last chunk starts the next (or the first one large enough), and the bytes skipped
//! are counted dead by the caller, as an overwritten record's are.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use zeroize::Zeroize;

/// The smallest first chunk: a page.
const FIRST_MIN: usize = 4096;

/// Bytes in chunks that never move (see the module), wiped when dropped.
#[derive(Default)]
pub(super) struct Buf {
    chunks: Vec<Vec<u8>>,
    /// The first chunk's size, a power of two (0 until the first write).
    first: usize,
    /// The offset past the last byte written.
    len: usize,
}

impl Buf {
    /// An empty buffer whose first chunk holds `n` bytes (or more).
    pub(super) fn with_capacity(n: usize) -> Buf {
        Buf {
            chunks: Vec::new(),
            first: first_for(n),
            len: 0,
        }
    }

    /// The offset past the last byte written (the bytes skipped at chunks' ends counted).
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The chunk that holds offset `at`, and where `at` lies in it (an empty chunk if no
    /// byte was written there).
    #[inline]
    pub(super) fn chunk_at(&self, at: usize) -> (&[u8], usize) {
        let (k, inner) = self.place(at);
        (self.chunks.get(k).map_or(&[][..], |c| c.as_slice()), inner)
    }

    /// The byte at `at`, if one was written there.
    #[inline]
    pub(super) fn byte(&self, at: usize) -> Option<u8> {
        let (chunk, inner) = self.chunk_at(at);
        chunk.get(inner).copied()
    }

    /// Every chunk's bytes, in order, with the offset each starts at.
    pub(super) fn chunks(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        (self.chunks.iter().enumerate()).map(|(k, c)| (self.start(k), c.as_slice()))
    }

    /// Appends `head` then `body` as one record, in one chunk; returns the offset it starts
    /// at and how many bytes were skipped to start it there (at the last chunk's end).
    pub(super) fn push(&mut self, head: &[u8], body: &[u8]) -> (usize, usize) {
        let n = head.len() + body.len();
        let skipped = self.make_room(n);
        let at = self.len;
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.extend_from_slice(head);
            chunk.extend_from_slice(body);
        }
        self.len += n;
        (at, skipped)
    }

    /// Room for `n` more bytes in the last chunk (the next one large enough allocated at
    /// its full size if need be, so that no write ever reallocates one); returns the bytes
    /// skipped at the last chunk's end.
    fn make_room(&mut self, n: usize) -> usize {
        if self.first == 0 {
            self.first = first_for(n);
        }
        let (mut k, inner) = self.place(self.len);
        if k < self.chunks.len() {
            if inner + n <= self.size(k) {
                return 0;
            }
            k += 1;
        }
        while self.size(k) < n {
            k += 1;
        }
        let start = self.start(k);
        let skipped = start - self.len;
        self.chunks.resize_with(k, Vec::new);
        self.chunks.push(Vec::with_capacity(self.size(k)));
        self.len = start;
        skipped
    }

    /// The size of chunk `k`.
    #[inline]
    fn size(&self, k: usize) -> usize {
        to_usize((self.first as u64) << k)
    }

    /// The offset chunk `k` starts at.
    #[inline]
    fn start(&self, k: usize) -> usize {
        to_usize(((self.first as u64) << k) - self.first as u64)
    }

    /// The chunk of offset `at` and where `at` lies in it.
    #[inline]
    fn place(&self, at: usize) -> (usize, usize) {
        let Some(shift) = (self.first != 0).then(|| self.first.trailing_zeros()) else {
            return (0, at);
        };
        let q = ((at as u64) >> shift) + 1;
        let k = (63 - q.leading_zeros()) as usize;
        (k, at - self.start(k))
    }
}

/// The first chunk's size for a first write (or a capacity) of `n` bytes.
fn first_for(n: usize) -> usize {
    n.max(FIRST_MIN).checked_next_power_of_two().unwrap_or(n)
}

/// `n`, or `usize::MAX` where it does not fit (a 32-bit target's chunk past 2 GiB, which no
/// allocation gets).
fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl Drop for Buf {
    fn drop(&mut self) {
        // Only the bytes written hold anything: a chunk's spare room was never written,
        // and wiping it would fault in pages that were never touched.
        for chunk in &mut self.chunks {
            chunk.as_mut_slice().zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Buf;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Records of every size land whole in one chunk, at offsets that find them again,
    /// and the bytes skipped are the gaps between them.
    #[test]
    fn records_land_whole_and_are_found_at_their_offsets() {
        let mut buf = Buf::default();
        let mut placed = Vec::new();
        let mut skipped_total = 0;
        let mut written = 0;
        for i in 0..400usize {
            let len = (i * 37) % 700 + (i % 50 == 0) as usize * 5000;
            let body: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            let (at, skipped) = buf.push(&[i as u8], &body);
            skipped_total += skipped;
            written += 1 + len;
            placed.push((at, i as u8, body));
        }
        assert_eq!(buf.len(), written + skipped_total);
        assert!(skipped_total > 0, "some records skip to a new chunk");
        for (at, head, body) in &placed {
            let (chunk, inner) = buf.chunk_at(*at);
            assert_eq!(chunk.get(inner), Some(head));
            assert_eq!(
                chunk.get(inner + 1..inner + 1 + body.len()),
                Some(&body[..])
            );
            assert_eq!(buf.byte(*at), Some(*head));
        }
        let held: usize = buf.chunks().map(|(_, c)| c.len()).sum();
        assert_eq!(held, written);
        for (start, _) in buf.chunks() {
            assert_eq!(buf.chunk_at(start).1, 0);
        }
        for (k, chunk) in buf.chunks.iter().enumerate() {
            assert!(
                chunk.len() <= buf.size(k),
                "chunk {k} holds more than its size"
            );
        }
    }

    /// No chunk is ever reallocated (moved, leaving its bytes behind): each keeps the
    /// allocation it was made with.
    #[test]
    fn chunks_never_move() {
        let mut buf = Buf::with_capacity(300);
        let mut first_places = Vec::new();
        for i in 0..2000usize {
            buf.push(&[1, 2, 3], &vec![i as u8; i % 97]);
            for (k, (_, chunk)) in buf.chunks().enumerate() {
                match first_places.get(k) {
                    Some(&p) => assert_eq!(p, chunk.as_ptr() as usize, "chunk {k} moved"),
                    None => first_places.push(chunk.as_ptr() as usize),
                }
            }
        }
        assert!(first_places.len() > 3);
    }
}
