//! The control plane: reloads (SIGHUP, `POST /reload`, changed files, due refreshes, expiry)
//! and readiness, as described in [`super`]; and the background tasks that follow the set
//! and the analysts' marks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use super::{Error, ReloadError, ReloadReason, ReloadRequest, ReloadResult, notify};
use crate::config::Config;
use crate::feedback::Feedback;
use crate::ioc::catalog::{FileStamp, file_stamp};
use crate::ioc::{Catalog, LoadReport, RefreshReport};
use crate::model::{SharedSet, Shutdown, Snapshot};
use crate::sink::Sinks;
use crate::telemetry::Metrics;
use iocd_engine::{IocKind, IocSet};

/// What woke the control loop.
enum Wake {
    /// SIGTERM or SIGINT (named).
    Stop(&'static str),
    /// A reload, and where its outcome goes (a `POST /reload`).
    Reload(ReloadReason, Option<oneshot::Sender<ReloadResult>>),
    /// The expiry pass is due.
    Expiry,
}

/// SIGTERM and SIGINT: either stops the daemon.
struct Stop {
    term: Signal,
    int: Signal,
}

impl Stop {
    fn new() -> Result<Stop, Error> {
        Ok(Stop {
            term: signal(SignalKind::terminate()).map_err(Error::Signals)?,
            int: signal(SignalKind::interrupt()).map_err(Error::Signals)?,
        })
    }

    /// The next of them, by name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// The control plane: owns reloads and the set generation.
pub(super) struct Control {
    shared: SharedSet,
    metrics: Arc<Metrics>,
    generation: u64,
    /// Intake runs: ready once every feed has a generation too.
    started: bool,
}

impl Control {
    /// A control plane serving `shared` as its first generation, not started yet.
    pub(super) fn new(shared: SharedSet, metrics: Arc<Metrics>) -> Control {
        Control {
            shared,
            metrics,
            generation: 1,
            started: false,
        }
    }

    pub(super) fn shared(&self) -> &SharedSet {
        &self.shared
    }

    pub(super) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Intake runs: readiness now waits only for the feeds.
    pub(super) fn set_started(&mut self) {
        self.started = true;
    }

    /// Waits for reload triggers and signals until SIGTERM or SIGINT. A reload in progress
    /// (feed downloads and the waits between their retries) gives way to either signal.
    pub(super) async fn serve(
        &mut self,
        cfg: &Config,
        catalog: &mut Catalog,
        reload_rx: &mut mpsc::Receiver<ReloadRequest>,
        sinks: &Sinks,
    ) -> Result<(), Error> {
        let mut stop = Stop::new()?;
        let mut hup = signal(SignalKind::hangup()).map_err(Error::Signals)?;
        // First ticks one period from now: the set was built a moment ago, and an immediate
        // expiry pass would rebuild all of it again before the first line arrives.
        let [mut watch, mut expiry, mut watchdog] = [
            cfg.reload.watch_interval,
            cfg.reload.expiry_interval,
            watchdog_period().unwrap_or(Duration::from_secs(3600)),
        ]
        .map(|period| tokio::time::interval_at(tokio::time::Instant::now() + period, period));
        let mut stamps = file_stamps(&catalog.watched_files());
        // Pages of a mapped compiled set file lost under us (it was truncated in place): a
        // reason to map the file again, and to say so, even if its stamp did not move.
        let mut faulted = crate::ioc::setfile::faulted_pages();
        loop {
            let wake = tokio::select! {
                signal = stop.recv() => Wake::Stop(signal),
                _ = hup.recv() => {
                    info!("SIGHUP: reopening file sinks and reloading indicators");
                    sinks.reopen();
                    Wake::Reload(ReloadReason::Signal, None)
                }
                Some(req) = reload_rx.recv() => Wake::Reload(req.reason, req.reply),
                _ = watch.tick(), if cfg.reload.watch_files => {
                    let now = file_stamps(&catalog.watched_files());
                    let faults = crate::ioc::setfile::faulted_pages();
                    if now == stamps && faults == faulted {
                        continue;
                    }
                    stamps = now;
                    faulted = faults;
                    Wake::Reload(ReloadReason::FileChanged, None)
                }
                // Due refreshes and retries of failed feeds, whether files are watched or not.
                _ = until(catalog.next_refresh()) => Wake::Reload(ReloadReason::FeedRefresh, None),
                _ = expiry.tick() => Wake::Expiry,
                _ = watchdog.tick() => {
                    notify(&[sd_notify::NotifyState::Watchdog]);
                    continue;
                }
            };
            if let Wake::Stop(signal) = wake {
                info!("{signal}");
                return Ok(());
            }
            // SIGHUP and `POST /reload` read every file: their stamps are the new baseline.
            let rereads_all = matches!(
                &wake,
                Wake::Reload(ReloadReason::Signal, _) | Wake::Reload(_, Some(_))
            );
            tokio::select! {
                () = self.wake(catalog, wake) => {}
                signal = stop.recv() => {
                    info!("{signal} during a reload: the reload is abandoned");
                    return Ok(());
                }
            }
            if rereads_all {
                stamps = file_stamps(&catalog.watched_files());
            }
        }
    }

    /// Does what the control loop was woken for.
    async fn wake(&mut self, catalog: &mut Catalog, wake: Wake) {
        match wake {
            Wake::Stop(_) => {}
            Wake::Reload(reason, reply) => {
                let r = self.reload(catalog, reason).await;
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
            Wake::Expiry => {
                let _ = self.expiry_tick(catalog, SystemTime::now()).await;
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
        let result = match self.refresh(catalog, reason, now).await {
            Some(unchanged) => unchanged,
            None => self.swap_in(catalog, reason, now, t),
        };
        if reason != ReloadReason::Expiry {
            notify(&[sd_notify::NotifyState::Ready]);
        }
        result
    }

    /// Reads (or downloads) what `reason` asks for; expiry reads nothing. `Some` (the
    /// current generation) when nothing changed and the current set stays.
    async fn refresh(
        &mut self,
        catalog: &mut Catalog,
        reason: ReloadReason,
        now: SystemTime,
    ) -> Option<ReloadResult> {
        let r = match reason {
            ReloadReason::Expiry => return None,
            ReloadReason::FeedRefresh => catalog.refresh_due(now).await,
            ReloadReason::FileChanged => catalog.refresh_files(now).await,
            _ => catalog.refresh_all().await,
        };
        // The catalog logged each failed feed with what stays in use.
        self.publish_feeds(catalog, Some(&r));
        if !r.failures().is_empty() {
            // Part of what was asked for was not taken: counted once per reload.
            self.metrics.reload_failures.inc();
        }
        if r.changed() {
            return None;
        }
        if r.feeds.iter().any(|f| f.fetch == "ok") {
            // A document was parsed and refused (or failed): give its memory back.
            tokio::task::spawn_blocking(release_free_memory);
        }
        info!(
            ?reason,
            generation = self.generation,
            "no feed or allowlist changed: the current set stays"
        );
        Some(Ok(self.generation))
    }

    /// Compiles the catalog as of `now` beside the current set and swaps it in (`t`: when
    /// the reload began). A compile that panics keeps the current set.
    fn swap_in(
        &mut self,
        catalog: &mut Catalog,
        reason: ReloadReason,
        now: SystemTime,
        t: Instant,
    ) -> ReloadResult {
        let built = tokio::task::block_in_place(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| catalog.compile(now)))
        });
        let Ok((set, report)) = built else {
            self.metrics.reload_failures.inc();
            let e = ReloadError::BuildFailed;
            error!(?reason, "{e}");
            return Err(e);
        };
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

    /// Sets the per-feed health metrics after a refresh (`refresh`: what it did, counted
    /// once) and readiness: ready once intake runs and no feed lacks a generation.
    pub(super) fn publish_feeds(&self, catalog: &Catalog, refresh: Option<&RefreshReport>) {
        let m = &self.metrics;
        // Pages of a mapped set file replaced by zeros since the last look (process-wide).
        let faulted = crate::ioc::setfile::faulted_pages();
        m.set_file_faulted_pages
            .inc_by(faulted.saturating_sub(m.set_file_faulted_pages.get()));
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
    pub(super) fn publish(&self, report: &LoadReport, took: Duration) {
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
                .set((set.heap_bytes() + set.mapped_bytes()) as f64 / set.len() as f64);
        }
        m.indicators.reset();
        let mut per: BTreeMap<(u32, IocKind), i64> = BTreeMap::new();
        for i in 0..set.len() as u32 {
            let id = iocd_engine::IocId(i);
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
pub(super) fn release_free_memory() {
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
pub(super) async fn publish_false_positive_marks(
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
pub(super) async fn watch_feedback(
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
        let shared = Arc::new(arc_swap::ArcSwap::new(Arc::new(Snapshot {
            set,
            generation: 1,
        })));
        let mut control = Control::new(shared, Arc::new(Metrics::new()));
        control.set_started();
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
