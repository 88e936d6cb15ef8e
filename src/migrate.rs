//! Copying a store written by microkv 0.3 into a store of this version (the `migrate`
//! feature). The guide: [`guide::migrating`](crate::guide::migrating).
//!
//! A 0.3 file is one MessagePack array: the string `"microkv"`, its format version (3),
//! the KDF (`{"Scrypt": [log_n, r, p]}` or `{"Argon2id": [m_kib, t, p]}`), a 16-byte salt,
//! a verifier, and the namespaces: a map of names to maps of key names to `[nonce,
//! ciphertext]`. The key is the raw key, or the password stretched by that KDF with that
//! salt to 32 bytes; each value is ChaCha20-Poly1305 with a 12-byte nonce, its associated
//! data the namespace and key name, each behind its length (4 bytes, little-endian). The
//! plaintext is a flag byte (1: an expiry follows, in seconds since the Unix epoch, 8
//! bytes little-endian), then the value in MessagePack.
//!
//! The verifier is `[nonce, ciphertext || tag]`: the 17 bytes `microkv/verify/v3` sealed
//! by ChaCha20-Poly1305 under the same key, with a 12-byte nonce of its own, its
//! associated data the MessagePack array `[kdf, salt]` (the file's KDF and salt, encoded
//! as in the file: the salt as an array of integers). It is written even for a store with
//! no entries, so a wrong credential is `Error::WrongPassword` before anything is copied,
//! and the KDF and salt cannot be swapped without it failing too.
//!
//! (Learned by inspecting files the published 0.3.0 writes: `tests/compat03` checks this
//! reader against them.)
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use messagepack_serde::value::Number;
use messagepack_serde::ValueRef;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use microkv_core::chacha20poly1305_open_in_place;
use microkv_std::file_storage::read_at_most;

use crate::{Error, KdfLimit, KdfParams, MicroKV, Result};

/// The 0.3 format version this module reads.
pub const V03_FORMAT: u8 = 3;

/// Largest 0.3 file read (a 0.3 store is held whole in memory anyway).
const MAX_FILE: u64 = 1 << 30;

/// What a 0.3 verifier seals.
const VERIFIER: &[u8; 17] = b"microkv/verify/v3";

/// Poly1305's tag.
const TAG_LEN: usize = 16;

/// A Poly1305 tag.
type Tag = [u8; TAG_LEN];

/// What opens a 0.3 store: what opened it under 0.3.
pub enum LegacyCredential<'a> {
    /// The password (0.3's `Credential::password`).
    Password(&'a str),
    /// The raw 32-byte key (0.3's `Credential::key`).
    Key([u8; 32]),
}

/// A raw key is wiped when the credential is dropped (as `Credential::key` wipes its
/// argument).
impl Drop for LegacyCredential<'_> {
    fn drop(&mut self) {
        if let LegacyCredential::Key(key) = self {
            key.zeroize();
        }
    }
}

/// What [`from_v03`] copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Migrated {
    /// Namespaces with at least one live entry copied.
    pub namespaces: usize,
    /// Entries copied (each with its TTL, if it had one).
    pub entries: usize,
    /// Entries already expired in the 0.3 file, left behind.
    pub expired: usize,
}

/// Serialized as 0.3 writes it (`{"Scrypt": [log_n, r, p]}`): the verifier's associated
/// data.
#[derive(Deserialize, Serialize)]
enum Kdf03 {
    /// `log_n`, `r`, `p`.
    Scrypt(u8, u32, u32),
    /// `m_kib`, `t`, `p`.
    Argon2id(u32, u32, u32),
}

impl Kdf03 {
    /// The same KDF in this version's terms (0.3 ran the same two functions).
    fn params(&self) -> KdfParams {
        match *self {
            Kdf03::Scrypt(log_n, r, p) => KdfParams::scrypt(log_n, r, p),
            Kdf03::Argon2id(m_kib, t, p) => KdfParams::argon2id(m_kib, t, p),
        }
    }
}

/// `[nonce, ciphertext || tag]`.
type Sealed03 = (Vec<u8>, Vec<u8>);

#[derive(Deserialize)]
struct File03(
    String,
    u8,
    Kdf03,
    Vec<u8>,
    Sealed03,
    BTreeMap<String, BTreeMap<String, Sealed03>>,
);

fn corrupt(why: &str) -> Error {
    Error::CorruptStore(format!("microkv 0.3 store: {why}"))
}

/// Copies every live entry of the microkv 0.3 store at `path` into `into`, in one
/// transaction (all or nothing), keeping each entry's namespace, key, value and expiry.
/// The source file is only read. `into` is then saved as its `AutoSave` says: call
/// [`Store::save`](crate::Store::save) to write it.
///
/// Values keep their MessagePack encoding, so every type reads back as it did under 0.3.
/// Entries already expired are left behind (counted in [`Migrated::expired`]).
///
/// A password is stretched by the file's KDF only within this version's hard bounds and
/// `into`'s [`Store::kdf_limit`](crate::Store::kdf_limit) (`Config::kdf_limit`), both checked before the KDF
/// runs, as for a store of this version: a forged 0.3 file cannot make the copy take
/// minutes or gigabytes. A raw key runs no KDF, and the file's KDF is then not checked.
///
/// ```
/// use microkv::migrate::{from_v03, LegacyCredential};
/// use microkv::{Credential, MicroKV};
/// # let dir = tempfile::tempdir()?;
/// # let old = dir.path().join("old.kv");
/// # std::fs::write(&old, b"not a store")?;
/// let new = MicroKV::create_new(dir.path().join("new.kv"), Credential::password("p@ssw0rd"))?;
/// match from_v03(&old, LegacyCredential::Password("p@ssw0rd"), &new) {
///     Ok(done) => println!("copied {} entries", done.entries),
///     Err(e) => println!("not migrated: {e}"), // here: not a 0.3 store
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `Error::Io` if the file cannot be read; `Error::CorruptStore` if it is not a 0.3
/// store or is damaged; `Error::UnsupportedStoreVersion` for another 0.x format;
/// `Error::InvalidKdfParams` for KDF parameters past this version's bounds;
/// `Error::KdfLimitExceeded` for KDF parameters costlier than `into`'s `kdf_limit` (the
/// error a store file of this version gets, before the KDF runs: open `into` with a
/// higher `Config::kdf_limit` to copy a file you trust);
/// `Error::WrongPassword` if the credential does not open the file's verifier (checked
/// before anything is copied, also for a store with no entries; a modified verifier, KDF
/// or salt is the same error: an AEAD cannot tell a wrong key from a changed ciphertext);
/// `Error::Tampered` if the verifier opens and an entry does not; the errors of writing
/// into `into` (nothing is written then).
pub fn from_v03(
    path: impl AsRef<Path>,
    credential: LegacyCredential<'_>,
    into: &MicroKV,
) -> Result<Migrated> {
    let bytes = read_at_most(path.as_ref(), MAX_FILE)?.map_err(|e| match e {
        Error::TooLarge { .. } => corrupt("larger than 1 GiB"),
        other => other,
    })?;
    let file: File03 =
        messagepack_serde::from_slice(&bytes).map_err(|_| corrupt("not a 0.3 store"))?;
    let File03(magic, version, kdf, salt, verifier, spaces) = file;
    if magic != "microkv" {
        return Err(corrupt("not a 0.3 store"));
    }
    if version != V03_FORMAT {
        return Err(Error::UnsupportedStoreVersion {
            found: version.into(),
            expected: V03_FORMAT.into(),
        });
    }
    let verifier = verifier_shape(&verifier)?;
    let key = derive(&kdf, &salt, &credential, into.kdf_limit())?;
    verify(&key, &kdf, &salt, verifier)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut done = Migrated::default();
    into.transaction(|tx| {
        for (ns, entries) in &spaces {
            let before = done.entries;
            for (name, (nonce, sealed)) in entries {
                // The verifier opened: the credential is right, so this entry was changed.
                let plain = open(&key, ns, name, nonce, sealed)?;
                let (expires, value) = split(&plain)?;
                // Borrowed: strings and binaries stay in `plain`, which is wiped on drop
                // (an owned `Value` would copy them to the ordinary heap, never wiped);
                // the numbers an array or map copies out are wiped by `WipedValue`.
                let value = WipedValue(
                    messagepack_serde::from_slice(value)
                        .map_err(|_| corrupt("a value is not MessagePack"))?,
                );
                match expires {
                    Some(at) if at <= now => done.expired += 1,
                    Some(at) => {
                        tx.put_with_ttl(ns, name, &value.0, Duration::from_secs(at - now))?;
                        done.entries += 1;
                    }
                    None => {
                        tx.put(ns, name, &value.0)?;
                        done.entries += 1;
                    }
                }
            }
            if done.entries > before {
                done.namespaces += 1;
            }
        }
        Ok(())
    })?;
    Ok(done)
}

/// A verifier of 0.3's shape, in its parts.
struct Verifier03 {
    nonce: [u8; 12],
    /// The sealed constant, without its tag.
    sealed: [u8; VERIFIER.len()],
    tag: Tag,
}

/// The verifier's parts, if it has 0.3's shape (checked before the KDF runs).
fn verifier_shape(verifier: &Sealed03) -> Result<Verifier03> {
    let (nonce, sealed) = verifier;
    let nonce: [u8; 12] = nonce
        .as_slice()
        .try_into()
        .map_err(|_| corrupt("the verifier's nonce is not 12 bytes"))?;
    if sealed.len() != VERIFIER.len() + TAG_LEN {
        return Err(corrupt("the verifier is not 33 bytes"));
    }
    let (sealed, tag) = sealed.split_at(VERIFIER.len());
    Ok(Verifier03 {
        nonce,
        sealed: sealed.try_into().map_err(|_| Error::Crypto)?,
        tag: Tag::try_from(tag).map_err(|_| Error::Crypto)?,
    })
}

/// Opens the verifier: `WrongPassword` if `key` does not open it (the tag is checked
/// in constant time by the AEAD), `CorruptStore` if it opens to something 0.3 does not
/// seal there.
fn verify(key: &[u8; 32], kdf: &Kdf03, salt: &[u8], verifier: Verifier03) -> Result<()> {
    let aad = messagepack_serde::to_vec(&(kdf, salt))
        .map_err(|_| corrupt("the KDF cannot be encoded"))?;
    let Verifier03 {
        nonce,
        sealed: mut plain,
        tag,
    } = verifier;
    chacha20poly1305_open_in_place(key, &nonce, &aad, &mut plain, &tag)
        .map_err(|_| Error::WrongPassword)?;
    if bool::from(plain.ct_eq(VERIFIER)) {
        Ok(())
    } else {
        Err(corrupt("the verifier holds an unknown value"))
    }
}

/// The 0.3 data key: the raw key, or the password stretched by the file's KDF, checked
/// against the hard bounds and `limit` before it runs.
fn derive(
    kdf: &Kdf03,
    salt: &[u8],
    credential: &LegacyCredential<'_>,
    limit: KdfLimit,
) -> Result<Zeroizing<[u8; 32]>> {
    let mut key = Zeroizing::new([0u8; 32]);
    match credential {
        LegacyCredential::Key(raw) => key.copy_from_slice(raw),
        LegacyCredential::Password(password) => {
            kdf.params()
                .stretch(password.as_bytes(), salt, limit, &mut key)?;
        }
    }
    Ok(key)
}

/// Verifies and decrypts one 0.3 value.
fn open(
    data_key: &[u8; 32],
    ns: &str,
    key: &str,
    nonce: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let nonce: [u8; 12] = nonce
        .try_into()
        .map_err(|_| corrupt("a nonce is not 12 bytes"))?;
    let len = sealed.len().checked_sub(16).ok_or(Error::Tampered)?;
    let (body, tag) = sealed.split_at(len);
    let tag = Tag::try_from(tag).map_err(|_| Error::Tampered)?;
    let mut aad = Vec::with_capacity(8 + ns.len() + key.len());
    for part in [ns, key] {
        let n = u32::try_from(part.len()).map_err(|_| corrupt("a name is too long"))?;
        aad.extend_from_slice(&n.to_le_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    let mut plain = Zeroizing::new(body.to_vec());
    chacha20poly1305_open_in_place(data_key, &nonce, &aad, &mut plain, &tag)?;
    Ok(plain)
}

/// A decoded 0.3 value, its numbers and booleans wiped when it is dropped (on every
/// path: copied, expired or refused). Its strings and binaries borrow the plaintext, but
/// an array or a map holds its items in a `Vec` on the ordinary heap, which `ValueRef`'s
/// own drop frees unwiped: a key 0.3 stored as a `Vec<u8>` or `[u8; 32]` is an array of
/// integers. (The decoder sizes each `Vec` from the array's length: no reallocation
/// leaves a copy.)
struct WipedValue<'a>(ValueRef<'a>);

impl Drop for WipedValue<'_> {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Zeroes every number and boolean in `value`, however deep (no deeper than the
/// decoder's nesting limit, which built it).
fn wipe(value: &mut ValueRef<'_>) {
    match value {
        ValueRef::Bool(b) => b.zeroize(),
        ValueRef::Number(Number::PositiveInt(n)) => n.zeroize(),
        ValueRef::Number(Number::NegativeInt(n)) => n.zeroize(),
        ValueRef::Number(Number::Float(n)) => n.zeroize(),
        ValueRef::Array(items) => items.iter_mut().for_each(wipe),
        ValueRef::Map(pairs) => {
            for (key, item) in pairs {
                wipe(key);
                wipe(item);
            }
        }
        _ => {}
    }
}

/// A 0.3 plaintext: its expiry (seconds since the epoch), if any, and the value's bytes.
fn split(plain: &[u8]) -> Result<(Option<u64>, &[u8])> {
    match plain {
        [0, value @ ..] => Ok((None, value)),
        [1, a, b, c, d, e, f, g, h, value @ ..] => Ok((
            Some(u64::from_le_bytes([*a, *b, *c, *d, *e, *f, *g, *h])),
            value,
        )),
        _ => Err(corrupt("a value's header is malformed")),
    }
}

#[cfg(test)]
mod tests;
