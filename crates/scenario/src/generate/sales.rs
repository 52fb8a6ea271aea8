//! Sales: products offered in one of three areas (1 is the US), grouped, and orders of
//! them. Some groups offered in the US sell nothing there, for the kata that asks which.

use rand::Rng;
use serde_json::json;

use super::{Generated, rng};

/// One product of the world: its id, area and group number.
struct Product {
    id: u64,
    area: u64,
    group: u64,
}

/// The products of a world of `orders` orders: one per ten orders (at least four), in
/// groups of about four, every group offered in the US.
fn catalogue(orders: u64, seed: u64) -> (Vec<Product>, u64) {
    let mut rng = rng(seed, "products");
    let count = (orders / 10).max(4);
    let groups = (count / 4).max(3);
    // Each group has a product in the US first, so that every group covers it; the
    // rest are anywhere, in any group.
    let products = (0..count)
        .map(|i| Product {
            id: 101 + i,
            area: if i < groups {
                1
            } else {
                rng.random_range(1..=3)
            },
            group: if i < groups {
                i + 1
            } else {
                rng.random_range(1..=groups)
            },
        })
        .collect();
    (products, groups)
}

/// Groups that sell nothing in the US though they are offered there: every third one.
fn quiet_in_us(group: u64, seed: u64) -> bool {
    group.wrapping_add(seed).is_multiple_of(3)
}

pub(super) fn products(rows: u64, seed: u64) -> Generated {
    let (products, _) = catalogue(rows, seed);
    Generated::Rows {
        columns: vec!["area", "product_id", "name", "product_group"],
        rows: products
            .iter()
            .map(|p| {
                vec![
                    json!(p.area),
                    json!(p.id),
                    json!(format!("P{}", p.id)),
                    json!(format!("Group {}", p.group)),
                ]
            })
            .collect(),
    }
}

/// `rows` sales: a product, the area it sold in (mostly its own), the units.
pub(super) fn orders(rows: u64, seed: u64) -> Generated {
    let (products, _) = catalogue(rows, seed);
    let mut rng = rng(seed, "orders");
    Generated::Rows {
        columns: vec!["product_id", "sell_in_area", "sold_unit"],
        rows: (0..rows)
            .map(|_| {
                let p = &products[rng.random_range(0..products.len())];
                let mut area = if rng.random_bool(0.8) {
                    p.area
                } else {
                    rng.random_range(1..=3)
                };
                if area == 1 && quiet_in_us(p.group, seed) {
                    area = 2;
                }
                vec![json!(p.id), json!(area), json!(rng.random_range(1..=20))]
            })
            .collect(),
    }
}
