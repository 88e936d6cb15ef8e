//! [`Named`]: a file store's [`FileStorage`] as the store sees it, with every I/O error
//! naming the operation and the file (`Error::io_context`). Never a key name: the store
//! file's, its journal's or its lock file's path, and what was being done.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use crate::{FileStorage, Result, Storage, WriteLock};

/// Forwards every method of [`Storage`] to the file storage (a method left out would
/// silently take the trait's default instead: each one is here), adding the file and
/// operation to the errors that name none.
pub(crate) struct Named {
    file: FileStorage,
    journal: PathBuf,
}

impl Named {
    pub(crate) fn new(file: FileStorage) -> Self {
        let journal = file.journal_path();
        Named { file, journal }
    }

    fn store_file<T>(&self, operation: &'static str, result: Result<T>) -> Result<T> {
        result.map_err(|e| e.in_file(operation, self.file.path()))
    }

    fn journal<T>(&self, operation: &'static str, result: Result<T>) -> Result<T> {
        result.map_err(|e| e.in_file(operation, &self.journal))
    }
}

impl Storage for Named {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        self.store_file("reading the store file", self.file.load())
    }

    fn store(&self, bytes: &[u8]) -> Result<()> {
        self.store_file("saving the store file", self.file.store(bytes))
    }

    fn store_replacing(&self, expected: &[u8], bytes: &[u8]) -> Result<()> {
        let stored = self.file.store_replacing(expected, bytes);
        self.store_file("saving the store file", stored)
    }

    fn append(&self, keep: u64, bytes: &[u8]) -> Result<bool> {
        self.journal("appending to the journal", self.file.append(keep, bytes))
    }

    fn load_journal(&self) -> Result<Vec<u8>> {
        self.journal("reading the journal", self.file.load_journal())
    }

    fn load_at_most(&self, max: u64) -> Result<Option<Vec<u8>>> {
        self.store_file("reading the store file", self.file.load_at_most(max))
    }

    fn is_shared(&self) -> bool {
        self.file.is_shared()
    }

    fn lock_writes(&self) -> Result<WriteLock> {
        let locked = self.file.lock_writes();
        locked.map_err(|e| e.in_file("locking", self.file.lock_path()))
    }

    fn load_head(&self, len: usize) -> Result<Option<Vec<u8>>> {
        self.store_file("reading the store file", self.file.load_head(len))
    }

    fn journal_len(&self) -> Result<u64> {
        self.journal("reading the journal", self.file.journal_len())
    }

    fn load_journal_from(&self, from: u64, max: u64) -> Result<Vec<u8>> {
        self.journal(
            "reading the journal",
            self.file.load_journal_from(from, max),
        )
    }

    fn load_journal_at_most(&self, max: u64) -> Result<Vec<u8>> {
        self.journal("reading the journal", self.file.load_journal_at_most(max))
    }
}
