//! Sinks: where alerts go, and the promise that a sink that is down loses none of them.
//!
//! Every alert goes to every configured sink. [`Sinks::start`] opens what each sink needs
//! (files, sockets, CA bundles, HTTP clients) so that a bad path or address stops iocd at
//! start-up rather than at the first alert, then runs one tokio task per sink.
//! [`SinkSender::send_blocking`], called from the plain matcher threads, puts an alert in
//! every sink's bounded queue and blocks while one is full: that wait is the backpressure
//! that reaches the sources (TCP stops reading, Kafka stops fetching).
//!
//! Read [`Sinks`] and [`SinkSender`] first, then `Queue`, the hand-off between plain
//! threads and a sink's task. The sinks themselves are small loops over a queue:
//! `file` (JSON lines to a file or to standard output), `syslog` (RFC 5424 over UDP, TCP,
//! TLS) and `http` (JSON array, Splunk HEC, Elasticsearch `_bulk`).
//!
//! Accounting: an alert counts as *held* by a sink from the moment it enters the queue until
//! the sink has delivered it, or the endpoint refused it for good and it went to the sink's
//! dead-letter file (`dead_letter`), or, with no such file or a full one, to the error log
//! in full: counted either way. The queue bound applies to held alerts, so an alert being
//! retried still takes a place: a sink that is down, or held by an endpoint that refuses its
//! credentials, fills its buffer (`iocd_sink_buffered_alerts`) and then makes the pipeline
//! wait. It never drops an alert without saying so. An alert's receipt (what lets Kafka
//! commit its offset) settles only at the end of that: delivered or dead-lettered.
//!
//! The trade-off: one queue per sink and one batch in flight per sink. Alerts are rare next
//! to log lines, so the simplicity (strict order per sink, exact accounting) is worth more
//! than the throughput of parallel requests.

mod dead_letter;
mod file;
mod http;
mod kafka;
mod stdout;
mod syslog;

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use prometheus::{Histogram, IntCounter, IntGauge};
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config::{AlertFormat, SinkConfig};
use crate::model::AlertRecord;
use crate::telemetry::Metrics;

/// Queue size of sinks whose configuration has none (stdout, file, syslog): enough to ride
/// out a reconnect, small next to the memory of one indicator set.
const DEFAULT_QUEUE_ALERTS: usize = 10_000;

/// The running sinks. Made by [`Sinks::start`], ended by [`Sinks::shutdown`].
pub struct Sinks {
    queues: Arc<[Arc<Queue>]>,
    tasks: Vec<JoinHandle<()>>,
}

/// Hands alerts to every sink. Cheap to clone; one per matcher thread.
#[derive(Clone)]
pub struct SinkSender {
    queues: Arc<[Arc<Queue>]>,
}

/// A sink could not be started. Names the sink by its position in the configuration and by
/// its metric label.
#[derive(Debug)]
pub struct SinkError {
    index: usize,
    sink: String,
    kind: SinkErrorKind,
}

#[derive(Debug)]
enum SinkErrorKind {
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    Address {
        address: String,
        reason: String,
    },
    Socket {
        address: String,
        source: std::io::Error,
    },
    Tls(String),
    HttpClient(String),
    Kafka(String),
}

impl SinkError {
    /// The sink's metric label, e.g. `file1`.
    pub fn sink(&self) -> &str {
        &self.sink
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sinks[{}] ({}): ", self.index, self.sink)?;
        match &self.kind {
            // The cause is the `source()`: shown after this by whoever prints the chain.
            SinkErrorKind::Open { path, .. } => write!(f, "cannot open {}", path.display()),
            SinkErrorKind::Address { address, reason } => {
                write!(f, "address {address:?}: {reason}")
            }
            SinkErrorKind::Socket { address, .. } => {
                write!(f, "cannot open a socket to {address}")
            }
            SinkErrorKind::Tls(reason) => write!(f, "TLS: {reason}"),
            SinkErrorKind::HttpClient(reason) => write!(f, "HTTP client: {reason}"),
            SinkErrorKind::Kafka(reason) => write!(f, "Kafka producer: {reason}"),
        }
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            SinkErrorKind::Open { source, .. } | SinkErrorKind::Socket { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// What [`Sinks::shutdown`] could not do.
#[derive(Clone, Debug, Default)]
pub struct ShutdownReport {
    /// Alerts that did not reach their sink, summed over sinks: still queued or in flight
    /// at the deadline, or handed over after the queues closed. An alert that two sinks
    /// missed counts twice.
    pub undelivered: u64,
    /// Whether some sink was still working at the deadline (and was stopped).
    pub timed_out: bool,
    /// One entry per sink, in configuration order.
    pub sinks: Vec<SinkReport>,
}

/// One sink's part of a [`ShutdownReport`].
#[derive(Clone, Debug)]
pub struct SinkReport {
    /// The metric label, e.g. `http1`.
    pub name: String,
    /// Alerts this sink did not deliver.
    pub undelivered: u64,
    /// Alerts the sink gave up on while iocd ran (refused by the endpoint for good, too large
    /// for a datagram); each went to the dead-letter file (`iocd_sink_dead_letters_total`) or
    /// was logged in full and counted in `iocd_sink_dropped_alerts_total`.
    pub rejected: u64,
    /// Whether the sink was stopped at the deadline rather than finishing.
    pub timed_out: bool,
}

impl Sinks {
    /// Opens every sink (in configuration order) and starts its task on `rt`. Fails, with
    /// no task left running, if one cannot be opened: a file that cannot be created, an
    /// address that does not resolve, an unreadable CA bundle, an HTTP client that cannot
    /// be built. A TCP or TLS syslog server that is down is *not* an error: that sink keeps
    /// its alerts and retries.
    pub fn start(
        cfgs: &[SinkConfig],
        metrics: Arc<Metrics>,
        rt: &Handle,
    ) -> Result<Sinks, SinkError> {
        // Sockets made from std ones must be registered with the runtime that drives them.
        let _enter = rt.enter();
        let mut opened = Vec::with_capacity(cfgs.len());
        let names = crate::config::sink_names(cfgs);
        for (index, cfg) in cfgs.iter().enumerate() {
            let name = names[index].clone();
            let fail = |kind| SinkError {
                index,
                sink: name.clone(),
                kind,
            };
            // Where alerts refused for good go (HTTP, syslog, Kafka sinks).
            let (dead_path, dead_max) = cfg.dead_letter();
            let dead = dead_letter::DeadLetter::open(dead_path, dead_max).map_err(|source| {
                fail(SinkErrorKind::Open {
                    path: dead_path.map(std::path::Path::to_owned).unwrap_or_default(),
                    source,
                })
            })?;
            let (cap, sink) = match cfg {
                SinkConfig::Stdout { .. } => (
                    DEFAULT_QUEUE_ALERTS,
                    Opened::Lines(file::Output::Stdout(stdout::Stdout::new())),
                ),
                SinkConfig::File { path, .. } => {
                    let out = file::FileOut::open(path).map_err(|source| {
                        fail(SinkErrorKind::Open {
                            path: path.clone(),
                            source,
                        })
                    })?;
                    (DEFAULT_QUEUE_ALERTS, Opened::Lines(file::Output::File(out)))
                }
                SinkConfig::Syslog {
                    protocol,
                    address,
                    ca,
                    app_name,
                    ..
                } => {
                    let s = syslog::SyslogSink::open(*protocol, address, ca.as_deref(), app_name)
                        .map_err(fail)?;
                    (DEFAULT_QUEUE_ALERTS, Opened::Syslog(s, dead))
                }
                SinkConfig::Http(h) => {
                    let s = http::HttpSink::new(h, dead).map_err(fail)?;
                    // Validation asks for buffer >= batch; a smaller buffer would deadlock
                    // a batch that waits for alerts the buffer cannot take.
                    (
                        h.buffer_max_events.max(h.batch_max_events).max(1),
                        Opened::Http(s),
                    )
                }
                SinkConfig::Kafka(k) => {
                    let s = kafka::KafkaSink::new(k).map_err(fail)?;
                    (k.buffer_max_events.max(1), Opened::Kafka(s, dead))
                }
            };
            let mut queue = Queue::new(&name, cap, &metrics);
            queue.format = cfg.alert_format();
            opened.push((Arc::new(queue), sink, name));
        }
        let mut queues = Vec::with_capacity(opened.len());
        let mut tasks = Vec::with_capacity(opened.len());
        for (queue, sink, name) in opened {
            let ctx = SinkCtx::new(name, metrics.clone());
            info!(sink = %ctx.name, what = %sink, "sink started");
            let q = queue.clone();
            tasks.push(match sink {
                Opened::Lines(out) => rt.spawn(file::run(q, out, ctx)),
                Opened::Syslog(s, dead) => rt.spawn(syslog::run(q, s, dead, ctx)),
                Opened::Http(s) => rt.spawn(http::run(q, s, ctx)),
                Opened::Kafka(s, dead) => rt.spawn(kafka::run(q, s, dead, ctx)),
            });
            queues.push(queue);
        }
        Ok(Sinks {
            queues: queues.into(),
            tasks,
        })
    }

    /// A handle for the matcher threads.
    pub fn sender(&self) -> SinkSender {
        SinkSender {
            queues: self.queues.clone(),
        }
    }

    /// Asks file sinks to reopen their path (SIGHUP, after log rotation). Returns at once;
    /// each file sink reopens before its next write, or right away when idle.
    pub fn reopen(&self) {
        for q in self.queues.iter() {
            q.reopen.store(true, Ordering::Release);
            q.wake.notify_one();
        }
    }

    /// Closes the queues (later alerts are counted as undelivered), lets every sink deliver
    /// what it holds and flush, and stops the ones still working at `deadline`.
    pub async fn shutdown(self, deadline: Instant) -> ShutdownReport {
        for q in self.queues.iter() {
            q.close();
        }
        let mut report = ShutdownReport::default();
        for (q, mut task) in self.queues.iter().zip(self.tasks) {
            let finished = match tokio::time::timeout_at(deadline.into(), &mut task).await {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    error!(sink = %q.name, error = %e, "sink task failed");
                    true
                }
                Err(_) => {
                    task.abort();
                    // Wait for the abort so nothing is released after the count below.
                    let _ = task.await;
                    false
                }
            };
            let undelivered = q.held() as u64 + q.refused.load(Ordering::Relaxed);
            if undelivered > 0 {
                warn!(sink = %q.name, undelivered, timed_out = !finished, "alerts not delivered");
            }
            report.undelivered += undelivered;
            report.timed_out |= !finished;
            report.sinks.push(SinkReport {
                name: q.name.clone(),
                undelivered,
                rejected: q.rejected.load(Ordering::Relaxed),
                timed_out: !finished,
            });
        }
        report
    }
}

impl SinkSender {
    /// Puts `alert` in every sink's queue, in configuration order, waiting while a queue is
    /// full. Call it from plain threads, never from an async task: it blocks the thread.
    /// After [`Sinks::shutdown`] has closed the queues the alert is counted as undelivered.
    ///
    /// Each sink gets the alert in its `alert_format`: the ECS JSON as made, or rendered by
    /// from the typed alert ([`AlertRecord::ocsf`], [`AlertRecord::cef`]), once per format
    /// whatever the number of sinks that want it.
    pub fn send_blocking(&self, alert: AlertRecord) {
        self.send_blocking_to(alert, |_| true)
    }

    /// Like [`SinkSender::send_blocking`], for the sinks `want` picks by position (triage's
    /// routing by priority). An alert no sink wants is settled at once.
    pub(crate) fn send_blocking_to(&self, alert: AlertRecord, want: impl Fn(usize) -> bool) {
        let picked: Vec<&Arc<Queue>> = self
            .queues
            .iter()
            .enumerate()
            .filter(|(i, _)| want(*i))
            .map(|(_, q)| q)
            .collect();
        let Some((last, rest)) = picked.split_last() else {
            // No sink wants it: nothing to wait for.
            alert.settle();
            return;
        };
        let mut rendered: [Option<Arc<[u8]>>; AlertFormat::ALL.len()] = Default::default();
        let mut body = |alert: &AlertRecord, f: AlertFormat| -> Arc<[u8]> {
            match f {
                AlertFormat::Ecs => alert.json.clone(),
                AlertFormat::Ocsf => rendered[f as usize]
                    .get_or_insert_with(|| alert.ocsf().into())
                    .clone(),
                AlertFormat::Cef => rendered[f as usize]
                    .get_or_insert_with(|| alert.cef().into())
                    .clone(),
            }
        };
        for q in rest {
            let mut copy = alert.for_sink();
            copy.json = body(&alert, q.format);
            q.push_blocking(copy);
        }
        let mut alert = alert;
        alert.json = body(&alert, last.format);
        last.push_blocking(alert);
    }
}

/// A sink opened by `start`, not yet running.
enum Opened {
    Lines(file::Output),
    Syslog(syslog::SyslogSink, dead_letter::DeadLetter),
    Http(http::HttpSink),
    Kafka(kafka::KafkaSink, dead_letter::DeadLetter),
}

impl fmt::Display for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opened::Lines(o) => o.fmt(f),
            Opened::Syslog(s, _) => s.fmt(f),
            Opened::Http(s) => s.fmt(f),
            Opened::Kafka(s, _) => s.fmt(f),
        }
    }
}

/// The bounded hand-off from matcher threads (which block on a `Condvar`) to one sink's
/// task (which awaits a `Notify`). See the module docs for what "held" means.
struct Queue {
    name: String,
    /// What the sink writes; `send_blocking` renders it.
    format: AlertFormat,
    cap: usize,
    state: Mutex<QueueState>,
    not_full: Condvar,
    /// Wakes the sink's task: alerts arrived, the queue closed, or a reopen is asked.
    /// `notify_one` keeps a permit when the task is busy, so no wake-up is lost.
    wake: Notify,
    buffered: IntGauge,
    /// Alerts handed over after the queue closed.
    refused: AtomicU64,
    /// Alerts the endpoint refused for good.
    rejected: AtomicU64,
    /// SIGHUP asked file sinks to reopen their path.
    reopen: AtomicBool,
}

struct QueueState {
    items: VecDeque<AlertRecord>,
    /// Queued plus taken but not yet released.
    held: usize,
    closed: bool,
}

impl Queue {
    fn new(name: &str, cap: usize, metrics: &Metrics) -> Queue {
        let buffered = metrics.sink_buffered.with_label_values(&[name]);
        buffered.set(0);
        Queue {
            name: name.to_owned(),
            format: AlertFormat::Ecs,
            cap,
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                held: 0,
                closed: false,
            }),
            not_full: Condvar::new(),
            wake: Notify::new(),
            buffered,
            refused: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            reopen: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // The state stays consistent across a panic (every change is one step).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push_blocking(&self, alert: AlertRecord) {
        let mut st = self.lock();
        while st.held >= self.cap && !st.closed {
            st = self
                .not_full
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if st.closed {
            drop(st);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        st.items.push_back(alert);
        st.held += 1;
        drop(st);
        self.buffered.inc();
        self.wake.notify_one();
    }

    /// Moves up to `max` queued alerts to `out`; they stay held until [`Queue::release`].
    fn take(&self, max: usize, out: &mut Vec<AlertRecord>) -> usize {
        let mut st = self.lock();
        let n = max.min(st.items.len());
        out.extend(st.items.drain(..n));
        n
    }

    /// `n` taken alerts are done with (delivered or refused for good): frees their places.
    fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut st = self.lock();
        st.held -= n;
        drop(st);
        self.buffered.sub(n as i64);
        self.not_full.notify_all();
    }

    /// Taken alerts that the endpoint refused for good.
    fn reject(&self, n: usize) {
        self.rejected.fetch_add(n as u64, Ordering::Relaxed);
        self.release(n);
    }

    fn pending(&self) -> usize {
        self.lock().items.len()
    }

    fn held(&self) -> usize {
        self.lock().held
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn close(&self) {
        self.lock().closed = true;
        // Senders blocked on a full queue give up (and count their alert as refused).
        self.not_full.notify_all();
        self.wake.notify_one();
    }

    /// Waits for the next wake-up (see `wake`).
    async fn wait(&self) {
        self.wake.notified().await;
    }

    fn take_reopen(&self) -> bool {
        self.reopen.swap(false, Ordering::AcqRel)
    }
}

/// A sink's name and its metric handles, resolved once.
struct SinkCtx {
    name: String,
    metrics: Arc<Metrics>,
    errors: IntCounter,
    retries: IntCounter,
    latency: Histogram,
}

impl SinkCtx {
    fn new(name: String, metrics: Arc<Metrics>) -> SinkCtx {
        let errors = metrics.sink_errors.with_label_values(&[&name]);
        let retries = metrics.sink_retries.with_label_values(&[&name]);
        let latency = metrics.sink_latency.with_label_values(&[&name]);
        SinkCtx {
            name,
            metrics,
            errors,
            retries,
            latency,
        }
    }

    /// One taken alert the endpoint refused for good (`reason`: `refused`, `too_large` or
    /// `item_error`): written to the dead-letter file and counted in
    /// `iocd_sink_dead_letters_total`, or, with no file or a full one, logged in full at
    /// ERROR and counted in `iocd_sink_dropped_alerts_total`. Either way its place in the
    /// queue is freed and it is settled: an alert the endpoint refuses for good would
    /// otherwise hold its Kafka partition's commits back forever and replay on every
    /// restart, a poison message that stops the whole stream. The error log is the dead
    /// letter of last resort.
    fn refused(
        &self,
        queue: &Queue,
        dead: &dead_letter::DeadLetter,
        alert: &AlertRecord,
        status: Option<u16>,
        reason: &'static str,
        detail: &str,
    ) {
        let refusal = dead_letter::Refusal {
            sink: &self.name,
            status,
            reason: detail,
            alert: &alert.json,
        };
        match dead.write(&refusal) {
            Ok(()) => {
                warn!(
                    sink = %self.name, status, reason, error = %detail,
                    dead_letter = %dead.path().map(|p| p.display().to_string()).unwrap_or_default(),
                    "the endpoint refused an alert for good; it went to the dead-letter file"
                );
                self.metrics
                    .sink_dead_letters
                    .with_label_values(&[self.name.as_str(), reason])
                    .inc();
            }
            Err(why) => {
                error!(
                    sink = %self.name, status, reason, error = %detail, not_dead_lettered = %why,
                    alert = %String::from_utf8_lossy(&alert.json),
                    "the endpoint refused an alert for good and it could not go to a dead-letter \
                     file: here it is in full"
                );
                self.metrics
                    .sink_dropped
                    .with_label_values(&[self.name.as_str(), reason])
                    .inc();
            }
        }
        alert.settle();
        queue.reject(1);
    }

    /// Counts alerts the sink accepted, by priority (a few labels: a short list beats a map),
    /// and settles them (their batch's receipt no longer waits for this sink).
    fn delivered<'a>(&self, alerts: impl IntoIterator<Item = &'a AlertRecord>) {
        let mut counts: Vec<(&'static str, u64)> = Vec::new();
        for a in alerts {
            a.settle();
            match counts.iter_mut().find(|(p, _)| *p == a.priority.label()) {
                Some((_, n)) => *n += 1,
                None => counts.push((a.priority.label(), 1)),
            }
        }
        for (priority, n) in counts {
            self.metrics
                .alerts_out
                .with_label_values(&[self.name.as_str(), priority])
                .inc_by(n);
        }
    }
}

/// Runs blocking I/O on tokio's blocking pool, handing `state` there and back. A panic
/// there is a bug: it is propagated.
async fn blocking<S, R>(state: S, f: impl FnOnce(&mut S) -> R + Send + 'static) -> (S, R)
where
    S: Send + 'static,
    R: Send + 'static,
{
    let joined = tokio::task::spawn_blocking(move || {
        let mut state = state;
        let r = f(&mut state);
        (state, r)
    })
    .await;
    match joined {
        Ok(x) => x,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("blocking sink I/O was cancelled: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::model::AlertPriority;

    fn alert(i: usize) -> AlertRecord {
        AlertRecord {
            json: format!("{{\"n\":{i}}}").into_bytes().into(),
            time: 0,
            priority: AlertPriority::Untriaged,
            key: Arc::from("k"),
            receipt: None,
            formats: None,
        }
    }

    #[test]
    fn queue_holds_until_released_and_blocks_when_full() {
        let m = Metrics::new();
        let q = Arc::new(Queue::new("t0", 2, &m));
        q.push_blocking(alert(0));
        q.push_blocking(alert(1));
        let mut taken = Vec::new();
        assert_eq!(q.take(10, &mut taken), 2);
        assert_eq!((q.pending(), q.held()), (0, 2));
        // Taken but unreleased alerts still fill the queue: a third push must wait.
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.push_blocking(alert(2)));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished());
        assert_eq!(m.sink_buffered.with_label_values(&["t0"]).get(), 2);
        q.release(1);
        t.join().unwrap();
        assert_eq!((q.pending(), q.held()), (1, 2));
        q.close();
        q.push_blocking(alert(3));
        assert_eq!(q.refused.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn close_wakes_blocked_senders() {
        let m = Metrics::new();
        let q = Arc::new(Queue::new("t0", 1, &m));
        q.push_blocking(alert(0));
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.push_blocking(alert(1)));
        std::thread::sleep(Duration::from_millis(20));
        q.close();
        t.join().unwrap();
        assert_eq!(q.refused.load(Ordering::Relaxed), 1);
        assert_eq!(q.held(), 1);
    }

    #[test]
    fn delivered_counts_by_priority() {
        let m = Arc::new(Metrics::new());
        let ctx = SinkCtx::new("stdout0".into(), m.clone());
        let mut a = vec![alert(0), alert(1), alert(2)];
        a[1].priority = AlertPriority::Level(crate::model::Priority::High);
        ctx.delivered(&a);
        let c = |p: &str| m.alerts_out.with_label_values(&["stdout0", p]).get();
        assert_eq!((c("none"), c("high")), (2, 1));
    }
}
