//! iocd: a streaming log-to-IOC matcher. This page is the map; docs/ARCHITECTURE.md says
//! the same at length.
//!
//! The daemon (`iocd run`, [`daemon::run`]):
//!
//! ```text
//! source::Sources ──model::Batch──▶ [bounded] ──▶ daemon::worker (threads)
//!   syslog / Kafka / file / stdin      one IocSet::scan per batch; for each line with hits:
//!                                      decode::event::Event ─▶ triage::Triage::assess_at
//!                                      ─▶ triage::Verdict ─▶ alert (ECS; OCSF, CEF from alert::Finding)
//! sink::Sinks ◀──model::AlertRecord── [bounded] ◀──┘      a model::Receipt per Kafka message:
//!   file / stdout / syslog / HTTP / Kafka, dead letters    its offset commits once every sink took its alerts
//! ```
//!
//! Control: `config::Config` ─▶ `ioc::Catalog` (feeds read, refreshed, guarded) ─▶ compile ─▶
//! an `IocSet` swapped into [`model::SharedSet`]; `daemon::control` reloads on SIGHUP, file
//! change, schedule or the admin API (`daemon::admin`), and `export::Exports` writes the same
//! clean set for the controls that block. Verdicts come back through [`feedback::Feedback`] and
//! [`sightings::Sightings`].
//!
//! The retro-hunt (`iocd scan`, [`scan::scan_reader`]): inputs ([`scan::expand`],
//! [`scan::decompressed`]) ─▶ reader thread ─▶ matcher threads ─▶ ordered writer; the same
//! engine, decoders, triage and alert renderers as the daemon.
//!
//! The layers, lowest first; a module uses only modules of the rows before its own
//! (`tests/layers.rs` fails otherwise), with the first thing to read in each:
//!
//! | layer | module | read first |
//! |---|---|---|
//! | engine crate | `iocd_engine` | [`IocSet`], [`Scratch`], [`Hit`] |
//! | leaves | [`retry`], [`statefile`], [`time`], [`tls`] | [`retry::Backoff`], [`time::rfc3339`] |
//! | decode | [`decode`] | [`decode::event::Event`] |
//! | model | [`model`] | [`model::Batch`], [`model::AlertRecord`] |
//! | config | [`config`] | [`config::Config`] |
//! | ioc | [`ioc`] | [`ioc::Catalog`] |
//! | telemetry | [`telemetry`] | [`telemetry::Metrics`] |
//! | verdicts | [`feedback`], [`sightings`] | [`feedback::Feedback`] |
//! | triage | [`triage`] | [`triage::Triage`] |
//! | alert | [`alert`] | [`alert::record`], [`alert::Finding`] |
//! | edges | [`source`], [`sink`], [`export`] | [`source::Sources`], [`sink::Sinks`], [`export::Exports`] |
//! | top | [`daemon`], [`scan`] | [`daemon::run`], [`scan::scan_reader`] |
//!
//! The binary (`src/main.rs`, `src/cli/`) sits above them all; it alone uses `anyhow`.

pub mod alert;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod export;
pub mod feedback;

pub mod ioc;
pub mod model;
pub mod retry;
pub mod scan;
pub mod sightings;
pub mod sink;
pub mod source;
pub mod statefile;
pub mod telemetry;
pub mod time;
pub mod tls;
pub mod triage;

pub use iocd_engine::{Hit, IocId, IocSet, Kernel, Scratch};

/// The version `iocd --version` prints: the package version, the commit and the build date
/// (stamped by `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("IOCD_COMMIT"),
    ", built ",
    env!("IOCD_BUILD_DATE"),
    ")"
);

/// The commit the binary was built from (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("IOCD_COMMIT");
