use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = doksi::cli::Cli::parse();
    match doksi::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("doksi: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
