//! Fan-out: one spec writes the lake and database tables, each sink exactly once by its
//! own offsets (the lake's Delta `txn` actions, the database's `pipelab_offsets` in the
//! rows' transaction), checked on the machine's real PostgreSQL and MariaDB and on SQLite.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::*;

/// A fan-out spec over topic `clicks`: the lake gets every event (step `event_date`),
/// step `last_seen` a few of their columns, and each `[[sinks]]` entry in `sinks` is
/// appended as it is.
fn fan_out_spec(dir: &Path, name: &str, brokers: &str, lake: &str, sinks: &str) -> PathBuf {
    let sink = format!(
        "from = \"event_date\"\nflush_rows = 2000\nflush_interval_secs = 0.5\n\
         [[steps]]\nname = \"last_seen\"\n\
         sql = \"SELECT user_id, event_id, event_type, ts FROM event_date\"\n{sinks}"
    );
    write_spec_with(
        dir,
        name,
        (brokers, "clicks"),
        lake,
        "assignment = \"all\"",
        &sink,
    )
}

/// Drop a test's PostgreSQL table and its pipeline's offsets.
fn forget_in_postgres(table: &str, pipeline: &str) {
    psql(&format!(
        "DROP TABLE \"{table}\"; DELETE FROM pipelab_offsets WHERE pipeline = '{pipeline}';"
    ));
}

fn run_spec(stack: &pipelab_devstack::DevStack, spec: &Path) -> Command {
    let mut cmd = pipelab(Some(stack));
    cmd.args(["run", "--quiet", "--until-idle"]).arg(spec);
    cmd
}

/// The last event of each user, in the order they were produced (a user's events share
/// a key, so a partition, so their order).
fn last_per_user(events: &[pipelab_ingest::generate::ClickEvent]) -> BTreeMap<String, String> {
    events
        .iter()
        .map(|e| (e.user_id.clone(), e.event_id.clone()))
        .collect()
}

/// Every event once in PostgreSQL's insert-only table, every user once with their last
/// event in MariaDB's upserted table, every event once in the lake; each sink's offsets
/// sum to what was produced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_to_postgres_and_mariadb_survives_sigkill_at_random_moments() {
    if !databases_here() {
        return;
    }
    let kills = kills();
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 4).await.unwrap();
    let events = generated(120_000, 41);
    produce(&stack, "clicks", &events).await;
    let (lake, brokers) = (stack.lake_url(), stack.kafka_bootstrap());
    let name = unique("fanout");
    let (pg_table, my_table) = (format!("{name}_events"), format!("{name}_users"));
    let sinks = format!(
        "[[sinks]]\nkind = \"postgres\"\nurl = \"{}\"\ntable = \"{pg_table}\"\nfrom = \"event_date\"\n\
         [[sinks]]\nkind = \"mysql\"\nurl = \"{}\"\ntable = \"{my_table}\"\nfrom = \"last_seen\"\nkey = [\"user_id\"]\n",
        postgres_url().unwrap(),
        mysql_url().unwrap()
    );
    let spec = fan_out_spec(dir.path(), &name, &brokers, &lake, &sinks);

    kill_repeatedly(|| run_spec(&stack, &spec), kills, (0x0fa0, 300, 1200));
    let out = run_ok(&mut run_spec(&stack, &spec));
    assert!(out.contains("database sinks:"), "{out}");

    let n = events.len() as i64;
    assert_exactly_once(&stack, &lake, &events);
    let pg = psql(&format!(
        "SELECT count(*), count(DISTINCT event_id) FROM \"{pg_table}\";\n\
         SELECT sum(next_offset) FROM pipelab_offsets WHERE pipeline = '{name}' AND sink = '{pg_table}';"
    ));
    assert_eq!(
        pg.lines().collect::<Vec<_>>(),
        [format!("{n},{n}"), n.to_string()]
    );
    let users: BTreeMap<String, String> =
        mariadb(&format!("SELECT user_id, event_id FROM `{my_table}`"))
            .lines()
            .map(|l| {
                let (u, e) = l.split_once('\t').unwrap();
                (u.to_string(), e.to_string())
            })
            .collect();
    assert_eq!(users, last_per_user(&events));
    let my_offsets = mariadb(&format!(
        "SELECT sum(next_offset) FROM pipelab_offsets WHERE pipeline = '{name}' AND sink = '{my_table}'"
    ));
    assert_eq!(my_offsets.trim(), n.to_string());

    forget_in_postgres(&pg_table, &name);
    mariadb(&format!(
        "DROP TABLE `{my_table}`; DELETE FROM pipelab_offsets WHERE pipeline = '{name}';"
    ));
}

/// SQLite, the embedded default: sign-ups upserted by user beside the lake; a second
/// run finds both sinks where the first left them and adds nothing; a record without
/// the key is a dead letter naming the sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_sink_upserts_by_key_and_a_record_without_the_key_is_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 2).await.unwrap();
    let events = generated(3_000, 7);
    produce(&stack, "clicks", &events).await;
    let keyless = r#"{"event_id":"e-none","event_type":"sign_up","ts":"2026-11-23T10:00:00Z"}"#;
    produce_raw(
        &stack,
        "clicks",
        vec![("x".into(), keyless.as_bytes().to_vec())],
    )
    .await;
    let (lake, brokers) = (stack.lake_url(), stack.kafka_bootstrap());
    let db = dir.path().join("email.db");
    let sinks = format!(
        "[[sinks]]\nkind = \"sqlite\"\nlocation = \"{}\"\ntable = \"users\"\nfrom = \"last_seen\"\nkey = [\"user_id\"]\n",
        db.display()
    );
    let spec = fan_out_spec(dir.path(), "signups", &brokers, &lake, &sinks);
    let first = run_ok(&mut run_spec(&stack, &spec));
    assert!(first.contains("1 dead letters"), "{first}");
    let second = run_ok(&mut run_spec(&stack, &spec));
    assert!(second.contains("read 0 records"), "{second}");

    let read = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\n\
        for u, e in c.execute('SELECT user_id, event_id FROM users ORDER BY user_id'): print(u, e)\n\
        print(c.execute(\"SELECT sum(next_offset) FROM pipelab_offsets WHERE pipeline = 'signups'\").fetchone()[0])";
    let out = Command::new(python())
        .args(["-c", read])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<&str> = text.lines().collect();
    let offsets = lines.pop().unwrap();
    assert_eq!(offsets, (events.len() + 1).to_string());
    let expected: Vec<String> = last_per_user(&events)
        .iter()
        .map(|(u, e)| format!("{u} {e}"))
        .collect();
    assert_eq!(lines, expected);
    let dead = query_csv(
        Some(&stack),
        &lake,
        "SELECT stage, error FROM clicks_dead_letters",
    );
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0][0], "sink users");
    assert!(dead[0][1].contains("user_id"), "{dead:?}");
    // The keyless record is in neither table.
    assert_eq!(
        total_and_distinct(&stack, &lake, "clicks").0,
        events.len() as i64
    );
}

/// A table that is there with another shape: exit 2 naming the column and both types,
/// before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_table_of_another_shape_exits_2_naming_the_column_and_its_type() {
    if !databases_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 1).await.unwrap();
    produce(&stack, "clicks", &generated(50, 3)).await;
    let table = unique("shape");
    psql(&format!(
        "CREATE TABLE \"{table}\" (user_id integer, event_id text, event_type text, ts text)"
    ));
    let sinks = format!(
        "[[sinks]]\nkind = \"postgres\"\nurl = \"{}\"\ntable = \"{table}\"\nfrom = \"last_seen\"\n",
        postgres_url().unwrap()
    );
    let spec = fan_out_spec(
        dir.path(),
        &unique("shape"),
        &stack.kafka_bootstrap(),
        &stack.lake_url(),
        &sinks,
    );
    let out = output(&mut run_spec(&stack, &spec));
    assert_user_error(out, &[&table, "user_id is integer", "Utf8"]);
    assert_eq!(
        psql(&format!("SELECT count(*) FROM \"{table}\"")).trim(),
        "0"
    );
    psql(&format!("DROP TABLE \"{table}\""));
}

/// A TCP relay to PostgreSQL that can be cut: the database "goes away" mid-run.
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
}

impl Relay {
    fn to(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let (flag, target) = (cut.clone(), target.to_string());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    return;
                };
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0
                                || flag.load(Ordering::SeqCst)
                                || to.write_all(&buf[..n]).is_err()
                            {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Self { port, cut }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

/// PostgreSQL going away mid-run: exit 1 naming the sink; the next run (the database
/// back) stores the rest, nothing lost or repeated on either side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_going_away_mid_run_exits_1_naming_the_sink_and_loses_nothing() {
    if !databases_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 2).await.unwrap();
    let events = generated(60_000, 5);
    produce(&stack, "clicks", &events).await;
    let url = postgres_url().unwrap();
    let host = url
        .rsplit_once('@')
        .unwrap()
        .1
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let relay = Relay::to(&host);
    let name = unique("away");
    let table = format!("{name}_events");
    let sink = |url: &str| {
        format!(
            "[[sinks]]\nkind = \"postgres\"\nurl = \"{url}\"\ntable = \"{table}\"\nfrom = \"event_date\"\n"
        )
    };
    let (lake, brokers) = (stack.lake_url(), stack.kafka_bootstrap());
    let relayed = url.replace(&host, &format!("127.0.0.1:{}", relay.port));
    let spec = fan_out_spec(dir.path(), &name, &brokers, &lake, &sink(&relayed));
    let child = run_spec(&stack, &spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Cut once some batches are in.
    for _ in 0..300 {
        std::thread::sleep(Duration::from_millis(100));
        let made = psql(&format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = '{table}'"
        ));
        if made.trim() == "1" && psql(&format!("SELECT count(*) FROM \"{table}\"")).trim() != "0" {
            break;
        }
    }
    relay.cut();
    let out = child.wait_with_output().unwrap();
    assert_environment_error(out, &[&format!("database sink '{table}'")]);

    let spec = fan_out_spec(dir.path(), &name, &brokers, &lake, &sink(&url));
    run_ok(&mut run_spec(&stack, &spec));
    let n = events.len() as i64;
    assert_exactly_once(&stack, &lake, &events);
    let pg = psql(&format!(
        "SELECT count(*), count(DISTINCT event_id) FROM \"{table}\""
    ));
    assert_eq!(pg.trim(), format!("{n},{n}"));
    forget_in_postgres(&table, &name);
}

/// A second hop: the sign-ups of a clickstream, as JSON records keyed by user, to a
/// topic another pipeline reads (here as lines with their keys): every sign-up once
/// (no crash in between, so at-least-once delivers exactly once), keyed by its user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_sink_sends_a_steps_rows_keyed_to_a_topic_for_the_next_hop() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 2).await.unwrap();
    stack.create_topic("signups", 2).await.unwrap();
    let events = generated(5_000, 13);
    produce(&stack, "clicks", &events).await;
    let (lake, brokers) = (stack.lake_url(), stack.kafka_bootstrap());
    let sinks = "[[steps]]\nname = \"signups\"\nsql = \"SELECT user_id, ts FROM event_date WHERE event_type = 'sign_up'\"\n\
         [[sinks]]\nkind = \"kafka\"\ntopic = \"signups\"\nfrom = \"signups\"\nkey = \"user_id\"\n";
    // The spec names a broker that is not there: `--brokers` stands for it in the source
    // and in the Kafka sink, which names none of its own.
    let spec = fan_out_spec(dir.path(), "hop1", "127.0.0.1:1", &lake, sinks);
    let out = run_ok(run_spec(&stack, &spec).args(["--brokers", &brokers]));
    let signups = events.iter().filter(|e| e.event_type == "sign_up").count();
    assert!(signups > 0 && signups < 1000, "{signups} sign-ups");
    assert!(
        out.contains(&format!("{signups} records produced")),
        "{out}"
    );

    let next = dir.path().join("hop2.toml");
    std::fs::write(
        &next,
        format!(
            "name = \"hop2\"\n[source]\nbrokers = \"{brokers}\"\ntopic = \"signups\"\nformat = \"lines\"\n\
             [sink]\nlocation = \"{lake}\"\ntable = \"signup_lines\"\nflush_interval_secs = 0.5\n"
        ),
    )
    .unwrap();
    run_ok(&mut run_spec(&stack, &next));
    let rows = query_csv(
        Some(&stack),
        &lake,
        "SELECT count(*), count(*) FILTER (WHERE strpos(line, '\"user_id\":\"' || key || '\"') > 0) FROM signup_lines",
    );
    assert_eq!(rows, vec![vec![signups.to_string(), signups.to_string()]]);
}
