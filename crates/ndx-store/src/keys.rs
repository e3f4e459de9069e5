//! What every engine refuses alike before a caller's text reaches SQL: a record key that is
//! empty, longer than [`MAX_KEY_BYTES`] or holds a control character (`KeyInvalid`), and a NUL
//! character in any text (`TextInvalid`; PostgreSQL cannot store one and would answer with an
//! error that looks like an outage, while SQLite would store it).

use crate::{Result, StoreError};

pub use ndx_types::text::MAX_KEY_BYTES;

/// A record key a caller hands the store (to write or to look up).
pub(crate) fn record_key(key: &str) -> Result<()> {
    ndx_types::text::check_record_key(key)
        .map_err(|why| StoreError::KeyInvalid(format!("record key {:?} {why}", shorten(key))))
}

/// Any other text a caller hands the store: `what` names it in the message.
pub(crate) fn text(what: &str, value: &str) -> Result<()> {
    match value.find('\0') {
        Some(at) => Err(StoreError::TextInvalid(format!(
            "{what} contains the control character U+0000 at byte {}",
            at + 1
        ))),
        None => Ok(()),
    }
}

/// A key as a message quotes it: at most its first 64 characters.
fn shorten(key: &str) -> String {
    match key.char_indices().nth(64) {
        Some((at, _)) => format!("{}…", &key[..at]),
        None => key.to_owned(),
    }
}
