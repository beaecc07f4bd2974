//! What iocd's tests and benchmarks share, and nothing the daemon runs: this crate is not
//! published and is only ever a dev-dependency (so `rand` is no runtime dependency of iocd).
//!
//! * [`corpus`]: the deterministic synthetic corpus (indicators, log lines with planted hits
//!   and traps, and the truth), also written by the `iocd-corpus` binary.
//! * [`oracle`]: a naive matcher for the engine's contract, to compare the engine against.
//! * [`support`]: running the real `iocd` binary (config files, start until ready, signals,
//!   admin requests, metric sums, the alerts it wrote); [`endpoint`]: a scriptable HTTP
//!   endpoint for the sink tests.
//! * [`tansu`]: a real Kafka-protocol broker on a loopback port; [`pki`]: fresh certificates.
//! * [`shared_data`]: the real logs, feeds and allowlists in `../shared/data`, when present.
//! * [`scenario`]: the sinks, triage and feeds the alert-quality and flood scenario tests
//!   configure, and readers for the shared data's list files.
//!
//! Its binaries are the load and benchmark harnesses the scripts run: `iocd-corpus`,
//! `kafka-bench` (scripts/bench-kafka.sh), `syslog-load` (scripts/load.sh) and `scan-profile`
//! (scripts/scan-families.sh).

use std::path::PathBuf;

pub mod corpus;
pub mod endpoint;
pub mod medallion;
pub mod misp_server;
pub mod oracle;
pub mod pki;
pub mod scenario;
pub mod shared_data;
pub mod support;
pub mod tansu;

/// The repository's root folder (the workspace).
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The `iocd` binary the tests run: `$IOCD_BIN` when set, else the one Cargo built beside the
/// running test (`target/<profile>/iocd`, the test being in `target/<profile>/deps/`).
pub fn iocd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("IOCD_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut dir = exe
        .parent()
        .expect("the test binary's folder")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("iocd{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not found: build it first (cargo test builds it for iocd's own tests)",
        bin.display()
    );
    bin
}
