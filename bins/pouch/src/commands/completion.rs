//! `pouch completion bash|zsh|fish`: shell completion scripts generated from the command
//! definitions, so they always match the binary.

use clap::Args;

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to generate the script for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
