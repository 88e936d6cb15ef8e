//! [`SecretBytes`]: a decrypted value the caller can hold without it leaving the arena.
#![forbid(unsafe_code)]

use core::fmt;

use crate::arena::SecretBuf;
use crate::error::{Error, Result};

/// The bytes of a stored value (one stored as a string or a byte sequence), held in the
/// store's locked arena and wiped when dropped.
///
/// It has no `Clone` and no `Display`, and its `Debug` prints only the length, so the
/// bytes leave the arena only where the caller copies them out of
/// [`SecretBytes::expose_secret`]. It keeps the store's arena alive while it exists.
///
/// ```
/// use microkv_core::{Credential, Store};
/// let db = Store::in_memory(Credential::key([2; 32]))?;
/// db.put("api-token", "s3cr3t")?;
/// let token = db.get_secret("api-token")?.expect("present");
/// assert_eq!(token.expose_secret(), b"s3cr3t");
/// assert_eq!(format!("{token:?}"), "SecretBytes(<redacted, 6 bytes>)");
/// # Ok::<(), microkv_core::Error>(())
/// ```
pub struct SecretBytes {
    buf: SecretBuf,
    start: usize,
}

impl SecretBytes {
    /// Takes the decrypted plaintext of a value serialized as bytes or a string (a
    /// length prefix, then the bytes), and keeps it in place.
    pub(crate) fn from_plaintext(buf: SecretBuf) -> Result<Self> {
        let not_bytes = || Error::Serialization("stored value is not bytes or a string".into());
        let start = match postcard::take_from_bytes::<&[u8]>(&buf) {
            Ok((bytes, [])) => bytes.as_ptr() as usize - buf.as_ptr() as usize,
            _ => return Err(not_bytes()),
        };
        Ok(SecretBytes { buf, start })
    }

    /// The secret bytes. Copies made from this slice are the caller's to protect.
    ///
    /// They live in the arena, which may be secret memory that the kernel cannot read:
    /// copy them into a buffer of your own before handing them to a system call (`write`
    /// to a socket or file fails with `EFAULT` otherwise). Empty in a child process forked
    /// from the one that read them: there the arena is not the child's to read.
    pub fn expose_secret(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.expose_secret().len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted, {} bytes>)", self.len())
    }
}
