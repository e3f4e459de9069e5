//! The files of a release, one writer per format: CSV (a header, then one line per row), JSON
//! (an array of objects, one per line) and Parquet (every column an optional UTF-8 string, the
//! count of an aggregation an optional 64-bit integer; Snappy-compressed row groups). An empty
//! cell is a missing value: empty in CSV, `null` in JSON and Parquet.

use std::io::{self, Write};
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde_json::{Map, Value};

/// Rows per Parquet row group: large enough for good compression, small enough that readers
/// can page through a big release.
const ROW_GROUP: usize = 128 * 1024;

/// A file format of releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header line.
    Csv,
    /// A JSON array of objects.
    Json,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// Every format, in the order a release lists its files.
    pub const ALL: [Format; 3] = [Format::Csv, Format::Json, Format::Parquet];

    /// The file extension, also the `format` of a release file.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Parquet => "parquet",
        }
    }

    /// The IANA media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv",
            Format::Json => "application/json",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// The rows of a release as they are written: the columns, the rows, and whether the last
/// column is a count (an aggregation).
pub struct Content<'a> {
    /// Column names.
    pub columns: &'a [String],
    /// Rows, each as many cells as columns; an empty cell is a missing value.
    pub rows: &'a [Vec<String>],
    /// Whether the last column is a count.
    pub counted: bool,
}

impl Content<'_> {
    fn is_count(&self, column: usize) -> bool {
        self.counted && column + 1 == self.columns.len()
    }

    /// Writes the content in `format` to `out`.
    pub fn write<W: Write + Send>(&self, format: Format, out: W) -> io::Result<()> {
        match format {
            Format::Csv => self.csv(out),
            Format::Json => self.json(out),
            Format::Parquet => self.parquet(out).map_err(io::Error::other),
        }
    }

    fn csv<W: Write>(&self, out: W) -> io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(self.columns)?;
        for r in self.rows {
            w.write_record(r)?;
        }
        w.flush()
    }

    fn json<W: Write>(&self, out: W) -> io::Result<()> {
        let mut out = io::BufWriter::new(out);
        out.write_all(b"[")?;
        for (i, r) in self.rows.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            let mut obj = Map::new();
            for (j, (c, v)) in self.columns.iter().zip(r).enumerate() {
                let value = if self.is_count(j) {
                    v.parse::<u64>().map_or(Value::Null, Value::from)
                } else if v.is_empty() {
                    Value::Null
                } else {
                    Value::String(v.clone())
                };
                obj.insert(c.clone(), value);
            }
            serde_json::to_writer(&mut out, &obj)?;
            out.write_all(b"\n")?;
        }
        out.write_all(b"]\n")?;
        out.flush()
    }

    fn parquet<W: Write + Send>(&self, out: W) -> Result<(), ParquetError> {
        let fields = self
            .columns
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let column = if self.is_count(j) {
                    Type::primitive_type_builder(name, PhysicalType::INT64)
                } else {
                    Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
                        .with_logical_type(Some(LogicalType::String))
                };
                column
                    .with_repetition(Repetition::OPTIONAL)
                    .build()
                    .map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let schema = Arc::new(
            Type::group_type_builder("release")
                .with_fields(fields)
                .build()?,
        );
        let properties = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_created_by(format!("ndx {}", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let mut writer = SerializedFileWriter::new(out, schema, properties)?;
        for group in self.rows.chunks(ROW_GROUP) {
            let mut row_group = writer.next_row_group()?;
            let mut j = 0;
            while let Some(mut column) = row_group.next_column()? {
                let mut defined = Vec::with_capacity(group.len());
                if self.is_count(j) {
                    let mut values = Vec::with_capacity(group.len());
                    for r in group {
                        match r[j].parse::<i64>() {
                            Ok(n) => {
                                values.push(n);
                                defined.push(1);
                            }
                            Err(_) => defined.push(0),
                        }
                    }
                    column
                        .typed::<Int64Type>()
                        .write_batch(&values, Some(&defined), None)?;
                } else {
                    let mut values = Vec::with_capacity(group.len());
                    for r in group {
                        if r[j].is_empty() {
                            defined.push(0);
                        } else {
                            values.push(ByteArray::from(r[j].as_str()));
                            defined.push(1);
                        }
                    }
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&values, Some(&defined), None)?;
                }
                column.close()?;
                j += 1;
            }
            row_group.close()?;
        }
        writer.close()?;
        Ok(())
    }
}
