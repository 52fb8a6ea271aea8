//! pipelab's errors as Trino's error objects: a name and code from Trino's
//! `StandardErrorCode`, a type (`USER_ERROR` makes the Python client raise
//! `TrinoUserError`), and for syntax errors the line and column.

use pipelab_federate::FederateError;
use serde_json::{Value, json};

/// A failed query as a Trino error object: what the client shows and how it raises it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryError {
    /// The full error text, with pipelab's hints.
    pub message: String,
    /// Trino's `StandardErrorCode` name, such as `SYNTAX_ERROR`.
    pub name: &'static str,
    /// Trino's numeric code for `name` (`errorCode`).
    pub code: i64,
    /// Trino's `errorType`: `USER_ERROR` or `INTERNAL_ERROR`.
    pub kind: &'static str,
    /// 1-based line and column, for syntax errors.
    pub location: Option<(u64, u64)>,
}

impl QueryError {
    /// A `USER_ERROR` with Trino's error `name` and `code`, without a location.
    pub fn user(name: &'static str, code: i64, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            name,
            code,
            kind: "USER_ERROR",
            location: None,
        }
    }

    /// Trino's GENERIC_INTERNAL_ERROR: a failure of the server, not of the statement.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            name: "GENERIC_INTERNAL_ERROR",
            code: 65536,
            kind: "INTERNAL_ERROR",
            location: None,
        }
    }

    /// Trino's PERMISSION_DENIED: the client raises it as a user error.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::user("PERMISSION_DENIED", 4, message)
    }

    /// Trino's USER_CANCELED, for a query the client cancelled.
    pub fn canceled() -> Self {
        Self::user("USER_CANCELED", 3, "Query was canceled")
    }

    /// Classify a failed statement by what DataFusion (or pipelab) said.
    pub fn of(error: &FederateError) -> Self {
        let message = error.to_string();
        let first = message.lines().next().unwrap_or_default().to_string();
        let lower = message.to_ascii_lowercase();
        let mut e = if lower.contains("parsererror") || lower.contains("sql parser error") {
            let mut e = Self::user("SYNTAX_ERROR", 1, first);
            e.location = line_and_column(&message);
            e
        } else if lower.contains("table '") && lower.contains("not found")
            || lower.contains("table not found")
        {
            Self::user("TABLE_NOT_FOUND", 46, first)
        } else if lower.contains("no field named") {
            Self::user("COLUMN_NOT_FOUND", 47, first)
        } else if lower.contains("invalid function") {
            Self::user("FUNCTION_NOT_FOUND", 6, first)
        } else if lower.contains("divide by zero") || lower.contains("division by zero") {
            Self::user("DIVISION_BY_ZERO", 8, first)
        } else if lower.contains("pipelab serve runs queries") {
            Self::user("NOT_SUPPORTED", 13, first)
        } else if lower.contains("error setting config") {
            Self::user("INVALID_SESSION_PROPERTY", 14, first)
        } else if error.is_user_fixable() {
            Self::user("GENERIC_USER_ERROR", 0, first)
        } else {
            Self::internal(first)
        };
        // The whole text (with pipelab's hints) is kept in the message.
        e.message = message;
        e
    }

    /// The `error` object of Trino's query results, with `errorLocation` for syntax errors.
    pub fn to_json(&self) -> Value {
        let mut error = json!({
            "message": self.message,
            "errorCode": self.code,
            "errorName": self.name,
            "errorType": self.kind,
            "failureInfo": {"type": "pipelab", "message": self.message,
                            "suppressed": [], "stack": []},
        });
        if let Some((line, column)) = self.location {
            error["errorLocation"] = json!({"lineNumber": line, "columnNumber": column});
            error["failureInfo"]["errorLocation"] = error["errorLocation"].clone();
        }
        error
    }
}

/// `… at Line: 2, Column: 8 …` (sqlparser's wording) as (2, 8).
fn line_and_column(message: &str) -> Option<(u64, u64)> {
    let at = message.find("Line: ")?;
    let rest = &message[at + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parsers_position_becomes_trinos_error_location() {
        assert_eq!(
            line_and_column("ParserError(\"Expected: end, found: x at Line: 2, Column: 8\")"),
            Some((2, 8))
        );
        assert_eq!(line_and_column("no position"), None);
    }
}
