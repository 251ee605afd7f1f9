//! `pouch run` / `pouch container run`: docker's flow step by step.
//!
//! create → attach (hijacked, before start, so no output is lost) → register the wait for the
//! next exit (before start, so a fast exit cannot be missed) → start → keep the TTY size in
//! step → copy the streams → exit with the container's status. With `-d`: create, start, print
//! the id.

use anyhow::{Result, bail};
use clap::Args;
use pouch_client::{Client, Query, encode_path};

use super::config::Spec;
use super::create::{create_container, parse_spec};
use super::opts::ContainerOptions;
use super::stream::{self, Outcome, Streams};
use super::{tty, waiting};
use crate::commands::Ctx;
use crate::exit::{container_exit, describe, start_error_code, usage_failure};
use crate::output;

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "BOOL")]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub opts: ContainerOptions,
}

/// A failure of create or start, reported like docker's `run` and exiting 125/126/127.
fn run_failure(err: anyhow::Error) -> anyhow::Error {
    let code = start_error_code(&describe(&err));
    usage_failure("run", &err, code)
}

/// The attach request: every attached stream, and the detach keys for the daemon.
pub fn attach_path(
    id: &str,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    keys: Option<&str>,
) -> String {
    let mut q = Query::new();
    q.push("stream", "1")
        .flag("stdin", stdin)
        .flag("stdout", stdout)
        .flag("stderr", stderr);
    if let Some(k) = keys.filter(|k| !k.is_empty()) {
        q.push("detachKeys", k);
    }
    format!(
        "/containers/{}/attach{}",
        encode_path(id),
        q.to_query_string()
    )
}

pub async fn run(ctx: &mut Ctx, args: RunArgs) -> Result<()> {
    let mut spec = parse_spec("run", &args.opts)?;
    if args.detach {
        if spec.attach_flag_given {
            bail!("conflicting options: cannot specify both --attach and --detach");
        }
        spec.detach();
    } else {
        tty::check_tty(spec.attach_stdin, spec.tty)?;
    }
    let client = ctx.client().await?.clone();
    let id = create_container(&client, &spec, &args.opts.pull, args.opts.quiet)
        .await
        .map_err(run_failure)?;
    run_created(&client, &spec, &id, &args).await
}

async fn run_created(client: &Client, spec: &Spec, id: &str, args: &RunArgs) -> Result<()> {
    let proxy = (args.sig_proxy && !args.detach)
        .then(|| waiting::forward_signals(client.clone(), id.to_owned()));
    let attach = spec.attach_stdin || spec.attach_stdout || spec.attach_stderr;
    let streams = Streams {
        stdin: spec.attach_stdin,
        tty: spec.tty,
        detach_keys: args.detach_keys.clone(),
    };
    let mut streaming = None;
    if attach {
        let path = attach_path(
            id,
            spec.attach_stdin,
            spec.attach_stdout,
            spec.attach_stderr,
            args.detach_keys.as_deref(),
        );
        let conn = client.hijack(&path, None).await?;
        let streams = streams.clone();
        streaming = Some(tokio::spawn(
            async move { stream::stream(conn, &streams).await },
        ));
    }
    let wait = if args.detach {
        None
    } else {
        Some(waiting::wait_exit_or_removed(client, id, spec.auto_remove).await)
    };

    let started = client
        .post_json(&format!("/containers/{}/start", encode_path(id)), None)
        .await;
    if let Err(err) = started {
        if let Some(task) = streaming.take() {
            // Stop copying and give the terminal back before printing anything.
            task.abort();
            let _ = task.await;
        }
        if let Some(p) = &proxy {
            p.abort();
        }
        // The daemon records why the process could not start as the container's exit code
        // (127: not found, 126: cannot be run); the CLI exits with it rather than guessing
        // from the message's words.
        let recorded = match (spec.auto_remove, wait) {
            (true, Some(w)) => w.recorded().await,
            _ => client
                .get_json(&format!("/containers/{}/json", encode_path(id)))
                .await
                .ok()
                .and_then(|c| c["State"]["ExitCode"].as_i64()),
        };
        let code = match recorded {
            Some(c @ (126 | 127)) => c as u8,
            _ => 125,
        };
        return Err(usage_failure("run", &err.into(), code));
    }

    let resizer = (attach && spec.tty && tty::size().is_some())
        .then(|| tty::monitor(client.clone(), format!("/containers/{}", encode_path(id))));
    let outcome = match streaming {
        Some(task) => Some(task.await.unwrap_or(Ok(Outcome::Finished))),
        None => None,
    };
    if let Some(r) = &resizer {
        r.abort();
    }
    if let Some(p) = &proxy {
        p.abort();
    }
    match outcome {
        Some(Ok(Outcome::Detached)) => return Ok(()),
        Some(Err(e)) => return Err(e),
        _ => {}
    }
    if !spec.attach_stdout && !spec.attach_stderr {
        return output::print(&format!("{id}\n"));
    }
    match wait {
        Some(w) => container_exit(w.code().await),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_paths() {
        assert_eq!(
            attach_path("abc", true, true, true, None),
            "/containers/abc/attach?stream=1&stdin=1&stdout=1&stderr=1"
        );
        assert_eq!(
            attach_path("abc", false, true, false, Some("ctrl-a,x")),
            "/containers/abc/attach?stream=1&stdout=1&detachKeys=ctrl-a%2Cx"
        );
    }

    #[test]
    fn run_failures_carry_docker_codes() {
        let err = pouch_client::Error::Api {
            status: 400,
            message: "failed to create task: exec: \"nope\": executable file not found in $PATH"
                .into(),
        };
        let e = run_failure(err.into());
        let s = e.downcast_ref::<crate::exit::StatusError>().unwrap();
        assert_eq!(s.code, 127);
        assert_eq!(
            s.message,
            "pouch: Error response from daemon: failed to create task: exec: \"nope\": \
             executable file not found in $PATH\n\nRun 'pouch run --help' for more information"
        );
        let e = run_failure(anyhow::anyhow!("exec /etc: permission denied"));
        assert_eq!(
            e.downcast_ref::<crate::exit::StatusError>().unwrap().code,
            126
        );
        let e = run_failure(anyhow::anyhow!(
            "Error response from daemon: No such image: x"
        ));
        assert_eq!(
            e.downcast_ref::<crate::exit::StatusError>().unwrap().code,
            125
        );
    }
}
