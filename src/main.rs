//! The `iocd` command line: `scan` (retro-hunt over files or stdin) and `iocs` (load, stats,
//! lookup). Exit status follows grep: 0 something matched, 1 nothing matched, 2 error.
//!
//! Like grep, the one-shot commands (everything but `run`) die of SIGPIPE, silently, when
//! what they write to (standard output or standard error) is a pipe whose reader has gone:
//! `iocd scan ... | head -1` ends as soon as `head` does, and a shell reports status 141
//! (128 + SIGPIPE) for it, which `set -o pipefail` or `PIPESTATUS` show. The daemon keeps
//! SIGPIPE ignored: a log reader going away must not stop intake.

mod cli;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "iocd",
    version = iocd::VERSION,
    about = "Match logs against threat-intelligence indicators",
    after_help = "Exit status, as grep's: 0 something matched, 1 nothing matched, 2 an error. \
        When standard output or standard error is a pipe that was closed (`iocd scan ... | \
        head -1`), every command but `run` ends at once and silently, killed by SIGPIPE \
        (status 141 in a shell)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Retro-hunt: every log line that matches an indicator, as text for people (on a
    /// terminal) or the daemon's alerts (ECS, OCSF, CEF), or a summary per indicator.
    ///
    /// Exit status as grep's: 0 a line matched, 1 none did, 2 an error. Into a pipe that
    /// closes (`iocd scan ... | head -1`), it ends at once and silently, killed by SIGPIPE
    /// (status 141 in a shell).
    Scan(cli::scan::ScanArgs),
    /// Run the daemon: read logs from syslog, files or stdin, write alerts to the sinks.
    Run(cli::run::ConfigArgs),
    /// Check a configuration (and load its feeds) without starting anything.
    Validate(cli::run::ValidateArgs),
    /// Load indicator files and report on them.
    #[command(subcommand)]
    Iocs(cli::iocs::IocsCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard
    /// output: `iocd completions bash > /usr/share/bash-completion/completions/iocd`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to standard output: `iocd manpage | man -l -`.
    Manpage,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.cmd, Cmd::Run(_)) {
        die_of_sigpipe();
    }
    let result = match cli.cmd {
        Cmd::Scan(a) => cli::scan::run(a),
        Cmd::Run(a) => cli::run::run(a),
        Cmd::Validate(a) => cli::run::validate(a),
        Cmd::Iocs(c) => cli::iocs::run(c),
        Cmd::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "iocd", &mut io::stdout());
            Ok(true)
        }
        Cmd::Manpage => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd)
                .render(&mut io::stdout())
                .map(|()| true)
                .map_err(Into::into)
        }
    };
    match result {
        Ok(true) => ExitCode::from(0),
        Ok(false) => ExitCode::from(1),
        Err(e) if e.downcast_ref::<cli::Reported>().is_some() => ExitCode::from(2),
        Err(e) => {
            // SIGPIPE normally ends the process first; should a broken pipe still come back
            // as an error (a socket as output, say), end quietly as grep does, with 2.
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::from(2);
            }
            // Not `eprintln!`, which panics when standard error is gone (`run` keeps
            // SIGPIPE ignored).
            let _ = writeln!(io::stderr(), "iocd: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Restores the default action of SIGPIPE (terminate), which the Rust runtime sets to
/// "ignore" before `main`: a write to a closed pipe then ends the process quietly instead of
/// returning `EPIPE`, which `println!`/`eprintln!` would turn into a panic (exit 101).
fn die_of_sigpipe() {
    // SAFETY: called at the start of `main`, before any thread is started; SIG_DFL is a valid
    // disposition for SIGPIPE and no handler of ours is replaced.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
