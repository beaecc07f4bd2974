//! The Kafka sink: alerts produced to a topic.
//!
//! The producer is idempotent with `acks=all` and no local message timeout: librdkafka keeps
//! retrying an alert until the cluster has it in every in-sync replica, without duplicates or
//! reordering from its own retries. The record key is the alert's key (indicator and host),
//! hashed with `murmur2_random` like the Java client, so one indicator on one host stays on
//! one partition, in order.
//!
//! An alert is released from the sink's queue, and its batch's receipt settled, only when its
//! delivery report says the cluster has it: that report is what lets the Kafka source commit
//! the offsets behind it. Every taken alert is in flight at once (librdkafka batches them);
//! the queue's bound (`buffer_max_events`) is the bound on alerts in flight, so a cluster that
//! is down fills the buffer and then makes the pipeline wait.
//!
//! A delivery that fails all the same (a record the broker will never take, such as one over
//! `message.max.bytes`) is counted in `iocd_kafka_producer_errors_total` by error and goes to
//! the sink's dead-letter file (`dead_letter`, as for HTTP sinks), or, without one, to the
//! error log in full; a failure that can pass (a broker gone, a leader moving, the local
//! queue full) is retried with backoff.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tracing::warn;

use super::dead_letter::DeadLetter;

use super::{Queue, SinkCtx, SinkErrorKind};
use crate::config::KafkaSinkConfig;
use crate::model::AlertRecord;
use crate::retry::Backoff;

/// Alerts taken from the queue per round; all of them go in flight.
const TAKE: usize = 1024;

pub(super) struct KafkaSink {
    producer: FutureProducer,
    topic: String,
    brokers: String,
}

impl fmt::Display for KafkaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kafka topic {} on {}", self.topic, self.brokers)
    }
}

impl KafkaSink {
    /// Makes the producer (no connection yet: a cluster that is down is not an error, the
    /// sink holds its alerts and retries).
    pub(super) fn new(cfg: &KafkaSinkConfig) -> Result<KafkaSink, SinkErrorKind> {
        let mut cc = ClientConfig::new();
        for (k, v) in &cfg.options {
            cc.set(k, v);
        }
        cc.set("bootstrap.servers", &cfg.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // 0: no local timeout; an alert is retried until the cluster takes it.
            .set("message.timeout.ms", "0");
        if !cfg.options.contains_key("partitioner") {
            cc.set("partitioner", "murmur2_random");
        }
        if !cfg.options.contains_key("client.id") {
            cc.set("client.id", "iocd");
        }
        let producer: FutureProducer = cc
            .create()
            .map_err(|e| SinkErrorKind::Kafka(e.to_string()))?;
        Ok(KafkaSink {
            producer,
            topic: cfg.topic.clone(),
            brokers: cfg.brokers.clone(),
        })
    }

    /// Produces `alert` and waits for its delivery report.
    async fn produce(&self, alert: AlertRecord) -> (AlertRecord, Result<(), KafkaError>) {
        let mut backoff =
            Backoff::new(Duration::from_millis(10), Duration::from_millis(500)).delays();
        loop {
            let record = FutureRecord::to(&self.topic)
                .key(alert.key.as_bytes())
                .payload(&alert.json[..])
                .timestamp(alert.time.saturating_mul(1000));
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    let r = match delivery.await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err((e, _))) => Err(e),
                        Err(_canceled) => Err(KafkaError::Canceled),
                    };
                    return (alert, r);
                }
                // librdkafka's own queue is full: wait for room.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err((e, _)) => return (alert, Err(e)),
            }
        }
    }
}

/// Whether retrying can ever make the cluster take the record.
fn is_permanent(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::MessageSizeTooLarge
                | C::InvalidMessageSize
                | C::InvalidMessage
                | C::MessageBatchTooLarge
                | C::InvalidRecord
                | C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::InvalidTopic
        )
    )
}

fn error_label(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => "other".to_owned(),
    }
}

/// One delivery attempt after `delay`, timed from when it is sent.
async fn attempt(
    sink: Arc<KafkaSink>,
    alert: AlertRecord,
    delay: Duration,
) -> ((AlertRecord, Result<(), KafkaError>), Instant) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let started = Instant::now();
    (sink.produce(alert).await, started)
}

/// The task of a Kafka sink.
pub(super) async fn run(queue: Arc<Queue>, sink: KafkaSink, dead: DeadLetter, ctx: SinkCtx) {
    let sink = Arc::new(sink);
    let mut inflight = FuturesUnordered::new();
    let mut taken: Vec<AlertRecord> = Vec::with_capacity(TAKE);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10)).delays();
    loop {
        queue.take(TAKE, &mut taken);
        for a in taken.drain(..) {
            inflight.push(attempt(sink.clone(), a, Duration::ZERO));
        }
        if inflight.is_empty() {
            if queue.is_closed() && queue.pending() == 0 {
                break;
            }
            queue.wait().await;
            continue;
        }
        let ((alert, result), started) = tokio::select! {
            Some(done) = inflight.next() => done,
            _ = queue.wait() => continue,
        };
        match result {
            Ok(()) => {
                ctx.latency.observe(started.elapsed().as_secs_f64());
                ctx.delivered(std::slice::from_ref(&alert));
                queue.release(1);
                backoff.reset();
            }
            Err(e) => {
                ctx.errors.inc();
                ctx.metrics
                    .kafka
                    .producer_errors
                    .with_label_values(&[ctx.name.as_str(), error_label(&e).as_str()])
                    .inc();
                if is_permanent(&e) {
                    // To the dead-letter file, else logged in full and counted as dropped.
                    let detail = format!("the Kafka cluster refused it for good: {e}");
                    ctx.refused(&queue, &dead, &alert, None, "refused", &detail);
                } else {
                    let delay = backoff.next_delay();
                    warn!(
                        sink = %ctx.name, error = %e, retry_in = ?delay,
                        "Kafka delivery failed; holding the alert and retrying"
                    );
                    ctx.retries.inc();
                    inflight.push(attempt(sink.clone(), alert, delay));
                }
            }
        }
    }
    // Everything was delivered; nothing is left in librdkafka's queue either.
    let _ = sink.producer.flush(Duration::from_secs(1));
}
