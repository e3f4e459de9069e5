//! The streaming readers of each input format: CSV (with a header row), NDJSON and a JSON
//! array. Each reads one record at a time (never the whole input), maps it onto the schema's
//! fields and hands it to the running [`Batch`]; a record that cannot be read into fields is
//! counted as malformed, an input that cannot be read at all is an error.

use std::io::{BufRead, BufReader, Read};

use ndx_types::validate::{CompiledSchema, RawValue};
use serde_json::{Map, Value};

use super::batch::{Batch, Op};
use super::{IngestOptions, OP_FIELD};
use crate::error::{Code, Error, Result};

fn parse_op(v: Option<&str>) -> std::result::Result<Op, String> {
    match v {
        None | Some("") | Some("upsert") => Ok(Op::Upsert),
        Some("delete") => Ok(Op::Delete),
        Some(other) => Err(format!(
            "{OP_FIELD} must be \"upsert\" or \"delete\", found {other:?}"
        )),
    }
}

/// Maps the columns of an input to schema positions.
struct Columns {
    /// For each input column: the schema field index, or `None` for `_op`.
    slots: Vec<Option<usize>>,
    op: Option<usize>,
}

fn csv_columns(header: &csv::ByteRecord, compiled: &CompiledSchema) -> Result<Columns> {
    let mut slots = Vec::with_capacity(header.len());
    let mut op = None;
    let mut seen = std::collections::HashSet::new();
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw).map_err(|_| {
            Error::of(
                Code::CsvHeaderInvalid,
                format!("header column {} is not UTF-8", i + 1),
            )
        })?;
        let name = name.trim_start_matches('\u{feff}');
        if !seen.insert(name.to_owned()) {
            return Err(Error::of(
                Code::CsvDuplicateColumn,
                format!("column {name:?} appears twice in the header"),
            ));
        }
        if name == OP_FIELD {
            op = Some(i);
            slots.push(None);
            continue;
        }
        match compiled.field_index(name) {
            Some(f) => slots.push(Some(f)),
            None => {
                return Err(Error::of(
                    Code::CsvUnknownColumn,
                    format!(
                        "column {name:?} is not a field of dataset {:?} (fields: {})",
                        compiled.schema().dataset,
                        compiled.field_names().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    let present: std::collections::HashSet<usize> = slots.iter().flatten().copied().collect();
    let missing: Vec<&str> = compiled
        .schema()
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| f.required && !present.contains(i))
        .map(|(_, f)| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::of(
            Code::CsvMissingColumn,
            format!(
                "required column(s) missing from the header: {}",
                missing.join(", ")
            ),
        ));
    }
    Ok(Columns { slots, op })
}

/// Remembers where the line terminators (`\r`, `\n`) are in the bytes read ahead by the CSV
/// parser, so a record's byte offset can be turned into the physical line it starts on,
/// whatever the line endings, blank lines or quoted newlines before it. Only the read-ahead
/// window is kept.
struct NewlineTracker {
    pending: std::collections::VecDeque<(u64, u8)>,
    read: u64,
    passed: u64,
}

impl NewlineTracker {
    /// The 1-based line on which the record the parser began at `offset` starts. The parser's
    /// offset may point at the end of the previous line (after a CR of a CRLF) or at blank
    /// lines it skipped; the record starts after them.
    fn line_of(&mut self, offset: u64) -> u64 {
        while let Some(&(pos, byte)) = self.pending.front() {
            if pos >= offset {
                break;
            }
            self.pending.pop_front();
            self.passed += u64::from(byte == b'\n');
        }
        let mut at = offset;
        while let Some(&(pos, byte)) = self.pending.front() {
            if pos != at {
                break;
            }
            self.pending.pop_front();
            self.passed += u64::from(byte == b'\n');
            at += 1;
        }
        self.passed + 1
    }
}

struct NewlineReader<'t, R> {
    inner: R,
    tracker: &'t std::cell::RefCell<NewlineTracker>,
}

impl<R: Read> Read for NewlineReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut t = self.tracker.borrow_mut();
        let base = t.read;
        t.pending.extend(
            buf[..n]
                .iter()
                .enumerate()
                .filter(|(_, b)| matches!(**b, b'\n' | b'\r'))
                .map(|(i, b)| (base + i as u64, *b)),
        );
        t.read += n as u64;
        Ok(n)
    }
}

pub(super) fn read_csv(
    input: impl Read,
    batch: &mut Batch<'_, '_>,
    opts: &IngestOptions,
) -> Result<()> {
    let tracker = std::cell::RefCell::new(NewlineTracker {
        pending: std::collections::VecDeque::new(),
        read: 0,
        passed: 0,
    });
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(NewlineReader {
            inner: input,
            tracker: &tracker,
        });
    let header = match rdr.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(csv_fatal(e)),
    };
    if tracker.borrow().read == 0 {
        return Err(Error::of(Code::BatchEmpty, "the input holds no records"));
    }
    if header.is_empty() || (header.len() == 1 && header.get(0) == Some(b"")) {
        return Err(Error::of(
            Code::CsvHeaderMissing,
            "the CSV input has no header row",
        ));
    }
    let cols = csv_columns(&header, batch.compiled)?;
    let n_fields = batch.compiled.len();
    let mut row = csv::ByteRecord::new();
    let mut number = 0u64;
    loop {
        match rdr.read_byte_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_fatal(e)),
        }
        number += 1;
        let line = row
            .position()
            .map(|p| tracker.borrow_mut().line_of(p.byte()));
        if row.len() != header.len() {
            batch.malformed(
                number,
                line,
                None,
                Code::CsvFieldCount,
                format!(
                    "row has {} fields, the header has {}",
                    row.len(),
                    header.len()
                ),
            );
            continue;
        }
        if row.as_slice().len() > opts.max_record_bytes {
            batch.malformed(
                number,
                line,
                None,
                Code::RecordTooLarge,
                format!("row is larger than {} bytes", opts.max_record_bytes),
            );
            continue;
        }
        let mut texts: Vec<&str> = Vec::with_capacity(row.len());
        let mut bad_utf8 = None;
        for (i, cell) in row.iter().enumerate() {
            match std::str::from_utf8(cell) {
                Ok(s) => texts.push(s),
                Err(_) => {
                    bad_utf8 = Some(i);
                    break;
                }
            }
        }
        if let Some(i) = bad_utf8 {
            let field = cols.slots[i].map(|f| batch.compiled.schema().fields[f].name.clone());
            batch.malformed(
                number,
                line,
                field,
                Code::NotUtf8,
                format!("column {} is not valid UTF-8", i + 1),
            );
            continue;
        }
        let mut values = vec![RawValue::Absent; n_fields];
        for (i, slot) in cols.slots.iter().enumerate() {
            if let Some(f) = slot {
                values[*f] = RawValue::Text(texts[i]);
            }
        }
        let op = match parse_op(cols.op.map(|i| texts[i])) {
            Ok(op) => op,
            Err(msg) => {
                batch.malformed(number, line, Some(OP_FIELD.into()), Code::OpInvalid, msg);
                continue;
            }
        };
        batch.apply(number, line, op, &values)?;
    }
    Ok(())
}

fn csv_fatal(e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::io(io),
        other => Error::of(
            Code::CsvMalformed,
            format!("the CSV input is malformed: {other:?}"),
        ),
    }
}

/// Why a JSON record could not be mapped to fields: (field, code, message).
type Malformed = (Option<String>, Code, String);

fn object_values<'v>(
    obj: &'v Map<String, Value>,
    compiled: &CompiledSchema,
) -> std::result::Result<(Op, Vec<RawValue<'v>>), Malformed> {
    let mut values = vec![RawValue::Absent; compiled.len()];
    let mut op = Op::Upsert;
    for (name, v) in obj {
        if name == OP_FIELD {
            op = parse_op(v.as_str().or(if v.is_null() { None } else { Some("?") }))
                .map_err(|m| (Some(OP_FIELD.to_owned()), Code::OpInvalid, m))?;
            continue;
        }
        match compiled.field_index(name) {
            Some(i) => values[i] = RawValue::Json(v),
            None => {
                return Err((
                    Some(name.clone()),
                    Code::UnknownField,
                    format!(
                        "{name:?} is not a field of dataset {:?}",
                        compiled.schema().dataset
                    ),
                ));
            }
        }
    }
    Ok((op, values))
}

fn apply_json(batch: &mut Batch<'_, '_>, number: u64, line: Option<u64>, v: &Value) -> Result<()> {
    let Value::Object(obj) = v else {
        batch.malformed(
            number,
            line,
            None,
            Code::JsonNotObject,
            format!("record is not a JSON object but {}", kind_of(v)),
        );
        return Ok(());
    };
    match object_values(obj, batch.compiled) {
        Ok((op, values)) => batch.apply(number, line, op, &values),
        Err((field, code, msg)) => {
            batch.malformed(number, line, field, code, msg);
            Ok(())
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn read_ndjson(
    input: impl Read,
    batch: &mut Batch<'_, '_>,
    opts: &IngestOptions,
) -> Result<()> {
    let mut rdr = BufReader::with_capacity(1 << 16, input);
    let mut line_no = 0u64;
    let mut number = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let (n, complete) =
            read_bounded_line(&mut rdr, &mut buf, opts.max_record_bytes).map_err(Error::io)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if !complete {
            number += 1;
            batch.malformed(
                number,
                Some(line_no),
                None,
                Code::RecordTooLarge,
                format!("line is longer than {} bytes", opts.max_record_bytes),
            );
            continue;
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim(),
            Err(_) => {
                number += 1;
                batch.malformed(
                    number,
                    Some(line_no),
                    None,
                    Code::NotUtf8,
                    "line is not valid UTF-8".into(),
                );
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        number += 1;
        match serde_json::from_str::<Value>(text) {
            Ok(v) => apply_json(batch, number, Some(line_no), &v)?,
            Err(e) => batch.malformed(
                number,
                Some(line_no),
                None,
                Code::JsonMalformed,
                format!("line is not valid JSON: {e}"),
            ),
        }
    }
    Ok(())
}

/// Reads one line into `buf` (without the newline), keeping at most `max` bytes; returns the
/// bytes consumed and whether the line fitted.
fn read_bounded_line(
    rdr: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut fits = true;
    loop {
        let available = rdr.fill_buf()?;
        if available.is_empty() {
            return Ok((consumed, fits));
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        if fits {
            if buf.len() + chunk.len() > max {
                fits = false;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(available.len());
        rdr.consume(used);
        consumed += used;
        if done.is_some() {
            return Ok((consumed, fits));
        }
    }
}

pub(super) fn read_json_array(input: impl Read, batch: &mut Batch<'_, '_>) -> Result<()> {
    use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

    struct Elements<'b, 'x, 'y> {
        batch: &'b mut Batch<'x, 'y>,
        failure: &'b mut Option<Error>,
    }
    impl<'de> Visitor<'de> for Elements<'_, '_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array of record objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            let mut number = 0u64;
            while let Some(v) = seq.next_element::<Value>()? {
                number += 1;
                if let Err(e) = apply_json(self.batch, number, None, &v) {
                    *self.failure = Some(e);
                    return Err(serde::de::Error::custom("stopped"));
                }
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Elements<'_, '_, '_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    let mut failure = None;
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, input));
    let outcome = Elements {
        batch,
        failure: &mut failure,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Some(e) = failure {
        return Err(e);
    }
    match outcome {
        Ok(()) => Ok(()),
        // Converting back yields the original I/O error (e.g. the body size limit).
        Err(e) if e.is_io() => Err(Error::io(std::io::Error::from(e))),
        Err(e) => Err(Error::of(
            Code::JsonMalformed,
            format!(
                "the JSON input is malformed at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )),
    }
}
