//! Wiring and the order of things: what starts first, what stops first.
//!
//! Start-up: configuration (already validated) -> first indicator set -> sinks (so alerts have
//! somewhere to go) -> matcher threads -> admin server -> exports (their listener, then the
//! task that writes them from the current set) -> sources (intake starts last) -> `READY=1`
//! to systemd.
//!
//! Running: the control loop owns the feed [`Catalog`]. A SIGHUP, `POST /reload`, a changed
//! feed file or a due refresh builds a new set beside the current one (on a blocking thread)
//! and swaps it in with one atomic store; matcher threads never wait. A build that fails
//! keeps the current set, is logged and counted. A refresh that changed nothing (same bytes,
//! `304`s, refused or failed feeds) builds nothing.
//!
//! Readiness tells the truth: `/readyz` and `iocd_ready` say ready only once intake runs and
//! every feed has a generation (read, or from its cache). A feed that cannot be loaded does
//! not stop the daemon: it matches with the feeds it has, retries the missing one on its
//! schedule (10 s, doubling, up to 5 minutes) and becomes ready when it arrives.
//!
//! Shutdown (SIGTERM or SIGINT): stop intake (sources flush their partial batches and close
//! the queue) -> matcher threads drain the queue -> sinks drain and flush -> exit. All of it
//! within `shutdown.grace`; a second signal exits at once.

use std::io;

pub mod admin;
mod control;
mod start;
mod stop;
pub mod worker;

pub use start::{init_logging, run};

/// Why the daemon could not start (or listen for signals). Each variant names the part that
/// failed; the cause, when there is one, is its [`source`](std::error::Error::source) and is
/// not repeated in its text (`iocd: error: {e:#}` prints the chain).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start the I/O runtime")]
    Runtime(#[source] io::Error),
    #[error("cannot start the sightings export")]
    Sightings(#[source] crate::sightings::ExportError),
    #[error("cannot start the sinks")]
    Sinks(#[source] crate::sink::SinkError),
    /// A shared-infrastructure list of `triage.flood` could not be read (the text names it).
    #[error("triage.flood.shared_infrastructure: {0}")]
    SharedInfrastructure(String),
    /// A thread of the daemon's own (`what`: the matcher threads, the triage thread, ...).
    #[error("cannot start {what}")]
    Thread {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("cannot start the admin server")]
    Admin(#[source] io::Error),
    #[error("cannot start the export listener")]
    ExportListener(#[source] io::Error),
    #[error("cannot start the sources")]
    Sources(#[source] io::Error),
    #[error("cannot listen for signals")]
    Signals(#[source] io::Error),
}

/// Why a reload did not swap a new set in (the current set stays).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// Compiling the set panicked (a bug; logged).
    #[error("building the indicator set failed; the current set stays")]
    BuildFailed,
}

/// Tells systemd where the daemon is (ready, reloading, stopping, its status line).
fn notify(state: &[sd_notify::NotifyState<'_>]) {
    // Outside systemd NOTIFY_SOCKET is unset and this does nothing.
    let _ = sd_notify::notify(state);
}

/// Why the indicator set is being rebuilt (the `reason` of logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadReason {
    Signal,
    Admin,
    FileChanged,
    FeedRefresh,
    Expiry,
}

/// Answer to a reload request: the new set's generation, or why the build failed (the old
/// set stays).
pub type ReloadResult = Result<u64, ReloadError>;

/// A request to rebuild the indicator set, sent to the control plane.
#[derive(Debug)]
pub struct ReloadRequest {
    pub reason: ReloadReason,
    /// Where to send the outcome, if the requester waits for it.
    pub reply: Option<tokio::sync::oneshot::Sender<ReloadResult>>,
}
