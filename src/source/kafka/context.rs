//! The consumer's callbacks (rebalances, commits, statistics): ownership changes reach the
//! tracker, and a revoked partition waits for its deliveries before it is given up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::{info, warn};

use crate::telemetry::Metrics;

use super::*;

/// The consumer's callbacks: rebalances, commits, statistics.
pub(super) struct Ctx {
    pub(super) tracker: Arc<Tracker>,
    pub(super) outbox: Arc<Outbox>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) revoke_timeout: Duration,
}

pub(super) fn partitions(tpl: &TopicPartitionList) -> Vec<(Arc<str>, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (Arc::from(e.topic()), e.partition()))
        .collect()
}

impl ClientContext for Ctx {
    fn stats(&self, stats: Statistics) {
        for (name, topic) in &stats.topics {
            for (id, p) in &topic.partitions {
                if *id >= 0 && p.consumer_lag >= 0 {
                    self.metrics
                        .kafka
                        .consumer_lag
                        .with_label_values(&[name.as_str(), &id.to_string()])
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let parts = partitions(tpl);
                if consumer.assignment_lost() {
                    self.metrics
                        .kafka
                        .rebalances
                        .with_label_values(&["lost"])
                        .inc();
                    let open = self.tracker.revoke(&parts);
                    warn!(
                        partitions = parts.len(),
                        in_flight = open,
                        "kafka assignment lost; nothing committed for it"
                    );
                    return;
                }
                self.metrics
                    .kafka
                    .rebalances
                    .with_label_values(&["revoke"])
                    .inc();
                let end = Instant::now() + self.revoke_timeout;
                while self.tracker.in_flight(Some(&parts)) && Instant::now() < end {
                    let _ = self.outbox.flush(Duration::ZERO);
                    self.tracker.wait(Duration::from_millis(20));
                }
                let ready = self.tracker.take_ready(Some(&parts));
                if !ready.is_empty() {
                    store(consumer, &ready);
                    let mut tpl = TopicPartitionList::new();
                    for (t, p, o) in &ready {
                        let _ = tpl.add_partition_offset(t, *p, Offset::Offset(*o));
                    }
                    if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
                        warn!(error = %e, "kafka: commit on revoke failed");
                    }
                }
                let open = self.tracker.revoke(&parts);
                if open > 0 {
                    for (t, _) in &parts {
                        self.metrics
                            .kafka
                            .revoke_abandoned
                            .with_label_values(&[t])
                            .inc();
                    }
                    warn!(
                        partitions = parts.len(), in_flight = open, waited = ?self.revoke_timeout,
                        "kafka partitions revoked with alerts still in flight; their next owner reads them again"
                    );
                } else {
                    info!(partitions = parts.len(), "kafka partitions revoked");
                }
            }
            Rebalance::Assign(_) => {}
            Rebalance::Error(e) => {
                self.metrics
                    .kafka
                    .rebalances
                    .with_label_values(&["error"])
                    .inc();
                warn!(error = %e, "kafka rebalance error");
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.metrics
                .kafka
                .rebalances
                .with_label_values(&["assign"])
                .inc();
            self.tracker.assign(&partitions(tpl));
            info!(partitions = tpl.count(), "kafka partitions assigned");
        }
        if let Ok(a) = consumer.assignment() {
            self.metrics.kafka.assigned_partitions.set(a.count() as i64);
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                self.metrics.kafka.commits.with_label_values(&["ok"]).inc();
                for e in offsets.elements() {
                    if let Offset::Offset(o) = e.offset() {
                        self.metrics
                            .kafka
                            .committed_offset
                            .with_label_values(&[e.topic(), &e.partition().to_string()])
                            .set(o);
                    }
                }
            }
            // librdkafka reports "no offset to commit" as an error; it is not one.
            Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            )) => {}
            Err(e) => {
                self.metrics
                    .kafka
                    .commits
                    .with_label_values(&["error"])
                    .inc();
                warn!(error = %e, "kafka offset commit failed");
            }
        }
    }
}
