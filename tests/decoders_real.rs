//! The field decoders (`iocd::decode::event`) against every real log sample in
//! `../shared/data/logs`: which format each file is read as, how many of its lines decode, and
//! facts about known lines (which field holds a given value, the action, the direction). Prints
//! a table per file. Skipped when the data folder is absent.

use iocd_testkit::shared_data;

use std::collections::BTreeMap;
use std::path::Path;

use iocd::decode::event::{Action, Direction, Event, Format, ZeekHeader, decode};

/// What a file must decode as: the format of (nearly) all its decoded lines, and the least
/// share of its records that must decode at all.
struct Expect {
    file: &'static str,
    /// The formats its lines may decode as; empty for a file in no format we read.
    formats: &'static [Format],
    min_decoded: f64,
}

const fn e(file: &'static str, format: &'static [Format], min_decoded: f64) -> Expect {
    Expect {
        file,
        formats: format,
        min_decoded,
    }
}

/// Files in no format the decoders claim; decoding them must still not panic.
const fn none(file: &'static str) -> Expect {
    Expect {
        file,
        formats: &[],
        min_decoded: 0.0,
    }
}

const EXPECT: &[Expect] = &[
    e(
        "cef/barracuda_waf_cef_sentinel_excerpt3.log",
        &[Format::Cef],
        1.0,
    ),
    none("cloud/awsdocs_vpc_flow_custom_v3_v5_examples_with_headers.log"),
    none("cloud/awsdocs_vpc_flow_v2_default_examples.log"),
    none("cloud/otrf_aws_s3_honeybucket_cloudtrail_alerts.csv"),
    e(
        "cloud/otrf_cloudtrail_ec2_proxy_s3_exfiltration.ndjson",
        &[Format::CloudTrail],
        1.0,
    ),
    e(
        "suricata/eve_slips_test6_malicious.json",
        &[Format::SuricataEve],
        1.0,
    ),
    e(
        "syslog/linux_auth.log",
        &[Format::Sshd, Format::KeyValue],
        0.3,
    ),
    e(
        "vendor_samples_crowdsec/aws-alb-logs.log",
        &[Format::AccessLog],
        1.0,
    ),
    e(
        "vendor_samples_crowdsec/aws-cloudtrail-postexploit.log",
        &[Format::CloudTrail],
        1.0,
    ),
    e(
        "vendor_samples_crowdsec/aws-cloudtrail.log",
        &[Format::CloudTrail],
        1.0,
    ),
    none("vendor_samples_crowdsec/bind9-logs.log"),
    none("vendor_samples_crowdsec/bind9-syslog.log"),
    e("vendor_samples_crowdsec/cef-logs.log", &[Format::Cef], 1.0),
    e(
        "vendor_samples_crowdsec/iptables-scan-multi-port.log",
        &[Format::Netfilter],
        1.0,
    ),
    e(
        "vendor_samples_crowdsec/mikrotik-logs.log",
        &[Format::Mikrotik],
        0.7,
    ),
    e(
        "vendor_samples_crowdsec/mikrotik-scan-multi_ports.log",
        &[Format::Mikrotik],
        1.0,
    ),
    e(
        "vendor_samples_crowdsec/nginx-http-sqli-probing.log",
        &[Format::AccessLog],
        1.0,
    ),
    e(
        "vendor_samples_crowdsec/opnsense-sshd.log",
        &[Format::Sshd],
        0.5,
    ),
    e(
        "vendor_samples_crowdsec/palo-alto-threat.log",
        &[Format::PanOs],
        1.0,
    ),
    e(
        "vendor_samples_crowdsec/pfsense-rfc5424-filterlog.log",
        &[Format::PfSense],
        1.0,
    ),
    e(
        "vendor_samples_crowdsec/suricata-logs-evelog.log",
        &[Format::SuricataEve],
        1.0,
    ),
    none("vendor_samples_crowdsec/suricata-logs-fastlog.log"),
    e(
        "vendor_samples_crowdsec/traefik_json.log",
        &[Format::Json],
        0.85,
    ),
    e("vendor_samples_crowdsec/unifi-cef.log", &[Format::Cef], 1.0),
    none("vendor_samples_crowdsec/windows-bf.log"),
    none("vendor_samples_plaso/appfirewall.log"),
    e(
        "vendor_samples_plaso/aws_cloudtrail.jsonl",
        &[Format::CloudTrail],
        1.0,
    ),
    e(
        "vendor_samples_plaso/aws_elb_access.log",
        &[Format::AccessLog],
        0.8,
    ),
    e(
        "vendor_samples_plaso/azure_activity_log.jsonl",
        &[Format::Json],
        1.0,
    ),
    e(
        "vendor_samples_plaso/gcp_logging.jsonl",
        &[Format::Json],
        1.0,
    ),
    none("vendor_samples_plaso/iis10_edge_cases.log"),
    none("vendor_samples_plaso/iis7_sqli.log"),
    none("vendor_samples_plaso/snort3_alert_fast.log"),
    none("vendor_samples_plaso/suricata_alert_fast.log"),
    none("vendor_samples_plaso/syslog"),
    none("vendor_samples_plaso/syslog_rsyslog_SyslogProtocol23Format"),
    none("vendor_samples_plaso/syslog_rsyslog_traditional"),
    e(
        "vendor_samples_plaso/windows_firewall.log",
        &[Format::WindowsFirewall],
        0.9,
    ),
    e(
        "vendor_samples_wazuh/SonicWall.log",
        &[Format::SonicWall],
        1.0,
    ),
    e(
        "vendor_samples_wazuh/checkpoint_smart1.log",
        &[Format::CheckPoint],
        0.85,
    ),
    e(
        "vendor_samples_wazuh/cisco_asa.log",
        &[Format::CiscoAsa],
        1.0,
    ),
    e(
        "vendor_samples_wazuh/cisco_ftd.log",
        &[Format::CiscoAsa],
        1.0,
    ),
    none("vendor_samples_wazuh/f5_big_ip.log"),
    e(
        "vendor_samples_wazuh/fortigate.log",
        &[Format::Fortigate],
        1.0,
    ),
    none("vendor_samples_wazuh/huawei_usg.log"),
    e(
        "vendor_samples_wazuh/iptables.log",
        &[Format::Netfilter],
        0.9,
    ),
    e("vendor_samples_wazuh/junos.log", &[Format::Junos], 1.0),
    none("vendor_samples_wazuh/malicious-ioc.log"),
    none("vendor_samples_wazuh/modsecurity.log"),
    none("vendor_samples_wazuh/named.log"),
    none("vendor_samples_wazuh/netscreen.log"),
    e("vendor_samples_wazuh/paloalto.log", &[Format::PanOs], 0.9),
    e("vendor_samples_wazuh/pfsense.log", &[Format::PfSense], 1.0),
    e("vendor_samples_wazuh/pix.log", &[Format::CiscoAsa], 1.0),
    e("vendor_samples_wazuh/sophos_fw.log", &[Format::Sophos], 1.0),
    e(
        "vendor_samples_wazuh/squid_rules.log",
        &[Format::Squid],
        1.0,
    ),
    e(
        "vendor_samples_wazuh/sshd.log",
        &[Format::Sshd, Format::KeyValue],
        0.5,
    ),
    e(
        "vendor_samples_wazuh/sysmon_eid_1.log",
        &[Format::WindowsEvent],
        1.0,
    ),
    e(
        "vendor_samples_wazuh/sysmon_eid_3.log",
        &[Format::WindowsEvent],
        1.0,
    ),
    e(
        "vendor_samples_wazuh/web_appsec.log",
        &[Format::AccessLog],
        1.0,
    ),
    e(
        "vendor_samples_wazuh/win_security.log",
        &[Format::WindowsEvent],
        1.0,
    ),
    e("web/apache_combined_access.log", &[Format::AccessLog], 1.0),
    e(
        "windows/otrf_cmd_bitsadmin_download_psh_script.json",
        &[Format::WindowsEvent],
        1.0,
    ),
    e(
        "windows/otrf_cmd_mshta_vbscript_execute_psh.json",
        &[Format::WindowsEvent],
        1.0,
    ),
    e("zeek/conn.log", &[Format::ZeekTsv], 1.0),
    e("zeek/dns.log", &[Format::ZeekTsv], 1.0),
    e("zeek/files.labeled.log", &[Format::ZeekTsv], 1.0),
    e("zeek/http.log", &[Format::ZeekTsv], 1.0),
    e("zeek/notice.labeled.log", &[Format::ZeekTsv], 1.0),
    e("zeek/ssh.json.log", &[Format::ZeekJson], 1.0),
    e("zeek/ssl.labeled.log", &[Format::ZeekTsv], 1.0),
];

/// One line of a file, decoded the way a daemon would: a Zeek header kept per stream.
struct Decoded {
    line: Vec<u8>,
    event: Option<Event>,
}

fn decode_file(path: &Path) -> Vec<Decoded> {
    let data = std::fs::read(path).unwrap();
    let mut zeek = ZeekHeader::new();
    let mut out = Vec::new();
    for raw in data.split(|&b| b == b'\n') {
        if raw.trim_ascii().is_empty() || zeek.update(raw) {
            continue;
        }
        let h = zeek.is_complete().then_some(&zeek);
        let event = decode(raw, h);
        if let Some(ev) = &event {
            for f in &ev.fields {
                assert!(
                    f.value.start < f.value.end && f.value.end <= raw.len(),
                    "{}: range {:?} out of line",
                    path.display(),
                    f.value
                );
                if let Ok(text) = std::str::from_utf8(raw) {
                    assert!(
                        text.is_char_boundary(f.value.start) && text.is_char_boundary(f.value.end)
                    );
                }
            }
        }
        out.push(Decoded {
            line: raw.to_vec(),
            event,
        });
    }
    out
}

/// Comment lines (as MANIFEST.md counts them) are not records.
fn is_comment(line: &[u8]) -> bool {
    let l = line.trim_ascii_start();
    l.starts_with(b"#") || l.starts_with(b"!") || l.starts_with(b"//")
}

#[test]
fn every_sample_file_decodes_as_expected() {
    let Some(data) = shared_data::dir() else {
        return;
    };
    let logs = data.join("logs");
    let files = shared_data::files_under(&logs);
    let expect: BTreeMap<&str, &Expect> = EXPECT.iter().map(|e| (e.file, e)).collect();
    println!("{:<66} {:>6} {:>8}  format", "file", "lines", "decoded");
    let mut unlisted = Vec::new();
    let mut failures = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(&logs)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let decoded = decode_file(path);
        let records: Vec<&Decoded> = decoded.iter().filter(|d| !is_comment(&d.line)).collect();
        let mut by_format: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &records {
            if let Some(ev) = &d.event {
                *by_format.entry(ev.format.as_str()).or_default() += 1;
            }
        }
        let n_decoded: usize = by_format.values().sum();
        let share = n_decoded as f64 / records.len().max(1) as f64;
        let formats = by_format
            .iter()
            .map(|(f, n)| format!("{f}:{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "{rel:<66} {:>6} {:>7.1}%  {formats}",
            records.len(),
            share * 100.0
        );
        let Some(exp) = expect.get(rel.as_str()) else {
            unlisted.push(rel);
            continue;
        };
        if !exp.formats.is_empty() {
            if share < exp.min_decoded {
                failures.push(format!(
                    "{rel}: {:.1}% decoded, want >= {:.0}%",
                    share * 100.0,
                    exp.min_decoded * 100.0
                ));
            }
            let right: usize = exp
                .formats
                .iter()
                .map(|f| by_format.get(f.as_str()).copied().unwrap_or(0))
                .sum();
            // "Nearly all": at most one decoded line in twenty in another format.
            if n_decoded == 0 || right * 20 < n_decoded * 19 {
                failures.push(format!(
                    "{rel}: {right} of {n_decoded} decoded lines are {:?}",
                    exp.formats
                ));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "sample files with no expectation: {unlisted:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The first line of `file` that contains `select`, and its event.
fn line_event(logs: &Path, file: &str, select: &str) -> (Event, Vec<u8>) {
    let d = decode_file(&logs.join(file))
        .into_iter()
        .find(|d| String::from_utf8_lossy(&d.line).contains(select))
        .unwrap_or_else(|| panic!("{file}: no line with {select:?}"));
    let event = d
        .event
        .unwrap_or_else(|| panic!("{file}: not decoded: {}", String::from_utf8_lossy(&d.line)));
    (event, d.line)
}

/// The name of the field holding the `nth` occurrence of `needle` in the first line of `file`
/// that contains `select`.
fn fact(logs: &Path, file: &str, select: &str, needle: &str, nth: usize) -> String {
    let (ev, line) = line_event(logs, file, select);
    let text = String::from_utf8_lossy(&line);
    let at = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{file}: {needle:?} #{nth} not in {text}"))
        .0;
    ev.field_at(at..at + needle.len())
        .unwrap_or_else(|| panic!("{file}: no field holds {needle:?} in {text}"))
        .name
        .to_string()
}

#[test]
fn known_lines_name_the_right_fields() {
    let Some(data) = shared_data::dir() else {
        return;
    };
    let logs = data.join("logs");
    let table: &[(&str, &str, &str, usize, &str)] = &[
        // (file, a line containing, value, occurrence, field)
        (
            "suricata/eve_slips_test6_malicious.json",
            "78.36.196.213",
            "78.36.196.213",
            0,
            "source.ip",
        ),
        (
            "suricata/eve_slips_test6_malicious.json",
            "\"event_type\":\"dns\"",
            "www.google.com",
            0,
            "dns.question.name",
        ),
        (
            "suricata/eve_slips_test6_malicious.json",
            "\"event_type\":\"tls\"",
            "www.myedimax.com",
            1,
            "tls.client.server_name",
        ),
        (
            "zeek/dns.log",
            "dns.msftncsi.com",
            "dns.msftncsi.com",
            0,
            "dns.question.name",
        ),
        (
            "zeek/dns.log",
            "dns.msftncsi.com",
            "131.107.255.255",
            0,
            "dns.answers.data",
        ),
        (
            "zeek/http.log",
            "gatyfus.com",
            "gatyfus.com",
            0,
            "url.domain",
        ),
        (
            "zeek/http.log",
            "gatyfus.com",
            "192.168.1.116",
            0,
            "source.ip",
        ),
        (
            "zeek/files.labeled.log",
            "cd5a4d3fdd5bffc16bf959ef75cf37bc",
            "cd5a4d3fdd5bffc16bf959ef75cf37bc",
            0,
            "file.hash.md5",
        ),
        (
            "zeek/ssl.labeled.log",
            "www.microsoft.com\tF",
            "www.microsoft.com",
            0,
            "tls.client.server_name",
        ),
        (
            "zeek/ssh.json.log",
            "10.0.83.193",
            "172.16.1.49",
            0,
            "destination.ip",
        ),
        (
            "windows/otrf_cmd_bitsadmin_download_psh_script.json",
            "\"QueryName\":\"raw.githubusercontent.com\"",
            "raw.githubusercontent.com",
            0,
            "dns.question.name",
        ),
        (
            "windows/otrf_cmd_bitsadmin_download_psh_script.json",
            "bitsadmin.exe  /transfer",
            "raw.githubusercontent.com",
            0,
            "process.command_line",
        ),
        (
            "windows/otrf_cmd_bitsadmin_download_psh_script.json",
            "SHA256=EAAE8536D554D0E86D8540A8B34DB2649BD884843F389495D0B6E91636C6CF54",
            "EAAE8536D554D0E86D8540A8B34DB2649BD884843F389495D0B6E91636C6CF54",
            0,
            "process.hash.sha256",
        ),
        (
            "windows/otrf_cmd_bitsadmin_download_psh_script.json",
            "\"DestAddress\":\"151.101.208.133\"",
            "151.101.208.133",
            0,
            "destination.ip",
        ),
        (
            "vendor_samples_wazuh/sysmon_eid_3.log",
            "\"destinationIp\":\"192.168.0.4\"",
            "192.168.0.4",
            0,
            "destination.ip",
        ),
        (
            "web/apache_combined_access.log",
            "83.149.9.216",
            "83.149.9.216",
            0,
            "source.ip",
        ),
        (
            "web/apache_combined_access.log",
            "kibana-search.png",
            "semicomplete.com",
            0,
            "http.request.referrer",
        ),
        (
            "cef/barracuda_waf_cef_sentinel_excerpt3.log",
            "48293",
            "101.173.234.143",
            0,
            "source.ip",
        ),
        (
            "cef/barracuda_waf_cef_sentinel_excerpt3.log",
            "48293",
            "101.173.234.143",
            1,
            "cef.ProxyIP",
        ),
        (
            "cef/barracuda_waf_cef_sentinel_excerpt3.log",
            "48293",
            "/pma/index.php",
            0,
            "url.original",
        ),
        (
            "cloud/otrf_cloudtrail_ec2_proxy_s3_exfiltration.ndjson",
            "\"sourceIPAddress\":\"1.2.3.4\"",
            "1.2.3.4",
            0,
            "source.ip",
        ),
        (
            "vendor_samples_wazuh/cisco_asa.log",
            "%ASA-2-106001",
            "111.93.241.59",
            0,
            "source.ip",
        ),
        (
            "vendor_samples_wazuh/cisco_asa.log",
            "%ASA-4-106023: Deny tcp",
            "172.11.1.11",
            0,
            "destination.ip",
        ),
        (
            "vendor_samples_wazuh/fortigate.log",
            "srcip=7.3.8.5",
            "7.8.9.81",
            0,
            "destination.ip",
        ),
        (
            "vendor_samples_wazuh/junos.log",
            "RT_FLOW_SESSION_DENY",
            "192.168.1.2",
            0,
            "destination.ip",
        ),
        (
            "vendor_samples_wazuh/checkpoint_smart1.log",
            "action:\"Drop\"",
            "11.22.33.44",
            0,
            "observer.ip",
        ),
        (
            "vendor_samples_wazuh/sophos_fw.log",
            "status=\"Deny\"",
            "11.22.33.44",
            0,
            "source.ip",
        ),
        (
            "vendor_samples_wazuh/SonicWall.log",
            "TCP connection dropped",
            "67.101.200.27",
            0,
            "source.ip",
        ),
        (
            "vendor_samples_crowdsec/pfsense-rfc5424-filterlog.log",
            "192.168.5.6,192.168.1.100",
            "192.168.1.100",
            0,
            "destination.ip",
        ),
        (
            "vendor_samples_crowdsec/palo-alto-threat.log",
            "1.2.3.2,1.2.3.3",
            "1.2.3.3",
            0,
            "destination.ip",
        ),
        (
            "vendor_samples_crowdsec/iptables-scan-multi-port.log",
            "62.34.17.168",
            "62.34.17.168",
            0,
            "source.ip",
        ),
        (
            "vendor_samples_crowdsec/mikrotik-logs.log",
            "186.26.78.68",
            "81.82.202.145",
            0,
            "destination.ip",
        ),
        (
            "vendor_samples_crowdsec/unifi-cef.log",
            "act=blocked",
            "198.51.100.10",
            0,
            "source.ip",
        ),
        (
            "vendor_samples_wazuh/squid_rules.log",
            "ossec.net",
            "http://www.ossec.net",
            0,
            "url.original",
        ),
    ];
    let mut wrong = Vec::new();
    for &(file, select, needle, nth, want) in table {
        let got = fact(&logs, file, select, needle, nth);
        if got != want {
            wrong.push(format!("{file}: {needle:?} is in {got}, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn known_lines_say_what_happened() {
    let Some(data) = shared_data::dir() else {
        return;
    };
    let logs = data.join("logs");
    let cases: &[(&str, &str, Option<Action>, Option<Direction>)] = &[
        (
            "vendor_samples_crowdsec/pfsense-rfc5424-filterlog.log",
            ",block,in,",
            Some(Action::Blocked),
            Some(Direction::Inbound),
        ),
        (
            "vendor_samples_wazuh/pfsense.log",
            ",pass,out,",
            Some(Action::Allowed),
            Some(Direction::Outbound),
        ),
        (
            "vendor_samples_wazuh/cisco_asa.log",
            "%ASA-2-106001",
            Some(Action::Denied),
            Some(Direction::Inbound),
        ),
        (
            "vendor_samples_wazuh/cisco_asa.log",
            "%ASA-6-302013: Built outbound",
            Some(Action::Allowed),
            Some(Direction::Outbound),
        ),
        (
            "vendor_samples_wazuh/fortigate.log",
            "srcip=7.3.8.5",
            Some(Action::Denied),
            None,
        ),
        (
            "vendor_samples_wazuh/fortigate.log",
            "direction=outgoing",
            Some(Action::Reset),
            Some(Direction::Outbound),
        ),
        (
            "vendor_samples_wazuh/junos.log",
            "RT_FLOW_SESSION_DENY",
            Some(Action::Denied),
            None,
        ),
        (
            "vendor_samples_wazuh/checkpoint_smart1.log",
            "action:\"Drop\"",
            Some(Action::Dropped),
            Some(Direction::Inbound),
        ),
        (
            "vendor_samples_wazuh/sophos_fw.log",
            "status=\"Allow\"",
            Some(Action::Allowed),
            None,
        ),
        (
            "vendor_samples_wazuh/iptables.log",
            "SFW2-INext-DROP-DEFLT",
            Some(Action::Dropped),
            Some(Direction::Inbound),
        ),
        (
            "vendor_samples_wazuh/squid_rules.log",
            "TCP_DENIED/407",
            Some(Action::Denied),
            None,
        ),
        (
            "vendor_samples_crowdsec/palo-alto-threat.log",
            "reset-both",
            Some(Action::Reset),
            None,
        ),
        (
            "vendor_samples_crowdsec/mikrotik-logs.log",
            "drop-in input",
            Some(Action::Dropped),
            Some(Direction::Inbound),
        ),
        (
            "vendor_samples_crowdsec/unifi-cef.log",
            "act=blocked",
            Some(Action::Blocked),
            Some(Direction::Inbound),
        ),
        (
            "vendor_samples_plaso/windows_firewall.log",
            "DROP UDP",
            Some(Action::Dropped),
            Some(Direction::Inbound),
        ),
        (
            "suricata/eve_slips_test6_malicious.json",
            "\"action\":\"allowed\"",
            Some(Action::Allowed),
            None,
        ),
        (
            "windows/otrf_cmd_bitsadmin_download_psh_script.json",
            "\"Direction\":\"%%14593\"",
            Some(Action::Allowed),
            Some(Direction::Outbound),
        ),
        (
            "syslog/linux_auth.log",
            "Failed password for",
            Some(Action::Denied),
            None,
        ),
        (
            "vendor_samples_crowdsec/aws-cloudtrail.log",
            "\"ConsoleLogin\":\"Failure\"",
            Some(Action::Denied),
            None,
        ),
    ];
    let mut wrong = Vec::new();
    for &(file, select, action, dir) in cases {
        let (ev, _) = line_event(&logs, file, select);
        if (ev.action, ev.network_direction) != (action, dir) {
            wrong.push(format!(
                "{file} {select:?}: {:?} {:?}, want {action:?} {dir:?}",
                ev.action, ev.network_direction
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn values_for_alerts() {
    let Some(data) = shared_data::dir() else {
        return;
    };
    let logs = data.join("logs");
    let (ev, line) = line_event(
        &logs,
        "suricata/eve_slips_test6_malicious.json",
        "78.36.196.213",
    );
    assert_eq!(ev.source_ip(&line), Some("78.36.196.213".parse().unwrap()));
    assert_eq!(ev.source_port(&line), Some(51698));
    assert_eq!(
        ev.destination_ip(&line),
        Some("192.168.1.129".parse().unwrap())
    );
    let (ev, line) = line_event(&logs, "zeek/http.log", "gatyfus.com");
    assert_eq!(ev.url_domain(&line).as_deref(), Some("gatyfus.com"));
    assert_eq!(ev.url(&line).as_deref(), Some("/login.php"));
    assert_eq!(ev.destination_port(&line), Some(80));
    let (ev, line) = line_event(
        &logs,
        "syslog/linux_auth.log",
        "Failed password for root from",
    );
    assert!(ev.source_ip(&line).is_some());
    assert_eq!(ev.user_name(&line).as_deref(), Some("root"));
    let (ev, line) = line_event(
        &logs,
        "vendor_samples_wazuh/SonicWall.log",
        "TCP connection dropped",
    );
    assert_eq!(ev.source_port(&line), Some(4507));
    let (ev, line) = line_event(&logs, "zeek/dns.log", "dns.msftncsi.com");
    assert_eq!(ev.dns_question(&line).as_deref(), Some("dns.msftncsi.com"));
}
