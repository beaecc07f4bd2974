//! Wiring and the order of things: what starts first, what stops first.
//!
//! Start-up: configuration (already validated) -> first indicator set -> sinks (so alerts have
//! somewhere to go) -> matcher threads -> admin server -> exports (their listener, then the
//! task that writes them from the current set) -> sources (intake starts last) -> `READY=1`
//! to systemd.
//!
//! Running: the control loop owns the feed [`Catalog`](crate::ioc::Catalog). A SIGHUP, `POST /reload`, a changed
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
//! Shutdown (SIGTERM or SIGINT, which also abandon a reload in progress, with its downloads
//! and the waits between their retries): stop intake (sources flush their partial batches and
//! close the queue) -> matcher threads drain the queue -> sinks drain and flush -> exit. All
//! of it within `shutdown.grace` (a sink still waiting to retry then is stopped); a second
//! signal exits at once.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`run`]: start, serve, stop; the error types and the reload request |
//! | `start.rs` | start-up, in order |
//! | `control.rs` | the control loop: reloads, expiry, readiness, signals |
//! | `stop.rs` | shutdown, in order |
//! | `worker.rs` | the matcher threads: batches in, alerts out |
//! | `admin.rs` | the admin HTTP server (`/metrics`, `/readyz`, `POST /reload`, `/feedback`) |

use std::io;
use std::sync::Arc;

use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::model::{AlertRecord, Shutdown};
use crate::sightings::{Exporter, Sightings};
use crate::sink::{SinkSender, Sinks};
use crate::source::Sources;
use crate::telemetry::Metrics;
use crate::triage::{Ticker, Triage};
use admin::AdminHandle;

pub mod admin;
mod control;
pub mod retro;
mod start;
mod stop;
pub mod worker;

pub use start::init_logging;

/// Runs the daemon until SIGTERM or SIGINT. Returns whether every alert was delivered.
pub fn run(cfg: Config) -> Result<bool, Error> {
    let rt = start::runtime()?;
    let metrics = Arc::new(Metrics::new());
    start::clean_state_files(&cfg, &metrics);
    let (mut catalog, mut control) = start::first_set(&cfg, &rt, &metrics);
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(16);
    let running = start::start(&cfg, rt, &mut control, reload_tx)?;
    control.announce(&catalog);
    running.rt.block_on(async {
        control
            .serve(&cfg, &mut catalog, &mut reload_rx, &running.sinks)
            .await
    })?;
    Ok(stop::stop(running, cfg.shutdown.grace))
}

/// What runs between start-up and shutdown, in the order [`stop::stop`] ends it.
struct Running {
    rt: Runtime,
    shutdown: Shutdown,
    /// Kept until intake stopped: `POST /reload` finds a control loop while it drains.
    reload_tx: mpsc::Sender<ReloadRequest>,
    sources: Sources,
    workers: Vec<std::thread::JoinHandle<()>>,
    triage: Option<Arc<Triage>>,
    ticker: Option<Ticker>,
    sinks: Sinks,
    sightings: Arc<Sightings>,
    exporter: Option<tokio::task::JoinHandle<Exporter>>,
    admin: Option<AdminHandle>,
    /// The retro thread and the spool (stopped once the matcher threads drained).
    retro: Option<retro::Retro>,
    /// The spool when the retro thread could not start (closed at shutdown all the same).
    spool: Option<Arc<retro::Spool>>,
}

/// Hands an alert to the sinks: to sink `only` (a digest), else to every sink whose
/// `min_priority` the alert's priority reaches (all of them when triage is off).
fn deliver(sender: &SinkSender, triage: Option<&Triage>, a: AlertRecord, only: Option<usize>) {
    match (only, triage) {
        (Some(i), _) => sender.send_blocking_to(a, |j| j == i),
        (None, Some(t)) => {
            let p = a.priority;
            sender.send_blocking_to(a, |j| t.wants(j, p))
        }
        (None, None) => sender.send_blocking(a),
    }
}

/// Why the daemon could not start (or listen for signals). Each variant names the part that
/// failed; the cause, when there is one, is its [`source`](std::error::Error::source) and is
/// not repeated in its text (`iocd: error: {e:#}` prints the chain).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start the I/O runtime")]
    Runtime(#[source] io::Error),
    #[error("cannot start the sightings export")]
    Sightings(#[source] crate::sightings::ExportError),
    #[error("cannot start retro-matching (retro.dir)")]
    Retro(#[source] io::Error),
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
pub(crate) type ReloadResult = Result<u64, ReloadError>;

/// A request to rebuild the indicator set, sent to the control plane.
#[derive(Debug)]
pub struct ReloadRequest {
    pub reason: ReloadReason,
    /// Where to send the outcome, if the requester waits for it.
    pub reply: Option<tokio::sync::oneshot::Sender<ReloadResult>>,
}
