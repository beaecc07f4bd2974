//! iocd: a streaming log-to-IOC matcher.
//!
//! The map, following the data:
//!
//! * [`ioc`] turns threat-intelligence feeds into indicators: it parses a feed, refangs and
//!   normalizes every value (case, IDNA, canonical IPs and URLs), rejects what it cannot read
//!   with the file and line, and merges the same indicator from many feeds into one indicator
//!   with one source per feed. Its [`ioc::SetBuilder`] compiles the result into an
//!   [`IocSet`].
//! * [`matcher`] is the engine: an immutable [`IocSet`] shared by every thread, and a
//!   per-thread [`Scratch`]. [`IocSet::scan`] finds, in raw bytes, every indicator that
//!   occurs there as a whole token (see the contract in `matcher`'s docs) and nothing else.
//! * [`scan`] is the batch retro-hunt (`iocd scan`): a reader thread (which also
//!   decompresses), worker threads and an ordered writer, all over bounded channels; its
//!   inputs are files, folders and standard input ([`scan::expand`], [`scan::decompressed`]),
//!   and its indicators come through the daemon's [`ioc::Catalog`], as do the daemon's.
//! * [`alert`] shapes a hit into the ECS JSON that SIEMs ingest.
//! * [`triage`] turns hits into the few alerts an analyst reads: an explained score and
//!   priority, deduplication windows with roll-ups, a flood guard, routing by priority and
//!   digests.
//! * [`export`] publishes the same clean set to the controls that block: firewall lists, a
//!   DNS response policy zone, nftables and ipset sets, Zeek and Suricata files, written
//!   atomically on change and served by the export listener.
//!
//! Start reading at [`IocSet`] and [`ioc::SetBuilder`].

pub mod alert;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod export;
pub mod feedback;

pub mod ioc;
pub mod pipeline;
pub mod retry;
pub mod scan;
pub mod sightings;
pub mod sink;
pub mod source;
pub mod statefile;
pub mod telemetry;
pub mod tls;
pub mod triage;

pub use iocd_engine as matcher;
pub use iocd_engine::{Hit, IocId, IocSet, Scratch};
