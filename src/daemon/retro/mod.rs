//! Retro-matching: when a reload adds indicators, look for them in the history of the last
//! `lookback`, so that the hosts that reached a C2 before it was published are found too.
//!
//! * **What is new.** After every reload the retro thread compares the new set with the
//!   indicators it has already seen, by stable identity ([`iocd_engine::IocSet::identity`]):
//!   the indicators the new set has and the seen ones do not are the job's (one removed and
//!   back counts as new). The seen identities are kept in `known.bin`; the first start with
//!   none records the set as a baseline and looks for nothing.
//! * **The history.** Syslog, file and stdin lines: the [`spool`] (segments of the lines
//!   matched live, closed up to the reload before the job reads them). Kafka: the topics
//!   ([`kafka`]): a consumer of its own, assigned by hand to the partitions this instance
//!   owns, from the offsets of `now - lookback` up to where live matching is.
//! * **The job.** One thread, niced, sleeping between blocks so that it uses at most
//!   `max_cpu_share` of a core. Each block of history is scanned with a set of the added
//!   indicators alone; lines with hits go through the same decoding and alerting as live
//!   ones (`worker::retro_batch`), with a triage of the job's own whose deduplication
//!   window is the whole lookback, and become `retro` alerts at the line's own time. A
//!   reload while a job runs adds its indicators to the job: they join the rest of the
//!   current pass, and a pass of their own covers what the job had read and what arrived
//!   since.
//! * **Restarts.** The job (its passes, where it is, the keys it alerted) is written to
//!   `state.json` after every segment and every few seconds: a restart resumes where it
//!   was, alerts nothing twice and skips nothing.

mod kafka;
pub mod spool;
mod state;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::worker::{AlertOut, RetroLine, retro_batch};
use crate::config::Config;
use crate::config::retro::RetroConfig;
use crate::feedback::Feedback;
use crate::model::{Batch, SharedSet, Snapshot};
use crate::sightings::Sightings;
use crate::telemetry::Metrics;
use crate::triage::{EventClock, Outgoing, SystemClock, Tally, Triage};
use iocd_engine::{Hit, IocId, IocSet, Scratch};
pub use kafka::KafkaHistory;
pub use spool::Spool;
use state::{Cursor, Job, Pass, Span, State};

/// A stable 64-bit hash of `bytes` (the first 8 bytes of SHA-256): what the job keeps of the
/// keys it alerted, across restarts and versions.
pub(crate) fn key_hash(bytes: &[u8]) -> u64 {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    u64::from_le_bytes(d.as_ref()[..8].try_into().expect("8 bytes"))
}

/// What `GET /retro` shows.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Progress {
    pub enabled: bool,
    /// `idle`, `running`, `waiting` (for the CPU share).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<JobProgress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_job: Option<state::Summary>,
    /// Indicators seen so far (the baseline new ones are told from).
    pub known_indicators: usize,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct JobProgress {
    pub id: u64,
    pub started: String,
    pub passes: usize,
    pub pass: usize,
    pub spans: usize,
    pub span: usize,
    #[serde(flatten)]
    pub found: state::Found,
}

/// The daemon's handle: the spool matcher threads feed, the thread that runs jobs.
pub struct Retro {
    pub spool: Option<Arc<Spool>>,
    progress: Arc<Mutex<Progress>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Everything a job needs from the daemon.
pub(crate) struct Wiring {
    pub shared: SharedSet,
    pub out: AlertOut,
    /// Where the job's triage sends its own alerts (roll-ups at the end of a job).
    pub reports: Arc<dyn Fn(Outgoing) + Send + Sync>,
    pub metrics: Arc<Metrics>,
    pub feedback: Arc<Feedback>,
    pub sightings: Arc<Sightings>,
    pub sink_names: Vec<String>,
    /// The Kafka source's view of what this instance owns (when it reads Kafka).
    pub kafka: Option<KafkaHistory>,
}

impl Retro {
    /// Opens the spool when `[retro]` is on and a source has no history of its own
    /// (syslog, files, stdin); it exists before the matcher threads, which feed it.
    pub(crate) fn open_spool(
        cfg: &Config,
        metrics: &Metrics,
    ) -> std::io::Result<Option<Arc<Spool>>> {
        let rc = &cfg.retro;
        let s = &cfg.sources;
        let needs_spool = s.syslog_udp.is_some()
            || s.syslog_tcp.is_some()
            || s.syslog_tls.is_some()
            || !s.files.is_empty()
            || s.stdin;
        if !rc.enabled || !needs_spool {
            return Ok(None);
        }
        let dir = rc.dir.clone().expect("validated: dir is set when enabled");
        let spool = Spool::open(
            spool::SpoolConfig {
                dir: dir.join("spool"),
                max_bytes: rc.spool_max_bytes,
                segment_max_bytes: rc.segment_max_bytes,
                segment_max_age: rc.segment_max_age,
                lookback: rc.lookback,
                level: rc.spool_level,
            },
            rc.spool_queue,
            metrics.retro.clone(),
        )?;
        Ok(Some(Arc::new(spool)))
    }

    /// What `GET /retro` will show (made before the admin server starts).
    pub(crate) fn new_progress(cfg: &Config) -> Arc<Mutex<Progress>> {
        Arc::new(Mutex::new(Progress {
            enabled: cfg.retro.enabled,
            state: "idle",
            ..Progress::default()
        }))
    }

    /// Starts the retro thread (intake runs: the Kafka consumer's partitions are known);
    /// `None` when `[retro]` is off.
    pub(crate) fn start(
        cfg: &Config,
        spool: Option<Arc<Spool>>,
        progress: Arc<Mutex<Progress>>,
        w: Wiring,
    ) -> std::io::Result<Option<Retro>> {
        let rc = &cfg.retro;
        if !rc.enabled {
            return Ok(None);
        }
        let dir = rc.dir.clone().expect("validated: dir is set when enabled");
        std::fs::create_dir_all(&dir)?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut runner = Runner::new(
            rc,
            &cfg.triage,
            dir,
            spool.clone(),
            w,
            progress.clone(),
            stop.clone(),
        )?;
        let thread = std::thread::Builder::new()
            .name("iocd-retro".into())
            .spawn(move || {
                nice_this_thread(19);
                runner.run()
            })?;
        Ok(Some(Retro {
            spool,
            progress,
            stop,
            thread: Some(thread),
        }))
    }

    /// What `GET /retro` shows.
    pub fn progress(&self) -> Arc<Mutex<Progress>> {
        self.progress.clone()
    }

    /// Stops the job where it is (its state is saved: the next start resumes it), then the
    /// spool writer (it closes the open segment). A job thread still busy after `wait` (an
    /// alert waiting for room in a sink that is down, a Kafka read) is left to the process's
    /// exit: the sinks' shutdown comes after this and must not wait for it; the job resumes
    /// from its last checkpoint.
    pub fn stop(mut self, wait: Duration) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let end = Instant::now() + wait;
            while !t.is_finished() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                warn!(
                    "retro: the job did not stop in time; it resumes from its last checkpoint at the next start"
                );
            }
        }
        if let Some(s) = &self.spool {
            s.close();
        }
    }
}

/// Lowers the retro thread's scheduling priority: live matching goes first when both want
/// the CPU.
fn nice_this_thread(nice: i32) {
    // SAFETY: gettid and setpriority have no memory-safety preconditions; on Linux a
    // thread id names one thread for PRIO_PROCESS.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice);
    }
}

/// CPU time this thread used, from the kernel.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Keeps a thread's CPU use at a share of one core: after each piece of work, sleeps long
/// enough that CPU time over wall time stays at or under `share`.
struct Throttle {
    share: f64,
    cpu: Duration,
    wall: Instant,
}

impl Throttle {
    fn new(share: f64) -> Throttle {
        Throttle {
            share,
            cpu: thread_cpu(),
            wall: Instant::now(),
        }
    }

    /// The sleep owed for the work since the last call (none at a share of 1).
    fn owed(&mut self) -> Duration {
        let cpu = thread_cpu();
        let used = cpu.saturating_sub(self.cpu);
        let wall = self.wall.elapsed();
        let need = used.div_f64(self.share);
        self.cpu = cpu;
        self.wall = Instant::now();
        if self.share >= 1.0 {
            return Duration::ZERO;
        }
        need.saturating_sub(wall)
    }
}

/// The retro thread's state.
struct Runner {
    cfg: RetroConfig,
    triage_cfg: crate::config::triage::TriageConfig,
    dir: PathBuf,
    spool: Option<Arc<Spool>>,
    w: Wiring,
    progress: Arc<Mutex<Progress>>,
    stop: Arc<AtomicBool>,
    state: State,
    /// Identities of every indicator seen (sorted), and the generation they are of.
    known: Vec<u64>,
    generation: u64,
    /// The current job's set and triage, built from `state.job`'s current pass.
    live: Option<Running>,
    last_save: Instant,
    /// The spool segment being read.
    cache: state::SegmentCache,
    /// Kafka history (taken out of the wiring: the job's steps borrow it mutably).
    kafka: Option<KafkaHistory>,
}

/// A pass being run: its set, its triage, its alert state.
struct Running {
    pass: usize,
    snap: Snapshot,
    triage: Option<Arc<Triage>>,
    line: RetroLine,
    tally: Tally,
    scratch: Scratch,
    hits: Vec<Hit>,
    json: Vec<u8>,
}

impl Runner {
    fn new(
        cfg: &RetroConfig,
        triage_cfg: &crate::config::triage::TriageConfig,
        dir: PathBuf,
        spool: Option<Arc<Spool>>,
        w: Wiring,
        progress: Arc<Mutex<Progress>>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<Runner> {
        let state = State::load(&dir.join("state.json"));
        let known = state::load_known(&dir.join("known.bin"));
        Ok(Runner {
            cfg: cfg.clone(),
            triage_cfg: triage_cfg.clone(),
            dir,
            spool,
            w,
            progress,
            stop,
            state,
            known: known.unwrap_or_default(),
            generation: 0,
            live: None,
            last_save: Instant::now(),
            cache: state::SegmentCache::default(),
            kafka: None,
        })
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn run(&mut self) {
        self.kafka = self.w.kafka.take();
        let first = !self.dir.join("known.bin").exists();
        if let Some(j) = &self.state.job {
            info!(
                job = j.id,
                passes = j.passes.len(),
                "retro: resuming the job a restart interrupted"
            );
        }
        self.publish("idle");
        let mut throttle = Throttle::new(self.cfg.max_cpu_share);
        while !self.stopping() {
            let snap = self.w.shared.load_full();
            if snap.generation != self.generation {
                self.new_generation(&snap, first && self.generation == 0);
                self.generation = snap.generation;
            }
            if self.state.job.is_none() {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            // One step: a block of the spool or a run of Kafka messages.
            let done = self.step();
            let owed = throttle.owed();
            if !owed.is_zero() {
                self.publish("waiting");
                sleep_unless(&self.stop, owed);
            }
            if done {
                self.finish_job();
            } else if self.last_save.elapsed() > Duration::from_secs(5) {
                self.save();
            }
        }
        if let Some(j) = &self.state.job {
            self.w
                .metrics
                .retro
                .jobs
                .with_label_values(&["stopped"])
                .inc();
            info!(
                job = j.id,
                "retro: job stopped by shutdown; the next start resumes it"
            );
        }
        self.save();
    }

    /// A new set: its new indicators become a job, or join the one running.
    fn new_generation(&mut self, snap: &Snapshot, first_start: bool) {
        let set = &snap.set;
        let mut ids: Vec<u64> = (0..set.len() as u32)
            .map(|i| set.identity(IocId(i)))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if first_start && self.state.job.is_none() {
            info!(
                indicators = ids.len(),
                "retro: first start, the current indicators are the baseline (nothing to look back for)"
            );
            self.known = ids;
            self.save_known();
            self.publish("idle");
            return;
        }
        let added: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|x| self.known.binary_search(x).is_err())
            .collect();
        self.known = ids;
        if added.is_empty() {
            self.save_known();
            return;
        }
        let now = spool::unix_now();
        let now_ns = (now as u64).saturating_mul(1_000_000_000);
        let since_ns = now_ns.saturating_sub(self.cfg.lookback.as_nanos() as u64);
        let ends = self.history_ends(since_ns);
        info!(
            generation = snap.generation,
            added = added.len(),
            lookback = %humantime::format_duration(self.cfg.lookback),
            "retro: the reload added indicators; looking for them in the history"
        );
        match &mut self.state.job {
            None => {
                let id = self.state.next_job;
                self.state.next_job += 1;
                self.state.job = Some(Job {
                    id,
                    started: now,
                    passes: vec![Pass {
                        indicators: added,
                        added_at: now,
                        since_ns,
                        spans: ends,
                    }],
                    cursor: Cursor::default(),
                    alerted: Vec::new(),
                    alerted_len: 0,
                    stats: Default::default(),
                });
            }
            Some(job) => {
                // Indicators already waiting in the job are not added twice (a crash
                // between saving the job and the known set).
                let pending: HashSet<u64> = job
                    .passes
                    .iter()
                    .flat_map(|p| p.indicators.iter().copied())
                    .collect();
                let added: Vec<u64> = added.into_iter().filter(|a| !pending.contains(a)).collect();
                if !added.is_empty() {
                    job.merge(added, now, since_ns, ends);
                    // The current pass's set changes.
                    self.live = None;
                }
            }
        }
        // The job first, then the known set: a crash in between checks indicators twice
        // (they are deduplicated above), never skips one.
        self.save();
        self.save_known();
    }

    /// Where each history ends now: the spool is sealed (every line matched live before
    /// the reload is in a closed segment), Kafka partitions end at the live position.
    fn history_ends(&mut self, since_ns: u64) -> Vec<Span> {
        let mut spans = Vec::new();
        if let Some(s) = &self.spool
            && let Some(last) = s.seal()
        {
            let since_s = (since_ns / 1_000_000_000) as i64;
            let first = spool::segments(&s.dir())
                .unwrap_or_default()
                .into_iter()
                .find(|g| g.last >= since_s)
                .map_or(last + 1, |g| g.seq);
            if first <= last {
                spans.push(Span::Spool {
                    from: state::spool_pos(first, 0),
                    to: state::spool_pos(last + 1, 0),
                });
            }
        }
        if let Some(k) = &mut self.kafka {
            spans.extend(k.spans(since_ns));
        }
        spans
    }

    /// Runs one step of the current job; true when the job has nothing left.
    fn step(&mut self) -> bool {
        let Some(job) = &self.state.job else {
            return true;
        };
        let Some((pass_i, span_i, pos)) = job.cursor.at(job) else {
            return true;
        };
        if self.live.as_ref().is_none_or(|l| l.pass != pass_i) {
            self.live = Some(self.prepare(pass_i));
        }
        self.publish("running");
        let cpu_before = thread_cpu();
        let job = self.state.job.as_mut().expect("a job");
        let span = job.passes[pass_i].spans[span_i].clone();
        let since_ns = job.passes[pass_i].since_ns;
        let live = self.live.as_mut().expect("prepared");
        let w = &self.w;
        let metrics = &w.metrics.retro;
        let mut emit = |batch: &Batch| {
            let lines = memchr::memchr_iter(b'\n', &batch.buf).count() as u64;
            retro_batch(
                batch,
                &live.snap,
                &mut live.scratch,
                &mut live.hits,
                &mut live.json,
                &w.out,
                live.triage.as_deref(),
                &mut live.tally,
                &w.metrics,
                &mut live.line,
            );
            (batch.buf.len() as u64, lines)
        };
        let step = match &span {
            Span::Spool { to, .. } => {
                let dir = self.spool.as_ref().map(|s| s.dir());
                let cache = &mut self.cache;
                state::step_spool(
                    dir.as_deref(),
                    cache,
                    pos,
                    *to,
                    since_ns,
                    metrics,
                    &mut emit,
                )
            }
            Span::Kafka {
                topic,
                partition,
                to,
                ..
            } => match &mut self.kafka {
                Some(k) => k.step(topic, *partition, pos, *to, &mut emit),
                None => state::Step::done_at(*to),
            },
        };
        let history = if matches!(span, Span::Spool { .. }) {
            "spool"
        } else {
            "kafka"
        };
        metrics
            .scanned_bytes
            .with_label_values(&[history])
            .inc_by(step.bytes);
        metrics
            .scanned_messages
            .with_label_values(&[history])
            .inc_by(step.lines);
        let job = self.state.job.as_mut().expect("a job");
        job.stats.add(&step);
        job.stats.cpu_ns += thread_cpu().saturating_sub(cpu_before).as_nanos() as u64;
        let alerted_now = live.line.alerted.len();
        metrics.hits.inc_by(live.line.hit_lines);
        job.stats.hit_lines += live.line.hit_lines;
        live.line.hit_lines = 0;
        job.alerted_len = alerted_now;
        job.cursor.advance(&job.passes, step.next);
        let span_done = step.next >= span.to();
        let pass_done = job.cursor.pass != pass_i;
        if pass_done {
            self.end_pass();
        }
        // Progress is saved at every end of a span and of a spool segment (and every 5 s).
        let segment_done =
            matches!(span, Span::Spool { .. }) && (step.next as u64) & 0xff_ffff == 0;
        if span_done || segment_done {
            self.save();
        }
        self.state
            .job
            .as_ref()
            .is_none_or(|j| j.cursor.at(j).is_none())
    }

    /// The set, triage and alert state of pass `i` of the job.
    fn prepare(&mut self, i: usize) -> Running {
        let job = self.state.job.as_ref().expect("a job");
        let pass = &job.passes[i];
        let want: HashSet<u64> = pass.indicators.iter().copied().collect();
        let snap = self.w.shared.load_full();
        let ids: Vec<IocId> = (0..snap.set.len() as u32)
            .map(IocId)
            .filter(|&id| want.contains(&snap.set.identity(id)))
            .collect();
        let set: IocSet = snap.set.subset(ids);
        self.w.metrics.retro.indicators_pending.set(
            job.passes[i..]
                .iter()
                .map(|p| p.indicators.len())
                .sum::<usize>() as i64,
        );
        let triage = self.triage_cfg.enabled.then(|| {
            let mut tc = self.triage_cfg.clone();
            // One alert per indicator and host over the whole lookback.
            tc.dedup.window = tc.dedup.window.max(self.cfg.lookback);
            let t = Triage::new(
                &tc,
                &self.w.sink_names,
                self.w.metrics.triage.clone(),
                Arc::new(SystemClock),
            )
            .with_event_clock(Arc::new(EventClock::new(
                i64::MAX / 4,
                crate::triage::clock::millis(tc.max_ahead),
            )))
            .with_feedback(self.w.feedback.clone())
            .with_sightings(self.w.sightings.clone());
            let t = Arc::new(t);
            let reports = self.w.reports.clone();
            t.deliver_due(move |o| reports(o));
            t
        });
        Running {
            pass: i,
            snap: Snapshot {
                set,
                generation: snap.generation,
            },
            triage,
            line: RetroLine {
                job: job.id,
                added_at: pass.added_at,
                alerted: job.alerted.iter().copied().collect(),
                hit_lines: 0,
            },
            tally: Tally::default(),
            scratch: Scratch::new(),
            hits: Vec::new(),
            json: Vec::new(),
        }
    }

    /// A pass ended: its triage's windows close (roll-ups), its indicators are checked.
    fn end_pass(&mut self) {
        if let Some(live) = self.live.take() {
            if let Some(t) = &live.triage {
                for o in t.drain() {
                    (self.w.reports)(o);
                }
            }
            if let Some(job) = &mut self.state.job {
                job.alerted = live.line.alerted.iter().copied().collect();
                let n = job.passes.get(live.pass).map_or(0, |p| p.indicators.len());
                self.w.metrics.retro.indicators_checked.inc_by(n as u64);
            }
        }
    }

    fn finish_job(&mut self) {
        self.end_pass();
        let Some(job) = self.state.job.take() else {
            return;
        };
        let m = &self.w.metrics.retro;
        m.jobs.with_label_values(&["done"]).inc();
        m.indicators_pending.set(0);
        let took = spool::unix_now() - job.started;
        m.duration.observe(took.max(0) as f64);
        if let Some(f) = job.stats.first_ns {
            m.covered_from.set((f / 1_000_000_000) as i64);
        }
        if let Some(l) = job.stats.last_ns {
            m.covered_to.set((l / 1_000_000_000) as i64);
        }
        let summary = job.summary();
        info!(
            job = job.id,
            indicators = summary.found.indicators,
            scanned_bytes = summary.found.scanned_bytes,
            scanned_lines = summary.found.scanned_lines,
            hit_lines = summary.found.hit_lines,
            alerts = summary.found.alerts,
            cpu_seconds = summary.found.cpu_seconds,
            seconds = took,
            "retro: job done"
        );
        self.state.last = Some(summary);
        self.save();
        self.publish("idle");
    }

    fn save(&mut self) {
        if let Some(live) = &self.live
            && let Some(job) = &mut self.state.job
        {
            job.alerted = live.line.alerted.iter().copied().collect();
        }
        if let Err(e) = self.state.save(&self.dir.join("state.json")) {
            warn!(error = %e, dir = %self.dir.display(), "retro: cannot save the job's progress");
        }
        self.last_save = Instant::now();
        self.publish_state();
    }

    fn save_known(&self) {
        if let Err(e) = state::save_known(&self.dir.join("known.bin"), &self.known) {
            warn!(error = %e, dir = %self.dir.display(), "retro: cannot save the indicators seen");
        }
    }

    fn publish(&self, what: &'static str) {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        p.state = if self.state.job.is_some() {
            what
        } else {
            "idle"
        };
        p.known_indicators = self.known.len();
        p.job = self.state.job.as_ref().map(|j| j.progress());
        p.last_job = self.state.last.clone();
        self.w
            .metrics
            .retro
            .running
            .set(i64::from(self.state.job.is_some()));
    }

    fn publish_state(&self) {
        let what = self.progress.lock().map_or("idle", |p| p.state);
        self.publish(what);
    }
}

/// Sleeps `d`, waking early when `stop` is set.
fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::Acquire) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}
