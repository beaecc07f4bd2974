//! Kafka end to end: the real `iocd run` binary against a real Kafka-protocol broker (tansu,
//! built and cached by `scripts/tansu.sh`), started on a loopback port per test.
//!
//! Each scenario produces messages with a known set of hits to a 4-partition topic, runs one
//! or two iocd instances in a consumer group, and reads what reached the alert topic (or an
//! HTTP endpoint). An alert names its message (`iocd.source.kafka.partition/offset`), so the
//! test knows exactly which expected alerts arrived, which are missing, and which came twice.
//! Committed offsets are read from the broker the way any Kafka client reads them.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::Value;

use iocd_testkit::support;
use iocd_testkit::tansu::{self, Tansu};
use support::{
    TEST_FEED, free_port, http_get, iocd_run, metric_sum, start_iocd, stderr_of, stop_iocd,
    write_config,
};

const PARTITIONS: i32 = 4;
const INDICATORS: &str = "198.51.100.7\nevil.example.com\n";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A Kafka-protocol broker on a loopback port: a tansu process, or librdkafka's mock cluster
/// (in this test process, reached over TCP like any broker) where a scenario needs a fault
/// tansu cannot give: a group member that dies without leaving (tansu 0.6.0 keeps it in the
/// group, so its partitions are never handed over) and an outage that keeps the cluster's
/// data (tansu's memory storage starts empty after a restart).
struct Broker {
    tansu: Option<Tansu>,
    mock: Option<MockCluster<'static, DefaultProducerContext>>,
}

impl Broker {
    fn start() -> Broker {
        Broker {
            tansu: Some(Tansu::start(&tansu::bin()).expect("tansu starts")),
            mock: None,
        }
    }

    /// A one-broker librdkafka mock cluster.
    fn mock() -> Broker {
        Broker {
            tansu: None,
            mock: Some(MockCluster::new(1).expect("mock cluster")),
        }
    }

    fn addr(&self) -> String {
        match (&self.mock, &self.tansu) {
            (Some(m), _) => m.bootstrap_servers(),
            (None, Some(t)) => t.addr(),
            (None, None) => unreachable!("a broker is tansu or a mock"),
        }
    }

    /// Takes the broker away (connections drop, new ones fail) or brings it back.
    fn set_up(&mut self, up: bool) {
        match (&self.mock, &mut self.tansu) {
            (Some(m), _) if up => m.broker_up(1).unwrap(),
            (Some(m), _) => m.broker_down(1).unwrap(),
            (None, Some(t)) if up => t.spawn().expect("tansu restarts"),
            (None, Some(t)) => t.stop(),
            (None, None) => unreachable!("a broker is tansu or a mock"),
        }
    }

    fn create_topic(&self, name: &str, partitions: i32) {
        if let Some(m) = &self.mock {
            m.create_topic(name, partitions, 1).unwrap();
            return;
        }
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .create()
            .unwrap();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let res = rt()
            .block_on(admin.create_topics([&topic], &AdminOptions::new()))
            .expect("create_topics answers");
        for r in res {
            r.unwrap_or_else(|(t, e)| panic!("cannot create topic {t}: {e}"));
        }
    }

    /// Produces `lines` round-robin over the partitions; returns each one's (partition,
    /// offset) in order.
    fn produce(&self, topic: &str, lines: &[String]) -> Vec<(i32, i64)> {
        // One record per batch: tansu 0.6.0 (memory storage) answers a fetch from an offset
        // inside a multi-record batch with later records only, skipping the rest of that
        // batch (seen here: fetch from 1 returned 610..). Real Kafka returns the containing
        // batch. Single-record batches make every offset a batch start, so restarts and
        // rebalances that resume mid-stream read what they ask for.
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .set("linger.ms", "0")
            .set("batch.num.messages", "1")
            .create()
            .unwrap();
        rt().block_on(async {
            let mut futs = Vec::with_capacity(lines.len());
            for (i, l) in lines.iter().enumerate() {
                let rec: FutureRecord<'_, (), str> = FutureRecord::to(topic)
                    .partition(i as i32 % PARTITIONS)
                    .payload(l.as_str());
                futs.push(producer.send_result(rec).map_err(|(e, _)| e).unwrap());
            }
            let mut out = Vec::with_capacity(futs.len());
            for f in futs {
                let d = f.await.unwrap().map_err(|(e, _)| e).unwrap();
                out.push((d.partition, d.offset));
            }
            out
        })
    }

    /// A consumer of every partition of `topic` from its start (no group commits).
    fn reader(&self, topic: &str) -> BaseConsumer {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .set("group.id", format!("reader-{}", free_port()))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        c.assign(&tpl).unwrap();
        c
    }

    /// Every message of `topic` (all partitions, from the start), parsed as JSON, until an
    /// alert for each of `want` arrived or `timeout` passed; then whatever else is already
    /// there (duplicates), briefly.
    fn read_alerts(
        &self,
        topic: &str,
        want: &BTreeSet<(i32, i64)>,
        timeout: Duration,
    ) -> Vec<Value> {
        let c = self.reader(topic);
        let mut out = Vec::new();
        let mut missing = want.clone();
        let end = Instant::now() + timeout;
        let mut tail_end = None;
        loop {
            let now = Instant::now();
            if now >= end || tail_end.is_some_and(|t| now >= t) {
                break;
            }
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
                missing.remove(&origin(&v));
                out.push(v);
            }
            if missing.is_empty() && tail_end.is_none() {
                tail_end = Some(Instant::now() + Duration::from_secs(1));
            }
        }
        out
    }

    /// For each record key of `topic`: the partitions it was found on (read from the start
    /// until `count` records were seen).
    fn key_partitions(&self, topic: &str, count: usize) -> BTreeMap<String, BTreeSet<i32>> {
        let c = self.reader(topic);
        let (mut out, mut seen) = (BTreeMap::new(), 0);
        let end = Instant::now() + Duration::from_secs(30);
        while seen < count && Instant::now() < end {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                out.entry(key)
                    .or_insert_with(BTreeSet::new)
                    .insert(m.partition());
                seen += 1;
            }
        }
        out
    }

    /// The group's committed offset per partition of `topic` (-1: none).
    fn committed(&self, group: &str, topic: &str) -> Vec<i64> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .set("group.id", group)
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition(topic, p);
        }
        let got = c
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        (0..PARTITIONS)
            .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            })
            .collect()
    }
}

/// `n` log lines; every 7th has a hit (alternating an IP and a domain indicator).
fn corpus(n: usize) -> (Vec<String>, BTreeSet<usize>) {
    let mut lines = Vec::with_capacity(n);
    let mut hits = BTreeSet::new();
    for i in 0..n {
        let l = if i % 7 == 3 {
            hits.insert(i);
            if i % 2 == 0 {
                format!(
                    "<134>Nov 22 10:00:00 fw1 kernel: ACCEPT SRC=10.0.0.{} DST=198.51.100.7 DPT=443 seq={i}",
                    i % 250
                )
            } else {
                format!(
                    "<30>Nov 22 10:00:00 dns1 named[1]: client 10.0.1.{}#5353: query: evil.example.com IN A seq={i}",
                    i % 250
                )
            }
        } else {
            format!(
                "<134>Nov 22 10:00:00 fw1 kernel: ACCEPT SRC=10.0.0.{} DST=203.0.113.{} DPT=80 seq={i}",
                i % 250,
                i % 200
            )
        };
        lines.push(l);
    }
    (lines, hits)
}

/// (partition, offset) of each expected alert.
fn expected(placed: &[(i32, i64)], hits: &BTreeSet<usize>) -> BTreeSet<(i32, i64)> {
    hits.iter().map(|&i| placed[i]).collect()
}

/// (partition, offset) an alert came from.
fn origin(a: &Value) -> (i32, i64) {
    let k = &a["iocd"]["source"]["kafka"];
    (
        k["partition"].as_i64().expect("alert names its partition") as i32,
        k["offset"].as_i64().expect("alert names its offset"),
    )
}

/// How many times each origin arrived.
fn tally(alerts: &[Value]) -> BTreeMap<(i32, i64), usize> {
    let mut m = BTreeMap::new();
    for a in alerts {
        *m.entry(origin(a)).or_insert(0) += 1;
    }
    m
}

/// One `iocd run` process.
struct Iocd {
    child: Child,
    admin: u16,
    _dir: tempfile::TempDir,
}

impl Iocd {
    /// Starts iocd reading `topic` in `group`, with `sinks` (TOML) as its sinks.
    fn start(broker: &str, topic: &str, group: &str, sinks: &str, extra: &str) -> Iocd {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("feed.txt"), INDICATORS).unwrap();
        let admin = free_port();
        let cfg = format!(
            r#"
[engine]
threads = 2
batch_bytes = 4096
queue_batches = 4
{TEST_FEED}
# One alert per line with hits: these tests count deliveries, not triage.
[triage]
enabled = false
[sources.kafka]
brokers = "{broker}"
group_id = "{group}"
topics = ["{topic}"]
commit_interval = "200ms"
revoke_timeout = "5s"
{extra}
[sources.kafka.options]
"session.timeout.ms" = "6000"
"max.poll.interval.ms" = "10000"
"heartbeat.interval.ms" = "500"
"reconnect.backoff.max.ms" = "1000"
"statistics.interval.ms" = "1000"
{sinks}
[admin]
listen = "127.0.0.1:{admin}"
[shutdown]
grace = "15s"
"#
        );
        let path = write_config(dir.path(), &cfg);
        // Ready once the admin server serves /metrics (not /readyz).
        let child = start_iocd(
            iocd_run(&path).env("RUST_LOG", "info,librdkafka=warn"),
            admin,
            "/metrics",
        );
        Iocd {
            child,
            admin,
            _dir: dir,
        }
    }

    fn stderr(&mut self) -> String {
        stderr_of(&mut self.child)
    }

    /// The /metrics text, None while the admin server is not up.
    fn metrics(&self) -> Option<String> {
        http_get(self.admin, "/metrics")
    }

    /// Sum of the samples of `name` (any labels).
    fn metric(&self, name: &str) -> f64 {
        metric_sum(&self.metrics().unwrap_or_default(), name)
    }

    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; the exit code and the log.
    fn stop(mut self) -> (Option<i32>, String) {
        let (status, log) = stop_iocd(&mut self.child, Duration::from_secs(40));
        (status.code(), log)
    }
}

impl Drop for Iocd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kafka_sink(broker: &str, topic: &str) -> String {
    format!("[[sinks]]\ntype = \"kafka\"\nbrokers = \"{broker}\"\ntopic = \"{topic}\"\n")
}

/// Waits until two instances of one group share every partition.
fn both_own_partitions(a: &Iocd, b: &Iocd) {
    wait_until(
        "both instances own partitions",
        Duration::from_secs(60),
        || {
            let (na, nb) = (
                a.metric("iocd_kafka_assigned_partitions"),
                b.metric("iocd_kafka_assigned_partitions"),
            );
            na >= 1.0 && nb >= 1.0 && na + nb == PARTITIONS as f64
        },
    );
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (a) Messages over 4 partitions: exactly the expected alerts, each once; after SIGTERM
/// the group's offsets are at the end of every partition.
#[test]
fn four_partitions_exact_alerts_and_final_commit() {
    let broker = Broker::start();
    broker.create_topic("logs-a", PARTITIONS);
    broker.create_topic("alerts-a", PARTITIONS);
    let (mut lines, hits) = corpus(4_000);
    // Messages that are not log lines: counted and passed, their offsets still commit.
    for i in 0..10 {
        lines.push(String::new());
        lines.push(format!("\0\u{1}binary 198.51.100.7 {i}\0"));
    }
    let placed = broker.produce("logs-a", &lines);
    let want = expected(&placed, &hits);

    let iocd = Iocd::start(
        &broker.addr(),
        "logs-a",
        "g-a",
        &kafka_sink(&broker.addr(), "alerts-a"),
        "",
    );
    let alerts = broker.read_alerts("alerts-a", &want, Duration::from_secs(60));
    let got = tally(&alerts);
    let seen: BTreeSet<_> = got.keys().copied().collect();
    assert_eq!(seen, want, "every expected alert and nothing else");
    assert!(
        got.values().all(|&n| n == 1),
        "a clean run has no duplicates"
    );
    // One key per indicator and host, each on one partition of the alert topic.
    let keys = broker.key_partitions("alerts-a", alerts.len());
    assert!(keys.len() >= 2, "{keys:?}");
    for (k, parts) in &keys {
        assert!(
            k.starts_with("198.51.100.7|") || k.starts_with("evil.example.com|"),
            "{k}"
        );
        assert_eq!(parts.len(), 1, "key {k} on partitions {parts:?}");
    }
    // Each alert carries its indicator and the message's origin.
    let a = &alerts[0];
    assert_eq!(a["iocd"]["source"]["input"], "kafka");
    assert_eq!(a["iocd"]["source"]["kafka"]["topic"], "logs-a");
    let atomic = a["threat"]["enrichments"][0]["matched"]["atomic"]
        .as_str()
        .unwrap();
    assert!(
        atomic == "198.51.100.7" || atomic == "evil.example.com",
        "{a}"
    );

    let m = iocd.metrics().unwrap();
    assert!(m.contains("iocd_kafka_assigned_partitions 4"), "{m}");
    wait_until(
        "the skipped messages counted",
        Duration::from_secs(10),
        || {
            let m = iocd.metrics().unwrap_or_default();
            m.contains("iocd_kafka_skipped_messages_total{reason=\"empty\"} 10")
                && m.contains("iocd_kafka_skipped_messages_total{reason=\"binary\"} 10")
        },
    );
    let (code, log) = iocd.stop();
    assert_eq!(code, Some(0), "{log}");
    let mut ends = [0i64; PARTITIONS as usize];
    for &(p, o) in &placed {
        ends[p as usize] = ends[p as usize].max(o + 1);
    }
    assert_eq!(broker.committed("g-a", "logs-a"), ends.to_vec(), "{log}");
}

/// Ends of each partition: the offset after the last message produced.
fn ends(placed: &[(i32, i64)]) -> Vec<i64> {
    let mut ends = vec![0i64; PARTITIONS as usize];
    for &(p, o) in placed {
        ends[p as usize] = ends[p as usize].max(o + 1);
    }
    ends
}

/// (b) SIGKILL mid-stream, then a restart: every expected alert arrives at least once, and
/// every duplicate comes from the window that was not committed when iocd died.
#[test]
fn sigkill_mid_stream_replays_only_the_uncommitted_window() {
    let broker = Broker::start();
    broker.create_topic("logs-b", PARTITIONS);
    broker.create_topic("alerts-b", PARTITIONS);
    let (lines, hits) = corpus(40_000);
    let placed = broker.produce("logs-b", &lines);
    let want = expected(&placed, &hits);
    let sink = kafka_sink(&broker.addr(), "alerts-b");

    let first = Iocd::start(&broker.addr(), "logs-b", "g-b", &sink, "");
    // Killed right after its first commits: mid-stream, with a window that was processed but
    // not committed.
    wait_until("offsets committed", Duration::from_secs(60), || {
        first.metric("iocd_kafka_committed_offset") > 0.0
    });
    first.kill9();
    let at_kill = broker.committed("g-b", "logs-b");
    assert!(
        at_kill.iter().any(|&o| o > 0),
        "some offsets were committed before the kill: {at_kill:?}"
    );
    assert!(
        at_kill.iter().sum::<i64>() < lines.len() as i64,
        "killed mid-stream, not after the end: {at_kill:?}"
    );

    let second = Iocd::start(&broker.addr(), "logs-b", "g-b", &sink, "");
    let alerts = broker.read_alerts("alerts-b", &want, Duration::from_secs(90));
    let got = tally(&alerts);
    let seen: BTreeSet<_> = got.keys().copied().collect();
    let missing: Vec<_> = want.difference(&seen).collect();
    if !missing.is_empty() {
        let mut per = BTreeMap::new();
        for (p, o) in &missing {
            let e = per.entry(*p).or_insert((i64::MAX, 0i64, 0usize));
            e.0 = e.0.min(*o);
            e.1 = e.1.max(*o);
            e.2 += 1;
        }
        let m = second.metrics().unwrap_or_default();
        let should: usize = want
            .iter()
            .filter(|(p, o)| *o >= at_kill[*p as usize])
            .count();
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker.addr())
            .create()
            .unwrap();
        let marks: Vec<_> = (0..PARTITIONS)
            .map(|p| {
                c.fetch_watermarks("alerts-b", p, Duration::from_secs(5))
                    .unwrap()
            })
            .collect();
        eprintln!(
            "second should produce >= {should}; alert topic watermarks {marks:?}; reader got {}",
            alerts.len()
        );
        panic!(
            "alerts lost across the crash: per partition (first, last, count) {per:?}; committed at kill {at_kill:?}, now {:?}\n{}",
            broker.committed("g-b", "logs-b"),
            m.lines()
                .filter(|l| l.starts_with("iocd_kafka")
                    || l.starts_with("iocd_source")
                    || l.starts_with("iocd_sink_alerts"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(seen.is_subset(&want), "no alert for a line without a hit");
    let dups: Vec<_> = got
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| *k)
        .collect();
    for (p, o) in &dups {
        assert!(
            *o >= at_kill[*p as usize],
            "duplicate of partition {p} offset {o}, below the committed {}",
            at_kill[*p as usize]
        );
    }
    eprintln!(
        "sigkill: {} expected alerts, {} delivered, {} duplicated (all at or after the committed offsets {at_kill:?})",
        want.len(),
        alerts.len(),
        dups.len()
    );
    let (code, log) = second.stop();
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(broker.committed("g-b", "logs-b"), ends(&placed));
}

/// An HTTP endpoint that records every alert it is sent.
struct Endpoint {
    got: Arc<Mutex<Vec<Value>>>,
    _rt: tokio::runtime::Runtime,
}

impl Endpoint {
    fn start(port: u16) -> Endpoint {
        let got = Arc::new(Mutex::new(Vec::new()));
        let rt = rt();
        let store = got.clone();
        rt.block_on(async {
            let app = axum::Router::new().route(
                "/alerts",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let store = store.clone();
                    async move {
                        let batch: Vec<Value> = serde_json::from_slice(&body).unwrap();
                        store.lock().unwrap().extend(batch);
                        "ok"
                    }
                }),
            );
            let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        });
        Endpoint { got, _rt: rt }
    }

    fn alerts(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }
}

/// (c) The alert sink is down: offsets do not move past the first message whose alert is
/// not delivered; once the sink is back, every alert arrives and the offsets catch up.
#[test]
fn sink_down_holds_offsets_until_alerts_are_delivered() {
    let broker = Broker::start();
    broker.create_topic("logs-c", PARTITIONS);
    let (lines, hits) = corpus(2_000);
    let placed = broker.produce("logs-c", &lines);
    let want = expected(&placed, &hits);
    // The first hit of each partition: no commit may pass it while the sink is down.
    let mut first_hit = vec![i64::MAX; PARTITIONS as usize];
    for &(p, o) in &want {
        first_hit[p as usize] = first_hit[p as usize].min(o);
    }

    let port = free_port();
    let sink = format!(
        "[[sinks]]\ntype = \"http\"\nurl = \"http://127.0.0.1:{port}/alerts\"\n\
         retry_initial_delay = \"100ms\"\nretry_max_delay = \"300ms\"\nbatch_max_events = 10\n\
         buffer_max_events = 20\n"
    );
    let iocd = Iocd::start(&broker.addr(), "logs-c", "g-c", &sink, "");
    wait_until("delivery retried", Duration::from_secs(30), || {
        iocd.metric("iocd_sink_retries_total") >= 3.0
    });
    // Give the commit timer (200 ms) many chances to do the wrong thing.
    std::thread::sleep(Duration::from_secs(2));
    // The sink's buffer is full, the matchers wait, the queue is full: the partitions are
    // paused, so reading has stopped well before the end (nothing buffered without bound).
    let read = iocd.metric("iocd_source_events_total");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        iocd.metric("iocd_source_events_total"),
        read,
        "reading stopped"
    );
    assert!(
        read < (lines.len() / 2) as f64,
        "read {read} of {} lines with the sink down",
        lines.len()
    );
    let held = broker.committed("g-c", "logs-c");
    for p in 0..PARTITIONS as usize {
        assert!(
            held[p] <= first_hit[p],
            "partition {p}: committed {} past the undelivered alert at {}",
            held[p],
            first_hit[p]
        );
    }
    assert!(iocd.metric("iocd_kafka_inflight_batches") > 0.0);

    let endpoint = Endpoint::start(port);
    wait_until("every alert delivered", Duration::from_secs(60), || {
        endpoint.alerts().len() >= want.len()
    });
    let seen: BTreeSet<_> = endpoint.alerts().iter().map(origin).collect();
    assert_eq!(seen, want);
    let end = ends(&placed);
    wait_until(
        "offsets committed to the end",
        Duration::from_secs(30),
        || broker.committed("g-c", "logs-c") == end,
    );
    let (code, log) = iocd.stop();
    assert_eq!(code, Some(0), "{log}");
}

/// (d) Two instances share the partitions; one is killed; the other takes its partitions
/// over and nothing is lost.
#[test]
fn two_instances_share_partitions_and_survive_one_kill() {
    let broker = Broker::mock();
    broker.create_topic("logs-d", PARTITIONS);
    broker.create_topic("alerts-d", PARTITIONS);
    let sink = kafka_sink(&broker.addr(), "alerts-d");
    let a = Iocd::start(&broker.addr(), "logs-d", "g-d", &sink, "");
    let b = Iocd::start(&broker.addr(), "logs-d", "g-d", &sink, "");
    both_own_partitions(&a, &b);
    let (lines, hits) = corpus(16_000);
    let placed = broker.produce("logs-d", &lines);
    let want = expected(&placed, &hits);
    wait_until(
        "the second instance delivered alerts",
        Duration::from_secs(60),
        || b.metric("iocd_sink_alerts_total") >= 50.0,
    );
    b.kill9();
    let t = Instant::now();
    while a.metric("iocd_kafka_assigned_partitions") != PARTITIONS as f64 {
        if t.elapsed() > Duration::from_secs(60) {
            let m = a.metrics().unwrap_or_default();
            let mut a = a;
            let _ = a.child.kill();
            panic!(
                "the survivor did not take the partitions over:\n{}\n{}",
                m.lines()
                    .filter(|l| l.starts_with("iocd_kafka"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                a.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let alerts = broker.read_alerts("alerts-d", &want, Duration::from_secs(90));
    let seen: BTreeSet<_> = alerts.iter().map(origin).collect();
    let missing: Vec<_> = want.difference(&seen).take(5).collect();
    assert!(
        missing.is_empty(),
        "lost when an instance died, e.g. {missing:?}"
    );
    assert!(a.metric("iocd_kafka_rebalances_total") >= 2.0);
    let (code, log) = a.stop();
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(broker.committed("g-d", "logs-d"), ends(&placed));
}

/// (e) The broker goes away while iocd consumes (connections drop, reconnects are refused)
/// and comes back: iocd reconnects and continues, and every alert of the messages before and
/// after the outage arrives. On the mock cluster, whose data outlives the outage.
#[test]
fn broker_outage_reconnects_and_continues() {
    let mut broker = Broker::mock();
    broker.create_topic("logs-e", PARTITIONS);
    broker.create_topic("alerts-e", PARTITIONS);
    let (lines, hits) = corpus(16_000);
    let (before, after) = lines.split_at(8_000);
    let mut placed = broker.produce("logs-e", before);
    let iocd = Iocd::start(
        &broker.addr(),
        "logs-e",
        "g-e",
        &kafka_sink(&broker.addr(), "alerts-e"),
        "",
    );
    wait_until("alerts flowing", Duration::from_secs(60), || {
        iocd.metric("iocd_sink_alerts_total") >= 100.0
    });
    broker.set_up(false);
    std::thread::sleep(Duration::from_secs(5));
    broker.set_up(true);
    placed.extend(broker.produce("logs-e", after));
    let want = expected(&placed, &hits);
    let alerts = broker.read_alerts("alerts-e", &want, Duration::from_secs(150));
    let seen: BTreeSet<_> = alerts.iter().map(origin).collect();
    let missing: Vec<_> = want.difference(&seen).take(5).collect();
    if !missing.is_empty() {
        let m = iocd.metrics().unwrap_or_default();
        panic!(
            "alerts lost across the outage, e.g. {missing:?}; committed {:?} of {:?}\n{}",
            broker.committed("g-e", "logs-e"),
            ends(&placed),
            m.lines()
                .filter(|l| l.starts_with("iocd_kafka") || l.starts_with("iocd_source_events"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let end = ends(&placed);
    wait_until(
        "offsets committed to the end",
        Duration::from_secs(30),
        || broker.committed("g-e", "logs-e") == end,
    );
    let (code, log) = iocd.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        [
            "Connection refused",
            "Disconnected",
            "AllBrokersDown",
            "BrokerTransportFailure"
        ]
        .iter()
        .any(|m| log.contains(m)),
        "the outage was seen: {log}"
    );
}

/// Retro-matching on Kafka: two instances in one group over a 4-partition topic on tansu.
/// Lines reach an address before any feed lists it; both feeds gain it; after the reload
/// each instance reads its own partitions back from the topic (offsets for `now -
/// lookback`, up to where it is live) and alerts the earlier lines as `retro`: together
/// exactly those lines, each once, and each instance only its own partitions. Nothing is
/// committed into the live group by the history reader.
#[test]
fn retro_jobs_read_each_instances_own_partitions_back() {
    let broker = Broker::start();
    broker.create_topic("logs-r", PARTITIONS);
    let late = "203.0.113.99";
    let retro = "[[sinks]]\ntype = \"file\"\npath = \"alerts.jsonl\"\n[retro]\nenabled = true\ndir = \"retro\"\nlookback = \"1h\"\nmax_cpu_share = 1.0\n";
    let a = Iocd::start(&broker.addr(), "logs-r", "g-r", retro, "");
    let b = Iocd::start(&broker.addr(), "logs-r", "g-r", retro, "");
    both_own_partitions(&a, &b);
    // 400 lines round-robin over the partitions; every 25th reaches the late address.
    let lines: Vec<String> = (0..400)
        .map(|i| {
            if i % 25 == 0 {
                // JSON with an @timestamp: the line's own time, days before the reload.
                format!(
                    r#"{{"@timestamp":"2026-12-01T09:00:{:02}Z","src_ip":"10.2.0.{i}","dest_ip":"{late}","n":{i}}}"#,
                    i % 60
                )
            } else {
                format!("src=10.3.0.{} dst=192.0.2.{} n={i}", i % 250, i % 200)
            }
        })
        .collect();
    let placed = broker.produce("logs-r", &lines);
    let want: BTreeSet<(i32, i64)> = (0..400)
        .filter(|i| i % 25 == 0)
        .map(|i| placed[i])
        .collect();
    wait_until("both read everything", Duration::from_secs(60), || {
        a.metric("iocd_source_events_total") + b.metric("iocd_source_events_total") >= 400.0
    });
    for i in [&a, &b] {
        std::fs::write(
            i._dir.path().join("feed.txt"),
            format!("{INDICATORS}{late}\n"),
        )
        .unwrap();
        support::signal(&i.child, "HUP");
    }
    wait_until("both retro jobs", Duration::from_secs(60), || {
        a.metric("iocd_retro_jobs_total") >= 1.0 && b.metric("iocd_retro_jobs_total") >= 1.0
    });
    let retro_of = |i: &Iocd| -> Vec<Value> {
        iocd_testkit::support::read_alerts(&i._dir.path().join("alerts.jsonl"))
            .into_iter()
            .filter(|v| v["iocd"]["alert_type"] == "retro")
            .collect()
    };
    let (ra, rb) = (retro_of(&a), retro_of(&b));
    let parts = |v: &[Value]| -> BTreeSet<i32> { v.iter().map(|x| origin(x).0).collect() };
    assert!(
        parts(&ra).is_disjoint(&parts(&rb)),
        "{:?} {:?}",
        parts(&ra),
        parts(&rb)
    );
    let mut seen: Vec<(i32, i64)> = ra.iter().chain(&rb).map(origin).collect();
    seen.sort_unstable();
    let n = seen.len();
    seen.dedup();
    assert_eq!(n, seen.len(), "each line once");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), want);
    for v in ra.iter().chain(&rb) {
        assert_eq!(v["event"]["dataset"], "iocd.retro");
        assert!(
            v["@timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2026-12-01T09:00:"),
            "{v}"
        );
        assert!(
            v["iocd"]["retro"]["lead_seconds"].as_i64().unwrap() > 0,
            "{v}"
        );
    }
    assert!(a.metric("iocd_retro_scanned_messages_total") > 0.0);
    assert!(b.metric("iocd_retro_scanned_messages_total") > 0.0);
    assert_eq!(
        a.metric("iocd_retro_scanned_messages_total")
            + b.metric("iocd_retro_scanned_messages_total"),
        400.0,
        "each message read back once"
    );
    let (code, log) = a.stop();
    assert_eq!(code, Some(0), "{log}");
    let (code, log) = b.stop();
    assert_eq!(code, Some(0), "{log}");
}
