//! Load generator for `scripts/load.sh`: drives a real `iocd run` over TCP syslog on loopback
//! and measures it from the outside.
//!
//! It starts the daemon (alerts on its standard output, read here), waits for `/readyz` and
//! for the daemon to be idle, then runs `--rounds` rounds of two phases on one TCP connection:
//!
//! 1. **Throughput**: the corpus, each line framed as an RFC 5424 message, as fast as the
//!    daemon takes it (TCP backpressure paces the sender), for `--seconds`; the rate is lines
//!    read by the daemon (`iocd_source_events_total`) over the time until every line sent was
//!    read and the queue was empty.
//! 2. **Latency at half that rate**: the same lines paced in 1 ms ticks. Each message carries
//!    its line number as PROCID; the time each line was handed to the socket is recorded, and
//!    each alert read from the daemon's stdout is matched back to its line: line-to-alert
//!    latency, end to end (socket, framing, batching, queue, matching, alert, sink, pipe).
//!
//! CPU (utime + stime) and RSS (VmRSS, VmHWM) come from `/proc/<pid>`. The result is a
//! Markdown section on standard output.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// The iocd binary.
    #[arg(long)]
    iocd: PathBuf,
    /// Its configuration: a syslog_tcp source on `--addr`, the admin server on `--admin`, and
    /// one stdout sink.
    #[arg(long)]
    config: PathBuf,
    /// Log lines to send (`iocd-corpus`'s corpus.log).
    #[arg(long)]
    corpus: PathBuf,
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long)]
    admin: SocketAddr,
    /// Length of each phase.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Rounds of (full rate, half rate), on one daemon.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Where the daemon's own log (stderr) goes.
    #[arg(long)]
    log: PathBuf,
}

/// What the alert reader and the sender share.
struct Shared {
    start: Instant,
    /// Per corpus line: when it was last handed to the socket in the latency phase (ns since
    /// `start`), 0 if never.
    sent_at: Vec<AtomicU64>,
    measuring: AtomicBool,
    alerts: AtomicU64,
    latencies: Mutex<Vec<u64>>,
}

impl Shared {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

/// The corpus framed for the wire: `<13>1 - loadgen load SEQ - - LINE\n` per line.
struct Framed {
    bytes: Vec<u8>,
    /// End offset of each message.
    ends: Vec<usize>,
    raw_bytes: usize,
}

impl Framed {
    fn load(path: &PathBuf) -> Result<Framed> {
        let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let mut bytes = Vec::with_capacity(raw.len() + raw.len() / 6);
        let mut ends = Vec::new();
        for line in raw.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            write!(bytes, "<13>1 - loadgen load {} - - ", ends.len())?;
            bytes.extend_from_slice(line);
            bytes.push(b'\n');
            ends.push(bytes.len());
        }
        if ends.is_empty() {
            bail!("{} has no lines", path.display());
        }
        Ok(Framed {
            bytes,
            ends,
            raw_bytes: raw.len(),
        })
    }

    fn start_of(&self, line: usize) -> usize {
        if line == 0 { 0 } else { self.ends[line - 1] }
    }

    /// Bytes of lines `[from, to)`.
    fn lines(&self, from: usize, to: usize) -> &[u8] {
        &self.bytes[self.start_of(from)..self.start_of(to)]
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let framed = Framed::load(&args.corpus)?;
    eprintln!(
        "load: {} lines, {:.1} MB framed",
        framed.ends.len(),
        framed.bytes.len() as f64 / 1e6
    );
    let shared = Arc::new(Shared {
        start: Instant::now(),
        sent_at: (0..framed.ends.len()).map(|_| AtomicU64::new(0)).collect(),
        measuring: AtomicBool::new(false),
        alerts: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
    });

    let log = std::fs::File::create(&args.log)?;
    let load_started = Instant::now();
    let mut daemon = Command::new(&args.iocd)
        .arg("run")
        .arg("--config")
        .arg(&args.config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", args.iocd.display()))?;
    let pid = daemon.id();
    let stdout = daemon.stdout.take().expect("piped");
    let reader = {
        let shared = shared.clone();
        std::thread::spawn(move || read_alerts(stdout, &shared))
    };
    let result = measure(&args, &framed, &shared, &mut daemon, pid, load_started);
    let stop = stop(&mut daemon, pid);
    let _ = reader.join();
    let report = result?;
    let (stop_secs, status) = stop?;
    print_report(&args, &framed, &report, stop_secs, &status);
    Ok(())
}

fn read_alerts(stdout: impl Read, shared: &Shared) {
    let finder = memchr::memmem::Finder::new(b"loadgen load ");
    let mut r = BufReader::with_capacity(1 << 20, stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let now = shared.now();
        shared.alerts.fetch_add(1, Ordering::Relaxed);
        if !shared.measuring.load(Ordering::Relaxed) {
            continue;
        }
        let Some(at) = finder.find(&line) else {
            continue;
        };
        let seq = line[at + 13..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
        if let Some(sent) = shared.sent_at.get(seq) {
            let sent = sent.load(Ordering::Relaxed);
            if sent > 0 && now >= sent {
                shared.latencies.lock().unwrap().push(now - sent);
            }
        }
    }
}

#[derive(Default)]
struct Report {
    load_secs: f64,
    indicators: f64,
    rss_loaded: u64,
    /// Peak RSS up to readiness: building the indicator set.
    rss_load_peak: u64,
    /// Time from readiness until the daemon was idle.
    settle_secs: f64,
    /// Peak RSS once idle, before any line was sent.
    rss_settled_peak: u64,
    rss_peak: u64,
    rss_after: u64,
    rounds: Vec<Round>,
    alerts: u64,
    loadavg: String,
    cpu_model: String,
}

/// One throughput phase and the latency phase at half its rate.
#[derive(Default)]
struct Round {
    tput_lines: u64,
    tput_secs: f64,
    tput_cpu: f64,
    /// Cores used per thread group at full rate.
    tput_threads: Vec<(String, f64)>,
    half_target: f64,
    half_lines: u64,
    half_secs: f64,
    half_cpu: f64,
    /// Cores used by other processes of the machine in each phase.
    others_full: f64,
    others_half: f64,
    /// Line-to-alert latencies (ns), sorted.
    samples: Vec<u64>,
    hist_p50: Option<f64>,
    hist_p99: Option<f64>,
}

impl Round {
    fn rate(&self) -> f64 {
        self.tput_lines as f64 / self.tput_secs
    }

    /// Quantile `q` of the end-to-end latency, in ms.
    fn latency_ms(&self, q: f64) -> f64 {
        if self.samples.is_empty() {
            return f64::NAN;
        }
        let i = ((self.samples.len() as f64 * q) as usize).min(self.samples.len() - 1);
        self.samples[i] as f64 / 1e6
    }

    fn cores(&self, group: &str) -> f64 {
        self.tput_threads
            .iter()
            .filter(|(n, _)| n == group)
            .map(|(_, c)| c)
            .sum()
    }
}

fn measure(
    args: &Args,
    framed: &Framed,
    shared: &Shared,
    daemon: &mut Child,
    pid: u32,
    load_started: Instant,
) -> Result<Report> {
    let mut rep = Report {
        loadavg: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        cpu_model: std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_default(),
        ..Report::default()
    };
    // Ready once the first indicator set is loaded.
    loop {
        if let Some(status) = daemon.try_wait()? {
            bail!(
                "iocd exited during start-up ({status}); see {}",
                args.log.display()
            );
        }
        if let Ok((200, _)) = http_get(args.admin, "/readyz") {
            break;
        }
        if load_started.elapsed() > Duration::from_secs(900) {
            bail!("iocd not ready after 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    rep.load_secs = load_started.elapsed().as_secs_f64();
    let metrics = scrape(args.admin)?;
    rep.indicators = sum_family(&metrics, "iocd_ioc_indicators");
    rep.rss_loaded = proc_status_kb(pid, "VmRSS:");
    rep.rss_load_peak = proc_status_kb(pid, "VmHWM:");
    eprintln!(
        "load: iocd ready in {:.1}s, {} indicators, RSS {} MiB",
        rep.load_secs,
        rep.indicators,
        rep.rss_loaded / 1024
    );

    // Work the daemon does on its own after start-up (a first expiry pass over the set, say)
    // is not intake: wait until it is idle, and say how long that took.
    let settle = Instant::now();
    loop {
        let c0 = cpu_seconds(pid);
        std::thread::sleep(Duration::from_millis(250));
        if (cpu_seconds(pid) - c0) / 0.25 < 0.05 || settle.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    rep.settle_secs = settle.elapsed().as_secs_f64();
    rep.rss_settled_peak = proc_status_kb(pid, "VmHWM:");

    let mut conn = TcpStream::connect(args.addr).context("connecting to the syslog source")?;
    conn.set_nodelay(true)?;
    for i in 0..args.rounds.max(1) {
        let round = run_round(args, framed, shared, &mut conn, pid)?;
        eprintln!(
            "load: round {}: {:.0} lines/s on {:.2} cores; at half load p50 {:.2} ms, p99 {:.2} ms",
            i + 1,
            round.rate(),
            round.tput_cpu,
            round.latency_ms(0.50),
            round.latency_ms(0.99)
        );
        rep.rounds.push(round);
    }
    rep.rss_peak = proc_status_kb(pid, "VmHWM:");
    rep.rss_after = proc_status_kb(pid, "VmRSS:");
    rep.alerts = shared.alerts.load(Ordering::Relaxed);
    Ok(rep)
}

fn run_round(
    args: &Args,
    framed: &Framed,
    shared: &Shared,
    conn: &mut TcpStream,
    pid: u32,
) -> Result<Round> {
    let mut round = Round::default();
    let n = framed.ends.len();
    let events = |m: &str| metric(m, "iocd_source_events_total{source=\"syslog_tcp\"}");

    // Phase 1: as fast as the daemon reads.
    let before = events(&scrape(args.admin)?).unwrap_or(0.0);
    let cpu0 = cpu_seconds(pid);
    let others0 = others_cpu_seconds(pid);
    let threads0 = thread_cpu(pid);
    let t0 = Instant::now();
    let phase = Duration::from_secs_f64(args.seconds);
    let chunk_lines = 4096;
    let mut sent = 0u64;
    let mut pos = 0;
    while t0.elapsed() < phase {
        let to = (pos + chunk_lines).min(n);
        conn.write_all(framed.lines(pos, to))?;
        sent += (to - pos) as u64;
        pos = if to == n { 0 } else { to };
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let m = scrape(args.admin)?;
        let read = events(&m).unwrap_or(0.0) - before;
        let depth = metric(&m, "iocd_pipeline_queue_depth_batches").unwrap_or(0.0);
        if read >= sent as f64 && depth == 0.0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("the daemon read {read} of {sent} lines within 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    round.tput_secs = t0.elapsed().as_secs_f64();
    round.tput_lines = sent;
    round.tput_cpu = (cpu_seconds(pid) - cpu0) / round.tput_secs;
    round.others_full = others_rate(others0, others_cpu_seconds(pid), round.tput_secs);
    round.tput_threads = thread_cpu(pid)
        .into_iter()
        .map(|(name, secs)| {
            let before = threads0.get(&name).copied().unwrap_or(0.0);
            (name, (secs - before) / round.tput_secs)
        })
        .filter(|(_, cores)| *cores >= 0.005)
        .collect();

    // Phase 2: half of that, paced in 1 ms ticks.
    std::thread::sleep(Duration::from_millis(500));
    round.half_target = round.rate() / 2.0;
    let hist0 = scrape(args.admin)?;
    shared.latencies.lock().unwrap().clear();
    shared.measuring.store(true, Ordering::SeqCst);
    let cpu0 = cpu_seconds(pid);
    let others0 = others_cpu_seconds(pid);
    let t0 = Instant::now();
    let tick = Duration::from_millis(1);
    let mut next = t0;
    let mut owed = 0.0f64;
    let mut pos = 0usize;
    let mut sent = 0u64;
    while t0.elapsed() < phase {
        owed += round.half_target * tick.as_secs_f64();
        let mut k = owed as usize;
        owed -= k as f64;
        while k > 0 {
            let to = (pos + k).min(n);
            let now = shared.now();
            for s in &shared.sent_at[pos..to] {
                s.store(now, Ordering::Relaxed);
            }
            conn.write_all(framed.lines(pos, to))?;
            sent += (to - pos) as u64;
            k -= to - pos;
            pos = if to == n { 0 } else { to };
        }
        next += tick;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > Duration::from_millis(100) {
            // Fell behind (the machine is busy): do not catch up in one burst.
            next = now;
        }
    }
    round.half_secs = t0.elapsed().as_secs_f64();
    round.half_lines = sent;
    // The last alerts of the phase.
    std::thread::sleep(Duration::from_secs(1));
    shared.measuring.store(false, Ordering::SeqCst);
    round.half_cpu = (cpu_seconds(pid) - cpu0) / (round.half_secs + 1.0);
    round.others_half = others_rate(others0, others_cpu_seconds(pid), round.half_secs + 1.0);
    let hist1 = scrape(args.admin)?;
    let buckets = histogram_delta(&hist0, &hist1, "iocd_matcher_latency_seconds");
    round.hist_p50 = quantile(&buckets, 0.50);
    round.hist_p99 = quantile(&buckets, 0.99);
    let mut samples = std::mem::take(&mut *shared.latencies.lock().unwrap());
    samples.sort_unstable();
    round.samples = samples;
    Ok(round)
}

/// SIGTERM, then the time the daemon took to exit and how it exited.
fn stop(daemon: &mut Child, pid: u32) -> Result<(f64, String)> {
    if daemon.try_wait()?.is_some() {
        bail!("iocd died during the run");
    }
    let t0 = Instant::now();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    loop {
        if let Some(status) = daemon.try_wait()? {
            return Ok((t0.elapsed().as_secs_f64(), status.to_string()));
        }
        if t0.elapsed() > Duration::from_secs(60) {
            daemon.kill()?;
            bail!("iocd did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn print_report(args: &Args, framed: &Framed, r: &Report, stop_secs: f64, status: &str) {
    let ms = |v: Option<f64>| v.map_or("n/a".to_owned(), |s| format!("{:.2}", s * 1e3));
    let lines = framed.ends.len();
    let avg_line = framed.raw_bytes as f64 / lines as f64;
    let wire = framed.bytes.len() as f64 / lines as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!(
        "Measured by `scripts/load.sh` on {} ({cores:.0} cores), load average before the run {}: \
         `iocd run` with one `syslog_tcp` source, the default matcher threads (one per core) \
         and a stdout sink read by the load generator, a second process that sends the corpus \
         over one loopback TCP connection as RFC 5424 messages (LF framing). Each round is \
         {:.0} s as fast as the daemon takes lines (TCP backpressure paces the sender), then \
         {:.0} s at half that rate in 1 ms ticks, timing every alert back to the moment its \
         line was written to the socket. The machine is shared with other work, so rounds \
         differ; the CPU columns say how much of it the daemon got and how much other \
         processes (builds, tests) took meanwhile.\n",
        if r.cpu_model.is_empty() {
            "this machine"
        } else {
            &r.cpu_model
        },
        r.loadavg,
        args.seconds,
        args.seconds,
    );
    println!(
        "Corpus `{}`: {} lines, {:.0} B/line ({:.0} B framed). {:.0} indicators loaded, ready \
         {:.1} s after start; busy on its own for {:.1} s after that (the load waits for it to \
         be idle).\n",
        args.corpus.display(),
        lines,
        avg_line,
        wire,
        r.indicators,
        r.load_secs,
        r.settle_secs
    );
    println!(
        "| round | lines/s | MB/s | daemon cores (`iocd-io` / `iocd-match`) | other processes, cores | half load asked / sent (lines/s) | daemon / other cores at half load | line-to-alert p50 / p99 / max (ms) | `iocd_matcher_latency_seconds` p50 / p99 (ms) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (i, x) in r.rounds.iter().enumerate() {
        println!(
            "| {} | **{:.0}** | {:.0} | {:.2} ({:.2} / {:.2}) | {:.2} | {:.0} / {:.0} | {:.2} / {:.2} | **{:.2} / {:.2}** / {:.2} | {} / {} |",
            i + 1,
            x.rate(),
            x.rate() * wire / 1e6,
            x.tput_cpu,
            x.cores("iocd-io"),
            x.cores("iocd-match"),
            x.others_full,
            x.half_target,
            x.half_lines as f64 / x.half_secs,
            x.half_cpu,
            x.others_half,
            x.latency_ms(0.50),
            x.latency_ms(0.99),
            x.samples.last().map_or(f64::NAN, |&v| v as f64 / 1e6),
            ms(x.hist_p50),
            ms(x.hist_p99),
        );
    }
    println!(
        "\nDaemon RSS: {} MiB with the set loaded, {} MiB after the run; lifetime peak (VmHWM) \
         {} MiB when ready, {} MiB once idle before the first line, {} MiB at the end. {} \
         alerts read from the sink. SIGTERM to exit: {:.2} s ({status}).",
        r.rss_loaded / 1024,
        r.rss_after / 1024,
        r.rss_load_peak / 1024,
        r.rss_settled_peak / 1024,
        r.rss_peak / 1024,
        r.alerts,
        stop_secs,
    );

    // Against the goals of the daemon issue, from the numbers above (medians of the rounds).
    let met = |ok: bool| if ok { "met" } else { "not met" };
    let rate = median(r.rounds.iter().map(Round::rate).collect());
    let cpu = median(r.rounds.iter().map(|x| x.tput_cpu).collect());
    let per_core = |group: &str| {
        median(
            r.rounds
                .iter()
                .map(|x| x.rate() / x.cores(group))
                .filter(|v| v.is_finite())
                .collect(),
        )
    };
    let p99 = median(r.rounds.iter().map(|x| x.latency_ms(0.99)).collect());
    println!("\nAgainst the goals (medians of the rounds):\n");
    println!(
        "* >= 1M lines/s: {} ({:.0} lines/s on {:.2} of {cores:.0} cores). Per core of the \
         daemon: the runtime threads (`iocd-io`: TCP reads, framing, batching) carry {:.1}M \
         lines/s, the matcher threads {:.0}k lines/s.",
        met(rate >= 1e6),
        rate,
        cpu,
        per_core("iocd-io") / 1e6,
        per_core("iocd-match") / 1e3,
    );
    println!(
        "* p99 <= 5 ms at half load: {} (p99 {:.2} ms end to end).",
        met(p99 <= 5.0),
        p99
    );
    // The lifetime peak was reached before the first line was sent.
    let settled_spike =
        r.rss_settled_peak > r.rss_load_peak + 1024 && r.rss_peak <= r.rss_settled_peak + 1024;
    println!(
        "* RSS <= 150 MiB with {:.0} indicators: {} with the set loaded ({} MiB) and after the \
         run ({} MiB); lifetime peak {} MiB{}.",
        r.indicators,
        met(r.rss_loaded <= 150 * 1024 && r.rss_after <= 150 * 1024),
        r.rss_loaded / 1024,
        r.rss_after / 1024,
        r.rss_peak / 1024,
        if settled_spike {
            ", reached while the daemon was busy on its own after start-up, before any line \
             was sent"
        } else {
            ""
        }
    );
}

// ---------------------------------------------------------------------------------------------
// /proc and the admin server

fn proc_status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds per thread group (thread name without its trailing number).
fn thread_cpu(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut by_name = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for t in tasks.flatten() {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close]
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches('-')
            .to_owned();
        *by_name.entry(name).or_insert(0.0) += stat_cpu(&stat[close + 1..]);
    }
    by_name
}

/// utime + stime in seconds, from the part of a stat line after the command name.
fn stat_cpu(rest: &str) -> f64 {
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    (get(11) + get(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds all processes of the machine have used (from /proc/stat).
fn machine_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let f: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| f.get(i)).sum();
    busy / clock_ticks()
}

/// CPU seconds used by everything but the daemon and this load generator.
///
/// A difference of counters kept two ways (machine-wide busy ticks, per-process times), so on a
/// quiet machine it can come out slightly below what the processes used; over an interval the
/// caller reads it as a lower bound. See `others_rate`.
fn others_cpu_seconds(pid: u32) -> f64 {
    machine_cpu_seconds() - cpu_seconds(pid) - cpu_seconds(std::process::id())
}

/// Cores used by other processes over `secs`, from two [`others_cpu_seconds`] readings. When the
/// two ways of counting disagree by more than the others used (a quiet machine), this is 0, not
/// a negative number of cores.
fn others_rate(before: f64, after: f64, secs: f64) -> f64 {
    ((after - before) / secs).max(0.0)
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    stat_cpu(stat.rsplit_once(')').map_or("", |(_, r)| r))
}

fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    iocd_testkit::support::http_request(addr, "GET", path, &[], "", Duration::from_secs(10))
}

fn scrape(admin: SocketAddr) -> Result<String> {
    match http_get(admin, "/metrics")? {
        (200, body) => Ok(body),
        (code, _) => bail!("/metrics answered {code}"),
    }
}

/// The value of the sample named exactly `series` (name plus labels).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn sum_family(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// `(upper bound, cumulative count)` of a histogram, between two scrapes.
fn histogram_delta(before: &str, after: &str, name: &str) -> Vec<(f64, f64)> {
    let buckets = |text: &str| -> Vec<(f64, f64)> {
        let prefix = format!("{name}_bucket{{le=\"");
        text.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(&prefix)?;
                let (le, value) = rest.split_once("\"} ")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, value.trim().parse().ok()?))
            })
            .collect()
    };
    let b0 = buckets(before);
    buckets(after)
        .into_iter()
        .map(|(le, n)| {
            let old = b0.iter().find(|(l, _)| *l == le).map_or(0.0, |(_, n)| *n);
            (le, n - old)
        })
        .collect()
}

/// Quantile `q` of a cumulative histogram, interpolated linearly inside its bucket.
fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let want = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, n) in buckets {
        if n >= want {
            if le.is_infinite() {
                return Some(prev.0);
            }
            let span = n - prev.1;
            let frac = if span > 0.0 {
                (want - prev.1) / span
            } else {
                1.0
            };
            return Some(prev.0 + (le - prev.0) * frac);
        }
        prev = (le, n);
    }
    None
}
