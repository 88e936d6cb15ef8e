//! Looking at what a [`Tree`] holds without knowing its types: an entry's expiry, and a
//! value's bytes as stored (for a dump of every value, whatever it is).
#![forbid(unsafe_code)]

use core::ops::ControlFlow;
use core::time::Duration;

use super::Tree;
use crate::error::{Error, Result};
use crate::secret::SecretBytes;
use crate::space::Every;

impl Tree {
    /// When the entry under `key` expires, as a time since the Unix epoch by the store's
    /// clock; `None` if it has no TTL.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use std::{sync::Arc, time::Duration};
    /// use microkv::{Config, Credential, ManualClock, Store};
    /// let clock = ManualClock::new(Duration::from_secs(1_000));
    /// let config = Config { clock: Some(Arc::new(clock.clone())), ..Default::default() };
    /// let db = Store::in_memory_with(Credential::key([1; 32]), config)?;
    /// db.put_with_ttl("otp", "123456", Duration::from_secs(60))?;
    /// db.put("name", "forever")?;
    /// assert_eq!(db.expires_at("otp")?, Some(Duration::from_secs(1_060)));
    /// assert_eq!(db.expires_at("name")?, None);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::KeyNotFound` if there is no live entry under `key` (absent or expired); a
    /// catch-up's.
    pub fn expires_at(&self, key: &str) -> Result<Option<Duration>> {
        let (expires_at, _) = self.expiry(key)?;
        Ok(expires_at.map(Duration::from_millis))
    }

    /// How long the entry under `key` has left to live by the store's clock; `None` if it
    /// has no TTL.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use std::{sync::Arc, time::Duration};
    /// use microkv::{Config, Credential, Error, ManualClock, Store};
    /// let clock = ManualClock::new(Duration::from_secs(1_000));
    /// let config = Config { clock: Some(Arc::new(clock.clone())), ..Default::default() };
    /// let db = Store::in_memory_with(Credential::key([1; 32]), config)?;
    /// db.put_with_ttl("otp", "123456", Duration::from_secs(60))?;
    /// clock.advance(Duration::from_secs(45));
    /// assert_eq!(db.ttl("otp")?, Some(Duration::from_secs(15)));
    /// clock.advance(Duration::from_secs(15));
    /// assert!(matches!(db.ttl("otp"), Err(Error::KeyNotFound)));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::KeyNotFound` if there is no live entry under `key` (absent or expired);
    /// `Error::NoClock` for an entry with a TTL in a store without a clock; a catch-up's.
    pub fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        match self.expiry(key)? {
            (Some(at), Some(now)) => Ok(Some(Duration::from_millis(at.saturating_sub(now)))),
            (Some(_), None) => Err(Error::NoClock),
            (None, _) => Ok(None),
        }
    }

    /// The live entry's expiry and the store's time (when it has a TTL).
    fn expiry(&self, key: &str) -> Result<(Option<u64>, Option<u64>)> {
        self.engine.refresh_if_due()?;
        (self.engine.expiry_of(&self.name, key)?).ok_or(Error::KeyNotFound)
    }

    /// The value under `key` as it is stored: its MessagePack bytes, in the arena. MessagePack describes itself, so any
    /// value reads back from these bytes, byte strings included, with a MessagePack
    /// reader such as `rmpv`, and from there to JSON or any other form; see
    /// [`Tree::for_each_encoded`] for a dump of every value.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// db.put("n", &7u8)?;
    /// let raw = db.get_encoded("n")?.expect("present");
    /// assert_eq!(raw.expose_secret(), [0x07]); // MessagePack's 7
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::Forked` in a forked child; `Error::SecureAlloc` if the arena cannot hold the
    /// decrypted value; `Error::Crypto` if a value fails authentication; a catch-up's.
    pub fn get_encoded(&self, key: &str) -> Result<Option<SecretBytes>> {
        self.engine.refresh_if_due()?;
        Ok((self.engine.open_live(&self.name, key)?).map(SecretBytes::whole))
    }

    /// Calls `f` with each live entry's name and stored bytes (as [`Tree::get_encoded`];
    /// a snapshot taken at the call) until it returns `ControlFlow::Break`: a dump of
    /// every value, whatever its type. The store is not locked while `f` runs.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # let db = microkv::Store::in_memory(microkv::Credential::key([1; 32]))?;
    /// use core::ops::ControlFlow;
    /// db.put("name", "alice")?;
    /// db.put("blob", &serde_bytes::Bytes::new(b"\x00\x01"))?;
    /// let mut dump = Vec::new();
    /// db.for_each_encoded(|key, raw| {
    ///     let value = rmpv::decode::read_value(&mut raw.expose_secret()).expect("MessagePack");
    ///     dump.push((key.to_owned(), value));
    ///     ControlFlow::Continue(())
    /// })?;
    /// dump.sort_by(|a, b| a.0.cmp(&b.0));
    /// assert_eq!(dump[0].1, rmpv::Value::Binary(vec![0, 1]));
    /// assert_eq!(dump[1].1, rmpv::Value::from("alice"));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Tree::get_encoded`], for any of the entries.
    pub fn for_each_encoded<F>(&self, mut f: F) -> Result<()>
    where
        F: FnMut(&str, SecretBytes) -> ControlFlow<()>,
    {
        self.engine.refresh_if_due()?;
        let (keyring, entries) = self.engine.live_entries(&self.name, Every)?;
        for (k, e) in entries {
            let plain = e.open(&keyring, &self.engine.arena, &self.name, &k)?;
            if f(&k, SecretBytes::whole(plain)).is_break() {
                break;
            }
        }
        Ok(())
    }
}
