//! Which indicators of the current set an export holds.
//!
//! The set is what the matcher uses: the rails, the allowlists and the lifecycle (expiry,
//! revocation, TTL) have already removed what they remove when it was compiled. On top of
//! that, selection leaves out what analysts marked as a false positive for every host, then
//! applies the export's own filters, then keeps the best-scored when there are more than
//! `max_entries`.

use std::cmp::Ordering;

use crate::config::ExportConfig;
use crate::triage::assets::Allow;
use crate::triage::score::Scorer;
use iocd_engine::{IocId, IocKind, IocSet, Pattern};

/// One indicator an export holds, with what the formats write beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub pattern: Pattern,
    /// Threat score (see [`Scorer::threat`]).
    pub score: f64,
    /// Names of the feeds that list it, in the set's feed order, without repeats.
    pub feeds: Vec<String>,
}

/// What selection reads beside the set and the export's settings.
pub struct Context<'a> {
    pub scorer: &'a Scorer,
    /// Confidence of a source that gives none (`triage.score.default_confidence`).
    pub default_confidence: u8,
    /// Unix seconds: the time scores are computed at.
    pub now: i64,
    /// Unix seconds: when the set was loaded (the age of listings without dates).
    pub loaded_at: i64,
    /// Whether the canonical indicator has an active false-positive mark for every host.
    pub marked: &'a dyn Fn(&str) -> bool,
    /// The match-time allowlist (`[triage.allow]`): what it spares is not blocked either.
    pub allow: Option<&'a Allow>,
}

/// Why indicators of the set were left out of an export, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Left {
    pub false_positive: usize,
    /// Spared by `[triage.allow]`.
    pub allowed: usize,
    pub filtered: usize,
    pub(crate) over_max: usize,
}

/// The entries of export `cfg` over `set`, best score first (ties: more feeds, then the
/// indicator's text, so the order and the cut at `max_entries` are stable).
pub fn select(set: &IocSet, cfg: &ExportConfig, cx: &Context<'_>) -> (Vec<Entry>, Left) {
    let kinds = cfg.kinds();
    let lower = |v: &[String]| -> Vec<String> { v.iter().map(|t| t.to_lowercase()).collect() };
    let (want_tags, drop_tags) = (lower(&cfg.tags), lower(&cfg.exclude_tags));
    let feeds = set.feeds();
    let mut left = Left::default();
    let mut out = Vec::new();
    let mut names: Vec<u32> = Vec::new();
    for i in 0..set.len() as u32 {
        let id = IocId(i);
        let kind = set.kind(id);
        if !kinds.contains(&kind) {
            continue;
        }
        names.clear();
        let mut confidence = 0u8;
        let (mut tag_wanted, mut tag_dropped) = (want_tags.is_empty(), false);
        for s in set.sources(id) {
            if !names.contains(&s.feed) {
                names.push(s.feed);
            }
            let meta = set.meta(s);
            confidence = confidence.max(
                meta.and_then(|m| m.confidence)
                    .unwrap_or(cx.default_confidence),
            );
            if want_tags.is_empty() && drop_tags.is_empty() {
                continue;
            }
            for t in meta.map_or(&[][..], |m| &m.tags) {
                let t = t.to_lowercase();
                tag_wanted |= want_tags.contains(&t);
                tag_dropped |= drop_tags.contains(&t);
            }
        }
        let feed_ok = |list: &[String]| {
            names
                .iter()
                .any(|&f| list.iter().any(|n| *n == feeds[f as usize].name))
        };
        if names.len() < cfg.min_feeds
            || confidence < cfg.min_confidence
            || !tag_wanted
            || tag_dropped
            || (!cfg.feeds.is_empty() && !feed_ok(&cfg.feeds))
            || feed_ok(&cfg.exclude_feeds)
        {
            left.filtered += 1;
            continue;
        }
        let score = cx.scorer.threat(set, id, cx.now, cx.loaded_at);
        if score < cfg.min_score {
            left.filtered += 1;
            continue;
        }
        let pattern = set.pattern(id);
        let text = pattern.to_string();
        if (cx.marked)(&text) {
            left.false_positive += 1;
            continue;
        }
        if cx.allow.is_some_and(|a| a.covers(&pattern, &text)) {
            left.allowed += 1;
            continue;
        }
        let entry = Entry {
            pattern,
            score,
            feeds: names
                .iter()
                .map(|&f| feeds[f as usize].name.clone())
                .collect(),
        };
        out.push((entry, text));
    }
    // The text is computed once per entry, not once per comparison.
    out.sort_by(best_first);
    if cfg.max_entries > 0 && out.len() > cfg.max_entries {
        left.over_max = out.len() - cfg.max_entries;
        out.truncate(cfg.max_entries);
    }
    (out.into_iter().map(|(e, _)| e).collect(), left)
}

fn best_first((a, at): &(Entry, String), (b, bt): &(Entry, String)) -> Ordering {
    b.score
        .total_cmp(&a.score)
        .then(b.feeds.len().cmp(&a.feeds.len()))
        .then_with(|| kind_rank(&a.pattern).cmp(&kind_rank(&b.pattern)))
        .then_with(|| at.cmp(bt))
}

fn kind_rank(p: &Pattern) -> (IocKind, bool) {
    match p {
        Pattern::Domain { subdomains, .. } => (IocKind::Domain, !subdomains),
        Pattern::Url { prefix, .. } => (IocKind::Url, !prefix),
        _ => (p.kind(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::triage::{PriorityConfig, ScoreConfig};
    use crate::ioc::parse_indicator;
    use iocd_engine::{Compiler, Meta, SourceRef};

    fn cfg(extra: &str) -> ExportConfig {
        toml::from_str(&format!(
            "name = \"t\"\nformat = \"plain\"\npath = \"/tmp/x\"\n{extra}"
        ))
        .unwrap()
    }

    /// feeds a (confidence 90, tag c2), b (confidence 40, tag scanner), c (no metadata).
    fn set() -> IocSet {
        let mut c = Compiler::new();
        let (a, b, cc) = (
            c.add_feed("a", "a"),
            c.add_feed("b", "b"),
            c.add_feed("c", "c"),
        );
        let meta = |conf: u8, tag: &str| Meta {
            confidence: Some(conf),
            tags: vec![tag.to_owned()],
            ..Meta::default()
        };
        let p = |v: &str| parse_indicator(v).unwrap();
        c.add_with_meta(&p("198.51.100.1"), SourceRef::plain(a, 1), meta(90, "C2"));
        c.add_with_meta(
            &p("198.51.100.1"),
            SourceRef::plain(b, 1),
            meta(40, "scanner"),
        );
        c.add(&p("198.51.100.1"), SourceRef::plain(cc, 1));
        c.add_with_meta(&p("evil.example"), SourceRef::plain(a, 2), meta(90, "c2"));
        c.add_with_meta(
            &p("203.0.113.7"),
            SourceRef::plain(b, 2),
            meta(40, "scanner"),
        );
        c.add(&p("fp.example"), SourceRef::plain(cc, 2));
        c.build()
    }

    fn run(set: &IocSet, cfg: &ExportConfig) -> (Vec<String>, Left) {
        let scorer = Scorer::new(ScoreConfig::default(), PriorityConfig::default());
        let marked = |s: &str| s == "fp.example";
        let cx = Context {
            scorer: &scorer,
            default_confidence: 50,
            now: 1_000_000,
            loaded_at: 1_000_000,
            marked: &marked,
            allow: None,
        };
        let (e, left) = select(set, cfg, &cx);
        (e.iter().map(|e| e.pattern.to_string()).collect(), left)
    }

    #[test]
    fn filters_table() {
        let s = set();
        let rows: &[(&str, &[&str])] = &[
            ("", &["198.51.100.1", "evil.example", "203.0.113.7"]),
            ("types = [\"domain\"]", &["evil.example"]),
            ("min_feeds = 2", &["198.51.100.1"]),
            ("min_confidence = 60", &["198.51.100.1", "evil.example"]),
            ("feeds = [\"b\"]", &["198.51.100.1", "203.0.113.7"]),
            ("exclude_feeds = [\"b\"]", &["evil.example"]),
            ("tags = [\"c2\"]", &["198.51.100.1", "evil.example"]),
            ("exclude_tags = [\"SCANNER\"]", &["evil.example"]),
            ("max_entries = 1", &["198.51.100.1"]),
            ("min_score = 40", &["198.51.100.1"]),
        ];
        for (extra, want) in rows {
            let (got, _) = run(&s, &cfg(extra));
            assert_eq!(&got, want, "{extra}");
        }
    }

    #[test]
    fn false_positives_and_cuts_are_counted() {
        let (got, left) = run(&set(), &cfg("max_entries = 2"));
        assert_eq!(got, ["198.51.100.1", "evil.example"]);
        assert_eq!(
            left,
            Left {
                false_positive: 1,
                allowed: 0,
                filtered: 0,
                over_max: 1
            }
        );
    }

    /// What `[triage.allow]` spares from alerts is not blocked: the indicator, addresses in
    /// and networks overlapping its networks, its host names and their parents.
    #[test]
    fn the_match_time_allowlist_is_not_blocked() {
        let mut c = Compiler::new();
        let f = c.add_feed("f", "f");
        let values = [
            "198.51.100.9",
            "198.51.100.200",
            "198.51.0.0/16",
            "203.0.113.0/24",
            "scanner.corp.example",
            "corp.example",
            "other.example",
            "evil.example",
        ];
        for (i, v) in values.iter().enumerate() {
            c.add(&parse_indicator(v).unwrap(), SourceRef::plain(f, i as u32));
        }
        let set = c.build();
        let triage: crate::config::triage::TriageConfig = toml::from_str(
            "[allow]\nnetworks = [\"198.51.100.0/25\"]\n\
             hostnames = [\"scanner.corp.example\"]\nindicators = [\"evil.example\"]\n",
        )
        .unwrap();
        let allow = Allow::new(&triage);
        let scorer = Scorer::new(ScoreConfig::default(), PriorityConfig::default());
        let cx = Context {
            scorer: &scorer,
            default_confidence: 50,
            now: 0,
            loaded_at: 0,
            marked: &|_| false,
            allow: Some(&allow),
        };
        let (e, left) = select(&set, &cfg(""), &cx);
        let mut got: Vec<String> = e.iter().map(|e| e.pattern.to_string()).collect();
        got.sort();
        assert_eq!(got, ["198.51.100.200", "203.0.113.0/24", "other.example"]);
        assert_eq!(left.allowed, 5);
    }
}
