//! Syslog over UDP, TCP and TLS, and the framing of a syslog byte stream.
//!
//! UDP carries one message per datagram. A TCP stream carries messages framed one of two
//! ways (RFC 6587), and senders do not announce which:
//!
//! * non-transparent framing: each message ends with a line feed (`\r\n` tolerated);
//! * octet counting: `MSG-LEN SP MSG`, as `logger --octet-count` and rsyslog's `omfwd` with
//!   `TCP_Framing="octet-counted"` send it.
//!
//! `Framer` tells them apart on the first bytes of a connection: a digit, more digits, then a
//! space means octet counting; anything else means line feeds. (rsyslog makes the same test
//! on every frame; deciding once per connection keeps an LF-framed line that happens to start
//! with `404 ` from being read as a length.) It is a check-then-parse framer in the style of mini-redis: `Framer::next` looks at what has
//! been read so far and answers "a message here", "skip these bytes" or "read more", without
//! copying. Every message is bounded by `max_message_bytes`: a longer one is cut there, counted
//! (`events_dropped{reason="truncated"}`), and its rest skipped (to the next line feed, or by the
//! announced length) so the stream stays in step. An octet-counting header that does not parse
//! is counted as a parse error, and the bytes up to the next line feed are taken as one message,
//! so a sender that mixes framings loses nothing.
//!
//! Each TCP connection is one task; a semaphore caps how many are served at once. Senders are
//! hostile, and a slow one must not hold intake: a message must be complete within
//! `frame_timeout` of its first byte, a TLS handshake within `handshake_timeout`, and a
//! connection that completes no message for `idle_timeout` is closed (bytes alone, blank lines
//! say, do not keep it open). When every slot is taken and a new connection arrives, the
//! connection that has gone longest without completing a message is closed to make room
//! (`super::slots::Table`); one that waits for room in the matcher queue is never chosen, since iocd holds it
//! up, not its sender. One address gets at most `max_connections_per_peer`. Every such close is
//! counted (`iocd_source_closed_connections_total{reason}`) and logged with the peer.
//! A message becomes one line of a batch, with the sender's address; what a closed connection
//! had sent of an incomplete message is kept as a line too.
//!
//! UDP cannot push back: datagrams that arrive while the socket's receive buffer
//! (`receive_buffer_bytes`) is full are dropped by the kernel, which counts them per socket;
//! `KernelDrops` reads that count into `iocd_source_dropped_events_total{reason="kernel"}`.

mod framer;
mod tcp;
mod udp;
pub(crate) use framer::{Framer, finish_into, frame_some};
pub(crate) use tcp::{spawn_tcp, tls_acceptor};
pub(crate) use udp::spawn_udp;

#[cfg(test)]
mod tests;
