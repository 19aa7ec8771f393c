//! `entra`: get, decode and verify Microsoft Entra ID access tokens, and run the local emulator.
//!
//! A thin shell over the workspace's libraries: `entra-client` gets tokens, `entra-auth` verifies
//! them, `entra-emulator` is the local Entra. See `entra --help` and the crate's README.
//!
//! Exit status: 0 success; 1 the answer is no (Entra refused the token request, or the token is
//! invalid); 2 usage, input or network error. Errors are one line on stderr.

mod cli;
mod decode;
mod error;
mod forward_auth;
mod input;
mod output;
mod times;
mod token;
mod user;
mod verify;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors: clap prints them and exits with status 2
    init_tracing(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return fail(&CliError::usage(format!(
                "cannot start the async runtime: {e}"
            )));
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

async fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Token(args) => token::run(&args).await.map(|()| ExitCode::SUCCESS),
        Command::Login(args) => user::login(&args).await.map(|()| ExitCode::SUCCESS),
        Command::Logout(args) => user::logout(&args).map(|()| ExitCode::SUCCESS),
        Command::Decode(args) => decode::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Verify(args) => verify::run(&args).await,
        Command::Emulator(args) => entra_emulator::cli::run(args)
            .await
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| CliError::usage(e.to_string())),
        Command::ForwardAuth(args) => forward_auth::run(args).await.map(|()| ExitCode::SUCCESS),
    }
}

fn fail(error: &CliError) -> ExitCode {
    use std::io::Write as _;
    // Not eprintln!: it panics when stderr is closed.
    let _ = writeln!(std::io::stderr(), "error: {error}");
    error.exit_code()
}

/// Logs go to stderr, filtered by `RUST_LOG`: `info` for the emulator and forward-auth (their
/// request logs), off otherwise so that a command's output is only its answer.
fn init_tracing(command: &Command) {
    if matches!(command, Command::Emulator(_) | Command::ForwardAuth(_)) {
        entra_emulator::cli::init_tracing();
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
