//! Every metric iocd exports, registered once and named here.
//!
//! Names follow `iocd_<subsystem>_<what>_<unit>[_total]`. Label values are bounded: source and
//! sink names come from the configuration, indicator kinds and drop reasons from closed lists.
//! Hot paths (matcher threads) count in locals and add here once per batch.
//!
//! Why one file of ~850 lines: every family is declared, named, documented and registered in
//! one place, so a name or a label set can be reviewed (and found by `tests/metrics_move.rs`'s
//! audit) without reading the features; it is a list, not logic.

use super::families::Families;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The registry and typed handles to every family. Cheap to share (`Arc<Metrics>`).
pub struct Metrics {
    registry: Registry,
    /// The Kafka source's and sinks' families (`iocd_kafka_*`).
    pub kafka: super::kafka::KafkaMetrics,
    /// Triage's families (`iocd_triage_*`): hits in, alerts out, suppressions, state size.
    pub triage: TriageMetrics,
    /// The admin server's families (`iocd_admin_*`): connections, refusals, accept errors.
    pub admin: AdminMetrics,
    /// The exports' families (`iocd_export_*`): entries, size, changes, held versions.
    pub export: ExportMetrics,
    /// Retro-matching's families (`iocd_retro_*`): the spool, the jobs, what they scanned
    /// and found.
    pub retro: RetroMetrics,
    /// Lines (messages) read, by source.
    pub events_in: IntCounterVec,
    /// Bytes read, by source.
    pub bytes_in: IntCounterVec,
    /// Messages that could not be framed or parsed, by source.
    pub parse_errors: IntCounterVec,
    /// Messages dropped, by source and reason (`queue_full`, `truncated`, `kernel`: datagrams
    /// the kernel dropped on a full UDP receive buffer, ...).
    pub events_dropped: IntCounterVec,
    /// Open connections, by source.
    pub connections: IntGaugeVec,
    /// Connections iocd closed on its own, by source and reason (`idle_timeout`,
    /// `frame_timeout`, `handshake_timeout`, `evicted`: closed to make room for a new one,
    /// `peer_limit`: over `max_connections_per_peer`).
    pub connections_closed: IntCounterVec,
    /// Receive buffer the kernel granted a datagram socket, by source.
    pub receive_buffer: IntGaugeVec,
    /// Batches waiting for a matcher.
    pub queue_depth: IntGauge,
    /// Matches, by indicator kind.
    pub matches: IntCounterVec,
    /// From a batch being read to its alerts being handed to the sinks.
    pub match_latency: Histogram,
    /// Lines whose decoding panicked (alerted undecoded: a decoder bug, never a lost line).
    pub decode_panics: IntCounter,
    /// Alerts accepted by a sink, by sink and priority.
    pub alerts_out: IntCounterVec,
    /// Failed deliveries, by sink.
    pub sink_errors: IntCounterVec,
    /// Retried deliveries, by sink.
    pub sink_retries: IntCounterVec,
    /// Alerts held by a sink waiting for delivery, by sink.
    pub sink_buffered: IntGaugeVec,
    /// Alerts a sink gave up on without a dead-letter file to put them in (they were logged
    /// in full), by sink and reason (`refused`: the endpoint answered that it never will take
    /// them, e.g. HTTP 400/422 for the alert alone; `too_large`: bigger than a UDP datagram
    /// or an HTTP 413 for the alert alone; `item_error`: an Elasticsearch per-item error).
    pub sink_dropped: IntCounterVec,
    /// Alerts an endpoint refused for good that went to the sink's dead-letter file, by sink
    /// and reason (`refused`: 400/422 for the alert alone; `too_large`: 413 for the alert
    /// alone; `item_error`: an Elasticsearch per-item error that retrying cannot fix).
    pub sink_dead_letters: IntCounterVec,
    /// 1 while an HTTP sink's endpoint takes alerts, 0 while it does not (down, refusing
    /// the credentials, redirecting), by sink.
    pub sink_up: IntGaugeVec,
    /// Indicators in the current set, by feed and kind (a listing in two feeds counts in
    /// both).
    pub indicators: IntGaugeVec,
    /// Feed lines rejected at the last load, by feed and reason.
    pub rejected: IntGaugeVec,
    /// Indicator-set builds that were swapped in.
    pub reloads: IntCounter,
    /// Reloads that did not take everything: a feed or allowlist refresh failed or was
    /// refused, or the build failed. What was not taken stayed as it was.
    pub reload_failures: IntCounter,
    /// Pages of a mapped compiled set file that went missing under the daemon (the file was
    /// truncated in place) and read as zeros: the set in use may miss indicators until a
    /// good file is mapped.
    pub set_file_faulted_pages: IntCounter,
    /// Unix time of the last successful reload.
    pub last_reload: Gauge,
    /// Time the last reload took.
    pub reload_duration: Histogram,
    /// Generation of the current set: 1 for the first, +1 per swap.
    pub generation: IntGauge,
    /// Heap bytes of the current set per indicator.
    pub bytes_per_indicator: Gauge,
    /// Feed reads and downloads, by feed and result (`ok`: a document was read,
    /// `not_modified`: same bytes or a `304`, `error`: it could not be read or downloaded).
    pub feed_fetches: IntCounterVec,
    /// Time spent per request by sink.
    pub sink_latency: HistogramVec,
    /// 1 once the daemon runs and every feed has a generation (see [`Readiness`]).
    pub ready: IntGauge,
    /// Why the daemon is not ready, beside `ready`.
    pub readiness: Readiness,
    /// Seconds since each feed's generation in use was read or last found current, by feed;
    /// computed at each scrape from [`Metrics::set_feed_loaded`].
    pub feed_age: GaugeVec,
    /// 1 when the feed's last refresh succeeded, 0 when it failed or was refused, by feed.
    pub feed_up: IntGaugeVec,
    /// Unix time of the feed's last successful refresh, by feed.
    pub feed_last_success: GaugeVec,
    /// Refreshes that failed or were refused (the previous generation, if any, stayed), by
    /// feed and reason (`fetch`, `parse`, `shrink`, `empty`, `rejected`).
    pub(crate) feed_refresh_failures: IntCounterVec,
    /// Active false-positive marks on indicators the feed lists (in the set in use), by feed:
    /// an analyst's "this alert was wrong", charged to every feed that listed the indicator.
    pub feed_false_positive_marks: IntGaugeVec,
    /// Unix time each feed's generation was loaded at, for `feed_age`.
    feed_loaded: std::sync::Mutex<std::collections::BTreeMap<String, f64>>,
    /// False-positive marks loaded, by origin (`api`, `file`), expired ones included.
    pub feedback_marks: IntGaugeVec,
    /// Hits a false-positive mark applied to.
    pub feedback_suppressed: IntCounter,
    /// Lines of the feedback file skipped at its last load.
    pub feedback_file_errors: IntGauge,
    /// Marks refused, by origin (`api`, `file`) and reason (`invalid`, `too_many_marks`,
    /// `too_large`); a refused file counts once.
    pub feedback_refused: IntCounterVec,
    /// Hits recorded as sightings, by MISP sighting type (`0`, `1`).
    pub sightings_recorded: IntCounterVec,
    /// Indicator-and-type entries aggregated since the last flush.
    pub sightings_pending: IntGauge,
    /// Sightings (indicator-and-type entries) delivered, by output (`file`, `misp`).
    pub sightings_sent: IntCounterVec,
    /// Failed writes or requests, by output.
    pub sightings_errors: IntCounterVec,
    /// MISP requests retried.
    pub sightings_retries: IntCounter,
    /// Sightings given up on, by reason (`pending_full`, `buffer_full`, `refused`).
    pub sightings_dropped: IntCounterVec,
    /// Temporary files of interrupted atomic writes removed at start (`crate::statefile`).
    pub state_temp_files_removed: IntCounter,
    /// Bytes of partial last lines cut from files iocd appends to (`crate::statefile`).
    pub state_partial_line_bytes_cut: IntCounter,
    /// 1, labelled with the version and the commit iocd was built from (`iocd --version`).
    pub build_info: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        macro_rules! reg {
            ($m:expr) => {{
                let m = $m;
                super::families::note_family(&m);
                registry
                    .register(Box::new(m.clone()))
                    .expect("metric names are unique");
                m
            }};
        }
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        Metrics {
            events_in: reg!(counter_vec(
                "iocd_source_events_total",
                "Messages read, by source.",
                &["source"]
            )),
            bytes_in: reg!(counter_vec(
                "iocd_source_bytes_total",
                "Bytes read, by source.",
                &["source"]
            )),
            parse_errors: reg!(counter_vec(
                "iocd_source_parse_errors_total",
                "Messages that could not be framed or parsed, by source.",
                &["source"]
            )),
            events_dropped: reg!(counter_vec(
                "iocd_source_dropped_events_total",
                "Messages dropped or cut, by source and reason.",
                &["source", "reason"]
            )),
            connections: reg!(gauge_vec(
                "iocd_source_connections",
                "Open connections, by source.",
                &["source"]
            )),
            connections_closed: reg!(counter_vec(
                "iocd_source_closed_connections_total",
                "Connections iocd closed on its own, by source and reason.",
                &["source", "reason"]
            )),
            receive_buffer: reg!(gauge_vec(
                "iocd_source_receive_buffer_bytes",
                "Receive buffer the kernel granted the socket, by source.",
                &["source"]
            )),
            queue_depth: reg!(
                IntGauge::new(
                    "iocd_pipeline_queue_depth_batches",
                    "Batches waiting for a matcher."
                )
                .expect("valid metric")
            ),
            matches: reg!(counter_vec(
                "iocd_matcher_matches_total",
                "Indicator matches, by indicator kind.",
                &["kind"]
            )),
            match_latency: reg!(
                Histogram::with_opts(
                    HistogramOpts::new(
                        "iocd_matcher_latency_seconds",
                        "From a batch being read to its alerts being handed to the sinks."
                    )
                    .buckets(vec![
                        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                        0.25, 1.0
                    ])
                )
                .expect("valid metric")
            ),
            decode_panics: reg!(
                IntCounter::new(
                    "iocd_matcher_decode_panics_total",
                    "Lines whose field decoding panicked; they were alerted without decoded fields."
                )
                .expect("valid metric")
            ),
            alerts_out: reg!(counter_vec(
                "iocd_sink_alerts_total",
                "Alerts accepted by a sink, by sink and priority.",
                &["sink", "priority"]
            )),
            sink_errors: reg!(counter_vec(
                "iocd_sink_errors_total",
                "Failed deliveries, by sink.",
                &["sink"]
            )),
            sink_retries: reg!(counter_vec(
                "iocd_sink_retries_total",
                "Retried deliveries, by sink.",
                &["sink"]
            )),
            sink_buffered: reg!(gauge_vec(
                "iocd_sink_buffered_alerts",
                "Alerts waiting for delivery, by sink.",
                &["sink"]
            )),
            sink_dropped: reg!(counter_vec(
                "iocd_sink_dropped_alerts_total",
                "Alerts a sink gave up on, by sink and reason.",
                &["sink", "reason"]
            )),
            sink_dead_letters: reg!(counter_vec(
                "iocd_sink_dead_letters_total",
                "Alerts refused for good and written to the sink's dead-letter file, by sink and reason.",
                &["sink", "reason"]
            )),
            sink_up: reg!(gauge_vec(
                "iocd_sink_up",
                "1 while an HTTP sink's endpoint takes alerts, 0 while it does not, by sink.",
                &["sink"]
            )),
            indicators: reg!(gauge_vec(
                "iocd_ioc_indicators",
                "Indicators in the current set, by feed and kind.",
                &["feed", "kind"]
            )),
            rejected: reg!(gauge_vec(
                "iocd_ioc_rejected_lines",
                "Feed lines rejected at the last load, by feed and reason.",
                &["feed", "reason"]
            )),
            reloads: reg!(
                IntCounter::new(
                    "iocd_ioc_reloads_total",
                    "Indicator sets built and swapped in."
                )
                .expect("valid metric")
            ),
            reload_failures: reg!(
                IntCounter::new(
                    "iocd_ioc_reload_failures_total",
                    "Reloads where a feed or allowlist failed or was refused, or the build failed."
                )
                .expect("valid metric")
            ),
            set_file_faulted_pages: reg!(
                IntCounter::new(
                    "iocd_set_file_faulted_pages_total",
                    "Pages of the mapped compiled set file that went missing (the file was truncated in place) and read as zeros."
                )
                .expect("valid metric")
            ),
            last_reload: reg!(
                Gauge::new(
                    "iocd_ioc_last_reload_timestamp_seconds",
                    "Unix time of the last successful reload."
                )
                .expect("valid metric")
            ),
            reload_duration: reg!(
                Histogram::with_opts(
                    HistogramOpts::new(
                        "iocd_ioc_reload_duration_seconds",
                        "Time to build an indicator set."
                    )
                    .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
                )
                .expect("valid metric")
            ),
            generation: reg!(
                IntGauge::new(
                    "iocd_ioc_set_generation",
                    "Generation of the current indicator set."
                )
                .expect("valid metric")
            ),
            bytes_per_indicator: reg!(
                Gauge::new(
                    "iocd_ioc_bytes_per_indicator",
                    "Heap bytes of the current indicator set per indicator."
                )
                .expect("valid metric")
            ),
            feed_fetches: reg!(counter_vec(
                "iocd_feed_fetches_total",
                "Feed reads and downloads, by feed and result (ok, not_modified, error).",
                &["feed", "result"]
            )),
            sink_latency: reg!(
                HistogramVec::new(
                    HistogramOpts::new(
                        "iocd_sink_request_duration_seconds",
                        "Time per delivery request, by sink."
                    )
                    .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]),
                    &["sink"]
                )
                .expect("valid metric")
            ),
            ready: reg!(
                IntGauge::new(
                    "iocd_ready",
                    "1 once iocd runs and every feed has a generation (as /readyz)."
                )
                .expect("valid metric")
            ),
            readiness: Readiness::default(),
            feed_age: reg!(
                GaugeVec::new(
                    Opts::new(
                        "iocd_feed_generation_age_seconds",
                        "Seconds since each feed's generation in use was read or found current."
                    ),
                    &["feed"]
                )
                .expect("valid metric")
            ),
            feed_up: reg!(gauge_vec(
                "iocd_feed_up",
                "1 when the feed's last refresh succeeded, by feed.",
                &["feed"]
            )),
            feed_last_success: reg!(
                GaugeVec::new(
                    Opts::new(
                        "iocd_feed_last_success_timestamp_seconds",
                        "Unix time of the feed's last successful refresh, by feed."
                    ),
                    &["feed"]
                )
                .expect("valid metric")
            ),
            feed_refresh_failures: reg!(counter_vec(
                "iocd_feed_refresh_failures_total",
                "Feed refreshes that failed or were refused, by feed and reason.",
                &["feed", "reason"]
            )),
            feed_false_positive_marks: reg!(gauge_vec(
                "iocd_feed_false_positive_marks",
                "Active false-positive marks on indicators the feed lists, by feed.",
                &["feed"]
            )),
            feed_loaded: Default::default(),
            feedback_marks: reg!(gauge_vec(
                "iocd_feedback_marks",
                "False-positive marks loaded, by origin.",
                &["origin"]
            )),
            feedback_suppressed: reg!(
                IntCounter::new(
                    "iocd_feedback_suppressed_hits_total",
                    "Hits a false-positive mark applied to."
                )
                .expect("valid metric")
            ),
            feedback_file_errors: reg!(
                IntGauge::new(
                    "iocd_feedback_file_rejected_lines",
                    "Lines of the feedback file skipped at its last load."
                )
                .expect("valid metric")
            ),
            feedback_refused: reg!(counter_vec(
                "iocd_feedback_refused_total",
                "False-positive marks refused, by origin and reason.",
                &["origin", "reason"]
            )),
            sightings_recorded: reg!(counter_vec(
                "iocd_sightings_recorded_total",
                "Hits recorded as sightings, by MISP sighting type.",
                &["type"]
            )),
            sightings_pending: reg!(
                IntGauge::new(
                    "iocd_sightings_pending_entries",
                    "Indicator-and-type entries aggregated since the last flush."
                )
                .expect("valid metric")
            ),
            sightings_sent: reg!(counter_vec(
                "iocd_sightings_sent_total",
                "Sightings delivered, by output.",
                &["output"]
            )),
            sightings_errors: reg!(counter_vec(
                "iocd_sightings_errors_total",
                "Failed sighting writes or requests, by output.",
                &["output"]
            )),
            sightings_retries: reg!(
                IntCounter::new(
                    "iocd_sightings_retries_total",
                    "MISP sighting requests retried."
                )
                .expect("valid metric")
            ),
            sightings_dropped: reg!(counter_vec(
                "iocd_sightings_dropped_total",
                "Sightings given up on, by reason.",
                &["reason"]
            )),
            state_temp_files_removed: reg!(
                IntCounter::new(
                    "iocd_state_temp_files_removed_total",
                    "Temporary files of interrupted atomic writes removed at start."
                )
                .expect("valid metric")
            ),
            state_partial_line_bytes_cut: reg!(
                IntCounter::new(
                    "iocd_state_partial_line_bytes_cut_total",
                    "Bytes of partial last lines cut from files iocd appends to."
                )
                .expect("valid metric")
            ),
            build_info: build_info(&registry),
            kafka: super::kafka::KafkaMetrics::register(&registry),
            triage: TriageMetrics::register(&registry),
            admin: AdminMetrics::register(&registry),
            export: ExportMetrics::register(&registry),
            retro: RetroMetrics::register(&registry),
            registry,
        }
    }

    /// Notes when `feed`'s generation in use was read or last found current (Unix seconds;
    /// `None`: it has none), for `iocd_feed_generation_age_seconds`.
    pub fn set_feed_loaded(&self, feed: &str, at: Option<f64>) {
        let mut loaded = self.feed_loaded.lock().unwrap_or_else(|e| e.into_inner());
        match at {
            Some(t) => {
                loaded.insert(feed.to_owned(), t);
            }
            None => {
                loaded.remove(feed);
                let _ = self.feed_age.remove_label_values(&[feed]);
            }
        }
    }

    /// Sets whether the daemon is ready (`iocd_ready` and `/readyz`): it runs (`started`)
    /// and no feed is `missing` a generation.
    pub(crate) fn set_ready(&self, started: bool, missing: Vec<String>) {
        self.ready.set(i64::from(started && missing.is_empty()));
        *self.readiness.0.lock().unwrap_or_else(|e| e.into_inner()) = (started, missing);
    }

    /// What `GET /feeds` answers: for each feed, its indicators (by kind), whether its last
    /// refresh succeeded, when it last did and how old its generation in use is, and its value
    /// so far: hits, unique hits, alerts by priority and false-positive marks. Read from the
    /// metric families themselves, so the two never disagree. Sorted by feed name.
    pub(crate) fn feeds_report(&self) -> serde_json::Value {
        use prometheus::proto::MetricType;
        use std::collections::BTreeMap;
        #[derive(Default)]
        struct Row {
            by_kind: BTreeMap<String, u64>,
            up: Option<bool>,
            last_success: Option<f64>,
            hits: u64,
            unique_hits: u64,
            alerts: [u64; 5],
            fp_marks: u64,
        }
        const PRIORITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];
        let mut rows: BTreeMap<String, Row> = BTreeMap::new();
        for mf in self.registry.gather() {
            let family = mf.name().to_owned();
            for m in mf.get_metric() {
                let label = |n: &str| {
                    m.get_label()
                        .iter()
                        .find(|l| l.name() == n)
                        .map(|l| l.value().to_owned())
                };
                let Some(feed) = label("feed") else { continue };
                let v = match mf.get_field_type() {
                    MetricType::COUNTER => m.get_counter().value(),
                    MetricType::GAUGE => m.get_gauge().value(),
                    _ => continue,
                };
                let n = v.max(0.0) as u64;
                let row = rows.entry(feed).or_default();
                match family.as_str() {
                    "iocd_ioc_indicators" => {
                        if let Some(k) = label("kind") {
                            row.by_kind.insert(k, n);
                        }
                    }
                    "iocd_feed_up" => row.up = Some(v > 0.0),
                    "iocd_feed_last_success_timestamp_seconds" => row.last_success = Some(v),
                    "iocd_feed_hits_total" => row.hits = n,
                    "iocd_feed_unique_hits_total" => row.unique_hits = n,
                    "iocd_feed_false_positive_marks" => row.fp_marks = n,
                    "iocd_feed_alerts_total" => {
                        if let Some(i) =
                            label("priority").and_then(|p| PRIORITIES.iter().position(|x| *x == p))
                        {
                            row.alerts[i] = n;
                        }
                    }
                    _ => {}
                }
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let loaded = self
            .feed_loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let rfc3339 = |unix: f64| {
            let ms = (unix.clamp(0.0, 253_402_300_799.0) * 1000.0) as i64;
            crate::time::rfc3339_ms(ms, crate::time::Digits::Secs)
        };
        let feeds: Vec<serde_json::Value> = rows
            .into_iter()
            .map(|(name, r)| {
                let alerts: serde_json::Map<String, serde_json::Value> = PRIORITIES
                    .iter()
                    .zip(r.alerts)
                    .rev()
                    .map(|(p, n)| ((*p).to_owned(), n.into()))
                    .collect();
                let age = loaded.get(&name).map(|at| (now - at).max(0.0).round());
                serde_json::json!({
                    "name": name,
                    "indicators": r.by_kind.values().sum::<u64>(),
                    "indicators_by_kind": r.by_kind,
                    "up": r.up,
                    "last_refresh": r.last_success.map(rfc3339),
                    "age_seconds": age,
                    "hits": r.hits,
                    "unique_hits": r.unique_hits,
                    "alerts": r.alerts.iter().sum::<u64>(),
                    "alerts_by_priority": alerts,
                    "false_positive_marks": r.fp_marks,
                })
            })
            .collect();
        serde_json::json!({ "feeds": feeds })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        // Feed ages are as of this scrape.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        for (feed, at) in self
            .feed_loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            self.feed_age
                .with_label_values(&[feed])
                .set((now - at).max(0.0));
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encoding to memory cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Why the daemon is not ready: (started, feeds without a generation). Set with
/// [`Metrics::set_ready`], read by `/readyz`.
#[derive(Default)]
pub struct Readiness(std::sync::Mutex<(bool, Vec<String>)>);

impl Readiness {
    /// What is missing, for a 503 body; `None` when nothing is (or nothing was ever set: a
    /// server without a daemon behind it goes by `iocd_ready` alone).
    pub(crate) fn waiting_for(&self) -> Option<String> {
        let s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match &*s {
            (_, missing) if !missing.is_empty() => Some(format!(
                "waiting for feeds without a generation: {}",
                missing.join(", ")
            )),
            (false, _) => Some("starting".to_owned()),
            (true, _) => None,
        }
    }
}

/// Triage: hits in, alerts out, what was suppressed and why, and the size of its bounded
/// state. Matcher threads count per batch and add here once (`triage::Triage::flush`).
#[derive(Clone)]
pub struct TriageMetrics {
    /// Hits (matches) triage looked at.
    pub hits: IntCounter,
    /// Lines with at least one hit (what was one alert each before triage).
    pub hit_lines: IntCounter,
    /// Alerts made, by priority and type (`hit`, `escalation`, `rollup`, `flood`, `digest`),
    /// before routing (what each sink got is `iocd_sink_alerts_total`).
    pub alerts: IntCounterVec,
    /// Hits not alerted, by reason (`allowlist`, `false_positive`, `duplicate`).
    pub suppressed: IntCounterVec,
    /// Alerts folded into a sink's digest instead of sent at once, by sink.
    pub digested: IntCounterVec,
    /// Deduplication windows open.
    pub dedup_entries: IntGauge,
    /// Indicators tracked by the flood guard.
    pub flood_entries: IntGauge,
    /// State dropped to stay within its bound, by table (`dedup`, `flood`).
    pub evictions: IntCounterVec,
    /// Indicators declared a flood (of any kind: a scan, a possible outbreak, shared
    /// infrastructure, a likely false positive).
    pub floods: IntCounter,
    /// In event time, lines older than the clock's allowance for disorder, triaged at the
    /// clock minus `triage.max_lateness` instead of at their own time.
    pub late_lines: IntCounter,
    /// Hits on indicators the feed lists, by feed (a hit on an indicator two feeds list
    /// counts for both).
    pub feed_hits: IntCounterVec,
    /// Hits on indicators no other feed lists, by feed: what only this feed would have caught.
    pub feed_unique_hits: IntCounterVec,
    /// Hit and escalation alerts, by the feeds that list the indicator the alert is about
    /// and by its priority.
    pub feed_alerts: IntCounterVec,
}

impl TriageMetrics {
    pub fn register(registry: &Registry) -> TriageMetrics {
        let f = Families(registry);
        TriageMetrics {
            hits: f.counter("iocd_triage_hits_total", "Hits triage looked at."),
            hit_lines: f.counter(
                "iocd_triage_hit_lines_total",
                "Lines with at least one hit triage looked at.",
            ),
            alerts: f.counters(
                "iocd_triage_alerts_total",
                "Alerts made, by priority and type, before routing.",
                &["priority", "type"],
            ),
            suppressed: f.counters(
                "iocd_triage_suppressed_hits_total",
                "Hits not alerted, by reason.",
                &["reason"],
            ),
            digested: f.counters(
                "iocd_triage_digested_alerts_total",
                "Alerts folded into a sink's digest instead of sent at once, by sink.",
                &["sink"],
            ),
            dedup_entries: f.gauge("iocd_triage_dedup_entries", "Deduplication windows open."),
            flood_entries: f.gauge(
                "iocd_triage_flood_entries",
                "Indicators tracked by the flood guard.",
            ),
            evictions: f.counters(
                "iocd_triage_evictions_total",
                "Triage state dropped to stay within its bound, by table.",
                &["table"],
            ),
            floods: f.counter(
                "iocd_triage_floods_total",
                "Indicators declared a flood (scan, possible outbreak, shared infrastructure or likely false positive).",
            ),
            late_lines: f.counter(
                "iocd_triage_late_lines_total",
                "Event time: lines older than triage.max_lateness behind the clock, triaged at the clock minus max_lateness.",
            ),
            feed_hits: f.counters(
                "iocd_feed_hits_total",
                "Hits on indicators the feed lists, by feed.",
                &["feed"],
            ),
            feed_unique_hits: f.counters(
                "iocd_feed_unique_hits_total",
                "Hits on indicators no other feed lists, by feed.",
                &["feed"],
            ),
            feed_alerts: f.counters(
                "iocd_feed_alerts_total",
                "Hit and escalation alerts, by the feeds listing their indicator and by priority.",
                &["feed", "priority"],
            ),
        }
    }
}

/// The admin server: what it serves and what it refuses (a refusal is also logged).
#[derive(Clone)]
pub struct AdminMetrics {
    /// Connections being served.
    pub connections: IntGauge,
    /// Connections closed without an answer, by reason (`over_capacity`: beyond
    /// `admin.max_connections`; `header_timeout`; `headers_too_large`; `malformed`).
    pub refused_connections: IntCounterVec,
    /// Requests refused, by reason (`unauthorized`, `body_too_large`, `body_timeout`,
    /// `body_error`).
    pub refused_requests: IntCounterVec,
    /// Failed `accept` calls, by kind (`fd_exhausted`: EMFILE, ENFILE, ENOBUFS, ENOMEM, after
    /// which the listener backs off; `other`).
    pub accept_errors: IntCounterVec,
}

impl AdminMetrics {
    pub fn register(registry: &Registry) -> AdminMetrics {
        let f = Families(registry);
        AdminMetrics {
            connections: f.gauge(
                "iocd_admin_connections",
                "Connections the admin server is serving.",
            ),
            refused_connections: f.counters(
                "iocd_admin_refused_connections_total",
                "Admin connections closed without an answer, by reason.",
                &["reason"],
            ),
            refused_requests: f.counters(
                "iocd_admin_refused_requests_total",
                "Admin requests refused, by reason.",
                &["reason"],
            ),
            accept_errors: f.counters(
                "iocd_admin_accept_errors_total",
                "Failed accept calls of the admin listener, by kind.",
                &["kind"],
            ),
        }
    }
}

/// `iocd_build_info{version,commit,simd} 1` (`simd`: the byte-class kernel the matcher runs on
/// this CPU: `avx512`, `avx2`, `sse2` or `portable`), and the standard `process_*` families
/// (CPU seconds, resident and virtual memory, open and maximum file descriptors, start time,
/// threads) read from `/proc/self` at each scrape by the prometheus crate's process collector.
fn build_info(registry: &Registry) -> IntGaugeVec {
    let g = Families(registry).gauges(
        "iocd_build_info",
        "1, labelled with the version and commit iocd was built from, and the SIMD kernel its matcher runs on this CPU.",
        &["version", "commit", "simd"],
    );
    g.with_label_values(&[
        env!("CARGO_PKG_VERSION"),
        crate::COMMIT,
        crate::Kernel::best().as_str(),
    ])
    .set(1);
    // The process families are the standard ones every exporter has: not noted for the
    // metrics audit (they move on their own, or are constants such as the start time).
    let _ = registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ));
    g
}

/// Retro-matching: the spool of syslog, file and stdin lines, and the jobs that look for a
/// reload's new indicators in the history (spool and Kafka topics).
#[derive(Clone)]
pub struct RetroMetrics {
    /// Lines not spooled because the spool writer was behind (they were matched live).
    pub spool_dropped: IntCounter,
    /// Segments found corrupt (a bad checksum, a block that does not decode, or a segment a
    /// crash cut in the middle of a block): the rest of such a segment is skipped.
    pub spool_corrupt: IntCounter,
    /// Uncompressed bytes of lines written to the spool.
    pub spool_written_bytes: IntCounter,
    /// Bytes of the spool on disk (compressed, closed and open segments).
    pub spool_bytes: IntGauge,
    /// Segments closed (fsynced, readable by a job).
    pub spool_segments: IntCounter,
    /// Closed segments on disk.
    pub spool_segments_kept: IntGauge,
    /// Segments deleted, by reason (`age`: older than `lookback`; `size`: past
    /// `spool_max_bytes`).
    pub spool_deleted: IntCounterVec,
    /// Blocks or segments the spool could not write or close (disk full, permissions).
    pub spool_errors: IntCounter,
    /// Retro jobs ended, by outcome (`done`, `failed`, `stopped`: shutdown in the middle,
    /// resumed at the next start).
    pub jobs: IntCounterVec,
    /// 1 while a retro job runs.
    pub running: IntGauge,
    /// Added indicators whose lookback was searched to the end.
    pub indicators_checked: IntCounter,
    /// Added indicators waiting for, or in, a job.
    pub indicators_pending: IntGauge,
    /// Bytes of history scanned, by history (`spool`, `kafka`).
    pub scanned_bytes: IntCounterVec,
    /// Lines (Kafka messages) of history scanned, by history.
    pub scanned_messages: IntCounterVec,
    /// Lines of history with a hit on an added indicator.
    pub hits: IntCounter,
    /// How long jobs took, from start to end (waits for the CPU share included).
    pub duration: Histogram,
    /// The time range the last finished job covered (Unix seconds of the oldest and the
    /// newest line it read).
    pub covered_from: IntGauge,
    pub covered_to: IntGauge,
}

impl RetroMetrics {
    pub fn register(registry: &Registry) -> RetroMetrics {
        let f = Families(registry);
        RetroMetrics {
            spool_dropped: f.counter(
                "iocd_retro_spool_dropped_lines_total",
                "Lines not spooled because the spool writer was behind.",
            ),
            spool_corrupt: f.counter(
                "iocd_retro_spool_corrupt_segments_total",
                "Spool segments found corrupt; the rest of each was skipped.",
            ),
            spool_written_bytes: f.counter(
                "iocd_retro_spool_written_bytes_total",
                "Uncompressed bytes of lines written to the spool.",
            ),
            spool_bytes: f.gauge(
                "iocd_retro_spool_bytes",
                "Bytes of the spool on disk (compressed).",
            ),
            spool_segments: f.counter(
                "iocd_retro_spool_segments_closed_total",
                "Spool segments closed and synced.",
            ),
            spool_segments_kept: f.gauge(
                "iocd_retro_spool_segments",
                "Closed spool segments on disk.",
            ),
            spool_deleted: f.counters(
                "iocd_retro_spool_deleted_segments_total",
                "Spool segments deleted, by reason (age, size).",
                &["reason"],
            ),
            spool_errors: f.counter(
                "iocd_retro_spool_write_errors_total",
                "Spool blocks or segments that could not be written or closed.",
            ),
            jobs: f.counters(
                "iocd_retro_jobs_total",
                "Retro jobs ended, by outcome.",
                &["outcome"],
            ),
            running: f.gauge("iocd_retro_job_running", "1 while a retro job runs."),
            indicators_checked: f.counter(
                "iocd_retro_indicators_checked_total",
                "Added indicators whose lookback was searched to the end.",
            ),
            indicators_pending: f.gauge(
                "iocd_retro_indicators_pending",
                "Added indicators waiting for, or in, a retro job.",
            ),
            scanned_bytes: f.counters(
                "iocd_retro_scanned_bytes_total",
                "Bytes of history scanned by retro jobs, by history.",
                &["history"],
            ),
            scanned_messages: f.counters(
                "iocd_retro_scanned_messages_total",
                "Lines of history scanned by retro jobs, by history.",
                &["history"],
            ),
            hits: f.counter(
                "iocd_retro_hits_total",
                "Lines of history with a hit on an added indicator.",
            ),
            duration: f.histogram(
                "iocd_retro_job_duration_seconds",
                "How long retro jobs took.",
                vec![0.1, 1.0, 10.0, 60.0, 600.0, 3600.0, 21600.0],
            ),
            covered_from: f.gauge(
                "iocd_retro_covered_from_timestamp_seconds",
                "Unix time of the oldest line the last finished retro job read.",
            ),
            covered_to: f.gauge(
                "iocd_retro_covered_to_timestamp_seconds",
                "Unix time of the newest line the last finished retro job read.",
            ),
        }
    }
}

/// The exports' families, by export name (from the configuration: bounded).
#[derive(Clone)]
pub struct ExportMetrics {
    /// Entries in the version in place, by export.
    pub entries: IntGaugeVec,
    /// Bytes of the version in place, by export.
    pub bytes: IntGaugeVec,
    /// Unix time the version in place was written, by export.
    pub last_change: IntGaugeVec,
    /// Versions written, by export.
    pub writes: IntCounterVec,
    /// Versions held back by the change guard (the previous one stayed), by export and reason
    /// (`shrink`, `grow`).
    pub held: IntCounterVec,
    /// Versions that could not be written (the previous one stayed), by export.
    pub errors: IntCounterVec,
    /// Entries left out because the format cannot carry them safely, by export and reason
    /// (`unsafe`, `too_long`, `wildcard`).
    pub skipped: IntCounterVec,
    /// Requests to the export listener, by export (`unknown` for a name no export has) and
    /// status code.
    pub requests: IntCounterVec,
    /// Body bytes the export listener sent (compressed when gzip), by export.
    pub sent_bytes: IntCounterVec,
}

impl ExportMetrics {
    pub fn register(registry: &Registry) -> ExportMetrics {
        let f = Families(registry);
        ExportMetrics {
            entries: f.gauges(
                "iocd_export_entries",
                "Entries in the export version in place, by export.",
                &["export"],
            ),
            bytes: f.gauges(
                "iocd_export_bytes",
                "Bytes of the export version in place, by export.",
                &["export"],
            ),
            last_change: f.gauges(
                "iocd_export_last_change_timestamp_seconds",
                "Unix time the export version in place was written, by export.",
                &["export"],
            ),
            writes: f.counters(
                "iocd_export_writes_total",
                "Export versions written, by export.",
                &["export"],
            ),
            held: f.counters(
                "iocd_export_held_total",
                "Export versions held back by the change guard, by export and reason.",
                &["export", "reason"],
            ),
            errors: f.counters(
                "iocd_export_errors_total",
                "Export versions that could not be written, by export.",
                &["export"],
            ),
            skipped: f.counters(
                "iocd_export_skipped_entries_total",
                "Entries an export format could not carry safely, by export and reason.",
                &["export", "reason"],
            ),
            requests: f.counters(
                "iocd_export_requests_total",
                "Requests to the export listener, by export and status code.",
                &["export", "status"],
            ),
            sent_bytes: f.counters(
                "iocd_export_sent_bytes_total",
                "Body bytes the export listener sent, by export.",
                &["export"],
            ),
        }
    }
}

/// Every metric family iocd registers (after a [`Metrics::new`]), sorted: the list the
/// metrics audit (tests/metrics_move.rs) checks, so that a new family without a test that
/// makes it move fails the build's tests.
pub fn family_names() -> Vec<String> {
    let _ = Metrics::new();
    super::families::registered()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_renders_with_its_prefix() {
        let m = Metrics::new();
        m.events_in.with_label_values(&["syslog_udp"]).inc();
        m.matches.with_label_values(&["ipv4"]).inc_by(3);
        m.match_latency.observe(0.001);
        let text = m.render();
        assert!(text.contains("iocd_source_events_total{source=\"syslog_udp\"} 1"));
        assert!(text.contains("iocd_matcher_matches_total{kind=\"ipv4\"} 3"));
        // iocd's own families, and the standard process ones beside them.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(
                line.starts_with("iocd_") || line.starts_with("process_"),
                "{line}"
            );
        }
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
    }
}
