//! What types cannot check, checked at once with every error's key path ([`Config::validate`]),
//! and the limits it checks against.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::*;

impl Config {
    /// Checks everything types cannot; returns every problem at once.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errs = ConfigErrors::default();
        let e = &self.engine;
        if e.threads > MAX_THREADS {
            errs.push(
                "engine.threads",
                format!("must be at most {MAX_THREADS} (0: one per core)"),
            );
        }
        count_in(
            e.batch_bytes,
            1024,
            MAX_BATCH_BYTES,
            "engine.batch_bytes",
            &mut errs,
        );
        count_in(
            e.queue_batches,
            1,
            65_536,
            "engine.queue_batches",
            &mut errs,
        );
        if e.batch_bytes.saturating_mul(e.queue_batches) > MAX_QUEUE_BYTES {
            errs.push(
                "engine.queue_batches",
                "times engine.batch_bytes must be at most 4 GiB (what a full queue holds)",
            );
        }
        positive(
            self.reload.watch_interval,
            "reload.watch_interval",
            &mut errs,
        );
        positive(
            self.reload.expiry_interval,
            "reload.expiry_interval",
            &mut errs,
        );
        positive(self.shutdown.grace, "shutdown.grace", &mut errs);
        feeds::validate(&self.feeds, &self.allowlists, &mut errs);
        if self.compiled_set.is_some() && !(self.feeds.is_empty() && self.allowlists.is_empty()) {
            errs.push(
                "compiled_set",
                "goes alone: the feeds and allowlists were applied when it was compiled \
                 (`iocd iocs compile --config`); remove [[feeds]] and [[allowlists]] here",
            );
        }
        feeds::validate_guard(
            "reload",
            self.reload.max_shrink,
            self.reload.max_rejected,
            self.reload.keep_rejected,
            &mut errs,
        );

        let mut listeners: BTreeMap<(SocketAddr, &str), String> = BTreeMap::new();
        let mut listen =
            |addr: SocketAddr, proto: &'static str, path: &str, errs: &mut ConfigErrors| {
                if let Some(first) = listeners.insert((addr, proto), path.to_owned()) {
                    errs.push(
                        path,
                        format!("{proto} address {addr} is also used by {first}"),
                    );
                }
            };
        let s = &self.sources;
        if let Some(u) = &s.syslog_udp {
            listen(u.listen, "udp", "sources.syslog_udp.listen", &mut errs);
            check_udp(u, "sources.syslog_udp", &mut errs);
        }
        if let Some(t) = &s.syslog_tcp {
            listen(t.listen, "tcp", "sources.syslog_tcp.listen", &mut errs);
            check_tcp(t, "sources.syslog_tcp", &mut errs);
        }
        if let Some(t) = &s.syslog_tls {
            listen(t.tcp.listen, "tcp", "sources.syslog_tls.listen", &mut errs);
            check_tcp(&t.tcp, "sources.syslog_tls", &mut errs);
            must_exist(&t.cert, "sources.syslog_tls.cert", &mut errs);
            must_exist(&t.key, "sources.syslog_tls.key", &mut errs);
        }
        if self.admin.enabled {
            listen(self.admin.listen, "tcp", "admin.listen", &mut errs);
            validate_admin(&self.admin, &mut errs);
        }
        if let Some(k) = &s.kafka {
            kafka::validate_source(k, "sources.kafka", &mut errs);
        }
        if s.syslog_udp.is_none()
            && s.syslog_tcp.is_none()
            && s.syslog_tls.is_none()
            && s.files.is_empty()
            && !s.stdin
            && s.kafka.is_none()
        {
            errs.push(
                "sources",
                "no source is enabled: iocd would have nothing to read",
            );
        }
        if self.sinks.is_empty() {
            errs.push("sinks", "no sink: alerts would have nowhere to go");
        }
        let names = self.sink_names();
        for (i, sink) in self.sinks.iter().enumerate() {
            let at = format!("sinks[{i}]");
            if let Some(n) = sink.name()
                && (n.is_empty()
                    || n.len() > MAX_SINK_NAME
                    || !n
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
            {
                errs.push(
                    format!("{at}.name"),
                    format!(
                        "{n:?} is not a sink name: 1 to {MAX_SINK_NAME} letters, digits, '_' or '-'"
                    ),
                );
            }
            if let Some(j) = names[..i].iter().position(|other| *other == names[i]) {
                let how = if sink.name().is_some() {
                    format!("{at}.name")
                } else {
                    at.clone()
                };
                errs.push(
                    how,
                    format!(
                        "sink name {:?} is already the name of sinks[{j}]: routing and metrics would mix the two",
                        names[i]
                    ),
                );
            }
            match sink {
                SinkConfig::Stdout { .. } => {}
                SinkConfig::File { path, .. } => {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                        && !dir.is_dir()
                    {
                        errs.push(
                            format!("{at}.path"),
                            format!("folder {} does not exist", dir.display()),
                        );
                    }
                }
                SinkConfig::Syslog { address, ca, .. } => {
                    if address
                        .rsplit_once(':')
                        .and_then(|(_, p)| p.parse::<u16>().ok())
                        .is_none_or(|port| port == 0)
                    {
                        errs.push(
                            format!("{at}.address"),
                            format!("{address:?} is not host:port"),
                        );
                    }
                    if let Some(ca) = ca {
                        must_exist(ca, &format!("{at}.ca"), &mut errs);
                    }
                }
                SinkConfig::Http(h) => {
                    if h.alert_format == AlertFormat::Cef {
                        errs.push(
                            format!("{at}.alert_format"),
                            "cef is one line per alert, for stdout, file, syslog and kafka \
                             sinks; use ecs or ocsf over HTTP",
                        );
                    }
                    match url::Url::parse(&h.url) {
                        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                        _ => errs.push(
                            format!("{at}.url"),
                            format!("{:?} is not an http(s) URL", h.url),
                        ),
                    }
                    if h.batch_max_events == 0 {
                        errs.push(format!("{at}.batch_max_events"), "must be at least 1");
                    }
                    if h.buffer_max_events < h.batch_max_events {
                        errs.push(
                            format!("{at}.buffer_max_events"),
                            "must be at least batch_max_events",
                        );
                    } else if h.buffer_max_events > MAX_BUFFER_EVENTS {
                        errs.push(
                            format!("{at}.buffer_max_events"),
                            format!("must be at most {MAX_BUFFER_EVENTS}"),
                        );
                    }
                    for (d, key) in [
                        (h.batch_timeout, "batch_timeout"),
                        (h.request_timeout, "request_timeout"),
                        (h.retry_initial_delay, "retry_initial_delay"),
                        (h.retry_max_delay, "retry_max_delay"),
                    ] {
                        positive(d, &format!("{at}.{key}"), &mut errs);
                    }
                    if h.retry_max_delay < h.retry_initial_delay {
                        errs.push(
                            format!("{at}.retry_max_delay"),
                            "must be at least retry_initial_delay",
                        );
                    }
                }
                SinkConfig::Kafka(k) => kafka::validate_sink(k, &at, &mut errs),
            }
            if let Some(dir) = sink
                .dead_letter()
                .0
                .and_then(|p| p.parent())
                .filter(|d| !d.as_os_str().is_empty())
                && !dir.is_dir()
            {
                errs.push(
                    format!("{at}.dead_letter"),
                    format!("folder {} does not exist", dir.display()),
                );
            }
        }
        validate_feedback(&self.feedback, &self.sightings, &mut errs);
        self.retro.validate(&mut errs);
        export::validate(&self.exports, &self.feeds, &mut errs);
        if let Some(l) = &self.export_listener {
            listen(l.listen, "tcp", "export_listener.listen", &mut errs);
            export::validate_listener(l, &mut errs);
            if self.exports.is_empty() {
                errs.push("export_listener", "no [[exports]] to serve");
            }
        }
        self.triage.validate(&names, &mut errs);
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            errs.push(
                "log.level",
                format!("{:?} is not a level or filter", self.log.level),
            );
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }
}

/// The most matcher threads. More threads than cores only adds contention, and each thread
/// keeps its own scratch buffers and stack: 256 covers the largest common servers (two
/// 128-core sockets), while a slip such as `threads = 100000` is refused here instead of
/// exhausting memory or the process's thread limit at start.
pub(crate) const MAX_THREADS: usize = 256;
/// The largest batch (`engine.batch_bytes`).
pub(crate) const MAX_BATCH_BYTES: usize = 64 << 20;
/// The most bytes a full matcher queue may hold (`batch_bytes * queue_batches`).
pub(crate) const MAX_QUEUE_BYTES: usize = 4 << 30;
/// The most connections a syslog TCP/TLS source accepts at once.
pub(crate) const MAX_CONNECTIONS: usize = 1_000_000;
/// The most alerts or entries a sink or sightings buffer may hold.
pub(crate) const MAX_BUFFER_EVENTS: usize = 10_000_000;
/// The longest interval, timeout, delay or grace period: timers add it to the clock, and a
/// year is past any sensible setting (see `triage::MAX_SPAN`).
pub(crate) const MAX_DURATION: Duration = triage::MAX_SPAN;

/// A duration timers run on: more than zero (a zero period panics in tokio, a zero timeout
/// gives up at once) and at most [`MAX_DURATION`].
pub(crate) fn positive(d: Duration, at: &str, errs: &mut ConfigErrors) {
    if d.is_zero() {
        errs.push(at, "must be longer than 0s");
    } else {
        at_most(d, MAX_DURATION, at, errs);
    }
}

pub(crate) fn at_most(d: Duration, max: Duration, at: &str, errs: &mut ConfigErrors) {
    if d > max {
        errs.push(
            at,
            format!("must be at most {}", humantime::format_duration(max)),
        );
    }
}

/// `lo <= n <= hi`.
pub(crate) fn count_in(n: usize, lo: usize, hi: usize, at: &str, errs: &mut ConfigErrors) {
    if !(lo..=hi).contains(&n) {
        errs.push(at, format!("must be between {lo} and {hi}"));
    }
}

pub(super) fn check_message_size(n: usize, at: &str, errs: &mut ConfigErrors) {
    if !(480..=16 << 20).contains(&n) {
        errs.push(
            format!("{at}.max_message_bytes"),
            "must be between 480 and 16 MiB",
        );
    }
}

pub(super) fn check_udp(u: &UdpConfig, at: &str, errs: &mut ConfigErrors) {
    check_message_size(u.max_message_bytes, at, errs);
    if let Some(n) = u.receive_buffer_bytes
        && !(4096..=1 << 30).contains(&n)
    {
        errs.push(
            format!("{at}.receive_buffer_bytes"),
            "must be between 4096 and 1 GiB",
        );
    }
}

pub(super) fn check_tcp(t: &TcpConfig, at: &str, errs: &mut ConfigErrors) {
    check_message_size(t.max_message_bytes, at, errs);
    count_in(
        t.max_connections,
        1,
        MAX_CONNECTIONS,
        &format!("{at}.max_connections"),
        errs,
    );
    // Shorter, a sender's ordinary pause closes its connection with data still in flight.
    if t.idle_timeout < Duration::from_secs(1) {
        errs.push(format!("{at}.idle_timeout"), "must be at least 1s");
    } else {
        at_most(
            t.idle_timeout,
            MAX_DURATION,
            &format!("{at}.idle_timeout"),
            errs,
        );
    }
    count_in(
        t.max_connections_per_peer,
        1,
        MAX_CONNECTIONS,
        &format!("{at}.max_connections_per_peer"),
        errs,
    );
    for (key, d) in [
        ("frame_timeout", t.frame_timeout),
        ("handshake_timeout", t.handshake_timeout),
    ] {
        if d.is_zero() {
            errs.push(format!("{at}.{key}"), "must be more than 0");
        } else {
            at_most(d, MAX_DURATION, &format!("{at}.{key}"), errs);
        }
    }
}

pub(super) fn validate_admin(a: &AdminConfig, errs: &mut ConfigErrors) {
    let token = match a.load_token() {
        Ok(t) => t.is_some(),
        Err((at, msg)) => {
            errs.push(at, msg);
            // Set, but wrong: said above; the rules below would only repeat it.
            true
        }
    };
    if !token && !a.listen.ip().is_loopback() {
        errs.push(
            "admin.listen",
            format!(
                "{} is not a loopback address and no admin.token or admin.token_file is set: \
                 anyone who reaches the port could reload iocd or suppress alerts \
                 (POST /feedback); set a token, or listen on 127.0.0.1",
                a.listen
            ),
        );
    }
    if a.protect_reads && !token {
        errs.push(
            "admin.protect_reads",
            "needs admin.token or admin.token_file",
        );
    }
    if !(1..=1024).contains(&a.max_connections) {
        errs.push("admin.max_connections", "must be between 1 and 1024");
    }
    if a.header_timeout < Duration::from_millis(100) {
        errs.push("admin.header_timeout", "must be at least 100ms");
    } else {
        at_most(a.header_timeout, MAX_DURATION, "admin.header_timeout", errs);
    }
    if a.body_timeout < Duration::from_millis(100) {
        errs.push("admin.body_timeout", "must be at least 100ms");
    } else {
        at_most(a.body_timeout, MAX_DURATION, "admin.body_timeout", errs);
    }
    if !(1024..=16 << 20).contains(&a.max_body_bytes) {
        errs.push("admin.max_body_bytes", "must be between 1024 and 16 MiB");
    }
}

pub(super) fn validate_feedback(f: &FeedbackConfig, s: &SightingsConfig, errs: &mut ConfigErrors) {
    let folder_exists = |p: &Path, at: &str, errs: &mut ConfigErrors| {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            errs.push(at, format!("folder {} does not exist", dir.display()));
        }
    };
    // The feedback file may appear later (it is watched); its folder must exist.
    if let Some(p) = &f.file {
        folder_exists(p, "feedback.file", errs);
    }
    if let Some(p) = &f.state {
        folder_exists(p, "feedback.state", errs);
    }
    if f.max_marks == 0 {
        errs.push("feedback.max_marks", "must be at least 1");
    }
    if f.max_file_bytes < 1024 {
        errs.push("feedback.max_file_bytes", "must be at least 1024");
    }
    if let Some(p) = &s.file {
        folder_exists(p, "sightings.file", errs);
    }
    if let Some(u) = &s.misp_url {
        match url::Url::parse(u) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => errs.push("sightings.misp_url", format!("{u:?} is not an http(s) URL")),
        }
        if s.api_key.is_none() && s.api_key_file.is_none() {
            errs.push(
                "sightings.misp_url",
                "needs api_key or api_key_file: MISP refuses requests without a key",
            );
        }
    }
    if s.api_key.is_some() && s.api_key_file.is_some() {
        errs.push(
            "sightings.api_key_file",
            "set api_key or api_key_file, not both",
        );
    }
    if let Some(p) = &s.api_key_file {
        must_exist(p, "sightings.api_key_file", errs);
    }
    if s.interval < Duration::from_secs(1) {
        errs.push("sightings.interval", "must be at least 1s");
    } else {
        at_most(s.interval, MAX_DURATION, "sightings.interval", errs);
    }
    positive(s.request_timeout, "sightings.request_timeout", errs);
    positive(s.retry_delay, "sightings.retry_delay", errs);
    count_in(
        s.max_pending,
        1,
        MAX_BUFFER_EVENTS,
        "sightings.max_pending",
        errs,
    );
    if s.source.trim().is_empty() {
        errs.push("sightings.source", "must not be empty");
    }
}

pub(crate) fn must_exist(p: &Path, at: &str, errs: &mut ConfigErrors) {
    if !p.exists() {
        errs.push(at, format!("{} does not exist", p.display()));
    }
}
