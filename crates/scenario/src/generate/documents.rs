//! Product documents as a document store's change feed emits them: the first third
//! have five fields; then `rating` and `tags` appear, prices get cents and `stock` is
//! sometimes text; in the last third `dimensions` (an object) and `warehouse` appear and
//! a title may be missing. One in fifty, and the last, is cut short (not JSON).

use rand::Rng;
use serde_json::{Map, Value, json};

use super::{Generated, rng};

const TITLES: [&str; 10] = [
    "Desk lamp",
    "Office chair",
    "Monitor arm",
    "Notebook",
    "Pen set",
    "Standing desk",
    "Desk mat",
    "Webcam",
    "Headset",
    "Bookshelf",
];
const TAGS: [&str; 4] = ["desk", "office", "light", "storage"];

pub(super) fn documents(rows: u64, seed: u64) -> Generated {
    let mut rng = rng(seed, "documents");
    let lines = (1..=rows)
        .map(|id| {
            let era = (id - 1) * 3 / rows.max(1);
            let mut doc = Map::new();
            doc.insert("doc_id".into(), json!(id));
            if era < 2 || rng.random_bool(0.9) {
                doc.insert(
                    "title".into(),
                    json!(TITLES[rng.random_range(0..TITLES.len())]),
                );
            }
            let price: Value = if era == 0 || rng.random_bool(0.5) {
                json!(rng.random_range(2..400))
            } else {
                json!(f64::from(rng.random_range(200..40_000)) / 100.0)
            };
            doc.insert("price".into(), price);
            let stock = if era > 0 && rng.random_bool(0.1) {
                json!("out of stock")
            } else {
                json!(rng.random_range(0..300))
            };
            doc.insert("stock".into(), stock);
            doc.insert("updated".into(), json!(format!("2026-11-{:02}", era + 1)));
            if era > 0 && rng.random_bool(0.5) {
                doc.insert(
                    "rating".into(),
                    json!(f64::from(rng.random_range(10..50)) / 10.0),
                );
            }
            if era > 0 && rng.random_bool(0.3) {
                doc.insert(
                    "tags".into(),
                    json!([TAGS[rng.random_range(0..TAGS.len())]]),
                );
            }
            if era == 2 && rng.random_bool(0.3) {
                let (w, h) = (rng.random_range(10..200), rng.random_range(5..220));
                doc.insert("dimensions".into(), json!({"w_cm": w, "h_cm": h}));
            }
            if era == 2 && rng.random_bool(0.1) {
                doc.insert(
                    "warehouse".into(),
                    json!(format!("BER-{}", rng.random_range(1..4))),
                );
            }
            let line = Value::Object(doc).to_string();
            if id.is_multiple_of(50) || id == rows {
                line[..line.len() / 2].to_string()
            } else {
                line
            }
        })
        .collect();
    Generated::Lines(lines)
}
