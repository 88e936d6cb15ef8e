//! [`Keychain`]: a store's raw key kept in the OS keychain (the `keyring` feature), so a
//! CLI opens its store with no password typed and no key file on disk.

use std::path::Path;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};
use zeroize::Zeroizing;

use crate::{Credential, Error, MicroKV, Result};

/// One entry in a keychain, named by a service and an account, that holds a store's
/// random 256-bit raw key: the Secret Service on Linux and the BSDs (GNOME Keyring,
/// KWallet, KeePassXC; through D-Bus), the login Keychain on macOS, the Credential Manager
/// on Windows, through the [`keyring`](https://crates.io/crates/keyring) crate. Any other
/// `keyring-core` store (its mock, for tests) works through [`Keychain::in_store`].
///
/// The key is 32 bytes from the OS random number generator, written to the keychain as
/// bytes. It is read into a buffer that is wiped once the [`Credential`] holds it; the
/// copies the keychain's client library and the D-Bus connection make on the way are
/// theirs (the Secret Service session encrypts the secret in transit).
///
/// ```
/// use microkv::{Keychain, MicroKV};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("cli.kv");
/// # let store: std::sync::Arc<microkv::keyring_core::CredentialStore> = microkv::keyring_core::mock::Store::new()?;
/// # let keychain = Keychain::in_store(&store, "my-cli", "store")?;
/// // let keychain = Keychain::new("my-cli", "store")?; // the OS keychain
/// let db = keychain.open_or_create(&path)?; // first run: a new key, a new store
/// db.put("token", "s3cr3t")?;
/// db.save()?;
/// drop(db);
/// let db = keychain.open_or_create(&path)?; // later runs: the key from the keychain
/// assert_eq!(db.require::<String>("token")?, "s3cr3t");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Keychain {
    entry: Entry,
    name: String,
}

/// `Keychain("service/account")`: the entry's name, nothing read from it.
impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keychain({:?})", self.name)
    }
}

impl Keychain {
    /// The entry `service`/`account` in the platform's keychain. Nothing is read or
    /// written yet.
    ///
    /// ```no_run
    /// use microkv::Keychain;
    /// let keychain = Keychain::new("my-cli", "store")?;
    /// # drop(keychain);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::Keychain` if there is no keychain (Linux: no D-Bus session bus, or no
    /// Secret Service on it) or it refuses the names.
    pub fn new(service: &str, account: &str) -> Result<Self> {
        let entry = keyring::Entry::new(service, account).map_err(keychain_error)?;
        Ok(Keychain {
            entry: entry.inner,
            name: format!("{service}/{account}"),
        })
    }

    /// The entry `service`/`account` in any `keyring-core` credential store (its mock
    /// store in tests, or a store the application set up itself).
    ///
    /// ```
    /// use microkv::Keychain;
    /// let store: std::sync::Arc<microkv::keyring_core::CredentialStore> = microkv::keyring_core::mock::Store::new()?;
    /// let keychain = Keychain::in_store(&store, "my-cli", "store")?;
    /// assert!(matches!(keychain.credential(), Err(microkv::Error::NoCredential(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// `Error::Keychain` if the store refuses the names.
    pub fn in_store(store: &Arc<CredentialStore>, service: &str, account: &str) -> Result<Self> {
        let entry = Entry::new_in_store(store, service, account).map_err(keychain_error)?;
        Ok(Keychain {
            entry,
            name: format!("{service}/{account}"),
        })
    }

    /// The key held in the entry.
    ///
    /// # Errors
    /// `Error::NoCredential` if the entry does not exist; `Error::InvalidKey` if it holds
    /// something other than 32 bytes (an entry written by something else);
    /// `Error::Keychain` if the keychain fails (locked and not unlocked, access denied).
    pub fn credential(&self) -> Result<Credential> {
        let key = self.entry.get_secret().map_err(|e| self.error(e))?;
        let key = Zeroizing::new(key);
        Credential::key_slice(&key)
    }

    /// Makes a new random key, writes it to the entry, and returns it. Refuses to replace
    /// a key already there: that key may be the only way into a store.
    ///
    /// # Errors
    /// `Error::AlreadyExists` if the entry holds a key; `Error::Random` if the OS random
    /// number generator fails; `Error::Keychain` if the keychain fails.
    pub fn create_key(&self) -> Result<Credential> {
        match self.entry.get_secret() {
            Ok(existing) => {
                drop(Zeroizing::new(existing));
                return Err(Error::AlreadyExists);
            }
            Err(keyring_core::Error::NoEntry) => {}
            Err(e) => return Err(self.error(e)),
        }
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut key[..]).map_err(|_| Error::Random)?;
        self.entry.set_secret(&key[..]).map_err(|e| self.error(e))?;
        Ok(Credential::key_ref(&key))
    }

    /// Removes the entry. The stores its key opened no longer open: only for a store that
    /// is gone too.
    ///
    /// # Errors
    /// `Error::NoCredential` if there is no entry; `Error::Keychain` if the keychain fails.
    pub fn delete(&self) -> Result<()> {
        self.entry.delete_credential().map_err(|e| self.error(e))
    }

    /// Opens the store at `path` with the key in the keychain; on the first run (no key
    /// and no file) makes a key and a new store there. A file that exists without a key
    /// is not replaced: `Error::NoCredential`, and nothing is written.
    ///
    /// # Errors
    /// `Error::NoCredential` for a file with no key in the keychain; the errors of
    /// [`Keychain::credential`], [`Keychain::create_key`] and [`MicroKV::open`] (a key
    /// made for a store that could not be created is removed again).
    pub fn open_or_create(&self, path: impl AsRef<Path>) -> Result<MicroKV> {
        let path = path.as_ref();
        match self.credential() {
            Ok(key) => MicroKV::open(path, key),
            Err(Error::NoCredential(_)) if !path.exists() => {
                let created = MicroKV::create_new(path, self.create_key()?);
                if created.is_err() {
                    // Best effort: the error that matters is the store's.
                    let _ = self.delete();
                }
                created
            }
            Err(e) => Err(e),
        }
    }

    fn error(&self, error: keyring_core::Error) -> Error {
        match error {
            keyring_core::Error::NoEntry => {
                Error::NoCredential(format!("the OS keychain (no entry {})", self.name))
            }
            other => keychain_error(other),
        }
    }
}

fn keychain_error(error: keyring_core::Error) -> Error {
    Error::Keychain(Box::new(error))
}
