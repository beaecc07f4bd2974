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

pub mod admin;
mod start;
pub mod worker;

pub use start::{init_logging, run};

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
pub type ReloadResult = Result<u64, String>;

/// A request to rebuild the indicator set, sent to the control plane.
#[derive(Debug)]
pub struct ReloadRequest {
    pub reason: ReloadReason,
    /// Where to send the outcome, if the requester waits for it.
    pub reply: Option<tokio::sync::oneshot::Sender<ReloadResult>>,
}
