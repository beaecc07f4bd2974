//! Wiring and the order of things: what starts first, what stops first.
//!
//! Start-up: configuration (already validated) -> first indicator set -> sinks (so alerts have
//! somewhere to go) -> matcher threads -> admin server -> exports (their listener, then the
//! task that writes them from the current set) -> sources (intake starts last) -> `READY=1`
//! to systemd.
//!
//! Running: the control loop owns the feed [`Catalog`]. A SIGHUP, `POST /reload`, a changed
//! feed file or a due refresh builds a new set beside the current one (on a blocking thread)
//! and swaps it in with one atomic store; matcher threads never wait. A build that fails
//! keeps the current set, is logged and counted. A refresh that changed nothing (same bytes,
//! `304`s, refused or failed feeds) builds nothing.
//!
//! Readiness tells the truth: `/readyz` and `iocd_ready` say ready only once intake runs and
//! every feed has a generation (read, or from its cache). A feed that cannot be loaded does
//! not stop the daemon: it matches with the feeds it has, retries the missing one on its
//! schedule (10 s, doubling, up to 5 minutes) and becomes ready when it arrives.
//!
//! Shutdown (SIGTERM or SIGINT): stop intake (sources flush their partial batches and close
//! the queue) -> matcher threads drain the queue -> sinks drain and flush -> exit. All of it
//! within `shutdown.grace`; a second signal exits at once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use arc_swap::ArcSwap;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use crate::config::{Config, LogFormat};
use crate::feedback::Feedback;
use crate::ioc::catalog::{FileStamp, file_stamp};
use crate::ioc::{Catalog, LoadReport, RefreshReport};
use crate::matcher::{IocKind, IocSet};
use crate::pipeline::{ReloadReason, ReloadRequest, ReloadResult, Shutdown};
use crate::sightings::{Exporter, Sightings};
use crate::sink::Sinks;
use crate::telemetry::{Metrics, admin};
use crate::triage::{Outgoing, SystemClock, Ticker, Triage};
use crate::worker::{self, AlertOut, SharedSet, Snapshot};

/// Sets up iocd's own log on standard error, as the configuration says.
///
/// Colours only on a terminal, and not when `NO_COLOR` is set (to anything but the empty
/// string, as no-color.org says): journald, files and pipes store the text as written, and
/// escape codes there are noise. A write to a standard error that was closed is dropped
/// quietly: reporting it would write to standard error again.
pub fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(log_colours(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .log_internal_errors(false);
    // A second init (tests run several daemons in one process) keeps the first subscriber.
    let _ = match cfg.log.format {
        LogFormat::Text => b.try_init(),
        LogFormat::Json => b.json().try_init(),
    };
}

/// Whether the log may use ANSI colours: `stderr_is_terminal` and no non-empty `NO_COLOR`.
fn log_colours(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Runs the daemon until SIGTERM or SIGINT. Returns whether every alert was delivered.
pub fn run(cfg: Config) -> Result<bool> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("iocd-io")
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")?;
    // Many syslog and admin connections at once meet the administrator's limit, not the
    // default soft one.
    admin::raise_open_files_limit();
    let metrics = Arc::new(Metrics::new());
    clean_state_files(&cfg, &metrics);

    let started = Instant::now();
    let mut catalog = Catalog::new(&cfg.feeds, &cfg.allowlists);
    // Each feed that fails is logged by the catalog, with what stays in use.
    let refresh = rt.block_on(catalog.refresh_all());
    let (set, report) = catalog.compile(SystemTime::now());
    info!(
        indicators = set.len(),
        rejected = report.rejected_count(),
        seconds = started.elapsed().as_secs_f64(),
        "indicator set loaded"
    );
    // The parse threads' and the compiler's scratch is free now; hand it back.
    release_free_memory();
    let mut control = Control {
        shared: Arc::new(ArcSwap::new(Arc::new(Snapshot { set, generation: 1 }))),
        metrics: metrics.clone(),
        generation: 1,
        started: false,
    };
    control.publish(&report, started.elapsed());
    control.publish_feeds(&catalog, Some(&refresh));

    // Analysts' verdicts and the sightings aggregate exist before the matcher threads, which
    // consult and feed them for every hit.
    let feedback = Arc::new(
        Feedback::new(&metrics, cfg.feedback.state.clone())
            .with_limits(cfg.feedback.max_marks, cfg.feedback.max_file_bytes),
    );
    if let Some(path) = &cfg.feedback.file {
        feedback.load_file(path);
    }
    let sightings = Arc::new(Sightings::new(&metrics, cfg.sightings.max_pending));
    let exporter = if cfg.sightings.enabled() {
        Some(Exporter::new(&cfg.sightings, &metrics).context("cannot start the sightings export")?)
    } else {
        None
    };

    let sinks =
        Sinks::start(&cfg.sinks, metrics.clone(), rt.handle()).context("cannot start the sinks")?;
    // Triage turns hits into alerts: scored, deduplicated, routed to the sinks by priority.
    // Roll-ups at window close and digests come from its own thread.
    // Shared-infrastructure lists, asked when an indicator floods outbound (at match time).
    let flood = &cfg.triage.flood;
    let shared = flood
        .shared_infrastructure
        .iter()
        .filter(|_| cfg.triage.enabled && flood.enabled)
        .map(|p| crate::ioc::allowlist::List::load(p))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| anyhow::anyhow!("triage.flood.shared_infrastructure: {e}"))?;
    let triage = cfg.triage.enabled.then(|| {
        Arc::new(
            Triage::new(
                &cfg.triage,
                &crate::sink::sink_names(&cfg.sinks),
                metrics.triage.clone(),
                Arc::new(SystemClock),
            )
            .with_shared_infrastructure(&shared)
            .with_time(&cfg.triage)
            .with_feedback(feedback.clone())
            .with_sightings(sightings.clone()),
        )
    });
    if let Some(t) = &triage {
        // Roll-ups and digests a matcher thread makes when event time passes their time.
        let (sender, weak) = (sinks.sender(), Arc::downgrade(t));
        t.deliver_due(move |o: Outgoing| {
            if let Some(t) = weak.upgrade() {
                deliver(&sender, Some(&t), crate::alert::record(&o), o.sink)
            }
        });
    }
    let out: AlertOut = {
        let (sender, triage) = (sinks.sender(), triage.clone());
        Arc::new(move |a| deliver(&sender, triage.as_deref(), a, None))
    };
    let ticker = triage
        .clone()
        .map(|t| {
            let sender = sinks.sender();
            let t2 = t.clone();
            Ticker::spawn(t, Duration::from_secs(1), move |o: Outgoing| {
                deliver(&sender, Some(&t2), crate::alert::record(&o), o.sink)
            })
        })
        .transpose()
        .context("cannot start the triage thread")?;
    let (tx, rx) = crossbeam_channel::bounded(cfg.engine.queue_batches);
    let workers = worker::try_spawn(
        cfg.threads(),
        rx,
        control.shared.clone(),
        out,
        crate::decode::syslog::alert_fields,
        metrics.clone(),
        triage.clone(),
    )
    .context("cannot start the matcher threads")?;

    let shutdown = Shutdown::new();
    let (reload_tx, mut reload_rx) = tokio::sync::mpsc::channel::<ReloadRequest>(16);
    let admin = if cfg.admin.enabled {
        Some(
            admin::start(
                &cfg.admin,
                metrics.clone(),
                reload_tx.clone(),
                shutdown.clone(),
                Some(feedback.clone()),
            )
            .with_context(|| format!("cannot start the admin server on {}", cfg.admin.listen))?,
        )
    } else {
        None
    };
    let exporter = exporter
        .map(|e| rt.spawn(e.run(sightings.clone(), cfg.sightings.interval, shutdown.clone())));
    rt.spawn(publish_false_positive_marks(
        feedback.clone(),
        control.shared.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    // Exports follow the set and the false-positive marks from here on: the first version
    // of each is written as soon as the task starts.
    let mut exports = crate::export::Exports::new(&cfg.exports, &cfg.triage.score, &metrics)
        .with_allow(crate::triage::assets::Allow::new(&cfg.triage));
    if let Some(l) = &cfg.export_listener {
        let published = Arc::new(crate::export::http::Published::new(exports.names()));
        exports = exports.publish_to(published.clone());
        let _guard = rt.enter();
        // It logs its address itself.
        crate::export::http::start(l, published, metrics.export.clone(), shutdown.clone())
            .context("cannot start the export listener")?;
    }
    if !exports.is_empty() {
        rt.spawn(crate::export::run(
            exports,
            control.shared.clone(),
            feedback.clone(),
            cfg.reload.expiry_interval,
            shutdown.clone(),
        ));
    }
    if let Some(path) = cfg.feedback.file.clone() {
        rt.spawn(watch_feedback(
            feedback.clone(),
            path,
            cfg.reload.watch_interval,
            shutdown.clone(),
        ));
    }
    let mut sources = {
        let _guard = rt.enter();
        crate::source::spawn_all(
            &cfg.sources,
            cfg.engine.batch_bytes,
            tx,
            metrics.clone(),
            shutdown.clone(),
            cfg.shutdown.grace,
        )
        .context("cannot start the sources")?
    };
    let kafka = sources.take_kafka();
    for addr in sources.local_addrs() {
        info!(%addr, "listening");
    }
    // READY=1 for systemd: intake runs. Whether every feed is in is `/readyz`'s answer.
    control.started = true;
    control.publish_feeds(&catalog, None);
    notify(&[sd_notify::NotifyState::Ready]);
    let missing = catalog.missing_feeds();
    if missing.is_empty() {
        info!(generation = control.generation, "iocd is running");
    } else {
        warn!(
            generation = control.generation,
            missing = %missing.join(", "),
            "iocd is running without some feeds: not ready until they load"
        );
    }

    let grace = cfg.shutdown.grace;
    rt.block_on(async {
        control
            .serve(&cfg, &mut catalog, &mut reload_rx, &sinks)
            .await
    })?;

    // Shutdown, in order. A second signal ends the process at once.
    notify(&[sd_notify::NotifyState::Stopping]);
    let deadline = Instant::now() + grace;
    rt.spawn(async {
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!("iocd: second signal, exiting now");
            std::process::exit(130);
        }
    });
    info!(grace = ?grace, "stopping: intake closed, draining");
    shutdown.cancel();
    rt.block_on(async {
        if tokio::time::timeout_at(deadline.into(), sources.join())
            .await
            .is_err()
        {
            warn!("sources did not stop within the grace period");
        }
    });
    drop(reload_tx);
    // The sources held the only senders of the queue: once they are gone, matcher threads
    // finish what is queued and return.
    let drained = join_before(workers, deadline);
    if !drained {
        warn!("matcher threads did not drain the queue within the grace period");
    }
    // No more hits: close every deduplication window (roll-ups) and send the last digests.
    // On a thread of its own: a sink that is down with a full buffer would block the hand-over
    // past the grace period; at the deadline the sinks' queues close below, which refuses
    // (and counts) what is still being handed over and ends the thread.
    let closing = {
        let (ticker, triage, sender) = (ticker, triage.clone(), sinks.sender());
        std::thread::Builder::new()
            .name("iocd-triage-drain".into())
            .spawn(move || {
                if let Some(t) = ticker {
                    t.stop();
                }
                if let Some(t) = &triage {
                    for o in t.drain() {
                        deliver(&sender, Some(t), crate::alert::record(&o), o.sink);
                    }
                }
            })
            .context("cannot start the triage drain")?
    };
    if !join_before(vec![closing], deadline) {
        warn!("roll-ups and digests not all handed to the sinks within the grace period");
    }
    let report = rt.block_on(sinks.shutdown(deadline));
    // The matcher threads have stopped recording: the last sightings go out now, within the
    // grace period (a MISP server that does not answer cannot hold the exit).
    if let Some(mut task) = exporter {
        rt.block_on(async {
            let until = deadline.max(Instant::now() + Duration::from_secs(2));
            match tokio::time::timeout_at(until.into(), &mut task).await {
                Ok(Ok(mut e)) => {
                    if tokio::time::timeout_at(until.into(), e.flush(&sightings))
                        .await
                        .is_err()
                    {
                        warn!("the last sightings were not sent within the grace period");
                    }
                }
                Ok(Err(e)) => error!(error = %e, "the sightings exporter failed"),
                Err(_) => {
                    task.abort();
                    warn!("the sightings exporter did not stop within the grace period");
                }
            }
        });
    }
    // Offsets last: the Kafka consumer commits what the sinks delivered, then leaves the group.
    if let Some(k) = kafka
        && !k.finish(deadline + Duration::from_secs(5))
    {
        warn!("the Kafka consumer did not close in time; uncommitted messages will be read again");
    }
    if let Some(a) = admin {
        a.join();
    }
    rt.shutdown_timeout(Duration::from_millis(100));
    if report.undelivered > 0 || !drained {
        error!(
            undelivered = report.undelivered,
            "stopped with alerts not delivered"
        );
        return Ok(false);
    }
    info!("stopped cleanly");
    Ok(true)
}

/// Removes what writes interrupted by a crash left beside the state files (feedback marks,
/// feed caches), before anything writes them again; each is logged and counted.
fn clean_state_files(cfg: &Config, metrics: &Metrics) {
    let mut state: Vec<PathBuf> = cfg.feedback.state.iter().cloned().collect();
    for path in cfg.feeds.iter().filter_map(|f| f.cache.clone()) {
        state.push(crate::ioc::fetch::Cache { path: path.clone() }.meta_path());
        state.push(path);
    }
    state.extend(crate::export::Exports::paths(&cfg.exports));
    let removed = crate::statefile::remove_leftovers(&state);
    metrics
        .state_temp_files_removed
        .inc_by(removed.len() as u64);
}

/// Hands an alert to the sinks: to sink `only` (a digest), else to every sink whose
/// `min_priority` the alert's priority reaches (all of them when triage is off).
fn deliver(
    sender: &crate::sink::SinkSender,
    triage: Option<&Triage>,
    a: crate::pipeline::AlertRecord,
    only: Option<usize>,
) {
    match (only, triage) {
        (Some(i), _) => sender.send_blocking_to(a, |j| j == i),
        (None, Some(t)) => {
            let p = a.priority;
            sender.send_blocking_to(a, |j| t.wants(j, p))
        }
        (None, None) => sender.send_blocking(a),
    }
}

/// Joins threads until `deadline`; false if some were still running then.
fn join_before(threads: Vec<std::thread::JoinHandle<()>>, deadline: Instant) -> bool {
    for t in threads {
        while !t.is_finished() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if t.join().is_err() {
            error!("a matcher thread panicked");
        }
    }
    true
}

fn notify(state: &[sd_notify::NotifyState<'_>]) {
    // Outside systemd NOTIFY_SOCKET is unset and this does nothing.
    let _ = sd_notify::notify(state);
}

/// The control plane: owns reloads and the set generation.
struct Control {
    shared: SharedSet,
    metrics: Arc<Metrics>,
    generation: u64,
    /// Intake runs: ready once every feed has a generation too.
    started: bool,
}

impl Control {
    /// Waits for reload triggers and signals until SIGTERM or SIGINT.
    async fn serve(
        &mut self,
        cfg: &Config,
        catalog: &mut Catalog,
        reload_rx: &mut tokio::sync::mpsc::Receiver<ReloadRequest>,
        sinks: &Sinks,
    ) -> Result<()> {
        let mut hup = signal(SignalKind::hangup())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        // First ticks one period from now: the set was built a moment ago, and an immediate
        // expiry pass would rebuild all of it again before the first line arrives.
        let every = |period: Duration| {
            tokio::time::interval_at(tokio::time::Instant::now() + period, period)
        };
        let mut watch = every(cfg.reload.watch_interval);
        let mut expiry = every(cfg.reload.expiry_interval);
        let mut watchdog = every(watchdog_period().unwrap_or(Duration::from_secs(3600)));
        let mut stamps = file_stamps(&catalog.watched_files());
        loop {
            tokio::select! {
                _ = term.recv() => { info!("SIGTERM"); return Ok(()); }
                _ = int.recv() => { info!("SIGINT"); return Ok(()); }
                _ = hup.recv() => {
                    info!("SIGHUP: reopening file sinks and reloading indicators");
                    sinks.reopen();
                    let _ = self.reload(catalog, ReloadReason::Signal).await;
                    stamps = file_stamps(&catalog.watched_files());
                }
                Some(req) = reload_rx.recv() => {
                    let r = self.reload(catalog, req.reason).await;
                    if let Some(reply) = req.reply {
                        let _ = reply.send(r);
                    }
                    stamps = file_stamps(&catalog.watched_files());
                }
                _ = watch.tick(), if cfg.reload.watch_files => {
                    let now = file_stamps(&catalog.watched_files());
                    if now != stamps {
                        stamps = now;
                        let _ = self.reload(catalog, ReloadReason::FileChanged).await;
                    }
                }
                // Due refreshes and retries of failed feeds, whether files are watched or not.
                _ = until(catalog.next_refresh()) => {
                    let _ = self.reload(catalog, ReloadReason::FeedRefresh).await;
                }
                _ = expiry.tick() => {
                    let _ = self.expiry_tick(catalog, SystemTime::now()).await;
                }
                _ = watchdog.tick() => {
                    notify(&[sd_notify::NotifyState::Watchdog]);
                }
            }
        }
    }

    /// An expiry pass at `now`: recompiles only when a listing of the current set has expired
    /// since it was compiled (the catalog knows the earliest `valid_until` or TTL end), so a
    /// set without expiring listings costs nothing here. `None` when nothing was due.
    async fn expiry_tick(
        &mut self,
        catalog: &mut Catalog,
        now: SystemTime,
    ) -> Option<ReloadResult> {
        if !catalog.expiry_due(now) {
            return None;
        }
        Some(self.reload_at(catalog, ReloadReason::Expiry, now).await)
    }

    /// Builds a new set beside the current one and swaps it in. Expiry only recompiles; the
    /// other reasons read (or download) the feeds first.
    async fn reload(&mut self, catalog: &mut Catalog, reason: ReloadReason) -> ReloadResult {
        self.reload_at(catalog, reason, SystemTime::now()).await
    }

    /// [`Control::reload`], with the lifecycle evaluated as of `now`.
    async fn reload_at(
        &mut self,
        catalog: &mut Catalog,
        reason: ReloadReason,
        now: SystemTime,
    ) -> ReloadResult {
        let t = Instant::now();
        if reason != ReloadReason::Expiry {
            notify(&[sd_notify::NotifyState::Reloading]);
        }
        let refreshed = match reason {
            ReloadReason::Expiry => None,
            ReloadReason::FeedRefresh => Some(catalog.refresh_due(now).await),
            ReloadReason::FileChanged => Some(catalog.refresh_files(now).await),
            _ => Some(catalog.refresh_all().await),
        };
        // The catalog logged each failed feed with what stays in use.
        if let Some(r) = &refreshed {
            self.publish_feeds(catalog, Some(r));
            if !r.failures().is_empty() {
                // Part of what was asked for was not taken: counted once per reload.
                self.metrics.reload_failures.inc();
            }
            if !r.changed() {
                if r.feeds.iter().any(|f| f.fetch == "ok") {
                    // A document was parsed and refused (or failed): give its memory back.
                    tokio::task::spawn_blocking(release_free_memory);
                }
                if reason != ReloadReason::Expiry {
                    notify(&[sd_notify::NotifyState::Ready]);
                }
                info!(
                    ?reason,
                    generation = self.generation,
                    "no feed or allowlist changed: the current set stays"
                );
                return Ok(self.generation);
            }
        }
        let built = tokio::task::block_in_place(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| catalog.compile(now)))
        });
        let result = match built {
            Ok((set, report)) => {
                self.generation += 1;
                let n = set.len();
                let old = self.shared.swap(Arc::new(Snapshot {
                    set,
                    generation: self.generation,
                }));
                release_when_unused(old);
                self.publish(&report, t.elapsed());
                self.metrics.reloads.inc();
                info!(
                    ?reason,
                    generation = self.generation,
                    indicators = n,
                    seconds = t.elapsed().as_secs_f64(),
                    "indicator set swapped in"
                );
                Ok(self.generation)
            }
            Err(_) => {
                self.metrics.reload_failures.inc();
                error!(
                    ?reason,
                    "building the indicator set failed; the current set stays"
                );
                Err("building the indicator set failed; the current set stays".to_owned())
            }
        };
        if reason != ReloadReason::Expiry {
            notify(&[sd_notify::NotifyState::Ready]);
        }
        result
    }

    /// Sets the per-feed health metrics after a refresh (`refresh`: what it did, counted
    /// once) and readiness: ready once intake runs and no feed lacks a generation.
    fn publish_feeds(&self, catalog: &Catalog, refresh: Option<&RefreshReport>) {
        let m = &self.metrics;
        for f in refresh.map_or(&[][..], |r| &r.feeds) {
            m.feed_fetches
                .with_label_values(&[f.name.as_str(), f.fetch])
                .inc();
            if let Some(reason) = f.reason {
                m.feed_refresh_failures
                    .with_label_values(&[f.name.as_str(), reason])
                    .inc();
            }
        }
        let unix = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        };
        for h in catalog.health() {
            if let Some(up) = h.up {
                m.feed_up.with_label_values(&[&h.name]).set(i64::from(up));
            }
            if let Some(t) = h.last_success {
                m.feed_last_success
                    .with_label_values(&[&h.name])
                    .set(unix(t));
            }
            m.set_feed_loaded(&h.name, h.loaded_at.map(unix));
        }
        let missing: Vec<String> = catalog
            .missing_feeds()
            .into_iter()
            .map(str::to_owned)
            .collect();
        if self.started {
            let status = if missing.is_empty() {
                "ready".to_owned()
            } else {
                format!("waiting for feeds: {}", missing.join(", "))
            };
            notify(&[sd_notify::NotifyState::Status(&status)]);
        }
        m.set_ready(self.started, missing);
    }

    /// Sets the gauges that describe the current set.
    fn publish(&self, report: &LoadReport, took: Duration) {
        let m = &self.metrics;
        let snap = self.shared.load();
        let set: &IocSet = &snap.set;
        m.generation.set(self.generation as i64);
        m.reload_duration.observe(took.as_secs_f64());
        m.last_reload.set(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        if !set.is_empty() {
            m.bytes_per_indicator
                .set(set.heap_bytes() as f64 / set.len() as f64);
        }
        m.indicators.reset();
        let mut per: BTreeMap<(u16, IocKind), i64> = BTreeMap::new();
        for i in 0..set.len() as u32 {
            let id = crate::matcher::IocId(i);
            let kind = set.kind(id);
            for s in set.sources(id) {
                *per.entry((s.feed, kind)).or_default() += 1;
            }
        }
        for ((feed, kind), n) in per {
            let name = &set.feeds()[feed as usize].name;
            m.indicators
                .with_label_values(&[name, kind.as_str()])
                .set(n);
        }
        m.rejected.reset();
        for f in &report.feeds {
            for (reason, n) in &f.rejected_by {
                m.rejected
                    .with_label_values(&[f.name.as_str(), reason])
                    .set(*n as i64);
            }
        }
    }
}

/// Drops a replaced set once no matcher thread holds it any more (each holds a snapshot for
/// one batch), then returns the freed memory to the system, off the control loop.
///
/// Without this, glibc keeps the old set's pages and the compiler's scratch: with a
/// 1M-indicator set, RSS went 165 -> 204 MiB after one reload and 220-233 MiB after five
/// (docs/PERFORMANCE.md, "Memory").
fn release_when_unused(old: Arc<Snapshot>) {
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(old);
        release_free_memory();
    });
}

/// Returns free heap pages to the system (glibc's `malloc_trim`), in every arena: the parse
/// threads' arenas and the holes left by a replaced set. The price is paid by the next compile,
/// which faults those pages in again (measured in docs/PERFORMANCE.md, "Memory").
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim takes no pointers and locks each arena itself; it only gives
        // free pages back to the kernel.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Keeps `iocd_feed_false_positive_marks` true to the marks and the set in use: recounted
/// when either changes, and every minute (marks expire), until shutdown.
async fn publish_false_positive_marks(
    feedback: Arc<Feedback>,
    shared: SharedSet,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) {
    const EVERY: Duration = Duration::from_millis(500);
    const AT_LEAST: Duration = Duration::from_secs(60);
    let mut seen: Option<(u64, u64)> = None;
    let mut counted = Instant::now();
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let snap = shared.load_full();
                let now = (feedback.changes(), snap.generation);
                if seen == Some(now) && counted.elapsed() < AT_LEAST {
                    continue;
                }
                seen = Some(now);
                counted = Instant::now();
                let (f, m) = (feedback.clone(), metrics.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    let counts = f.marks_by_feed(&snap.set, chrono::Utc::now());
                    m.feed_false_positive_marks.reset();
                    for (feed, n) in counts {
                        m.feed_false_positive_marks.with_label_values(&[&feed]).set(n);
                    }
                })
                .await;
            }
        }
    }
}

/// Reloads the feedback file when it changes (modification time or size), every `every`,
/// until shutdown.
async fn watch_feedback(
    feedback: Arc<Feedback>,
    path: PathBuf,
    every: Duration,
    shutdown: Shutdown,
) {
    let mut stamp = file_stamps(std::slice::from_ref(&path));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let now = file_stamps(std::slice::from_ref(&path));
                if now != stamp {
                    stamp = now;
                    let (f, p) = (feedback.clone(), path.clone());
                    let _ = tokio::task::spawn_blocking(move || f.load_file(&p)).await;
                }
            }
        }
    }
}

fn watchdog_period() -> Option<Duration> {
    // A tick period of 0 panics: WATCHDOG_USEC=1 halves to nothing.
    sd_notify::watchdog_enabled().map(|d| (d / 2).max(Duration::from_millis(1)))
}

/// The stamp (modification and change times, size, inode) of each file, to notice changes.
fn file_stamps(files: &[PathBuf]) -> Vec<Option<FileStamp>> {
    files.iter().map(|p| file_stamp(p)).collect()
}

/// Waits until `t` (at least 100 ms from now), or forever without one.
async fn until(t: Option<SystemTime>) {
    match t {
        Some(t) => {
            let wait = t.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::sleep(wait.max(Duration::from_millis(100))).await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedConfig;
    use crate::ioc::parse_indicator;

    fn at(unix: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix)
    }

    /// valid until 2030-01-01 and 2021-01-01.
    const STIX: &str = r#"{"type": "bundle", "id": "bundle--1", "objects": [
      {"type": "indicator", "id": "indicator--a", "pattern": "[ipv4-addr:value = '45.1.1.1']",
       "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"},
      {"type": "indicator", "id": "indicator--b", "pattern": "[domain-name:value = 'old-c2.net']",
       "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2021-01-01T00:00:00Z"}
    ]}"#;
    const Y2021: u64 = 1_609_459_200;
    const Y2030: u64 = 1_893_456_000;

    /// A catalog of the STIX bundle compiled as of 2020-06-01, and a control plane serving it.
    async fn loaded(dir: &std::path::Path) -> (Catalog, Control) {
        let p = dir.join("b.json");
        std::fs::write(&p, STIX).unwrap();
        let cfg: FeedConfig = toml::from_str(&format!(
            "name = \"stix\"\npath = {:?}",
            p.display().to_string()
        ))
        .unwrap();
        let mut catalog = Catalog::new(&[cfg], &[]);
        catalog.refresh_all().await;
        let (set, _) = catalog.compile(at(1_590_969_600));
        assert_eq!(set.len(), 2);
        let control = Control {
            shared: Arc::new(ArcSwap::new(Arc::new(Snapshot { set, generation: 1 }))),
            metrics: Arc::new(Metrics::new()),
            generation: 1,
            started: true,
        };
        (catalog, control)
    }

    fn has(control: &Control, v: &str) -> bool {
        let snap = control.shared.load();
        snap.set.find(&parse_indicator(v).unwrap()).is_some()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn expiry_tick_with_nothing_due_does_not_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let (mut catalog, mut control) = loaded(dir.path()).await;
        assert_eq!(catalog.next_expiry(), Some(at(Y2021)));
        let before = control.shared.load_full();
        for now in [1_600_000_000, Y2021 - 1] {
            assert!(control.expiry_tick(&mut catalog, at(now)).await.is_none());
        }
        assert_eq!(control.generation, 1);
        assert!(
            Arc::ptr_eq(&before, &control.shared.load_full()),
            "same set"
        );
        assert_eq!(catalog.next_expiry(), Some(at(Y2021)), "nothing compiled");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn expired_indicator_leaves_the_set_at_the_next_tick() {
        let dir = tempfile::tempdir().unwrap();
        let (mut catalog, mut control) = loaded(dir.path()).await;
        assert!(has(&control, "old-c2.net"));
        // The feed file is gone: expiry must not need it.
        std::fs::remove_file(dir.path().join("b.json")).unwrap();
        let r = control.expiry_tick(&mut catalog, at(Y2021 + 30)).await;
        assert_eq!(r, Some(Ok(2)));
        assert_eq!(control.generation, 2);
        assert!(!has(&control, "old-c2.net"));
        assert!(has(&control, "45.1.1.1"));
        // The next one due is the other indicator's.
        assert_eq!(catalog.next_expiry(), Some(at(Y2030)));
        assert!(
            control
                .expiry_tick(&mut catalog, at(Y2021 + 90))
                .await
                .is_none()
        );
        assert_eq!(control.generation, 2);
    }
}
