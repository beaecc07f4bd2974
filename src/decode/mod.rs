//! Decoders: pure functions from the bytes of one log line to the fields an alert names.
//!
//! The data plane scans raw bytes and decodes only the rare line that hits (see
//! ARCHITECTURE.md, "scan bytes, decode only hits"), so decoders here favour being total over
//! being fast: they take arbitrary bytes, never panic, and answer `None` for a line that is not
//! in their format. Each one is fuzzed with `proptest`.
//!
//! * [`syslog`]: the RFC 3164 and RFC 5424 header of a syslog message ([`syslog::parse`]).
//! * [`event`]: the fields of the line itself, in ECS names with their byte ranges, so that an
//!   alert can say which field an indicator hit and what the device did ([`event::decode`]).
//! * [`time`]: the time the line says its event happened ([`time::event_time`]), from the
//!   format's own time field or the syslog header.
//!
//! Framing (where one message ends and the next begins on a byte stream) is not decoding: it
//! belongs to the stream and lives with the sources, in `source::syslog`.

pub mod event;
mod formats;
pub mod syslog;
pub mod time;
