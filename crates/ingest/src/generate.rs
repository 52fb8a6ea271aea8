//! A realistic clickstream: users with sessions that browse pages, add to cart,
//! sign up and buy, with event time spread over several days and a daily rhythm.
//! Deterministic for a given seed, so a test can recompute what it should find.

use std::collections::{HashSet, VecDeque};

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// One clickstream event, serialized as a record's JSON payload.
#[derive(Debug, Clone, Serialize)]
pub struct ClickEvent {
    /// Unique id: `e-`, the seed in hex, and the event's sequence number.
    pub event_id: String,
    /// The user, `u-` and six digits; a few users come back often, most rarely.
    pub user_id: String,
    /// The session, `s-` and eight digits; a session's events share it.
    pub session_id: String,
    /// `page_view`, `add_to_cart`, `sign_up` or `purchase`.
    pub event_type: &'static str,
    /// The page's path, e.g. `/`, `/products/17`, `/signup` or `/checkout`.
    pub page: String,
    /// Where the session came from (`google`, `newsletter`, …); `None` for a direct visit.
    pub referrer: Option<&'static str>,
    /// `desktop`, `mobile` or `tablet`, the same for the whole session.
    pub device: &'static str,
    /// Two-letter country code, the same for all of a user's events.
    pub country: &'static str,
    /// Event time, RFC 3339 in UTC with milliseconds.
    pub ts: String,
    /// The product's price for `add_to_cart`, the cart total for `purchase`; else `None`.
    pub price: Option<f64>,
}

impl ClickEvent {
    /// The event's calendar day (UTC), as the lake partitions it.
    pub fn day(&self) -> &str {
        &self.ts[..10]
    }
}

/// What to generate: how many events, from which seed, over which days and users.
#[derive(Debug, Clone)]
pub struct ClickstreamConfig {
    /// Events to emit in all.
    pub events: u64,
    /// Random seed: the same seed and settings give the same events.
    pub seed: u64,
    /// The first day of event time (UTC).
    pub start: NaiveDate,
    /// Days event time is spread over, from `start` on.
    pub days: u32,
    /// Users the sessions are drawn from.
    pub users: u32,
}

impl ClickstreamConfig {
    /// `events` events over the `days` days before `today`.
    pub fn new(events: u64, today: NaiveDate) -> Self {
        let days = 7;
        Self {
            events,
            seed: 42,
            start: today - Duration::days(i64::from(days)),
            days,
            users: 20_000,
        }
    }
}

const DEVICES: [&str; 3] = ["desktop", "mobile", "tablet"];
const COUNTRIES: [&str; 8] = ["US", "GB", "DE", "FR", "IN", "BR", "JP", "CA"];
const REFERRERS: [&str; 4] = ["google", "newsletter", "twitter", "partner"];
/// Relative traffic per hour of the day (UTC): quiet nights, busy evenings.
const HOURLY: [u32; 24] = [
    2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 9, 8, 8, 8, 9, 10, 11, 12, 11, 8, 5, 3,
];

/// Iterator over the events of a clickstream.
pub struct Clickstream {
    cfg: ClickstreamConfig,
    rng: StdRng,
    emitted: u64,
    sessions: u64,
    pending: VecDeque<ClickEvent>,
    signed_up: HashSet<u32>,
}

impl Clickstream {
    /// The events `cfg` describes, generated as they are taken.
    pub fn new(cfg: ClickstreamConfig) -> Self {
        Self {
            rng: StdRng::seed_from_u64(cfg.seed),
            cfg,
            emitted: 0,
            sessions: 0,
            pending: VecDeque::new(),
            signed_up: HashSet::new(),
        }
    }

    fn session_start(&mut self) -> NaiveDateTime {
        let day = self.rng.random_range(0..self.cfg.days.max(1));
        let total: u32 = HOURLY.iter().sum();
        let mut pick = self.rng.random_range(0..total);
        let mut hour = 0;
        for (h, w) in HOURLY.iter().enumerate() {
            if pick < *w {
                hour = h as u32;
                break;
            }
            pick -= w;
        }
        let secs = hour * 3600 + self.rng.random_range(0..3600);
        let time = NaiveTime::from_num_seconds_from_midnight_opt(
            secs,
            self.rng.random_range(0..1000) * 1_000_000,
        )
        .unwrap_or_default();
        (self.cfg.start + Duration::days(i64::from(day))).and_time(time)
    }

    fn next_session(&mut self) {
        self.sessions += 1;
        // Skewed: a few users come back often, most rarely.
        let user = (f64::from(self.cfg.users) * self.rng.random::<f64>().powi(2)) as u32;
        let session_id = format!("s-{:08}", self.sessions);
        let device = DEVICES[self.rng.random_range(0..DEVICES.len())];
        let country = COUNTRIES[(user as usize * 7 + 3) % COUNTRIES.len()];
        let referrer = if self.rng.random_bool(0.4) {
            Some(REFERRERS[self.rng.random_range(0..REFERRERS.len())])
        } else {
            None
        };
        let mut at = self.session_start();
        let views = 1 + self.rng.random_range(0..8) + self.rng.random_range(0..8);
        let mut cart = 0.0;
        let push = |this: &mut Self,
                    event_type: &'static str,
                    page: String,
                    price: Option<f64>,
                    at: NaiveDateTime| {
            this.pending.push_back(ClickEvent {
                event_id: String::new(),
                user_id: format!("u-{user:06}"),
                session_id: session_id.clone(),
                event_type,
                page,
                referrer,
                device,
                country,
                ts: at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                price,
            });
        };
        for i in 0..views {
            let page = self.page(i == 0);
            let product = page
                .strip_prefix("/products/")
                .and_then(|id| id.parse::<u32>().ok());
            push(self, "page_view", page.clone(), None, at);
            if let Some(id) = product
                && self.rng.random_bool(0.15)
            {
                at += Duration::seconds(self.rng.random_range(2..30));
                let price = f64::from(5 + id % 95) + 0.99;
                cart += price;
                push(self, "add_to_cart", page, Some(price), at);
            }
            at += Duration::seconds(self.rng.random_range(5..120));
        }
        if !self.signed_up.contains(&user) && self.rng.random_bool(0.06) {
            self.signed_up.insert(user);
            push(self, "sign_up", "/signup".to_string(), None, at);
            at += Duration::seconds(self.rng.random_range(5..60));
        }
        if cart > 0.0 && self.rng.random_bool(0.3) {
            push(
                self,
                "purchase",
                "/checkout".to_string(),
                Some((cart * 100.0).round() / 100.0),
                at,
            );
        }
    }

    fn page(&mut self, landing: bool) -> String {
        let r = self.rng.random_range(0..100);
        match r {
            0..=14 if landing => "/".to_string(),
            0..=9 => "/".to_string(),
            10..=19 => "/search".to_string(),
            20..=69 => {
                // Popular products first: a long tail over 200 products.
                let id = 1 + (200.0 * self.rng.random::<f64>().powi(3)) as u32;
                format!("/products/{id}")
            }
            70..=79 => "/pricing".to_string(),
            80..=89 => format!("/blog/{}", 1 + self.rng.random_range(0..30)),
            90..=94 => "/cart".to_string(),
            _ => "/about".to_string(),
        }
    }
}

impl Iterator for Clickstream {
    type Item = ClickEvent;

    fn next(&mut self) -> Option<ClickEvent> {
        if self.emitted >= self.cfg.events {
            return None;
        }
        while self.pending.is_empty() {
            self.next_session();
        }
        let mut event = self.pending.pop_front()?;
        self.emitted += 1;
        event.event_id = format!("e-{:x}-{:010}", self.cfg.seed, self.emitted);
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_unique_and_within_the_window() {
        let cfg = ClickstreamConfig::new(5_000, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
        let a: Vec<_> = Clickstream::new(cfg.clone()).collect();
        let b: Vec<_> = Clickstream::new(cfg).collect();
        assert_eq!(a.len(), 5_000);
        assert_eq!(
            a.iter().map(|e| &e.ts).collect::<Vec<_>>(),
            b.iter().map(|e| &e.ts).collect::<Vec<_>>()
        );
        let ids: HashSet<_> = a.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(ids.len(), 5_000);
        assert!(
            a.iter()
                .all(|e| e.day() >= "2026-11-16" && e.day() <= "2026-11-23")
        );
        for kind in ["page_view", "add_to_cart", "sign_up", "purchase"] {
            assert!(a.iter().any(|e| e.event_type == kind), "no {kind}");
        }
    }
}
