//! Key derivation: [`KdfParams`], [`KdfLimit`], and a [`Credential`]'s root secret.
#![forbid(unsafe_code)]

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;

use crate::arena::{Arena, SecretBuf};
use crate::credential::{Credential, Secret};
use crate::error::{Error, Result};

/// Largest KDF memory accepted, in KiB (1 GiB): bounds what a forged header can demand.
pub const MAX_KDF_MEMORY_KIB: u32 = 1 << 20;
/// Largest Argon2 pass count accepted.
pub const MAX_ARGON2_PASSES: u32 = 64;
/// Largest KDF parallelism accepted.
pub const MAX_KDF_PARALLELISM: u32 = 16;

/// Key-derivation parameters for password credentials. They are stored in the store's
/// header, so a store always reopens with the parameters it was made with.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::KdfParams;
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

    /// Argon2id, 64 MiB, 2 passes (libsodium's "interactive"). `cargo bench --bench kdf`
    /// measured 404 ms a derivation in release on a shared 2-core Xeon VM (load average
    /// about 14); [`KdfParams::calibrate`] picks parameters for a time on the machine at
    /// hand.
    pub const fn interactive() -> Self {
        Self::argon2id(64 * 1024, 2, 1)
    }

    /// Argon2id, 1 GiB, 4 passes (libsodium's "sensitive"). `cargo bench --bench kdf`
    /// measured 16.3 s a derivation in release on a shared 2-core Xeon VM (load average
    /// about 14; memory bandwidth is what it waits on).
    pub const fn sensitive() -> Self {
        Self::argon2id(1024 * 1024, 4, 1)
    }

    /// The work these parameters demand, in KiB of memory × passes over it, the unit of
    /// [`KdfLimit`]:
    ///
    /// - Argon2id: `m_kib × t` (the lanes share the `m_kib`; this build fills them one
    ///   after the other, so `p` adds no work);
    /// - scrypt: its memory `128·r·2^log_n` bytes (in KiB), times 2 passes (`ROMix` fills it,
    ///   then reads it back once in random order), times `p` (each lane runs in turn).
    ///
    /// Saturates at `u64::MAX` for parameters far outside the bounds.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::KdfParams;
    /// assert_eq!(KdfParams::sensitive().cost(), (1 << 20) * 4);
    /// assert_eq!(KdfParams::scrypt(20, 8, 1).cost(), (1 << 20) * 2);
    /// ```
    pub const fn cost(&self) -> u64 {
        match self.0 {
            Kdf::Argon2id { m_kib, t, .. } => m_kib as u64 * t as u64,
            Kdf::Scrypt { log_n, r, p } => {
                // KiB of V: 128 · r · 2^log_n / 1024 = r · 2^log_n / 8; two passes, p lanes.
                if log_n >= 64 {
                    return u64::MAX;
                }
                let block = (r as u64).saturating_mul(1 << log_n);
                (block / 4).saturating_mul(p as u64)
            }
        }
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
                // scrypt uses 128 * r * 2^log_n bytes for V, plus 128 * r * p for B: in
                // bytes, exactly as docs/FORMAT.md states the bound.
                let bytes = (128u64 * u64::from(r)) << log_n;
                let bytes = bytes + 128 * u64::from(r) * u64::from(p);
                let max = u64::from(MAX_KDF_MEMORY_KIB) * 1024;
                if bytes > max {
                    return bad(format!("scrypt needs {bytes} bytes, more than {max}"));
                }
            }
        }
        Ok(())
    }

    /// [`KdfParams::check`], plus what parameters for a *new* key must meet so that other
    /// implementations can read the file: scrypt's `log_n < 16·r` (OpenSSL, Python's
    /// `hashlib` and libsodium refuse larger `N`). Files outside it are still read.
    pub(crate) fn check_new(&self) -> Result<()> {
        self.check()?;
        if let Kdf::Scrypt { log_n, r, .. } = self.0 {
            if u64::from(log_n) >= 16 * u64::from(r) {
                return Err(Error::InvalidKdfParams(format!(
                    "scrypt log_n={log_n} with r={r}: new keys need log_n < 16·r \
                     (OpenSSL, hashlib and libsodium refuse more)"
                )));
            }
        }
        Ok(())
    }

    /// Stretches `password` with these parameters and `salt` into `out`, the way a store's
    /// key is derived from a password: for reading the keys of other formats, such as the
    /// files of microkv 0.3 (`microkv::migrate`). A store derives its own keys itself.
    ///
    /// The parameters are checked first, before anything is allocated: against the hard
    /// bounds ([`MAX_KDF_MEMORY_KIB`], [`MAX_ARGON2_PASSES`], [`MAX_KDF_PARALLELISM`],
    /// scrypt's `log_n` in `1..=30`), then their [`cost`](KdfParams::cost) against `limit`
    /// (use the limit of the store the key is for, e.g. `Config::kdf_limit`), so
    /// parameters read from an untrusted file cannot make this take minutes or gigabytes.
    ///
    /// `password` is read where it lies, and `out` then holds a secret: keep both in
    /// memory you wipe (`zeroize::Zeroizing`, or the arena's buffers). The KDF runs on a
    /// stack of its own, wiped whole before this returns.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Error, KdfLimit, KdfParams};
    /// use zeroize::Zeroizing;
    /// let mut key = Zeroizing::new([0u8; 32]);
    /// // RFC 7914's second scrypt test vector (its first 32 bytes).
    /// let params = KdfParams::scrypt(10, 8, 16);
    /// params.stretch(b"password", b"NaCl", KdfLimit::default(), &mut key)?;
    /// assert_eq!(key[..4], [0xfd, 0xba, 0xbe, 0x1c]);
    /// // Costlier than the limit: refused before the KDF runs.
    /// let limit = KdfLimit::of(KdfParams::interactive());
    /// let refused = KdfParams::sensitive().stretch(b"password", b"NaCl", limit, &mut key);
    /// assert!(matches!(refused, Err(Error::KdfLimitExceeded { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::InvalidKdfParams` if the parameters are outside the hard bounds, or the KDF
    /// refuses them or the salt (Argon2id wants at least 8 bytes of salt);
    /// `Error::KdfLimitExceeded` if they cost more than `limit` (checked before the KDF runs;
    /// `out` is left as it was).
    pub fn stretch(
        &self,
        password: &[u8],
        salt: &[u8],
        limit: KdfLimit,
        out: &mut [u8; 32],
    ) -> Result<()> {
        self.stretch_within(password, salt, limit, out)
    }

    /// [`KdfParams::stretch`] into an output of any length: the one place a KDF runs.
    fn stretch_within(
        &self,
        password: &[u8],
        salt: &[u8],
        limit: KdfLimit,
        out: &mut [u8],
    ) -> Result<()> {
        self.check()?;
        limit.admit(self)?;
        #[cfg(feature = "tracing")]
        let timer = crate::event::Timer::start();
        let rejected = |e: &dyn fmt::Display| Error::InvalidKdfParams(format!("{e}"));
        // On a stack of its own, wiped whole after: unoptimised, Argon2's last BLAKE2b runs
        // about 88 KiB deep (crypto::on_own_stack).
        let stretched = crate::crypto::on_own_stack(|| match self.0 {
            Kdf::Argon2id { m_kib, t, p } => argon2::Params::new(m_kib, t, p, Some(out.len()))
                .map_err(|e| rejected(&e))
                .and_then(|p| {
                    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p)
                        .hash_password_into(password, salt, out)
                        .map_err(|e| rejected(&e))
                }),
            Kdf::Scrypt { log_n, r, p } => scrypt::Params::new(log_n, r, p)
                .map_err(|e| rejected(&e))
                .and_then(|p| scrypt::scrypt(password, salt, &p, out).map_err(|e| rejected(&e))),
        });
        crate::event::info_event!(
            kdf = ?self,
            ms = timer.ms(),
            ok = stretched.is_ok(),
            "KDF run"
        );
        stretched
    }
}

/// The most KDF work an open may demand, in KiB × passes ([`KdfParams::cost`]); set in
/// `Config::kdf_limit`. A store whose header asks for more is refused with
/// `Error::KdfLimitExceeded` before the KDF runs, so a forged header cannot make an open
/// take a minute and a gigabyte. New keys (creation, `rekey_with`) must keep within it too,
/// so that the same configuration reopens what it wrote.
///
/// The default admits [`KdfParams::sensitive`] (1 GiB × 4 passes: 16.3 s measured on a
/// loaded 2-core VM, see its docs) and nothing costlier.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{Config, KdfLimit, KdfParams};
/// assert_eq!(KdfLimit::default(), KdfLimit::of(KdfParams::sensitive()));
/// // An application that only ever makes interactive stores can refuse anything costlier:
/// let config = Config { kdf_limit: KdfLimit::of(KdfParams::interactive()), ..Default::default() };
/// assert!(KdfLimit::of(KdfParams::interactive()) < KdfLimit::default());
/// // Or raise it to open stores made with more passes:
/// let slow = KdfLimit::of(KdfParams::argon2id(1 << 20, 8, 1));
/// assert!(slow > KdfLimit::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KdfLimit(u64);

impl KdfLimit {
    /// Admits `params` and every parameter set that costs no more.
    pub const fn of(params: KdfParams) -> Self {
        KdfLimit(params.cost())
    }

    /// A limit of `kib_passes` KiB × passes.
    pub const fn kib_passes(kib_passes: u64) -> Self {
        KdfLimit(kib_passes)
    }

    /// Admits everything within the hard bounds ([`MAX_KDF_MEMORY_KIB`] ×
    /// [`MAX_ARGON2_PASSES`]: 16 times the work of [`KdfParams::sensitive`]). Only for
    /// stores whose files nobody untrusted can write.
    pub const fn bounds_only() -> Self {
        KdfLimit(u64::MAX)
    }

    /// The limit in KiB × passes.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `Error::KdfLimitExceeded` if `params` cost more than this limit.
    pub(crate) fn admit(self, params: &KdfParams) -> Result<()> {
        let cost = params.cost();
        if cost > self.0 {
            return Err(Error::KdfLimitExceeded {
                cost,
                limit: self.0,
            });
        }
        Ok(())
    }
}

impl Default for KdfLimit {
    /// [`KdfLimit::of`] [`KdfParams::sensitive`].
    fn default() -> Self {
        KdfLimit::of(KdfParams::sensitive())
    }
}

impl Default for KdfParams {
    /// Argon2id, 19 MiB, 2 passes: OWASP's recommended minimum. `cargo bench --bench kdf`
    /// measured 69 ms a derivation in release on a shared 2-core Xeon VM (load average
    /// about 14).
    fn default() -> Self {
        Self::argon2id(19 * 1024, 2, 1)
    }
}

/// Turns a credential into the 32-byte root secret, in the arena. For a password the
/// bytes are first copied into the arena so that the KDF reads them from locked memory,
/// and the KDF runs only within the bounds and `limit` ([`KdfParams::stretch`]'s path).
pub(crate) fn derive_root(
    arena: &Arc<Arena>,
    credential: &Credential,
    kdf: Option<&KdfParams>,
    salt: &[u8],
    limit: KdfLimit,
) -> Result<SecretBuf> {
    let mut root = arena.alloc(32)?;
    match (&credential.0, kdf) {
        (Secret::Key(key), _) => root.copy_from_slice(&key[..]),
        (Secret::Password(pw), Some(params)) => {
            let mut password = arena.alloc(pw.len())?;
            password.copy_from_slice(pw);
            params.stretch_within(&password, salt, limit, &mut root)?;
        }
        (Secret::Password(_), None) => {
            return Err(Error::InvalidKdfParams(
                "a password needs KDF parameters".into(),
            ))
        }
    }
    Ok(root)
}

mod calibrate;

#[cfg(test)]
mod tests;
