//! Syslog out: one RFC 5424 message per alert, whose body is the alert's JSON.
//!
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME - - - {json}`: facility `auth` (4, "security and
//! authorization messages"), severity from the alert's priority, the alert's own time in
//! UTC, this machine's host name, the configured app name; no process id, message id or
//! structured data (the JSON carries everything). Over UDP each message is one datagram;
//! over TCP and TLS messages are framed by octet counting (`LEN SP MSG`, RFC 6587 §3.4.1,
//! the framing RFC 5425 requires for TLS).
//!
//! TCP and TLS connect at start and reconnect with backoff whenever the connection fails.
//! While idle the task also reads from the socket, so a server that closes the connection
//! is noticed before the next alert is written into a dead socket. A batch whose write
//! failed is sent again on the new connection: the receiver may see it twice, never zero
//! times (syslog has no acknowledgements to do better). UDP is best effort by nature: a
//! send error is retried, but a datagram lost on the way is not seen.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Write as _};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;
use tracing::{info, warn};

use super::dead_letter::DeadLetter;
use super::{Queue, SinkCtx, SinkErrorKind};
use crate::config::SyslogProtocol;
use crate::model::AlertRecord;
use crate::retry::{Backoff, Delays};

/// `auth`: security and authorization messages.
const FACILITY: u8 = 4;
/// Alerts per TCP/TLS write.
const BATCH_ALERTS: usize = 256;
/// The largest UDP payload over IPv4; a longer message cannot be sent as one datagram.
const MAX_DATAGRAM: usize = 65_507;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct SyslogSink {
    protocol: SyslogProtocol,
    host: String,
    port: u16,
    /// RFC 5424 HOSTNAME and APP-NAME, already checked against the grammar.
    hostname: String,
    app_name: String,
    transport: Transport,
}

enum Transport {
    Udp(UdpSocket),
    Tcp,
    Tls {
        connector: TlsConnector,
        server_name: ServerName<'static>,
    },
}

impl SyslogSink {
    /// Resolves the address, opens the UDP socket or loads the TLS roots. Needs a tokio
    /// runtime context (for the UDP socket).
    pub(super) fn open(
        protocol: SyslogProtocol,
        address: &str,
        ca: Option<&Path>,
        app_name: &str,
    ) -> Result<SyslogSink, SinkErrorKind> {
        let bad = |reason: String| SinkErrorKind::Address {
            address: address.to_owned(),
            reason,
        };
        let (host, port) = split_host_port(address).ok_or_else(|| bad("not host:port".into()))?;
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| bad(format!("does not resolve: {e}")))?
            .collect();
        let first = *addrs
            .first()
            .ok_or_else(|| bad("resolves to no address".into()))?;
        let transport = match protocol {
            SyslogProtocol::Udp => {
                Transport::Udp(udp_socket(first).map_err(|source| SinkErrorKind::Socket {
                    address: address.to_owned(),
                    source,
                })?)
            }
            SyslogProtocol::Tcp => Transport::Tcp,
            SyslogProtocol::Tls => Transport::Tls {
                connector: tls_connector(ca).map_err(SinkErrorKind::Tls)?,
                server_name: ServerName::try_from(host.to_owned()).map_err(|e| {
                    SinkErrorKind::Tls(format!("{host:?} is not a valid server name: {e}"))
                })?,
            },
        };
        Ok(SyslogSink {
            protocol,
            host: host.to_owned(),
            port,
            hostname: header_field(&local_hostname(), 255),
            app_name: header_field(app_name, 48),
            transport,
        })
    }

    /// Appends one RFC 5424 message (no framing) for `a` to `out`.
    fn format(&self, a: &AlertRecord, out: &mut Vec<u8>) {
        let pri = FACILITY * 8 + severity(a.priority.label());
        let _ = write!(out, "<{pri}>1 ");
        match chrono::DateTime::from_timestamp(a.time, 0) {
            Some(t) => {
                let _ = write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%SZ"));
            }
            None => out.push(b'-'),
        }
        let _ = write!(out, " {} {} - - - ", self.hostname, self.app_name);
        out.extend_from_slice(&a.json);
    }

    async fn connect(&self) -> io::Result<Conn> {
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        // Batches are written whole; a lone alert should not wait for Nagle.
        tcp.set_nodelay(true)?;
        match &self.transport {
            Transport::Tcp => Ok(Conn::Tcp(tcp)),
            Transport::Tls {
                connector,
                server_name,
            } => {
                let tls = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    connector.connect(server_name.clone(), tcp),
                )
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??;
                Ok(Conn::Tls(Box::new(tls)))
            }
            Transport::Udp(_) => unreachable!("UDP has no connection"),
        }
    }
}

impl fmt::Display for SyslogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self.protocol {
            SyslogProtocol::Udp => "udp",
            SyslogProtocol::Tcp => "tcp",
            SyslogProtocol::Tls => "tls",
        };
        write!(f, "RFC 5424 syslog over {p} to {}:{}", self.host, self.port)
    }
}

/// `host:port`, `[v6]:port`; the host without brackets.
fn split_host_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some((host, port))
}

fn udp_socket(to: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse().expect("valid address")
    } else {
        "[::]:0".parse().expect("valid address")
    };
    let s = std::net::UdpSocket::bind(local)?;
    s.connect(to)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s)
}

/// Roots from the configured PEM bundle, else the system's.
fn tls_connector(ca: Option<&Path>) -> Result<TlsConnector, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let at = path.display();
            let f = File::open(path).map_err(|e| format!("cannot read CA bundle {at}: {e}"))?;
            for cert in rustls_pemfile::certs(&mut BufReader::new(f)) {
                let cert = cert.map_err(|e| format!("CA bundle {at}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("CA bundle {at}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("CA bundle {at} holds no PEM certificate"));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _unusable) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or_else(String::new, |e| format!(" ({e})"));
                return Err(format!(
                    "no system CA certificates found{why}: set `ca` to a PEM bundle"
                ));
            }
        }
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// RFC 5424 header fields are 1..=`max` printable ASCII characters without spaces, or `-`.
fn header_field(s: &str, max: usize) -> String {
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if v.is_empty() { "-".to_owned() } else { v }
}

/// Syslog severity for an alert priority: critical 2, high 3, medium 4, low 5; anything
/// else (`none` before scoring) is a warning, 4.
fn severity(priority: &str) -> u8 {
    match priority {
        "critical" => 2,
        "high" => 3,
        "medium" => 4,
        "low" => 5,
        _ => 4,
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open TCP or TLS connection.
enum Conn {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    fn io(&mut self) -> &mut dyn Io {
        match self {
            Conn::Tcp(s) => s,
            Conn::Tls(s) => s.as_mut(),
        }
    }

    async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        let io = self.io();
        io.write_all(buf).await?;
        io.flush().await
    }

    /// Resolves when the server closes the connection or it fails. Syslog servers send
    /// nothing; whatever comes is read and ignored.
    async fn closed(&mut self) -> io::Error {
        let mut scratch = [0u8; 512];
        loop {
            match self.io().read(&mut scratch).await {
                Ok(0) => {
                    return io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    );
                }
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    }
}

/// The task of a syslog sink.
pub(super) async fn run(queue: Arc<Queue>, sink: SyslogSink, dead: DeadLetter, ctx: SinkCtx) {
    let mut conn: Option<Conn> = None;
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30)).delays();
    let mut alerts: Vec<AlertRecord> = Vec::new();
    let mut msg = Vec::new();
    let mut buf = Vec::new();
    if !matches!(sink.transport, Transport::Udp(_)) {
        // Say early, in the log, when the server cannot be reached; alerts wait either way.
        match sink.connect().await {
            Ok(c) => conn = Some(c),
            Err(e) => {
                ctx.errors.inc();
                warn!(sink = %ctx.name, error = %e, "cannot connect to the syslog server; will retry");
            }
        }
    }
    loop {
        if alerts.is_empty() {
            queue.take(BATCH_ALERTS, &mut alerts);
        }
        if alerts.is_empty() {
            if queue.is_closed() && queue.pending() == 0 {
                break;
            }
            let dropped = match conn.as_mut() {
                Some(c) => tokio::select! {
                    _ = queue.wait() => None,
                    e = c.closed() => Some(e),
                },
                None => {
                    queue.wait().await;
                    None
                }
            };
            if let Some(e) = dropped {
                conn = None;
                ctx.errors.inc();
                warn!(sink = %ctx.name, error = %e, "syslog connection lost; will reconnect");
            }
            continue;
        }
        match &sink.transport {
            Transport::Udp(socket) => {
                send_datagrams(
                    &sink,
                    socket,
                    &queue,
                    &dead,
                    &ctx,
                    &mut alerts,
                    &mut backoff,
                    &mut msg,
                )
                .await
            }
            Transport::Tcp | Transport::Tls { .. } => {
                let c = match conn.as_mut() {
                    Some(c) => c,
                    None => match sink.connect().await {
                        Ok(c) => {
                            info!(sink = %ctx.name, "connected to the syslog server");
                            conn.insert(c)
                        }
                        Err(e) => {
                            ctx.errors.inc();
                            let delay = backoff.next_delay();
                            warn!(
                                sink = %ctx.name, error = %e, held = queue.held(), retry_in = ?delay,
                                "cannot connect to the syslog server; holding alerts"
                            );
                            tokio::time::sleep(delay).await;
                            ctx.retries.inc();
                            continue;
                        }
                    },
                };
                buf.clear();
                for a in &alerts {
                    msg.clear();
                    sink.format(a, &mut msg);
                    let _ = write!(buf, "{} ", msg.len());
                    buf.extend_from_slice(&msg);
                }
                let started = Instant::now();
                match c.send(&buf).await {
                    Ok(()) => {
                        ctx.latency.observe(started.elapsed().as_secs_f64());
                        ctx.delivered(&alerts);
                        queue.release(alerts.len());
                        alerts.clear();
                        backoff.reset();
                    }
                    Err(e) => {
                        conn = None;
                        ctx.errors.inc();
                        let delay = backoff.next_delay();
                        warn!(
                            sink = %ctx.name, error = %e, alerts = alerts.len(), retry_in = ?delay,
                            "syslog write failed; reconnecting to send the batch again"
                        );
                        tokio::time::sleep(delay).await;
                        ctx.retries.inc();
                    }
                }
            }
        }
    }
    if let Some(mut c) = conn {
        // TLS: close_notify, so the server knows the stream ended whole.
        let _ = c.io().shutdown().await;
    }
}

/// Sends `alerts` one datagram each, releasing each as it goes; on a send error waits and
/// tries the same alert again. Returns with `alerts` empty.
#[allow(clippy::too_many_arguments)]
async fn send_datagrams(
    sink: &SyslogSink,
    socket: &UdpSocket,
    queue: &Queue,
    dead: &DeadLetter,
    ctx: &SinkCtx,
    alerts: &mut Vec<AlertRecord>,
    backoff: &mut Delays,
    msg: &mut Vec<u8>,
) {
    for a in alerts.iter() {
        msg.clear();
        sink.format(a, msg);
        if msg.len() > MAX_DATAGRAM {
            ctx.errors.inc();
            // To the dead-letter file, else logged in full and counted as dropped.
            let detail = format!(
                "{} bytes, over the {MAX_DATAGRAM} of one syslog datagram (use TCP or TLS \
                 for large alerts)",
                msg.len()
            );
            ctx.refused(queue, dead, a, None, "too_large", &detail);
            continue;
        }
        loop {
            let started = Instant::now();
            match socket.send(msg).await {
                Ok(_) => {
                    ctx.latency.observe(started.elapsed().as_secs_f64());
                    ctx.delivered(std::slice::from_ref(a));
                    queue.release(1);
                    backoff.reset();
                    break;
                }
                Err(e) => {
                    ctx.errors.inc();
                    let delay = backoff.next_delay();
                    warn!(sink = %ctx.name, error = %e, retry_in = ?delay, "syslog datagram not sent");
                    tokio::time::sleep(delay).await;
                    ctx.retries.inc();
                }
            }
        }
    }
    alerts.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlertPriority, Priority};

    #[test]
    fn host_and_port() {
        assert_eq!(split_host_port("siem:514"), Some(("siem", 514)));
        assert_eq!(split_host_port("[::1]:6514"), Some(("::1", 6514)));
        assert_eq!(split_host_port("10.0.0.1:601"), Some(("10.0.0.1", 601)));
        assert_eq!(split_host_port("siem"), None);
        assert_eq!(split_host_port(":514"), None);
        assert_eq!(split_host_port("siem:http"), None);
    }

    #[test]
    fn header_fields_follow_the_grammar() {
        assert_eq!(header_field("iocd", 48), "iocd");
        assert_eq!(header_field("my app", 48), "myapp");
        assert_eq!(header_field("", 48), "-");
        assert_eq!(header_field(&"a".repeat(60), 48).len(), 48);
    }

    #[test]
    fn message_layout() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _enter = rt.enter();
        let sink = SyslogSink::open(SyslogProtocol::Udp, "127.0.0.1:9", None, "io cd").unwrap();
        let a = AlertRecord {
            json: b"{\"x\":1}".as_slice().into(),
            time: 1_700_000_000,
            priority: AlertPriority::Level(Priority::High),
            key: std::sync::Arc::from("k"),
            receipt: None,
            formats: None,
        };
        let mut out = Vec::new();
        sink.format(&a, &mut out);
        let want = format!(
            "<35>1 2023-11-14T22:13:20Z {} iocd - - - {{\"x\":1}}",
            sink.hostname
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
