//! Blobs of the embedded store: files under `<database>.blobs/`, each written to a temporary
//! name, synced and renamed (a blob is there whole or not at all), with its size and SHA-256
//! in a `.sha256` file beside it, written before the rename.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::SqliteBackend;
use crate::blobs::{BlobBackend, BlobInfo, copy_hashed};
use crate::{Result, StoreError};

fn io(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("{what}: {e}"))
}

impl SqliteBackend {
    fn blob_path(&self, name: &str) -> PathBuf {
        self.path.with_extension("blobs").join(name)
    }
}

impl BlobBackend for SqliteBackend {
    fn put_blob(&self, name: &str, reader: &mut dyn Read) -> Result<BlobInfo> {
        if self.read_only {
            return Err(StoreError::Config("the store is open read-only".into()));
        }
        let path = self.blob_path(name);
        if path.exists() {
            return Err(StoreError::Conflict(format!("blob {name:?} exists")));
        }
        let dir = path.parent().map(PathBuf::from).unwrap_or_default();
        std::fs::create_dir_all(&dir).map_err(|e| io("creating the blob folder", e))?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name().and_then(|f| f.to_str()).unwrap_or("blob"),
            std::process::id()
        ));
        let written = (|| {
            let mut file = File::create(&tmp).map_err(|e| io("creating a blob", e))?;
            let info = copy_hashed(reader, &mut file)?;
            file.sync_all().map_err(|e| io("syncing a blob", e))?;
            let mut meta = File::create(path.with_extension(sidecar_extension(&path)))
                .map_err(|e| io("writing a blob's digest", e))?;
            writeln!(meta, "{} {}", info.bytes, info.sha256)
                .and_then(|()| meta.sync_all())
                .map_err(|e| io("writing a blob's digest", e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io("naming a blob", e))?;
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(info)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    fn blob_info(&self, name: &str) -> Result<Option<BlobInfo>> {
        let path = self.blob_path(name);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(path.with_extension(sidecar_extension(&path)))
            .map_err(|e| io("reading a blob's digest", e))?;
        let mut parts = text.split_whitespace();
        match (parts.next().and_then(|b| b.parse().ok()), parts.next()) {
            (Some(bytes), Some(sha)) => Ok(Some(BlobInfo {
                bytes,
                sha256: sha.to_owned(),
            })),
            _ => Err(StoreError::Incompatible(format!(
                "the digest file of blob {name:?} is damaged"
            ))),
        }
    }

    fn read_blob(&self, name: &str, start: u64, len: u64, out: &mut dyn Write) -> Result<()> {
        let mut file = OpenOptions::new()
            .read(true)
            .open(self.blob_path(name))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StoreError::NotFound(format!("blob {name:?}")),
                _ => io("opening a blob", e),
            })?;
        file.seek(SeekFrom::Start(start))
            .map_err(|e| io("reading a blob", e))?;
        let copied =
            std::io::copy(&mut file.take(len), out).map_err(|e| io("reading a blob", e))?;
        if copied != len {
            return Err(StoreError::NotFound(format!(
                "blob {name:?} has no bytes {start}..{}",
                start + len
            )));
        }
        Ok(())
    }
}

/// `data.csv` → `csv.sha256`: the digest file's extension.
fn sidecar_extension(path: &std::path::Path) -> String {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) => format!("{e}.sha256"),
        None => "sha256".into(),
    }
}
