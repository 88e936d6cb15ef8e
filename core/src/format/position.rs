//! [`Position`]: where a store's durable state stands (the snapshot, and the journal
//! records applied after it), the hook an application pins outside the store's files.
#![forbid(unsafe_code)]

use crate::crypto::{NONCE_LEN, TAG_LEN};

/// Where a store's durable state stands: the snapshot it was loaded from or last saved
/// (its sequence number, one more at every save, and its body nonce, drawn anew at every
/// save) and the journal records applied since (how many, and the last one's tag, which
/// chains to every record before it).
///
/// Every durable write moves it, and only the data key makes a file that opens at a given
/// position, so a copy kept outside the store's files detects what the format alone cannot:
/// an older snapshot put back (after a rekey too), or a journal cut back at a record
/// boundary (README, "Threat model"). Two ways to use it, from
/// [`Store::position`](crate::Store::position):
///
/// - **Exact**: pin [`Position::to_bytes`] somewhere an attacker on the store's directory
///   cannot roll back (a server, a TPM counter's log, another volume) after each write,
///   and compare after opening.
/// - **At least**: pin [`Position::order`] whenever convenient, and check after opening
///   that the store's is not below it. The order never goes back for one store's history
///   (a save, a compaction and a rekey each raise the sequence and start the records at
///   0; a write adds a record), so any older state is below every pin taken since, while
///   writes made after the pin pass.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{Credential, MemoryStorage, Store};
/// let storage = MemoryStorage::default(); // clones share their images
/// let open = || Store::with_storage(storage.clone(), Credential::key([1; 32]), Default::default());
/// let db = open()?;
/// db.put("token", &"t-1".to_string())?;
/// db.save()?;
/// let pinned = db.position().expect("saved");
/// db.put("token", &"t-2".to_string())?;
/// db.save()?;
/// drop(db);
/// // Reopened later: at or above the pinned order, and not at the pinned state.
/// let db = open()?;
/// let now = db.position().expect("saved");
/// assert!(now.order() > pinned.order());
/// assert_ne!(now.to_bytes(), pinned.to_bytes());
/// # Ok::<(), microkv::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    pub(super) sequence: u64,
    pub(super) snapshot: [u8; NONCE_LEN],
    pub(super) records: u64,
    pub(super) last_tag: [u8; TAG_LEN],
}

impl Position {
    /// Length of [`Position::to_bytes`].
    pub const LEN: usize = 8 + NONCE_LEN + 8 + TAG_LEN;

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

    /// The snapshot's sequence number: 1 for a new store's first save, one more at each
    /// save after it (0 for a file written before 0.4 kept it).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{Credential, MemoryStorage, Store};
    /// let db = Store::with_storage(MemoryStorage::default(), Credential::key([1; 32]), Default::default())?;
    /// db.save()?;
    /// let first = db.position().expect("saved").sequence();
    /// db.rekey(Credential::key([2; 32]))?; // saves under the new key
    /// assert_eq!(db.position().expect("saved").sequence(), first + 1);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// `(sequence, records)`: compared as a pair, it never goes back for one store's
    /// history (see the type's docs).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use microkv::{AutoSave, Config, Credential, MemoryStorage, Store};
    /// let config = Config { autosave: AutoSave::OnEveryWrite, ..Config::default() };
    /// let db = Store::with_storage(MemoryStorage::default(), Credential::key([1; 32]), config)?;
    /// db.put("a", &1u8)?;
    /// let before = db.position().expect("durable").order();
    /// db.put("a", &2u8)?;
    /// assert!(db.position().expect("durable").order() > before);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    pub fn order(&self) -> (u64, u64) {
        (self.sequence, self.records)
    }

    /// The position as bytes: `u64le` sequence, snapshot nonce, `u64le` record count, last
    /// tag.
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
        super::concat(&[
            &self.sequence.to_le_bytes(),
            &self.snapshot,
            &self.records.to_le_bytes(),
            &self.last_tag,
        ])
    }

    /// The position [`Position::to_bytes`] wrote.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// let p = microkv::Position::from_bytes([0; microkv::Position::LEN]);
    /// assert_eq!(p.order(), (0, 0));
    /// ```
    pub fn from_bytes(bytes: [u8; Position::LEN]) -> Position {
        let u64_at = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(word)
        };
        let mut snapshot = [0u8; NONCE_LEN];
        snapshot.copy_from_slice(&bytes[8..8 + NONCE_LEN]);
        let mut last_tag = [0u8; TAG_LEN];
        last_tag.copy_from_slice(&bytes[Position::LEN - TAG_LEN..]);
        Position {
            sequence: u64_at(0),
            snapshot,
            records: u64_at(8 + NONCE_LEN),
            last_tag,
        }
    }
}
