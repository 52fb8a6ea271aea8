//! Federation over the machine's real PostgreSQL and MariaDB, a SQLite file and the lake:
//! the same data loaded into PostgreSQL alone (schema `pl_ref`, byte-order collation as
//! DataFusion's) answers every query the same way, and what each database was sent is
//! read off the wire, not off pipelab's own plan.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::*;

/// `host:port` of a `scheme://user@host:port/db` URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_string()
}

const NAMES: [&str; 9] = [
    "Ana", "ana", "ANA", "Zoë", "Ünal", "東京", "O'Brien", "bob", "Bob",
];
const REGION_CODES: [Option<&str>; 7] = [
    Some("EU"),
    Some("eu"),
    Some("US"),
    Some("us"),
    Some("APAC"),
    Some("Apac"),
    None,
];
const STATUSES: [Option<&str>; 5] = [
    Some("paid"),
    Some("PAID"),
    Some("refunded"),
    Some("Paid"),
    None,
];

fn sql_text(v: Option<&str>) -> String {
    v.map_or("NULL".to_string(), |s| {
        format!("'{}'", s.replace('\'', "''"))
    })
}

fn customers() -> Vec<String> {
    (0..2000u32)
        .map(|i| {
            let name = format!("{} {i}", NAMES[i as usize % NAMES.len()]);
            let region = REGION_CODES[i as usize % REGION_CODES.len()];
            let signup = format!("DATE '2020-01-01' + {}", i * 37 % 1500);
            let tier = if i % 11 == 0 {
                "NULL".to_string()
            } else {
                (i % 4).to_string()
            };
            let credit = format!("{}.{:02}", i * 137 % 1000, i % 100);
            format!(
                "('u-{i:06}', {}, {}, {signup}, {tier}, {credit})",
                sql_text(Some(&name)),
                sql_text(region)
            )
        })
        .collect()
}

fn regions() -> Vec<String> {
    [
        ("'EU'", "'Europe'", "20.00"),
        ("'eu'", "'europe (lower case)'", "19.00"),
        ("'US'", "'United States'", "7.25"),
        ("'us'", "'us lower'", "8.00"),
        ("'APAC'", "'Asia Pacific'", "10.00"),
        ("'Apac'", "'apac mixed'", "9.50"),
        ("'LATAM'", "NULL", "12.00"),
    ]
    .iter()
    .map(|(c, n, v)| format!("({c}, {n}, {v})"))
    .collect()
}

/// Orders; `date` renders a day offset from 2024-01-01 in the target's SQL.
fn orders(date: impl Fn(u32) -> String) -> Vec<String> {
    (0..5000u32)
        .map(|i| {
            let user = (i * 7919) % 2600; // some users have none, some ids match no customer
            let amount = format!("{}.{:02}", (i * 331) % 1000, (i * 7) % 100);
            let status = STATUSES[i as usize % STATUSES.len()];
            format!(
                "({i}, 'u-{user:06}', {amount}, {}, {})",
                date(i * 13 % 366),
                sql_text(status)
            )
        })
        .collect()
}

fn tiers() -> [(u32, &'static str); 4] {
    [(0, "free"), (1, "Free"), (2, "pro"), (3, "ENTERPRISE")]
}

/// Load the data into PostgreSQL (customers), MariaDB (regions, orders) and a SQLite
/// file (tiers), and all of it, with the lake's events, into PostgreSQL's `pl_ref`.
fn load(dir: &Path, lake: &str) -> std::path::PathBuf {
    psql(&format!(
        "DROP TABLE IF EXISTS pl_fed_customers;\n\
         CREATE TABLE pl_fed_customers (user_id text PRIMARY KEY, name text, region_code text, \
         signup date, tier smallint, credit numeric(10,2));\n\
         INSERT INTO pl_fed_customers VALUES {};\n",
        customers().join(",\n")
    ));
    mariadb(&format!(
        "DROP TABLE IF EXISTS pl_fed_regions;\n\
         CREATE TABLE pl_fed_regions (code varchar(8), name varchar(40), vat decimal(5,2)) \
         DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci;\n\
         INSERT INTO pl_fed_regions VALUES {};\n\
         DROP TABLE IF EXISTS pl_fed_orders;\n\
         CREATE TABLE pl_fed_orders (id int PRIMARY KEY, user_id varchar(16), \
         amount decimal(12,2), placed date, status varchar(12)) \
         DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci;\n\
         INSERT INTO pl_fed_orders VALUES {};\n",
        regions().join(",\n"),
        orders(|d| format!("DATE '2024-01-01' + INTERVAL {d} DAY")).join(",\n")
    ));
    let sqlite = dir.join("tiers.db");
    let rows: Vec<String> = tiers()
        .iter()
        .map(|(t, l)| format!("({t}, '{l}')"))
        .collect();
    let script = format!(
        "import sqlite3, sys\n\
         c = sqlite3.connect(sys.argv[1])\n\
         c.execute('CREATE TABLE pl_fed_tiers (tier INTEGER, label TEXT)')\n\
         c.execute(\"INSERT INTO pl_fed_tiers VALUES {}\")\n\
         c.commit()\n",
        rows.join(", ")
    );
    run_ok(Command::new(python()).args(["-c", &script]).arg(&sqlite));

    // The one database holding everything, strings compared byte by byte as DataFusion does.
    let events = run_ok(pipelab(None).args([
        "query",
        "--lake",
        lake,
        "--format",
        "csv",
        "SELECT event_id, user_id, event_type, country, price FROM day",
    ]));
    let text = |col: &str| format!("{col} text COLLATE \"C\"");
    psql(&format!(
        "DROP SCHEMA IF EXISTS pl_ref CASCADE; CREATE SCHEMA pl_ref;\n\
         CREATE TABLE pl_ref.customers ({}, {}, {}, signup date, tier smallint, credit numeric(10,2));\n\
         INSERT INTO pl_ref.customers VALUES {};\n\
         CREATE TABLE pl_ref.regions ({}, {}, vat numeric(5,2));\n\
         INSERT INTO pl_ref.regions VALUES {};\n\
         CREATE TABLE pl_ref.orders (id int, {}, amount numeric(12,2), placed date, {});\n\
         INSERT INTO pl_ref.orders VALUES {};\n\
         CREATE TABLE pl_ref.tiers (tier int, {});\n\
         INSERT INTO pl_ref.tiers VALUES {};\n\
         CREATE TABLE pl_ref.events ({}, {}, {}, {}, price double precision);\n\
         COPY pl_ref.events FROM STDIN WITH (FORMAT csv, HEADER true);\n{events}\\.\n",
        text("user_id"),
        text("name"),
        text("region_code"),
        customers().join(",\n"),
        text("code"),
        text("name"),
        regions().join(",\n"),
        text("user_id"),
        text("status"),
        orders(|d| format!("DATE '2024-01-01' + {d}")).join(",\n"),
        text("label"),
        rows.join(", "),
        text("event_id"),
        text("user_id"),
        text("event_type"),
        text("country"),
    ));
    sqlite
}

/// A TCP relay in front of a database that keeps what the client wrote, one entry per
/// read, and counts the bytes the database answered with.
struct WireTap {
    port: u16,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    received: Arc<AtomicU64>,
}

impl WireTap {
    fn to(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(AtomicU64::new(0));
        let (s, r) = (Arc::clone(&sent), Arc::clone(&received));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let (s, r) = (Arc::clone(&s), Arc::clone(&r));
                relay(client, server, s, r);
            }
        });
        Self {
            port,
            sent,
            received,
        }
    }

    /// The SQL statements the client sent since the last call, as text.
    fn take_statements(&self) -> Vec<String> {
        let chunks = std::mem::take(&mut *self.sent.lock().unwrap());
        // A read may hold several messages: every statement in it, each up to the NUL
        // that ends a PostgreSQL string or a MySQL packet's length bytes.
        chunks
            .iter()
            .flat_map(|chunk| {
                let text = String::from_utf8_lossy(chunk).into_owned();
                text.match_indices("SELECT")
                    .map(|(at, _)| text[at..].chars().take_while(|c| *c != '\0').collect())
                    .collect::<Vec<String>>()
            })
            .collect()
    }
}

fn relay(
    client: TcpStream,
    server: TcpStream,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    received: Arc<AtomicU64>,
) {
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = c_read.read(&mut buf) {
            if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                break;
            }
            sent.lock().unwrap().push(buf[..n].to_vec());
        }
        let _ = s_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = s_read.read(&mut buf) {
            if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                break;
            }
            received.fetch_add(n as u64, Ordering::Relaxed);
        }
        let _ = c_write.shutdown(std::net::Shutdown::Write);
    });
}

/// `pipelab query --catalogs FILE --format csv SQL`: the rows, header left out.
fn federated(catalogs: &Path, sql: &str) -> Vec<String> {
    let out = run_ok(
        pipelab(None)
            .args(["query", "--format", "csv", "--catalogs"])
            .arg(catalogs)
            .arg(sql),
    );
    out.lines().skip(1).map(str::to_string).collect()
}

/// The queries, over `{c}` customers (PostgreSQL), `{r}` regions and `{o}` orders
/// (MariaDB), `{t}` tiers (SQLite) and `{e}` the lake's events.
const QUERIES: &[&str] = &[
    // The collation trap: MariaDB alone finds 'EU' too.
    "SELECT code FROM {r} WHERE code = 'eu'",
    "SELECT count(*) FROM {o} WHERE status = 'paid'",
    "SELECT status, count(*), sum(amount) FROM {o} GROUP BY status",
    "SELECT count(DISTINCT status) FROM {o}",
    "SELECT count(*) FROM {c} WHERE name LIKE '%ana%'",
    "SELECT name FROM {c} WHERE name LIKE 'Zo%' AND tier = 1",
    // Joins across sources on mixed-case strings.
    "SELECT r.code, count(*) FROM {c} c JOIN {r} r ON c.region_code = r.code GROUP BY r.code",
    "SELECT o.status, r.code, sum(o.amount) FROM {o} o JOIN {c} c ON o.user_id = c.user_id \
     JOIN {r} r ON r.code = c.region_code WHERE o.status = 'Paid' GROUP BY o.status, r.code",
    // Date ranges and decimal sums.
    "SELECT count(*), sum(amount) FROM {o} WHERE placed >= DATE '2024-03-01' AND placed < DATE '2024-04-01'",
    "SELECT c.region_code, sum(o.amount) FROM {o} o JOIN {c} c ON o.user_id = c.user_id \
     WHERE o.placed BETWEEN DATE '2024-01-01' AND DATE '2024-06-30' GROUP BY c.region_code",
    "SELECT count(*) FROM {o} WHERE placed + INTERVAL '30 days' > DATE '2024-12-01'",
    "SELECT sum(credit) FROM {c} WHERE signup >= DATE '2022-06-01' AND tier IN (1, 3)",
    // The lake with PostgreSQL.
    "SELECT e.country, count(*) FROM {e} e JOIN {c} c ON e.user_id = c.user_id WHERE c.tier = 2 GROUP BY e.country",
    "SELECT count(*) FROM {e} WHERE price > 50 AND user_id IN (SELECT user_id FROM {c} WHERE signup < DATE '2021-01-01')",
    // Semi and anti joins, EXISTS, IN and NOT IN (with NULLs).
    "SELECT c.user_id FROM {c} c WHERE EXISTS (SELECT 1 FROM {o} o WHERE o.user_id = c.user_id AND o.amount > 990)",
    "SELECT count(*) FROM {c} c WHERE NOT EXISTS (SELECT 1 FROM {o} o WHERE o.user_id = c.user_id)",
    "SELECT count(*) FROM {c} WHERE region_code IN (SELECT code FROM {r} WHERE vat > 9)",
    "SELECT count(*) FROM {c} WHERE region_code NOT IN (SELECT code FROM {r} WHERE vat < 10)",
    // SQLite.
    "SELECT t.label, count(*) FROM {c} c JOIN {t} t ON c.tier = t.tier GROUP BY t.label",
    "SELECT count(*) FROM {t} WHERE label = 'free'",
    // LIMIT in a subquery and inside a join input.
    "SELECT user_id, total FROM (SELECT user_id, sum(amount) AS total FROM {o} GROUP BY user_id \
     ORDER BY total DESC, user_id LIMIT 10) best",
    "SELECT c.name, x.n FROM {c} c JOIN (SELECT user_id, count(*) AS n FROM {o} GROUP BY user_id \
     ORDER BY n DESC, user_id LIMIT 5) x ON x.user_id = c.user_id",
    "SELECT user_id FROM {o} ORDER BY amount DESC, id LIMIT 3",
    // Window functions.
    "SELECT user_id, amount FROM (SELECT user_id, amount, rank() OVER (PARTITION BY user_id \
     ORDER BY amount DESC, id) AS rk FROM {o} WHERE user_id < 'u-000040') ranked WHERE rk = 1",
    "SELECT region_code, name, row_number() OVER (PARTITION BY region_code ORDER BY name) AS n \
     FROM {c} WHERE tier = 0 AND credit > 900",
    // Strings: order, NULL groups, concatenation, functions.
    "SELECT min(name), max(name) FROM {c}",
    "SELECT region_code, count(*) FROM {c} GROUP BY region_code",
    "SELECT r.code || ':' || coalesce(r.name, '-') FROM {r} r",
    "SELECT upper(code), count(*) FROM {r} GROUP BY upper(code)",
    "SELECT sum(amount) FROM {o} WHERE status IS NULL",
    // A grouping sorted and cut in PostgreSQL (its columns renamed under the sort).
    "SELECT tier, count(*) AS n, sum(credit) AS credit FROM {c} WHERE signup >= DATE '2023-01-01' \
     GROUP BY tier ORDER BY tier DESC LIMIT 2",
    "SELECT user_id, name, credit FROM {c} WHERE credit IS NOT NULL \
     ORDER BY credit DESC, user_id LIMIT 5",
];

fn substitute(sql: &str, names: [(&str, &str); 5]) -> String {
    names
        .iter()
        .fold(sql.to_string(), |s, (k, v)| s.replace(k, v))
}

#[test]
fn federated_queries_answer_as_one_database_holding_all_the_data() {
    if !databases_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("lab");
    run_ok(
        pipelab(None)
            .args(["lab", "partitions", "--runs", "1", "--events", "4000"])
            .args(["--layouts", "day", "--out"])
            .arg(&lab),
    );
    let lake = lab.join("lake").display().to_string();
    let sqlite = load(dir.path(), &lake);

    let pg_tap = WireTap::to(host_port(&postgres_url().unwrap()));
    let my_tap = WireTap::to(host_port(&mysql_url().unwrap()));
    let pg = postgres_url().unwrap();
    let my = mysql_url().unwrap();
    let through =
        |url: &str, port: u16| url.replacen(&host_port(url), &format!("127.0.0.1:{port}"), 1);
    let pg_url = format!("{}?sslmode=disable", through(&pg, pg_tap.port));
    let catalogs = dir.path().join("catalogs.toml");
    std::fs::write(
        &catalogs,
        format!(
            "[catalogs.lake]\nkind = \"lake\"\nlocation = {lake:?}\n\n\
             [catalogs.pg]\nkind = \"postgres\"\nurl = {pg_url:?}\nschemas = [\"public\"]\n\n\
             [catalogs.my]\nkind = \"mysql\"\nurl = {my_url:?}\n\n\
             [catalogs.lite]\nkind = \"sqlite\"\nlocation = {lite:?}\n",
            // mysql_async moves a loopback connection to the server's Unix socket,
            // around the tap, unless told not to.
            my_url = format!("{}?prefer_socket=false", through(&my, my_tap.port)),
            lite = sqlite.display().to_string(),
        ),
    )
    .unwrap();

    let fed = [
        ("{c}", "pg.public.pl_fed_customers"),
        ("{r}", "my.test.pl_fed_regions"),
        ("{o}", "my.test.pl_fed_orders"),
        ("{t}", "lite.main.pl_fed_tiers"),
        ("{e}", "lake.default.day"),
    ];
    let reference = [
        ("{c}", "pl_ref.customers"),
        ("{r}", "pl_ref.regions"),
        ("{o}", "pl_ref.orders"),
        ("{t}", "pl_ref.tiers"),
        ("{e}", "pl_ref.events"),
    ];
    assert!(QUERIES.len() >= 20);
    let mut nonempty = 0;
    for sql in QUERIES {
        let got: BTreeSet<String> = federated(&catalogs, &substitute(sql, fed))
            .into_iter()
            .collect();
        let want: BTreeSet<String> = psql(&format!("{};", substitute(sql, reference)))
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(got, want, "{sql}");
        nonempty += usize::from(!want.is_empty());
    }
    assert!(nonempty >= QUERIES.len() - 1, "queries should find rows");

    // The trap is real: MariaDB alone answers the first query with both 'EU' and 'eu'.
    let alone = mariadb("SELECT code FROM pl_fed_regions WHERE code = 'eu';");
    assert_eq!(alone.lines().count(), 2, "{alone}");

    // What each database received. A filter on PostgreSQL's side of a join with the lake
    // went to PostgreSQL with only the columns needed.
    pg_tap.take_statements();
    federated(&catalogs, &substitute(QUERIES[12], fed));
    let sent = pg_tap.take_statements();
    let pushed: Vec<&String> = sent
        .iter()
        .filter(|s| s.contains("pl_fed_customers"))
        .collect();
    assert!(
        pushed
            .iter()
            .any(|s| s.contains("\"tier\" = 2") && !s.contains("\"name\"")),
        "PostgreSQL received: {sent:#?}"
    );
    // A numeric and date filter with a count ran in MariaDB as one statement...
    my_tap.take_statements();
    let count = federated(
        &catalogs,
        "SELECT count(*) FROM my.test.pl_fed_orders WHERE placed >= DATE '2024-03-01' AND amount > 500",
    );
    let sent = my_tap.take_statements();
    assert!(
        sent.iter().any(|s| s.to_lowercase().contains("count(")
            && s.contains("placed")
            && s.contains("500")),
        "MariaDB received: {sent:#?}"
    );
    let want = psql(
        "SELECT count(*) FROM pl_ref.orders WHERE placed >= DATE '2024-03-01' AND amount > 500;",
    );
    assert_eq!(count, want.lines().map(str::to_string).collect::<Vec<_>>());
    // ...and a string comparison did not: MariaDB was asked for the rows, DataFusion compared.
    federated(&catalogs, &substitute(QUERIES[0], fed));
    let sent = my_tap.take_statements();
    assert!(
        sent.iter().any(|s| s.contains("pl_fed_regions"))
            && !sent.iter().any(|s| s.contains("'eu'")),
        "MariaDB received: {sent:#?}"
    );
    assert!(my_tap.received.load(Ordering::Relaxed) > 0);

    // EXPLAIN ANALYZE shows the SQL each database was sent and the rows it sent back.
    let analyzed = run_ok(
        pipelab(None)
            .args(["query", "--catalogs"])
            .arg(&catalogs)
            .arg("EXPLAIN ANALYZE SELECT count(*) FROM my.test.pl_fed_orders WHERE amount > 500"),
    );
    assert!(
        analyzed.contains("DatabaseRowsExec")
            && analyzed.contains("rows_received=1")
            && analyzed.contains("base_sql=SELECT count(1)"),
        "{analyzed}"
    );

    // A selective join: the keys of the small side reach MariaDB as a WHERE, so only the
    // matching rows of the 5,000 come back, and the answer is the reference's.
    let selective = "WITH wanted(id) AS (VALUES (7), (42), (4242), (99999)) \
        SELECT o.id, o.amount FROM wanted w JOIN {o} o ON o.id = w.id ORDER BY o.id";
    my_tap.take_statements();
    let got = federated(&catalogs, &substitute(selective, fed));
    let sent = my_tap.take_statements();
    let want = psql(&format!("{};", substitute(selective, reference)));
    assert_eq!(got, want.lines().map(str::to_string).collect::<Vec<_>>());
    assert_eq!(got.len(), 3);
    assert!(
        sent.iter().any(|s| s.contains("pl_fed_orders")
            && s.contains(" IN (")
            && ["7", "42", "4242", "99999"].iter().all(|k| s.contains(k))),
        "MariaDB received: {sent:#?}"
    );
    let analyzed = run_ok(
        pipelab(None)
            .args(["query", "--catalogs"])
            .arg(&catalogs)
            .arg(format!("EXPLAIN ANALYZE {}", substitute(selective, fed))),
    );
    assert!(
        ["rows_received=3,", "rows_received=3]"]
            .iter()
            .any(|m| analyzed.contains(m)),
        "{analyzed}"
    );

    // EXISTS and IN (subquery) build on the subquery's side, whose keys then narrow the
    // outer PostgreSQL scan: text keys as an IN list, integers as one array literal.
    let semi = [
        (
            "SELECT count(*) FROM {c} c WHERE EXISTS \
          (SELECT 1 FROM {o} o WHERE o.user_id = c.user_id AND o.id IN (7, 42))",
            " IN ('",
        ),
        (
            "SELECT count(*) FROM {c} c WHERE c.tier IN (SELECT t FROM (VALUES (1), (3)) v(t))",
            " = ANY('{",
        ),
    ];
    for (query, narrowed) in semi {
        pg_tap.take_statements();
        let got = federated(&catalogs, &substitute(query, fed));
        let sent = pg_tap.take_statements();
        let want = psql(&format!("{};", substitute(query, reference)));
        assert_eq!(
            got,
            want.lines().map(str::to_string).collect::<Vec<_>>(),
            "{query}"
        );
        assert!(
            sent.iter()
                .any(|s| s.contains("pl_fed_customers") && s.contains(narrowed)),
            "{query}: PostgreSQL received {sent:#?}"
        );
    }
}

#[test]
fn database_catalogs_list_and_describe_like_the_others() {
    if !databases_here() {
        return;
    }
    psql("DROP TABLE IF EXISTS pl_fed_listing; CREATE TABLE pl_fed_listing (id int, label text);");
    let dir = tempfile::tempdir().unwrap();
    let catalogs = dir.path().join("catalogs.toml");
    std::fs::write(
        &catalogs,
        format!(
            "default_catalog = \"pg\"\n[catalogs.pg]\nkind = \"postgres\"\nurl = {:?}\n\n\
             [catalogs.my]\nkind = \"mysql\"\nurl = {:?}\n",
            postgres_url().unwrap(),
            mysql_url().unwrap()
        ),
    )
    .unwrap();
    let lines = |sql: &str| federated(&catalogs, sql);
    assert_eq!(lines("SHOW CATALOGS"), vec!["my", "pg"]);
    assert!(lines("SHOW SCHEMAS FROM pg").contains(&"public".to_string()));
    assert!(lines("SHOW SCHEMAS FROM my").contains(&"test".to_string()));
    // Trino's SHOW TABLES: one column, the tables of a schema.
    let tables = lines("SHOW TABLES FROM pg.public LIKE 'pl_fed_list%'");
    assert_eq!(tables, vec!["pl_fed_listing"]);
    let columns = lines("DESCRIBE pg.public.pl_fed_listing");
    assert!(columns[0].starts_with("id,Int32"), "{columns:?}");
    assert!(columns[1].starts_with("label,Utf8"), "{columns:?}");
}

#[test]
fn a_database_that_is_down_or_refuses_the_login_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let catalogs = dir.path().join("catalogs.toml");
    // Write a one-catalog file and run a query over it: the exit code and stderr.
    let fails = |kind: &str, url: &str| {
        std::fs::write(
            &catalogs,
            format!("[catalogs.db]\nkind = \"{kind}\"\nurl = {url:?}\n"),
        )
        .unwrap();
        let out = output(
            pipelab(None)
                .args(["query", "--catalogs"])
                .arg(&catalogs)
                .arg("SELECT 1"),
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (out.status.code(), stderr)
    };
    // Nothing listens on port 1.
    let (code, stderr) = fails("postgres", "postgres://postgres@127.0.0.1:1/test");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("catalog \"db\"") && stderr.contains("127.0.0.1:1"),
        "{stderr}"
    );

    if !databases_here() {
        return;
    }
    let url = url::Url::parse(&mysql_url().unwrap()).unwrap();
    let wrong = format!(
        "mysql://no_such_user:wrong@{}:{}/test",
        url.host_str().unwrap(),
        url.port().unwrap_or(3306)
    );
    let (code, stderr) = fails("mysql", &wrong);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("catalog \"db\"") && !stderr.contains("wrong@"),
        "{stderr}"
    );
    let pg = postgres_url().unwrap();
    let (code, stderr) = fails("postgres", &pg.replacen("/test", "/no_such_database", 1));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no_such_database"), "{stderr}");
}
