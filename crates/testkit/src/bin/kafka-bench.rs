//! Kafka throughput for `scripts/bench-kafka.sh`: messages per second from a topic to the
//! alert topic through one `iocd run`, against a bare rdkafka consumer that only counts the
//! same messages on the same broker (the limit iocd cannot beat).
//!
//! It starts a tansu broker (or uses `--brokers`), produces the corpus once (one line per
//! message, over 4 partitions), then runs `--rounds` rounds, each: the bare consumer in a new
//! group, then iocd in a new group. Both read the topic from the beginning; the rate is
//! messages over the time from the first message to the last:
//!
//! * bare consumer: timestamps of its first and last `poll` that returned a message;
//! * iocd: `/metrics` sampled every 20 ms; from the first sample with
//!   `iocd_source_events_total{source="kafka"} > 0` to the first with every message read and
//!   `iocd_kafka_inflight_batches == 0`, i.e. every alert acknowledged by the alert topic's
//!   brokers (and the offsets committable).
//!
//! Prints a Markdown section on standard output.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use iocd_testkit::support;
use iocd_testkit::tansu::Tansu;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

#[derive(Parser)]
struct Args {
    /// The iocd binary.
    #[arg(long)]
    iocd: PathBuf,
    /// Indicator list for iocd (`iocd-corpus`'s iocs.txt).
    #[arg(long)]
    iocs: PathBuf,
    /// Log lines, one message each (`iocd-corpus`'s corpus.log).
    #[arg(long)]
    corpus: PathBuf,
    /// At most this many lines of the corpus.
    #[arg(long, default_value_t = 200_000)]
    messages: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Use this broker instead of starting tansu.
    #[arg(long)]
    brokers: Option<String>,
    /// The tansu binary (default: what scripts/tansu.sh provides).
    #[arg(long)]
    tansu: Option<PathBuf>,
}

const PARTITIONS: i32 = 4;

fn create_topics(rt: &tokio::runtime::Runtime, brokers: &str, names: &[&str]) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| NewTopic::new(n, PARTITIONS, TopicReplication::Fixed(1)))
        .collect();
    for r in rt.block_on(admin.create_topics(&topics, &AdminOptions::new()))? {
        r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }
    Ok(())
}

/// One record per batch: tansu 0.6.0 answers a fetch from inside a multi-record batch with
/// the next batch (skipping records), and iocd resumes mid-batch after pausing for
/// backpressure; single-record batches keep every offset a batch start.
fn produce(rt: &tokio::runtime::Runtime, brokers: &str, lines: &[String]) -> Result<Duration> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "0")
        .set("batch.num.messages", "1")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let t = Instant::now();
    rt.block_on(async {
        let mut pending = Vec::with_capacity(lines.len());
        for (i, l) in lines.iter().enumerate() {
            let rec: FutureRecord<'_, (), str> = FutureRecord::to("bench-logs")
                .partition(i as i32 % PARTITIONS)
                .payload(l.as_str());
            pending.push(producer.send_result(rec).map_err(|(e, _)| e)?);
        }
        for p in pending {
            p.await?.map_err(|(e, _)| e)?;
        }
        anyhow::Ok(())
    })?;
    Ok(t.elapsed())
}

fn bare_consumer(brokers: &str, group: &str, n: usize) -> Result<f64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    c.subscribe(&["bench-logs"])?;
    let (mut first, mut last, mut count) = (None, Instant::now(), 0usize);
    let deadline = Instant::now() + Duration::from_secs(300);
    while count < n {
        if Instant::now() > deadline {
            bail!("bare consumer: {count} of {n} messages after 300 s");
        }
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            m?;
            let now = Instant::now();
            first.get_or_insert(now);
            last = now;
            count += 1;
        }
    }
    let secs = last.duration_since(first.expect("a message")).as_secs_f64();
    Ok(n as f64 / secs)
}

struct IocdRun {
    rate: f64,
    alerts: f64,
    cpu_s: f64,
    rss_mib: f64,
}

fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ' | b'{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn scrape(port: u16) -> Option<String> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn proc_stat(pid: u32) -> (f64, f64) {
    let tick = 100.0; // USER_HZ on Linux
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let cpu = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu / tick, hwm / 1024.0)
}

fn run_iocd(
    args: &Args,
    brokers: &str,
    group: &str,
    n: usize,
    dir: &std::path::Path,
) -> Result<IocdRun> {
    let admin = support::free_port();
    // The config lives in a temporary folder: relative paths would resolve against it.
    let iocs = std::fs::canonicalize(&args.iocs).context("the indicator list")?;
    let cfg = format!(
        r#"# Generated by kafka-bench (crates/testkit).
[[feeds]]
name = "bench"
path = "{iocs}"
[reload]
watch_files = false
# Every hit is an alert (the heaviest case for the alert producer).
[triage]
enabled = false
[sources.kafka]
brokers = "{brokers}"
group_id = "{group}"
topics = ["bench-logs"]
[[sinks]]
type = "kafka"
brokers = "{brokers}"
topic = "bench-alerts"
[admin]
listen = "127.0.0.1:{admin}"
"#,
        iocs = iocs.display()
    );
    let path = dir.join(format!("{group}.toml"));
    std::fs::write(&path, cfg)?;
    let mut child = Command::new(&args.iocd)
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting iocd")?;
    let err = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("iocd: {l}");
        }
    });
    let (mut first, deadline) = (None, Instant::now() + Duration::from_secs(600));
    let result = loop {
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!("iocd did not finish within 600 s"));
        }
        if let Some(st) = child.try_wait()? {
            break Err(anyhow::anyhow!("iocd exited early: {st}"));
        }
        std::thread::sleep(Duration::from_millis(20));
        let Some(body) = scrape(admin) else { continue };
        let read = metric(&body, "iocd_source_events_total");
        let skipped = metric(&body, "iocd_kafka_skipped_messages_total");
        let now = Instant::now();
        if read + skipped > 0.0 {
            first.get_or_insert(now);
        }
        if read + skipped >= n as f64 && metric(&body, "iocd_kafka_inflight_batches") == 0.0 {
            let secs = now.duration_since(first.expect("set above")).as_secs_f64();
            let (cpu_s, rss_mib) = proc_stat(child.id());
            break Ok(IocdRun {
                rate: n as f64 / secs,
                alerts: metric(&body, "iocd_sink_alerts_total"),
                cpu_s,
                rss_mib,
            });
        }
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    result
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let text = std::fs::read_to_string(&args.corpus).context("reading the corpus")?;
    let lines: Vec<String> = text
        .lines()
        .take(args.messages)
        .map(str::to_owned)
        .collect();
    let n = lines.len();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let (_tansu, brokers) = match &args.brokers {
        Some(b) => (None, b.clone()),
        None => {
            let bin = args
                .tansu
                .clone()
                .context("--tansu or --brokers is needed")?;
            let t = Tansu::start(&bin).context("starting tansu")?;
            let a = t.addr();
            (Some(t), a)
        }
    };
    create_topics(&rt, &brokers, &["bench-logs", "bench-alerts"])?;
    let produced = produce(&rt, &brokers, &lines)?;
    eprintln!(
        "kafka-bench: produced {n} messages in {:.1} s",
        produced.as_secs_f64()
    );
    let dir = tempfile::tempdir()?;
    let (mut bare, mut iocd, mut cpu, mut rss, mut alerts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0.0);
    let mut rows = Vec::new();
    for round in 0..args.rounds {
        let b = bare_consumer(&brokers, &format!("bare-{round}"), n)?;
        let i = run_iocd(&args, &brokers, &format!("iocd-{round}"), n, dir.path())?;
        eprintln!(
            "kafka-bench: round {}: bare {:.0} msg/s, iocd {:.0} msg/s ({:.0}%)",
            round + 1,
            b,
            i.rate,
            100.0 * i.rate / b
        );
        rows.push(format!(
            "| {} | {:.0} | {:.0} | {:.0}% | {:.0} | {:.1} | {:.0} |",
            round + 1,
            b,
            i.rate,
            100.0 * i.rate / b,
            i.alerts,
            i.cpu_s,
            i.rss_mib
        ));
        bare.push(b);
        iocd.push(i.rate);
        cpu.push(i.cpu_s);
        rss.push(i.rss_mib);
        alerts = i.alerts;
    }
    let (mb, mi) = (median(&mut bare), median(&mut iocd));
    println!("## Kafka throughput\n");
    println!(
        "{n} messages ({:.1} MB, {:.0} B/message) on a 4-partition topic of a tansu 0.6.0 broker \
         (memory storage) on loopback; {alerts:.0} of them hit (each an alert to a 4-partition \
         alert topic, idempotent producer, `acks=all`). Each round: a bare rdkafka consumer that \
         only counts the messages, then `iocd run` (Kafka source and sink, triage off so every \
         hit is an alert, the commit of an offset waits for the alert's delivery report), both \
         from the beginning in a new consumer group.\n",
        bytes as f64 / 1e6,
        bytes as f64 / n as f64
    );
    println!(
        "| round | bare consumer msg/s | iocd msg/s | iocd / bare | alerts | iocd CPU s | iocd peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!(
        "\nMedians: bare consumer {mb:.0} msg/s, iocd {mi:.0} msg/s: **{:.0}%** of the bare \
         consumer (target: at least 80%). Median iocd CPU {:.1} s, peak RSS {:.0} MiB.",
        100.0 * mi / mb,
        median(&mut cpu),
        median(&mut rss)
    );
    println!(
        "\nThe messages are produced as single-record batches (tansu 0.6.0 skips the rest of a \
         multi-record batch when a fetch starts inside it, which iocd does after pausing for \
         backpressure), and serving those is what limits both consumers here: the broker is \
         the bottleneck, and iocd keeps up with a consumer that does nothing. iocd's own cost \
         is its CPU time: messages / CPU seconds above."
    );
    Ok(())
}
