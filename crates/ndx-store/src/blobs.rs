//! The blob area of a store ([`Store::blobs`](crate::Store::blobs)): named, immutable byte
//! streams — the files of open-data releases — written once with their size and SHA-256 and
//! read by range. On SQLite they are files in a folder beside the database (written to a
//! temporary name, synced, then renamed); on PostgreSQL, chunks of 1 MiB in a table, so that
//! every process of a node serves them.

use std::io::{Read, Write};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::{Result, StoreError};

/// What a stored blob is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

/// The engine side of the blob area.
pub(crate) trait BlobBackend: Send + Sync {
    fn put_blob(&self, name: &str, reader: &mut dyn Read) -> Result<BlobInfo>;
    fn blob_info(&self, name: &str) -> Result<Option<BlobInfo>>;
    fn read_blob(&self, name: &str, start: u64, len: u64, out: &mut dyn Write) -> Result<()>;
}

/// The blob area.
#[derive(Clone)]
pub struct Blobs {
    pub(crate) backend: Arc<dyn BlobBackend>,
}

/// A blob name: 1–300 of `a-z 0-9 . _ -` in `/`-separated parts, none empty, `.` or `..`.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 300
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::KeyInvalid(format!(
            "{name:?} is not a blob name"
        )))
    }
}

impl Blobs {
    /// Stores `reader`'s bytes under a new `name`; its size and SHA-256. A name is written
    /// once (`Conflict` when it exists).
    pub fn put(&self, name: &str, reader: &mut dyn Read) -> Result<BlobInfo> {
        check_name(name)?;
        self.backend.put_blob(name, reader)
    }

    /// The blob's size and digest, if it exists.
    pub fn info(&self, name: &str) -> Result<Option<BlobInfo>> {
        check_name(name)?;
        self.backend.blob_info(name)
    }

    /// Writes bytes `start..start + len` of the blob to `out` (the range must lie within it).
    pub fn read(&self, name: &str, start: u64, len: u64, out: &mut dyn Write) -> Result<()> {
        check_name(name)?;
        self.backend.read_blob(name, start, len, out)
    }
}

/// Copies `reader` to `out` while hashing and counting it.
pub(crate) fn copy_hashed(reader: &mut dyn Read, out: &mut dyn Write) -> Result<BlobInfo> {
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| StoreError::Backend(format!("reading a blob's content: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| StoreError::Backend(format!("writing a blob: {e}")))?;
        bytes += n as u64;
    }
    Ok(BlobInfo {
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_stay_inside_the_area() {
        for ok in ["open/population/r1/data.csv", "a", "x-1_2.parquet"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/abs", "a//b", "../up", "a/./b", "A.csv", "a b", "a\\b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
