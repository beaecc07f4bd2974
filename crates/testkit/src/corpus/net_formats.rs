//! Firewall and network-sensor formats of [`Gen`]: iptables, Cisco ASA, FortiGate, Zeek.

use std::ops::Range;

use rand::Rng;

use super::generator::{DOM, Gen, HASHES, IP4, IP6, MD5, SHA1, SHA256, UA, URL};
use super::vocab::{ASA_HOSTS, COUNTRIES, FW_HOSTS, gen_path, push_alnum};

impl<'a> Gen<'a> {
    pub(super) fn f_iptables(&mut self) {
        self.ts_syslog();
        self.s(" ");
        self.p(FW_HOSTS);
        self.s(" kernel: [");
        self.nr(100_000, 9_999_999);
        self.s(".");
        let us = self.rng.gen_range(0..1_000_000);
        self.pad(us, 6);
        self.s("] ");
        self.p(&[
            "IPTABLES-DROP: ",
            "[UFW BLOCK] ",
            "FW-IN-DROP ",
            "[UFW ALLOW] ",
            "INPUT-REJECT ",
            "FORWARD-ACCEPT ",
        ]);
        let v6 = self.sub(&[(9, IP4), (1, IP6)]) == 1;
        let inbound = self.rng.gen_ratio(3, 5);
        self.s(if inbound {
            "IN=eth0 OUT= MAC="
        } else {
            "IN=eth1 OUT=eth0 MAC="
        });
        for i in 0..12 {
            if i > 0 {
                self.s(":");
            }
            self.hex(2, false);
        }
        self.s(if v6 { ":86:dd SRC=" } else { ":08:00 SRC=" });
        match (v6, inbound) {
            (false, true) => {
                self.ip4();
                self.s(" DST=");
                self.ip4_int();
            }
            (false, false) => {
                self.ip4_int();
                self.s(" DST=");
                self.ip4();
            }
            (true, true) => {
                self.ip6();
                self.s(" DST=");
                self.ip6_int();
            }
            (true, false) => {
                self.ip6_int();
                self.s(" DST=");
                self.ip6();
            }
        }
        self.s(" LEN=");
        self.nr(40, 1500);
        if v6 {
            self.s(" TC=0 HOPLIMIT=");
            self.nr(40, 64);
            self.s(" FLOWLBL=");
            self.nr(0, 1_048_576);
        } else {
            self.s(" TOS=0x00 PREC=0x00 TTL=");
            self.nr(30, 128);
            self.s(" ID=");
            self.nr(0, 65536);
            self.s(" DF");
        }
        if self.rng.gen_ratio(4, 5) {
            self.s(" PROTO=TCP SPT=");
            self.port();
            self.s(" DPT=");
            self.p(&["22", "443", "80", "3389", "445", "23", "8080", "5900"]);
            self.s(" WINDOW=");
            self.nr(1024, 65535);
            self.s(" RES=0x00 SYN URGP=0");
        } else {
            self.s(" PROTO=UDP SPT=");
            self.port();
            self.s(" DPT=");
            self.p(&["53", "123", "161", "1900", "5060"]);
            self.s(" LEN=");
            self.nr(20, 512);
        }
    }

    pub(super) fn f_asa(&mut self) {
        self.ts_syslog();
        self.s(" ");
        self.p(ASA_HOSTS);
        self.s(" : %ASA-");
        match self.sub(&[(4, IP4), (3, IP4), (3, IP4), (1, IP4), (1, IP4)]) {
            0 => {
                self.s("6-302013: Built inbound TCP connection ");
                self.nr(1_000_000, 999_999_999);
                self.s(" for outside:");
                let r = self.ip4();
                self.asa_port_and_mapped(r);
                self.s(") to inside:");
                let r = self.ip4_int();
                self.s("/");
                self.p(&["443", "80", "22", "25"]);
                self.s(" (");
                self.again(r);
                self.s("/443)");
            }
            1 => {
                self.s("6-302014: Teardown TCP connection ");
                self.nr(1_000_000, 999_999_999);
                self.s(" for outside:");
                self.ip4();
                self.s("/");
                self.p(&["443", "80", "8443"]);
                self.s(" to inside:");
                self.ip4_int();
                self.s("/");
                self.port();
                self.s(" duration 0:");
                self.padr(0..60, 2);
                self.s(":");
                self.padr(0..60, 2);
                self.s(" bytes ");
                self.nr(40, 5_000_000);
                self.p(&[" TCP FINs", " TCP Reset-I", " TCP Reset-O"]);
            }
            2 => {
                self.s("4-106023: Deny ");
                self.p(&["tcp", "udp"]);
                self.s(" src outside:");
                self.ip4();
                self.s("/");
                self.port();
                self.s(" dst inside:");
                self.ip4_int();
                self.s("/");
                self.p(&["22", "23", "445", "3389", "1433"]);
                self.s(" by access-group \"outside_access_in\" [0x");
                self.hex(8, false);
                self.s(", 0x0]");
            }
            3 => {
                self.s("2-106001: Inbound TCP connection denied from ");
                self.ip4();
                self.s("/");
                self.port();
                self.s(" to ");
                self.ip4_int();
                self.s("/");
                self.p(&["22", "23", "445", "3389"]);
                self.s(" flags SYN  on interface outside");
            }
            _ => {
                self.s("6-302015: Built outbound UDP connection ");
                self.nr(1_000_000, 999_999_999);
                self.s(" for outside:");
                let r = self.ip4();
                self.s("/53 (");
                self.again(r);
                self.s("/53) to inside:");
                let r = self.ip4_int();
                self.asa_port_and_mapped(r);
                self.s(")");
            }
        }
    }

    /// `/<port> (<address>/<port>)` after the address written at `r`: an ASA endpoint and
    /// its mapped address and port, the same.
    fn asa_port_and_mapped(&mut self, r: Range<usize>) {
        self.s("/");
        let pr = self.buf.len();
        self.port();
        let pr = pr..self.buf.len();
        self.s(" (");
        self.again(r);
        self.s("/");
        self.again(pr);
    }

    pub(super) fn f_fortigate(&mut self) {
        self.s("date=");
        self.ymd();
        self.s(" time=");
        self.hms();
        self.s(" devname=\"FGT-EDGE-01\" devid=\"FG100FTK19001234\" eventtime=");
        self.n(self.tm.secs);
        let ns = self.tm.ms as u64 * 1_000_000 + self.rng.gen_range(0..1_000_000);
        self.pad(ns, 9);
        self.s(" tz=\"+0000\" ");
        if self.sub(&[(4, IP4), (1, DOM | IP4)]) == 0 {
            self.s("logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" level=\"notice\" vd=\"root\" srcip=");
            let inbound = self.rng.gen_ratio(1, 4);
            if inbound {
                self.ip4();
            } else {
                self.ip4_int();
            }
            self.s(" srcport=");
            self.port();
            self.s(" srcintf=\"port2\" srcintfrole=\"lan\" dstip=");
            if inbound {
                self.ip4_int();
            } else {
                self.ip4();
            }
            self.s(" dstport=");
            self.p(&["443", "80", "53", "22", "3389", "8080"]);
            self.s(" dstintf=\"wan1\" dstintfrole=\"wan\" sessionid=");
            self.nr(1_000_000, 99_999_999);
            self.s(" proto=6 action=\"");
            self.p(&["close", "accept", "deny", "timeout"]);
            self.s("\" policyid=");
            self.nr(1, 40);
            self.s(" policytype=\"policy\" service=\"");
            self.p(&["HTTPS", "HTTP", "DNS", "SSH", "RDP"]);
            self.s("\" dstcountry=\"");
            self.p(COUNTRIES);
            self.s("\" srccountry=\"Reserved\" trandisp=\"snat\" transip=");
            self.wan();
            self.s(" transport=");
            self.port();
            self.s(" duration=");
            self.nr(0, 600);
            self.s(" sentbyte=");
            self.nr(40, 2_000_000);
            self.s(" rcvdbyte=");
            self.nr(40, 20_000_000);
            self.s(" sentpkt=");
            self.nr(1, 3000);
            self.s(" rcvdpkt=");
            self.nr(1, 20_000);
        } else {
            self.s("logid=\"0316013057\" type=\"utm\" subtype=\"webfilter\" eventtype=\"ftgd_blk\" level=\"warning\" vd=\"root\" policyid=");
            self.nr(1, 40);
            self.s(" sessionid=");
            self.nr(1_000_000, 99_999_999);
            self.s(" srcip=");
            self.ip4_int();
            self.s(" srcport=");
            self.port();
            self.s(" dstip=");
            self.ip4();
            self.s(" dstport=443 proto=6 service=\"HTTPS\" hostname=\"");
            let d = self.domain();
            self.s("\" action=\"blocked\" url=\"https://");
            self.again(d);
            let mut path = std::mem::take(&mut self.tmp);
            path.clear();
            gen_path(&mut self.rng, &mut path, false);
            self.s(&path);
            self.tmp = path;
            self.s("\" msg=\"URL belongs to a denied category in policy\" catdesc=\"");
            self.p(&[
                "Malicious Websites",
                "Phishing",
                "Newly Observed Domain",
                "Spam URLs",
            ]);
            self.s("\"");
        }
    }

    /// A Zeek uid, the originator's (internal) address and port, each followed by a tab.
    fn zeek_uid_and_orig(&mut self) {
        self.zeek_uid();
        self.s("\t");
        self.ip4_int();
        self.s("\t");
        self.port();
        self.s("\t");
    }

    fn zeek_uid(&mut self) {
        self.s("C");
        let mut t = std::mem::take(&mut self.tmp);
        t.clear();
        push_alnum(&mut self.rng, &mut t, 17);
        self.s(&t);
        self.tmp = t;
    }

    pub(super) fn f_zeek(&mut self) {
        self.ts_epoch(6);
        self.s("\t");
        match self.sub(&[
            (12, IP4 | IP6),
            (5, IP4 | IP6 | DOM),
            (2, IP4 | DOM | URL | UA),
            (1, IP4 | HASHES),
        ]) {
            0 => {
                // conn.log
                self.zeek_uid();
                self.s("\t");
                let v6 = self.sub(&[(9, IP4), (1, IP6)]) == 1;
                let inbound = self.rng.gen_ratio(1, 3);
                match (v6, inbound) {
                    (false, false) => {
                        self.ip4_int();
                        self.s("\t");
                        self.port();
                        self.s("\t");
                        self.ip4();
                    }
                    (false, true) => {
                        self.ip4();
                        self.s("\t");
                        self.port();
                        self.s("\t");
                        self.ip4_int();
                    }
                    (true, false) => {
                        self.ip6_int();
                        self.s("\t");
                        self.port();
                        self.s("\t");
                        self.ip6();
                    }
                    (true, true) => {
                        self.ip6();
                        self.s("\t");
                        self.port();
                        self.s("\t");
                        self.ip6_int();
                    }
                }
                self.s("\t");
                self.p(&[
                    "443\ttcp\tssl",
                    "80\ttcp\thttp",
                    "53\tudp\tdns",
                    "22\ttcp\tssh",
                    "123\tudp\t-",
                ]);
                self.s("\t");
                self.nr(0, 300);
                self.s(".");
                self.padr(0..1_000_000, 6);
                self.s("\t");
                self.nr(0, 100_000);
                self.s("\t");
                self.nr(0, 5_000_000);
                self.s("\t");
                self.p(&["SF", "S0", "REJ", "RSTO", "SH", "OTH"]);
                self.s("\tT\tF\t0\t");
                self.p(&["ShADadFf", "S", "ShADadfR", "Dd", "ShAdDaFf"]);
                self.s("\t");
                self.nr(1, 200);
                self.s("\t");
                self.nr(40, 200_000);
                self.s("\t");
                self.nr(0, 300);
                self.s("\t");
                self.nr(0, 5_000_000);
                self.s("\t-");
            }
            1 => {
                // dns.log
                self.zeek_uid_and_orig();
                if self.rng.gen_ratio(1, 2) {
                    self.ip4_int();
                } else {
                    self.ip4();
                }
                self.s("\t53\tudp\t");
                self.nr(1, 65535);
                self.s("\t0.");
                self.padr(0..100_000, 6);
                self.s("\t");
                self.domain();
                let aaaa = self.sub(&[(4, IP4 | DOM), (1, IP6 | DOM)]) == 1;
                self.s(if aaaa {
                    "\t1\tC_INTERNET\t28\tAAAA\t0\tNOERROR\tF\tF\tT\tT\t0\t"
                } else {
                    "\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t"
                });
                let n = self.rng.gen_range(1..3);
                for i in 0..n {
                    if i > 0 {
                        self.s(",");
                    }
                    if aaaa {
                        self.ip6();
                    } else {
                        self.ip4();
                    }
                }
                self.s("\t");
                for i in 0..n {
                    if i > 0 {
                        self.s(",");
                    }
                    self.nr(30, 3600);
                    self.s(".000000");
                }
                self.s("\tF");
            }
            2 => {
                // http.log
                self.zeek_uid_and_orig();
                self.ip4();
                self.s("\t80\t1\tGET\t");
                self.domain();
                self.s("\t");
                let mut path = std::mem::take(&mut self.tmp);
                path.clear();
                gen_path(&mut self.rng, &mut path, false);
                self.s(&path);
                self.tmp = path;
                self.s("\t");
                if self.sub(&[(1, 0), (1, URL)]) == 1 {
                    self.url();
                } else {
                    self.s("-");
                }
                self.s("\t1.1\t");
                self.ua();
                self.s("\t-\t0\t");
                self.nr(0, 500_000);
                self.s("\t");
                self.p(&[
                    "200\tOK",
                    "404\tNot Found",
                    "302\tFound",
                    "301\tMoved Permanently",
                ]);
                self.s("\t-\t-\t(empty)\t-\t-\t-\t-\t-\tF");
                let mut t = std::mem::take(&mut self.tmp);
                t.clear();
                push_alnum(&mut self.rng, &mut t, 17);
                self.s(&t);
                self.tmp = t;
                self.s("\ttext/html");
            }
            _ => {
                // files.log
                self.s("F");
                let mut t = std::mem::take(&mut self.tmp);
                t.clear();
                push_alnum(&mut self.rng, &mut t, 17);
                self.s(&t);
                self.tmp = t;
                self.s("\t");
                self.ip4();
                self.s("\t");
                self.ip4_int();
                self.s("\t");
                self.zeek_uid();
                self.s("\tHTTP\t0\tMD5,SHA1,SHA256\tapplication/x-dosexec\t-\t0.");
                self.padr(0..1_000_000, 6);
                self.s("\tF\tF\t");
                let size = self.rng.gen_range(1000..5_000_000);
                self.n(size);
                self.s("\t");
                self.n(size);
                self.s("\t0\t0\tF\t-\t");
                self.hash(MD5, false);
                self.s("\t");
                self.hash(SHA1, false);
                self.s("\t");
                self.hash(SHA256, false);
                self.s("\t-\t-");
            }
        }
    }
}
