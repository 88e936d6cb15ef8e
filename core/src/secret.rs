//! [`SecretBytes`]: a decrypted value the caller can hold without it leaving the arena;
//! [`Secret`], a decoded value wiped when dropped; [`SecretString`], microkv 0.3's
//! password wrapper, kept for its code.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;
use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroize;

use crate::arena::{Arena, SecretBuf};
use crate::codec;
use crate::error::Result;

/// microkv 0.3's password wrapper, `zeroize::Zeroizing<String>` (it derefs to `String`),
/// kept so that 0.3 code compiles.
///
/// It is not `secrecy::SecretString`, the ecosystem's type of that name: use that one
/// (re-exported as `microkv::secrecy::SecretString`). A [`crate::Credential`] is made
/// from it with `Credential::from(&secret)`, and `get_secret::<SecretString>` reads a
/// value as one.
///
/// ```
/// # #![allow(deprecated)]
/// # use microkv_core as microkv;
/// use microkv::{Credential, SecretString};
/// let password = SecretString::new(String::from("p@ssw0rd"));
/// let credential = Credential::password(password.as_str());
/// # drop(credential);
/// ```
#[deprecated(
    since = "0.4.0",
    note = "microkv 0.3's Zeroizing<String>; use secrecy::SecretString (microkv::secrecy::SecretString)"
)]
pub type SecretString = zeroize::Zeroizing<String>;

/// A decoded value, returned by [`crate::Tree::get_secret`], that is wiped
/// ([`Zeroize`]) when dropped and whose `Debug` prints nothing of it.
///
/// The plaintext it was decoded from stayed in the locked arena and was wiped; the `V`
/// itself lives where any value of its type lives (a `String`'s bytes on the heap), for
/// as long as the `Secret` does, and is wiped then. For a record of several fields,
/// derive `Zeroize` on it (`zeroize`'s `derive` feature). To keep the bytes of a string
/// in locked memory instead, use [`crate::Tree::get_secret_bytes`].
///
/// It implements `secrecy::ExposeSecret<V>`; `expose` is microkv 0.3's name for the same.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{Credential, Store};
/// use microkv::secrecy::ExposeSecret;
/// let db = Store::in_memory(Credential::key([4; 32]))?;
/// db.put("pin", &1234u32)?;
/// let pin = db.get_secret::<u32>("pin")?.expect("present");
/// assert_eq!(*pin.expose_secret(), 1234);
/// assert_eq!(format!("{pin:?}"), "Secret(<redacted>)");
/// assert_eq!(pin.into_inner(), 1234);
/// # Ok::<(), microkv::Error>(())
/// ```
pub struct Secret<V: Zeroize>(Option<V>);

impl<V: Zeroize> Secret<V> {
    pub(crate) fn new(value: V) -> Self {
        Secret(Some(value))
    }

    /// The value (microkv 0.3's name for [`ExposeSecret::expose_secret`]).
    pub fn expose(&self) -> &V {
        self.expose_secret()
    }

    /// The value, unwrapped and not wiped: from here on it is the caller's to protect.
    pub fn into_inner(mut self) -> V {
        self.0
            .take()
            .expect("a Secret holds its value until into_inner or drop")
    }
}

impl<V: Zeroize> ExposeSecret<V> for Secret<V> {
    fn expose_secret(&self) -> &V {
        self.0
            .as_ref()
            .expect("a Secret holds its value until into_inner or drop")
    }
}

impl<V: Zeroize> Drop for Secret<V> {
    fn drop(&mut self) {
        if let Some(value) = self.0.as_mut() {
            value.zeroize();
        }
    }
}

impl<V: Zeroize> fmt::Debug for Secret<V> {
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
    pub(crate) fn from_plaintext(arena: &Arc<Arena>, buf: SecretBuf) -> Result<Self> {
        match codec::bytes_start(&buf)? {
            Some(start) => Ok(SecretBytes { buf, start }),
            None => Ok(SecretBytes {
                buf: codec::unpack_byte_array(arena, &buf)?,
                start: 0,
            }),
        }
    }

    /// Keeps a whole decrypted plaintext as it is (a value's encoded bytes).
    pub(crate) fn whole(buf: SecretBuf) -> Self {
        SecretBytes { buf, start: 0 }
    }

    /// The secret bytes. Copies made from this slice are the caller's to protect.
    ///
    /// They live in the arena, which may be secret memory: system calls that copy them
    /// (`write` to a file, pipe or socket, `pwrite`, `send`) take them as they are; calls
    /// that pin pages (`O_DIRECT` writes, `vmsplice`, io_uring fixed buffers) fail with
    /// `EFAULT` and need a copy. Empty in a child process forked from the one that read
    /// them: there the arena is not the child's to read.
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

/// The bytes, as `secrecy` callers read them (the same slice as the inherent method).
impl ExposeSecret<[u8]> for SecretBytes {
    fn expose_secret(&self) -> &[u8] {
        SecretBytes::expose_secret(self)
    }
}

/// Wipes the bytes now (they are wiped on drop in any case); the handle is empty after.
impl Zeroize for SecretBytes {
    fn zeroize(&mut self) {
        self.buf.truncate(0);
        self.start = 0;
    }
}

/// A copy in the caller's `secrecy::SecretBox<[u8]>` (exactly the length, so the box
/// never reallocates): the only copy made outside the arena, wiped when the box drops.
impl From<&SecretBytes> for SecretBox<[u8]> {
    fn from(bytes: &SecretBytes) -> Self {
        SecretBox::from(bytes.expose_secret().to_vec())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted, {} bytes>)", self.len())
    }
}
