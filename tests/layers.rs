//! The architecture, checked: dependencies between iocd's top-level modules point one way,
//! down the layers of docs/ARCHITECTURE.md, and the engine crate stays free of I/O.
//!
//! The check reads the source as text: every `crate::<module>` path outside comments and
//! outside test modules is an edge from the file's top-level module to `<module>`. A module
//! may use only modules of lower layers. A new top-level module must be given a layer here
//! (and in docs/ARCHITECTURE.md) before this test passes, so no module slips in unplaced.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module uses only modules of layers before its own.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves: retry, state files, time formatting, TLS files",
        &["retry", "statefile", "time", "tls"],
    ),
    ("decode: log lines into typed fields", &["decode"]),
    ("model: the records that flow", &["model", "pipeline"]),
    ("config: the typed configuration", &["config"]),
    ("ioc: feeds into an indicator set", &["ioc"]),
    ("telemetry: metrics (a leaf)", &["telemetry"]),
    (
        "verdicts from analysts and sightings",
        &["feedback", "sightings"],
    ),
    ("triage: scores, windows, floods", &["triage"]),
    ("alert: rendering ECS, OCSF, CEF", &["alert"]),
    ("sources, sinks and exports", &["source", "sink", "export"]),
    ("the daemon and the retro-hunt", &["daemon", "scan"]),
];
// Above them all, the binary (src/main.rs and src/cli/) uses the library as `iocd::`.

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text of a file without its comments and without its inline test module (a
/// `#[cfg(test)] mod tests { ... }` ends a file; `mod tests;` is a file of its own).
fn code_of(text: &str) -> String {
    let mut end = text.len();
    let mut from = 0;
    while let Some(i) = text[from..].find("\n#[cfg(test)]\nmod ") {
        let at = from + i;
        let line = text[at + 1..].lines().nth(1).unwrap_or("");
        if line.trim_end().ends_with('{') {
            end = at;
            break;
        }
        from = at + 1;
    }
    let text = &text[..end];
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level module -> (module it uses -> the files that use it).
fn edges() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let top = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib"
            || top == "main"
            || top == "cli"
            || rel.ends_with("/tests.rs")
            || rel.contains("/tests/")
        {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&f).unwrap());
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `iocd_engine::` is another crate, not `crate::`.
            let whole_word = i == 0
                || !rest.as_bytes()[i - 1].is_ascii_alphanumeric()
                    && rest.as_bytes()[i - 1] != b'_';
            if whole_word
                && !name.is_empty()
                && name != top
                && name.chars().next().unwrap().is_ascii_lowercase()
            {
                out.entry(top.clone())
                    .or_default()
                    .entry(name)
                    .or_default()
                    .insert(rel.clone());
            }
            rest = after;
        }
        out.entry(top).or_default();
    }
    out
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

#[test]
fn every_top_level_module_has_a_layer() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let code = code_of(&lib);
    let declared: Vec<&str> = code
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub ")
                .or_else(|| l.strip_prefix("pub(crate) "))
                .unwrap_or(l);
            l.strip_prefix("mod ")?.strip_suffix(';')
        })
        .map(|m| m.trim())
        .collect();
    assert!(declared.len() >= 10, "modules of src/lib.rs: {declared:?}");
    let unplaced: Vec<&&str> = declared.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules with no layer in tests/layers.rs (and docs/ARCHITECTURE.md): {unplaced:?}"
    );
}

#[test]
fn dependencies_point_down_the_layers() {
    let mut wrong = Vec::new();
    for (from, tos) in edges() {
        let Some(lf) = layer_of(&from) else { continue };
        for (to, files) in tos {
            let Some(lt) = layer_of(&to) else {
                continue; // not a module (a macro path or an item of lib.rs)
            };
            if lt >= lf {
                wrong.push(format!(
                    "{from} ({}) uses {to} ({}) in {}",
                    LAYERS[lf].0,
                    LAYERS[lt].0,
                    files.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that go up or sideways (a cycle waiting to happen):\n{}",
        wrong.join("\n")
    );
}

/// The check itself finds an edge where there is one (so the test above is not vacuous).
#[test]
fn the_reader_sees_imports() {
    let e = edges();
    assert!(e["triage"].contains_key("config"), "{:?}", e["triage"]);
    assert!(e["scan"].contains_key("decode"), "{:?}", e["scan"]);
    assert_eq!(
        code_of("use crate::a; // crate::b\n#[cfg(test)]\nmod tests {\n use crate::c; }"),
        "use crate::a; "
    );
    assert_eq!(
        code_of("x\n#[cfg(test)]\nmod tests;\nuse crate::d;"),
        "x\n#[cfg(test)]\nmod tests;\nuse crate::d;"
    );
}

/// The engine knows nothing of tokio, JSON, metrics or I/O; the library's runtime needs no
/// random numbers beyond what its crates bring (the corpus generator is test-kit only).
#[test]
fn the_engine_and_the_library_keep_their_dependencies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let deps = |manifest: &str| -> BTreeSet<String> {
        let text = std::fs::read_to_string(root.join(manifest)).unwrap();
        let v: toml::Table = toml::from_str(&text).unwrap();
        v.get("dependencies")
            .and_then(|d| d.as_table())
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default()
    };
    let engine = deps("crates/engine/Cargo.toml");
    for banned in [
        "tokio",
        "serde_json",
        "prometheus",
        "tracing",
        "reqwest",
        "rdkafka",
    ] {
        assert!(!engine.contains(banned), "the engine depends on {banned}");
    }
    let lib = deps("Cargo.toml");
    for banned in [
        "rand",
        "rand_chacha",
        "iocd-testkit",
        "proptest",
        "criterion",
    ] {
        assert!(!lib.contains(banned), "iocd's runtime depends on {banned}");
    }
}
