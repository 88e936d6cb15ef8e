//! [`SecretBytes`]: a decrypted value the caller can hold without it leaving the arena;
//! [`Secret`] and [`SecretString`], microkv 0.3's wrappers.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;

use crate::arena::{Arena, SecretBuf};
use crate::codec::{self, ValueEncoding};
use crate::error::Result;

/// A password held in memory that is zeroized when dropped (as in microkv 0.3:
/// `zeroize::Zeroizing<String>`, which derefs to `String`).
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{Credential, SecretString};
/// let password = SecretString::new(String::from("p@ssw0rd"));
/// let credential = Credential::password(password.as_str());
/// # drop(credential);
/// ```
pub type SecretString = zeroize::Zeroizing<String>;

/// A decrypted value marked as sensitive, returned by [`crate::Tree::get_secret`].
///
/// Its `Debug` prints no value, so it does not leak into logs; the plaintext it was
/// decoded from stayed in the locked arena and was wiped. The `V` itself lives where any
/// value of its type lives (a `String`'s bytes on the heap): to keep the bytes in locked
/// memory, use [`crate::Tree::get_secret_bytes`].
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{Credential, Store};
/// let db = Store::in_memory(Credential::key([4; 32]))?;
/// db.put("pin", &1234u32)?;
/// let pin = db.get_secret::<u32>("pin")?.expect("present");
/// assert_eq!(*pin.expose(), 1234);
/// assert_eq!(format!("{pin:?}"), "Secret(<redacted>)");
/// assert_eq!(pin.into_inner(), 1234);
/// # Ok::<(), microkv::Error>(())
/// ```
pub struct Secret<V>(V);

impl<V> Secret<V> {
    pub(crate) fn new(value: V) -> Self {
        Secret(value)
    }

    /// The value.
    pub fn expose(&self) -> &V {
        &self.0
    }

    /// The value, unwrapped: from here on it is the caller's to protect.
    pub fn into_inner(self) -> V {
        self.0
    }
}

impl<V> fmt::Debug for Secret<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The bytes of a stored value (one stored as a string or a byte sequence), held in the
/// store's locked arena and wiped when dropped.
///
/// It has no `Clone` and no `Display`, and its `Debug` prints only the length, so the
/// bytes leave the arena only where the caller copies them out of
/// [`SecretBytes::expose_secret`]. It keeps the store's arena alive while it exists.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{Credential, Store};
/// let db = Store::in_memory(Credential::key([2; 32]))?;
/// db.put("api-token", "s3cr3t")?;
/// let token = db.get_secret_bytes("api-token")?.expect("present");
/// assert_eq!(token.expose_secret(), b"s3cr3t");
/// assert_eq!(format!("{token:?}"), "SecretBytes(<redacted, 6 bytes>)");
/// # Ok::<(), microkv::Error>(())
/// ```
pub struct SecretBytes {
    buf: SecretBuf,
    start: usize,
}

impl SecretBytes {
    /// Takes the decrypted plaintext of a value serialized as bytes or a string (a
    /// header, then the bytes), and keeps it in place; a MessagePack array of bytes (a
    /// `Vec<u8>`) is copied out into a new arena buffer.
    pub(crate) fn from_plaintext(
        arena: &Arc<Arena>,
        encoding: ValueEncoding,
        buf: SecretBuf,
    ) -> Result<Self> {
        match codec::bytes_start(encoding, &buf)? {
            Some(start) => Ok(SecretBytes { buf, start }),
            None => Ok(SecretBytes {
                buf: codec::unpack_byte_array(arena, &buf)?,
                start: 0,
            }),
        }
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
