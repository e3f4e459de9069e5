//! CSV output for benchmarks and demos.

use std::io::{self, BufWriter, Write};

use serde_json::Value;

use crate::Record;

/// Writes `records` as CSV: a header row of `fields`, then one row per record with the fields
/// in that order. Values are quoted per RFC 4180 only when they contain a comma, a double quote
/// or a line break; absent and `null` values are empty cells; non-string values are written as
/// JSON. Rows end with `\n`. Output is buffered. Returns the number of data rows.
pub fn write_csv<W: Write>(
    records: impl Iterator<Item = Record>,
    fields: &[&str],
    out: W,
) -> io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 16, out);
    for (k, f) in fields.iter().enumerate() {
        if k > 0 {
            w.write_all(b",")?;
        }
        write_field(&mut w, f)?;
    }
    w.write_all(b"\n")?;
    let mut rows = 0u64;
    for record in records {
        for (k, f) in fields.iter().enumerate() {
            if k > 0 {
                w.write_all(b",")?;
            }
            match record.get(*f) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => write_field(&mut w, s)?,
                Some(other) => write_field(&mut w, &other.to_string())?,
            }
        }
        w.write_all(b"\n")?;
        rows += 1;
    }
    w.flush()?;
    Ok(rows)
}

fn write_field<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
    if !s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        return w.write_all(s.as_bytes());
    }
    w.write_all(b"\"")?;
    for (k, part) in s.split('"').enumerate() {
        if k > 0 {
            w.write_all(b"\"\"")?;
        }
        w.write_all(part.as_bytes())?;
    }
    w.write_all(b"\"")
}
