use std::process::ExitCode;

fn main() -> ExitCode {
    let parsed = match doksi::cli::parse() {
        Ok(parsed) => parsed,
        Err(e) => {
            doksi::commands::output::print_error(&e);
            return ExitCode::from(2);
        }
    };
    match doksi::commands::run(parsed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            doksi::commands::output::print_error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
