//! The metrics audit: every family iocd registers has a test that makes it move.
//!
//! A registered metric that never changes is a lie told to the operator who alerts on it.
//! [`MOVERS`] names, for each family iocd registers
//! (`iocd::telemetry::metrics::family_names`), what makes it move:
//!
//! * [`Mover::Here`]: [`a_real_daemon_moves_its_families`] below runs `iocd run` with feeds,
//!   a feedback file, sightings, triage, TCP syslog in and a file sink out, does the things
//!   an operator's day is made of (traffic, a duplicate, a false positive, a garbage feed, a
//!   late feed, SIGHUP), scrapes `/metrics` after each step, and fails unless each such family
//!   has a sample that changed from the first scrape (or appeared);
//! * [`Mover::By`]: another test moves it (a sink against a failing HTTP server, Kafka
//!   against a broker, the triage unit tests): the audit checks that the test exists and
//!   that its body reads the family (`token`);
//! * [`Mover::Gap`]: nothing moves it yet; the reason says what a test needs. Listed here so
//!   the gap is visible and counted, not forgotten.
//!
//! [`every_registered_family_has_a_mover`] fails when a family is registered without a line
//! in [`MOVERS`] (add one), or a line names a family that is no longer registered.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use iocd_testkit::support;
use support::{free_port, http, http_get, iocd_run, signal, stop_iocd, write_config};

#[derive(Debug)]
enum Mover {
    /// Moved by [`a_real_daemon_moves_its_families`].
    Here,
    /// Moved by test `test` in `file` (relative to the package), whose body mentions `token`.
    By {
        file: &'static str,
        test: &'static str,
        token: &'static str,
    },
    /// Not moved by any test yet, and why.
    Gap(&'static str),
}

use Mover::{By, Gap, Here};

const fn by(file: &'static str, test: &'static str, token: &'static str) -> Mover {
    By { file, test, token }
}

const KAFKA: &str = "tests/kafka.rs";
const SINKS: &str = "tests/sinks.rs";
const ADMIN_SECURITY: &str = "tests/admin_security.rs";
const CRASH_STATE_TEST: &str = "leftovers_of_a_killed_daemon_are_cleaned_at_the_next_start";

/// One line per family. A new family: add its line here (`Here` if the daemon run below
/// moves it, else the test that does).
const MOVERS: &[(&str, Mover)] = &[
    ("iocd_source_events_total", Here),
    ("iocd_source_bytes_total", Here),
    (
        "iocd_source_parse_errors_total",
        by(
            "tests/sources.rs",
            "tls_lf_and_octet_counting",
            "\"parse_errors\"",
        ),
    ),
    ("iocd_source_dropped_events_total", Here),
    ("iocd_source_connections", Here),
    (
        "iocd_pipeline_queue_depth_batches",
        by(
            "src/source/mod.rs",
            "udp_drops_and_counts_when_full_others_wait",
            "queue_depth.get()",
        ),
    ),
    ("iocd_matcher_matches_total", Here),
    ("iocd_matcher_latency_seconds", Here),
    ("iocd_sink_alerts_total", Here),
    (
        "iocd_sink_errors_total",
        by(
            SINKS,
            "http_outage_then_recovery_delivers_each_alert_once_in_order",
            "errors(&metrics",
        ),
    ),
    (
        "iocd_sink_retries_total",
        by(
            SINKS,
            "http_outage_then_recovery_delivers_each_alert_once_in_order",
            "retries(&metrics",
        ),
    ),
    (
        "iocd_sink_buffered_alerts",
        by(
            SINKS,
            "http_full_buffer_blocks_the_sender_until_the_endpoint_recovers",
            "buffered(&metrics, \"http0\") == 4",
        ),
    ),
    (
        "iocd_sink_dropped_alerts_total",
        by(
            "tests/http_delivery.rs",
            "a_full_dead_letter_file_means_an_error_log_and_a_count_never_silence",
            "dropped(&metrics",
        ),
    ),
    (
        "iocd_sink_request_duration_seconds",
        by(
            SINKS,
            "http_outage_then_recovery_delivers_each_alert_once_in_order",
            "sink_latency",
        ),
    ),
    ("iocd_ioc_indicators", Here),
    ("iocd_ioc_rejected_lines", Here),
    ("iocd_ioc_reloads_total", Here),
    ("iocd_ioc_reload_failures_total", Here),
    (
        "iocd_set_file_faulted_pages_total",
        by(
            "tests/compiled_set.rs",
            "daemons_map_the_file_share_it_and_survive_its_truncation",
            "iocd_set_file_faulted_pages_total",
        ),
    ),
    ("iocd_ioc_last_reload_timestamp_seconds", Here),
    ("iocd_ioc_reload_duration_seconds", Here),
    ("iocd_ioc_set_generation", Here),
    ("iocd_ioc_bytes_per_indicator", Here),
    ("iocd_feed_fetches_total", Here),
    ("iocd_ready", Here),
    ("iocd_feed_generation_age_seconds", Here),
    ("iocd_feed_up", Here),
    ("iocd_feed_last_success_timestamp_seconds", Here),
    ("iocd_feed_refresh_failures_total", Here),
    ("iocd_feed_hits_total", Here),
    ("iocd_feed_unique_hits_total", Here),
    ("iocd_feed_alerts_total", Here),
    ("iocd_feed_false_positive_marks", Here),
    ("iocd_feedback_marks", Here),
    ("iocd_feedback_suppressed_hits_total", Here),
    ("iocd_feedback_file_rejected_lines", Here),
    (
        "iocd_export_entries",
        by(
            "src/export/tests.rs",
            "writes_on_change_only_and_the_serial_grows",
            "m.entries",
        ),
    ),
    (
        "iocd_export_bytes",
        by(
            "src/export/tests.rs",
            "writes_on_change_only_and_the_serial_grows",
            "m.bytes",
        ),
    ),
    (
        "iocd_export_last_change_timestamp_seconds",
        by(
            "src/export/tests.rs",
            "writes_on_change_only_and_the_serial_grows",
            "m.last_change",
        ),
    ),
    (
        "iocd_export_writes_total",
        by(
            "src/export/tests.rs",
            "writes_on_change_only_and_the_serial_grows",
            "m.writes",
        ),
    ),
    (
        "iocd_export_held_total",
        by(
            "src/export/tests.rs",
            "the_change_guard_holds_back_and_keeps_the_previous_version",
            "metrics.export.held",
        ),
    ),
    (
        "iocd_export_errors_total",
        by(
            "src/export/tests.rs",
            "false_positive_marks_leave_the_export_and_failures_are_counted",
            "metrics.export.errors",
        ),
    ),
    (
        "iocd_export_skipped_entries_total",
        by(
            "src/export/tests.rs",
            "unsafe_entries_are_counted_by_reason",
            "metrics.export.skipped",
        ),
    ),
    (
        "iocd_export_requests_total",
        by(
            "tests/exports.rs",
            "the_export_listener_serves_over_tls_with_etag_gzip_and_credentials",
            "iocd_export_requests_total",
        ),
    ),
    (
        "iocd_export_sent_bytes_total",
        by(
            "tests/exports.rs",
            "the_export_listener_serves_over_tls_with_etag_gzip_and_credentials",
            "iocd_export_sent_bytes_total",
        ),
    ),
    (
        "iocd_retro_spool_written_bytes_total",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_spool_written_bytes_total",
        ),
    ),
    (
        "iocd_retro_spool_bytes",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_spool_bytes",
        ),
    ),
    (
        "iocd_retro_spool_segments_closed_total",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_spool_segments_closed_total",
        ),
    ),
    (
        "iocd_retro_spool_segments",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_spool_segments",
        ),
    ),
    (
        "iocd_retro_jobs_total",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_jobs_total",
        ),
    ),
    (
        "iocd_retro_job_running",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_job_running",
        ),
    ),
    (
        "iocd_retro_indicators_checked_total",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_indicators_checked_total",
        ),
    ),
    (
        "iocd_retro_indicators_pending",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_indicators_pending",
        ),
    ),
    (
        "iocd_retro_scanned_bytes_total",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_scanned_bytes_total",
        ),
    ),
    (
        "iocd_retro_scanned_messages_total",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_scanned_messages_total",
        ),
    ),
    (
        "iocd_retro_hits_total",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_hits_total",
        ),
    ),
    (
        "iocd_retro_job_duration_seconds",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_job_duration_seconds",
        ),
    ),
    (
        "iocd_retro_covered_from_timestamp_seconds",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_covered_from_timestamp_seconds",
        ),
    ),
    (
        "iocd_retro_covered_to_timestamp_seconds",
        by(
            "tests/retro.rs",
            "an_indicator_published_late_finds_the_hosts_that_reached_it_first",
            "iocd_retro_covered_to_timestamp_seconds",
        ),
    ),
    (
        "iocd_retro_spool_corrupt_segments_total",
        by(
            "tests/retro.rs",
            "a_job_resumes_after_a_restart_and_skips_a_corrupt_segment",
            "iocd_retro_spool_corrupt_segments_total",
        ),
    ),
    (
        "iocd_retro_spool_dropped_lines_total",
        by(
            "src/daemon/retro/spool/tests.rs",
            "a_full_queue_drops_from_the_spool_and_counts",
            "iocd_retro_spool_dropped_lines_total",
        ),
    ),
    (
        "iocd_retro_spool_deleted_segments_total",
        by(
            "src/daemon/retro/spool/tests.rs",
            "the_spool_keeps_to_its_size_and_age",
            "iocd_retro_spool_deleted_segments_total",
        ),
    ),
    (
        "iocd_retro_spool_write_errors_total",
        by(
            "src/daemon/retro/spool/tests.rs",
            "a_folder_that_fails_writes_is_counted",
            "iocd_retro_spool_write_errors_total",
        ),
    ),
    (
        "iocd_build_info",
        by(
            "tests/cli.rs",
            "version_completions_manpage_and_build_info",
            "iocd_build_info",
        ),
    ),
    ("iocd_sightings_recorded_total", Here),
    ("iocd_sightings_pending_entries", Here),
    ("iocd_sightings_sent_total", Here),
    (
        "iocd_sightings_errors_total",
        by(
            "tests/feedback.rs",
            "sightings_wait_for_misp_to_come_back",
            "iocd_sightings_errors_total",
        ),
    ),
    (
        "iocd_sightings_retries_total",
        by(
            "tests/feedback.rs",
            "sightings_go_to_misp_and_the_file_aggregated",
            "iocd_sightings_retries_total",
        ),
    ),
    (
        "iocd_sightings_dropped_total",
        by(
            "tests/feedback.rs",
            "sightings_go_to_misp_and_the_file_aggregated",
            "iocd_sightings_dropped_total",
        ),
    ),
    ("iocd_triage_hits_total", Here),
    ("iocd_triage_hit_lines_total", Here),
    ("iocd_triage_alerts_total", Here),
    ("iocd_triage_suppressed_hits_total", Here),
    (
        "iocd_triage_digested_alerts_total",
        by(
            "src/triage/tests.rs",
            "routing_folds_low_priorities_into_a_periodic_digest",
            "iocd_triage_digested_alerts_total",
        ),
    ),
    (
        "iocd_triage_late_lines_total",
        By {
            file: "tests/event_time.rs",
            test: "lines_later_than_the_allowance_are_counted",
            token: "iocd_triage_late_lines_total",
        },
    ),
    ("iocd_triage_dedup_entries", Here),
    ("iocd_triage_flood_entries", Here),
    (
        "iocd_triage_evictions_total",
        by(
            "src/triage/tests.rs",
            "dedup_state_is_bounded_and_evictions_counted",
            "iocd_triage_evictions_total",
        ),
    ),
    (
        "iocd_triage_floods_total",
        by(
            "src/triage/tests.rs",
            "a_flood_of_shared_infrastructure_is_reported_once_and_demoted",
            "iocd_triage_floods_total",
        ),
    ),
    (
        "iocd_kafka_consumer_lag_messages",
        Gap("needs a Kafka test that reads the lag while a backlog is pending"),
    ),
    (
        "iocd_kafka_committed_offset",
        by(
            KAFKA,
            "sigkill_mid_stream_replays_only_the_uncommitted_window",
            "iocd_kafka_committed_offset",
        ),
    ),
    (
        "iocd_kafka_commits_total",
        Gap("tests/kafka.rs checks committed offsets at the broker, not this counter"),
    ),
    (
        "iocd_kafka_rebalances_total",
        by(
            KAFKA,
            "two_instances_share_partitions_and_survive_one_kill",
            "iocd_kafka_rebalances_total",
        ),
    ),
    (
        "iocd_kafka_assigned_partitions",
        by(
            KAFKA,
            "four_partitions_exact_alerts_and_final_commit",
            "iocd_kafka_assigned_partitions 4",
        ),
    ),
    (
        "iocd_kafka_inflight_batches",
        by(
            KAFKA,
            "sink_down_holds_offsets_until_alerts_are_delivered",
            "iocd_kafka_inflight_batches",
        ),
    ),
    (
        "iocd_kafka_skipped_messages_total",
        by(
            KAFKA,
            "four_partitions_exact_alerts_and_final_commit",
            "iocd_kafka_skipped_messages_total",
        ),
    ),
    (
        "iocd_kafka_revoke_abandoned_total",
        Gap("needs a rebalance while a partition's alerts are stuck in a dead sink"),
    ),
    (
        "iocd_kafka_offset_gap_messages_total",
        Gap("needs a topic with compacted or deleted offsets"),
    ),
    (
        "iocd_kafka_consumer_errors_total",
        Gap("needs a consumer error from the broker (e.g. an unknown topic)"),
    ),
    (
        "iocd_kafka_producer_errors_total",
        Gap("needs the Kafka sink to hit a broker error (e.g. message.max.bytes)"),
    ),
    (
        "iocd_matcher_decode_panics_total",
        by(
            "src/daemon/worker.rs",
            "a_panicking_decoder_loses_no_alert_and_no_thread",
            "decode_panics",
        ),
    ),
    (
        "iocd_sink_up",
        by(
            "tests/http_delivery.rs",
            "daemon_held_then_delivers",
            "sink_up_metric",
        ),
    ),
    (
        "iocd_sink_dead_letters_total",
        by(
            "tests/http_delivery.rs",
            "alerts_refused_alone_go_to_the_dead_letter_file_and_settle",
            "dead_letters(",
        ),
    ),
    (
        "iocd_admin_connections",
        by(
            ADMIN_SECURITY,
            "a_connection_flood_neither_stops_intake_nor_keeps_metrics_down",
            "\"iocd_admin_connections\"",
        ),
    ),
    (
        "iocd_admin_refused_connections_total",
        by(
            ADMIN_SECURITY,
            "a_connection_flood_neither_stops_intake_nor_keeps_metrics_down",
            "iocd_admin_refused_connections_total",
        ),
    ),
    (
        "iocd_admin_refused_requests_total",
        by(
            ADMIN_SECURITY,
            "the_token_guards_state_changes_and_reads_stay_open",
            "iocd_admin_refused_requests_total",
        ),
    ),
    (
        "iocd_admin_accept_errors_total",
        by(
            ADMIN_SECURITY,
            "accept_backs_off_when_descriptors_run_out",
            "iocd_admin_accept_errors_total",
        ),
    ),
    (
        "iocd_feedback_refused_total",
        by(
            ADMIN_SECURITY,
            "a_reason_that_would_forge_a_log_line_is_refused",
            "iocd_feedback_refused_total",
        ),
    ),
    (
        "iocd_source_closed_connections_total",
        by(
            "tests/slow_senders.rs",
            "slots_held_by_slow_senders_do_not_block_a_new_sender",
            "iocd_source_closed_connections_total",
        ),
    ),
    (
        "iocd_source_receive_buffer_bytes",
        by(
            "tests/sources.rs",
            "udp_kernel_drops_are_counted_exactly",
            "receive_buffer",
        ),
    ),
    (
        "iocd_state_temp_files_removed_total",
        by(
            "tests/crash_state.rs",
            CRASH_STATE_TEST,
            "iocd_state_temp_files_removed_total",
        ),
    ),
    (
        "iocd_state_partial_line_bytes_cut_total",
        by(
            "tests/crash_state.rs",
            CRASH_STATE_TEST,
            "iocd_state_partial_line_bytes_cut_total",
        ),
    ),
];

/// The text of `fn name(` ... up to the next line that is a lone `}` at its indentation.
fn fn_body<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(&format!("fn {name}("))?;
    let indent = text[..start]
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.len() - l.trim_start().len());
    let close = format!("\n{}}}\n", " ".repeat(indent));
    let end = text[start..].find(&close)? + start;
    Some(&text[start..end])
}

#[test]
fn every_registered_family_has_a_mover() {
    let registered: BTreeSet<String> = iocd::telemetry::metrics::family_names()
        .into_iter()
        .collect();
    let listed: BTreeMap<&str, &Mover> = MOVERS.iter().map(|(f, m)| (*f, m)).collect();
    assert_eq!(listed.len(), MOVERS.len(), "a family listed twice");
    let missing: Vec<&String> = registered
        .iter()
        .filter(|f| !listed.contains_key(f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "registered without a test that makes it move (add a line to MOVERS in \
         tests/metrics_move.rs): {missing:?}"
    );
    let stale: Vec<&&str> = listed
        .keys()
        .filter(|f| !registered.contains(**f))
        .collect();
    assert!(stale.is_empty(), "listed but not registered: {stale:?}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut gaps = Vec::new();
    for (family, mover) in MOVERS {
        match mover {
            Here => {}
            By { file, test, token } => {
                let text = std::fs::read_to_string(root.join(file))
                    .unwrap_or_else(|e| panic!("{family}: {file}: {e}"));
                let body = fn_body(&text, test)
                    .unwrap_or_else(|| panic!("{family}: no test {test} in {file}"));
                assert!(
                    body.contains(token),
                    "{family}: {file}::{test} does not read it ({token:?})"
                );
            }
            Gap(why) => gaps.push(format!("{family}: {why}")),
        }
    }
    // The gaps are known and listed; a new family cannot be a gap without a line here.
    eprintln!(
        "families no test moves yet ({}):\n  {}",
        gaps.len(),
        gaps.join("\n  ")
    );
    assert!(gaps.len() <= 6, "more gaps than the known ones: {gaps:?}");
}

/// Every sample of a scrape: series (name with labels) -> value.
fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            Some((series.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// The family of a series: its name without labels and histogram suffixes.
fn family_of(series: &str) -> &str {
    let name = series.split('{').next().unwrap_or(series);
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// The value of the sample `series` (name and labels exactly as exposed), if present.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn syslog_lines(port: u16, lines: &[String]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for l in lines {
        writeln!(s, "<13>Dec  3 10:00:00 fw1 kernel: {l}").unwrap();
    }
}

#[test]
fn a_real_daemon_moves_its_families() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("feed.txt"),
        "45.1.1.1\n45.3.3.3\nevil-c2.net\nnot_an_indicator\n",
    )
    .unwrap();
    // The late feed is an empty folder at start (a MISP feed folder without its manifest):
    // it cannot be loaded, so iocd is not ready until it is there.
    std::fs::create_dir(d.join("late")).unwrap();
    std::fs::write(d.join("fp.txt"), "").unwrap();
    let (syslog, admin) = (free_port(), free_port());
    let cfg = write_config(
        d,
        &format!(
            r#"
[engine]
threads = 1
[[feeds]]
name = "main"
path = "feed.txt"
[[feeds]]
name = "late"
path = "late"
[reload]
watch_files = false
watch_interval = "100ms"
[feedback]
file = "fp.txt"
[sightings]
file = "sightings.jsonl"
interval = "1s"
[sources.syslog_tcp]
listen = "127.0.0.1:{syslog}"
max_message_bytes = 1024
[[sinks]]
type = "file"
path = "alerts.jsonl"
[admin]
listen = "127.0.0.1:{admin}"
"#
        ),
    );
    let mut child = iocd_run(&cfg).spawn().unwrap();
    let t = Instant::now();
    let first = loop {
        support::assert_running(&mut child);
        if let Some(b) = http_get(admin, "/metrics").filter(|b| b.contains("iocd_feed_up")) {
            break b;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no /metrics");
        std::thread::sleep(Duration::from_millis(50));
    };
    let first = samples(&first);
    let mut moved: BTreeSet<String> = BTreeSet::new();
    let mut look = |what: &str| {
        let now = samples(&http_get(admin, "/metrics").unwrap_or_else(|| panic!("{what}")));
        for (series, v) in &now {
            if first.get(series) != Some(v) {
                moved.insert(family_of(series).to_owned());
            }
        }
    };
    let wait = |what: &str, cond: &dyn Fn(&str) -> bool| {
        let t = Instant::now();
        while !http_get(admin, "/metrics").is_some_and(|b| cond(&b)) {
            assert!(t.elapsed() < Duration::from_secs(30), "{what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    // Traffic: hits, the same hit again (a duplicate), an oversize line (cut), an open
    // connection while scraping.
    let held = TcpStream::connect(("127.0.0.1", syslog)).unwrap();
    let hit = "src=10.0.0.5 dst=45.1.1.1 action=allowed".to_owned();
    syslog_lines(
        syslog,
        &[
            hit.clone(),
            hit.clone(),
            "query evil-c2.net from 10.0.0.6".to_owned(),
            format!("dst=45.1.1.1 pad={}", "x".repeat(3000)),
        ],
    );
    wait("alerts", &|b| {
        sample(b, "iocd_triage_hits_total").is_some_and(|n| n >= 4.0)
    });
    look("traffic");

    // A false-positive mark on 45.3.3.3 (and a line that is not one), then a hit on it.
    std::fs::write(
        d.join("fp.txt"),
        "45.3.3.3 # our scanner\n45.9.9.9 colour=blue\n",
    )
    .unwrap();
    wait("feedback file", &|b| {
        sample(b, "iocd_feedback_marks{origin=\"file\"}") == Some(1.0)
    });
    syslog_lines(syslog, &["src=10.0.0.7 dst=45.3.3.3".to_owned()]);
    wait("false positive", &|b| {
        sample(b, "iocd_feedback_suppressed_hits_total") == Some(1.0)
    });
    look("feedback");
    wait("sightings", &|b| {
        sample(b, "iocd_sightings_sent_total{output=\"file\"}").is_some_and(|n| n > 0.0)
    });
    look("sightings");

    // SIGHUP with the late feed still missing: a reload that failed in part.
    signal(&child, "HUP");
    wait("refused", &|b| {
        sample(b, "iocd_ioc_reload_failures_total") == Some(1.0)
    });
    look("refused");
    // Fixed: the late feed arrives, iocd becomes ready, a new set is swapped in.
    std::fs::remove_dir(d.join("late")).unwrap();
    std::fs::write(d.join("late"), "45.2.2.2\n45.2.2.3\nbad value\n").unwrap();
    signal(&child, "HUP");
    wait("late feed", &|b| sample(b, "iocd_ready") == Some(1.0));
    assert_eq!(http(admin, "GET", "/readyz").unwrap().0, 200);
    std::thread::sleep(Duration::from_millis(1100));
    look("late");
    drop(held);

    // GET /feeds: the same per feed, with the indicators and the refresh.
    let body = http_get(admin, "/feeds").expect("GET /feeds");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let feed = |name: &str| {
        v["feeds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .clone()
    };
    let main = feed("main");
    assert_eq!(main["indicators"], 3, "{body}");
    assert_eq!(main["up"], true, "{body}");
    assert!(main["last_refresh"].is_string(), "{body}");
    assert!(main["age_seconds"].as_f64().is_some(), "{body}");
    // 45.1.1.1 twice (cut line included: three), evil-c2.net, 45.3.3.3 (false positive).
    assert!(main["hits"].as_u64().unwrap() >= 4, "{body}");
    assert_eq!(
        main["unique_hits"], main["hits"],
        "only main lists them: {body}"
    );
    assert!(main["alerts"].as_u64().unwrap() >= 2, "{body}");
    assert_eq!(main["false_positive_marks"], 1, "{body}");
    let late = feed("late");
    assert_eq!(
        (late["indicators"].as_u64(), late["hits"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(late["false_positive_marks"], 0, "{body}");

    let (status, log) = stop_iocd(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{log}");
    let here: BTreeSet<&str> = MOVERS
        .iter()
        .filter(|(_, m)| matches!(m, Here))
        .map(|(f, _)| *f)
        .collect();
    let still: Vec<&&str> = here.iter().filter(|f| !moved.contains(**f)).collect();
    assert!(
        still.is_empty(),
        "families that did not move: {still:?}\nmoved: {moved:?}"
    );
}
