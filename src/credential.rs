//! [`CredentialSources`]: a [`Credential`] from where services and CLIs keep theirs (an
//! environment variable, a key file, a systemd credential), read into buffers that are
//! wiped, with a key file's permissions checked as ssh checks a private key's.

use std::ffi::OsString;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::{Credential, Error, Result};

/// The most a key or password file may hold, in bytes: more is not a key file, and is
/// refused before it is read.
const MAX_CREDENTIAL_FILE: usize = 4096;

/// Constructors of a [`Credential`] that read the environment or files (the core,
/// `no_std`, has neither). Import the trait and call them on `Credential`:
///
/// ```no_run
/// use microkv::{Credential, CredentialSources, MicroKV};
/// let db = MicroKV::open("app.kv", Credential::systemd("store-key")?)?;
/// # Ok::<(), microkv::Error>(())
/// ```
///
/// What each one read is wiped: a file is read into a zeroize-on-drop buffer of fixed
/// size (never grown, so never reallocated), and the variable's value std copies out of
/// the environment is wiped once the credential holds it.
pub trait CredentialSources: Sized {
    /// A password from the environment variable `var`, left in the environment.
    ///
    /// ```
    /// use microkv::{Credential, CredentialSources, Error};
    /// assert!(matches!(Credential::from_env("MICROKV_DOC_UNSET"), Err(Error::NoCredential(_))));
    /// ```
    ///
    /// # Errors
    /// `Error::NoCredential` if `var` is unset.
    fn from_env(var: &str) -> Result<Self>;

    /// A password from the environment variable `var`, which is then removed from the
    /// process environment, so that child processes (and later `getenv`s) do not see it.
    ///
    /// Call it early, before other threads run: changing the environment races with
    /// threads that read it. The kernel's record of the environment the process started
    /// with (`/proc/PID/environ`, readable by the same user and root) keeps the original
    /// bytes; this cannot remove them, and a variable set by a parent that should not
    /// leak is better passed as a file ([`CredentialSources::systemd`]).
    ///
    /// ```
    /// use microkv::{Credential, CredentialSources};
    /// std::env::set_var("MICROKV_DOC_PASSWORD", "p@ssw0rd");
    /// let credential = Credential::take_env("MICROKV_DOC_PASSWORD")?;
    /// assert!(std::env::var_os("MICROKV_DOC_PASSWORD").is_none());
    /// # drop(credential);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::NoCredential` if `var` is unset (nothing is removed then).
    fn take_env(var: &str) -> Result<Self>;

    /// A raw key from the file at `path`: 32 raw bytes, or 64 hex digits, or the base64 of
    /// 32 bytes (surrounding whitespace ignored: [`Credential::key_encoded`]).
    ///
    /// On Unix the file must be accessible to its owner only (no bit of `0o077`: mode
    /// `0600` or `0400`), as ssh requires of a private key; the mode is read from the open
    /// file, so the check and the read are of the same file. On Windows the file's ACL is
    /// not inspected: nothing about its permissions is checked there.
    ///
    /// ```
    /// use microkv::{Credential, CredentialSources, MicroKV};
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("store.key");
    /// std::fs::write(&path, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n")?;
    /// # #[cfg(unix)] {
    /// use std::os::unix::fs::PermissionsExt;
    /// std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    /// # }
    /// let db = MicroKV::in_memory(Credential::key_file(&path)?)?;
    /// # drop(db);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// `Error::Io` if the file cannot be opened or read; `Error::InsecureKeyFile` if its
    /// group or others have any access (Unix); `Error::InvalidKey` if it holds none of
    /// the three forms, or is longer than 4 KiB.
    fn key_file(path: impl AsRef<Path>) -> Result<Self>;

    /// A password from the file at `path`, less one trailing newline (`\n` or `\r\n`),
    /// under the same permission check as [`CredentialSources::key_file`].
    ///
    /// ```no_run
    /// use microkv::{Credential, CredentialSources};
    /// let credential = Credential::password_file("/run/secrets/store-password")?;
    /// # drop(credential);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`CredentialSources::key_file`], but any content is a password
    /// (`Error::InvalidKey` only for a file over 4 KiB).
    fn password_file(path: impl AsRef<Path>) -> Result<Self>;

    /// A raw key from the systemd credential `name`: the file
    /// `$CREDENTIALS_DIRECTORY/name` that systemd sets up for a unit with
    /// `LoadCredential=name:/path` or `SetCredentialEncrypted=` (systemd 247+), read as
    /// [`CredentialSources::key_file`] reads it.
    ///
    /// ```no_run
    /// use microkv::{Credential, CredentialSources, MicroKV};
    /// // In the unit: LoadCredential=store-key:/etc/my-service/store.key
    /// let db = MicroKV::open("/var/lib/my-service/store.kv", Credential::systemd("store-key")?)?;
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::NoCredential` if `CREDENTIALS_DIRECTORY` is unset (not started by systemd
    /// with credentials), or `name` is not a plain file name; otherwise as
    /// [`CredentialSources::key_file`].
    fn systemd(name: &str) -> Result<Self>;

    /// A password from the systemd credential `name`, read as
    /// [`CredentialSources::password_file`] reads it.
    ///
    /// ```no_run
    /// use microkv::{Credential, CredentialSources};
    /// let credential = Credential::systemd_password("store-password")?;
    /// # drop(credential);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`CredentialSources::systemd`], for a password.
    fn systemd_password(name: &str) -> Result<Self>;
}

impl CredentialSources for Credential {
    fn from_env(var: &str) -> Result<Self> {
        env_password(var, false)
    }

    fn take_env(var: &str) -> Result<Self> {
        env_password(var, true)
    }

    fn key_file(path: impl AsRef<Path>) -> Result<Self> {
        Credential::key_encoded(&read_private(path.as_ref())?)
    }

    fn password_file(path: impl AsRef<Path>) -> Result<Self> {
        let read = read_private(path.as_ref())?;
        let password = read
            .strip_suffix(b"\r\n")
            .or_else(|| read.strip_suffix(b"\n"))
            .unwrap_or(&read);
        Ok(Credential::password_bytes(password))
    }

    fn systemd(name: &str) -> Result<Self> {
        Credential::key_file(systemd_path(name)?)
    }

    fn systemd_password(name: &str) -> Result<Self> {
        Credential::password_file(systemd_path(name)?)
    }
}

/// The value of `var` as a password, the copy std made wiped; removed if `unset`.
fn env_password(var: &str, unset: bool) -> Result<Credential> {
    let value = std::env::var_os(var)
        .ok_or_else(|| Error::NoCredential(format!("environment variable {var}")))?;
    let value = Zeroizing::new(os_bytes(value));
    if unset {
        std::env::remove_var(var);
    }
    Ok(Credential::password_bytes(&value))
}

#[cfg(unix)]
fn os_bytes(value: OsString) -> Vec<u8> {
    std::os::unix::ffi::OsStringExt::into_vec(value)
}

/// Elsewhere (Windows: UTF-16 in the environment) the value as UTF-8, lossily; the
/// `OsString` std copied is dropped unwiped there.
#[cfg(not(unix))]
fn os_bytes(value: OsString) -> Vec<u8> {
    value.to_string_lossy().as_bytes().to_vec()
}

/// `$CREDENTIALS_DIRECTORY/name`, for a `name` that is one plain path component.
fn systemd_path(name: &str) -> Result<PathBuf> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY").ok_or_else(|| {
        Error::NoCredential("systemd credentials ($CREDENTIALS_DIRECTORY is unset)".into())
    })?;
    let plain = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\']);
    if !plain {
        return Err(Error::NoCredential(format!(
            "systemd credentials (\"{name}\" is not a credential name)"
        )));
    }
    Ok(Path::new(&dir).join(name))
}

/// The whole of a file that only its owner may access, in a wiped buffer of fixed size.
fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let mut file = File::open(path)?;
    check_private(&file)?;
    // One byte more than allowed, to tell a file at the limit from a longer one.
    let mut buf = Zeroizing::new(vec![0u8; MAX_CREDENTIAL_FILE + 1]);
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    if filled > MAX_CREDENTIAL_FILE {
        return Err(Error::InvalidKey("a credential file holds at most 4 KiB"));
    }
    // Shortening keeps the allocation: the bytes past `filled` are zeros, and all of it is
    // wiped on drop.
    buf.truncate(filled);
    Ok(buf)
}

#[cfg(unix)]
fn check_private(file: &File) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::InsecureKeyFile { mode });
    }
    Ok(())
}

/// Windows: the ACL is not inspected (documented on `key_file`).
#[cfg(not(unix))]
fn check_private(_file: &File) -> Result<()> {
    Ok(())
}
