//! The connection slots of a TCP or TLS listener, and the connections it closes on its own.
//!
//! [`Table`] knows every connection being served: since when each has waited for a message
//! (or that it waits for room in the matcher queue, and must not be chosen), and how many
//! each address has. The accept loop (`syslog::accept_loop`) asks it for the connection to
//! close when every slot is taken, and refuses an address its `max_connections_per_peer` more.
//! [`Closes`] counts and logs each such close with its [`Forced`] reason.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::IntCounterVec;
use tracing::{debug, warn};

use crate::model::Shutdown;

/// Why iocd closed a connection on its own: the `reason` of
/// `iocd_source_closed_connections_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Forced {
    /// No message completed for `idle_timeout`.
    Idle,
    /// A message not complete `frame_timeout` after its first byte.
    Frame,
    /// TLS handshake not done within `handshake_timeout`.
    Handshake,
    /// Every slot was taken when a new connection came, and this one had gone longest
    /// without completing a message.
    Evicted,
    /// One address more than `max_connections_per_peer`.
    PeerLimit,
}

impl Forced {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Forced::Idle => "idle_timeout",
            Forced::Frame => "frame_timeout",
            Forced::Handshake => "handshake_timeout",
            Forced::Evicted => "evicted",
            Forced::PeerLimit => "peer_limit",
        }
    }
}

/// Counts and logs the connections a listener closes on its own. Each is counted and logged
/// with its peer; at most [`WARNINGS_PER_SECOND`] a second at `warn` (a flood of connections
/// must not become a flood of log lines), the others at `debug`, and the next warning says
/// how many went to `debug` before it.
pub(crate) struct Closes {
    source: &'static str,
    counter: IntCounterVec,
    /// Start of the current second, warnings in it, closes logged at debug since the last
    /// warning.
    window: Mutex<(Instant, u32, u64)>,
}

const WARNINGS_PER_SECOND: u32 = 20;

impl Closes {
    pub(crate) fn new(source: &'static str, counter: IntCounterVec) -> Closes {
        Closes {
            source,
            counter,
            window: Mutex::new((Instant::now(), 0, 0)),
        }
    }

    pub(crate) fn record(&self, peer: SocketAddr, why: Forced) {
        let reason = why.as_str();
        self.counter.with_label_values(&[self.source, reason]).inc();
        let quiet = {
            let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
            if w.0.elapsed() >= Duration::from_secs(1) {
                (w.0, w.1) = (Instant::now(), 0);
            }
            if w.1 < WARNINGS_PER_SECOND {
                w.1 += 1;
                Some(std::mem::take(&mut w.2))
            } else {
                w.2 += 1;
                None
            }
        };
        let source = self.source;
        match quiet {
            Some(0) => warn!(source, %peer, reason, "connection closed by iocd"),
            Some(n) => warn!(
                source,
                %peer,
                reason,
                not_warned_before = n,
                "connection closed by iocd"
            ),
            None => debug!(source, %peer, reason, "connection closed by iocd"),
        }
    }
}

/// The connections of a listener, so that the accept loop can find the one to close when
/// every slot is taken, and count those of each address.
pub(crate) struct Table {
    epoch: Instant,
    inner: Mutex<TableInner>,
}

#[derive(Default)]
struct TableInner {
    next_id: u64,
    conns: HashMap<u64, Arc<Conn>>,
    per_peer: HashMap<IpAddr, usize>,
}

/// What the accept loop knows of one connection.
pub(crate) struct Conn {
    /// Microseconds after the table's epoch at which the connection was accepted or last
    /// completed a message; [`BUSY`] while it waits for room in the matcher queue (it is not
    /// the sender that holds it up then, and it is never chosen).
    waiting_since: AtomicU64,
    /// Cancelled to close the connection.
    pub(crate) evict: Shutdown,
}

const BUSY: u64 = u64::MAX;

impl Conn {
    pub(crate) fn busy(&self) {
        self.waiting_since.store(BUSY, Ordering::Relaxed);
    }
}

/// A connection's place in the [`Table`], given up when dropped.
pub(crate) struct Entry {
    table: Arc<Table>,
    pub(crate) id: u64,
    ip: IpAddr,
    pub(crate) conn: Arc<Conn>,
}

impl Table {
    pub(crate) fn new() -> Table {
        Table {
            epoch: Instant::now(),
            inner: Mutex::new(TableInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TableInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// Adds a connection from `peer`, unless its address already has `per_peer`.
    pub(crate) fn add(self: &Arc<Table>, peer: SocketAddr, per_peer: usize) -> Option<Entry> {
        let mut t = self.lock();
        let n = t.per_peer.entry(peer.ip()).or_default();
        if *n >= per_peer {
            return None;
        }
        *n += 1;
        let conn = Arc::new(Conn {
            waiting_since: AtomicU64::new(self.micros(Instant::now())),
            evict: Shutdown::new(),
        });
        let id = t.next_id;
        t.next_id += 1;
        t.conns.insert(id, conn.clone());
        Some(Entry {
            table: self.clone(),
            id,
            ip: peer.ip(),
            conn,
        })
    }

    /// Asks the connection that has waited longest for a message (other than `except`, and
    /// not one already asked) to close. False when every other one is busy.
    pub(crate) fn evict_oldest(&self, except: u64) -> bool {
        let t = self.lock();
        let oldest = t
            .conns
            .iter()
            .filter(|(id, c)| **id != except && !c.evict.is_cancelled())
            .map(|(_, c)| (c.waiting_since.load(Ordering::Relaxed), c))
            .filter(|(since, _)| *since != BUSY)
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((_, c)) => {
                c.evict.cancel();
                true
            }
            None => false,
        }
    }
}

impl Entry {
    /// The connection completed a message (or stopped waiting for the queue) at `at`.
    pub(crate) fn progress(&self, at: Instant) {
        self.conn
            .waiting_since
            .store(self.table.micros(at), Ordering::Relaxed);
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut t = self.table.lock();
        t.conns.remove(&self.id);
        if let Some(n) = t.per_peer.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                t.per_peer.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), port)
    }

    #[test]
    fn per_address_limit_is_given_back_when_a_connection_ends() {
        let t = Arc::new(Table::new());
        let a = t.add(peer("192.0.2.1", 1), 2).unwrap();
        let _b = t.add(peer("192.0.2.1", 2), 2).unwrap();
        assert!(
            t.add(peer("192.0.2.1", 3), 2).is_none(),
            "a third from one address"
        );
        assert!(t.add(peer("192.0.2.2", 1), 2).is_some(), "another address");
        drop(a);
        assert!(t.add(peer("192.0.2.1", 4), 2).is_some());
    }

    #[test]
    fn the_one_waiting_longest_is_evicted_never_a_busy_one() {
        let t = Arc::new(Table::new());
        let now = Instant::now();
        let old = t.add(peer("192.0.2.1", 1), 9).unwrap();
        let busy = t.add(peer("192.0.2.1", 2), 9).unwrap();
        let young = t.add(peer("192.0.2.1", 3), 9).unwrap();
        let new = t.add(peer("192.0.2.1", 4), 9).unwrap();
        busy.progress(now);
        busy.conn.busy();
        old.progress(now + Duration::from_millis(1));
        young.progress(now + Duration::from_millis(5));
        new.progress(now);
        assert!(t.evict_oldest(new.id));
        assert!(
            old.conn.evict.is_cancelled(),
            "oldest, the new one and the busy one aside"
        );
        assert!(!busy.conn.evict.is_cancelled() && !new.conn.evict.is_cancelled());
        // An eviction already asked for is not asked again: the next is the young one.
        assert!(t.evict_oldest(new.id));
        assert!(young.conn.evict.is_cancelled());
        assert!(!t.evict_oldest(new.id), "only the busy one is left");
        assert!(!busy.conn.evict.is_cancelled());
    }
}
