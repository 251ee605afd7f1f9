//! The same conformance cases with external OCI runtimes (runc, crun), when installed and
//! usable on this host; otherwise each test prints why it was skipped.

mod common;

use common::cases::{self, bounded};

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

            #[tokio::test]
            async fn logs_and_exit_code() {
                if let Some(rt) = runtime() {
                    bounded(cases::logs_and_exit_code(rt)).await;
                }
            }

            #[tokio::test]
            async fn kill_signals() {
                if let Some(rt) = runtime() {
                    bounded(cases::kill_signals(rt)).await;
                }
            }

            #[tokio::test]
            async fn attach_stdin() {
                if let Some(rt) = runtime() {
                    bounded(cases::attach_stdin(rt)).await;
                }
            }

            #[tokio::test]
            async fn tty() {
                if let Some(rt) = runtime() {
                    bounded(cases::tty(rt)).await;
                }
            }

            #[tokio::test]
            async fn pause_resume() {
                if let Some(rt) = runtime() {
                    bounded(cases::pause_resume(rt)).await;
                }
            }

            #[tokio::test]
            async fn permission_denied() {
                if let Some(rt) = runtime() {
                    bounded(cases::permission_denied(rt)).await;
                }
            }

            #[tokio::test]
            async fn missing_rootfs() {
                if let Some(rt) = runtime() {
                    bounded(cases::missing_rootfs(rt)).await;
                }
            }

            #[tokio::test]
            async fn exec_basics() {
                if let Some(rt) = runtime() {
                    bounded(cases::exec_basics(rt)).await;
                }
            }

            #[tokio::test]
            async fn exec_tty() {
                if let Some(rt) = runtime() {
                    bounded(cases::exec_tty(rt)).await;
                }
            }

            #[tokio::test]
            async fn missing_executable() {
                if let Some(rt) = runtime() {
                    bounded(cases::missing_executable(rt)).await;
                }
            }
        }
    };
}

runtime_cases!(runc, "runc");
runtime_cases!(crun, "crun");
