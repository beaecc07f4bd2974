//! The matcher threads: batches in, alerts out.
//!
//! Each thread takes a [`Batch`] from the bounded queue, loads the current indicator set once
//! (one atomic load of an `ArcSwap`; a reload swaps the pointer and never waits for a worker),
//! scans the whole batch in one call, and only for lines with hits decodes the syslog header and
//! the line's fields (with the batch's Zeek header, for Zeek TSV; [`DecodedLine`]), asks [`Triage`] what the hits become (suppressed, counted in a window,
//! or an alert of some priority) and builds the alerts. Counters are kept in locals and added to the metrics once per batch. The
//! scratch, the hit list and the alert buffer are reused, so a batch without hits allocates
//! nothing.
//!
//! A thread ends when the queue is closed and empty: closing the queue is how shutdown drains
//! it.

use std::sync::Arc;
use std::time::SystemTime;

use super::retro::Spool;
use crate::alert::{
    Arrival, Context, DecodedLine, KafkaOrigin, Origin, SyslogFields, TriageFields,
    add_split_url_hits, write_typed,
};
use crate::decode::event::is_private_default;
use crate::model::{
    AlertPriority, AlertRecord, Batch, BatchReceiver, SharedSet, Snapshot, SourceKind,
};
use crate::telemetry::Metrics;
use crate::time::{Digits, rfc3339_system};
use crate::triage::{LineHits, Tally, Triage, Verdict};
use iocd_engine::for_each_hit_line;
use iocd_engine::{Hit, IocKind, IocSet, Scratch};

/// Where alerts go: `sink::SinkSender::send_blocking` in the daemon, a collector in tests. It
/// may block; that is how a slow sink slows the sources down.
pub(crate) type AlertOut = Arc<dyn Fn(AlertRecord) + Send + Sync>;

/// Reads a syslog header for an alert (decoding happens only for lines with hits).
pub(crate) type HeaderDecoder = fn(&[u8]) -> Option<SyslogFields>;

/// Starts `n` matcher threads; an error if the system refuses one (the threads already
/// started end once the queue's senders are gone).
#[allow(clippy::too_many_arguments)]
pub(crate) fn try_spawn(
    n: usize,
    rx: BatchReceiver,
    set: SharedSet,
    out: AlertOut,
    decode: HeaderDecoder,
    metrics: Arc<Metrics>,
    triage: Option<Arc<Triage>>,
    spool: Option<Arc<Spool>>,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    (0..n.max(1))
        .map(|i| {
            let (rx, set, out, metrics) = (rx.clone(), set.clone(), out.clone(), metrics.clone());
            let (triage, spool) = (triage.clone(), spool.clone());
            std::thread::Builder::new()
                .name(format!("iocd-match-{i}"))
                .spawn(move || run(rx, set, out, decode, metrics, triage, spool))
        })
        .collect()
}

fn run(
    rx: BatchReceiver,
    set: SharedSet,
    out: AlertOut,
    decode: HeaderDecoder,
    metrics: Arc<Metrics>,
    triage: Option<Arc<Triage>>,
    spool: Option<Arc<Spool>>,
) {
    let mut tally = Tally::default();
    let mut scratch = Scratch::new();
    let mut hits: Vec<Hit> = Vec::new();
    let mut json = Vec::new();
    let by_kind: Vec<_> = IocKind::ALL
        .iter()
        .map(|k| metrics.matches.with_label_values(&[k.as_str()]))
        .collect();
    for batch in rx.iter() {
        metrics.queue_depth.set(rx.len() as i64);
        let snap = set.load_full();
        scan(&snap.set, &batch, &mut scratch, &mut hits);
        if !hits.is_empty() {
            count_by_kind(&by_kind, &snap.set, &hits);
            let now = SystemTime::now();
            let stamp = rfc3339_system(now, Digits::Millis);
            Emitter {
                batch: &batch,
                snap: &snap,
                json: &mut json,
                out: &out,
                decode,
                triage: triage.as_deref(),
                tally: &mut tally,
                metrics: &metrics,
                now: &stamp,
                secs: now
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64),
                retro: None,
            }
            .batch(&hits);
            if let Some(t) = &triage {
                t.flush(&mut tally);
            }
        }
        // Every alert of the batch is in the sinks' hands now (or there was none).
        if let Some(r) = &batch.receipt {
            r.settle();
        }
        metrics
            .match_latency
            .observe(batch.received.elapsed().as_secs_f64());
        // The spool keeps what has no history of its own (Kafka's topic is its history).
        if let Some(s) = &spool
            && batch.source != SourceKind::Kafka
        {
            s.offer(batch);
        }
    }
}

/// A retro job's part in making alerts: which job, what was already alerted (across
/// restarts), when the job's indicators arrived.
pub(crate) struct RetroLine {
    pub job: u64,
    /// When iocd got the job's indicators (Unix seconds): with an indicator's first-seen
    /// date, how long before its publication a line happened.
    pub added_at: i64,
    /// Hashes of the keys (indicator and host) alerted by this job, kept across restarts.
    pub alerted: std::collections::HashSet<u64>,
    /// Lines with hits.
    pub hit_lines: u64,
}

/// What a retro job does with one batch of history: the scan with the job's `snap` (the
/// added indicators), and for lines with hits the same decoding, triage and alert as live
/// matching, as `retro` alerts at the line's own time.
#[allow(clippy::too_many_arguments)]
pub(crate) fn retro_batch(
    batch: &Batch,
    snap: &Snapshot,
    scratch: &mut Scratch,
    hits: &mut Vec<Hit>,
    json: &mut Vec<u8>,
    out: &AlertOut,
    triage: Option<&Triage>,
    tally: &mut Tally,
    metrics: &Metrics,
    retro: &mut RetroLine,
) {
    scan(&snap.set, batch, scratch, hits);
    if hits.is_empty() {
        return;
    }
    let now = SystemTime::now();
    let stamp = rfc3339_system(now, Digits::Millis);
    Emitter {
        batch,
        snap,
        json,
        out,
        decode: crate::decode::syslog::alert_fields,
        triage,
        tally,
        metrics,
        now: &stamp,
        secs: now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        retro: Some(retro),
    }
    .batch(hits);
    if let Some(t) = triage {
        t.flush(tally);
    }
}

/// Every hit of `batch` into `hits`: the scan, and the URLs split across a line's fields.
fn scan(set: &IocSet, batch: &Batch, scratch: &mut Scratch, hits: &mut Vec<Hit>) {
    hits.clear();
    set.scan(&batch.buf, scratch, hits);
    // Lines that name the host of a URL indicator: is the URL split across their fields?
    if !scratch.url_host_tokens().is_empty() {
        let tokens = scratch.url_host_tokens().to_vec();
        let zeek = |_: usize| batch.zeek.as_deref();
        add_split_url_hits(set, &batch.buf, &tokens, zeek, scratch, hits);
    }
}

/// Adds the batch's hits to the matches counter of their kind, once per kind.
fn count_by_kind(by_kind: &[prometheus::IntCounter], set: &IocSet, hits: &[Hit]) {
    let mut counts = [0u64; 10];
    for h in hits {
        counts[set.kind(h.id).index()] += 1;
    }
    for (c, n) in by_kind.iter().zip(counts) {
        if n > 0 {
            c.inc_by(n);
        }
    }
}

/// A decoder panicked on `line`: counted, and logged with the start of the line (quoted) so
/// the bug can be reproduced.
fn decode_panicked(metrics: &Metrics, line: &[u8], panic: &(dyn std::any::Any + Send)) {
    metrics.decode_panics.inc();
    let what = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let head = String::from_utf8_lossy(&line[..line.len().min(256)]);
    tracing::error!(
        panic = ?what,
        line_bytes = line.len(),
        line_start = ?head,
        "a decoder panicked on a line; it is alerted without its decoded fields"
    );
}

/// What [`Emitter::line`] needs for every line of one batch.
struct Emitter<'a> {
    batch: &'a Batch,
    snap: &'a Snapshot,
    json: &'a mut Vec<u8>,
    out: &'a AlertOut,
    decode: HeaderDecoder,
    triage: Option<&'a Triage>,
    tally: &'a mut Tally,
    metrics: &'a Metrics,
    /// When the batch's alerts were made: RFC 3339 with milliseconds, and Unix seconds.
    now: &'a str,
    secs: i64,
    /// Set when a retro job replays history.
    retro: Option<&'a mut RetroLine>,
}

impl Emitter<'_> {
    /// The alerts for every line of the batch that has hits.
    fn batch(&mut self, hits: &[Hit]) {
        let buf = &self.batch.buf;
        for_each_hit_line(buf, hits, |start, end, line_hits| {
            self.line(start, end, line_hits)
        });
    }

    /// The alert (if any) for the line `buf[start..end]` and its hits.
    fn line(&mut self, start: usize, end: usize, line_hits: &[Hit]) {
        let line = &self.batch.buf[start..end];
        let (syslog, decoded) = self.decode_line(line);
        // History: the line's own time, else its syslog header's, else when it arrived.
        let retro_time = self.retro.is_some().then(|| {
            own_time(line, &decoded, syslog.as_ref())
                .unwrap_or((self.batch.arrival_ns / 1_000_000) as i64)
        });
        let verdict = match self.triage {
            Some(t) => match self.assess(t, line, syslog.as_ref(), &decoded, line_hits, retro_time)
            {
                // Suppressed, or only folded into digests.
                None => return,
                Some(v) => Some(v),
            },
            None => None,
        };
        if let Some(r) = self.retro.as_deref_mut() {
            r.hit_lines += 1;
            // Deduplicated over the whole job, across restarts: triage's windows do it
            // within one run, this set of keys across a restart in the middle of a job.
            // Without triage nothing is deduplicated: the key is the line's place.
            let key = match &verdict {
                Some(v) => v.key().to_string(),
                None => match self.batch.message_at(start) {
                    Some(m) => format!("{}|{}|{}", m.topic, m.partition, m.offset),
                    None => format!("{}|{}", self.batch.arrival_ns, start),
                },
            };
            if !r.alerted.insert(super::retro::key_hash(key.as_bytes())) {
                return;
            }
        }
        let shown: Vec<Hit> = match &verdict {
            Some(v) => v.kept.iter().map(|k| k.hit).collect(),
            None => line_hits.to_vec(),
        };
        let direction = verdict
            .as_ref()
            .map_or(decoded.facts.direction, |v| v.direction);
        let fields = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            decoded.fields(line, &shown, direction)
        }))
        .unwrap_or_else(|panic| {
            decode_panicked(self.metrics, line, panic.as_ref());
            None
        });
        let mut triaged = verdict.as_ref().map(TriageFields::of);
        if self.retro.is_some()
            && let Some(t) = triaged.as_mut()
        {
            t.alert_type = crate::triage::AlertType::Retro;
        }
        let (batch, generation) = (self.batch, self.snap.generation);
        let retro_stamp;
        let retro_fields;
        let mut cx = context(
            batch,
            self.now,
            generation,
            start,
            syslog,
            fields.as_ref(),
            triaged.as_ref(),
        );
        if let (Some(r), Some(at_ms)) = (self.retro.as_deref(), retro_time) {
            retro_stamp = crate::time::rfc3339_ms(at_ms, Digits::Millis);
            retro_fields =
                crate::alert::RetroFields::new(r.job, r.added_at, at_ms, &self.snap.set, &shown);
            cx.event_time = Some(&retro_stamp);
            cx.retro = Some(&retro_fields);
            cx.dataset = "iocd.retro";
        }

        self.json.clear();
        let finding = write_typed(self.json, &self.snap.set, line, &shown, &cx);
        let (priority, key) = match &verdict {
            Some(v) => (AlertPriority::Level(v.priority), v.key()),
            None => {
                let host = host_of(cx.syslog.as_ref(), cx.origin.peer);
                (
                    AlertPriority::Untriaged,
                    partition_key(&self.snap.set, line_hits, &host),
                )
            }
        };
        (self.out)(AlertRecord {
            json: Arc::from(self.json.as_slice()),
            time: self.secs,
            priority,
            key,
            receipt: self.batch.receipt.as_ref().map(|r| r.hold()),
            formats: Some(Arc::new(finding)),
        });
    }

    /// Decodes a line with hits: its syslog header (syslog sources) and its fields. The
    /// decoders read the adversary's text; one that panics on a line costs that line its
    /// fields, never the alert or the thread (counted and logged: it is a bug to fix).
    fn decode_line(&self, line: &[u8]) -> (Option<SyslogFields>, DecodedLine) {
        let triage = self.triage;
        let internal =
            |ip| triage.map_or_else(|| is_private_default(ip), |t| t.assets().is_internal(ip));
        let guarded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let syslog = if self.batch.source.is_syslog() {
                (self.decode)(line)
            } else {
                None
            };
            let zeek = self.batch.zeek.as_deref();
            (syslog, DecodedLine::new(line, zeek, internal))
        }));
        guarded.unwrap_or_else(|panic| {
            decode_panicked(self.metrics, line, panic.as_ref());
            (None, DecodedLine::undecoded(line, internal))
        })
    }

    /// What triage makes of the line's hits: `None` when they are suppressed or only folded
    /// into digests. Alerts it sends beside (roll-ups, flood reports) go out first.
    fn assess(
        &mut self,
        t: &Triage,
        line: &[u8],
        syslog: Option<&SyslogFields>,
        decoded: &DecodedLine,
        line_hits: &[Hit],
        known_ms: Option<i64>,
    ) -> Option<Verdict> {
        let at = t.line_time(known_ms.or_else(|| line_time(t, line, decoded, syslog)));
        t.catch_up(at);
        let hostname = syslog.and_then(|s| s.hostname.as_deref());
        let line = LineHits {
            set: &self.snap.set,
            generation: self.snap.generation,
            event: decoded.event.as_ref(),
            facts: &decoded.facts,
            hostname,
            hits: line_hits,
        };
        let a = t.assess_at(&line, self.tally, at);
        for o in a.extra {
            (self.out)(crate::alert::record(&o));
        }
        a.verdict.filter(|v| v.immediate)
    }
}

/// Where the alert for the line at `start` comes from, and what it carries.
fn context<'c>(
    batch: &'c Batch,
    now: &'c str,
    generation: u64,
    start: usize,
    syslog: Option<SyslogFields>,
    fields: Option<&'c crate::alert::LineFields>,
    triage: Option<&'c TriageFields<'c>>,
) -> Context<'c> {
    Context {
        now,
        origin: Origin {
            input: Some(batch.source.as_str()),
            file: batch.path.as_deref(),
            line: None,
            peer: batch.peer_at(start),
            kafka: batch.message_at(start).map(|m| KafkaOrigin {
                topic: &m.topic,
                partition: m.partition,
                offset: m.offset,
            }),
            offset: batch.offset_at(start),
            // What tells lines apart in `event.id` when the source has no position.
            arrival: Some(Arrival {
                batch_ns: batch.arrival_ns,
                at: start,
            }),
        },
        syslog,
        generation: Some(generation),
        dataset: "iocd.stream",
        line: fields,
        triage,
        ..Context::default()
    }
}

/// In event time, the time a line says (its fields', else its syslog header's) in Unix
/// milliseconds; triage bounds it by the event clock's allowance. `None` in arrival time.
fn line_time(
    t: &Triage,
    line: &[u8],
    decoded: &DecodedLine,
    syslog: Option<&SyslogFields>,
) -> Option<i64> {
    if !t.in_event_time() {
        return None;
    }
    own_time(line, decoded, syslog)
}

/// The time `line` says (its fields', else its syslog header's), in ms since the epoch.
fn own_time(line: &[u8], decoded: &DecodedLine, syslog: Option<&SyslogFields>) -> Option<i64> {
    crate::decode::time::event_time(line, decoded.event.as_ref(), None)
        .or_else(|| {
            let ts = syslog?.timestamp.as_deref()?;
            chrono::DateTime::parse_from_rfc3339(ts).ok()
        })
        .map(|d| d.timestamp_millis())
}

/// The host an untriaged alert is about: the syslog header's, else the sender's address.
fn host_of(syslog: Option<&SyslogFields>, peer: Option<std::net::SocketAddr>) -> String {
    syslog
        .and_then(|s| s.hostname.as_deref())
        .map(str::to_owned)
        .or_else(|| peer.map(|p| p.ip().to_string()))
        .unwrap_or_default()
}

/// `indicator|host` for the first indicator of the line: one indicator seen by one host
/// stays on one partition of a sharded sink, in order.
fn partition_key(set: &IocSet, hits: &[Hit], host: &str) -> Arc<str> {
    use std::fmt::Write;
    let mut key = String::new();
    if let Some(h) = hits.first() {
        let _ = write!(key, "{}", set.pattern(h.id));
    }
    key.push('|');
    key.push_str(host);
    Arc::from(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::SetBuilder;
    use crate::model::SourceKind;
    use std::sync::Mutex;

    fn snapshot(list: &str, generation: u64) -> Arc<Snapshot> {
        let mut b = SetBuilder::new();
        b.add_plain_list("t", "t.txt", list.as_bytes());
        Arc::new(Snapshot {
            set: b.build(),
            generation,
        })
    }

    /// A decoder that panics on a line costs that line its decoded fields, not its alert, and
    /// not the matcher thread: the next batch is still matched.
    #[test]
    fn a_panicking_decoder_loses_no_alert_and_no_thread() {
        let shared: SharedSet = Arc::new(arc_swap::ArcSwap::new(snapshot("1.2.3.4\n", 1)));
        let (out, got) = collector();
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = crossbeam_channel::bounded(4);
        let decode: HeaderDecoder = |line| {
            if line.starts_with(b"boom") {
                panic!("decoder bug on this line")
            }
            None
        };
        let workers = try_spawn(1, rx, shared, out, decode, metrics.clone(), None, None).unwrap();
        let peer = "127.0.0.1:9".parse().unwrap();
        for first in ["boom SRC=1.2.3.4 x", "fine SRC=1.2.3.4 y"] {
            let mut b = Batch::new(SourceKind::SyslogTcp);
            b.push_line(first.as_bytes(), Some(peer));
            tx.send(b).unwrap();
        }
        drop(tx);
        for w in workers {
            w.join().expect("the matcher thread survives the panic");
        }
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 2, "both lines alerted: {got:?}");
        assert_eq!(got[0]["event"]["original"], "boom SRC=1.2.3.4 x");
        assert_eq!(
            got[0]["threat"]["enrichments"][0]["matched"]["atomic"],
            "1.2.3.4"
        );
        assert!(
            got[0].get("host").is_none(),
            "no decoded header: {}",
            got[0]
        );
        assert_eq!(got[1]["event"]["original"], "fine SRC=1.2.3.4 y");
        assert_eq!(metrics.decode_panics.get(), 1);
    }

    /// An alert output that keeps the alerts, parsed.
    pub(super) fn collector() -> (AlertOut, Arc<Mutex<Vec<serde_json::Value>>>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let out: AlertOut = Arc::new(move |a: AlertRecord| {
            sink.lock()
                .unwrap()
                .push(serde_json::from_slice::<serde_json::Value>(&a.json).unwrap())
        });
        (out, got)
    }

    #[test]
    fn batches_become_alerts_and_swaps_apply_per_batch() {
        let shared: SharedSet = Arc::new(arc_swap::ArcSwap::new(snapshot("1.2.3.4\n", 1)));
        let (out, got) = collector();
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = crossbeam_channel::bounded(4);
        let decode: HeaderDecoder = |_| {
            Some(SyslogFields {
                hostname: Some("h".into()),
                ..SyslogFields::default()
            })
        };
        let workers = try_spawn(
            2,
            rx,
            shared.clone(),
            out,
            decode,
            metrics.clone(),
            None,
            None,
        )
        .unwrap();
        let peer = "127.0.0.1:9".parse().unwrap();
        let mut b = Batch::new(SourceKind::SyslogTcp);
        b.push_line(b"a SRC=1.2.3.4 x", Some(peer));
        b.push_line(b"b SRC=5.6.7.8 x", Some(peer));
        tx.send(b).unwrap();
        // Wait for the first batch, then swap and send the same lines again.
        while got.lock().unwrap().is_empty() {
            std::thread::yield_now();
        }
        shared.store(snapshot("5.6.7.8\n", 2));
        let mut b = Batch::new(SourceKind::File);
        b.path = Some(Arc::from("/var/log/x.log"));
        b.push_line(b"a SRC=1.2.3.4 x", None);
        b.push_line(b"b SRC=5.6.7.8 x\r", None);
        tx.send(b).unwrap();
        drop(tx);
        for w in workers {
            w.join().unwrap();
        }
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["event"]["original"], "a SRC=1.2.3.4 x");
        assert_eq!(got[0]["iocd"]["generation"], 1);
        assert_eq!(got[0]["iocd"]["source"]["peer"], "127.0.0.1:9");
        assert_eq!(got[0]["host"]["hostname"], "h");
        assert_eq!(got[1]["event"]["original"], "b SRC=5.6.7.8 x");
        assert_eq!(got[1]["iocd"]["generation"], 2);
        assert_eq!(got[1]["iocd"]["source"]["file"], "/var/log/x.log");
        assert!(got[1].get("host").is_none(), "files are not syslog");
        let text = metrics.render();
        assert!(
            text.contains("iocd_matcher_matches_total{kind=\"ipv4\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("iocd_matcher_latency_seconds_count 2"),
            "{text}"
        );
    }
}

#[cfg(test)]
mod event_id_tests {
    use super::tests::collector;
    use super::*;
    use crate::ioc::SetBuilder;
    use crate::model::{MessageRef, SourceKind};

    /// The alerts one matcher thread makes of `batches`, as JSON.
    fn alerts_of(batches: Vec<Batch>) -> Vec<serde_json::Value> {
        let mut b = SetBuilder::new();
        b.add_plain_list("t", "t.txt", b"1.2.3.4\n");
        let shared: SharedSet = Arc::new(arc_swap::ArcSwap::new(Arc::new(Snapshot {
            set: b.build(),
            generation: 1,
        })));
        let (out, got) = collector();
        let (tx, rx) = crossbeam_channel::bounded(batches.len().max(1));
        for b in batches {
            tx.send(b).unwrap();
        }
        drop(tx);
        let metrics = Arc::new(Metrics::new());
        for w in try_spawn(1, rx, shared, out, |_| None, metrics, None, None).unwrap() {
            w.join().unwrap();
        }
        Arc::try_unwrap(got).unwrap().into_inner().unwrap()
    }

    fn id(a: &serde_json::Value) -> String {
        a["event"]["id"].as_str().expect("an event.id").to_owned()
    }

    fn kafka_batch(offsets: &[i64]) -> Batch {
        let mut b = Batch::new(SourceKind::Kafka);
        for &offset in offsets {
            b.push_line(b"deny SRC=1.2.3.4", None);
            b.messages.push(MessageRef {
                end: b.buf.len(),
                topic: Arc::from("fw"),
                partition: 3,
                offset,
            });
        }
        b
    }

    #[test]
    fn kafka_positions_give_the_same_ids_on_a_replay_and_distinct_ones_per_message() {
        // The same three messages (same text) read twice, the second time in other batches.
        let first = alerts_of(vec![kafka_batch(&[10, 11, 12])]);
        let replay = alerts_of(vec![kafka_batch(&[10]), kafka_batch(&[11, 12])]);
        let ids: Vec<String> = first.iter().map(id).collect();
        assert_eq!(ids, replay.iter().map(id).collect::<Vec<_>>());
        let mut distinct = ids.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "same text, other offsets: other alerts");
        assert_eq!(first[1]["iocd"]["source"]["kafka"]["offset"], 11);
    }

    #[test]
    fn syslog_lines_without_a_position_still_get_distinct_ids() {
        let peer = "127.0.0.1:9".parse().unwrap();
        let mut one = Batch::new(SourceKind::SyslogTcp);
        one.push_line(b"deny SRC=1.2.3.4", Some(peer));
        one.push_line(b"deny SRC=1.2.3.4", Some(peer));
        let mut two = Batch::new(SourceKind::SyslogTcp);
        two.push_lines(b"deny SRC=1.2.3.4\n", Some(peer));
        // However close the clock reads, another batch is another arrival.
        two.arrival_ns = one.arrival_ns + 1;
        let got = alerts_of(vec![one, two]);
        let mut ids: Vec<String> = got.iter().map(id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 3);
    }
}
