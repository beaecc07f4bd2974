//! Exports read by their real consumers: Unbound loads the RPZ iocd writes and answers from
//! it (asked with `dig`), `named-checkzone` accepts the zone, `nft -c -f` accepts the set
//! file. Each tool comes from `scripts/install-test-deps.sh`; a test whose tool is missing,
//! or that cannot run here, says so and why, and passes without checking.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iocd::config::ExportConfig;
use iocd::export::{Entry, render};
use iocd_engine::Pattern;

use iocd_testkit::support;
use support::{free_port, http_get, iocd_run, metric_sum, start_iocd, stop_iocd, write_config};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn skip(test: &str, why: &str) {
    eprintln!("{test}: SKIPPED: {why}");
}

/// The `status:` of `dig`'s header and the A records of the answer.
fn dig(port: u16, name: &str) -> (String, Vec<String>) {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            name,
            "A",
            "+time=2",
            "+tries=1",
        ])
        .output()
        .expect("dig runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("no answer")
        .to_owned();
    let answers = text
        .lines()
        .filter(|l| !l.starts_with(';') && l.contains("\tA\t"))
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect();
    (status, answers)
}

/// Asks until the answer for `name` is `want` (status, A records) or `within` has passed.
fn dig_until(port: u16, name: &str, want: (&str, &[&str]), within: Duration) {
    let t = Instant::now();
    loop {
        let (status, answers) = dig(port, name);
        if status == want.0 && answers == want.1 {
            return;
        }
        assert!(
            t.elapsed() < within,
            "{name}: {status} {answers:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An Unbound on `port` that answers `example.` from its own authority data (so a name the
/// RPZ does not list gets a real answer, without the Internet) and applies the RPZ its `rpz:`
/// clause reads from `source` (a `zonefile:` or a `url:` line).
struct Unbound {
    child: Child,
    dir: PathBuf,
}

impl Unbound {
    fn start(dir: &Path, port: u16, source: &str) -> Unbound {
        std::fs::write(
            dir.join("example.zone"),
            "$ORIGIN example.\n$TTL 60\n\
             @ IN SOA ns.example. hostmaster.example. 1 3600 600 86400 60\n\
             @ IN NS ns.example.\nns IN A 127.0.0.1\n\
             evil IN A 192.0.2.66\nwww.evil IN A 192.0.2.67\nphish IN A 192.0.2.68\n\
             newbad IN A 192.0.2.69\ngood IN A 192.0.2.80\n",
        )
        .unwrap();
        let conf = dir.join("unbound.conf");
        std::fs::write(
            &conf,
            format!(
                r#"server:
  interface: 127.0.0.1
  port: {port}
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "{d}"
  pidfile: "{d}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  do-ip6: no
  module-config: "respip iterator"
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
auth-zone:
  name: "example."
  zonefile: "{d}/example.zone"
  for-downstream: no
  for-upstream: yes
  fallback-enabled: no
rpz:
  name: "rpz.iocd."
  {source}
  rpz-log: yes
"#,
                d = dir.display(),
            ),
        )
        .unwrap();
        let check = Command::new("unbound-checkconf")
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new("unbound")
            .args(["-d", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unbound starts");
        Unbound {
            child,
            dir: dir.to_owned(),
        }
    }

    /// SIGHUP: Unbound reads its configuration and zone files again.
    fn reload(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP unbound");
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(self.dir.join("unbound.pid"));
    }
}

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn named_checkzone(zone: &str, file: &Path) -> (bool, String) {
    let out = Command::new("named-checkzone")
        .args([zone])
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The daemon writes the RPZ; Unbound answers NXDOMAIN for a listed domain and its
/// subdomain, and the normal answer for one an allowlist took out; after the feed changes,
/// iocd writes a new zone (new serial) and Unbound, reloaded, answers the new way; an
/// allowlist mistake that would empty the zone is held back, and Unbound keeps blocking.
#[test]
fn unbound_answers_from_the_rpz_export() {
    const T: &str = "unbound_answers_from_the_rpz_export";
    for tool in ["unbound", "dig", "named-checkzone"] {
        if !have(tool) {
            return skip(
                T,
                &format!("{tool} is not installed (scripts/install-test-deps.sh)"),
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `co.uk` is a public suffix: the rails keep it out of the set, so out of the zone. The
    // last lines try to write zone-file syntax through the feed.
    std::fs::write(
        d.join("feed.txt"),
        "evil.example\nphish.example\ngood.example\nco.uk\n\
         $INCLUDE /etc/passwd\nx.example. IN NS attacker.invalid.\n@ IN NS attacker\n\
         \"q.example CNAME .\"\n",
    )
    .unwrap();
    std::fs::write(d.join("allow.txt"), "good.example\n").unwrap();
    let (admin, syslog) = (free_port(), free_port());
    let cfg = write_config(
        d,
        &format!(
            r#"
[engine]
threads = 1
[[feeds]]
name = "phishing"
path = "feed.txt"
# .example names are reserved: a test feed allows them.
allow_private = true
[[allowlists]]
path = "allow.txt"
format = "plain"
[reload]
watch_files = true
watch_interval = "100ms"
[sources.syslog_udp]
listen = "127.0.0.1:{syslog}"
[admin]
listen = "127.0.0.1:{admin}"
[[exports]]
name = "dns"
format = "rpz"
path = "dns.rpz"
types = ["domain"]
max_shrink = 0.5
"#
        ),
    );
    let zone = d.join("dns.rpz");
    let mut iocd = start_iocd(&mut iocd_run(&cfg), admin, "/readyz");
    wait_for("the first export", Duration::from_secs(20), || {
        zone.exists()
    });
    let first = std::fs::read_to_string(&zone).unwrap();
    assert!(
        first.contains("\nevil.example CNAME .\n*.evil.example CNAME .\n"),
        "{first}"
    );
    assert!(!first.contains("good.example"), "allowlisted: {first}");
    assert!(!first.contains("co.uk"), "a public suffix: {first}");
    for bad in ["INCLUDE", "passwd", "attacker", "q.example"] {
        assert!(!first.contains(bad), "{bad}: {first}");
    }
    let (ok, out) = named_checkzone("rpz.iocd", &zone);
    assert!(ok, "named-checkzone refused the zone:\n{out}\n{first}");

    let port = free_port();
    let unbound = Unbound::start(
        d,
        port,
        &format!("zonefile: {:?}", zone.display().to_string()),
    );
    let nx: (&str, &[&str]) = ("NXDOMAIN", &[]);
    dig_until(port, "evil.example", nx, Duration::from_secs(10));
    dig_until(port, "www.evil.example", nx, Duration::from_secs(2));
    dig_until(port, "phish.example", nx, Duration::from_secs(2));
    dig_until(
        port,
        "good.example",
        ("NOERROR", &["192.0.2.80"]),
        Duration::from_secs(2),
    );
    dig_until(
        port,
        "newbad.example",
        ("NOERROR", &["192.0.2.69"]),
        Duration::from_secs(2),
    );

    // The feed changes: phish.example is withdrawn, newbad.example listed.
    std::fs::write(
        d.join("feed.txt"),
        "evil.example\nnewbad.example\ngood.example\n",
    )
    .unwrap();
    wait_for("the second export", Duration::from_secs(20), || {
        std::fs::read_to_string(&zone).is_ok_and(|z| z.contains("newbad.example"))
    });
    let second = std::fs::read_to_string(&zone).unwrap();
    let serial = |z: &str| -> u32 {
        let soa = z.lines().find(|l| l.starts_with("@ IN SOA")).unwrap();
        soa.split_whitespace().nth(5).unwrap().parse().unwrap()
    };
    assert!(serial(&second) > serial(&first), "{first}\n{second}");
    assert!(named_checkzone("rpz.iocd", &zone).0);
    unbound.reload();
    dig_until(port, "newbad.example", nx, Duration::from_secs(10));
    dig_until(
        port,
        "phish.example",
        ("NOERROR", &["192.0.2.68"]),
        Duration::from_secs(5),
    );
    dig_until(port, "www.evil.example", nx, Duration::from_secs(2));

    // An allowlist mistake would take every name out: held back, the zone stays.
    std::fs::write(
        d.join("allow.txt"),
        "good.example\nevil.example\nnewbad.example\n",
    )
    .unwrap();
    wait_for("the guard", Duration::from_secs(20), || {
        http_get(admin, "/metrics").is_some_and(|m| metric_sum(&m, "iocd_export_held_total") >= 1.0)
    });
    assert_eq!(std::fs::read_to_string(&zone).unwrap(), second);
    unbound.reload();
    dig_until(port, "evil.example", nx, Duration::from_secs(5));
    let m = http_get(admin, "/metrics").unwrap();
    assert!(
        m.contains("iocd_export_held_total{export=\"dns\",reason=\"shrink\"} 1"),
        "{m}"
    );
    assert!(m.contains("iocd_export_entries{export=\"dns\"} 2"), "{m}");
    assert!(
        m.contains("iocd_export_writes_total{export=\"dns\"} 2"),
        "{m}"
    );
    drop(unbound);
    let (status, log) = stop_iocd(&mut iocd, Duration::from_secs(20));
    assert!(status.success(), "{log}");
    assert!(log.contains("export change held back"), "{log}");
}

fn export_cfg(format: &str, extra: &str) -> ExportConfig {
    toml::from_str(&format!(
        "name = \"blk\"\nformat = \"{format}\"\npath = \"/unused\"\n{extra}"
    ))
    .unwrap()
}

fn entries_of(set: &iocd::IocSet, keep: impl Fn(&Pattern) -> bool) -> Vec<Entry> {
    (0..set.len() as u32)
        .map(|i| set.pattern(iocd::IocId(i)))
        .filter(|p| keep(p))
        .map(|pattern| Entry {
            pattern,
            score: 50.0,
            feeds: vec!["test".into()],
        })
        .collect()
}

/// Hostile names (zone-file syntax in a "domain") are left out, and BIND's own checker
/// accepts the zone for each action.
#[test]
fn named_checkzone_accepts_the_zone_for_every_action() {
    const T: &str = "named_checkzone_accepts_the_zone_for_every_action";
    if !have("named-checkzone") {
        return skip(
            T,
            "named-checkzone is not installed (scripts/install-test-deps.sh)",
        );
    }
    let mut es: Vec<Entry> = [
        ("evil.example", true),
        ("exact.example", false),
        ("xn--80ak6aa92e.example", true),
        ("under_score.example", false),
        ("evil.example. 60 IN NS attacker.example.", true),
        ("a\n$INCLUDE /etc/passwd", false),
        ("semi;colon.example", false),
    ]
    .iter()
    .map(|(n, s)| Entry {
        pattern: Pattern::Domain {
            name: (*n).into(),
            subdomains: *s,
        },
        score: 50.0,
        feeds: vec![],
    })
    .collect();
    // Real names from a real feed, when the data is there.
    match iocd_testkit::shared_data::dir() {
        Some(data) => {
            let path = data.join("feeds/urlhaus_filter/urlhaus-filter-domains.txt");
            let (set, _) = iocd::ioc::load_plain_files(&[path]).unwrap();
            let real = entries_of(&set, |p| matches!(p, Pattern::Domain { .. }));
            eprintln!(
                "{T}: {} domains from urlhaus-filter-domains.txt",
                real.len()
            );
            assert!(real.len() > 100);
            es.extend(real);
        }
        None => skip(T, "no ../shared/data: real feed names not checked"),
    }
    let dir = tempfile::tempdir().unwrap();
    for extra in [
        "",
        "action = \"nodata\"",
        "action = \"sinkhole\"\nsinkhole = \"192.0.2.53\"",
        "action = \"sinkhole\"\nsinkhole = \"2001:db8::53\"",
        "action = \"sinkhole\"\nsinkhole = \"sinkhole.example.net\"",
        "zone = \"block.rpz.example.org\"\nttl = 60",
    ] {
        let cfg = export_cfg("rpz", extra);
        let r = render(&cfg, &es, 2026120401);
        assert!(
            r.skipped.iter().any(|(why, n)| *why == "unsafe" && *n == 3),
            "{:?}",
            r.skipped
        );
        let file = dir.path().join("zone");
        std::fs::write(&file, &r.bytes).unwrap();
        let text = String::from_utf8_lossy(&r.bytes);
        assert!(!text.contains("attacker") && !text.contains("INCLUDE /etc"));
        let (ok, out) = named_checkzone(cfg.zone.trim_end_matches('.'), &file);
        assert!(ok, "{extra}: named-checkzone refused:\n{out}");
        assert!(out.contains("loaded serial 2026120401"), "{out}");
    }
}

/// `nft -c -f` (check mode: nothing is applied) accepts the set file, with real blocklists
/// when the data is there.
#[test]
fn nft_accepts_the_set_file() {
    const T: &str = "nft_accepts_the_set_file";
    if !have("nft") {
        return skip(T, "nft is not installed (scripts/install-test-deps.sh)");
    }
    let dir = tempfile::tempdir().unwrap();
    // Can nft check anything here? It needs CAP_NET_ADMIN and a kernel with nf_tables.
    let probe = dir.path().join("probe.nft");
    std::fs::write(&probe, "table inet iocd_probe {\n}\n").unwrap();
    let out = Command::new("nft")
        .arg("-c")
        .arg("-f")
        .arg(&probe)
        .output()
        .unwrap();
    if !out.status.success() {
        return skip(
            T,
            &format!(
                "nft -c cannot check even an empty table here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        );
    }
    let text = "192.0.2.1\n192.0.2.0/30\n198.51.100.0/25\n198.51.100.128/25\n\
                2001:db8::1\n2001:db8::/64\n203.0.113.77\n";
    let (mut set, _) = {
        let mut b = iocd::ioc::SetBuilder::new();
        b.add_plain_list("t", "t", text.as_bytes());
        b.finish()
    };
    let mut files = vec![("small", entries_of(&set, |_| true))];
    if let Some(data) = iocd_testkit::shared_data::dir() {
        let feeds = data.join("feeds");
        let paths: Vec<PathBuf> = [
            "spamhaus/drop.txt",
            "spamhaus/drop_ipv6.txt",
            "spamhaus/edrop.txt",
            "ipsum/ipsum_level3.txt",
        ]
        .iter()
        .map(|p| feeds.join(p))
        .collect();
        (set, _) = iocd::ioc::load_plain_files(&paths).unwrap();
        let all = entries_of(&set, |_| true);
        eprintln!(
            "{T}: {} addresses and networks from spamhaus and ipsum",
            all.len()
        );
        files.push(("real", all));
    } else {
        skip(T, "no ../shared/data: real blocklists not checked");
    }
    for (what, es) in files {
        for extra in ["", "nft_family = \"ip\"\nnft_table = \"filter_x\""] {
            let cfg = export_cfg("nftables", extra);
            let r = render(&cfg, &es, 0);
            let file = dir.path().join(format!("{what}.nft"));
            std::fs::write(&file, &r.bytes).unwrap();
            let t = Instant::now();
            let out = Command::new("nft")
                .arg("-c")
                .arg("-f")
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{what} {extra}: nft -c refused:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!(
                "{T}: {what}: {} indicators -> {} set elements, {} bytes, nft -c {:?}",
                es.len(),
                r.entries,
                r.bytes.len(),
                t.elapsed()
            );
            assert!(r.entries > 0 && r.entries <= es.len());
        }
    }
}

/// An analyst's false-positive mark (for every host) takes the indicator out of the exports
/// without a feed change; removing the mark brings it back.
#[test]
fn a_false_positive_mark_takes_an_indicator_out_of_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("feed.txt"),
        "evil.example\ncdn.example\n198.51.100.7\n",
    )
    .unwrap();
    std::fs::write(d.join("fp.txt"), "").unwrap();
    let (admin, syslog) = (free_port(), free_port());
    let cfg = write_config(
        d,
        &format!(
            r#"
[engine]
threads = 1
[[feeds]]
name = "f"
path = "feed.txt"
allow_private = true
subdomains = false
[reload]
watch_files = false
watch_interval = "100ms"
[feedback]
file = "fp.txt"
[sources.syslog_udp]
listen = "127.0.0.1:{syslog}"
[admin]
listen = "127.0.0.1:{admin}"
[[exports]]
name = "list"
format = "plain"
path = "list.txt"
max_shrink = 1.0
"#
        ),
    );
    let list = d.join("list.txt");
    let read = || std::fs::read_to_string(&list).unwrap_or_default();
    let mut iocd = start_iocd(&mut iocd_run(&cfg), admin, "/readyz");
    wait_for("the first export", Duration::from_secs(20), || {
        read() == "198.51.100.7\ncdn.example\nevil.example\n"
    });
    std::fs::write(d.join("fp.txt"), "cdn.example # shared CDN front\n").unwrap();
    wait_for("the mark to apply", Duration::from_secs(20), || {
        read() == "198.51.100.7\nevil.example\n"
    });
    std::fs::write(d.join("fp.txt"), "").unwrap();
    wait_for("the mark to go", Duration::from_secs(20), || {
        read() == "198.51.100.7\ncdn.example\nevil.example\n"
    });
    // The metrics follow the file (set just after the version is in place).
    wait_for("three versions counted", Duration::from_secs(20), || {
        http_get(admin, "/metrics")
            .is_some_and(|m| m.contains("iocd_export_writes_total{export=\"list\"} 3"))
    });
    let (status, log) = stop_iocd(&mut iocd, Duration::from_secs(20));
    assert!(status.success(), "{log}");
}

/// A real blocklist through the whole export path (selection, aggregation, rendering, the
/// atomic write) for three formats; the time each takes is printed.
#[test]
fn a_real_blocklist_goes_through_every_ip_format() {
    const T: &str = "a_real_blocklist_goes_through_every_ip_format";
    let Some(data) = iocd_testkit::shared_data::dir() else {
        return skip(T, "no ../shared/data");
    };
    let (set, _) = iocd::ioc::load_plain_files(&[data.join("feeds/ipsum/ipsum.txt")]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let metrics = iocd::telemetry::Metrics::new();
    let all = entries_of(&set, |_| true);
    let (v4, v6) = iocd::export::aggregate(&all);
    for format in ["plain", "nftables", "ipset"] {
        let cfg: ExportConfig = toml::from_str(&format!(
            "name = \"ipsum\"\nformat = \"{format}\"\npath = {:?}",
            dir.path().join(format).display().to_string()
        ))
        .unwrap();
        let mut ex =
            iocd::export::Exports::new(std::slice::from_ref(&cfg), &Default::default(), &metrics);
        let t = Instant::now();
        let out = ex.update(&set, 0, std::time::SystemTime::now(), &|_| false);
        let took = t.elapsed();
        let iocd::export::Outcome::Written { entries, bytes } = out[0] else {
            panic!("{format}: {out:?}");
        };
        assert_eq!(entries, v4.len() + v6.len(), "{format}");
        assert_eq!(std::fs::metadata(&cfg.path).unwrap().len(), bytes as u64);
        eprintln!(
            "{T}: {format}: {} indicators -> {entries} entries, {bytes} bytes in {took:?}",
            set.len()
        );
    }
}

fn secret_file(dir: &Path, name: &str, secret: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let p = dir.join(name);
    std::fs::write(&p, secret).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// The export listener over TLS: credentials (bearer or basic), the version in place with an
/// ETag, 304 for `If-None-Match`, gzip when accepted, 404 for an unknown export; its request
/// and byte counters move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_listener_serves_over_tls_with_etag_gzip_and_credentials() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("feed.txt"),
        "evil.example\n198.51.100.7\n198.51.100.6\n",
    )
    .unwrap();
    let ck = iocd_testkit::pki::self_signed_localhost();
    std::fs::write(d.join("cert.pem"), &ck.cert_pem).unwrap();
    secret_file(d, "key.pem", &ck.key_pem);
    let token = "t0ken-for-the-firewalls";
    secret_file(d, "token", token);
    secret_file(d, "password", "basic-password-16+");
    let (admin, syslog, port) = (free_port(), free_port(), free_port());
    let cfg = write_config(
        d,
        &format!(
            r#"
[engine]
threads = 1
[[feeds]]
name = "f"
path = "feed.txt"
allow_private = true
[reload]
watch_files = false
[sources.syslog_udp]
listen = "127.0.0.1:{syslog}"
[admin]
listen = "127.0.0.1:{admin}"
[[exports]]
name = "fw"
format = "plain"
vendor = "paloalto"
types = ["ipv4", "ipv6", "cidr"]
path = "fw.txt"
[export_listener]
listen = "127.0.0.1:{port}"
token_file = "token"
basic_user = "panos"
basic_password_file = "password"
tls_cert = "cert.pem"
tls_key = "key.pem"
"#
        ),
    );
    let mut iocd = start_iocd(&mut iocd_run(&cfg), admin, "/readyz");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(&ck.cert_der).unwrap())
        .no_gzip()
        .build()
        .unwrap();
    let url = format!("https://localhost:{port}/exports/fw");
    let get = |h: &[(&str, &str)]| {
        let mut r = client.get(&url);
        for (k, v) in h {
            r = r.header(*k, *v);
        }
        r.send()
    };
    let bearer = format!("Bearer {token}");
    // The first version may take a moment: 503 until it is written.
    let t = Instant::now();
    let first = loop {
        let r = get(&[("authorization", &bearer)]).await.unwrap();
        if r.status() == 200 {
            break r;
        }
        assert_eq!(r.status(), 503);
        assert!(t.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(first.text().await.unwrap(), "198.51.100.6/31\n");
    assert_eq!(get(&[]).await.unwrap().status(), 401);
    assert_eq!(
        get(&[("authorization", "Bearer wrong-token-wrong")])
            .await
            .unwrap()
            .status(),
        401
    );
    let basic = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(&ck.cert_der).unwrap())
        .build()
        .unwrap()
        .get(&url)
        .basic_auth("panos", Some("basic-password-16+"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let r = get(&[("authorization", &bearer), ("if-none-match", &etag)])
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = get(&[("authorization", &bearer), ("accept-encoding", "gzip")])
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&r.bytes().await.unwrap()[..]),
        &mut text,
    )
    .unwrap();
    assert_eq!(text, "198.51.100.6/31\n");
    let r = client
        .get(format!("https://localhost:{port}/exports/nope"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Plain HTTP to the TLS port gets nothing.
    assert!(http_get(port, "/exports/fw").is_none());
    let m = http_get(admin, "/metrics").unwrap();
    for want in [
        "iocd_export_requests_total{export=\"fw\",status=\"200\"} 3",
        "iocd_export_requests_total{export=\"fw\",status=\"304\"} 1",
        "iocd_export_requests_total{export=\"fw\",status=\"401\"} 2",
        "iocd_export_requests_total{export=\"unknown\",status=\"404\"} 1",
    ] {
        assert!(m.contains(want), "{want}\n{m}");
    }
    assert!(metric_sum(&m, "iocd_export_sent_bytes_total") > 16.0, "{m}");
    let (status, log) = stop_iocd(&mut iocd, Duration::from_secs(20));
    assert!(status.success(), "{log}");
}

/// Unbound fetches the RPZ from the export listener through its `url:` option, and fetches
/// the new version after a feed change.
#[test]
fn unbound_loads_the_rpz_from_the_export_listener() {
    const T: &str = "unbound_loads_the_rpz_from_the_export_listener";
    for tool in ["unbound", "dig"] {
        if !have(tool) {
            return skip(
                T,
                &format!("{tool} is not installed (scripts/install-test-deps.sh)"),
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("feed.txt"), "evil.example\n").unwrap();
    let (admin, syslog, port) = (free_port(), free_port(), free_port());
    let cfg = write_config(
        d,
        &format!(
            r#"
[engine]
threads = 1
[[feeds]]
name = "f"
path = "feed.txt"
allow_private = true
[reload]
watch_files = true
watch_interval = "100ms"
[sources.syslog_udp]
listen = "127.0.0.1:{syslog}"
[admin]
listen = "127.0.0.1:{admin}"
[[exports]]
name = "dns"
format = "rpz"
path = "dns.rpz"
max_grow = 5.0
# Unbound downloads the zone again every SOA refresh.
refresh = 1
[export_listener]
listen = "127.0.0.1:{port}"
"#
        ),
    );
    let mut iocd = start_iocd(&mut iocd_run(&cfg), admin, "/readyz");
    wait_for("the first export", Duration::from_secs(20), || {
        support::http(port, "GET", "/exports/dns").is_ok_and(|(s, _)| s == 200)
    });
    let ub = d.join("ub");
    std::fs::create_dir(&ub).unwrap();
    let dns = free_port();
    // The same resolver, with the RPZ from the URL instead of the file (Unbound keeps its
    // copy in `zonefile`).
    let unbound = Unbound::start(
        &ub,
        dns,
        &format!(
            "url: \"http://127.0.0.1:{port}/exports/dns\"\n  zonefile: {:?}",
            ub.join("rpz.copy").display().to_string()
        ),
    );
    let nx: (&str, &[&str]) = ("NXDOMAIN", &[]);
    dig_until(dns, "evil.example", nx, Duration::from_secs(15));
    dig_until(dns, "www.evil.example", nx, Duration::from_secs(2));
    dig_until(
        dns,
        "phish.example",
        ("NOERROR", &["192.0.2.68"]),
        Duration::from_secs(2),
    );
    std::fs::write(d.join("feed.txt"), "evil.example\nphish.example\n").unwrap();
    wait_for("the second export", Duration::from_secs(20), || {
        support::http(port, "GET", "/exports/dns").is_ok_and(|(_, b)| b.contains("phish.example"))
    });
    // No signal: Unbound fetches the new version on its own at the SOA's refresh.
    dig_until(dns, "phish.example", nx, Duration::from_secs(20));
    let m = http_get(admin, "/metrics").unwrap();
    assert!(metric_sum(&m, "iocd_export_requests_total") >= 3.0, "{m}");
    drop(unbound);
    let (status, log) = stop_iocd(&mut iocd, Duration::from_secs(20));
    assert!(status.success(), "{log}");
}

/// Runs `script` with `sh -c` in a new, private network namespace (the sets it creates vanish
/// with it); `None` when this machine cannot make one.
fn in_private_netns(script: &str) -> Option<(bool, String)> {
    let probe = Command::new("unshare").args(["-n", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        return None;
    }
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", script])
        .output()
        .unwrap();
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// The nftables and ipset files really load, twice (the second load replaces the contents),
/// into a private network namespace, and the kernel's sets then hold exactly the aggregated
/// entries; the ipset file's temporary sets are gone afterwards.
#[test]
fn nft_and_ipset_load_the_sets_in_a_private_network_namespace() {
    const T: &str = "nft_and_ipset_load_the_sets_in_a_private_network_namespace";
    let mut es = entries_of(
        &{
            let mut b = iocd::ioc::SetBuilder::new();
            b.add_plain_list(
                "t",
                "t",
                b"192.0.2.1\n192.0.2.0/30\n198.51.100.0/25\n198.51.100.128/25\n2001:db8::/64\n",
            );
            b.build()
        },
        |_| true,
    );
    if let Some(data) = iocd_testkit::shared_data::dir() {
        let (set, _) = iocd::ioc::load_plain_files(&[
            data.join("feeds/spamhaus/drop.txt"),
            data.join("feeds/spamhaus/drop_ipv6.txt"),
        ])
        .unwrap();
        es.extend(entries_of(&set, |_| true));
    } else {
        skip(T, "no ../shared/data: real blocklists not loaded");
    }
    let (v4, v6) = iocd::export::aggregate(&es);
    let dir = tempfile::tempdir().unwrap();
    if have("nft") {
        let r = render(&export_cfg("nftables", ""), &es, 0);
        let f = dir.path().join("sets.nft");
        std::fs::write(&f, &r.bytes).unwrap();
        let f = f.display();
        match in_private_netns(&format!(
            "nft -f {f} && nft -f {f} && nft -j list set inet iocd blk_v4 && echo && \
             nft -j list set inet iocd blk_v6"
        )) {
            None => skip(T, "unshare -n is not allowed here: nft load not checked"),
            Some((ok, out)) => {
                assert!(ok, "nft refused the file:\n{out}");
                let elems: Vec<usize> = out
                    .lines()
                    .filter(|l| l.starts_with('{'))
                    .map(|l| {
                        let j: serde_json::Value = serde_json::from_str(l).unwrap();
                        j["nftables"][1]["set"]["elem"]
                            .as_array()
                            .map_or(0, |a| a.len())
                    })
                    .collect();
                assert_eq!(elems, [v4.len(), v6.len()], "{out}");
                eprintln!("{T}: nft: {} + {} elements loaded", v4.len(), v6.len());
            }
        }
    } else {
        skip(T, "nft is not installed (scripts/install-test-deps.sh)");
    }
    if have("ipset") {
        let r = render(&export_cfg("ipset", ""), &es, 0);
        let f = dir.path().join("sets.ipset");
        std::fs::write(&f, &r.bytes).unwrap();
        let f = f.display();
        match in_private_netns(&format!(
            "ipset restore < {f} && ipset restore < {f} && ipset list -n && \
             ipset list -t blk_v4 && ipset list -t blk_v6"
        )) {
            None => skip(T, "unshare -n is not allowed here: ipset load not checked"),
            Some((ok, out)) => {
                assert!(ok, "ipset refused the file:\n{out}");
                let names: Vec<&str> = out.lines().take_while(|l| !l.contains(':')).collect();
                assert_eq!(names, ["blk_v4", "blk_v6"], "{out}");
                let counts: Vec<usize> = out
                    .lines()
                    .filter_map(|l| l.strip_prefix("Number of entries: "))
                    .map(|n| n.parse().unwrap())
                    .collect();
                assert_eq!(counts, [v4.len(), v6.len()], "{out}");
                eprintln!("{T}: ipset: {} + {} entries loaded", v4.len(), v6.len());
            }
        }
    } else {
        skip(T, "ipset is not installed (scripts/install-test-deps.sh)");
    }
}
