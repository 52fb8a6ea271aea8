//! Support requests with log bundles, and the monitoring product's inventory: the hosts
//! and VMs of each customer, most of them monitored.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;

use super::{Generated, day_after, rng};

const CUSTOMERS: [(&str, &str); 8] = [
    ("acme", "acme.local"),
    ("globex", "globex.io"),
    ("initech", "initech.com"),
    ("umbrella", "umbrella.net"),
    ("hooli", "hooli.xyz"),
    ("stark", "stark.dev"),
    ("wayne", "wayne.corp"),
    ("tyrell", "tyrell.ai"),
];
const ROLES: [&str; 5] = ["web", "db", "cache", "app", "batch"];
const EVENTS: [(&str, &str); 5] = [
    ("ERROR", "disk 97% full"),
    ("WARN", "upstream timeout"),
    ("INFO", "service restarted"),
    ("ERROR", "job killed (OOM)"),
    ("WARN", "backup agent timed out"),
];

/// One customer's machines: (name as the monitoring product lists it, monitored).
struct Customer {
    name: String,
    edition: &'static str,
    machines: Vec<(String, bool)>,
}

/// The customers of a world of `requests` support requests: one per five requests (at
/// least two), each with hosts and VMs, about three in four of them monitored.
fn fleet(requests: u64, seed: u64) -> Vec<Customer> {
    let mut rng = rng(seed, "fleet");
    let count = (requests / 5).max(2) as usize;
    (0..count)
        .map(|i| {
            let (base, domain) = CUSTOMERS[i % CUSTOMERS.len()];
            let round = i / CUSTOMERS.len();
            let name = match round {
                0 => base.to_string(),
                n => format!("{base}{}", n + 1),
            };
            let mut machines: Vec<(String, bool)> = (0..rng.random_range(3..8))
                .map(|_| {
                    let role = ROLES[rng.random_range(0..ROLES.len())];
                    let host = format!("{role}-{:02}.{name}.{domain}", rng.random_range(1..20));
                    (host, rng.random_bool(0.75))
                })
                .collect();
            machines.push((
                format!("vm-{name}-{}", rng.random_range(1..40)),
                rng.random_bool(0.5),
            ));
            machines.sort();
            machines.dedup_by(|a, b| a.0 == b.0);
            Customer {
                name,
                edition: if rng.random_bool(0.5) {
                    "standard"
                } else {
                    "enterprise"
                },
                machines,
            }
        })
        .collect()
}

/// `rows` support requests as JSON lines, keyed by customer; one in forty, and the last, is cut short
/// (not JSON), as a bundle truncated in transit is.
pub(super) fn requests(rows: u64, seed: u64) -> Generated {
    let customers = fleet(rows, seed);
    let mut rng = rng(seed, "support-requests");
    let lines = (0..rows)
        .map(|i| {
            let customer = &customers[rng.random_range(0..customers.len())];
            let opened = day_after(
                chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
                rng.random_range(0..14),
            );
            let bundle = bundle(&mut rng, customer, &opened);
            let line = json!({
                "request_id": format!("SR-{}", 1001 + i),
                "customer": customer.name,
                "opened": opened,
                "bundle": bundle,
            })
            .to_string();
            if i % 40 == 39 || i + 1 == rows {
                line[..line.len() / 2].to_string()
            } else {
                line
            }
        })
        .collect();
    Generated::Lines(lines)
}

/// One to four log lines, each naming one of the customer's machines (`host=` or `vm=`;
/// now and then in capitals, as people type them).
fn bundle(rng: &mut StdRng, customer: &Customer, day: &str) -> String {
    (0..rng.random_range(1..=4))
        .map(|_| {
            let (machine, _) = &customer.machines[rng.random_range(0..customer.machines.len())];
            let key = if machine.starts_with("vm-") {
                "vm"
            } else {
                "host"
            };
            let written = if rng.random_bool(0.1) {
                machine.to_uppercase()
            } else {
                machine.clone()
            };
            let (level, message) = EVENTS[rng.random_range(0..EVENTS.len())];
            let secs = rng.random_range(0..86_400);
            format!(
                "{day}T{:02}:{:02}:{:02}Z {key}={written} {level} {message}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The monitored machines of the same world: `customer, host, edition`.
pub(super) fn monitored(rows: u64, seed: u64) -> Generated {
    let rows = fleet(rows, seed)
        .iter()
        .flat_map(|c| {
            c.machines
                .iter()
                .filter(|(_, watched)| *watched)
                .map(|(host, _)| vec![json!(c.name), json!(host), json!(c.edition)])
        })
        .collect();
    Generated::Rows {
        columns: vec!["customer", "host", "edition"],
        rows,
    }
}
