//! Users, passwords and what each may do, from an optional users file
//! (`pipelab serve --users FILE`), as Trino's password file and file-based access
//! control do:
//!
//! ```toml
//! [users.alice]
//! password_sha256 = "5e88…"   # hex SHA-256 of the password: printf %s PASSWORD | sha256sum
//! read = ["lake", "pg"]       # catalogs alice may read; ["*"] for all
//! write = ["lake"]            # catalogs whose views alice may make and drop (and read)
//! ```
//!
//! Clients send HTTP basic credentials (`Authorization: Basic …`); a request without
//! valid ones gets 401. Passwords travel in clear text, so `pipelab serve` takes a users
//! file only when it listens on a loopback address (it has no TLS).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use axum::http::HeaderMap;
use base64::Engine;
use pipelab_federate::Access;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The users of a users file.
#[derive(Debug, Clone)]
pub struct Users {
    users: BTreeMap<String, User>,
}

#[derive(Debug, Clone)]
struct User {
    password_sha256: [u8; 32],
    read: Grant,
    write: Grant,
}

/// Catalogs a user is granted: all of them, or those named.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Grant {
    All,
    Named(BTreeSet<String>),
}

impl Grant {
    fn of(names: Vec<String>) -> Self {
        if names.iter().any(|n| n == "*") {
            Grant::All
        } else {
            Grant::Named(names.into_iter().collect())
        }
    }

    fn allows(&self, catalog: &str) -> bool {
        match self {
            Grant::All => true,
            Grant::Named(names) => names.contains(catalog),
        }
    }

    fn named(&self) -> impl Iterator<Item = &String> {
        match self {
            Grant::All => None,
            Grant::Named(names) => Some(names.iter()),
        }
        .into_iter()
        .flatten()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    users: BTreeMap<String, RawUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    password_sha256: toml::Spanned<String>,
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
}

/// Why a request is not let in (HTTP 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unauthorized(pub String);

impl Users {
    /// Read a users file; errors name the file and, where known, the line.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the users file: {e}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Parse a users file's `text`; `path` is only named in errors, with the line where known.
    pub fn parse(text: &str, path: &Path) -> Result<Self, String> {
        let err = |message: String| format!("{}: {message}", path.display());
        let raw: RawFile = toml::from_str(text).map_err(|e| err(e.to_string().trim().into()))?;
        let mut users = BTreeMap::new();
        for (name, user) in raw.users {
            let line = text[..user.password_sha256.span().start].lines().count();
            let hash = user.password_sha256.into_inner();
            let password_sha256 = decode_sha256(&hash).ok_or_else(|| {
                err(format!(
                    "line {line}: user {name:?}: password_sha256 is not 64 hex digits \
                     (printf %s PASSWORD | sha256sum)"
                ))
            })?;
            // Writing a catalog's views means planning them, which reads it.
            let mut read = user.read;
            read.extend(user.write.iter().cloned());
            users.insert(
                name,
                User {
                    password_sha256,
                    read: Grant::of(read),
                    write: Grant::of(user.write),
                },
            );
        }
        if users.is_empty() {
            return Err(err("no [users.NAME] table: name at least one".into()));
        }
        Ok(Self { users })
    }

    /// Catalogs the file grants that are not among `catalogs`: a typo would grant nothing.
    pub fn unknown_catalogs(&self, catalogs: &[String]) -> Vec<String> {
        let mut unknown: BTreeSet<String> = BTreeSet::new();
        for user in self.users.values() {
            for name in user.read.named().chain(user.write.named()) {
                if !catalogs.contains(name) {
                    unknown.insert(name.clone());
                }
            }
        }
        unknown.into_iter().collect()
    }

    /// The user whose HTTP basic credentials the request carries.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<String, Unauthorized> {
        let refuse = |why: &str| Unauthorized(why.to_string());
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| refuse("this server needs a user and password (HTTP basic)"))?
            .to_str()
            .map_err(|_| refuse("the Authorization header is not text"))?;
        let encoded = value
            .strip_prefix("Basic ")
            .ok_or_else(|| refuse("only HTTP basic authentication is taken"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| refuse("the basic credentials are not base64 of user:password"))?;
        let (name, password) = decoded
            .split_once(':')
            .ok_or_else(|| refuse("the basic credentials are not user:password"))?;
        let known = self.users.get(name);
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        match known {
            Some(user) if same(&user.password_sha256, &digest) => Ok(name.to_string()),
            // The same answer for an unknown user and a wrong password.
            _ => Err(refuse("wrong user or password")),
        }
    }

    /// Whether `user` may do what `access` says; the message names the catalog if not.
    pub fn check(&self, user: &str, access: &Access) -> Result<(), String> {
        let Some(grants) = self.users.get(user) else {
            return Err(format!("Access Denied: no user {user:?}"));
        };
        if let Some(catalog) = access.writes.iter().find(|c| !grants.write.allows(c)) {
            return Err(format!(
                "Access Denied: user {user:?} cannot change catalog {catalog:?} (read-only)"
            ));
        }
        if let Some(catalog) = access.reads.iter().find(|c| !grants.read.allows(c)) {
            return Err(format!(
                "Access Denied: user {user:?} cannot read catalog {catalog:?}"
            ));
        }
        Ok(())
    }
}

/// Compares every byte whatever the first difference (no timing hint).
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn decode_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // printf %s secret | sha256sum
    const SECRET: &str = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

    fn users() -> Users {
        Users::parse(
            &format!(
                "[users.reader]\npassword_sha256 = \"{SECRET}\"\nread = [\"lake\"]\n\n\
                 [users.admin]\npassword_sha256 = \"{SECRET}\"\nread = [\"*\"]\nwrite = [\"lake\"]\n"
            ),
            Path::new("users.toml"),
        )
        .unwrap()
    }

    fn basic(credentials: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        headers.insert(axum::http::header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn basic_credentials_are_checked_against_the_hash() {
        let users = users();
        assert_eq!(
            users.authenticate(&basic("reader:secret")),
            Ok("reader".into())
        );
        assert!(users.authenticate(&basic("reader:Secret")).is_err());
        assert!(users.authenticate(&basic("nobody:secret")).is_err());
        assert!(users.authenticate(&HeaderMap::new()).is_err());
    }

    #[test]
    fn a_reader_reads_its_catalogs_and_changes_none() {
        let users = users();
        let access = |reads: &[&str], writes: &[&str]| Access {
            reads: reads.iter().map(|s| s.to_string()).collect(),
            writes: writes.iter().map(|s| s.to_string()).collect(),
        };
        assert!(users.check("reader", &access(&["lake"], &[])).is_ok());
        let denied = users
            .check("reader", &access(&["lake"], &["lake"]))
            .unwrap_err();
        assert!(denied.contains("read-only"), "{denied}");
        let denied = users.check("reader", &access(&["pg"], &[])).unwrap_err();
        assert!(denied.contains("\"pg\""), "{denied}");
        assert!(
            users
                .check("admin", &access(&["pg", "lake"], &["lake"]))
                .is_ok()
        );
        assert_eq!(
            users.unknown_catalogs(&["lake".into()]),
            Vec::<String>::new()
        );
        assert_eq!(users.unknown_catalogs(&[]), vec!["lake".to_string()]);
    }

    #[test]
    fn a_bad_hash_names_the_file_and_line() {
        let e = Users::parse(
            "[users.a]\npassword_sha256 = \"xyz\"\n",
            Path::new("users.toml"),
        )
        .unwrap_err();
        assert!(e.starts_with("users.toml: line 2:"), "{e}");
    }
}
