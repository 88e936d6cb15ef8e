//! [`Position`]: where a store's durable state stands (the snapshot, and the journal
//! records applied after it), the hook an application pins outside the store's files.
#![forbid(unsafe_code)]

use crate::crypto::{NONCE_LEN, TAG_LEN};

/// Where a store's durable state stands: the snapshot it was loaded from or last saved
/// (its body nonce, drawn anew at every save) and the journal records applied since (how
/// many, and the last one's tag, which chains to every record before it).
///
/// Every durable write moves it, and only the data key makes a file that opens at a given
/// position, so a copy kept outside the store's files detects what the format alone cannot:
/// an older snapshot put back, a journal cut back at a record boundary or missing its last
/// record (README, "Threat model"). Pin [`Position::to_bytes`] somewhere an attacker on the
/// store's directory cannot roll back (a server, a TPM counter's log, another volume) after
/// each write, and compare after opening. From [`Store::position`](crate::Store::position).
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{Credential, MemoryStorage, Store};
/// let storage = MemoryStorage::default(); // clones share their images
/// let open = || Store::with_storage(storage.clone(), Credential::key([1; 32]), Default::default());
/// let db = open()?;
/// db.put("token", &"t-1".to_string())?;
/// db.save()?;
/// let pinned = db.position().expect("saved").to_bytes();
/// drop(db);
/// // Reopened at the same state: the same position.
/// let db = open()?;
/// assert_eq!(db.position().map(|p| p.to_bytes()), Some(pinned));
/// # Ok::<(), microkv::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    pub(super) snapshot: [u8; NONCE_LEN],
    pub(super) records: u64,
    pub(super) last_tag: [u8; TAG_LEN],
}

impl Position {
    /// Length of [`Position::to_bytes`].
    pub const LEN: usize = NONCE_LEN + 8 + TAG_LEN;

    /// Journal records applied after the snapshot.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{AutoSave, Config, Credential, MemoryStorage, Store};
    /// let config = Config { autosave: AutoSave::OnEveryWrite, ..Config::default() };
    /// let db = Store::with_storage(MemoryStorage::default(), Credential::key([1; 32]), config)?;
    /// db.put("a", &1u8)?; // the first write saves a snapshot...
    /// db.put("b", &2u8)?; // ...the next ones append journal records
    /// assert!(db.position().expect("durable").records() >= 1);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The position as bytes: snapshot nonce, `u64le` record count, last tag.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// # use microkv::{Credential, MemoryStorage, Store};
    /// # let db = Store::with_storage(MemoryStorage::default(), Credential::key([1; 32]), Default::default())?;
    /// # db.save()?;
    /// let p = db.position().expect("saved");
    /// assert_eq!(microkv::Position::from_bytes(p.to_bytes()), p);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn to_bytes(&self) -> [u8; Position::LEN] {
        let mut out = [0u8; Position::LEN];
        out[..NONCE_LEN].copy_from_slice(&self.snapshot);
        out[NONCE_LEN..NONCE_LEN + 8].copy_from_slice(&self.records.to_le_bytes());
        out[NONCE_LEN + 8..].copy_from_slice(&self.last_tag);
        out
    }

    /// The position [`Position::to_bytes`] wrote.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// let p = microkv::Position::from_bytes([0; microkv::Position::LEN]);
    /// assert_eq!(p.records(), 0);
    /// ```
    pub fn from_bytes(bytes: [u8; Position::LEN]) -> Position {
        let mut snapshot = [0u8; NONCE_LEN];
        snapshot.copy_from_slice(&bytes[..NONCE_LEN]);
        let mut records = [0u8; 8];
        records.copy_from_slice(&bytes[NONCE_LEN..NONCE_LEN + 8]);
        let mut last_tag = [0u8; TAG_LEN];
        last_tag.copy_from_slice(&bytes[NONCE_LEN + 8..]);
        Position {
            snapshot,
            records: u64::from_le_bytes(records),
            last_tag,
        }
    }
}
