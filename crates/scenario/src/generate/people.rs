//! People: logins, employees and their SCD type 2 history.

use chrono::NaiveDate;
use rand::Rng;
use serde_json::{Value, json};

use super::{Generated, day_after, rng};

const NAMES: [&str; 16] = [
    "Kevin", "Amara", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jun",
    "Kira", "Luis", "Mei", "Noor", "Omar",
];
const DEPARTMENTS: [&str; 5] = ["Business", "Engineering", "Finance", "Sales", "Support"];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// Logins over February 2024 by about one user per six logins, a few users often: some
/// log in on consecutive days, most do not.
pub(super) fn logins(rows: u64, seed: u64) -> Generated {
    let mut rng = rng(seed, "logins");
    let users = (rows / 6).max(3);
    let mut out: Vec<(String, String)> = (0..rows)
        .map(|_| {
            // Skewed towards the first users, as real activity is.
            let user = (users as f64 * rng.random::<f64>().powi(2)) as u64 + 1;
            let day = day_after(date(2024, 2, 1), rng.random_range(0..29));
            let secs = rng.random_range(0..86_400);
            let time = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
            (format!("{day} {time}"), format!("user_{user:03}"))
        })
        .collect();
    out.sort();
    Generated::Rows {
        columns: vec!["logtime", "user_id"],
        rows: out
            .into_iter()
            .map(|(t, u)| vec![Value::from(t), Value::from(u)])
            .collect(),
    }
}

/// `rows` employees: an id from 1, a first name, a birth date between 1960 and 2003.
pub(super) fn employees(rows: u64, seed: u64) -> Generated {
    let mut rng = rng(seed, "employees");
    Generated::Rows {
        columns: vec!["employee_id", "name", "birth_date"],
        rows: (1..=rows)
            .map(|id| {
                let name = NAMES[rng.random_range(0..NAMES.len())];
                let born = day_after(date(1960, 1, 1), rng.random_range(0..16_000));
                vec![json!(id), json!(name), json!(born)]
            })
            .collect(),
    }
}

/// The history of the `rows` employees: from a hire date in 2019–2025, one to three
/// periods (department, salary), each ending where the next starts (`end_date`
/// exclusive); a quarter leave after their last period, the others are `current`.
pub(super) fn employee_history(rows: u64, seed: u64) -> Generated {
    let mut rng = rng(seed, "employee-history");
    let today = date(2026, 11, 30);
    let mut out = Vec::new();
    for employee in 1..=rows {
        let mut start = date(2019, 1, 1) + chrono::Duration::days(rng.random_range(0..2_400));
        let periods = rng.random_range(1..=3);
        let leaves = rng.random_bool(0.25);
        for period in 1..=periods {
            let length = chrono::Duration::days(rng.random_range(90..900));
            let last = period == periods;
            let end = (!last || leaves)
                .then(|| start + length)
                .filter(|end| *end <= today);
            let department = DEPARTMENTS[rng.random_range(0..DEPARTMENTS.len())];
            let salary = rng.random_range(60..200) * 1_000;
            out.push(vec![
                json!(out.len() + 1),
                json!(employee),
                json!(department),
                json!(salary),
                json!(start.to_string()),
                end.map_or(Value::Null, |e| json!(e.to_string())),
                json!(end.is_none()),
            ]);
            match end {
                Some(end) if !last => start = end,
                _ => break,
            }
        }
    }
    Generated::Rows {
        columns: vec![
            "history_id",
            "employee_id",
            "department",
            "salary",
            "start_date",
            "end_date",
            "current",
        ],
        rows: out,
    }
}
