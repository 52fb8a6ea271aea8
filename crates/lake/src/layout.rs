//! How a table's Parquet files are laid out: codec, row groups, statistics and page
//! index, bloom filters, sort order within files, and the size files aim at; and the
//! Parquet writer settings of one write, which add to the layout's the dictionary choices
//! that depend on the data.

use std::collections::HashSet;
use std::str::FromStr;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{SortColumn, lexsort_to_indices, take, take_record_batch};
use arrow::row::{RowConverter, SortField};
use deltalake::parquet::basic::{Compression, GzipLevel, ZstdLevel};
use deltalake::parquet::file::properties::{
    EnabledStatistics, WriterProperties, WriterPropertiesBuilder,
};
use deltalake::parquet::schema::types::ColumnPath;
use serde::Deserialize;

/// The file layout of a table's writes. The default: Snappy, one row group per 1,048,576
/// rows, page-level statistics with a page index, no bloom filter, no sort. In a pipeline
/// spec it is the `[sink.layout]` table, with these field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileLayout {
    /// Codec (and level) of every column.
    pub compression: Codec,
    /// Rows per row group (parquet's default: 1,048,576).
    pub row_group_rows: Option<usize>,
    /// Which statistics the files carry.
    pub statistics: Statistics,
    /// Columns that get a bloom filter (point lookups skip row groups without the value).
    pub bloom_filter: Vec<String>,
    /// Rows of each file sorted by these columns, ascending (nulls last).
    pub sort_by: Vec<String>,
    /// Bytes a written file aims at before another is started (deltalake's default:
    /// 100 MiB).
    pub target_file_bytes: Option<usize>,
}

/// A Parquet compression codec and level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Uncompressed.
    None,
    /// Snappy, the default.
    Snappy,
    /// LZ4 (Parquet's `LZ4_RAW`).
    Lz4,
    /// Gzip at a level from 0 to 9.
    Gzip(u32),
    /// Zstandard at a level from 1 to 22.
    Zstd(i32),
}

impl Default for Codec {
    /// Snappy, as delta-rs and Spark write by default. Not zstd: a write holds one open
    /// file per partition, and zstd's per-column compression contexts made a 1,000-partition
    /// batch take 504 MiB against a 64 MiB `memory_budget_mb` (Snappy: under 100 MiB).
    fn default() -> Self {
        Codec::Snappy
    }
}

impl FromStr for Codec {
    type Err = String;

    /// `none`, `snappy`, `lz4`, `gzip`, `gzip(9)`, `zstd`, `zstd(3)`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim().to_ascii_lowercase();
        let (name, level) = match text.split_once('(') {
            Some((name, rest)) => match rest.strip_suffix(')').map(str::trim) {
                Some(level) => (name.trim(), Some(level)),
                None => return Err(format!("compression {text:?}: missing ')'")),
            },
            None => (text.as_str(), None),
        };
        let level_of =
            |range: std::ops::RangeInclusive<i64>, default: i64| -> Result<i64, String> {
                let level = match level {
                    None => default,
                    Some(l) => l
                        .parse::<i64>()
                        .map_err(|_| format!("compression {text:?}: the level must be a number"))?,
                };
                if range.contains(&level) {
                    Ok(level)
                } else {
                    Err(format!(
                        "compression {text:?}: {name} levels are {} to {}",
                        range.start(),
                        range.end()
                    ))
                }
            };
        let no_level = |codec| match level {
            None => Ok(codec),
            Some(_) => Err(format!("compression {text:?}: {name} takes no level")),
        };
        match name {
            "none" | "uncompressed" => no_level(Codec::None),
            "snappy" => no_level(Codec::Snappy),
            "lz4" => no_level(Codec::Lz4),
            "gzip" => Ok(Codec::Gzip(level_of(0..=9, 6)? as u32)),
            "zstd" => Ok(Codec::Zstd(level_of(1..=22, 1)? as i32)),
            _ => Err(format!(
                "unknown compression {name:?}: use none, snappy, lz4, gzip, gzip(LEVEL), zstd or \
                 zstd(LEVEL)"
            )),
        }
    }
}

/// Deserialized through `FromStr`, so a spec's error is the parser's message.
macro_rules! deserialize_from_str {
    ($($type:ty),*) => {
        $(impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        })*
    };
}

deserialize_from_str!(Codec, Statistics);

impl Codec {
    fn parquet(self) -> Compression {
        match self {
            Codec::None => Compression::UNCOMPRESSED,
            Codec::Snappy => Compression::SNAPPY,
            Codec::Lz4 => Compression::LZ4_RAW,
            // Levels were checked when parsed; the fallbacks are parquet's defaults.
            Codec::Gzip(level) => Compression::GZIP(GzipLevel::try_new(level).unwrap_or_default()),
            Codec::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default()),
        }
    }
}

/// Which min/max/null-count statistics the files carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Statistics {
    /// No statistics.
    None,
    /// Per row group.
    Chunk,
    /// Per row group and per page, with the page index (readers skip pages too).
    #[default]
    Page,
}

impl FromStr for Statistics {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Statistics::None),
            "chunk" | "row_group" => Ok(Statistics::Chunk),
            "page" => Ok(Statistics::Page),
            other => Err(format!(
                "unknown statistics {other:?}: use none, chunk (per row group) or page (with \
                 the page index)"
            )),
        }
    }
}

impl FileLayout {
    /// Set this layout's codec, row groups, statistics and bloom filters on `builder`.
    pub(crate) fn apply(&self, mut builder: WriterPropertiesBuilder) -> WriterPropertiesBuilder {
        builder = builder
            .set_compression(self.compression.parquet())
            .set_statistics_enabled(match self.statistics {
                Statistics::None => EnabledStatistics::None,
                Statistics::Chunk => EnabledStatistics::Chunk,
                Statistics::Page => EnabledStatistics::Page,
            });
        if let Some(rows) = self.row_group_rows {
            builder = builder.set_max_row_group_row_count(Some(rows.max(1)));
        }
        for column in &self.bloom_filter {
            builder =
                builder.set_column_bloom_filter_enabled(ColumnPath::from(column.as_str()), true);
        }
        builder
    }

    /// The columns this layout names that `batch` lacks.
    pub(crate) fn missing_columns(&self, batch: &RecordBatch) -> Vec<String> {
        let schema = batch.schema();
        self.sort_by
            .iter()
            .chain(&self.bloom_filter)
            .filter(|c| schema.index_of(c).is_err())
            .cloned()
            .collect()
    }

    /// `batch` with its rows in `sort_by` order; deltalake splits rows by partition in
    /// order, so each file's rows stay sorted.
    pub(crate) fn sort(&self, batch: RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
        if self.sort_by.is_empty() || batch.num_rows() < 2 {
            return Ok(batch);
        }
        let columns: Vec<SortColumn> = self
            .sort_by
            .iter()
            .filter_map(|name| batch.column_by_name(name))
            .map(|values| SortColumn {
                values: values.clone(),
                options: None,
            })
            .collect();
        let order = lexsort_to_indices(&columns, None)?;
        take_record_batch(&batch, &order)
    }
}

/// Rows per file below which a dictionary is not worth its writer's memory.
const DICTIONARY_MIN_ROWS_PER_FILE: u64 = 4096;

/// Parquet settings for one write. deltalake keeps a Parquet writer open per partition
/// until the commit, and each column's dictionary encoder starts with a 4096-entry hash
/// table (~70 KiB): a batch spanning 1,000 date partitions held ~150 MiB in empty
/// tables for files of ~200 rows. So a dictionary is used only when the files get
/// enough rows for it to pay, and not for text columns whose values are mostly distinct
/// (ids, timestamps as text), where it costs a hash of every value and makes the file
/// larger than plain encoding.
pub(crate) fn writer_properties(
    batches: &[RecordBatch],
    rows: u64,
    partitions: usize,
    layout: &FileLayout,
) -> WriterProperties {
    let rows_per_file = rows / partitions.max(1) as u64;
    let mut builder = layout.apply(
        WriterProperties::builder()
            .set_dictionary_enabled(rows_per_file >= DICTIONARY_MIN_ROWS_PER_FILE),
    );
    if let Some(batch) = batches.iter().max_by_key(|b| b.num_rows()) {
        for name in mostly_distinct_text_columns(batch) {
            builder = builder.set_column_dictionary_enabled(ColumnPath::from(name), false);
        }
    }
    builder.build()
}

/// Rows of a batch sampled to tell a column's distinct share.
const DISTINCT_SAMPLE_ROWS: usize = 1024;

/// The top-level text columns where more than half of the sampled values (evenly spaced
/// rows) are distinct.
fn mostly_distinct_text_columns(batch: &RecordBatch) -> Vec<String> {
    let step = (batch.num_rows() / DISTINCT_SAMPLE_ROWS).max(1);
    let mut names = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let Some(text) = column.as_string_opt::<i32>() else {
            continue;
        };
        let mut seen = HashSet::new();
        let mut sampled = 0usize;
        for row in (0..text.len()).step_by(step) {
            if text.is_valid(row) {
                sampled += 1;
                seen.insert(text.value(row));
            }
        }
        if sampled >= 64 && seen.len() * 2 > sampled {
            names.push(field.name().clone());
        }
    }
    names
}

/// Rows of a batch [`partition_count`] looks at.
const PARTITION_SAMPLE_ROWS: usize = 8192;

/// Distinct values of the partition columns in the batches (1 for an unpartitioned
/// table), seen in a sample of their rows.
pub(crate) fn partition_count(batches: &[RecordBatch], partition_by: &[String]) -> usize {
    if partition_by.is_empty() {
        return 1;
    }
    let mut seen = HashSet::new();
    for batch in batches {
        // Evenly spaced rows, enough to see every partition that holds more than a
        // sliver of the batch: the count only sizes a heuristic.
        let step = (batch.num_rows() / PARTITION_SAMPLE_ROWS).max(1);
        let sample = UInt32Array::from_iter_values(
            (0..batch.num_rows()).step_by(step).map(|row| row as u32),
        );
        let Ok(columns) = partition_by
            .iter()
            .filter_map(|name| batch.column_by_name(name))
            .map(|column| take(column, &sample, None))
            .collect::<Result<Vec<ArrayRef>, _>>()
        else {
            return 1;
        };
        let Ok(converter) = RowConverter::new(
            columns
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        ) else {
            return 1;
        };
        let Ok(rows) = converter.convert_columns(&columns) else {
            return 1;
        };
        // Hashes, not copies of each row: this only sizes a heuristic.
        seen.extend(rows.iter().map(|r| {
            let mut h = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(r.as_ref(), &mut h);
            std::hash::Hasher::finish(&h)
        }));
    }
    seen.len().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;

    /// Dictionaries only for files that get enough rows: a batch spread over many
    /// partitions writes without them (their writers' memory is the cost).
    #[test]
    fn dictionaries_only_for_files_with_enough_rows() -> Result<(), Box<dyn std::error::Error>> {
        let batch = RecordBatch::try_from_iter([
            ("dt", Arc::new(StringArray::from(vec!["a", "a", "b"])) as _),
            ("n", Arc::new(Int64Array::from(vec![1, 2, 3])) as _),
        ])?;
        let by = |cols: &[&str]| cols.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(
            partition_count(&[batch.clone(), batch.clone()], &by(&["dt"])),
            2
        );
        assert_eq!(
            partition_count(std::slice::from_ref(&batch), &by(&["dt", "n"])),
            3
        );
        assert_eq!(partition_count(&[batch], &[]), 1);
        let column = ColumnPath::from("n");
        let layout = FileLayout::default();
        assert!(writer_properties(&[], 100_000, 7, &layout).dictionary_enabled(&column));
        assert!(!writer_properties(&[], 200_000, 1_000, &layout).dictionary_enabled(&column));
        assert!(matches!(
            writer_properties(&[], 1, 1, &layout).compression(&column),
            deltalake::parquet::basic::Compression::SNAPPY
        ));
        Ok(())
    }

    /// Text columns of mostly distinct values (ids) are written without a dictionary;
    /// repetitive ones (a country) and numbers keep it.
    #[test]
    fn no_dictionary_for_mostly_distinct_text() -> Result<(), Box<dyn std::error::Error>> {
        let rows = 10_000;
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("e{i}")),
                )) as _,
            ),
            (
                "country",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| ["US", "DE", "JP"][i % 3]),
                )) as _,
            ),
            (
                "n",
                Arc::new(Int64Array::from_iter_values(0..rows as i64)) as _,
            ),
        ])?;
        assert_eq!(mostly_distinct_text_columns(&batch), ["id"]);
        let props = writer_properties(&[batch], 100_000, 1, &FileLayout::default());
        assert!(!props.dictionary_enabled(&ColumnPath::from("id")));
        assert!(props.dictionary_enabled(&ColumnPath::from("country")));
        assert!(props.dictionary_enabled(&ColumnPath::from("n")));
        Ok(())
    }
}
