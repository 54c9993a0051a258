#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{Error, compile, parse_profile};

#[test]
fn minimal_profile_compiles() {
    let profile = parse_profile(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).unwrap();
    let filter = compile(&profile).unwrap();
    assert!(filter.instruction_count() > 0);
    assert!(!filter.needs_listener());
    let _: Option<Error> = None;
}
