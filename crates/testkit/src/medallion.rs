//! A medallion server (the OASIS TAXII 2.1 reference server, installed once by
//! `scripts/medallion.sh`) on a loopback port, with its memory backend: one API root `api1`
//! and one collection, filled by POSTing objects as a producer would. Its request log (the
//! werkzeug lines on stderr, `GET /api1/collections/.../objects/?limit=...`) is what the
//! tests read to see what iocd asked for.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The collection's id.
pub const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
/// The collection's title.
pub const TITLE: &str = "iocd test indicators";

/// The medallion program, installed by the project's script when it is missing.
pub fn bin() -> PathBuf {
    let script = crate::repo_root().join("scripts/medallion.sh");
    let out = Command::new(script)
        .arg("path")
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/medallion.sh runs");
    assert!(
        out.status.success(),
        "scripts/medallion.sh could not provide medallion"
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A running medallion; stopped when dropped.
pub struct Medallion {
    child: Child,
    pub port: u16,
    log: PathBuf,
    user: String,
    password: String,
}

impl Medallion {
    /// Starts medallion in `dir` with pages of at most `page` objects and one user, and waits
    /// until it answers (at most 20 s).
    pub fn start(dir: &Path, page: usize, user: &str, password: &str) -> Medallion {
        let port = crate::support::free_port();
        let root = format!("http://127.0.0.1:{port}/api1/");
        let data = json!({
            "/discovery": {
                "title": "iocd test TAXII server",
                "default": root,
                "api_roots": [root],
            },
            "api1": {
                "information": {
                    "title": "api1",
                    "versions": ["application/taxii+json;version=2.1"],
                    "max_content_length": 100_000_000,
                },
                "status": [],
                "collections": [{
                    "id": COLLECTION,
                    "title": TITLE,
                    "can_read": true,
                    "can_write": true,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }],
            },
        });
        let data_path = dir.join("medallion-data.json");
        std::fs::write(&data_path, data.to_string()).unwrap();
        let config = json!({
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": data_path,
            },
            "users": { user: password },
            "taxii": { "max_page_size": page },
        });
        let config_path = dir.join("medallion.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = dir.join("medallion.log");
        let child = Command::new(bin())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--log-level", "INFO"])
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("medallion starts");
        let m = Medallion {
            child,
            port,
            log,
            user: user.to_owned(),
            password: password.to_owned(),
        };
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "medallion did not listen: {}",
                m.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        m
    }

    /// The discovery URL.
    pub fn discovery(&self) -> String {
        format!("http://127.0.0.1:{}/taxii2/", self.port)
    }

    /// The API root.
    pub fn api_root(&self) -> String {
        format!("http://127.0.0.1:{}/api1/", self.port)
    }

    /// Everything medallion logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The objects requests it logged (`GET /api1/collections/<id>/objects/?...`), in order.
    pub fn object_requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("GET /api1/collections/") && l.contains("/objects/"))
            .map(str::to_owned)
            .collect()
    }

    /// Adds `objects` to the collection, as a producer does (`POST .../objects/`): they are
    /// added at the time of the request.
    pub fn add(&self, objects: &[Value]) {
        use base64::Engine as _;
        let body = json!({ "objects": objects }).to_string();
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.user, self.password));
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "POST /api1/collections/{COLLECTION}/objects/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Authorization: Basic {auth}\r\nAccept: application/taxii+json;version=2.1\r\n\
             Content-Type: application/taxii+json;version=2.1\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 202"), "{resp}");
        let status: Value = resp
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or_default();
        assert_eq!(
            status["success_count"].as_u64(),
            Some(objects.len() as u64),
            "{resp}"
        );
    }
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A STIX 2.1 indicator of the IPv4 address `ip`, with a fixed id per address unless `id`
/// says otherwise, `modified` at `modified`.
pub fn indicator(id: &str, ip: &str, modified: &str, revoked: bool) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": id,
        "created": "2024-01-01T00:00:00.000Z",
        "modified": modified,
        "name": format!("C2 {ip}"),
        "pattern": format!("[ipv4-addr:value = '{ip}']"),
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
        "revoked": revoked,
    })
}
