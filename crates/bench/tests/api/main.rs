//! sesame-bench's tests: the report rendered from a fixture, cell by cell, and the pieces the
//! benchmark is built from. (The whole benchmark runs with `cargo xtask bench`.)

mod client;
mod render;
mod stats;
