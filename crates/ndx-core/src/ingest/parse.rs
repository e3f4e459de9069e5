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

/// Where an unquoted field holds a quote, or a quoted field goes on after its closing quote:
/// the permissive parser would take either as text, RFC 4180 does not allow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteFault {
    /// `Ngu"yen`.
    InUnquotedField,
    /// `"Nguyen"x`.
    AfterClosingQuote,
}

/// Follows the raw bytes of a CSV input to find quotes where RFC 4180 allows none (see
/// [`QuoteFault`]); the parser itself decodes the fields.
#[derive(Debug, Default)]
struct QuoteCheck {
    state: QuoteState,
    field: usize,
    /// The first fault of the current record and its field's 0-based column.
    fault: Option<(usize, QuoteFault)>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    #[default]
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the closing one, or the first of a doubled pair.
    QuotedQuote,
}

impl QuoteCheck {
    fn scan(&mut self, bytes: &[u8]) {
        use QuoteState::*;
        let mut i = 0;
        while i < bytes.len() {
            // Inside a field, ordinary bytes change nothing: skip them in a tight loop.
            let rest = &bytes[i..];
            let skip = match self.state {
                Quoted => rest.iter().position(|&b| b == b'"'),
                Unquoted => rest
                    .iter()
                    .position(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n')),
                FieldStart | QuotedQuote => Some(0),
            };
            let Some(skip) = skip else { return };
            i += skip;
            let b = bytes[i];
            i += 1;
            self.state = match (self.state, b) {
                (Quoted, b'"') => QuotedQuote,
                (Quoted, _) => Quoted,
                (FieldStart, b'"') | (QuotedQuote, b'"') => Quoted,
                (_, b',') => {
                    self.field += 1;
                    FieldStart
                }
                (_, b'\r' | b'\n') => {
                    self.field = 0;
                    FieldStart
                }
                (Unquoted, b'"') => {
                    self.fault(QuoteFault::InUnquotedField);
                    Unquoted
                }
                (QuotedQuote, _) => {
                    self.fault(QuoteFault::AfterClosingQuote);
                    Unquoted
                }
                (FieldStart | Unquoted, _) => Unquoted,
            };
        }
    }

    fn fault(&mut self, fault: QuoteFault) {
        if self.fault.is_none() {
            self.fault = Some((self.field, fault));
        }
    }
}

/// What the bounded CSV reader found next.
enum CsvNext {
    /// A record: its fields are in `out` up to `ends[..fields]`.
    Record { start: u64, fields: usize },
    /// A record whose fields together exceed the record size limit (skipped, never held).
    TooLarge { start: u64 },
    /// A record with more fields than the reader keeps positions for (skipped).
    TooManyFields { start: u64 },
    /// The end of the input.
    End,
}

/// Most fields a CSV row may have; far above any schema.
const MAX_CSV_FIELDS: usize = 4096;

/// A CSV reader whose memory is bounded whatever the input: the decoded fields of one record
/// go into a buffer of the record size limit, allocated once, and a record that does not fit
/// is read through and skipped instead of grown into.
struct BoundedCsv<R> {
    parser: csv_core::Reader,
    input: BufReader<R>,
    out: Vec<u8>,
    ends: Vec<usize>,
    consumed: u64,
    quotes: QuoteCheck,
}

impl<R: Read> BoundedCsv<R> {
    fn new(input: R, max_record_bytes: usize) -> Self {
        BoundedCsv {
            parser: csv_core::Reader::new(),
            input: BufReader::with_capacity(1 << 16, input),
            out: vec![0; max_record_bytes.max(1)],
            ends: vec![0; MAX_CSV_FIELDS],
            consumed: 0,
            quotes: QuoteCheck::default(),
        }
    }

    fn next(&mut self) -> std::io::Result<CsvNext> {
        let start = self.consumed;
        self.quotes.fault = None;
        let (mut out_len, mut n_ends) = (0usize, 0usize);
        let mut overflow: Option<fn(u64) -> CsvNext> = None;
        loop {
            let input = self.input.fill_buf()?;
            let (result, nin, nout, nend) =
                self.parser
                    .read_record(input, &mut self.out[out_len..], &mut self.ends[n_ends..]);
            self.quotes.scan(&input[..nin]);
            self.input.consume(nin);
            self.consumed += nin as u64;
            out_len += nout;
            n_ends += nend;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    // Read the rest of the record through into the same buffer.
                    overflow.get_or_insert(|start| CsvNext::TooLarge { start });
                    out_len = 0;
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    overflow.get_or_insert(|start| CsvNext::TooManyFields { start });
                    n_ends = 0;
                }
                csv_core::ReadRecordResult::Record => {
                    return Ok(match overflow {
                        Some(skipped) => skipped(start),
                        None => CsvNext::Record {
                            start,
                            fields: n_ends,
                        },
                    });
                }
                csv_core::ReadRecordResult::End => return Ok(CsvNext::End),
            }
        }
    }

    /// The fields of the record just read.
    fn fields(&self, n: usize) -> impl Iterator<Item = &[u8]> {
        let mut from = 0;
        self.ends[..n].iter().map(move |&end| {
            let field = &self.out[from..end];
            from = end;
            field
        })
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
    let mut rdr = BoundedCsv::new(
        NewlineReader {
            inner: input,
            tracker: &tracker,
        },
        opts.max_record_bytes,
    );
    let header_fields = match rdr.next().map_err(Error::io)? {
        CsvNext::End => {
            return Err(if rdr.consumed == 0 {
                Error::of(Code::BatchEmpty, "the input holds no records")
            } else {
                Error::of(Code::CsvHeaderMissing, "the CSV input has no header row")
            });
        }
        CsvNext::TooLarge { .. } => {
            return Err(Error::of(
                Code::CsvHeaderInvalid,
                format!(
                    "the header row is larger than {} bytes",
                    opts.max_record_bytes
                ),
            ));
        }
        CsvNext::TooManyFields { .. } => {
            return Err(Error::of(
                Code::CsvHeaderInvalid,
                format!("the header row has more than {MAX_CSV_FIELDS} columns"),
            ));
        }
        CsvNext::Record { fields, .. } => fields,
    };
    let header: csv::ByteRecord = rdr.fields(header_fields).collect();
    if header.is_empty() || (header.len() == 1 && header.get(0) == Some(b"")) {
        return Err(Error::of(
            Code::CsvHeaderMissing,
            "the CSV input has no header row",
        ));
    }
    if let Some((column, fault)) = rdr.quotes.fault {
        return Err(Error::of(
            Code::CsvHeaderInvalid,
            format!("header column {}: {}", column + 1, quote_fault_text(fault)),
        ));
    }
    let cols = csv_columns(&header, batch.compiled)?;
    let n_fields = batch.compiled.len();
    let mut number = 0u64;
    loop {
        let next = rdr.next().map_err(Error::io)?;
        let (start, fields) = match next {
            CsvNext::End => break,
            CsvNext::Record { start, fields } => (start, Some(fields)),
            CsvNext::TooLarge { start } | CsvNext::TooManyFields { start } => (start, None),
        };
        number += 1;
        let line = Some(tracker.borrow_mut().line_of(start));
        let Some(fields) = fields else {
            let message = match next {
                CsvNext::TooManyFields { .. } => format!(
                    "row has more than {MAX_CSV_FIELDS} fields, the header has {}",
                    header.len()
                ),
                _ => format!("row is larger than {} bytes", opts.max_record_bytes),
            };
            let code = match next {
                CsvNext::TooManyFields { .. } => Code::CsvFieldCount,
                _ => Code::RecordTooLarge,
            };
            batch.malformed(number, line, None, code, message);
            continue;
        };
        if fields != header.len() {
            batch.malformed(
                number,
                line,
                None,
                Code::CsvFieldCount,
                format!("row has {fields} fields, the header has {}", header.len()),
            );
            continue;
        }
        if let Some((column, fault)) = rdr.quotes.fault {
            let field = cols.slots[column].map(|f| batch.compiled.schema().fields[f].name.clone());
            batch.malformed(
                number,
                line,
                field,
                Code::CsvStrayQuote,
                format!("column {}: {}", column + 1, quote_fault_text(fault)),
            );
            continue;
        }
        let mut texts: Vec<&str> = Vec::with_capacity(fields);
        let mut bad_utf8 = None;
        for (i, cell) in rdr.fields(fields).enumerate() {
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

fn quote_fault_text(fault: QuoteFault) -> &'static str {
    match fault {
        QuoteFault::InUnquotedField => {
            "a quote inside an unquoted field; quote the whole field and double the quote (\"Ngu\"\"yen\")"
        }
        QuoteFault::AfterClosingQuote => {
            "text after the closing quote of a quoted field; a quote inside a quoted field is written twice"
        }
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
    let duplicate = std::cell::RefCell::new(None);
    loop {
        buf.clear();
        duplicate.borrow_mut().take();
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
        match parse_strict(text, &duplicate) {
            Ok(v) => apply_strict(batch, number, Some(line_no), &v, &duplicate)?,
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

/// Reads one JSON value as [`Value`] does, except that an object naming a member twice is not
/// silently read as its last value: the first duplicated member (with its path) is remembered
/// in `duplicate`, and the caller refuses the record.
struct StrictValue<'c> {
    duplicate: &'c std::cell::RefCell<Option<String>>,
    path: &'c str,
}

impl<'de> serde::de::DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StrictValue<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        let mut i = 0usize;
        loop {
            let path = format!("{}[{i}]", self.path);
            let seed = StrictValue {
                duplicate: self.duplicate,
                path: &path,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
            i += 1;
        }
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                name.clone()
            } else {
                format!("{}.{name}", self.path)
            };
            let value = map.next_value_seed(StrictValue {
                duplicate: self.duplicate,
                path: &path,
            })?;
            if members.insert(name, value).is_some() {
                self.duplicate.borrow_mut().get_or_insert(path);
            }
        }
        Ok(Value::Object(members))
    }
}

/// Applies one JSON record read with [`StrictValue`]; a duplicated member refuses it.
fn apply_strict(
    batch: &mut Batch<'_, '_>,
    number: u64,
    line: Option<u64>,
    v: &Value,
    duplicate: &std::cell::RefCell<Option<String>>,
) -> Result<()> {
    if let Some(path) = duplicate.borrow_mut().take() {
        let field = path.split(['.', '[']).next().map(str::to_owned);
        batch.malformed(
            number,
            line,
            field,
            Code::JsonDuplicateMember,
            format!("the member {path:?} appears more than once in the record"),
        );
        return Ok(());
    }
    apply_json(batch, number, line, v)
}

/// Parses one NDJSON line strictly ([`StrictValue`]).
fn parse_strict(
    text: &str,
    duplicate: &std::cell::RefCell<Option<String>>,
) -> serde_json::Result<Value> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let v = StrictValue {
        duplicate,
        path: "",
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// Counts the bytes the JSON parser takes and stops it when one element of the array grows
/// past the record size limit, so that no record — a 512 MB string, say — is held whole.
struct ElementBound<'c, R> {
    inner: R,
    taken: &'c std::cell::Cell<u64>,
    element_start: &'c std::cell::Cell<u64>,
    max: u64,
}

/// The marker error of [`ElementBound`].
#[derive(Debug)]
struct ElementTooLarge;

impl std::fmt::Display for ElementTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record is larger than the limit")
    }
}

impl std::error::Error for ElementTooLarge {}

impl<R: Read> Read for ElementBound<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.taken.get() - self.element_start.get() > self.max {
            return Err(std::io::Error::other(ElementTooLarge));
        }
        let n = self.inner.read(buf)?;
        self.taken.set(self.taken.get() + n as u64);
        Ok(n)
    }
}

pub(super) fn read_json_array(
    input: impl Read,
    batch: &mut Batch<'_, '_>,
    opts: &IngestOptions,
) -> Result<()> {
    use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

    struct Elements<'b, 'x, 'y> {
        batch: &'b mut Batch<'x, 'y>,
        failure: &'b mut Option<Error>,
        taken: &'b std::cell::Cell<u64>,
        element_start: &'b std::cell::Cell<u64>,
        number: &'b std::cell::Cell<u64>,
    }
    impl<'de> Visitor<'de> for Elements<'_, '_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array of record objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            let duplicate = std::cell::RefCell::new(None);
            loop {
                self.element_start.set(self.taken.get());
                self.number.set(self.number.get() + 1);
                let seed = StrictValue {
                    duplicate: &duplicate,
                    path: "",
                };
                let Some(v) = seq.next_element_seed(seed)? else {
                    return Ok(());
                };
                if let Err(e) = apply_strict(self.batch, self.number.get(), None, &v, &duplicate) {
                    *self.failure = Some(e);
                    return Err(serde::de::Error::custom("stopped"));
                }
            }
        }
    }
    impl<'de> DeserializeSeed<'de> for Elements<'_, '_, '_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    let taken = std::cell::Cell::new(0);
    let element_start = std::cell::Cell::new(0);
    let number = std::cell::Cell::new(0);
    let mut failure = None;
    let bounded = ElementBound {
        inner: BufReader::with_capacity(1 << 16, input),
        taken: &taken,
        element_start: &element_start,
        max: opts.max_record_bytes as u64,
    };
    let mut de = serde_json::Deserializer::from_reader(bounded);
    let outcome = Elements {
        batch,
        failure: &mut failure,
        taken: &taken,
        element_start: &element_start,
        number: &number,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Some(e) = failure {
        return Err(e);
    }
    match outcome {
        Ok(()) => Ok(()),
        Err(e) if e.is_io() => {
            let io = std::io::Error::from(e);
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<ElementTooLarge>())
            {
                Err(Error::of(
                    Code::RecordTooLarge,
                    format!(
                        "record {} is larger than {} bytes; a JSON array cannot be read past it \
                         (NDJSON and CSV skip such a record and go on)",
                        number.get(),
                        opts.max_record_bytes
                    ),
                ))
            } else {
                // Converting back yields the original I/O error (e.g. the body size limit).
                Err(Error::io(io))
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The fault of each record of `input` (records end at a line feed outside quotes),
    /// scanned in chunks of every size: the answer must not depend on the chunking.
    fn faults(input: &str) -> Vec<Option<(usize, QuoteFault)>> {
        let mut answers = Vec::new();
        for chunk in 1..=input.len() {
            let mut check = QuoteCheck::default();
            let mut found = Vec::new();
            for piece in input.as_bytes().chunks(chunk) {
                let mut from = 0;
                for (k, &b) in piece.iter().enumerate() {
                    if b == b'\n' {
                        check.scan(&piece[from..=k]);
                        from = k + 1;
                        if check.state == QuoteState::FieldStart {
                            found.push(check.fault.take());
                        }
                    }
                }
                check.scan(&piece[from..]);
            }
            answers.push(found);
        }
        answers.dedup();
        assert_eq!(
            answers.len(),
            1,
            "{input:?}: depends on chunking: {answers:?}"
        );
        answers.remove(0)
    }

    #[test]
    fn quotes_where_rfc_4180_allows_none_are_found_in_any_chunking() {
        use QuoteFault::*;
        assert_eq!(faults("a,b,c\n"), [None]);
        assert_eq!(faults("\"a,b\",\"c\"\"d\"\n"), [None]);
        assert_eq!(faults("\"multi\nline\",x\n"), [None]);
        assert_eq!(faults("a,Ngu\"yen\n"), [Some((1, InUnquotedField))]);
        assert_eq!(faults("\"Tran\"x,b\n"), [Some((0, AfterClosingQuote))]);
        assert_eq!(faults(" \"a\"\n"), [Some((0, InUnquotedField))]);
        assert_eq!(
            faults("a,b\"\nc,d\n\"e\r\"\"\",f\"\n"),
            [Some((1, InUnquotedField)), None, Some((1, InUnquotedField))]
        );
        // A lone CR ends a record: the quote after it opens a field.
        assert_eq!(faults("a\r\"b\"\n"), [None]);
    }
}
