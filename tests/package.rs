//! The Debian package, built by the project's script (`scripts/package.sh --dev`: the same
//! package as a release, with the test build's binary) and checked with Debian's and
//! systemd's own tools: `lintian`, `dpkg-deb` (fields, conffiles, contents), then the files
//! extracted and run: `iocd validate` on the packaged default configuration,
//! `systemd-analyze verify` and `systemd-analyze security --offline=true` on the packaged
//! unit, `man -l` on the packaged man page.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn need(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is missing: run ./scripts/install-test-deps.sh (Debian package {package})"
    );
}

/// Builds the package once; its path.
fn package() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = run(Command::new(root.join("scripts/package.sh"))
        .arg("--dev")
        .env("IOCD_PACKAGE_BIN", env!("CARGO_BIN_EXE_iocd"))
        .current_dir(root));
    let path = root.join(text(&out).trim());
    assert!(path.is_file(), "no package at {}", path.display());
    path
}

#[test]
fn the_debian_package_installs_what_a_soc_expects_and_lintian_passes() {
    need("dpkg-deb", "dpkg");
    need("lintian", "lintian");
    need("systemd-analyze", "systemd");
    need("man", "man-db");
    let deb = package();

    // Fields and conffiles.
    let fields = text(&run(Command::new("dpkg-deb").arg("-f").arg(&deb)));
    for want in [
        "Package: iocd",
        "Version: 0.1.0-1",
        "Section: net",
        "Priority: optional",
    ] {
        assert!(fields.contains(want), "{want} in:\n{fields}");
    }
    assert!(
        fields.contains("adduser"),
        "Depends names adduser:\n{fields}"
    );
    let info = text(&run(Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .arg("conffiles")));
    assert!(info.contains("/etc/iocd/iocd.toml"), "{info}");
    assert!(info.contains("/etc/iocd/feeds/local.txt"), "{info}");
    let postinst = text(&run(Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .arg("postinst")));
    assert!(
        postinst.contains("adduser --system") && postinst.contains("/var/log/iocd"),
        "{postinst}"
    );

    // Contents.
    let list = text(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    for path in [
        "./usr/bin/iocd",
        "./etc/iocd/iocd.toml",
        "./etc/iocd/feeds/local.txt",
        "/systemd/system/iocd.service",
        "./usr/share/man/man1/iocd.1.gz",
        "./usr/share/bash-completion/completions/iocd",
        "./usr/share/zsh/vendor-completions/_iocd",
        "./usr/share/fish/vendor_completions.d/iocd.fish",
        "./usr/share/doc/iocd/README.md",
        "./usr/share/doc/iocd/RETRO.md",
        "./usr/share/doc/iocd/copyright",
        "./usr/share/doc/iocd/examples/iocd.example.toml",
        "./usr/share/doc/iocd/contrib/prometheus/iocd.rules.yml",
        "./usr/share/doc/iocd/contrib/grafana/iocd-dashboard.json",
        "./usr/share/doc/iocd/contrib/forwarders/rsyslog/iocd.conf",
        "./usr/share/doc/iocd/contrib/elasticsearch/iocd-alerts-template.json",
    ] {
        assert!(list.contains(path), "{path} is not in the package:\n{list}");
    }

    // lintian: no error and no warning (overrides only with a reason, in the package).
    let lint = Command::new("lintian")
        .args(["--fail-on", "error,warning", "--tag-display-limit", "0"])
        .arg(&deb)
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "lintian:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    // The files, extracted and run.
    let root = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(root.path()));
    let r = root.path();
    let bin = r.join("usr/bin/iocd");
    let version = text(&run(Command::new(&bin).arg("--version")));
    assert!(version.starts_with("iocd 0.1.0 (commit "), "{version}");
    // The packaged default, its absolute paths pointed into the extracted tree (and the log
    // folder, which the postinst makes, made here).
    std::fs::create_dir_all(r.join("var/log/iocd")).unwrap();
    let cfg = std::fs::read_to_string(r.join("etc/iocd/iocd.toml")).unwrap();
    let cfg = cfg
        .replace("/etc/iocd/", &format!("{}/etc/iocd/", r.display()))
        .replace("/var/log/iocd/", &format!("{}/var/log/iocd/", r.display()));
    let cfg_path = r.join("iocd-test.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let v = run(Command::new(&bin)
        .arg("validate")
        .arg("--config")
        .arg(&cfg_path));
    let said = String::from_utf8_lossy(&v.stderr);
    assert!(
        said.contains("local"),
        "validate names the packaged feed: {said}"
    );

    // The unit as packaged: /usr/bin/iocd, the system user, the default config path.
    let unit_dir = ["lib/systemd/system", "usr/lib/systemd/system"]
        .iter()
        .map(|d| r.join(d))
        .find(|d| d.join("iocd.service").is_file())
        .expect("the unit is installed");
    let unit = std::fs::read_to_string(unit_dir.join("iocd.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/iocd run --config /etc/iocd/iocd.toml"),
        "{unit}"
    );
    assert!(
        unit.contains("User=iocd") && !unit.contains("DynamicUser=yes"),
        "{unit}"
    );
    let check = tempfile::tempdir().unwrap();
    let unit_path = check.path().join("iocd.service");
    std::fs::write(
        &unit_path,
        unit.replace("/usr/bin/iocd", &bin.display().to_string()),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit_path)
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && !complaints.contains("iocd.service:"),
        "systemd-analyze verify:\n{complaints}"
    );
    let security = text(&run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit_path)));
    let level: f64 = security
        .lines()
        .find_map(|l| l.split("Overall exposure level for iocd.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{security}"));
    assert!(level <= 2.5, "the packaged unit rates {level}:\n{security}");

    // The man page renders.
    let man = Command::new("man")
        .arg("-l")
        .arg(r.join("usr/share/man/man1/iocd.1.gz"))
        .env("MANPAGER", "cat")
        .output()
        .unwrap();
    assert!(man.status.success() && text(&man).contains("validate"));
}
