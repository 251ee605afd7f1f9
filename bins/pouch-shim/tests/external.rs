//! The same conformance cases with external OCI runtimes (runc, crun), when installed and
//! usable on this host; otherwise each test prints why it was skipped.

mod common;

macro_rules! runtime_cases {
    ($module:ident, $binary:literal) => {
        mod $module {
            use super::*;

            fn runtime() -> Option<pouch_runtime::shim::RuntimeChoice> {
                if let Some(reason) = common::skip_reason() {
                    eprintln!("skipped: {reason}");
                    return None;
                }
                common::external($binary)
                    .map_err(|reason| eprintln!("skipped: {reason}"))
                    .ok()
            }

            crate::conformance_suite!();
        }
    };
}

runtime_cases!(runc, "runc");
runtime_cases!(crun, "crun");
