//! The names block of a v2 file's namespace: opened into the arena by the first call that
//! lists names, checked, and kept.
#![forbid(unsafe_code)]

use super::Indexed;
use crate::arena::SecretBuf;
use crate::crypto::TAG_LEN;
use crate::error::{corrupt, Result};
use crate::space::record::prefixed;

impl Indexed {
    /// The names block, opened into the arena on first use and kept, and checked:
    /// `count` names, each UTF-8, and nothing after them. A block that does not open is
    /// `Tampered` (at every call: nothing is kept of it).
    pub(super) fn names(&self) -> Result<&[u8]> {
        if let Some(buf) = self.names.get() {
            return Ok(buf);
        }
        let opened = self.open_names()?;
        // Two threads may both open it: the first one's is kept, the other wiped.
        Ok(self.names.call_once(|| opened))
    }

    fn open_names(&self) -> Result<SecretBuf> {
        let names = self.layout.names.clone();
        let len = (names.len().checked_sub(TAG_LEN))
            .ok_or_else(|| corrupt("names block out of the file"))?;
        let mut buf = self.file.arena.alloc(len)?;
        let mut tag = [0u8; TAG_LEN];
        match &self.file.lazy {
            Some(file) => {
                file.read_exact_at(names.start as u64, &mut buf)?;
                file.read_exact_at((names.start + len) as u64, &mut tag)?;
            }
            None => {
                let sealed = (self.file.bytes.get(names))
                    .ok_or_else(|| corrupt("names block out of the file"))?;
                buf.copy_from_slice(&sealed[..len]);
                tag.copy_from_slice(&sealed[len..]);
            }
        }
        (self.file.keyring).open_in_place(&self.layout.names_nonce, &[], &mut buf, &tag)?;
        let mut at = 0;
        for _ in 0..self.layout.count {
            let name = prefixed(&buf, &mut at).ok_or_else(|| corrupt("names block: short"))?;
            core::str::from_utf8(name).map_err(|_| corrupt("names block: not UTF-8"))?;
        }
        match at == buf.len() {
            true => Ok(buf),
            false => Err(corrupt("names block: trailing bytes")),
        }
    }
}
