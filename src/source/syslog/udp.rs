//! The UDP listener: one datagram a message, and the kernel's own drops counted.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use prometheus::IntCounter;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::UdpConfig;
use crate::model::Shutdown;
use crate::source::Batcher;
use crate::telemetry::Metrics;

use super::tcp::bind_error;

pub(crate) fn spawn_udp(
    cfg: &UdpConfig,
    b: Batcher,
    metrics: &Metrics,
    shutdown: Shutdown,
) -> io::Result<(JoinHandle<()>, SocketAddr)> {
    let name = b.outlet().source.as_str();
    let sock = bind_udp(cfg).map_err(|e| bind_error("syslog_udp", cfg.listen, e))?;
    // What the kernel granted: on Linux twice what was asked (its bookkeeping), at most twice
    // net.core.rmem_max; less than twice means it was capped.
    let granted = sock.recv_buffer_size()?;
    metrics
        .receive_buffer
        .with_label_values(&[name])
        .set(granted as i64);
    match cfg.receive_buffer_bytes {
        Some(asked) if granted < asked.saturating_mul(2) => warn!(
            source = "syslog_udp",
            asked,
            granted,
            "receive buffer smaller than asked: the kernel caps it at net.core.rmem_max"
        ),
        _ => info!(source = "syslog_udp", bytes = granted, "receive buffer"),
    }
    let sock: std::net::UdpSocket = sock.into();
    let drops = KernelDrops::new(
        &sock,
        metrics.events_dropped.with_label_values(&[name, "kernel"]),
    );
    if drops.is_none() {
        warn!(
            source = "syslog_udp",
            "cannot find the socket in /proc/net/udp: datagrams the kernel drops are not counted"
        );
    }
    let sock = UdpSocket::from_std(sock)?;
    let addr = sock.local_addr()?;
    let max = cfg.max_message_bytes.max(1);
    Ok((tokio::spawn(serve_udp(sock, max, b, drops, shutdown)), addr))
}

pub(super) fn bind_udp(cfg: &UdpConfig) -> io::Result<socket2::Socket> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(cfg.listen),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if let Some(n) = cfg.receive_buffer_bytes {
        sock.set_recv_buffer_size(n)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&cfg.listen.into())?;
    Ok(sock)
}

/// How often the kernel's drop count of the UDP socket is read.
pub(super) const KERNEL_DROPS_EVERY: Duration = Duration::from_secs(1);

/// Datagrams the kernel dropped on one socket because its receive buffer was full: the
/// socket's `sk_drops`, which Linux shows in the `drops` column of `/proc/net/udp` (or
/// `udp6`) on the line of the socket's inode. Read every [`KERNEL_DROPS_EVERY`] and once more
/// at the end; each increase is added to `iocd_source_dropped_events_total{reason="kernel"}`
/// and logged. (`SO_RXQ_OVFL` gives the same counter, but only with the next datagram that
/// arrives: drops at the end of a burst would wait for the next one.)
pub(super) struct KernelDrops {
    table: &'static str,
    inode: u64,
    seen: u32,
    counter: IntCounter,
}

impl KernelDrops {
    /// `None` when the socket is not in the table (not Linux, /proc not mounted).
    pub(super) fn new(sock: &std::net::UdpSocket, counter: IntCounter) -> Option<KernelDrops> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let table = if sock.local_addr().ok()?.is_ipv4() {
            "/proc/self/net/udp"
        } else {
            "/proc/self/net/udp6"
        };
        let inode = std::fs::metadata(format!("/proc/self/fd/{}", sock.as_raw_fd()))
            .ok()?
            .ino();
        let seen = socket_drops(&std::fs::read_to_string(table).ok()?, inode)?;
        Some(KernelDrops {
            table,
            inode,
            seen,
            counter,
        })
    }

    /// Counts the drops since the last read.
    pub(super) fn poll(&mut self) {
        let Some(now) = std::fs::read_to_string(self.table)
            .ok()
            .and_then(|t| socket_drops(&t, self.inode))
        else {
            return;
        };
        // The kernel's counter is 32 bits and wraps.
        let new = now.wrapping_sub(self.seen);
        self.seen = now;
        if new > 0 {
            self.counter.inc_by(u64::from(new));
            warn!(
                source = "syslog_udp",
                dropped = new,
                "the kernel dropped datagrams: the receive buffer was full (raise \
                 receive_buffer_bytes, or add matcher threads)"
            );
        }
    }
}

/// The `drops` column of the line of socket `inode` in the text of `/proc/net/udp{,6}`.
pub(super) fn socket_drops(table: &str, inode: u64) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
        if fields.len() < 13 || fields[9].parse::<u64>().ok()? != inode {
            return None;
        }
        fields[12].parse().ok()
    })
}

pub(super) async fn serve_udp(
    sock: UdpSocket,
    max: usize,
    mut b: Batcher,
    mut drops: Option<KernelDrops>,
    shutdown: Shutdown,
) {
    // One byte more than the limit shows that a datagram was longer (the kernel cuts the
    // rest); no datagram is longer than 64 KiB.
    let mut buf = vec![0u8; max.saturating_add(1).min(1 << 16)];
    let mut tick = tokio::time::interval(KERNEL_DROPS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let got = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                if let Some(d) = &mut drops {
                    d.poll();
                }
                continue;
            }
            got = sock.recv_from(&mut buf) => got,
        };
        match got {
            Ok((n, peer)) => datagram(&buf[..n], max, peer, &mut b),
            Err(e) => warn!(source = "syslog_udp", error = %e, "receive failed"),
        }
        // Take what else is ready now, then send: full batches under load, no wait otherwise.
        while !b.is_full() {
            match sock.try_recv_from(&mut buf) {
                Ok((n, peer)) => datagram(&buf[..n], max, peer, &mut b),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    warn!(source = "syslog_udp", error = %e, "receive failed");
                    break;
                }
            }
        }
        if b.flush().await.is_err() {
            break;
        }
    }
    let _ = b.flush().await;
    if let Some(d) = &mut drops {
        d.poll();
    }
}

pub(super) fn datagram(d: &[u8], max: usize, peer: SocketAddr, b: &mut Batcher) {
    b.outlet().bytes_in.inc_by(d.len() as u64);
    let mut msg = d;
    if msg.len() > max {
        msg = &msg[..max];
        b.outlet().truncated.inc();
    }
    while let [rest @ .., b'\n' | b'\r' | 0] = msg {
        msg = rest;
    }
    if !msg.is_empty() {
        b.push(msg, Some(peer));
    }
}
