//! The `entra-emulator` binary: see `entra_emulator::cli`.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "entra-emulator",
    version,
    about = "A local Microsoft Entra ID emulator"
)]
struct Cli {
    #[command(flatten)]
    args: entra_emulator::cli::Args,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    entra_emulator::cli::init_tracing();
    let cli = Cli::parse();
    match entra_emulator::cli::run(cli.args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
