//! What a shim is told at launch, and its command line. Both directions live here so that
//! pouchd and pouch-shim can never disagree about the flags.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// Which OCI runtime the shim drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// youki's libcontainer, linked into the shim.
    Builtin,
    /// An OCI runtime binary with runc's command line (runc, crun, runsc …).
    External {
        /// The name it is registered under (for messages).
        name: String,
        path: PathBuf,
        /// Global flags placed before the subcommand.
        args: Vec<String>,
    },
}

/// Everything a shim needs to create and supervise one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimLaunch {
    /// Path of the `pouch-shim` binary.
    pub shim_binary: PathBuf,
    /// Container id (64 hex digits).
    pub id: String,
    /// Bundle directory holding `config.json`; `root.path` is absolute and already mounted.
    pub bundle: PathBuf,
    /// `<exec-root>/containers/<id>`: shim.sock, shim.pid, exit.json and shim.log live here.
    pub state_dir: PathBuf,
    /// The docker json-file log.
    pub log_path: PathBuf,
    /// Rotate the log when it reaches this many bytes (docker's `max-size`).
    pub log_max_size: Option<u64>,
    /// How many log files to keep, the live one included (docker's `max-file`, at least 1).
    pub log_max_files: u32,
    pub runtime: RuntimeChoice,
    /// State root of the runtime (`--root`), e.g. `<exec-root>/runtime/<name>`.
    pub runtime_root: PathBuf,
    /// Keep a pipe to the container's stdin open (docker `-i`).
    pub stdin: bool,
    /// Give the container a pty (docker `-t`).
    pub tty: bool,
}

/// The subcommand (placed before the flags) that removes a dead shim's leftovers instead of
/// creating a container (what `cleanup()` on the pouchd side runs).
pub const CLEANUP: &str = "cleanup";

/// A command line the shim does not understand.
#[derive(Debug, thiserror::Error)]
#[error("invalid shim arguments: {0}")]
pub struct ArgsError(String);

impl ShimLaunch {
    /// The shim's arguments (without argv[0]).
    pub fn to_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |k: &str, v: &OsStr| {
            a.push(k.into());
            a.push(v.to_owned());
        };
        push("--id", self.id.as_ref());
        push("--bundle", self.bundle.as_os_str());
        push("--state-dir", self.state_dir.as_os_str());
        push("--log-path", self.log_path.as_os_str());
        if let Some(size) = self.log_max_size {
            push("--log-max-size", size.to_string().as_ref());
        }
        push("--log-max-files", self.log_max_files.to_string().as_ref());
        push("--runtime-root", self.runtime_root.as_os_str());
        if let RuntimeChoice::External { name, path, args } = &self.runtime {
            push("--runtime-name", name.as_ref());
            push("--runtime-path", path.as_os_str());
            for arg in args {
                push("--runtime-arg", arg.as_ref());
            }
        }
        if self.stdin {
            a.push("--stdin".into());
        }
        if self.tty {
            a.push("--tty".into());
        }
        a
    }

    /// Parses what [`ShimLaunch::to_args`] produced.
    pub fn from_args(
        shim_binary: PathBuf,
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<ShimLaunch, ArgsError> {
        let mut it = args.into_iter();
        let mut id = None;
        let (mut bundle, mut state_dir, mut log_path, mut runtime_root) = (None, None, None, None);
        let (mut log_max_size, mut log_max_files) = (None, 1u32);
        let (mut rt_name, mut rt_path, mut rt_args) = (None, None, Vec::new());
        let (mut stdin, mut tty) = (false, false);
        while let Some(flag) = it.next() {
            let flag = flag
                .into_string()
                .map_err(|f| ArgsError(format!("unknown argument {f:?}")))?;
            match flag.as_str() {
                "--stdin" => stdin = true,
                "--tty" => tty = true,
                _ => {
                    let value = it
                        .next()
                        .ok_or_else(|| ArgsError(format!("{flag} needs a value")))?;
                    let text = || {
                        value
                            .to_str()
                            .map(str::to_owned)
                            .ok_or_else(|| ArgsError(format!("{flag} must be UTF-8")))
                    };
                    let number = |s: String| {
                        s.parse::<u64>()
                            .map_err(|_| ArgsError(format!("{flag}: not a number: {s}")))
                    };
                    match flag.as_str() {
                        "--id" => id = Some(text()?),
                        "--bundle" => bundle = Some(PathBuf::from(&value)),
                        "--state-dir" => state_dir = Some(PathBuf::from(&value)),
                        "--log-path" => log_path = Some(PathBuf::from(&value)),
                        "--log-max-size" => log_max_size = Some(number(text()?)?),
                        "--log-max-files" => {
                            log_max_files = u32::try_from(number(text()?)?)
                                .map_err(|_| ArgsError("--log-max-files too large".into()))?
                                .max(1)
                        }
                        "--runtime-root" => runtime_root = Some(PathBuf::from(&value)),
                        "--runtime-name" => rt_name = Some(text()?),
                        "--runtime-path" => rt_path = Some(PathBuf::from(&value)),
                        "--runtime-arg" => rt_args.push(text()?),
                        _ => return Err(ArgsError(format!("unknown argument {flag}"))),
                    }
                }
            }
        }
        let need = |v: Option<PathBuf>, name: &str| {
            v.ok_or_else(|| ArgsError(format!("--{name} is required")))
        };
        let runtime = match rt_path {
            Some(path) => RuntimeChoice::External {
                name: rt_name.unwrap_or_else(|| path.display().to_string()),
                path,
                args: rt_args,
            },
            None => RuntimeChoice::Builtin,
        };
        Ok(ShimLaunch {
            shim_binary,
            id: id.ok_or_else(|| ArgsError("--id is required".into()))?,
            bundle: need(bundle, "bundle")?,
            state_dir: need(state_dir, "state-dir")?,
            log_path: need(log_path, "log-path")?,
            log_max_size,
            log_max_files,
            runtime,
            runtime_root: need(runtime_root, "runtime-root")?,
            stdin,
            tty,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(runtime: RuntimeChoice) -> ShimLaunch {
        ShimLaunch {
            shim_binary: "/usr/bin/pouch-shim".into(),
            id: "a".repeat(64),
            bundle: "/run/pouch/containers/x/bundle".into(),
            state_dir: "/run/pouch/containers/x".into(),
            log_path: "/var/lib/pouch/containers/x/x-json.log".into(),
            log_max_size: Some(10 << 20),
            log_max_files: 3,
            runtime,
            runtime_root: "/run/pouch/runtime/builtin".into(),
            stdin: true,
            tty: false,
        }
    }

    #[test]
    fn round_trips_through_the_command_line() {
        for rt in [
            RuntimeChoice::Builtin,
            RuntimeChoice::External {
                name: "crun".into(),
                path: "/usr/bin/crun".into(),
                args: vec!["--systemd-cgroup=false".into(), "--debug".into()],
            },
        ] {
            let l = sample(rt);
            let back = ShimLaunch::from_args(l.shim_binary.clone(), l.to_args()).unwrap();
            assert_eq!(back, l);
        }
    }

    #[test]
    fn rejects_unknown_and_incomplete_arguments() {
        let l = sample(RuntimeChoice::Builtin);
        let mut args = l.to_args();
        args.push("--bogus".into());
        args.push("1".into());
        assert!(ShimLaunch::from_args("x".into(), args).is_err());
        assert!(ShimLaunch::from_args("x".into(), vec!["--id".into()]).is_err());
        assert!(ShimLaunch::from_args("x".into(), vec!["--id".into(), "a".into()]).is_err());
    }
}
