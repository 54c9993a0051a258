//! Without CAP_SYS_ADMIN the kernel takes a filter only after no_new_privs:
//! `install` says so with a typed error, and works once the bit is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use caps::{CapSet, Capability};
use common::{assert_exit_ok, filter, in_child};
use gorae_seccomp::Error;

#[test]
fn install_without_cap_sys_admin_needs_no_new_privs() {
    let f = filter(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#);
    let status = in_child(|| {
        if caps::drop(None, CapSet::Effective, Capability::CAP_SYS_ADMIN).is_err() {
            return 2;
        }
        if !matches!(f.install(), Err(Error::NoNewPrivs)) {
            return 3;
        }
        if nix::sys::prctl::set_no_new_privs().is_err() {
            return 4;
        }
        if f.install().is_err() {
            return 5;
        }
        0
    });
    assert_exit_ok(status);
}
