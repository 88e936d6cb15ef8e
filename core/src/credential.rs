//! [`Credential`]: what opens a store, and the ways to make one from what an application
//! holds (a password, a raw key by reference, hex or base64 text, `secrecy`'s types).
//! Sources that read files or the environment are in `microkv` (its `CredentialSources`).
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// The length of a raw key, in bytes.
const KEY_LEN: usize = 32;

/// What opens a store: a password (stretched by the store's KDF) or a raw 256-bit key.
///
/// The secret is held in a zeroize-on-drop buffer until the store consumes it; the store
/// copies it into its locked arena for the duration of the KDF and wipes it afterwards.
/// Every constructor copies the secret straight into that buffer and wipes what it
/// decoded on the way (hex or base64 text is decoded in constant time, into the buffer).
/// `Debug` never prints it.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::Credential;
/// let c = Credential::password("p@ssw0rd");
/// assert_eq!(format!("{c:?}"), "Credential::Password(<redacted>)");
/// let key = [7u8; 32];
/// let k = Credential::key_ref(&key); // copies into the credential; `key` is the caller's
/// assert_eq!(format!("{k:?}"), "Credential::Key(<redacted>)");
/// ```
pub struct Credential(pub(crate) Secret);

/// Both kinds sit on the heap behind a pointer, so moving a `Credential` copies no secret.
pub(crate) enum Secret {
    Password(Zeroizing<Vec<u8>>),
    Key(Zeroizing<Vec<u8>>),
}

impl Credential {
    /// A password; the store derives its key with the store's [`crate::KdfParams`].
    ///
    /// A `&str` is copied once, into the credential's wiped buffer; a `String` is moved
    /// there. From a `secrecy::SecretString`, use `Credential::from(&secret)` (or
    /// `Credential::password(secret.expose_secret())`), which leaves no other copy.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, Store};
    /// let db = Store::in_memory(Credential::password("p@ssw0rd"))?;
    /// # drop(db);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn password(password: impl Into<String>) -> Self {
        Credential(Secret::Password(Zeroizing::new(
            password.into().into_bytes(),
        )))
    }

    /// A password given as bytes (not necessarily UTF-8, as a file or an environment
    /// variable may hold it), copied into the credential's wiped buffer.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::Credential;
    /// let c = Credential::password_bytes(b"p@ss\xffw0rd");
    /// assert_eq!(format!("{c:?}"), "Credential::Password(<redacted>)");
    /// ```
    pub fn password_bytes(password: &[u8]) -> Self {
        Credential(Secret::Password(held(password)))
    }

    /// A raw 256-bit key, used without stretching (no KDF cost).
    ///
    /// The array is taken by value (as in microkv 0.3): the caller's own copy, if it
    /// keeps one, is the caller's to wipe. [`Credential::key_ref`] reads a key where it
    /// lies.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, Store};
    /// let db = Store::in_memory(Credential::key([1; 32]))?;
    /// # drop(db);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn key(key: [u8; 32]) -> Self {
        let mut key = key;
        let credential = Self::key_ref(&key);
        key.zeroize();
        credential
    }

    /// A raw 256-bit key read where it lies (a `Zeroizing<[u8; 32]>`, a key in an arena
    /// buffer) and copied only into the credential's wiped buffer.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, Store};
    /// use zeroize::Zeroizing;
    /// let key = Zeroizing::new([3u8; 32]);
    /// let db = Store::in_memory(Credential::key_ref(&key))?;
    /// # drop(db);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn key_ref(key: &[u8; 32]) -> Self {
        Credential(Secret::Key(held(key)))
    }

    /// A raw key from a slice, which must be exactly 32 bytes.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, Error};
    /// assert!(Credential::key_slice(&[0u8; 32]).is_ok());
    /// assert!(matches!(Credential::key_slice(&[0u8; 31]), Err(Error::InvalidKey(_))));
    /// ```
    ///
    /// # Errors
    /// `Error::InvalidKey` if `key` is not 32 bytes long.
    pub fn key_slice(key: &[u8]) -> Result<Self> {
        if key.len() != KEY_LEN {
            return Err(Error::InvalidKey("a raw key is 32 bytes"));
        }
        Ok(Credential(Secret::Key(held(key))))
    }

    /// A raw key written as 64 hexadecimal digits (either case), decoded in constant time
    /// straight into the credential's wiped buffer.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::Credential;
    /// let hex = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
    /// assert!(Credential::key_hex(hex).is_ok());
    /// assert!(Credential::key_hex("00").is_err());
    /// ```
    ///
    /// # Errors
    /// `Error::InvalidKey` if `text` is not 64 hexadecimal digits (the error quotes none
    /// of them).
    pub fn key_hex(text: &str) -> Result<Self> {
        decode_key(text.as_bytes(), KeyText::Hex)
    }

    /// A raw key written in standard base64 (44 characters with `=` padding, or 43
    /// without), decoded in constant time straight into the credential's wiped buffer.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::Credential;
    /// assert!(Credential::key_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").is_ok());
    /// assert!(Credential::key_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").is_ok());
    /// assert!(Credential::key_base64("AAEC").is_err());
    /// ```
    ///
    /// # Errors
    /// `Error::InvalidKey` if `text` is not the base64 of 32 bytes.
    pub fn key_base64(text: &str) -> Result<Self> {
        decode_key(text.as_bytes(), KeyText::Base64)
    }

    /// A raw key as a key file holds it: exactly 32 raw bytes, or 64 hex digits, or the
    /// base64 of 32 bytes, the text with surrounding whitespace (a trailing newline)
    /// ignored. What `microkv`'s `Credential::key_file` and `Credential::systemd` read.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::Credential;
    /// assert!(Credential::key_encoded(&[0xff; 32]).is_ok());
    /// assert!(Credential::key_encoded(b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").is_ok());
    /// assert!(Credential::key_encoded(&[b'a'; 64]).is_ok());
    /// assert!(Credential::key_encoded(b"too short").is_err());
    /// ```
    ///
    /// # Errors
    /// `Error::InvalidKey` if the bytes are none of the three forms.
    pub fn key_encoded(bytes: &[u8]) -> Result<Self> {
        let text = bytes.trim_ascii();
        match text.len() {
            64 => decode_key(text, KeyText::Hex),
            43 | 44 => decode_key(text, KeyText::Base64),
            _ if bytes.len() == KEY_LEN => Self::key_slice(bytes),
            _ => Err(Error::InvalidKey(
                "a key file holds 32 raw bytes, 64 hex digits or the base64 of 32 bytes",
            )),
        }
    }

    /// A raw key held in a `secrecy::SecretBox<[u8]>` (a `SecretSlice<u8>`), which must be
    /// 32 bytes; it is copied only into the credential's wiped buffer.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::Credential;
    /// use secrecy::SecretSlice;
    /// let key = SecretSlice::from(vec![9u8; 32]);
    /// assert!(Credential::key_secret(&key).is_ok());
    /// ```
    ///
    /// # Errors
    /// `Error::InvalidKey` if it is not 32 bytes long.
    pub fn key_secret(key: &SecretBox<[u8]>) -> Result<Self> {
        Self::key_slice(key.expose_secret())
    }

    pub(crate) fn is_raw_key(&self) -> bool {
        matches!(self.0, Secret::Key(_))
    }
}

/// A password from a `secrecy::SecretString`, copied only into the credential's wiped
/// buffer (the `SecretString` wipes its own copy when it is dropped).
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::Credential;
/// use secrecy::SecretString;
/// let password = SecretString::from("p@ssw0rd");
/// let credential = Credential::from(&password);
/// # drop(credential);
/// ```
impl From<&SecretString> for Credential {
    fn from(password: &SecretString) -> Self {
        Credential::password_bytes(password.expose_secret().as_bytes())
    }
}

/// As `From<&SecretString>`; the `SecretString` is wiped as it is dropped here.
impl From<SecretString> for Credential {
    fn from(password: SecretString) -> Self {
        Credential::from(&password)
    }
}

/// A raw key held in a `secrecy::SecretBox<[u8; 32]>`.
impl From<&SecretBox<[u8; 32]>> for Credential {
    fn from(key: &SecretBox<[u8; 32]>) -> Self {
        Credential::key_ref(key.expose_secret())
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Secret::Password(_) => f.write_str("Credential::Password(<redacted>)"),
            Secret::Key(_) => f.write_str("Credential::Key(<redacted>)"),
        }
    }
}

/// A copy of `secret` in a buffer of exactly its length that is wiped when dropped.
fn held(secret: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut held = Zeroizing::new(Vec::with_capacity(secret.len()));
    held.extend_from_slice(secret);
    held
}

#[derive(Clone, Copy)]
enum KeyText {
    Hex,
    Base64,
}

/// Decodes a key's text into a wiped 32-byte buffer, in constant time.
fn decode_key(text: &[u8], form: KeyText) -> Result<Credential> {
    use base64ct::Encoding;
    let mut key = Zeroizing::new(vec![0u8; KEY_LEN]);
    let decoded = match form {
        KeyText::Hex => base16ct::mixed::decode(text, &mut key)
            .map(|k| k.len())
            .ok(),
        KeyText::Base64 => {
            let padded = text.last() == Some(&b'=');
            let len = if padded {
                base64ct::Base64::decode(text, &mut key).map(|k| k.len())
            } else {
                base64ct::Base64Unpadded::decode(text, &mut key).map(|k| k.len())
            };
            len.ok()
        }
    };
    match (decoded, form) {
        (Some(KEY_LEN), _) => Ok(Credential(Secret::Key(key))),
        (_, KeyText::Hex) => Err(Error::InvalidKey("a hex key is 64 hexadecimal digits")),
        (_, KeyText::Base64) => Err(Error::InvalidKey("a base64 key encodes 32 bytes")),
    }
}

#[cfg(test)]
mod tests;
