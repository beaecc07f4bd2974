//! Start-up: the wiring, in the order described in [`super`]: the first indicator set, the
//! analysts' state, sinks, triage, matcher threads, admin server, exports, sources, then
//! `READY=1`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::admin;
use super::control::{self, Control};
use super::worker::{self, AlertOut};
use super::{Error, ReloadRequest, Running, deliver, notify};
use crate::config::{Config, LogFormat};
use crate::feedback::Feedback;
use crate::ioc::Catalog;
use crate::model::{BatchSender, SharedSet, Shutdown, Snapshot};
use crate::sightings::{Exporter, Sightings};
use crate::sink::Sinks;
use crate::source::Sources;
use crate::telemetry::Metrics;
use crate::triage::{Outgoing, SystemClock, Ticker, Triage};

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

/// The I/O runtime (sources, sinks, exports, the control loop), and the process's limits.
pub(super) fn runtime() -> Result<Runtime, Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("iocd-io")
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    // Many syslog and admin connections at once meet the administrator's limit, not the
    // default soft one.
    admin::raise_open_files_limit();
    Ok(rt)
}

/// Reads every feed (or its cache) and compiles the first set: the control plane starts
/// with it, as generation 1.
pub(super) fn first_set(cfg: &Config, rt: &Runtime, metrics: &Arc<Metrics>) -> (Catalog, Control) {
    let started = Instant::now();
    let mut catalog = match &cfg.compiled_set {
        Some(path) => Catalog::compiled(path),
        None => Catalog::new(&cfg.feeds, &cfg.allowlists),
    };
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
    control::release_free_memory();
    let shared: SharedSet = Arc::new(ArcSwap::new(Arc::new(Snapshot { set, generation: 1 })));
    let control = Control::new(shared, metrics.clone());
    control.publish(&report, started.elapsed());
    control.publish_feeds(&catalog, Some(&refresh));
    (catalog, control)
}

/// Starts everything but the control loop, in order: analysts' state, sinks, triage,
/// matcher threads, admin server, background tasks and exports, and intake last.
pub(super) fn start(
    cfg: &Config,
    rt: Runtime,
    control: &mut Control,
    reload_tx: mpsc::Sender<ReloadRequest>,
) -> Result<Running, Error> {
    let metrics = control.metrics().clone();
    let Analysts {
        feedback,
        sightings,
        exporter,
    } = analysts_state(cfg, &metrics)?;
    let sinks = Sinks::start(&cfg.sinks, metrics.clone(), rt.handle()).map_err(Error::Sinks)?;
    let Triaged {
        triage,
        ticker,
        out,
    } = start_triage(cfg, &metrics, &feedback, &sightings, &sinks)?;
    let spool = super::retro::Retro::open_spool(cfg, &metrics).map_err(Error::Retro)?;
    let (tx, rx) = crossbeam_channel::bounded(cfg.engine.queue_batches);
    let workers = worker::try_spawn(
        cfg.threads(),
        rx,
        control.shared().clone(),
        out.clone(),
        crate::decode::syslog::alert_fields,
        metrics.clone(),
        triage.clone(),
        spool.clone(),
    )
    .map_err(|source| Error::Thread {
        what: "the matcher threads",
        source,
    })?;
    let shutdown = Shutdown::new();
    let progress = super::retro::Retro::new_progress(cfg);
    let admin = cfg
        .admin
        .enabled
        .then(|| {
            let (m, s) = (metrics.clone(), shutdown.clone());
            let p = Some(progress.clone());
            admin::start(
                &cfg.admin,
                m,
                reload_tx.clone(),
                s,
                Some(feedback.clone()),
                p,
            )
        })
        .transpose()
        .map_err(Error::Admin)?;
    let exporter = exporter
        .map(|e| rt.spawn(e.run(sightings.clone(), cfg.sightings.interval, shutdown.clone())));
    let shared = control.shared().clone();
    start_background(cfg, &rt, &feedback, shared, &metrics, &shutdown)?;
    let sources = start_sources(cfg, &rt, tx, &metrics, &shutdown)?;
    let retro = start_retro(
        cfg,
        spool.clone(),
        progress,
        control.shared().clone(),
        out,
        &triage,
        &sinks,
        &feedback,
        &sightings,
        &sources,
        &metrics,
    )?;
    control.set_started();
    Ok(Running {
        rt,
        shutdown,
        reload_tx,
        sources,
        workers,
        triage,
        ticker,
        sinks,
        sightings,
        exporter,
        admin,
        retro,
        spool,
    })
}

/// The retro thread, once intake runs (it reads the Kafka consumer's partitions).
#[allow(clippy::too_many_arguments)]
fn start_retro(
    cfg: &Config,
    spool: Option<Arc<super::retro::Spool>>,
    progress: Arc<std::sync::Mutex<super::retro::Progress>>,
    shared: SharedSet,
    out: AlertOut,
    triage: &Option<Arc<Triage>>,
    sinks: &Sinks,
    feedback: &Arc<Feedback>,
    sightings: &Arc<Sightings>,
    sources: &Sources,
    metrics: &Arc<Metrics>,
) -> Result<Option<super::retro::Retro>, Error> {
    let (sender, live) = (sinks.sender(), triage.clone());
    let reports: Arc<dyn Fn(Outgoing) + Send + Sync> = Arc::new(move |o: Outgoing| {
        deliver(&sender, live.as_deref(), crate::alert::record(&o), o.sink)
    });
    let kafka = match (&cfg.sources.kafka, sources.kafka_tracker()) {
        (Some(k), Some(t)) => Some(super::retro::KafkaHistory::new(k, t)),
        _ => None,
    };
    let wiring = super::retro::Wiring {
        shared,
        out,
        reports,
        metrics: metrics.clone(),
        feedback: feedback.clone(),
        sightings: sightings.clone(),
        sink_names: cfg.sink_names(),
        kafka,
    };
    super::retro::Retro::start(cfg, spool, progress, wiring).map_err(Error::Retro)
}

/// Analysts' verdicts and the sightings aggregate (and its exporter, not running yet).
struct Analysts {
    feedback: Arc<Feedback>,
    sightings: Arc<Sightings>,
    exporter: Option<Exporter>,
}

/// Analysts' state: it exists before the matcher threads, which consult and feed it for
/// every hit.
fn analysts_state(cfg: &Config, metrics: &Arc<Metrics>) -> Result<Analysts, Error> {
    let feedback = Arc::new(
        Feedback::new(metrics, cfg.feedback.state.clone())
            .with_limits(cfg.feedback.max_marks, cfg.feedback.max_file_bytes),
    );
    if let Some(path) = &cfg.feedback.file {
        feedback.load_file(path);
    }
    let sightings = Arc::new(Sightings::new(metrics, cfg.sightings.max_pending));
    let exporter = cfg
        .sightings
        .enabled()
        .then(|| Exporter::new(&cfg.sightings, metrics))
        .transpose()
        .map_err(Error::Sightings)?;
    Ok(Analysts {
        feedback,
        sightings,
        exporter,
    })
}

/// Triage (when enabled), its ticker thread, and where matcher threads put alerts.
struct Triaged {
    triage: Option<Arc<Triage>>,
    ticker: Option<Ticker>,
    out: AlertOut,
}

/// Triage turns hits into alerts: scored, deduplicated, routed to the sinks by priority.
/// Roll-ups at window close and digests come from its own thread (the ticker) and from the
/// matcher thread whose event time passes theirs. Returns where matcher threads put alerts.
fn start_triage(
    cfg: &Config,
    metrics: &Metrics,
    feedback: &Arc<Feedback>,
    sightings: &Arc<Sightings>,
    sinks: &Sinks,
) -> Result<Triaged, Error> {
    // Shared-infrastructure lists, asked when an indicator floods outbound (at match time).
    let flood = &cfg.triage.flood;
    let shared = flood
        .shared_infrastructure
        .iter()
        .filter(|_| cfg.triage.enabled && flood.enabled)
        .map(|p| crate::ioc::allowlist::List::load(p))
        .collect::<Result<Vec<_>, String>>()
        .map_err(Error::SharedInfrastructure)?;
    let triage = cfg.triage.enabled.then(|| {
        Arc::new(
            Triage::new(
                &cfg.triage,
                &cfg.sink_names(),
                metrics.triage.clone(),
                Arc::new(SystemClock),
            )
            .with_shared_infrastructure(&shared)
            .with_time(&cfg.triage)
            .with_feedback(feedback.clone())
            .with_sightings(sightings.clone()),
        )
    });
    let Some(t) = triage else {
        let sender = sinks.sender();
        let out: AlertOut = Arc::new(move |a| deliver(&sender, None, a, None));
        return Ok(Triaged {
            triage: None,
            ticker: None,
            out,
        });
    };
    // Roll-ups and digests a matcher thread makes when event time passes their time.
    let (sender, weak) = (sinks.sender(), Arc::downgrade(&t));
    t.deliver_due(move |o: Outgoing| {
        if let Some(t) = weak.upgrade() {
            deliver(&sender, Some(&t), crate::alert::record(&o), o.sink)
        }
    });
    let (sender, t2) = (sinks.sender(), t.clone());
    let ticker = Ticker::spawn(t.clone(), Duration::from_secs(1), move |o: Outgoing| {
        deliver(&sender, Some(&t2), crate::alert::record(&o), o.sink)
    })
    .map_err(|source| Error::Thread {
        what: "the triage thread",
        source,
    })?;
    let (sender, t2) = (sinks.sender(), t.clone());
    let out: AlertOut = Arc::new(move |a| deliver(&sender, Some(&t2), a, None));
    Ok(Triaged {
        triage: Some(t),
        ticker: Some(ticker),
        out,
    })
}

/// The tasks that follow the set and the marks until shutdown: the false-positive gauge,
/// the exports (their listener, then the task that writes them; the first version of each
/// is written as soon as it starts) and the feedback file's watcher.
fn start_background(
    cfg: &Config,
    rt: &Runtime,
    feedback: &Arc<Feedback>,
    shared: SharedSet,
    metrics: &Arc<Metrics>,
    shutdown: &Shutdown,
) -> Result<(), Error> {
    rt.spawn(control::publish_false_positive_marks(
        feedback.clone(),
        shared.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let mut exports = crate::export::Exports::new(&cfg.exports, &cfg.triage.score, metrics)
        .with_allow(crate::triage::assets::Allow::new(&cfg.triage));
    if let Some(l) = &cfg.export_listener {
        let published = Arc::new(crate::export::http::Published::new(exports.names()));
        exports = exports.publish_to(published.clone());
        let _guard = rt.enter();
        // It logs its address itself.
        crate::export::http::start(l, published, metrics.export.clone(), shutdown.clone())
            .map_err(Error::ExportListener)?;
    }
    if !exports.is_empty() {
        let every = cfg.reload.expiry_interval;
        let run = crate::export::run(exports, shared, feedback.clone(), every, shutdown.clone());
        rt.spawn(run);
    }
    if let Some(path) = cfg.feedback.file.clone() {
        rt.spawn(control::watch_feedback(
            feedback.clone(),
            path,
            cfg.reload.watch_interval,
            shutdown.clone(),
        ));
    }
    Ok(())
}

/// Intake, last: from here on lines flow into the matcher threads through `tx`.
fn start_sources(
    cfg: &Config,
    rt: &Runtime,
    tx: BatchSender,
    metrics: &Arc<Metrics>,
    shutdown: &Shutdown,
) -> Result<Sources, Error> {
    let _guard = rt.enter();
    let sources = crate::source::spawn_all(
        &cfg.sources,
        cfg.engine.batch_bytes,
        tx,
        metrics.clone(),
        shutdown.clone(),
        cfg.shutdown.grace,
    )
    .map_err(Error::Sources)?;
    for addr in sources.local_addrs() {
        info!(%addr, "listening");
    }
    Ok(sources)
}

impl Control {
    /// `READY=1` for systemd: intake runs. Whether every feed is in is `/readyz`'s answer.
    pub(super) fn announce(&self, catalog: &Catalog) {
        self.publish_feeds(catalog, None);
        notify(&[sd_notify::NotifyState::Ready]);
        let missing = catalog.missing_feeds();
        if missing.is_empty() {
            info!(generation = self.generation(), "iocd is running");
        } else {
            warn!(
                generation = self.generation(),
                missing = %missing.join(", "),
                "iocd is running without some feeds: not ready until they load"
            );
        }
    }
}

/// Removes what writes interrupted by a crash left beside the state files (feedback marks,
/// feed caches), before anything writes them again; each is logged and counted.
pub(super) fn clean_state_files(cfg: &Config, metrics: &Metrics) {
    let mut state: Vec<PathBuf> = cfg.feedback.state.iter().cloned().collect();
    for path in cfg.feeds.iter().filter_map(|f| f.cache.clone()) {
        state.push(crate::ioc::fetch::Cache { path: path.clone() }.meta_path());
        state.push(path);
    }
    state.extend(crate::export::Exports::paths(&cfg.exports));
    if let Some(dir) = cfg.retro.dir.as_ref().filter(|_| cfg.retro.enabled) {
        state.push(dir.join("state.json"));
        state.push(dir.join("known.bin"));
    }
    let removed = crate::statefile::remove_leftovers(&state);
    metrics
        .state_temp_files_removed
        .inc_by(removed.len() as u64);
}
