//! The commit tracker: per-partition segments of messages in read order, and the offset that
//! can be committed once every alert of the messages before it was delivered.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::telemetry::Metrics;

use super::*;

/// Per-partition segments in read order, and what can be committed. See the module docs.
pub struct Tracker {
    pub(super) state: Mutex<TrackState>,
    /// Changes of ownership so far (assign or revoke), read per message without the lock.
    pub(super) assignments: std::sync::atomic::AtomicU64,
    pub(super) settled: Condvar,
    pub(super) metrics: Arc<Metrics>,
}

#[derive(Default)]
pub(super) struct TrackState {
    pub(super) parts: HashMap<(Arc<str>, i32), Part>,
    pub(super) next_epoch: u64,
}

pub(super) struct Part {
    pub(super) epoch: u64,
    pub(super) segs: VecDeque<Seg>,
    pub(super) next_id: u64,
    /// The next offset to read: everything before it was delivered.
    pub(super) done_to: Option<i64>,
    /// What was last handed to `store_offsets`.
    pub(super) stored: Option<i64>,
}

pub(super) struct Seg {
    pub(super) id: u64,
    pub(super) last: i64,
    pub(super) done: bool,
}

/// One batch's segment in one partition.
pub struct Ticket {
    pub(super) topic: Arc<str>,
    pub(super) partition: i32,
    pub(super) epoch: u64,
    pub(super) id: u64,
}

impl Tracker {
    pub fn new(metrics: Arc<Metrics>) -> Tracker {
        Tracker {
            state: Mutex::new(TrackState::default()),
            assignments: std::sync::atomic::AtomicU64::new(0),
            settled: Condvar::new(),
            metrics,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, TrackState> {
        lock(&self.state)
    }

    /// How many times the assignment changed.
    pub(crate) fn assignments(&self) -> u64 {
        self.assignments.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Partitions now owned: a fresh epoch each.
    pub fn assign(&self, parts: &[(Arc<str>, i32)]) {
        self.assignments
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let mut st = self.lock();
        for (t, p) in parts {
            st.next_epoch += 1;
            let epoch = st.next_epoch;
            st.parts.insert(
                (t.clone(), *p),
                Part {
                    epoch,
                    segs: VecDeque::new(),
                    next_id: 0,
                    done_to: None,
                    stored: None,
                },
            );
        }
    }

    /// The partitions owned now, each with the next offset live matching reads (`None`:
    /// nothing read from it since it was assigned).
    pub fn positions(&self) -> Vec<(Arc<str>, i32, Option<i64>)> {
        let st = self.lock();
        st.parts
            .iter()
            .map(|((t, p), part)| {
                let read = part.segs.back().map(|s| s.last + 1);
                let pos = match (read, part.done_to) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                (t.clone(), *p, pos)
            })
            .collect()
    }

    /// Forgets partitions; returns how many segments were still in flight.
    pub(crate) fn revoke(&self, parts: &[(Arc<str>, i32)]) -> usize {
        self.assignments
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let mut st = self.lock();
        let mut open = 0;
        for key in parts {
            if let Some(p) = st.parts.remove(key) {
                open += p.segs.len();
                self.metrics.kafka.inflight_batches.sub(p.segs.len() as i64);
            }
        }
        open
    }

    /// Opens a segment per `(topic, partition, last offset)` of an owned partition.
    pub fn open(&self, spans: &[(Arc<str>, i32, i64)]) -> Vec<Ticket> {
        let mut st = self.lock();
        let mut tickets = Vec::with_capacity(spans.len());
        for (t, p, last) in spans {
            if let Some(part) = st.parts.get_mut(&(t.clone(), *p)) {
                let id = part.next_id;
                part.next_id += 1;
                part.segs.push_back(Seg {
                    id,
                    last: *last,
                    done: false,
                });
                tickets.push(Ticket {
                    topic: t.clone(),
                    partition: *p,
                    epoch: part.epoch,
                    id,
                });
                self.metrics.kafka.inflight_batches.inc();
            }
        }
        tickets
    }

    /// A batch is delivered: its segments are done, and fronts advance.
    pub fn settle(&self, tickets: &[Ticket]) {
        let mut st = self.lock();
        for tk in tickets {
            let Some(part) = st.parts.get_mut(&(tk.topic.clone(), tk.partition)) else {
                continue;
            };
            if part.epoch != tk.epoch {
                continue;
            }
            if let Some(seg) = part.segs.iter_mut().find(|s| s.id == tk.id) {
                seg.done = true;
            }
            while part.segs.front().is_some_and(|s| s.done) {
                let seg = part.segs.pop_front().expect("front exists");
                part.done_to = Some(seg.last + 1);
                self.metrics.kafka.inflight_batches.dec();
            }
        }
        drop(st);
        self.settled.notify_all();
    }

    /// Offsets that advanced since last asked, for `only` these partitions (all when None).
    pub(crate) fn take_ready(&self, only: Option<&[(Arc<str>, i32)]>) -> Vec<(Arc<str>, i32, i64)> {
        let mut st = self.lock();
        let mut out = Vec::new();
        for ((t, p), part) in st.parts.iter_mut() {
            if only.is_some_and(|o| !o.iter().any(|(ot, op)| ot == t && op == p)) {
                continue;
            }
            if let Some(o) = part.done_to
                && part.stored != Some(o)
            {
                part.stored = Some(o);
                out.push((t.clone(), *p, o));
            }
        }
        out
    }

    /// Every owned partition with something done, at its committable offset.
    pub(super) fn committable(&self) -> TopicPartitionList {
        let st = self.lock();
        let mut tpl = TopicPartitionList::new();
        for ((t, p), part) in &st.parts {
            if let Some(o) = part.done_to {
                let _ = tpl.add_partition_offset(t, *p, Offset::Offset(o));
            }
        }
        tpl
    }

    /// Whether any of `parts` (all when None) has a segment in flight.
    pub(crate) fn in_flight(&self, only: Option<&[(Arc<str>, i32)]>) -> bool {
        let st = self.lock();
        st.parts.iter().any(|((t, p), part)| {
            !part.segs.is_empty()
                && only.is_none_or(|o| o.iter().any(|(ot, op)| ot == t && op == p))
        })
    }

    pub(crate) fn is_idle(&self) -> bool {
        !self.in_flight(None)
    }

    /// Waits up to `d` for a settle.
    pub(super) fn wait(&self, d: Duration) {
        let st = self.lock();
        let _ = self.settled.wait_timeout(st, d);
    }
}
