//! The machine's PostgreSQL and MariaDB as the tests reach them: whether they are here
//! (in CI they must be), and their own command-line clients to set up and read tables.

use std::process::Command;

use super::*;

/// Whether both databases and their command-line clients are here (in CI they must be).
pub fn databases_here() -> bool {
    require(
        "PostgreSQL and MySQL/MariaDB",
        postgres_url().is_some() && mysql_url().is_some(),
        "set PIPELAB_TEST_POSTGRES_URL and PIPELAB_TEST_MYSQL_URL, or run them at \
         127.0.0.1:5432 (postgres, database test) and 127.0.0.1:3306 (root, database test)",
    ) && require(
        "psql",
        installed("psql"),
        "apt-get install postgresql-client",
    ) && require(
        "mariadb",
        installed("mariadb"),
        "apt-get install mariadb-client",
    ) && require("python sqlite3", python_has(&["sqlite3"]), "python3")
}

/// Run `sql` in PostgreSQL (psql, unaligned, comma-separated, no header).
pub fn psql(sql: &str) -> String {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-A", "-t", "-F", ",", "-v", "ON_ERROR_STOP=1"])
        .arg(postgres_url().unwrap());
    let out = output_with_stdin(&mut cmd, sql);
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run `sql` in MariaDB (batch mode, tab-separated, no header).
pub fn mariadb(sql: &str) -> String {
    let url = url::Url::parse(&mysql_url().unwrap()).unwrap();
    let mut cmd = Command::new("mariadb");
    cmd.args([
        "--batch",
        "--skip-column-names",
        "--default-character-set=utf8mb4",
    ])
    .arg(format!("--host={}", url.host_str().unwrap_or("127.0.0.1")))
    .arg(format!("--port={}", url.port().unwrap_or(3306)))
    .arg(format!("--user={}", url.username()))
    .arg(url.path().trim_start_matches('/'));
    if let Some(password) = url.password() {
        cmd.arg(format!("--password={password}"));
    }
    let out = output_with_stdin(&mut cmd, sql);
    assert!(
        out.status.success(),
        "mariadb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `program` is installed here (it answers `--version`).
pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
