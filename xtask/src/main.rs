//! $name
fn main() {}
