//! The Kafka source: a consumer group whose offsets move only past delivered alerts.
//!
//! One thread owns the consumer. It polls messages into a batch (one message is one line),
//! seals the batch when it is full or when no message is waiting, and hands it to the matcher
//! queue. Sealing opens one *segment* per partition in the batch in the [`Tracker`] (the
//! batch's last offset of that partition) and gives the batch a [`Receipt`] that settles those
//! segments once the matcher has handed every alert of the batch to the sinks and every sink
//! has delivered its copy (see `model::Receipt`).
//!
//! # Commits: the contiguous high-watermark
//!
//! Per partition, segments are kept in the order they were read. A settled segment is only
//! marked done; the committable offset advances over the run of done segments at the front
//! and stops at the first one still in flight. So a batch stuck behind a sink that is down
//! holds back its partition's commits even when later batches are done: a crash replays from
//! there, it never skips. The consumer thread stores committable offsets
//! (`enable.auto.offset.store=false`, then `store_offsets`) and librdkafka commits stored
//! offsets every `commit_interval`; explicit synchronous commits happen on revoke and at
//! shutdown.
//!
//! # Backpressure
//!
//! When the matcher queue is full, the sealed batch waits in the `Outbox` and every assigned
//! partition is paused: the thread keeps polling (so the group sees it alive and rebalances
//! are served) but librdkafka stops fetching; nothing is buffered without bound. Partitions
//! resume once the batch is handed over.
//!
//! # Rebalances
//!
//! On revoke, the rebalance callback waits (up to `revoke_timeout`) for the in-flight
//! segments of the revoked partitions, still trying to hand the waiting batch over, then
//! commits what is done and forgets the partitions; their next owner starts there. Work
//! still in flight at the timeout is abandoned to the next owner (duplicates, never loss) and
//! counted. A *lost* assignment (session timed out) commits nothing. Segments settling for a
//! partition that was revoked, or revoked and assigned again, carry an old epoch and are
//! ignored.
//!
//! # Messages that are not lines
//!
//! Empty messages (tombstones) and binary ones (containing a NUL byte) are counted in
//! `iocd_kafka_skipped_messages_total` and not matched; their offsets are part of their
//! batch's segment, so they commit. Messages longer than `max_message_bytes` are cut there and
//! counted as `truncated`, like syslog messages. A line break inside a message becomes a space.
//!
//! # Shutdown
//!
//! On cancel: pause, hand over the last batch, close the queue (the matcher threads drain it
//! and the sinks flush), wait for every in-flight segment until the grace period ends, commit
//! synchronously, and close the consumer (leaving the group at once, so the partitions move
//! without waiting for a session timeout).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::TrySendError;
use prometheus::{IntCounter, IntCounterVec};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::{debug, error, info, warn};

use crate::config::KafkaSourceConfig;
use crate::model::{Batch, BatchSender, MessageRef, Receipt, Shutdown, SourceKind};
use crate::telemetry::Metrics;

mod context;
mod tracker;
use context::Ctx;
pub use tracker::{Ticket, Tracker};

/// How long one poll waits when there is nothing to send.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How long one poll waits while a batch waits for room.
const BLOCKED_POLL: Duration = Duration::from_millis(10);
/// How long a batch waits for room in the matcher queue before the partitions are paused.
const PAUSE_AFTER: Duration = Duration::from_millis(100);

/// The running source's thread. (`spawn` also returns a task that ends when the thread has
/// closed its end of the matcher queue: what `Sources::join` waits for.)
pub struct KafkaSource {
    thread: std::thread::JoinHandle<()>,
    tracker: Arc<Tracker>,
}

impl KafkaSource {
    /// What the consumer owns and how far it read (for retro-matching).
    pub fn tracker(&self) -> Arc<Tracker> {
        self.tracker.clone()
    }

    /// Waits for the thread to commit and close, until `deadline`. False if it is still
    /// running then (it is left to the process exit).
    pub fn finish(self, deadline: Instant) -> bool {
        while !self.thread.is_finished() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.thread.join().is_err() {
            error!("the Kafka source thread panicked");
            return false;
        }
        true
    }
}

/// Creates the consumer, subscribes, and starts the thread. Configuration errors from
/// librdkafka (an unknown option, a bad value) come back here; brokers that are down do not
/// (the consumer retries, and lag shows it).
pub fn spawn(
    cfg: &KafkaSourceConfig,
    batch_bytes: usize,
    tx: BatchSender,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
    grace: Duration,
) -> io::Result<(tokio::task::JoinHandle<()>, KafkaSource)> {
    let tracker = Arc::new(Tracker::new(metrics.clone()));
    let outbox = Arc::new(Outbox::new(tx));
    let ctx = Ctx {
        tracker: tracker.clone(),
        outbox: outbox.clone(),
        metrics: metrics.clone(),
        revoke_timeout: cfg.revoke_timeout,
    };
    let mut cc = ClientConfig::new();
    cc.set("statistics.interval.ms", "5000")
        .set("client.id", "iocd");
    for (k, v) in &cfg.options {
        cc.set(k, v);
    }
    cc.set("bootstrap.servers", &cfg.brokers)
        .set("group.id", &cfg.group_id)
        .set("enable.auto.commit", "true")
        .set(
            "auto.commit.interval.ms",
            cfg.commit_interval.as_millis().max(1).to_string(),
        )
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", cfg.start.as_str());
    let consumer: BaseConsumer<Ctx> = cc
        .create_with_context(ctx)
        .map_err(|e| io::Error::other(format!("sources.kafka: {e}")))?;
    let topics: Vec<&str> = cfg.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| io::Error::other(format!("sources.kafka.topics: {e}")))?;
    info!(brokers = %cfg.brokers, group = %cfg.group_id, topics = ?cfg.topics, "kafka consumer started");

    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    let intake_closed = tokio::spawn(async move {
        let _ = closed_rx.await;
    });
    let name = SourceKind::Kafka.as_str();
    let reader = Reader {
        consumer,
        tracker: tracker.clone(),
        outbox,
        building: Building::new(batch_bytes, cfg.max_message_bytes),
        limit: batch_bytes.max(1),
        paused: false,
        counters: Counters {
            events_in: metrics.events_in.with_label_values(&[name]),
            bytes_in: metrics.bytes_in.with_label_values(&[name]),
            truncated: metrics
                .events_dropped
                .with_label_values(&[name, "truncated"]),
            empty: metrics.kafka.skipped.with_label_values(&["empty"]),
            binary: metrics.kafka.skipped.with_label_values(&["binary"]),
        },
        metrics,
    };
    let thread = std::thread::Builder::new()
        .name("iocd-kafka".into())
        .spawn(move || reader.run(shutdown, grace, closed_tx))?;
    Ok((intake_closed, KafkaSource { thread, tracker }))
}

struct Counters {
    events_in: IntCounter,
    bytes_in: IntCounter,
    truncated: IntCounter,
    empty: IntCounter,
    binary: IntCounter,
}

/// The consumer thread's state.
struct Reader {
    consumer: BaseConsumer<Ctx>,
    tracker: Arc<Tracker>,
    outbox: Arc<Outbox>,
    building: Building,
    limit: usize,
    paused: bool,
    counters: Counters,
    metrics: Arc<Metrics>,
}

impl Reader {
    fn run(
        mut self,
        shutdown: Shutdown,
        grace: Duration,
        closed: tokio::sync::oneshot::Sender<()>,
    ) {
        let mut idle = false;
        while !shutdown.is_cancelled() {
            let flushed = match self.outbox.flush(Duration::ZERO) {
                // A queue that is full for a moment should not pause the partitions: pausing
                // drops librdkafka's prefetched messages and resuming fetches them again, a
                // round trip per pause. Wait a little for room first; pause only if none comes.
                Flush::Full if !self.paused => self.outbox.flush(PAUSE_AFTER),
                f => f,
            };
            match flushed {
                Flush::Closed => break,
                Flush::Full => self.pause(),
                Flush::Sent | Flush::Empty => self.resume(),
            }
            if self.outbox.is_empty()
                && !self.building.is_empty()
                && (idle || self.building.batch.len() >= self.limit)
            {
                let batch = self.building.seal(&self.tracker, &self.counters);
                self.outbox.put(batch);
                idle = false;
                continue;
            }
            let wait = if !self.outbox.is_empty() {
                BLOCKED_POLL
            } else if self.building.is_empty() {
                IDLE_POLL
            } else {
                Duration::ZERO
            };
            idle = match self.consumer.poll(wait) {
                Some(Ok(m)) => {
                    let assignments = self.tracker.assignments();
                    self.building.push(
                        &m,
                        &self.counters,
                        assignments,
                        &self.metrics.kafka.offset_gaps,
                    );
                    false
                }
                Some(Err(e)) => {
                    // Broker connections coming and going are reported here too; librdkafka
                    // logs them and reconnects by itself.
                    let code = e
                        .rdkafka_error_code()
                        .map_or_else(|| "other".to_owned(), |c| format!("{c:?}"));
                    self.metrics
                        .kafka
                        .client_errors
                        .with_label_values(&[&code])
                        .inc();
                    debug!(error = %e, "kafka consumer error");
                    true
                }
                None => true,
            };
            self.store_ready();
        }
        self.stop(grace, closed);
    }

    fn pause(&mut self) {
        if !self.paused
            && let Ok(a) = self.consumer.assignment()
        {
            if let Err(e) = self.consumer.pause(&a) {
                warn!(error = %e, "cannot pause kafka partitions");
            }
            self.paused = true;
            debug!(
                partitions = a.count(),
                "matcher queue full: partitions paused"
            );
        }
    }

    fn resume(&mut self) {
        if self.paused
            && let Ok(a) = self.consumer.assignment()
        {
            if let Err(e) = self.consumer.resume(&a) {
                warn!(error = %e, "cannot resume kafka partitions");
            }
            self.paused = false;
        }
    }

    /// Stores every offset that became committable (librdkafka commits them on its timer).
    fn store_ready(&self) {
        let ready = self.tracker.take_ready(None);
        store(&self.consumer, &ready);
    }

    /// The shutdown sequence of the module docs.
    fn stop(mut self, grace: Duration, closed: tokio::sync::oneshot::Sender<()>) {
        let deadline = Instant::now() + grace;
        self.paused = false;
        self.pause();
        // Hand over the last batch while the matchers still take batches.
        loop {
            match self.outbox.flush(Duration::ZERO) {
                Flush::Full if Instant::now() < deadline => {}
                _ => {
                    if self.building.is_empty() || !self.outbox.is_empty() {
                        break;
                    }
                    let batch = self.building.seal(&self.tracker, &self.counters);
                    self.outbox.put(batch);
                    continue;
                }
            }
            // Messages polled now are not processed: they stay uncommitted and are read
            // again by whoever reads the partition next.
            let _ = self.consumer.poll(BLOCKED_POLL);
        }
        self.outbox.close();
        let _ = closed.send(());
        // The matchers drain, the sinks flush; settled segments become committable.
        while !self.tracker.is_idle() && Instant::now() < deadline {
            let _ = self.consumer.poll(Duration::from_millis(50));
            self.store_ready();
        }
        if !self.tracker.is_idle() {
            warn!(
                "kafka: alerts still in flight at the end of the grace period; their messages will be read again"
            );
        }
        let all = self.tracker.take_ready(None);
        store(&self.consumer, &all);
        let committed = self.tracker.committable();
        if committed.count() > 0 {
            match self.consumer.commit(&committed, CommitMode::Sync) {
                Ok(()) => info!(partitions = committed.count(), "kafka offsets committed"),
                Err(e) => error!(error = %e, "kafka: final offset commit failed"),
            }
        }
        self.consumer.unsubscribe();
        drop(self.consumer);
        self.metrics.kafka.assigned_partitions.set(0);
        info!("kafka consumer closed");
    }
}

fn store(consumer: &BaseConsumer<Ctx>, ready: &[(Arc<str>, i32, i64)]) {
    if ready.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::with_capacity(ready.len());
    for (t, p, o) in ready {
        let _ = tpl.add_partition_offset(t, *p, Offset::Offset(*o));
    }
    if let Err(e) = consumer.store_offsets(&tpl) {
        // A partition revoked meanwhile: its new owner starts from the last commit.
        debug!(error = %e, "kafka: cannot store offsets");
    }
}

/// The batch being filled, and the last offset of each partition in it.
struct Building {
    batch: Batch,
    spans: Vec<(Arc<str>, i32, i64)>,
    /// The next offset expected per partition, to count gaps; cleared when the assignment
    /// changes (a new owner starts wherever the group committed).
    /// Keyed by (index in `topics`, partition): no string hashed or `Arc` cloned per message.
    next: HashMap<(usize, i32), i64>,
    assignments_seen: u64,
    lines: u64,
    max_message: usize,
    limit: usize,
    topics: Vec<Arc<str>>,
}

impl Building {
    fn new(limit: usize, max_message: usize) -> Building {
        Building {
            batch: Batch::new(SourceKind::Kafka),
            spans: Vec::new(),
            next: HashMap::new(),
            assignments_seen: 0,
            lines: 0,
            max_message,
            limit,
            topics: Vec::new(),
        }
    }

    /// No message since the last seal (skipped ones count: their offsets must commit).
    fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The topic's index in `topics` (a handful of names: a short scan beats a map).
    fn topic(&mut self, name: &str) -> usize {
        if let Some(i) = self.topics.iter().position(|t| &**t == name) {
            return i;
        }
        self.topics.push(Arc::from(name));
        self.topics.len() - 1
    }

    fn push(
        &mut self,
        m: &BorrowedMessage<'_>,
        c: &Counters,
        assignments: u64,
        gaps: &IntCounterVec,
    ) {
        let ti = self.topic(m.topic());
        let topic = &self.topics[ti];
        let (partition, offset) = (m.partition(), m.offset());
        if assignments != self.assignments_seen {
            self.next.clear();
            self.assignments_seen = assignments;
        }
        let want = self.next.entry((ti, partition)).or_insert(offset);
        if offset > *want {
            gaps.with_label_values(&[topic])
                .inc_by((offset - *want) as u64);
            debug!(%topic, partition, expected = *want, got = offset, "kafka: offsets skipped");
        }
        *want = offset + 1;
        match self
            .spans
            .iter_mut()
            .find(|(t, p, _)| *p == partition && Arc::ptr_eq(t, topic))
        {
            Some(span) => span.2 = offset,
            None => self.spans.push((topic.clone(), partition, offset)),
        }
        let payload = m.payload().unwrap_or_default();
        c.bytes_in.inc_by(payload.len() as u64);
        if payload.is_empty() {
            c.empty.inc();
            return;
        }
        if memchr::memchr(0, payload).is_some() {
            c.binary.inc();
            return;
        }
        let line = if payload.len() > self.max_message {
            c.truncated.inc();
            &payload[..self.max_message]
        } else {
            payload
        };
        if self.batch.buf.capacity() == 0 {
            self.batch.buf.reserve(self.limit + self.limit / 8);
        }
        self.batch.push_line(line, None);
        self.batch.messages.push(MessageRef {
            end: self.batch.buf.len(),
            topic: topic.clone(),
            partition,
            offset,
        });
        self.lines += 1;
    }

    /// Closes the batch: its segments open in the tracker, its receipt settles them.
    fn seal(&mut self, tracker: &Arc<Tracker>, c: &Counters) -> Batch {
        let tickets = tracker.open(&self.spans);
        self.spans.clear();
        c.events_in.inc_by(std::mem::take(&mut self.lines));
        let mut batch = std::mem::replace(&mut self.batch, Batch::new(SourceKind::Kafka));
        let t = tracker.clone();
        batch.receipt = Some(Receipt::new(move || t.settle(&tickets)));
        batch
    }
}

/// The sealed batch that waits for room in the matcher queue, and the queue's sending end.
/// Shared with the rebalance callback, which keeps handing the batch over while it waits.
struct Outbox {
    tx: Mutex<Option<BatchSender>>,
    ready: Mutex<Option<Batch>>,
}

enum Flush {
    Empty,
    Sent,
    Full,
    Closed,
}

impl Outbox {
    fn new(tx: BatchSender) -> Outbox {
        Outbox {
            tx: Mutex::new(Some(tx)),
            ready: Mutex::new(None),
        }
    }

    fn put(&self, batch: Batch) {
        let mut r = lock(&self.ready);
        debug_assert!(r.is_none());
        *r = Some(batch);
    }

    fn is_empty(&self) -> bool {
        lock(&self.ready).is_none()
    }

    /// Hands the waiting batch to the matcher queue, waiting up to `wait` for room
    /// (`Duration::ZERO`: only if there is room now).
    fn flush(&self, wait: Duration) -> Flush {
        let mut ready = lock(&self.ready);
        let Some(batch) = ready.take() else {
            return Flush::Empty;
        };
        let tx = lock(&self.tx);
        let Some(tx) = tx.as_ref() else {
            return Flush::Closed;
        };
        let sent = if wait.is_zero() {
            tx.try_send(batch).map_err(|e| match e {
                TrySendError::Full(b) => Some(b),
                TrySendError::Disconnected(_) => None,
            })
        } else {
            tx.send_timeout(batch, wait).map_err(|e| match e {
                crossbeam_channel::SendTimeoutError::Timeout(b) => Some(b),
                crossbeam_channel::SendTimeoutError::Disconnected(_) => None,
            })
        };
        match sent {
            Ok(()) => Flush::Sent,
            Err(Some(b)) => {
                *ready = Some(b);
                Flush::Full
            }
            Err(None) => Flush::Closed,
        }
    }

    fn close(&self) {
        lock(&self.tx).take();
        lock(&self.ready).take();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
