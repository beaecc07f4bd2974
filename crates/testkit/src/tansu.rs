//! A tansu broker (a Kafka-protocol broker in Rust, built once and cached by
//! `scripts/tansu.sh`) on a loopback port, with in-memory storage: what the Kafka tests and the
//! Kafka benchmark talk to.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tansu binary, built by the project's script when it is missing.
pub fn bin() -> PathBuf {
    let script = crate::repo_root().join("scripts/tansu.sh");
    let out = Command::new(script)
        .arg("path")
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/tansu.sh runs");
    assert!(
        out.status.success(),
        "scripts/tansu.sh could not provide tansu"
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A running tansu broker; stopped when dropped.
pub struct Tansu {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Tansu {
    /// Starts `bin` on a free loopback port and waits until it listens (at most 20 s).
    pub fn start(bin: &Path) -> std::io::Result<Tansu> {
        let mut t = Tansu {
            bin: bin.to_path_buf(),
            port: crate::support::free_port(),
            child: None,
        };
        t.spawn()?;
        Ok(t)
    }

    /// `127.0.0.1:PORT`, the bootstrap address.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port (after [`Tansu::stop`]); its storage starts empty.
    pub fn spawn(&mut self) -> std::io::Result<()> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&self.bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let t = Instant::now();
        while std::net::TcpStream::connect(self.addr()).is_err() {
            if t.elapsed() > Duration::from_secs(20) {
                self.stop();
                return Err(std::io::Error::other(format!(
                    "tansu is not listening on {}",
                    self.addr()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Kills the broker: connections drop and new ones fail.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}
