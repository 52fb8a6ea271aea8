//! Where the lake lives, and how its object store is reached.

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Once;

use deltalake::ObjectStore;
use deltalake::logstore::store_for;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use url::Url;

use crate::error::LakeError;

/// Register deltalake's S3 object-store and log-store factories for `s3://` and `s3a://`.
///
/// deltalake 1.1 already does this from a constructor when the `s3` feature is on, but that
/// relies on the linker keeping the constructor; calling it explicitly costs nothing and
/// makes `s3://` lakes work however this crate is linked. Idempotent.
pub fn register_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

/// Where the lake lives: a local directory or an S3(-compatible) bucket and prefix.
/// Tables are the direct children of the root.
#[derive(Clone)]
pub struct LakeLocation {
    /// Directory URL of the lake root, always ending in `/`.
    root: Url,
    /// Set for local lakes, for display.
    local_root: Option<PathBuf>,
    options: HashMap<String, String>,
}

// Hand-written so that secrets in the storage options never reach logs.
impl fmt::Debug for LakeLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.options.keys().collect();
        keys.sort();
        f.debug_struct("LakeLocation")
            .field("root", &self.root.as_str())
            .field("storage_option_keys", &keys)
            .finish()
    }
}

impl LakeLocation {
    /// Parse `file:///abs/dir`, a plain path (made absolute; it need not exist yet), or
    /// `s3://bucket[/prefix]` (also `s3a://`).
    ///
    /// For S3 the options are object_store / deltalake keys (`aws_endpoint`,
    /// `AWS_ACCESS_KEY_ID`, `aws_allow_http`, ...; case-insensitive). Anything not given here
    /// is read from the `AWS_*` environment variables by deltalake-aws itself (explicit options
    /// win), so both ways work. Commits use conditional put (`If-None-Match: *`), which is
    /// object_store's default; see the crate docs.
    pub fn parse(
        url_or_path: &str,
        storage_options: HashMap<String, String>,
    ) -> Result<Self, LakeError> {
        let invalid = |reason: String| LakeError::InvalidLocation {
            location: url_or_path.to_string(),
            reason,
        };
        let trimmed = url_or_path.trim();
        if trimmed.is_empty() {
            return Err(invalid("empty location".into()));
        }
        // Only strings with a scheme separator are URLs; everything else (including
        // Windows-like `C:\x`) is a path. This keeps `data/lake` from being misread.
        if trimmed.contains("://") {
            let url = Url::parse(trimmed).map_err(|e| invalid(e.to_string()))?;
            match url.scheme() {
                "file" => {
                    if url
                        .host_str()
                        .is_some_and(|h| !h.is_empty() && h != "localhost")
                    {
                        return Err(invalid("file:// URLs must not name a host".into()));
                    }
                    let path = url
                        .to_file_path()
                        .map_err(|()| invalid("not an absolute file path".into()))?;
                    Self::local(url_or_path, &path, storage_options)
                }
                "s3" | "s3a" => {
                    register_handlers();
                    if url.host_str().is_none_or(str::is_empty) {
                        return Err(invalid("an s3:// location needs a bucket".into()));
                    }
                    if url.query().is_some() || url.fragment().is_some() {
                        return Err(invalid("query strings are not supported".into()));
                    }
                    let mut root = url;
                    if !root.path().ends_with('/') {
                        let path = format!("{}/", root.path());
                        root.set_path(&path);
                    }
                    Ok(Self {
                        root,
                        local_root: None,
                        options: with_s3_defaults(storage_options),
                    })
                }
                other => Err(invalid(format!(
                    "unsupported scheme {other}:// (use a path, file:// or s3://)"
                ))),
            }
        } else {
            Self::local(url_or_path, Path::new(trimmed), storage_options)
        }
    }

    fn local(
        original: &str,
        path: &Path,
        options: HashMap<String, String>,
    ) -> Result<Self, LakeError> {
        let invalid = |reason: String| LakeError::InvalidLocation {
            location: original.to_string(),
            reason,
        };
        // Canonicalize when the directory exists (resolves symlinks, so the same lake
        // always gets the same URL); otherwise make it absolute and drop `.`/`..` lexically,
        // because deltalake compares table roots by URL.
        let abs = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(_) => {
                let abs = std::path::absolute(path).map_err(|e| invalid(e.to_string()))?;
                lexical_normalize(&abs)
            }
        };
        let root = Url::from_directory_path(&abs)
            .map_err(|()| invalid(format!("cannot make a file URL of {}", abs.display())))?;
        Ok(Self {
            root,
            local_root: Some(abs),
            options,
        })
    }

    /// URL of one table: the child directory `table` of the root (no trailing slash).
    /// The name is not validated here; [`crate::LakeTable::open`] does.
    pub fn table_url(&self, table: &str) -> Url {
        let mut url = self.root.clone();
        // Both file:// and s3:// URLs have a path, so this only fails for
        // cannot-be-a-base URLs, which `parse` never produces.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(table);
        }
        url
    }

    /// The root URL (directory URL, ends with `/`).
    pub fn root_url(&self) -> &Url {
        &self.root
    }

    /// Human-readable location: the directory for local lakes, the URL otherwise.
    pub fn display(&self) -> String {
        match &self.local_root {
            Some(p) => p.display().to_string(),
            None => self.root.to_string(),
        }
    }

    /// True for a lake in a local directory.
    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    /// The directory of a local lake.
    pub(crate) fn local_dir(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// Storage options handed to deltalake for every table of this lake.
    pub fn storage_options(&self) -> &HashMap<String, String> {
        &self.options
    }

    /// Object store rooted at the lake root, built by deltalake's own factories so that it
    /// sees exactly the same options and environment as table operations do.
    pub fn object_store(&self) -> Result<std::sync::Arc<dyn ObjectStore>, LakeError> {
        store_for(&self.root, self.options.clone()).map_err(|e| LakeError::Delta {
            op: "opening object store for lake",
            url: self.root.to_string(),
            source: Box::new(e),
        })
    }

    /// The lake's tables, sorted: its managed tables (see [`Self::managed_tables`]) and the
    /// external ones its catalog names.
    pub async fn list_tables(&self) -> Result<Vec<String>, LakeError> {
        let mut tables = self.managed_tables().await?;
        for external in self.external_tables().await? {
            if !tables.contains(&external.name) {
                tables.push(external.name);
            }
        }
        tables.sort();
        Ok(tables)
    }

    /// Names of the direct children of the root that hold a `_delta_log/` directory, sorted.
    /// A missing local root is an empty lake.
    pub async fn managed_tables(&self) -> Result<Vec<String>, LakeError> {
        let store = self.object_store()?;
        let storage = |op: &'static str| {
            let location = self.display();
            move |source| LakeError::Storage {
                op,
                location,
                source,
            }
        };
        let listing = match store.list_with_delimiter(None).await {
            Ok(l) => l,
            Err(deltalake::ObjectStoreError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(storage("listing lake")(e)),
        };
        let candidates: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .filter(|name| !name.starts_with('.') && !name.starts_with('_'))
            .collect();

        // One listing per candidate; on S3 these are round trips, so run a few at once.
        let store = &store;
        let mut tables: Vec<String> = futures::stream::iter(candidates)
            .map(|name| async move {
                let log = ObjectPath::from(name.as_str()).join("_delta_log");
                let mut entries = store.list(Some(&log));
                match entries.try_next().await {
                    Ok(Some(_)) => Ok(Some(name)),
                    Ok(None) | Err(deltalake::ObjectStoreError::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .buffer_unordered(8)
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await
            .map_err(storage("listing table logs in lake"))?;
        tables.sort();
        Ok(tables)
    }
}

/// Defaults that make S3-compatible endpoints work out of the box. Only fills gaps: an
/// option the caller set (or its `AWS_*` environment variable) always wins.
fn with_s3_defaults(mut options: HashMap<String, String>) -> HashMap<String, String> {
    let has = |options: &HashMap<String, String>, keys: &[&str]| {
        options
            .keys()
            .any(|k| keys.iter().any(|want| k.eq_ignore_ascii_case(want)))
            || keys
                .iter()
                .any(|k| std::env::var(k.to_ascii_uppercase()).is_ok())
    };
    let endpoint = options
        .iter()
        .find(|(k, _)| {
            [
                "aws_endpoint",
                "aws_endpoint_url",
                "endpoint",
                "endpoint_url",
            ]
            .iter()
            .any(|want| k.eq_ignore_ascii_case(want))
        })
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT").ok());
    // A plain-http endpoint (local MinIO, the embedded devstack S3) is unusable without
    // allow_http, and naming an http:// URL is already the user's explicit choice.
    if endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"))
        && !has(&options, &["aws_allow_http", "allow_http"])
    {
        options.insert("aws_allow_http".into(), "true".into());
    }
    options
}

/// Remove `.` and resolve `..` without touching the filesystem.
fn lexical_normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Table names become one directory under the lake root and a DataFusion table name, so
/// keep them to a portable, unambiguous alphabet. Names starting with `_` or `.` are
/// hidden to Hive-style readers and are rejected.
pub(crate) fn validate_table_name(name: &str) -> Result<(), LakeError> {
    let invalid = |reason: &str| LakeError::InvalidTableName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    let first = name.chars().next().ok_or_else(|| invalid("empty name"))?;
    if !first.is_ascii_alphanumeric() {
        return Err(invalid("must start with a letter or digit"));
    }
    if name.len() > 200 {
        return Err(invalid("longer than 200 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid(
            "only ASCII letters, digits, '_' and '-' are allowed",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_become_directory_urls() -> Result<(), LakeError> {
        let loc = LakeLocation::parse("/nonexistent/x/../lake", HashMap::new())?;
        assert_eq!(loc.root_url().as_str(), "file:///nonexistent/lake/");
        assert_eq!(
            loc.table_url("events").as_str(),
            "file:///nonexistent/lake/events"
        );
        assert_eq!(loc.display(), "/nonexistent/lake");
        let loc = LakeLocation::parse("file:///nonexistent/lake/", HashMap::new())?;
        assert_eq!(loc.table_url("t").as_str(), "file:///nonexistent/lake/t");
        Ok(())
    }

    #[test]
    fn s3_urls_keep_bucket_and_prefix() -> Result<(), LakeError> {
        let loc = LakeLocation::parse("s3://lake", HashMap::new())?;
        assert_eq!(loc.table_url("events").as_str(), "s3://lake/events");
        let opts = HashMap::from([(
            "aws_endpoint".to_string(),
            "http://127.0.0.1:9000".to_string(),
        )]);
        let loc = LakeLocation::parse("s3://lake/pre/fix", opts)?;
        assert_eq!(loc.table_url("events").as_str(), "s3://lake/pre/fix/events");
        assert_eq!(
            loc.storage_options()
                .get("aws_allow_http")
                .map(String::as_str),
            Some("true")
        );
        assert!(!format!("{loc:?}").contains("127.0.0.1:9000"));
        Ok(())
    }

    #[test]
    fn rejects_bad_locations_and_names() {
        assert!(LakeLocation::parse("gs://x", HashMap::new()).is_err());
        assert!(LakeLocation::parse("s3://", HashMap::new()).is_err());
        assert!(LakeLocation::parse("  ", HashMap::new()).is_err());
        assert!(validate_table_name("events_2026-v1").is_ok());
        for bad in ["", "_delta_log", ".x", "a/b", "a b", ".."] {
            assert!(validate_table_name(bad).is_err(), "{bad}");
        }
    }
}
