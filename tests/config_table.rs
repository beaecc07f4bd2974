//! Every bad configuration value is an error of `iocd validate`, with its key path and line,
//! and `iocd run` refuses the same file with the same words before it binds anything: a
//! value that would make the daemon panic or lose data later never gets past reading.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use iocd_testkit::support;
use support::{iocd_run_to_exit, iocd_validate, write_config};

/// A configuration that is valid on its own: stdin in, stdout out. Each row adds sections.
const BASE: &str = "[sources]\nstdin = true\n";

/// (TOML added to [`BASE`], the key path its error must name).
const ROWS: &[(&str, &str)] = &[
    ("[engine]\nthraeds = 2", "engine.thraeds"),
    ("[engine]\nthreads = 1000", "engine.threads"),
    ("[engine]\nthreads = -1", "engine.threads"),
    ("[engine]\nthreads = \"four\"", "engine.threads"),
    ("[engine]\nbatch_bytes = 0", "engine.batch_bytes"),
    ("[engine]\nbatch_bytes = 1073741824", "engine.batch_bytes"),
    ("[engine]\nqueue_batches = 0", "engine.queue_batches"),
    ("[engine]\nqueue_batches = 10000000", "engine.queue_batches"),
    (
        "[engine]\nbatch_bytes = 67108864\nqueue_batches = 65536",
        "engine.queue_batches",
    ),
    ("[reload]\nwatch_interval = \"0s\"", "reload.watch_interval"),
    (
        "[reload]\nexpiry_interval = \"0s\"",
        "reload.expiry_interval",
    ),
    (
        "[reload]\nexpiry_interval = \"-5s\"",
        "reload.expiry_interval",
    ),
    (
        "[reload]\nwatch_interval = \"500000000y\"",
        "reload.watch_interval",
    ),
    ("[shutdown]\ngrace = \"0s\"", "shutdown.grace"),
    ("[shutdown]\ngrace = \"1000y\"", "shutdown.grace"),
    ("[shutdown]\ngrace = 5", "shutdown.grace"),
    (
        "[sources.syslog_udp]\nlisten = \"127.0.0.1:5514\"\nmax_message_bytes = 0",
        "sources.syslog_udp.max_message_bytes",
    ),
    (
        "[sources.syslog_udp]\nlisten = \"127.0.0.1:70000\"",
        "sources.syslog_udp.listen",
    ),
    (
        "[sources.syslog_tcp]\nlisten = \"127.0.0.1:5514\"\nidle_timeout = \"0s\"",
        "sources.syslog_tcp.idle_timeout",
    ),
    (
        "[sources.syslog_tcp]\nlisten = \"127.0.0.1:5514\"\nidle_timeout = \"500ms\"",
        "sources.syslog_tcp.idle_timeout",
    ),
    (
        "[sources.syslog_tcp]\nlisten = \"127.0.0.1:5514\"\nmax_connections = 0",
        "sources.syslog_tcp.max_connections",
    ),
    (
        "[sources.syslog_tcp]\nlisten = \"127.0.0.1:5514\"\nmax_connections = 100000000",
        "sources.syslog_tcp.max_connections",
    ),
    (
        "[sources.syslog_tcp]\nlisten = \"127.0.0.1:5514\"\nmax_message_bytes = 1000000000",
        "sources.syslog_tcp.max_message_bytes",
    ),
    (
        "[sources.syslog_tls]\nlisten = \"127.0.0.1:6514\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
         idle_timeout = \"0s\"",
        "sources.syslog_tls.idle_timeout",
    ),
    (
        "[sources.syslog_tls]\nlisten = \"127.0.0.1:6514\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
         max_connections = \"many\"",
        "sources.syslog_tls.max_connections",
    ),
    (
        "[sources.kafka]\nbrokers = \"127.0.0.1:9092\"\ntopics = [\"logs\"]\ncommit_interval = \"0s\"",
        "sources.kafka.commit_interval",
    ),
    (
        "[sources.kafka]\nbrokers = \"127.0.0.1:9092\"\ntopics = [\"logs\"]\ncommit_interval = \"2d\"",
        "sources.kafka.commit_interval",
    ),
    (
        "[sources.kafka]\nbrokers = \"127.0.0.1:9092\"\ntopics = [\"logs\"]\nmax_message_bytes = 10",
        "sources.kafka.max_message_bytes",
    ),
    (
        "[sources.kafka]\nbrokers = \"127.0.0.1:9092\"\ntopics = [\"logs\"]\n\
         revoke_timeout = \"1000y\"",
        "sources.kafka.revoke_timeout",
    ),
    (
        "[sources.kafka]\nbrokers = \"127.0.0.1:9092\"\ntopics = [\"logs\", 7]",
        "sources.kafka.topics[1]",
    ),
    (
        "[[sinks]]\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\nbatch_max_events = 0",
        "sinks[0].batch_max_events",
    ),
    (
        "[[sinks]]\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\nbatch_max_events = -3",
        "sinks[0].batch_max_events",
    ),
    (
        "[[sinks]]\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\nbatch_timeout = \"0s\"",
        "sinks[0].batch_timeout",
    ),
    (
        "[[sinks]]\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\nrequest_timeout = \"0s\"",
        "sinks[0].request_timeout",
    ),
    (
        "[[sinks]]\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\nretry_initial_delay = \"0s\"",
        "sinks[0].retry_initial_delay",
    ),
    (
        "[[sinks]]\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\nbuffer_max_events = 1000000000",
        "sinks[0].buffer_max_events",
    ),
    (
        "[[sinks]]\ntype = \"stdout\"\n[[sinks]]\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\n\
         batch_max_evnts = 10",
        "sinks[1].batch_max_evnts",
    ),
    (
        "[[sinks]]\ntype = \"syslog\"\nprotocol = \"udp\"\naddress = \"127.0.0.1:0\"",
        "sinks[0].address",
    ),
    (
        "[[sinks]]\ntype = \"syslog\"\nprotocol = \"quic\"\naddress = \"127.0.0.1:514\"",
        "sinks[0].protocol",
    ),
    (
        "[[sinks]]\ntype = \"kafka\"\nbrokers = \"127.0.0.1:9092\"\ntopic = \"a\"\nbuffer_max_events = 0",
        "sinks[0].buffer_max_events",
    ),
    ("[[sinks]]\ntype = \"stdot\"", "sinks[0].type"),
    (
        "[[sinks]]\nname = \"soc\"\ntype = \"stdout\"\n[[sinks]]\nname = \"soc\"\ntype = \"stdout\"",
        "sinks[1].name",
    ),
    (
        "[[sinks]]\nname = \"stdout1\"\ntype = \"stdout\"\n[[sinks]]\ntype = \"stdout\"",
        "sinks[1]",
    ),
    (
        "[[sinks]]\nname = \"a b\"\ntype = \"stdout\"",
        "sinks[0].name",
    ),
    (
        "[[feeds]]\nname = \"f\"\nurl = \"http://127.0.0.1:1/f.txt\"\nrefresh = \"0s\"",
        "feeds[0].refresh",
    ),
    (
        "[[feeds]]\nname = \"f\"\nurl = \"http://127.0.0.1:1/f.txt\"\nrefresh = \"1000y\"",
        "feeds[0].refresh",
    ),
    (
        "[[feeds]]\nname = \"f\"\nurl = \"http://127.0.0.1:1/f.txt\"\nttl = \"0s\"",
        "feeds[0].ttl",
    ),
    (
        "[[feeds]]\nname = \"f\"\nurl = \"http://127.0.0.1:1/f.txt\"\n[feeds.http]\ntimeout = \"0s\"",
        "feeds[0].http.timeout",
    ),
    (
        "[[feeds]]\nname = \"f\"\nurl = \"http://127.0.0.1:1/f.txt\"\n[feeds.http]\nretries = 1000",
        "feeds[0].http.retries",
    ),
    (
        "[[feeds]]\nname = \"f\"\nurl = \"http://127.0.0.1:1/f.txt\"\nconfidence = 300",
        "feeds[0].confidence",
    ),
    ("[triage]\ntime = \"wall\"", "triage.time"),
    ("[triage]\nmax_lateness = \"2d\"", "triage.max_lateness"),
    ("[triage]\nmax_lateness = \"soon\"", "triage.max_lateness"),
    ("[triage]\nmax_ahead = \"25h\"", "triage.max_ahead"),
    (
        "[triage.dedup]\nmax_entries = 0",
        "triage.dedup.max_entries",
    ),
    ("[triage.flood]\nwindow = \"0s\"", "triage.flood.window"),
    (
        "[triage.flood]\nmax_indicators = 0",
        "triage.flood.max_indicators",
    ),
    ("[triage.flood]\nhosts = 1", "triage.flood.hosts"),
    (
        "[triage.routing]\ndigest_interval = \"0s\"",
        "triage.routing.digest_interval",
    ),
    (
        "[triage.score.decay.tau]\nipv4 = \"0s\"",
        "triage.score.decay.tau.ipv4",
    ),
    (
        "[triage.score.decay.tau]\nipv4 = \"1000y\"",
        "triage.score.decay.tau.ipv4",
    ),
    (
        "[triage.flood]\nshared_infrastructure = [\"no/such/cdn.json\"]",
        "triage.flood.shared_infrastructure[0]",
    ),
    (
        "[triage.flood]\noutbreak_priority = \"info\"",
        "triage.flood.outbreak_priority",
    ),
    (
        "[triage.score]\ndefault_confidence = 300",
        "triage.score.default_confidence",
    ),
    (
        "[sightings]\nfile = \"s.jsonl\"\ninterval = \"0s\"",
        "sightings.interval",
    ),
    (
        "[sightings]\nfile = \"s.jsonl\"\ninterval = \"1000y\"",
        "sightings.interval",
    ),
    (
        "[sightings]\nfile = \"s.jsonl\"\nrequest_timeout = \"0s\"",
        "sightings.request_timeout",
    ),
    (
        "[sightings]\nfile = \"s.jsonl\"\nretry_delay = \"0s\"",
        "sightings.retry_delay",
    ),
    (
        "[sightings]\nfile = \"s.jsonl\"\nmax_pending = 0",
        "sightings.max_pending",
    ),
    ("[admin]\nlisten = \"127.0.0.1:99999\"", "admin.listen"),
    (
        "[feedback]\nstate = \"no/such/dir/f.json\"",
        "feedback.state",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"csv\"",
        "exports[0].format",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"plain\"\nfrmat = 1",
        "exports[0].frmat",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"rpz\"\ntypes = [\"ipv4\"]",
        "exports[0].types",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"nftables\"\ntypes = [\"domain\"]",
        "exports[0].types",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"suricata\"\ntypes = [\"ipv4\", \"domain\"]",
        "exports[0].types",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"plain\"\nvendor = \"paloalto\"",
        "exports[0].types",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"plain\"\nvendor = \"paloalto\"\ntypes = [\"ipv4\", \"domain\"]",
        "exports[0].types",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"plain\"\nvendor = \"cisco\"",
        "exports[0].vendor",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"rpz\"\nvendor = \"paloalto\"",
        "exports[0].vendor",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"plain\"\nmin_score = 101",
        "exports[0].min_score",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"plain\"\nmin_confidence = 200",
        "exports[0].min_confidence",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"plain\"\nmin_feeds = 0",
        "exports[0].min_feeds",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"plain\"\nfeeds = [\"nope\"]",
        "exports[0].feeds",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"plain\"\nexclude_feeds = [\"nope\"]",
        "exports[0].exclude_feeds",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"plain\"\nmax_shrink = 1.5",
        "exports[0].max_shrink",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"plain\"\nmax_grow = -1.0",
        "exports[0].max_grow",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"plain\"\nmax_entries = -3",
        "exports[0].max_entries",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"rpz\"\nzone = \"bad zone\"",
        "exports[0].zone",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"rpz\"\nttl = 0",
        "exports[0].ttl",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"rpz\"\naction = \"sinkhole\"",
        "exports[0].sinkhole",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"rpz\"\naction = \"sinkhole\"\nsinkhole = \"not a host\"",
        "exports[0].sinkhole",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"rpz\"\nsinkhole = \"192.0.2.1\"",
        "exports[0].sinkhole",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"rpz\"\naction = \"drop\"",
        "exports[0].action",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"nftables\"\nnft_family = \"arp\"",
        "exports[0].nft_family",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"nftables\"\nnft_table = \"a b\"",
        "exports[0].nft_table",
    ),
    (
        "[[exports]]\nname = \"9bad name\"\nformat = \"plain\"\npath = \"a.txt\"",
        "exports[0].name",
    ),
    (
        "[[exports]]\nname = \"a\"\nformat = \"plain\"\npath = \"no/such/dir/a.txt\"",
        "exports[0].path",
    ),
    (
        "[[exports]]\nname = \"a\"\nformat = \"plain\"\npath = \"a.txt\"\n[[exports]]\nname = \"a\"\nformat = \"rpz\"\npath = \"a.txt\"",
        "exports[1].name",
    ),
    (
        "[[exports]]\nname = \"a\"\nformat = \"plain\"\npath = \"a.txt\"\n[[exports]]\nname = \"b\"\nformat = \"rpz\"\npath = \"a.txt\"",
        "exports[1].path",
    ),
    (
        "[[exports]]\nname = \"blk\"\npath = \"blk.txt\"\nformat = \"rpz\"\nrefresh = 0",
        "exports[0].refresh",
    ),
    (
        "[[exports]]\nname = \"a\"\nformat = \"plain\"\npath = \"a.txt\"\n[export_listener]\nlisten = \"0.0.0.0:9761\"",
        "export_listener.listen",
    ),
    (
        "[[exports]]\nname = \"a\"\nformat = \"plain\"\npath = \"a.txt\"\n[export_listener]\nlisten = \"127.0.0.1:9761\"\ntls_cert = \"c.pem\"",
        "export_listener.tls_key",
    ),
    (
        "[[exports]]\nname = \"a\"\nformat = \"plain\"\npath = \"a.txt\"\n[export_listener]\nlisten = \"127.0.0.1:9761\"\ntoken_file = \"no-such-token\"",
        "export_listener.token_file",
    ),
    (
        "[[exports]]\nname = \"a\"\nformat = \"plain\"\npath = \"a.txt\"\n[export_listener]\nlisten = \"127.0.0.1:9761\"\nbasic_user = \"fw\"",
        "export_listener.basic_password_file",
    ),
    (
        "[[exports]]\nname = \"a\"\nformat = \"plain\"\npath = \"a.txt\"\n[export_listener]\nlisten = \"127.0.0.1:9761\"\nmax_connections = 0",
        "export_listener.max_connections",
    ),
    (
        "[export_listener]\nlisten = \"127.0.0.1:9761\"",
        "export_listener",
    ),
];

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_base_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let out = iocd_validate(&write_config(dir.path(), BASE));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn every_bad_value_is_refused_by_validate_and_by_run() {
    let mut failures = Vec::new();
    for (snippet, path) in ROWS {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(dir.path(), &format!("{BASE}{snippet}\n"));
        let validate = iocd_validate(&cfg);
        let err = text(&validate);
        // The key path, and the line it is on.
        let want = format!("  {path} (line ");
        if validate.status.code() != Some(2) || !err.contains(&want) {
            failures.push(format!(
                "validate {path}: exit {:?}\n{snippet}\n{err}",
                validate.status.code()
            ));
            continue;
        }
        let (status, run_err) = iocd_run_to_exit(&cfg, Duration::from_secs(60));
        if status.and_then(|s| s.code()) != Some(2) {
            failures.push(format!("run {path}: {status:?}\n{run_err}"));
            continue;
        }
        // The same report, and nothing after it: no log line, no listener.
        if run_err != err {
            failures.push(format!(
                "run {path} said otherwise:\n{run_err}\nvalidate:\n{err}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n---\n")
    );
}

#[test]
fn validate_reports_three_kinds_of_errors_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        r#"[sources]
stdin = true
[engine]
thraeds = 4
[[sinks]]
type = "http"
url = "http://127.0.0.1:1/"
batch_max_events = "many"
[reload]
watch_interval = "0s"
"#,
    );
    let out = iocd_validate(&cfg);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = text(&out);
    for want in [
        "3 errors in configuration:",
        "engine.thraeds (line 4): unknown key `thraeds`; did you mean `threads`?",
        "sinks[0].batch_max_events (line 8): invalid type: string \"many\"",
        "reload.watch_interval (line 10): must be longer than 0s",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(
        err.starts_with(&format!("iocd: error: {}: 3 errors", cfg.display())),
        "{err}"
    );
    // A syntax error is one error, with its line and column.
    let cfg = write_config(dir.path(), "[sources]\nstdin = true\n[engine\n");
    let out = iocd_validate(&cfg);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out);
    assert!(
        err.contains("1 error in configuration:\n  syntax (line 3): TOML syntax: column 8"),
        "{err}"
    );
    assert!(Path::new(&cfg).exists());
}

/// A shared-infrastructure list that exists but is no allowlist: `validate` and `run` both
/// refuse it and name the key (the configuration checks the file is readable; the allowlist
/// parser, one layer up, checks what it holds).
#[test]
fn a_shared_infrastructure_list_that_does_not_parse_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cdn.json"), "{\"list\": [").unwrap();
    let cfg = write_config(
        dir.path(),
        &format!("{BASE}[triage.flood]\nshared_infrastructure = [\"cdn.json\"]\n"),
    );
    let out = iocd_validate(&cfg);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("triage.flood.shared_infrastructure[0]"),
        "{}",
        text(&out)
    );
    let (status, err) = iocd_run_to_exit(&cfg, Duration::from_secs(60));
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{err}");
    assert!(err.contains("triage.flood.shared_infrastructure"), "{err}");
}

/// `compiled_set` (a top-level key, so not a row of [`ROWS`], which adds to `[sources]`): it
/// goes alone, since a compiled set's feeds and allowlists were applied when it was compiled;
/// a file that is not a set file is refused by `validate` with its path.
#[test]
fn a_compiled_set_goes_alone_and_must_be_a_set_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "compiled_set = \"set.iocd\"\n[[feeds]]\nname = \"f\"\nurl = \"http://127.0.0.1:1/f.txt\"\n",
            "compiled_set",
        ),
        ("compiled_set = 7\n", "compiled_set"),
        (
            "compiled_set = \"plain.txt\"\n",
            "not a compiled indicator set",
        ),
        ("compiled_set = \"missing.iocd\"\n", "missing.iocd"),
    ];
    std::fs::write(dir.path().join("plain.txt"), "198.51.100.7\n").unwrap();
    for (top, want) in cases {
        let cfg = write_config(dir.path(), &format!("{top}{BASE}"));
        let out = iocd_validate(&cfg);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{top}: {err}");
        assert!(err.contains(want), "{top}: missing {want:?} in {err}");
    }
}
