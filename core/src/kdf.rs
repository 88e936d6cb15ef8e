//! Credentials and key derivation: [`Credential`], [`KdfParams`].
#![forbid(unsafe_code)]

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use zeroize::{Zeroize, Zeroizing};

use crate::arena::{Arena, SecretBuf};
use crate::error::{Error, Result};

/// Largest KDF memory accepted, in KiB (1 GiB): bounds what a forged header can demand.
pub const MAX_KDF_MEMORY_KIB: u32 = 1 << 20;
/// Largest Argon2 pass count accepted.
pub const MAX_ARGON2_PASSES: u32 = 64;
/// Largest KDF parallelism accepted.
pub const MAX_KDF_PARALLELISM: u32 = 16;

/// What opens a store: a password (stretched by the store's KDF) or a raw 256-bit key.
///
/// The secret is held in a zeroize-on-drop buffer until the store consumes it; the store
/// copies it into its locked arena for the duration of the KDF and wipes it afterwards.
/// `Debug` never prints it.
///
/// ```
/// use microkv_core::Credential;
/// let c = Credential::password("p@ssw0rd");
/// assert_eq!(format!("{c:?}"), "Credential::Password(<redacted>)");
/// ```
pub struct Credential(Secret);

/// Both kinds sit on the heap behind a pointer, so moving a `Credential` copies no secret.
enum Secret {
    Password(Zeroizing<Vec<u8>>),
    Key(Zeroizing<Vec<u8>>),
}

impl Credential {
    /// A password; the store derives its key with the store's [`KdfParams`].
    pub fn password(password: impl Into<String>) -> Self {
        Credential(Secret::Password(Zeroizing::new(
            password.into().into_bytes(),
        )))
    }

    /// A raw 256-bit key, used without stretching (no KDF cost).
    pub fn key(key: [u8; 32]) -> Self {
        let mut key = key;
        let mut held = Zeroizing::new(Vec::with_capacity(key.len()));
        held.extend_from_slice(&key);
        key.zeroize();
        Credential(Secret::Key(held))
    }

    pub(crate) fn is_raw_key(&self) -> bool {
        matches!(self.0, Secret::Key(_))
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

/// Key-derivation parameters for password credentials. They are stored in the store's
/// header, so a store always reopens with the parameters it was made with.
///
/// ```
/// use microkv_core::KdfParams;
/// assert_eq!(KdfParams::default(), KdfParams::argon2id(19 * 1024, 2, 1));
/// let light = KdfParams::scrypt(15, 8, 1);
/// assert_ne!(light, KdfParams::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KdfParams(pub(crate) Kdf);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kdf {
    Argon2id { m_kib: u32, t: u32, p: u32 },
    Scrypt { log_n: u8, r: u32, p: u32 },
}

impl KdfParams {
    /// Argon2id with `m_kib` KiB of memory, `t` passes and `p` lanes.
    pub const fn argon2id(m_kib: u32, t: u32, p: u32) -> Self {
        KdfParams(Kdf::Argon2id { m_kib, t, p })
    }

    /// scrypt with cost `2^log_n`, block size `r` and parallelism `p`.
    pub const fn scrypt(log_n: u8, r: u32, p: u32) -> Self {
        KdfParams(Kdf::Scrypt { log_n, r, p })
    }

    /// Argon2id, 64 MiB, 2 passes (libsodium's "interactive"; about 160 ms here).
    pub const fn interactive() -> Self {
        Self::argon2id(64 * 1024, 2, 1)
    }

    /// Argon2id, 1 GiB, 4 passes (libsodium's "sensitive"; about 5 s here).
    pub const fn sensitive() -> Self {
        Self::argon2id(1024 * 1024, 4, 1)
    }

    /// Rejects parameters outside the accepted bounds, before anything is allocated.
    pub(crate) fn check(&self) -> Result<()> {
        let bad = |why: String| Err(Error::InvalidKdfParams(why));
        match self.0 {
            Kdf::Argon2id { m_kib, t, p } => {
                if !(1..=MAX_KDF_PARALLELISM).contains(&p) {
                    return bad(format!("argon2id p={p} outside 1..={MAX_KDF_PARALLELISM}"));
                }
                if !(1..=MAX_ARGON2_PASSES).contains(&t) {
                    return bad(format!("argon2id t={t} outside 1..={MAX_ARGON2_PASSES}"));
                }
                if m_kib < 8 * p || m_kib > MAX_KDF_MEMORY_KIB {
                    return bad(format!(
                        "argon2id m={m_kib} KiB outside {}..={MAX_KDF_MEMORY_KIB}",
                        8 * p
                    ));
                }
            }
            Kdf::Scrypt { log_n, r, p } => {
                if !(1..=MAX_KDF_PARALLELISM).contains(&p) || r == 0 || !(1..=30).contains(&log_n) {
                    return bad(format!("scrypt log_n={log_n} r={r} p={p} out of range"));
                }
                // scrypt uses 128 * r * 2^log_n bytes for V, plus 128 * r * p for B.
                let kib = (128u64 * u64::from(r)) << log_n;
                let kib = (kib + 128 * u64::from(r) * u64::from(p)) / 1024;
                if kib > u64::from(MAX_KDF_MEMORY_KIB) {
                    return bad(format!(
                        "scrypt needs {kib} KiB, more than {MAX_KDF_MEMORY_KIB}"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Default for KdfParams {
    /// Argon2id, 19 MiB, 2 passes: OWASP's recommended minimum (about 33 ms here).
    fn default() -> Self {
        Self::argon2id(19 * 1024, 2, 1)
    }
}

/// Turns a credential into the 32-byte root secret, in the arena. For a password the
/// bytes are first copied into the arena so that the KDF reads them from locked memory.
pub(crate) fn derive_root(
    arena: &Arc<Arena>,
    credential: &Credential,
    kdf: Option<&KdfParams>,
    salt: &[u8],
) -> Result<SecretBuf> {
    let mut root = arena.alloc(32)?;
    match (&credential.0, kdf) {
        (Secret::Key(key), _) => root.copy_from_slice(&key[..]),
        (Secret::Password(pw), Some(params)) => {
            params.check()?;
            let mut password = arena.alloc(pw.len())?;
            password.copy_from_slice(pw);
            let stretched = stretch(params, &password, salt, &mut root);
            crate::crypto::scrub_stack();
            stretched?;
        }
        (Secret::Password(_), None) => {
            return Err(Error::InvalidKdfParams(
                "a password needs KDF parameters".into(),
            ))
        }
    }
    Ok(root)
}

fn stretch(params: &KdfParams, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<()> {
    let rejected = |e: &dyn fmt::Display| Error::InvalidKdfParams(format!("{e}"));
    match params.0 {
        Kdf::Argon2id { m_kib, t, p } => {
            let p = argon2::Params::new(m_kib, t, p, Some(out.len())).map_err(|e| rejected(&e))?;
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p)
                .hash_password_into(password, salt, out)
                .map_err(|e| rejected(&e))
        }
        Kdf::Scrypt { log_n, r, p } => {
            let p = scrypt::Params::new(log_n, r, p).map_err(|e| rejected(&e))?;
            scrypt::scrypt(password, salt, &p, out).map_err(|e| rejected(&e))
        }
    }
}
