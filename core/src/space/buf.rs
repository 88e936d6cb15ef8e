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

use super::spare;

/// The smallest first chunk: a page.
const FIRST_MIN: usize = 4096;

/// Bytes in chunks that never move (see the module), wiped when dropped (and the chunks
/// kept for the next log's, [`spare`]).
#[derive(Default)]
pub(super) struct Buf {
    chunks: Vec<Vec<u8>>,
    /// The first chunk's size, a power of two (0 until the first write).
    first: usize,
    /// The offset past the last byte written.
    len: usize,
}

impl Buf {
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
        if self.first == 0 {
            self.first = first_for(n);
        }
        let (k, at) = self.fit(self.len, n);
        let skipped = at - self.len;
        let chunk = self.chunk_mut(k);
        chunk.extend_from_slice(head);
        chunk.extend_from_slice(body);
        self.len = at + n;
        (at, skipped)
    }

    /// Writes `head` then `body` over the bytes at `at` (written before, in one chunk);
    /// nothing if they are not all there.
    pub(super) fn write_at(&mut self, at: usize, head: &[u8], body: &[u8]) {
        let (k, inner) = self.place(at);
        let n = head.len() + body.len();
        let Some(there) = (self.chunks.get_mut(k)).and_then(|c| c.get_mut(inner..inner + n)) else {
            return;
        };
        let (head_at, body_at) = there.split_at_mut(head.len());
        head_at.copy_from_slice(head);
        body_at.copy_from_slice(body);
    }

    /// Moves the records at `moves` (each an offset and a length; in the order they lie
    /// in, none overlapping another) down to lie back to back from the start, each whole
    /// in one chunk, and writes each one's new offset over its old one; the bytes after
    /// them are wiped, the chunks past them let go but one (kept for the writes to come,
    /// its pages faulted in already). Returns the bytes skipped at chunks' ends.
    ///
    /// Nothing is allocated and nothing moves to memory of its own: a log compacted by
    /// copying into a fresh buffer faulted in every page of the copy, and an overwrite of
    /// 4 KiB values spent most of its time there (12 us where sealing takes 2).
    pub(super) fn pack(&mut self, moves: &mut [(usize, usize)]) -> usize {
        // Each record lands at or before where it lies (the cursor is never past it, and
        // its own chunk is large enough for it), so it overwrites only bytes already moved
        // or dead.
        let (mut cursor, mut skipped) = (0, 0);
        let mut ends: Vec<usize> = Vec::new();
        for (at, len) in moves.iter_mut() {
            let (k, to) = self.fit(cursor, *len);
            let (from_k, from) = self.place(*at);
            let inner = to - self.start(k);
            let into = self.chunk_mut(k);
            if into.len() < inner + *len {
                into.resize(inner + *len, 0);
            }
            if k == from_k {
                into.copy_within(from..from + *len, inner);
            } else {
                let (before, after) = self.chunks.split_at_mut(from_k);
                let src = after.first().and_then(|c| c.get(from..from + *len));
                let into = before
                    .get_mut(k)
                    .and_then(|c| c.get_mut(inner..inner + *len));
                if let (Some(into), Some(src)) = (into, src) {
                    into.copy_from_slice(src);
                }
            }
            ends.resize(ends.len().max(k + 1), 0);
            ends[k] = inner + *len;
            skipped += to - cursor;
            (cursor, *at) = (to + *len, to);
        }
        // The old bytes after each chunk's last record, and the chunks no record is in.
        for (k, chunk) in self.chunks.iter_mut().enumerate() {
            let end = ends.get(k).copied().unwrap_or(0);
            chunk.get_mut(end..).map(Zeroize::zeroize);
            chunk.truncate(end);
        }
        let kept = (ends.len() + 1).min(self.chunks.len());
        self.chunks.drain(kept..).for_each(spare::give);
        self.len = cursor;
        skipped
    }

    /// The chunk and the offset a record of `n` bytes written at `at` or after lands at:
    /// `at` if it fits in the rest of its chunk, else the start of the next one large
    /// enough.
    fn fit(&self, at: usize, n: usize) -> (usize, usize) {
        let (mut k, inner) = self.place(at);
        if inner + n <= self.size(k) {
            return (k, at);
        }
        k += 1;
        while self.size(k) < n {
            k += 1;
        }
        (k, self.start(k))
    }

    /// Chunk `k`, allocated at its full size if it was not (or was let go), so that no
    /// write into it ever reallocates it.
    fn chunk_mut(&mut self, k: usize) -> &mut Vec<u8> {
        if self.chunks.len() <= k {
            self.chunks.resize_with(k + 1, Vec::new);
        }
        let size = self.size(k);
        let chunk = &mut self.chunks[k];
        if chunk.capacity() < size {
            // Only a chunk never written is short of its size: nothing is left behind.
            match spare::take(size) {
                Some(kept) => *chunk = kept,
                None => chunk.reserve_exact(size),
            }
        }
        chunk
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
        for mut chunk in self.chunks.drain(..) {
            chunk.as_mut_slice().zeroize();
            spare::give(chunk);
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
        let mut buf = Buf::default();
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

    /// A pack keeps every record it is given, whole and in order, back to back but for
    /// the chunks' ends; nothing of the records it drops is left in the chunks (the bytes
    /// past each chunk's last record are gone), and it never moves a chunk.
    #[test]
    fn pack_keeps_the_records_given_and_nothing_else() {
        let mut buf = Buf::default();
        let mut placed = Vec::new();
        for i in 0..600usize {
            let len = (i * 53) % 900 + (i % 70 == 0) as usize * 6000;
            let body = vec![0x80 | (i % 100) as u8; len];
            let (at, _) = buf.push(&[(i % 100) as u8], &body);
            placed.push((at, 1 + len, i));
        }
        let before: Vec<usize> = buf.chunks.iter().map(|c| c.as_ptr() as usize).collect();
        let kept: Vec<_> = placed.iter().filter(|p| p.2 % 3 == 1).copied().collect();
        let mut moves: Vec<(usize, usize)> = kept.iter().map(|&(at, n, _)| (at, n)).collect();
        let skipped = buf.pack(&mut moves);
        let total: usize = kept.iter().map(|p| p.1).sum();
        assert_eq!(buf.len(), total + skipped);
        let held: usize = buf.chunks().map(|(_, c)| c.len()).sum();
        assert_eq!(
            held, total,
            "the chunks hold the records kept and nothing else"
        );
        for (&(at, n), &(_, _, i)) in moves.iter().zip(&kept) {
            let (chunk, inner) = buf.chunk_at(at);
            assert_eq!(chunk.get(inner), Some(&((i % 100) as u8)), "record {i}");
            assert!(chunk[inner + 1..inner + n]
                .iter()
                .all(|&b| b == 0x80 | (i % 100) as u8));
        }
        assert!(moves.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0));
        for (k, chunk) in buf.chunks.iter().enumerate() {
            assert_eq!(chunk.as_ptr() as usize, before[k], "chunk {k} moved");
        }
        assert!(
            buf.chunks.len() < before.len(),
            "the chunks past the records let go"
        );
        // Writes go on after the records kept, and a second pack of none empties it.
        let (at, _) = buf.push(&[7], &[7; 10]);
        assert_eq!(buf.byte(at), Some(7));
        assert_eq!(buf.pack(&mut []), 0);
        assert_eq!(
            (buf.len(), buf.chunks().map(|(_, c)| c.len()).sum::<usize>()),
            (0, 0)
        );
    }
}
