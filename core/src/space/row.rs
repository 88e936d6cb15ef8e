//! One row of a v2 directory (docs/FORMAT.md, "Directories"), read in place.
#![forbid(unsafe_code)]

/// Bytes of a directory row without an expiry, and of the expiry.
pub(crate) const DIR_ENTRY_LEN: usize = 24;
pub(crate) const EXPIRY_LEN: usize = 8;
/// The expiry field's "no expiry".
pub(crate) const NO_EXPIRY: u64 = u64::MAX;
/// Bytes of a value's tag a directory pins.
pub(crate) const PIN_LEN: usize = 8;

/// One row of a directory: `hash u64 || check u32 || end u32 || pin [u8; 8] || (expiry
/// u64)`, 24 or 32 bytes.
#[derive(Clone, Copy)]
pub(super) struct Row<'a>(pub(super) &'a [u8]);

impl Row<'_> {
    fn u64_at(self, at: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[at..at + 8]);
        u64::from_le_bytes(b)
    }

    fn u32_at(self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[at..at + 4]);
        u32::from_le_bytes(b)
    }

    pub(super) fn hash(self) -> u64 {
        self.u64_at(0)
    }

    pub(super) fn check(self) -> u32 {
        self.u32_at(8)
    }

    pub(super) fn end(self) -> usize {
        self.u32_at(12) as usize
    }

    pub(super) fn pin(&self) -> &[u8] {
        &self.0[16..16 + PIN_LEN]
    }

    pub(super) fn expiry(self) -> Option<u64> {
        let at = (self.0.len() > DIR_ENTRY_LEN).then(|| self.u64_at(DIR_ENTRY_LEN))?;
        (at != NO_EXPIRY).then_some(at)
    }
}
