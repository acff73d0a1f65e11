//! driftless CLI.
fn main() {}
