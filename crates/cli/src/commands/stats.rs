use crate::cli::Cli;
use crate::exit::CliResult;
pub fn run(_cli: &Cli) -> CliResult {
    Ok(())
}
