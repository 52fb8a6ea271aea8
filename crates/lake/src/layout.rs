//! How a table's Parquet files are laid out: codec, row groups, statistics and page
//! index, bloom filters, sort order within files, and the size files aim at.

use std::str::FromStr;

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, lexsort_to_indices, take_record_batch};
use deltalake::parquet::basic::{Compression, GzipLevel, ZstdLevel};
use deltalake::parquet::file::properties::{EnabledStatistics, WriterPropertiesBuilder};
use deltalake::parquet::schema::types::ColumnPath;
use serde::Deserialize;

/// The file layout of a table's writes. The default: Snappy, one row group per 1,048,576
/// rows, page-level statistics with a page index, no bloom filter, no sort. In a pipeline
/// spec it is the `[sink.layout]` table, with these field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileLayout {
    pub compression: Codec,
    /// Rows per row group (parquet's default: 1,048,576).
    pub row_group_rows: Option<usize>,
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
    None,
    Snappy,
    Lz4,
    Gzip(u32),
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
