//! Kafka as the history: the topics themselves, read by a consumer of the retro job's own.
//!
//! It is never a member of the live group: it is assigned partitions by hand, commits
//! nothing (`enable.auto.commit` off, no commit calls), and reads only the partitions this
//! instance owns in the live group at the time of the reload, so scaled-out instances share
//! the history as they share the live partitions. A partition's span starts at the offset
//! of `now - lookback` (`offsets_for_times`; a broker that cannot answer it: the earliest
//! offset, with older messages skipped by their timestamp) and ends where live matching
//! is (the live consumer's position; nothing read yet: the group's committed offset; none:
//! the end of the partition).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::{info, warn};

use super::state::{Span, Step};
use crate::config::KafkaSourceConfig;
use crate::model::{Batch, MessageRef, SourceKind};
use crate::source::kafka::Tracker;

/// Bytes of messages per step (one scan).
const STEP_BYTES: usize = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(10);

/// The Kafka history of the partitions this instance owns.
pub struct KafkaHistory {
    cfg: KafkaSourceConfig,
    tracker: Arc<Tracker>,
    consumer: Option<BaseConsumer>,
    /// The partition assigned, and the offset the next message should have.
    assigned: Option<(String, i32, i64)>,
    /// Messages older than this (ms) are skipped: the lookback, when the broker could not
    /// find the offset for it.
    since_ms: i64,
}

impl KafkaHistory {
    pub fn new(cfg: &KafkaSourceConfig, tracker: Arc<Tracker>) -> KafkaHistory {
        KafkaHistory {
            cfg: cfg.clone(),
            tracker,
            consumer: None,
            assigned: None,
            since_ms: 0,
        }
    }

    fn consumer(&mut self) -> Option<&BaseConsumer> {
        if self.consumer.is_none() {
            let mut cc = ClientConfig::new();
            cc.set("client.id", "iocd-retro");
            for (k, v) in &self.cfg.options {
                cc.set(k, v);
            }
            // The live group's id, to read its committed offsets; never joined (manual
            // assignment), never committed to.
            cc.set("bootstrap.servers", &self.cfg.brokers)
                .set("group.id", &self.cfg.group_id)
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("auto.offset.reset", "earliest");
            match cc.create::<BaseConsumer>() {
                Ok(c) => self.consumer = Some(c),
                Err(e) => {
                    warn!(error = %e, "retro: cannot create the Kafka history consumer");
                    return None;
                }
            }
        }
        self.consumer.as_ref()
    }

    /// A span per partition owned now, from `since_ns` to the live position.
    pub(super) fn spans(&mut self, since_ns: u64) -> Vec<Span> {
        let owned = self.tracker.positions();
        if owned.is_empty() {
            return Vec::new();
        }
        let since_ms = (since_ns / 1_000_000) as i64;
        self.since_ms = since_ms;
        let Some(c) = self.consumer() else {
            return Vec::new();
        };
        let mut times = TopicPartitionList::new();
        let mut committed_q = TopicPartitionList::new();
        for (t, p, _) in &owned {
            let _ = times.add_partition_offset(t, *p, Offset::Offset(since_ms));
            committed_q.add_partition(t, *p);
        }
        let froms = c.offsets_for_times(times, TIMEOUT).ok();
        let committed = c.committed_offsets(committed_q, TIMEOUT).ok();
        let mut spans = Vec::new();
        for (t, p, pos) in owned {
            let Ok((low, high)) = c.fetch_watermarks(&t, p, TIMEOUT) else {
                warn!(topic = %t, partition = p, "retro: cannot read the partition's offsets; its history is not searched");
                continue;
            };
            let from = match froms
                .as_ref()
                .and_then(|l| l.find_partition(&t, p))
                .map(|e| e.offset())
            {
                Some(Offset::Offset(o)) => o,
                // No message at or after the time: nothing in the lookback.
                Some(Offset::End) => high,
                _ => low,
            };
            let to = pos
                .or_else(
                    || match committed.as_ref()?.find_partition(&t, p)?.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    },
                )
                .unwrap_or(high)
                .min(high);
            let from = from.max(low);
            if from < to {
                spans.push(Span::Kafka {
                    topic: t.to_string(),
                    partition: p,
                    from,
                    to,
                });
            }
        }
        info!(partitions = spans.len(), "retro: Kafka history to search");
        spans
    }

    /// Reads up to a megabyte of messages of `topic`/`partition` from `pos` (not past
    /// `to`) and hands them to `emit` as one batch.
    pub(super) fn step(
        &mut self,
        topic: &str,
        partition: i32,
        pos: i64,
        to: i64,
        emit: &mut dyn FnMut(&Batch) -> (u64, u64),
    ) -> Step {
        let max_message = self.cfg.max_message_bytes;
        let since_ms = self.since_ms;
        let needs_assign = self
            .assigned
            .as_ref()
            .is_none_or(|(t, p, next)| t != topic || *p != partition || *next != pos);
        let Some(c) = self.consumer() else {
            return Step::done_at(to);
        };
        if needs_assign {
            let mut tpl = TopicPartitionList::new();
            let _ = tpl.add_partition_offset(topic, partition, Offset::Offset(pos));
            if let Err(e) = c.assign(&tpl) {
                warn!(error = %e, topic, partition, "retro: cannot assign a partition; its history is not searched");
                return Step::done_at(to);
            }
        }
        let topic_arc: Arc<str> = Arc::from(topic);
        let mut batch = Batch::new(SourceKind::Kafka);
        let mut step = Step::done_at(pos);
        let mut empty_polls = 0;
        while batch.buf.len() < STEP_BYTES && step.next < to {
            let Some(r) = c.poll(Duration::from_millis(500)) else {
                empty_polls += 1;
                // The messages may be gone (retention) or the partition shorter than
                // thought: ask where it is.
                if let Ok((low, high)) = c.fetch_watermarks(topic, partition, TIMEOUT) {
                    if step.next >= high {
                        step.next = to;
                        break;
                    }
                    if step.next < low {
                        step.next = low;
                        let mut tpl = TopicPartitionList::new();
                        let _ = tpl.add_partition_offset(topic, partition, Offset::Offset(low));
                        let _ = c.assign(&tpl);
                        continue;
                    }
                }
                if empty_polls >= 20 {
                    warn!(
                        topic,
                        partition,
                        at = step.next,
                        to,
                        "retro: the partition gives no more messages; the rest of its span is skipped"
                    );
                    step.next = to;
                    break;
                }
                continue;
            };
            let m = match r {
                Ok(m) => m,
                Err(e) => {
                    warn!(error = %e, topic, partition, "retro: Kafka read error");
                    empty_polls += 1;
                    if empty_polls >= 20 {
                        step.next = to;
                        break;
                    }
                    continue;
                }
            };
            let offset = m.offset();
            if offset >= to {
                step.next = to;
                break;
            }
            step.next = offset + 1;
            let ts = m.timestamp().to_millis();
            if ts.is_some_and(|t| t < since_ms) {
                continue;
            }
            let payload = m.payload().unwrap_or_default();
            if payload.is_empty() || memchr::memchr(0, payload).is_some() {
                continue;
            }
            let line = &payload[..payload.len().min(max_message)];
            let first = batch.buf.is_empty();
            batch.push_line(line, None);
            if first && let Some(t) = ts {
                // The batch's arrival is its first message's time: what lines without a
                // time of their own are alerted at.
                batch.arrival_ns = (t.max(0) as u64).saturating_mul(1_000_000);
            }
            batch.messages.push(MessageRef {
                end: batch.buf.len(),
                topic: topic_arc.clone(),
                partition,
                offset,
            });
            if let Some(t) = ts {
                step.saw((t.max(0) as u64).saturating_mul(1_000_000));
            }
        }
        self.assigned = Some((topic.to_owned(), partition, step.next));
        if !batch.buf.is_empty() {
            let (bytes, lines) = emit(&batch);
            step.bytes += bytes;
            step.lines += lines;
        }
        step
    }
}
