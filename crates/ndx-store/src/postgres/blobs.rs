//! Blobs on PostgreSQL (`blobs`, `blob_chunks`: migration 0008): the content in chunks of
//! [`CHUNK`] bytes, written with the size and digest in one transaction, read by the chunks a
//! range covers.

use std::io::{Read, Write};

use super::PostgresBackend;
use super::conn::col;
use crate::blobs::{BlobBackend, BlobInfo};
use crate::{Result, StoreError};

/// Bytes per stored chunk.
const CHUNK: usize = 1 << 20;

/// Fills `buf` from `reader` as far as it goes; the bytes read.
fn fill(reader: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(StoreError::Backend(format!(
                    "reading a blob's content: {e}"
                )));
            }
        }
    }
    Ok(n)
}

impl BlobBackend for PostgresBackend {
    fn put_blob(&self, name: &str, reader: &mut dyn Read) -> Result<BlobInfo> {
        use sha2::{Digest, Sha256};
        self.transaction(|c| {
            let inserted = c.execute(
                "INSERT INTO blobs (name, bytes, sha256) VALUES ($1, 0, '') ON CONFLICT DO NOTHING",
                &[&name],
            )?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("blob {name:?} exists")));
            }
            let mut hasher = Sha256::new();
            let mut bytes = 0u64;
            let mut buf = vec![0u8; CHUNK];
            let mut seq = 0i32;
            loop {
                let n = fill(reader, &mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                c.execute(
                    "INSERT INTO blob_chunks (name, seq, data) VALUES ($1, $2, $3)",
                    &[&name, &seq, &&buf[..n]],
                )?;
                bytes += n as u64;
                seq += 1;
                if n < CHUNK {
                    break;
                }
            }
            let info = BlobInfo {
                bytes,
                sha256: hex::encode(hasher.finalize()),
            };
            let size = i64::try_from(bytes).unwrap_or(i64::MAX);
            c.execute(
                "UPDATE blobs SET bytes = $2, sha256 = $3 WHERE name = $1",
                &[&name, &size, &info.sha256],
            )?;
            Ok(info)
        })
    }

    fn blob_info(&self, name: &str) -> Result<Option<BlobInfo>> {
        let row = self
            .conn()?
            .query_opt("SELECT bytes, sha256 FROM blobs WHERE name = $1", &[&name])?;
        row.map(|r| {
            Ok(BlobInfo {
                bytes: col::<i64>(&r, 0)? as u64,
                sha256: col::<String>(&r, 1)?,
            })
        })
        .transpose()
    }

    fn read_blob(&self, name: &str, start: u64, len: u64, out: &mut dyn Write) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let chunk = CHUNK as u64;
        let first = i32::try_from(start / chunk).unwrap_or(i32::MAX);
        let last = i32::try_from((start + len - 1) / chunk).unwrap_or(i32::MAX);
        let rows = self.conn()?.query(
            "SELECT seq, data FROM blob_chunks WHERE name = $1 AND seq BETWEEN $2 AND $3 \
             ORDER BY seq",
            &[&name, &first, &last],
        )?;
        let mut written = 0u64;
        for r in &rows {
            let seq = u64::try_from(col::<i32>(r, 0)?).unwrap_or(0);
            let data: &[u8] = col(r, 1)?;
            let chunk_start = seq * chunk;
            let from = start.saturating_sub(chunk_start) as usize;
            let to = ((start + len).min(chunk_start + data.len() as u64) - chunk_start) as usize;
            if from < to {
                out.write_all(&data[from..to])
                    .map_err(|e| StoreError::Backend(format!("writing a blob: {e}")))?;
                written += (to - from) as u64;
            }
        }
        if written != len {
            return Err(StoreError::NotFound(format!(
                "blob {name:?} has no bytes {start}..{}",
                start + len
            )));
        }
        Ok(())
    }
}
