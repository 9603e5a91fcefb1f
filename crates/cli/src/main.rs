//! `tdibt`, the command-line front of tdibt-core: parses the command line, sets up logging,
//! runs one command and turns its outcome into an exit code. The work itself lives in the
//! library crates.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod exit;
mod logging;
mod output;
mod progress;
mod settings;

use clap::Parser;

use crate::cli::{Cli, Command, ConfigCommand};
use crate::exit::{CliResult, Exit};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose, cli.quiet);
    match run(&cli) {
        Ok(()) => std::process::ExitCode::from(Exit::Success as u8),
        Err(e) => {
            output::report_error(cli.json, &e);
            std::process::ExitCode::from(e.code as u8)
        }
    }
}

fn run(cli: &Cli) -> CliResult {
    match &cli.command {
        Command::Config(ConfigCommand::Check { file }) => commands::config_check::run(cli, file),
        Command::Init => commands::init::run(cli),
        Command::Monitor(args) => commands::monitor::run(cli, args),
        Command::Stats => commands::stats::run(cli),
        Command::Repo(command) => commands::repo::run(cli, command),
        Command::Backup(args) => commands::backup::run(cli, args),
        Command::Restore(args) => commands::restore::run(cli, args),
        Command::Verify(args) => commands::verify::run(cli, args),
        Command::List => commands::repo::list(cli),
        Command::Show { id } => commands::repo::show(cli, id),
        Command::Merge(args) => commands::maintain::run_merge(cli, args),
        Command::Prune(args) => commands::maintain::run_prune(cli, args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => commands::demo::run(cli, args),
        Command::Blocks(args) => commands::taosdump::blocks(cli, args),
        Command::TaosdumpScript(args) => commands::taosdump::taosdump_script(cli, args),
        Command::VerifyTaosdump(args) => commands::taosdump::verify_taosdump(cli, args),
        Command::TaosdumpApply(args) => commands::taosdump::taosdump_apply(cli, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_specifications_names_find_their_commands() {
        for (alias, name) in [
            ("backup-incremental", "backup"),
            ("verify-backup", "verify"),
            ("start-monitoring", "monitor"),
        ] {
            let cli = Cli::try_parse_from(["tdibt", alias]).unwrap();
            let parsed = format!("{:?}", cli.command);
            assert!(parsed.to_lowercase().starts_with(name), "{alias}: {parsed}");
        }
        let help = Cli::command().render_help().to_string();
        for alias in ["backup-incremental", "verify-backup", "start-monitoring"] {
            assert!(help.contains(alias), "{alias} not in --help:\n{help}");
        }
    }

    #[test]
    fn excluding_flags_are_refused_by_the_parser() {
        for args in [
            &["tdibt", "backup", "--full", "--since", "latest"][..],
            &[
                "tdibt",
                "restore",
                "--backup",
                "latest",
                "--at",
                "2026-01-01",
            ],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{args:?}"
            );
        }
    }

    #[test]
    fn exit_codes_are_stable() {
        assert_eq!(Exit::Success as u8, 0);
        assert_eq!(Exit::Failure as u8, 1);
        assert_eq!(Exit::Usage as u8, 2);
        assert_eq!(Exit::Config as u8, 3);
        assert_eq!(Exit::Checkpoint as u8, 4);
        assert_eq!(Exit::TDengine as u8, 5);
        assert_eq!(Exit::Repository as u8, 6);
        assert_eq!(Exit::Verification as u8, 7);
    }
}
