//! The shipped unit file, checked by systemd's own tools: `systemd-analyze verify` must be
//! clean and `systemd-analyze security --offline=true` must rate it 2.0 or better.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The unit with its binary path pointed at the binary under test, in a fresh folder.
fn unit_under_test() -> (tempfile::TempDir, PathBuf) {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/iocd.service"))
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iocd.service");
    std::fs::write(
        &path,
        text.replace("/usr/local/bin/iocd", env!("CARGO_BIN_EXE_iocd")),
    )
    .unwrap();
    (dir, path)
}

/// `systemd-analyze`; a missing tool fails the test with instructions instead of skipping it.
fn systemd_analyze() -> Command {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        panic!(
            "systemd-analyze is missing: run scripts/install-test-deps.sh (Debian package systemd)"
        );
    }
    Command::new("systemd-analyze")
}

#[test]
fn unit_verifies_cleanly() {
    let (_dir, unit) = unit_under_test();
    let out = systemd_analyze().arg("verify").arg(&unit).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{text}"
    );
    let ours: Vec<&str> = text.lines().filter(|l| l.contains("iocd")).collect();
    assert!(
        ours.is_empty(),
        "systemd-analyze verify complains about the unit:\n{text}"
    );
}

#[test]
fn unit_is_hardened() {
    let (_dir, unit) = unit_under_test();
    let out = systemd_analyze()
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for iocd.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(level <= 2.0, "exposure {level} > 2.0:\n{text}");
}

#[test]
fn unit_checks_config_before_start_and_reload() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/iocd.service"))
            .unwrap();
    assert!(text.contains("Type=notify"));
    assert!(text.contains("ExecStartPre=/usr/local/bin/iocd validate --config"));
    let reload: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ExecReload="))
        .collect();
    assert_eq!(reload.len(), 2);
    assert!(
        reload[0].contains("iocd validate"),
        "validate runs before the HUP"
    );
    assert!(reload[1].contains("kill -HUP $MAINPID"));
    assert!(text.contains("WatchdogSec="));
}
