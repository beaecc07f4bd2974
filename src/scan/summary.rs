//! `--summary`: one row per indicator that hit, over every input of a scan.
//!
//! Per indicator: the lines it hit, the files they were in, the first and last event time the
//! lines say (lines without a time count, but date nothing), the distinct internal hosts
//! involved (as triage names them: the internal end of the flow, else the syslog host), and
//! the feeds that list it. Rows are sorted by hit lines, most first. Memory is one entry per
//! indicator that hit, plus its distinct hosts (at most [`MAX_HOSTS`] kept by name; beyond,
//! only counted as "more").

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::text::shown;
use crate::time::{Digits, rfc3339};
use iocd_engine::{IocId, IocSet};

/// Distinct hosts kept by name per indicator.
pub(crate) const MAX_HOSTS: usize = 1000;

#[derive(Debug, Default)]
struct Entry {
    hit_lines: u64,
    /// Indices of the inputs it hit in.
    files: BTreeSet<u32>,
    first: Option<DateTime<FixedOffset>>,
    last: Option<DateTime<FixedOffset>>,
    hosts: BTreeSet<String>,
    /// Hosts beyond [`MAX_HOSTS`] were seen.
    more_hosts: bool,
}

/// Per-indicator figures of a scan, filled input by input.
#[derive(Debug, Default)]
pub struct Summary {
    entries: HashMap<IocId, Entry>,
    /// Index of the input being scanned.
    input: u32,
}

/// One row of the summary.
#[derive(Debug, Serialize)]
pub struct Row {
    pub indicator: String,
    pub kind: &'static str,
    pub hit_lines: u64,
    pub files: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// Distinct internal hosts.
    pub hosts: u64,
    /// Their names (at most 1000, `MAX_HOSTS`), sorted.
    pub host_names: Vec<String>,
    pub feeds: Vec<String>,
}

impl Summary {
    /// The next input starts (call before each, the first included).
    pub fn next_input(&mut self) {
        self.input += 1;
    }

    /// A line hit by `id`, with the time it says and the internal host of the hit.
    pub(crate) fn add(
        &mut self,
        id: IocId,
        time: Option<DateTime<FixedOffset>>,
        host: Option<&str>,
    ) {
        let e = self.entries.entry(id).or_default();
        e.hit_lines += 1;
        e.files.insert(self.input);
        if let Some(t) = time {
            e.first = Some(e.first.map_or(t, |f| f.min(t)));
            e.last = Some(e.last.map_or(t, |l| l.max(t)));
        }
        if let Some(h) = host
            && !e.hosts.contains(h)
        {
            if e.hosts.len() < MAX_HOSTS {
                e.hosts.insert(h.to_owned());
            } else {
                e.more_hosts = true;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The rows, most hit lines first (then by indicator).
    pub fn rows(&self, set: &IocSet) -> Vec<Row> {
        let time = |t: &Option<DateTime<FixedOffset>>| t.map(|t| rfc3339(&t, Digits::Auto));
        let mut rows: Vec<Row> = self
            .entries
            .iter()
            .map(|(&id, e)| {
                let mut feeds: Vec<String> = set
                    .sources(id)
                    .iter()
                    .map(|s| set.feeds()[s.feed as usize].name.clone())
                    .collect();
                feeds.dedup();
                Row {
                    indicator: set.pattern(id).to_string(),
                    kind: set.kind(id).as_str(),
                    hit_lines: e.hit_lines,
                    files: e.files.len() as u64,
                    first_seen: time(&e.first),
                    last_seen: time(&e.last),
                    hosts: e.hosts.len() as u64 + u64::from(e.more_hosts),
                    host_names: e.hosts.iter().cloned().collect(),
                    feeds,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.hit_lines
                .cmp(&a.hit_lines)
                .then_with(|| a.indicator.cmp(&b.indicator))
        });
        rows
    }

    /// The rows as a table for people.
    pub fn write_table(&self, set: &IocSet, out: &mut dyn Write) -> io::Result<()> {
        let rows = self.rows(set);
        let width = rows
            .iter()
            .map(|r| r.indicator.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(9, 64);
        writeln!(
            out,
            "{:<width$}  {:<7} {:>8} {:>6}  {:<24}  {:<24}  {:>5}  feeds",
            "indicator", "kind", "lines", "files", "first", "last", "hosts"
        )?;
        for r in &rows {
            let hosts = if r.hosts > r.host_names.len() as u64 {
                format!("{}+", r.host_names.len())
            } else {
                r.hosts.to_string()
            };
            writeln!(
                out,
                "{:<width$}  {:<7} {:>8} {:>6}  {:<24}  {:<24}  {:>5}  {}",
                shown(&r.indicator),
                r.kind,
                r.hit_lines,
                r.files,
                r.first_seen.as_deref().unwrap_or("-"),
                r.last_seen.as_deref().unwrap_or("-"),
                hosts,
                shown(&r.feeds.join(", "))
            )?;
        }
        Ok(())
    }

    /// The rows as JSON lines, one object per indicator.
    pub fn write_json(&self, set: &IocSet, out: &mut dyn Write) -> io::Result<()> {
        for r in self.rows(set) {
            serde_json::to_writer(&mut *out, &r)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}
