//! `pipelab serve` answers Trino's own Python client (`trino`, DB-API): every type with
//! its value, a million rows paged with bounded memory, errors the client raises as
//! Trino's, cancellation, and twenty clients at once.

use std::process::Command;

use crate::common::*;

/// A server over an empty lake, when the Python client is here (in CI it must be).
fn server_for_the_client() -> Option<(tempfile::TempDir, Server)> {
    if !require("python trino", python_has(&["trino"]), "pip install trino") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    Some((dir, server))
}

#[test]
fn the_trino_python_client_reads_every_type_with_its_value() {
    let Some((_lake, server)) = server_for_the_client() else {
        return;
    };
    let found = server.check("types");
    let types = &found["types"];
    assert_eq!(types["dec"], "decimal(10,2)", "{found}");
    assert_eq!(types["tstz"], "timestamp(3) with time zone", "{found}");
    assert_eq!(types["ro"], "row(x bigint, y varchar)", "{found}");
    assert_eq!(types["j"], "json", "{found}");
}

#[test]
fn a_million_rows_page_through_with_bounded_server_memory() {
    let Some((_lake, server)) = server_for_the_client() else {
        return;
    };
    server.check("syntax"); // warm up: the session's first plan allocates its caches
    let before = server.status_kib("VmRSS:");
    let found = server.check("million");
    let peak = server.status_kib("VmHWM:");
    // The result is over 100 MB as Arrow (a 100-byte string a row) and more as JSON: held
    // whole it would show; streamed, a few batches are in memory at once.
    let grew_mib = peak.saturating_sub(before) / 1024;
    assert!(grew_mib < 64, "server grew by {grew_mib} MiB: {found}");
    eprintln!(
        "1,000,000 rows in {:.2} s; server grew {grew_mib} MiB",
        found["seconds"]
    );
}

#[test]
fn errors_reach_the_client_as_trinos_and_the_server_keeps_serving() {
    let Some((_lake, server)) = server_for_the_client() else {
        return;
    };
    let syntax = server.check("syntax");
    assert_eq!(syntax["location"], serde_json::json!([2, 16]), "{syntax}");
    server.check("errors");
    server.check("cancel");
    let concurrent = server.check("concurrent");
    assert_eq!(concurrent["clients"], 20);
}

// printf %s secret | sha256sum
const SECRET_SHA256: &str = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

/// A lake (empty: it keeps the views) and a files catalog, behind a users file: `reader`
/// reads the lake only, `admin` reads everything and changes the lake's views.
fn signed_in_server(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Server) {
    signed_in_server_with(dir, &[])
}

/// [`signed_in_server`] with more arguments for `pipelab serve`.
fn signed_in_server_with(
    dir: &std::path::Path,
    extra: &[&std::ffi::OsStr],
) -> (std::path::PathBuf, std::path::PathBuf, Server) {
    std::fs::create_dir_all(dir.join("lake")).unwrap();
    std::fs::write(
        dir.join("countries.csv"),
        "code,name\nDE,Germany\nFR,France\nIT,Italy\n",
    )
    .unwrap();
    let catalogs = dir.join("catalogs.toml");
    std::fs::write(
        &catalogs,
        format!(
            "default_catalog = \"lake\"\n[catalogs.lake]\nkind = \"lake\"\nlocation = \"{}\"\n\n\
             [catalogs.ref]\nkind = \"files\"\ntables = {{ countries = \"{}\" }}\n",
            dir.join("lake").display(),
            dir.join("countries.csv").display()
        ),
    )
    .unwrap();
    let users = dir.join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[users.reader]\npassword_sha256 = \"{SECRET_SHA256}\"\nread = [\"lake\"]\n\n\
             [users.admin]\npassword_sha256 = \"{SECRET_SHA256}\"\nread = [\"*\"]\n\
             write = [\"lake\"]\n"
        ),
    )
    .unwrap();
    let server = Server::spawn(
        pipelab(None)
            .args(["serve", "--port", "0", "--catalogs"])
            .arg(&catalogs)
            .arg("--users")
            .arg(&users)
            .args(extra),
    );
    (catalogs, users, server)
}

#[test]
fn users_sign_in_and_read_only_what_they_are_granted() {
    let dir = tempfile::tempdir().unwrap();
    let (catalogs, users, server) = signed_in_server(dir.path());
    let reader = Trino::signed_in(server.port, "reader", "secret");
    let admin = Trino::signed_in(server.port, "admin", "secret");

    // No credentials, a wrong password, and an X-Trino-User that is someone else.
    let (status, head, _) = Trino::new(server.port).request("POST", "/v1/statement", "SELECT 1");
    assert_eq!(status, 401, "{head}");
    assert!(
        head.to_lowercase().contains("www-authenticate: basic"),
        "{head}"
    );
    let (status, _, _) = Trino::signed_in(server.port, "reader", "Secret").request(
        "POST",
        "/v1/statement",
        "SELECT 1",
    );
    assert_eq!(status, 401);
    let mut posing = Trino::signed_in(server.port, "reader", "secret");
    posing.add_header("X-Trino-User", "admin");
    assert_eq!(posing.request("POST", "/v1/statement", "SELECT 1").0, 403);

    // The reader cannot read a catalog it is not granted, nor make a view.
    let (_, _, error) = reader.run("SELECT count(*) FROM ref.default.countries");
    assert_eq!(error["errorName"], "PERMISSION_DENIED", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("\"ref\""),
        "{error}"
    );
    let (_, _, error) = reader.run("CREATE VIEW mine AS SELECT 1 AS one");
    assert_eq!(error["errorName"], "PERMISSION_DENIED", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("read-only"),
        "{error}"
    );

    // The admin makes a view in the lake over the files catalog; the reader may not read
    // through it what it may not read directly.
    let (_, _, error) = admin.run(
        "CREATE VIEW lake.default.big AS SELECT code FROM ref.default.countries WHERE code <> 'FR'",
    );
    assert!(error.is_null(), "{error}");
    let (_, rows, error) = admin.run("SELECT count(*) FROM big");
    assert_eq!(
        (rows, error),
        (vec![serde_json::json!([2])], serde_json::Value::Null)
    );
    let (_, _, error) = reader.run("SELECT * FROM big");
    assert_eq!(error["errorName"], "PERMISSION_DENIED", "{error}");
    let (_, rows, error) = reader.run("SELECT 40 + 2");
    assert_eq!(
        (rows, error),
        (vec![serde_json::json!([42])], serde_json::Value::Null)
    );

    // A query's pages are its submitter's: to another user it does not exist.
    let started = admin.json("POST", "/v1/statement", "SELECT * FROM range(100000)");
    let next = path_of(&started["nextUri"]).unwrap();
    assert_eq!(reader.request("GET", &next, "").0, 404);
    assert_eq!(reader.request("DELETE", &next, "").0, 404);
    assert_eq!(admin.request("DELETE", &next, "").0, 204);

    // The view is kept in the lake, for every later session.
    let out = run_ok(
        pipelab(None)
            .args(["query", "--format", "csv", "--catalogs"])
            .arg(&catalogs)
            .arg("SELECT code FROM big ORDER BY code"),
    );
    assert_eq!(out, "code\nDE\nIT\n");
    drop(server);

    // Passwords only on loopback, and grants only of catalogs that exist.
    assert_user_error(
        serve_refused(&catalogs, &users, &["--bind", "0.0.0.0"]),
        &["clear text"],
    );
    std::fs::write(
        &users,
        format!("[users.x]\npassword_sha256 = \"{SECRET_SHA256}\"\nread = [\"lak\"]\n"),
    )
    .unwrap();
    assert_user_error(serve_refused(&catalogs, &users, &[]), &["lak"]);
}

/// `pipelab serve` with a users file and `extra` arguments that it must refuse to start
/// with: its output.
fn serve_refused(
    catalogs: &std::path::Path,
    users: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    output(
        pipelab(None)
            .args(["serve", "--port", "0", "--catalogs"])
            .arg(catalogs)
            .arg("--users")
            .arg(users)
            .args(extra),
    )
}

#[test]
fn json_parse_refuses_text_that_is_not_json_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    assert_user_error(
        output(
            pipelab(None)
                .args(["query", "--lake"])
                .arg(dir.path())
                .arg(r#"SELECT json_parse('{"a": }') AS j"#),
        ),
        &["json_parse", "is not JSON", "line 1 column 7"],
    );
}

#[test]
fn trinos_python_client_signs_in_over_https() {
    if !require("python trino", python_has(&["trino"]), "pip install trino")
        || !require(
            "openssl",
            Command::new("openssl").arg("version").output().is_ok(),
            "apt-get install openssl",
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (catalogs, users, server) = signed_in_server_with(
        dir.path(),
        &[
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
        ],
    );
    // requests lets these variables override the certificate the client is given.
    let found = json_of(
        Command::new(python())
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE")
            .arg(script("trino_client.py"))
            .arg(server.port.to_string())
            .arg("https")
            .arg(&cert),
    );
    assert_eq!(found["ok"], true, "{found}");
    drop(server);
    // A certificate file that is not there: exit 2, naming it.
    let missing = dir.path().join("missing.pem");
    let (missing, key) = (missing.to_str().unwrap(), key.to_str().unwrap());
    assert_user_error(
        serve_refused(
            &catalogs,
            &users,
            &["--bind", "0.0.0.0", "--tls-cert", missing, "--tls-key", key],
        ),
        &["missing.pem"],
    );
}
