//! What a request asks for: the server's address as the client reached it, the session
//! its `X-Trino-*` headers set, and the user it is from.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pipelab_federate::ClientSession;

use crate::auth::Users;

/// `http(s)://host:port` as the client reached the server.
pub(crate) fn base_uri(tls: bool, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// A 400 answer: the request itself is malformed.
pub(crate) fn bad_request(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, message.into()).into_response()
}

/// The session a request's headers ask for, and the user `X-Trino-User` names.
pub(crate) fn client_session(
    headers: &HeaderMap,
) -> Result<(Option<String>, ClientSession), String> {
    let text = |name: &str| -> Result<Option<String>, String> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(|s| Some(s.trim().to_string()))
                .map_err(|_| format!("header {name} is not text")),
        }
    };
    let user = text("x-trino-user")?.filter(|u| !u.is_empty());
    let mut session = ClientSession {
        catalog: text("x-trino-catalog")?,
        schema: text("x-trino-schema")?,
        properties: Vec::new(),
    };
    for value in headers.get_all("x-trino-session") {
        let value = value
            .to_str()
            .map_err(|_| "header X-Trino-Session is not text".to_string())?;
        for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("X-Trino-Session: {pair:?} is not name=value"))?;
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8_lossy()
                .into_owned();
            session.properties.push((key.trim().to_string(), value));
        }
    }
    Ok((user, session))
}

/// The user a request is from: with a users file, the one its credentials prove (an
/// `X-Trino-User` naming another is refused), else `X-Trino-User`'s.
/// The error is a boxed response (401, 403 or 400) to send as it is.
pub(crate) fn request_user(
    users: Option<&Users>,
    headers: &HeaderMap,
    named: Option<&str>,
) -> Result<String, Box<Response>> {
    let Some(users) = users else {
        return named
            .map(str::to_string)
            .ok_or_else(|| Box::new(bad_request("header X-Trino-User is required")));
    };
    let user = users.authenticate(headers).map_err(|e| {
        let mut response = (StatusCode::UNAUTHORIZED, e.0).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"pipelab\""),
        );
        Box::new(response)
    })?;
    match named {
        Some(named) if named != user => Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                format!("X-Trino-User {named:?} is not the signed-in user {user:?}"),
            )
                .into_response(),
        )),
        _ => Ok(user),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn the_session_headers_set_user_catalog_schema_and_properties() {
        let (user, session) = client_session(&headers(&[
            ("x-trino-user", " ana "),
            ("x-trino-catalog", "lake"),
            ("x-trino-schema", "default"),
            ("x-trino-session", "a=1, b=x%3Dy"),
            ("x-trino-session", "datafusion.execution.batch_size=1024"),
        ]))
        .unwrap();
        assert_eq!(user.as_deref(), Some("ana"));
        assert_eq!(session.catalog.as_deref(), Some("lake"));
        assert_eq!(session.schema.as_deref(), Some("default"));
        // Values are percent-decoded, as Trino's clients encode them; every header counts.
        assert_eq!(
            session.properties,
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "x=y".to_string()),
                (
                    "datafusion.execution.batch_size".to_string(),
                    "1024".to_string()
                ),
            ]
        );
    }

    #[test]
    fn an_empty_user_is_no_user_and_a_bare_property_is_refused() {
        let (user, _) = client_session(&headers(&[("x-trino-user", "  ")])).unwrap();
        assert_eq!(user, None);
        let e = client_session(&headers(&[("x-trino-session", "a=1,oops")])).unwrap_err();
        assert!(e.contains("\"oops\" is not name=value"), "{e}");
    }

    #[test]
    fn without_a_users_file_the_named_user_is_the_user() {
        let none = HeaderMap::new();
        assert_eq!(request_user(None, &none, Some("ana")).unwrap(), "ana");
        let refused = request_user(None, &none, None).unwrap_err();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn with_a_users_file_the_credentials_decide_and_must_match_the_named_user() {
        // printf %s secret | sha256sum
        let users = Users::parse(
            "[users.ana]\npassword_sha256 = \
             \"2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b\"\n\
             read = [\"lake\"]\n",
            std::path::Path::new("users.toml"),
        )
        .unwrap();
        use base64::Engine;
        let basic = |credentials: &str| {
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            );
            headers(&[("authorization", value.as_str())])
        };
        let signed_in = basic("ana:secret");
        assert_eq!(request_user(Some(&users), &signed_in, None).unwrap(), "ana");
        assert_eq!(
            request_user(Some(&users), &signed_in, Some("ana")).unwrap(),
            "ana"
        );
        let other = request_user(Some(&users), &signed_in, Some("bob")).unwrap_err();
        assert_eq!(other.status(), StatusCode::FORBIDDEN);
        let wrong = request_user(Some(&users), &basic("ana:nope"), Some("ana")).unwrap_err();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(wrong.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn the_base_uri_is_the_host_the_client_reached() {
        let reached = headers(&[("host", "127.0.0.1:8443")]);
        assert_eq!(base_uri(true, &reached), "https://127.0.0.1:8443");
        assert_eq!(base_uri(false, &HeaderMap::new()), "http://localhost");
    }
}
