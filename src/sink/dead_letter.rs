//! The dead-letter file: where a sink puts the alerts its endpoint refuses for good.
//!
//! An alert is refused for good when the endpoint says no to that alert alone and retrying
//! cannot change the answer: a 400 or 422 for a batch of one, a 413 for an alert that is too
//! large by itself, an Elasticsearch per-item error such as a mapping conflict. Such an
//! alert is written here as one JSON line, `{"time", "sink", "status", "reason", "alert"}`,
//! so that someone can fix the mapping and send it again.
//!
//! The file is opened for each write (append, created if missing): refusals are rare, and
//! a file moved away is simply started anew. Its size is bounded by `dead_letter_max_bytes`;
//! iocd never truncates it. When there is no file, or it is full, or it cannot be written,
//! [`DeadLetter::write`] says so and the caller logs the alert in full at ERROR instead:
//! either way the alert is counted and its receipt settled (see [`super::SinkCtx::refused`]).

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// One sink's dead-letter file, or none.
pub(super) struct DeadLetter {
    path: Option<PathBuf>,
    max_bytes: u64,
}

/// Why an alert did not go into the dead-letter file.
#[derive(Debug)]
pub(super) enum NotWritten {
    /// The sink has no `dead_letter`.
    Unset,
    /// The file holds `max` bytes or would with this alert.
    Full {
        max: u64,
    },
    Io(std::io::Error),
}

impl fmt::Display for NotWritten {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotWritten::Unset => f.write_str("no dead_letter file is configured"),
            NotWritten::Full { max } => {
                write!(f, "the dead_letter file is full ({max} bytes)")
            }
            NotWritten::Io(e) => write!(f, "cannot write the dead_letter file: {e}"),
        }
    }
}

/// What is known about one refused alert.
pub(super) struct Refusal<'a> {
    pub sink: &'a str,
    /// The HTTP status of the request or of the Elasticsearch item.
    pub status: Option<u16>,
    /// What the endpoint said, cut to a few hundred bytes.
    pub reason: &'a str,
    /// The alert as it was sent (a JSON object).
    pub alert: &'a [u8],
}

impl Refusal<'_> {
    /// The JSON line of this refusal (no line feed).
    pub(super) fn to_line(&self, now: std::time::SystemTime) -> Vec<u8> {
        // Alerts are JSON objects; anything else is kept as a string, never lost.
        let alert = serde_json::from_slice::<Value>(self.alert)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(self.alert).into_owned()));
        let v = json!({
            "time": crate::time::rfc3339_system(now, crate::time::Digits::Millis),
            "sink": self.sink,
            "status": self.status,
            "reason": self.reason,
            "alert": alert,
        });
        serde_json::to_vec(&v).expect("a Value serializes")
    }
}

impl DeadLetter {
    /// Checks that `path` (if any) can be opened for appending, so that a bad path stops
    /// iocd at start-up rather than at the first refusal.
    pub(super) fn open(path: Option<&Path>, max_bytes: u64) -> std::io::Result<DeadLetter> {
        if let Some(p) = path {
            append(p)?;
        }
        Ok(DeadLetter {
            path: path.map(Path::to_path_buf),
            max_bytes,
        })
    }

    pub(super) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Appends `r` as one line, unless there is no file or it would grow past its bound.
    pub(super) fn write(&self, r: &Refusal<'_>) -> Result<(), NotWritten> {
        let path = self.path.as_deref().ok_or(NotWritten::Unset)?;
        let mut line = r.to_line(std::time::SystemTime::now());
        line.push(b'\n');
        let mut f = append(path).map_err(NotWritten::Io)?;
        let len = f.metadata().map_err(NotWritten::Io)?.len();
        if len.saturating_add(line.len() as u64) > self.max_bytes {
            return Err(NotWritten::Full {
                max: self.max_bytes,
            });
        }
        // One write of the whole line: with O_APPEND it lands whole at the end.
        f.write_all(&line).map_err(NotWritten::Io)
    }
}

fn append(path: &Path) -> std::io::Result<std::fs::File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal<'a>(alert: &'a [u8]) -> Refusal<'a> {
        Refusal {
            sink: "http0",
            status: Some(400),
            reason: "mapper_parsing_exception",
            alert,
        }
    }

    #[test]
    fn lines_until_the_bound_then_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.jsonl");
        let len = |a: &[u8]| refusal(a).to_line(std::time::SystemTime::now()).len() as u64 + 1;
        let max = len(br#"{"n":1}"#) + len(b"not json");
        let dl = DeadLetter::open(Some(&path), max).unwrap();
        assert_eq!(dl.path(), Some(path.as_path()));
        dl.write(&refusal(br#"{"n":1}"#)).unwrap();
        dl.write(&refusal(b"not json")).unwrap();
        match dl.write(&refusal(br#"{"n":3}"#)) {
            Err(NotWritten::Full { max: m }) => assert_eq!(m, max),
            other => panic!("{other:?}"),
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["alert"], json!({"n": 1}));
        assert_eq!(lines[0]["status"], 400);
        assert_eq!(lines[0]["sink"], "http0");
        assert_eq!(lines[0]["reason"], "mapper_parsing_exception");
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["alert"], "not json");
        // Moved away: the next refusal starts a new file.
        std::fs::rename(&path, dir.path().join("old.jsonl")).unwrap();
        dl.write(&refusal(br#"{"n":4}"#)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    }

    #[test]
    fn no_file_is_said_and_a_bad_folder_fails_at_open() {
        let dl = DeadLetter::open(None, 10).unwrap();
        assert!(matches!(dl.write(&refusal(b"{}")), Err(NotWritten::Unset)));
        assert!(DeadLetter::open(Some(Path::new("/nonexistent/dir/dead.jsonl")), 10).is_err());
    }
}
