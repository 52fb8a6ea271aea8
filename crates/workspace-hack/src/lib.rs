//! Intentionally empty: this crate exists only for its dependency list (see Cargo.toml).
