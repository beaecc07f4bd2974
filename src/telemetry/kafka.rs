//! Kafka metrics: the consumer group's view (lag, commits, rebalances, skipped messages) and
//! the producer's (errors by librdkafka error code). Registered with the other metrics by
//! [`super::Metrics::new`]; the same naming rule applies.

use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Registry};

pub struct KafkaMetrics {
    /// Messages behind the partition's end, by topic and partition (from librdkafka's
    /// statistics, every `statistics.interval.ms`).
    pub consumer_lag: IntGaugeVec,
    /// Last offset committed, by topic and partition (the next message to read).
    pub committed_offset: IntGaugeVec,
    /// Offset commits, by result (`ok`, `error`).
    pub commits: IntCounterVec,
    /// Rebalances, by kind (`assign`, `revoke`, `lost`, `error`).
    pub rebalances: IntCounterVec,
    /// Partitions assigned to this instance.
    pub assigned_partitions: IntGauge,
    /// Batches read from Kafka whose alerts are not all delivered yet.
    pub inflight_batches: IntGauge,
    /// Messages passed without matching, by reason (`empty`, `binary`); their offsets commit.
    pub skipped: IntCounterVec,
    /// Revoked partitions given up with work still in flight (read again by their next owner).
    pub revoke_abandoned: IntCounterVec,
    /// Offsets skipped between consecutive messages of a partition, by topic.
    pub offset_gaps: IntCounterVec,
    /// Errors the consumer reported (broker connections lost, ...), by librdkafka error.
    pub client_errors: IntCounterVec,
    /// Delivery failures reported by the producer, by sink and librdkafka error.
    pub producer_errors: IntCounterVec,
}

impl KafkaMetrics {
    pub fn register(registry: &Registry) -> KafkaMetrics {
        let f = super::families::Families(registry);
        KafkaMetrics {
            consumer_lag: f.gauges(
                "iocd_kafka_consumer_lag_messages",
                "Messages behind the end of the partition, by topic and partition.",
                &["topic", "partition"],
            ),
            committed_offset: f.gauges(
                "iocd_kafka_committed_offset",
                "Last committed offset (next message to read), by topic and partition.",
                &["topic", "partition"],
            ),
            commits: f.counters(
                "iocd_kafka_commits_total",
                "Offset commits, by result.",
                &["result"],
            ),
            rebalances: f.counters(
                "iocd_kafka_rebalances_total",
                "Consumer group rebalances, by kind.",
                &["kind"],
            ),
            assigned_partitions: f.gauge(
                "iocd_kafka_assigned_partitions",
                "Partitions assigned to this instance.",
            ),
            inflight_batches: f.gauge(
                "iocd_kafka_inflight_batches",
                "Batches read from Kafka whose alerts are not all delivered yet.",
            ),
            skipped: f.counters(
                "iocd_kafka_skipped_messages_total",
                "Messages passed without matching (offsets still commit), by reason.",
                &["reason"],
            ),
            revoke_abandoned: f.counters(
                "iocd_kafka_revoke_abandoned_total",
                "Revoked partitions given up with alerts still in flight, by topic.",
                &["topic"],
            ),
            offset_gaps: f.counters(
                "iocd_kafka_offset_gap_messages_total",
                "Offsets skipped between consecutive messages of a partition, by topic \
                 (compaction and transaction markers make gaps; on a plain topic a gap means \
                 the broker did not return records).",
                &["topic"],
            ),
            client_errors: f.counters(
                "iocd_kafka_consumer_errors_total",
                "Errors the Kafka consumer reported, by librdkafka error.",
                &["error"],
            ),
            producer_errors: f.counters(
                "iocd_kafka_producer_errors_total",
                "Delivery failures reported by the Kafka producer, by sink and error.",
                &["sink", "error"],
            ),
        }
    }
}
