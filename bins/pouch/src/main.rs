//! `pouch`: the command-line client of pouchd. Commands and flags follow the docker CLI so that
//! muscle memory and scripts carry over; output formats match docker's byte for byte where
//! scripts are known to parse them (tables, `--format`, `inspect`).

mod commands;
mod exit;
mod filters;
mod format;
mod output;
mod reference;
mod signal;
mod units;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use pouch_client::{Client, DEFAULT_HOST, TlsOptions};

use crate::commands::{Command, Ctx};

#[derive(Debug, Parser)]
#[command(
    name = "pouch",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true,
    arg_required_else_help = true
)]
struct Cli {
    // Like docker's, `-H` is not global: it must come before the command, which leaves `-H`
    // free for subcommands such as `history -H`.
    /// Daemon socket to connect to (unix:///path or tcp://host:port)
    #[arg(short = 'H', long, env = "POUCH_HOST", default_value = DEFAULT_HOST, value_name = "HOST")]
    host: String,

    /// Enable debug mode (logs each request to stderr)
    #[arg(short = 'D', long)]
    debug: bool,

    /// Use TLS; implied by --tlsverify [env: DOCKER_TLS]
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "BOOL")]
    tls: Option<bool>,

    /// Use TLS and verify the remote [env: DOCKER_TLS_VERIFY]
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "BOOL")]
    tlsverify: Option<bool>,

    /// Trust certs signed only by this CA [default: $DOCKER_CERT_PATH/ca.pem]
    #[arg(long, value_name = "FILE")]
    tlscacert: Option<PathBuf>,

    /// Path to TLS certificate file [default: $DOCKER_CERT_PATH/cert.pem]
    #[arg(long, value_name = "FILE")]
    tlscert: Option<PathBuf>,

    /// Path to TLS key file [default: $DOCKER_CERT_PATH/key.pem]
    #[arg(long, value_name = "FILE")]
    tlskey: Option<PathBuf>,

    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    version: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

fn main() -> ExitCode {
    let parsed = commands::examples::add(Cli::command())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0; usage errors exit 125 like docker's.
            let _ = e.print();
            // A bare `pouch` or `pouch volume` prints its help, as docker does.
            let bare = e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
            return if e.use_stderr() && !bare {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if cli.debug {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::DEBUG)
            .with_target(false)
            .init();
    }
    if cli.version {
        println!("Pouch version {}", pouch_api::VERSION);
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Completion(a)) = &cli.command {
        let mut script = Vec::new();
        let mut cmd = commands::examples::add(Cli::command());
        clap_complete::generate(a.shell, &mut cmd, "pouch", &mut script);
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
        return ExitCode::SUCCESS;
    }
    let tls = tls_options(&cli);
    let Some(command) = cli.command else {
        // Unreachable with `arg_required_else_help`, but a bare `pouch -D` lands here.
        eprintln!("pouch: a command is required; see 'pouch --help'");
        return ExitCode::from(exit::USAGE);
    };
    let client = match tls {
        None => Client::new(&cli.host),
        Some(opts) => Client::new_tls(&cli.host, &opts),
    };
    let client = match client {
        Ok(c) => c,
        Err(e @ pouch_client::Error::TlsConfig(_)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut ctx = Ctx::new(client, cli.debug);
    match runtime.block_on(commands::run(&mut ctx, command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => exit::report(&err),
    }
}

/// The docker CLI's TLS rules: `--tlsverify` (or `DOCKER_TLS_VERIFY` set to anything) turns TLS
/// on and checks the daemon against `--tlscacert`; `--tlsverify=false` or `--tls` (or
/// `DOCKER_TLS`) alone encrypts without checking. Certificate files default to `ca.pem`,
/// `cert.pem` and `key.pem` under `DOCKER_CERT_PATH` (else `DOCKER_CONFIG`, else `~/.docker`);
/// a default client certificate or key that does not exist is simply not sent. None: no TLS.
fn tls_options(cli: &Cli) -> Option<TlsOptions> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let verify = cli
        .tlsverify
        .unwrap_or_else(|| env("DOCKER_TLS_VERIFY").is_some());
    let tls = cli.tlsverify.is_some() || verify || cli.tls.unwrap_or(env("DOCKER_TLS").is_some());
    if !tls {
        return None;
    }
    let dir = env("DOCKER_CERT_PATH")
        .or_else(|| env("DOCKER_CONFIG"))
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env("HOME").unwrap_or_else(|| "/".into())).join(".docker")
        });
    let or_default = |given: &Option<PathBuf>, name: &str| {
        given
            .clone()
            .or_else(|| Some(dir.join(name)).filter(|p| p.exists()))
    };
    Some(TlsOptions {
        verify,
        ca: Some(cli.tlscacert.clone().unwrap_or_else(|| dir.join("ca.pem"))),
        cert: or_default(&cli.tlscert, "cert.pem"),
        key: or_default(&cli.tlskey, "key.pem"),
    })
}
