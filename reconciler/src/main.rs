//! The `driftless` binary: parse arguments, run, exit with the command's code.

use clap::Parser as _;

fn main() {
    let cli = driftless::cli::Cli::parse();
    let mut output = driftless::cli::Output {
        out: std::io::stdout().lock(),
        err: std::io::stderr().lock(),
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
