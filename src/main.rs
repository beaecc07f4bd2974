//! The `iocd` command line: `scan` (retro-hunt over files or stdin) and `iocs` (load, stats,
//! lookup). Exit status follows grep: 0 something matched, 1 nothing matched, 2 error.

mod cli;

use std::io;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "iocd",
    version,
    about = "Match logs against threat-intelligence indicators"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Retro-hunt: print one ECS JSON alert per log line that matches an indicator.
    Scan(cli::scan::ScanArgs),
    /// Run the daemon: read logs from syslog, files or stdin, write alerts to the sinks.
    Run(cli::run::ConfigArgs),
    /// Check a configuration (and load its feeds) without starting anything.
    Validate(cli::run::ValidateArgs),
    /// Load indicator files and report on them.
    #[command(subcommand)]
    Iocs(cli::iocs::IocsCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Scan(a) => cli::scan::run(a),
        Cmd::Run(a) => cli::run::run(a),
        Cmd::Validate(a) => cli::run::validate(a),
        Cmd::Iocs(c) => cli::iocs::run(c),
    };
    match result {
        Ok(true) => ExitCode::from(0),
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            // A closed pipe (`iocd scan ... | head`) is the reader's choice, not an error.
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::from(0);
            }
            eprintln!("iocd: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
