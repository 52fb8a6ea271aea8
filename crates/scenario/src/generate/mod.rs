//! Reproducible data of every kind the scenarios load, at any size: `pipelab gen KIND`
//! and a scenario run with `--size`/`--seed`. The same kind, rows and seed give the same
//! data, and companion kinds describe one world: `orders` sells the `products` of the same
//! `--rows` and `--seed`, `employee-history` is the history of those `employees`,
//! `monitored-hosts` is the inventory of the hosts `support-requests` name.
//!
//! Each kind has the columns of its scenario's hand-made file in `data/`, so a generated
//! file can stand in for it.

mod documents;
mod people;
mod sales;
mod support;
mod write;

use serde_json::Value;

pub use write::{Format, write};

/// What can be generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Website events (page views, cart adds, sign-ups, purchases), as JSON objects.
    Clickstream,
    /// `logtime, user_id`: logins over February 2024, some users on consecutive days.
    Logins,
    /// `employee_id, name, birth_date`.
    Employees,
    /// The employees' SCD type 2 history: `history_id, employee_id, department, salary,
    /// start_date, end_date, current`.
    EmployeeHistory,
    /// `area, product_id, name, product_group`: products offered in one of three areas.
    Products,
    /// `product_id, sell_in_area, sold_unit`: sales of those products.
    Orders,
    /// `request_id, customer, opened, bundle`: support requests whose log bundle names
    /// hosts and VMs.
    SupportRequests,
    /// `customer, host, edition`: the hosts the monitoring product watches.
    MonitoredHosts,
    /// Product documents whose fields appear and change type over time (JSON lines only).
    Documents,
}

impl Kind {
    /// Every kind, in the order `pipelab gen --help` lists them.
    pub const ALL: [Kind; 9] = [
        Kind::Clickstream,
        Kind::Logins,
        Kind::Employees,
        Kind::EmployeeHistory,
        Kind::Products,
        Kind::Orders,
        Kind::SupportRequests,
        Kind::MonitoredHosts,
        Kind::Documents,
    ];

    /// Its name on the command line and in `scenario.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Clickstream => "clickstream",
            Kind::Logins => "logins",
            Kind::Employees => "employees",
            Kind::EmployeeHistory => "employee-history",
            Kind::Products => "products",
            Kind::Orders => "orders",
            Kind::SupportRequests => "support-requests",
            Kind::MonitoredHosts => "monitored-hosts",
            Kind::Documents => "documents",
        }
    }

    /// The kind of a name, or the names there are.
    pub fn parse(name: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                format!("no data kind {name:?}; the kinds are {}", names.join(", "))
            })
    }
}

/// Generated data: rows under fixed columns, or lines of their own (documents, whose
/// fields vary and some of which are cut short on purpose).
#[derive(Debug, Clone, PartialEq)]
pub enum Generated {
    /// A table.
    Rows {
        /// The column names, in order.
        columns: Vec<&'static str>,
        /// Each row's values, in the columns' order.
        rows: Vec<Vec<Value>>,
    },
    /// JSON lines as they are (not all of them valid JSON).
    Lines(Vec<String>),
}

/// `rows` rows (for the world's companion kinds, see the module's documentation) of `kind`
/// from `seed`.
pub fn generate(kind: Kind, rows: u64, seed: u64) -> Generated {
    match kind {
        Kind::Clickstream => clickstream(rows, seed),
        Kind::Logins => people::logins(rows, seed),
        Kind::Employees => people::employees(rows, seed),
        Kind::EmployeeHistory => people::employee_history(rows, seed),
        Kind::Products => sales::products(rows, seed),
        Kind::Orders => sales::orders(rows, seed),
        Kind::SupportRequests => support::requests(rows, seed),
        Kind::MonitoredHosts => support::monitored(rows, seed),
        Kind::Documents => documents::documents(rows, seed),
    }
}

/// Write `rows` of `kind` from `seed` to `out` as `format`, the clickstream as it is
/// generated (a million events take no memory to speak of), the others at once.
pub fn write_kind(
    kind: Kind,
    rows: u64,
    seed: u64,
    format: Format,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    if kind != Kind::Clickstream {
        return write(&generate(kind, rows, seed), format, out);
    }
    if format == Format::Csv {
        return write(&Generated::Lines(Vec::new()), format, out);
    }
    for event in clickstream_events(rows, seed) {
        serde_json::to_writer(&mut *out, &event)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The clickstream of `pipelab demo`, over the week before 2026-11-08 (fixed, so the same
/// seed gives the same file on any day).
fn clickstream_events(rows: u64, seed: u64) -> pipelab_ingest::generate::Clickstream {
    let until = chrono::NaiveDate::from_ymd_opt(2026, 11, 8).unwrap_or_default();
    let mut config = pipelab_ingest::generate::ClickstreamConfig::new(rows, until);
    config.seed = seed;
    pipelab_ingest::generate::Clickstream::new(config)
}

fn clickstream(rows: u64, seed: u64) -> Generated {
    Generated::Lines(
        clickstream_events(rows, seed)
            .map(|e| serde_json::to_string(&e).unwrap_or_default())
            .collect(),
    )
}

/// A random-number generator for one kind of one world: companion kinds that share a
/// `stream` draw the same values.
fn rng(seed: u64, stream: &str) -> rand::rngs::StdRng {
    use rand::SeedableRng;
    let salt = stream.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    rand::rngs::StdRng::seed_from_u64(seed ^ salt)
}

/// A date `days` after `start`, as ISO text.
fn day_after(start: chrono::NaiveDate, days: i64) -> String {
    (start + chrono::Duration::days(days)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_data_and_another_seed_other_data() {
        for kind in Kind::ALL {
            let a = generate(kind, 50, 7);
            assert_eq!(a, generate(kind, 50, 7), "{}", kind.name());
            assert_ne!(a, generate(kind, 50, 8), "{}", kind.name());
        }
    }

    #[test]
    fn every_order_sells_a_product_of_the_same_world() {
        let Generated::Rows { rows: products, .. } = generate(Kind::Products, 200, 3) else {
            panic!("products are rows");
        };
        let Generated::Rows { rows: orders, .. } = generate(Kind::Orders, 200, 3) else {
            panic!("orders are rows");
        };
        assert_eq!(orders.len(), 200);
        let ids: Vec<&Value> = products.iter().map(|p| &p[1]).collect();
        assert!(orders.iter().all(|o| ids.contains(&&o[0])));
    }
}
