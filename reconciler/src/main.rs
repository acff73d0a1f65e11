//! The `driftless` binary: parse arguments, run, exit with the command's code.

use clap::Parser as _;

fn main() {
    let cli = driftless::cli::Cli::parse();
    // Logs go to stderr (stdout carries reports); `DRIFTLESS_LOG=debug` shows every request.
    let filter = tracing_subscriber::EnvFilter::try_from_env("DRIFTLESS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    // stderr is locked per write, never for the whole run: tracing writes to it from tokio's
    // worker threads (hyper logs while holding its connection-pool lock), and a lock held here
    // would deadlock the main thread against them under `DRIFTLESS_LOG=debug`.
    let mut output = driftless::cli::Output {
        out: std::io::stdout().lock(),
        err: std::io::stderr(),
    };
    let code = match driftless::cli::run(cli, &mut output) {
        Ok(code) => code,
        Err(error) => {
            let _ = output.note(format_args!("error: {error:#}"));
            driftless::cli::exit::ERROR
        }
    };
    drop(output);
    #[allow(clippy::disallowed_methods)] // reason: main alone exits, with the command's code
    std::process::exit(code)
}
