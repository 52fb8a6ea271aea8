//! Catalogs, as Trino's `etc/catalog/*.properties` name them: one TOML file with a
//! `[catalogs.NAME]` table per catalog, its `kind` and where its data is. Tables are
//! `catalog.schema.table`; a lake's tables and a files catalog's are in schema `default`.
//!
//! ```toml
//! default_catalog = "lake"          # what unqualified names mean (default: the only lake)
//!
//! [catalogs.lake]
//! kind = "lake"
//! location = "pipelab-demo/s3/lake" # a directory, file:///dir or s3://bucket/prefix
//!
//! [catalogs.ref]
//! kind = "files"
//! tables = { countries = "sample-data/countries.csv", logs = "logs/*.jsonl" }
//! ```
//!
//! A files table is a CSV (with a header), JSON-lines or Parquet file, a glob of them or
//! a directory, its format taken from the extension.
//!
//! A database catalog is one PostgreSQL or MySQL/MariaDB database, or one SQLite file;
//! its schemas are the database's (PostgreSQL's `public`, a MySQL database, SQLite's
//! `main`), `schemas` keeps only those named:
//!
//! ```toml
//! [catalogs.pg]
//! kind = "postgres"
//! url = "postgres://postgres@127.0.0.1:5432/test"
//! schemas = ["public"]
//!
//! [catalogs.my]
//! kind = "mysql"
//! url = "mysql://root@127.0.0.1:3306/test"
//!
//! [catalogs.lite]
//! kind = "sqlite"
//! location = "reference.db"
//! ```
//!
//! What of a query runs in the database is decided in [`crate::pushdown`].
//!
//! A Kafka catalog's tables are its topics, in schema `default` ([`crate::kafka`]);
//! `topics` keeps only those named:
//!
//! ```toml
//! [catalogs.events]
//! kind = "kafka"
//! brokers = "127.0.0.1:9092"
//! ```
//!
//! `[query_log]` sends every query's events to a Kafka topic ([`crate::query_log`]).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::common::TableReference;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};
use pipelab_lake::{LakeLocation, LakeTable};
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use crate::engine::Engine;
use crate::register::{DEFAULT_SCHEMA, RegisterError};

/// A catalogs file that cannot be used, with the file and, where known, the line.
#[derive(Debug, Error)]
#[error("{path}: {message}")]
pub struct CatalogsError {
    /// The catalogs file.
    pub path: String,
    /// What is wrong, with the line where there is one.
    pub message: String,
}

/// The catalogs file, parsed and checked.
#[derive(Debug, Clone)]
pub struct Catalogs {
    /// By name, in name order.
    pub catalogs: BTreeMap<String, Catalog>,
    /// The catalog unqualified table names are looked up in.
    pub default_catalog: String,
    /// Where query events go (`[query_log]`), if anywhere.
    pub query_log: Option<crate::query_log::QueryLogConfig>,
}

/// One catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Catalog {
    /// A pipelab lake: every Delta table under `location`.
    Lake {
        /// The lake's root: a directory, `file://` or `s3://` URL.
        location: String,
        /// S3 settings of the lake (object_store's keys), over the `AWS_*` variables.
        storage_options: HashMap<String, String>,
    },
    /// Named CSV, JSON-lines or Parquet files.
    Files {
        /// The tables by name.
        tables: BTreeMap<String, FileTable>,
    },
    /// A PostgreSQL, MySQL or SQLite database (see [`crate::databases`]).
    Database(crate::databases::Database),
    /// A Kafka cluster, each topic a table (see [`crate::kafka`]).
    Kafka(crate::kafka::KafkaCatalog),
}

/// A table of a files catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTable {
    /// The file, or a glob pattern matching several of one format.
    pub path: String,
    /// How the file is read, from its extension.
    pub format: FileFormat,
}

/// The format of a files catalog's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// CSV with a header line.
    Csv,
    /// JSON lines: one object per line.
    Json,
    /// Parquet.
    Parquet,
}

impl FileTable {
    /// The file at `path`, its format from its extension (`.csv`, `.parquet`, `.jsonl`,
    /// `.ndjson`, `.json`); `None` for any other.
    pub fn at(path: &str) -> Option<Self> {
        FileFormat::of_extension(path).map(|(format, _)| FileTable {
            path: path.to_string(),
            format,
        })
    }

    /// Register the file (or every file its pattern matches) in `ctx` as `reference`.
    pub async fn register(
        &self,
        ctx: &SessionContext,
        reference: TableReference,
    ) -> datafusion::error::Result<()> {
        let ext = FileFormat::of_extension(&self.path).map_or("", |(_, ext)| ext);
        match self.format {
            FileFormat::Csv => {
                let options = CsvReadOptions::new().file_extension(ext);
                ctx.register_csv(reference, &self.path, options).await
            }
            FileFormat::Json => {
                let options = JsonReadOptions::default().file_extension(ext);
                ctx.register_json(reference, &self.path, options).await
            }
            FileFormat::Parquet => {
                let options = ParquetReadOptions::default().file_extension(ext);
                ctx.register_parquet(reference, &self.path, options).await
            }
        }
    }
}

impl FileFormat {
    fn of_extension(path: &str) -> Option<(Self, &str)> {
        let lower = path.to_ascii_lowercase();
        [
            (".csv", FileFormat::Csv),
            (".parquet", FileFormat::Parquet),
            (".jsonl", FileFormat::Json),
            (".ndjson", FileFormat::Json),
            (".json", FileFormat::Json),
        ]
        .into_iter()
        .find(|(ext, _)| lower.ends_with(ext))
        .map(|(ext, format)| (format, &path[path.len() - ext.len()..]))
    }
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    default_catalog: Option<Spanned<String>>,
    catalogs: BTreeMap<Spanned<String>, RawCatalog>,
    query_log: Option<RawQueryLog>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueryLog {
    brokers: String,
    topic: Option<String>,
}

/// A catalog as written: every kind's keys, each kept with where it is, so that a key
/// its kind does not take is refused at its line ([`kind_keys`]) rather than ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    kind: Spanned<String>,
    location: Option<Spanned<String>>,
    storage_options: Option<Spanned<HashMap<String, String>>>,
    tables: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    url: Option<Spanned<String>>,
    schemas: Option<Spanned<Vec<String>>>,
    brokers: Option<Spanned<String>>,
    topics: Option<Spanned<Vec<String>>>,
}

impl RawCatalog {
    /// The keys set besides `kind`, with where each value is.
    fn keys(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        [
            ("location", self.location.as_ref().map(Spanned::span)),
            (
                "storage_options",
                self.storage_options.as_ref().map(Spanned::span),
            ),
            ("tables", self.tables.as_ref().map(Spanned::span)),
            ("url", self.url.as_ref().map(Spanned::span)),
            ("schemas", self.schemas.as_ref().map(Spanned::span)),
            ("brokers", self.brokers.as_ref().map(Spanned::span)),
            ("topics", self.topics.as_ref().map(Spanned::span)),
        ]
        .into_iter()
        .filter_map(|(key, span)| span.map(|span| (key, span)))
        .collect()
    }
}

/// The kinds this build of pipelab knows.
const KINDS: &str = "lake, files, postgres, mysql, sqlite, kafka";

/// The keys a catalog of `kind` takes besides `kind`; `None` for a kind there is not.
fn kind_keys(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "lake" => &["location", "storage_options"],
        "files" => &["tables"],
        "postgres" | "mysql" => &["url", "schemas"],
        "sqlite" => &["url", "location", "schemas"],
        "kafka" => &["brokers", "topics"],
        _ => return None,
    })
}

impl Catalogs {
    /// Read and check a catalogs file.
    pub fn load(path: &Path) -> Result<Self, CatalogsError> {
        let text = std::fs::read_to_string(path).map_err(|e| CatalogsError {
            path: path.display().to_string(),
            message: format!("cannot read the catalogs file: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parse and check a catalogs file's text; errors name `path` and the line.
    pub fn parse(text: &str, path: &Path) -> Result<Self, CatalogsError> {
        let err = |message: String| CatalogsError {
            path: path.display().to_string(),
            message,
        };
        let at = |span: std::ops::Range<usize>| {
            let line = text[..span.start.min(text.len())].lines().count().max(1);
            format!("line {line}")
        };
        let raw: RawFile =
            toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_string()))?;
        let mut catalogs = BTreeMap::new();
        for (name, spec) in raw.catalogs {
            let where_ = at(name.span());
            let name = name.into_inner();
            check_name(&name).map_err(|m| err(format!("{where_}: catalog {name:?} {m}")))?;
            let kind = spec.kind.get_ref().as_str();
            if let Some(allowed) = kind_keys(kind)
                && let Some((key, span)) =
                    spec.keys().into_iter().find(|(k, _)| !allowed.contains(k))
            {
                return Err(err(format!(
                    "{}: catalog {name:?} of kind {kind} does not take `{key}` (its keys: kind, {})",
                    at(span),
                    allowed.join(", ")
                )));
            }
            let catalog = match kind {
                "lake" => Catalog::Lake {
                    location: spec.location.map(Spanned::into_inner).ok_or_else(|| {
                        err(format!(
                            "{where_}: catalog {name:?} of kind lake needs a `location`"
                        ))
                    })?,
                    storage_options: spec
                        .storage_options
                        .map(Spanned::into_inner)
                        .unwrap_or_default(),
                },
                "files" => {
                    let tables = spec.tables.map(Spanned::into_inner).ok_or_else(|| {
                        err(format!(
                            "{where_}: catalog {name:?} of kind files needs `tables` \
                             (name = \"path\")"
                        ))
                    })?;
                    let mut files = BTreeMap::new();
                    for (table, file) in tables {
                        let line = at(file.span());
                        check_name(&table)
                            .map_err(|m| err(format!("{line}: table {table:?} {m}")))?;
                        let path = file.into_inner();
                        let Some((format, _)) = FileFormat::of_extension(&path) else {
                            return Err(err(format!(
                                "{line}: table {table:?}: {path:?} does not end in .csv, \
                                 .json, .jsonl, .ndjson or .parquet"
                            )));
                        };
                        files.insert(table, FileTable { path, format });
                    }
                    Catalog::Files { tables: files }
                }
                kind @ ("postgres" | "mysql" | "sqlite") => {
                    let engine = Engine::of_kind(kind);
                    let address = match (spec.url, spec.location) {
                        (Some(url), None) => url.into_inner(),
                        (None, Some(path)) if engine == Engine::Sqlite => path.into_inner(),
                        _ => {
                            return Err(err(format!(
                                "{where_}: catalog {name:?} of kind {kind} needs {}",
                                engine.address_hint()
                            )));
                        }
                    };
                    let schemas = spec.schemas.map(Spanned::into_inner);
                    let database = crate::databases::Database::new(engine, address, schemas)
                        .map_err(|m| err(format!("{where_}: catalog {name:?}: {m}")))?;
                    Catalog::Database(database)
                }
                "kafka" => Catalog::Kafka(crate::kafka::KafkaCatalog {
                    brokers: spec.brokers.map(Spanned::into_inner).ok_or_else(|| {
                        err(format!(
                            "{where_}: catalog {name:?} of kind kafka needs `brokers` \
                             (\"host:port,...\")"
                        ))
                    })?,
                    topics: spec.topics.map(Spanned::into_inner),
                }),
                other => {
                    return Err(err(format!(
                        "{}: catalog {name:?} has kind {other:?}; the kinds are {KINDS}",
                        at(spec.kind.span())
                    )));
                }
            };
            catalogs.insert(name, catalog);
        }
        if catalogs.is_empty() {
            return Err(err("no [catalogs.NAME] table: name at least one".into()));
        }
        let default_catalog = match raw.default_catalog {
            Some(name) if catalogs.contains_key(name.get_ref()) => name.into_inner(),
            Some(name) => {
                return Err(err(format!(
                    "{}: default_catalog {:?} is not one of the catalogs ({})",
                    at(name.span()),
                    name.get_ref(),
                    catalogs.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            None => {
                let lakes: Vec<&String> = catalogs
                    .iter()
                    .filter(|(_, c)| matches!(c, Catalog::Lake { .. }))
                    .map(|(n, _)| n)
                    .collect();
                match (lakes.as_slice(), catalogs.len()) {
                    ([only], _) => (*only).clone(),
                    (_, 1) => catalogs.keys().next().cloned().unwrap_or_default(),
                    _ => {
                        return Err(err(
                            "several catalogs and no single lake among them: say which one \
                             unqualified table names mean with `default_catalog = \"NAME\"`"
                                .into(),
                        ));
                    }
                }
            }
        };
        let query_log = raw.query_log.map(|log| crate::query_log::QueryLogConfig {
            brokers: log.brokers,
            topic: log
                .topic
                .unwrap_or_else(|| crate::query_log::DEFAULT_TOPIC.to_string()),
        });
        Ok(Self {
            catalogs,
            default_catalog,
            query_log,
        })
    }

    /// The lake of the default catalog, if it is one: where views are kept.
    pub fn default_lake(&self) -> Result<Option<LakeLocation>, pipelab_lake::LakeError> {
        match self.catalogs.get(&self.default_catalog) {
            Some(Catalog::Lake {
                location,
                storage_options,
            }) => LakeLocation::parse(location, storage_options.clone()).map(Some),
            _ => Ok(None),
        }
    }

    /// Register every catalog in `ctx`; returns the tables registered, as
    /// `catalog.schema.table`.
    pub async fn register(&self, ctx: &SessionContext) -> Result<Vec<String>, RegisterError> {
        let mut registered = Vec::new();
        for (name, catalog) in &self.catalogs {
            let tables = match catalog {
                Catalog::Lake {
                    location,
                    storage_options,
                } => {
                    default_schema_catalog(ctx, name)?;
                    register_lake(ctx, name, location, storage_options).await?
                }
                Catalog::Files { tables } => {
                    default_schema_catalog(ctx, name)?;
                    register_files(ctx, name, tables).await?
                }
                Catalog::Database(database) => {
                    registered.extend(database.register(ctx, name).await?);
                    continue;
                }
                Catalog::Kafka(kafka) => {
                    registered.extend(kafka.register(ctx, name).await?);
                    continue;
                }
            };
            registered.extend(
                tables
                    .into_iter()
                    .map(|t| format!("{name}.{DEFAULT_SCHEMA}.{t}")),
            );
        }
        Ok(registered)
    }
}

/// An empty catalog `name` with the one schema `default`, registered in `ctx`.
fn default_schema_catalog(ctx: &SessionContext, name: &str) -> Result<(), RegisterError> {
    let provider = MemoryCatalogProvider::new();
    provider
        .register_schema(DEFAULT_SCHEMA, Arc::new(MemorySchemaProvider::new()))
        .map_err(|e| RegisterError::datafusion(name, e))?;
    ctx.register_catalog(name, Arc::new(provider));
    Ok(())
}

/// Names are used as they are (quoted in SQL where they need it), but never empty or
/// dotted: a dot would read as another level of `catalog.schema.table`.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("is empty")
    } else if name.contains('.') {
        Err("has a dot, which reads as catalog.schema.table")
    } else {
        Ok(())
    }
}

async fn register_lake(
    ctx: &SessionContext,
    catalog: &str,
    location: &str,
    storage_options: &HashMap<String, String>,
) -> Result<Vec<String>, RegisterError> {
    let lake_err = |source| RegisterError::Lake {
        catalog: catalog.to_string(),
        source: Box::new(source),
    };
    let loc = LakeLocation::parse(location, storage_options.clone()).map_err(lake_err)?;
    let names = loc.list_tables().await.map_err(lake_err)?;
    for table in &names {
        let opened = LakeTable::open(&loc, table).await.map_err(lake_err)?;
        let reference = TableReference::full(catalog, DEFAULT_SCHEMA, table.as_str());
        pipelab_lake::register_table_at(ctx, &opened, reference)
            .await
            .map_err(lake_err)?;
    }
    Ok(names)
}

async fn register_files(
    ctx: &SessionContext,
    catalog: &str,
    tables: &BTreeMap<String, FileTable>,
) -> Result<Vec<String>, RegisterError> {
    for (table, file) in tables {
        let reference = TableReference::full(catalog, DEFAULT_SCHEMA, table.as_str());
        let registered = file.register(ctx, reference).await;
        registered.map_err(|e| RegisterError::File {
            catalog: catalog.to_string(),
            table: table.clone(),
            path: file.path.clone(),
            source: Box::new(e),
        })?;
    }
    Ok(tables.keys().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Catalogs, String> {
        Catalogs::parse(text, Path::new("cat.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_lake_and_files_with_the_lake_as_default() {
        let c = parse(
            "[catalogs.lake]\nkind = \"lake\"\nlocation = \"/tmp/l\"\n\n\
             [catalogs.ref]\nkind = \"files\"\ntables = { c = \"a/c.csv\", j = \"logs/*.jsonl\" }\n",
        )
        .unwrap();
        assert_eq!(c.default_catalog, "lake");
        let Catalog::Files { tables } = &c.catalogs["ref"] else {
            panic!("not files")
        };
        assert_eq!(tables["c"].format, FileFormat::Csv);
        assert_eq!(tables["j"].format, FileFormat::Json);
    }

    #[test]
    fn mistakes_name_the_file_and_line() {
        let kind = parse("[catalogs.pg]\nkind = \"oracle\"\n").unwrap_err();
        assert!(
            kind.starts_with("cat.toml: line 2:") && kind.contains("the kinds are lake, files"),
            "{kind}"
        );
        let missing = parse("[catalogs.l]\nkind = \"lake\"\n").unwrap_err();
        assert!(missing.contains("needs a `location`"), "{missing}");
        let unknown = parse("[catalogs.l]\nkind = \"lake\"\nlocaton = \"x\"\n").unwrap_err();
        assert!(
            unknown.contains("line 3") && unknown.contains("locaton"),
            "{unknown}"
        );
        let ext =
            parse("[catalogs.f]\nkind = \"files\"\ntables = { t = \"a.txt\" }\n").unwrap_err();
        assert!(ext.contains("line 3") && ext.contains("a.txt"), "{ext}");
        let default =
            parse("default_catalog = \"nope\"\n[catalogs.l]\nkind = \"lake\"\nlocation = \"x\"\n")
                .unwrap_err();
        assert!(
            default.contains("line 1") && default.contains("nope"),
            "{default}"
        );
        let two = parse(
            "[catalogs.a]\nkind = \"lake\"\nlocation = \"x\"\n[catalogs.b]\nkind = \"lake\"\nlocation = \"y\"\n",
        )
        .unwrap_err();
        assert!(two.contains("default_catalog"), "{two}");
        let dotted = parse("[catalogs.\"a.b\"]\nkind = \"lake\"\nlocation = \"x\"\n").unwrap_err();
        assert!(dotted.contains("has a dot"), "{dotted}");
        // A key of another kind is refused at its line, not ignored.
        let other = parse(
            "[catalogs.l]\nkind = \"lake\"\nlocation = \"x\"\nbrokers = \"127.0.0.1:9092\"\n",
        )
        .unwrap_err();
        assert!(
            other.starts_with("cat.toml: line 4:")
                && other.contains("kind lake does not take `brokers`")
                && other.contains("location, storage_options"),
            "{other}"
        );
        let other =
            parse("[catalogs.k]\nkind = \"kafka\"\nbrokers = \"b:9092\"\nlocation = \"x\"\n")
                .unwrap_err();
        assert!(
            other.contains("line 4") && other.contains("`location`"),
            "{other}"
        );
    }
}
