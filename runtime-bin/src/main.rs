//! `gorae`: the runc-compatible command line.
fn main() {}
