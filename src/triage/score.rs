//! The explained score: 0-100 from what the feeds say about an indicator, how old that is,
//! what the log says happened, and how much the internal host matters.
//!
//! ```text
//! threat  = confidence + severity + feeds            (each capped by its `*_points`)
//! score   = threat * decay(age) + context + asset     (clamped to 0..=100)
//! ```
//!
//! Every term is a [`Component`] with its input and its contribution in points, and the
//! contributions add up to the score (the decay is the negative `age` component, the clamp a
//! `bounds` component), so an analyst reads why an alert has its priority. The formulas and
//! defaults are in `docs/ALERT_QUALITY.md`.

use serde::Serialize;

use crate::config::triage::{Priority, PriorityConfig, ScoreConfig};
use crate::decode::event::{Action, Direction};
use iocd_engine::{IocId, IocSet};

/// One term of a score.
///
/// In JSON, `input` is always a string (`"90"`, `"outbound/allowed"`) and a numeric input is
/// also given as the number `value`: every component of `iocd.score_components[]` is one
/// field of a SIEM's index, and a field that is a number in one component and a string in
/// the next makes Elasticsearch refuse the whole alert (a mapping conflict).
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    pub name: &'static str,
    /// What the term was computed from (a number, or a label such as `outbound/allowed`).
    pub input: Input,
    /// Points added to the score (negative for the decay and demotions).
    pub contribution: f64,
    /// Where the input came from, in words.
    pub(crate) note: Option<String>,
}

impl Serialize for Component {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", self.name)?;
        match &self.input {
            Input::Number(n) => {
                m.serialize_entry("input", &n.to_string())?;
                m.serialize_entry("value", n)?;
            }
            Input::Label(l) => m.serialize_entry("input", l)?,
        }
        m.serialize_entry("contribution", &self.contribution)?;
        if let Some(n) = &self.note {
            m.serialize_entry("note", n)?;
        }
        m.end()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Input {
    Number(f64),
    Label(String),
}

/// A score and the terms that made it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Score {
    /// 0-100, one decimal: the sum of the components' contributions.
    pub value: f64,
    pub(crate) components: Vec<Component>,
}

impl Score {
    /// Adds a term; contributions are kept to one decimal so that the ones an alert shows
    /// add up to the score it shows.
    fn push(&mut self, name: &'static str, input: Input, points: f64, note: Option<String>) {
        // `+ 0.0` turns -0.0 into 0.0 (a decay of nothing reads as 0, not -0).
        let contribution = round1(points) + 0.0;
        self.value = round1(self.value + contribution);
        self.components.push(Component {
            name,
            input,
            contribution,
            note,
        });
    }

    /// Clamps to 0..=100 with a `bounds` term (only when needed).
    fn clamp(&mut self) {
        let v = self.value;
        let c = v.clamp(0.0, 100.0);
        if c != v {
            self.push(
                "bounds",
                Input::Number(v),
                c - v,
                Some("the score stays within 0-100".into()),
            );
        }
    }

    /// Bounds the score to `lo..=hi` with a term named `name`, pushed even when the score
    /// is already within them (a 0-point term): the choice is explained either way.
    pub fn bound(&mut self, name: &'static str, input: Input, lo: f64, hi: f64, note: String) {
        let v = self.value;
        let target = v.max(lo.min(100.0)).min(hi.max(0.0));
        self.push(name, input, target - v, Some(note));
    }

    /// Caps the score at `max` with a term named `name` (a demotion).
    pub fn cap(&mut self, name: &'static str, input: Input, max: f64, note: String) {
        if self.value > max {
            let v = self.value;
            self.push(name, input, max - v, Some(note));
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// MISP's polynomial decay: `1 - (t/tau)^(1/delta)` for `0 <= t < tau`, 1 before, 0 after.
pub fn decay(age_secs: f64, tau_secs: f64, delta: f64) -> f64 {
    if age_secs <= 0.0 {
        1.0
    } else if age_secs >= tau_secs {
        0.0
    } else {
        1.0 - (age_secs / tau_secs).powf(1.0 / delta)
    }
}

/// What the log line says about the hit, as the score reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Situation<'a> {
    pub direction: Direction,
    /// Whether `direction` was inferred from the matched field rather than stated by the log
    /// or derived from both addresses.
    pub inferred: bool,
    pub action: Option<Action>,
    /// `action` is `Allowed` because a passive sensor saw the traffic, not because the log
    /// said so.
    pub(crate) seen_by_sensor: bool,
    /// The ECS field the indicator was found in.
    pub field: Option<&'a str>,
}

/// The internal host's criticality and where it came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Criticality<'a> {
    /// 0-100, or `None` when no internal host is known.
    pub value: Option<u8>,
    /// The `[[triage.assets]]` entry that set it, if any.
    pub asset: Option<&'a str>,
}

/// Computes scores; built once per configuration.
#[derive(Clone, Debug)]
pub struct Scorer {
    cfg: ScoreConfig,
    levels: PriorityConfig,
}

impl Scorer {
    pub fn new(cfg: ScoreConfig, levels: PriorityConfig) -> Scorer {
        Scorer { cfg, levels }
    }

    pub fn level(&self, score: f64) -> Priority {
        self.levels.level(score)
    }

    pub fn levels(&self) -> &PriorityConfig {
        &self.levels
    }

    /// The score of a hit of `id` seen at `now` (Unix seconds); `loaded_at` is when the
    /// indicator set was loaded (the age of listings that carry no date).
    pub fn score(
        &self,
        set: &IocSet,
        id: IocId,
        now: i64,
        loaded_at: i64,
        situation: &Situation<'_>,
        criticality: &Criticality<'_>,
    ) -> Score {
        let c = &self.cfg;
        let feeds = set.feeds();
        let mut best_conf = (-1.0f64, String::new());
        let mut best_sev = (-1.0f64, String::new());
        let mut reference = i64::MIN;
        let mut distinct: Vec<u32> = Vec::new();
        for s in set.sources(id) {
            let meta = set.meta(s);
            let feed = &feeds[s.feed as usize];
            let weight = feed.weight.max(0.0);
            let conf = meta
                .and_then(|m| m.confidence)
                .unwrap_or(c.default_confidence) as f64;
            let weighted = (conf * weight).min(100.0);
            if weighted > best_conf.0 {
                best_conf = (
                    weighted,
                    format!("{}: confidence {conf} x weight {weight}", feed.name),
                );
            }
            let sev = meta.and_then(|m| m.severity).unwrap_or(c.default_severity) as f64;
            if sev > best_sev.0 {
                best_sev = (sev, format!("{}: severity {sev}", feed.name));
            }
            let seen = meta
                .and_then(|m| m.last_seen.or(m.first_seen))
                .unwrap_or(loaded_at);
            reference = reference.max(seen);
            if weight > 0.0 && !distinct.contains(&s.feed) {
                distinct.push(s.feed);
            }
        }
        if reference == i64::MIN {
            reference = loaded_at;
        }
        let mut score = Score {
            value: 0.0,
            components: Vec::with_capacity(8),
        };
        let conf = best_conf.0.max(0.0);
        score.push(
            "confidence",
            Input::Number(round1(conf)),
            c.confidence_points * conf / 100.0,
            Some(best_conf.1),
        );
        let sev = best_sev.0.max(0.0);
        score.push(
            "severity",
            Input::Number(sev),
            c.severity_points * sev / 100.0,
            Some(best_sev.1),
        );
        let n = distinct.len();
        let agree = if n == 0 {
            0.0
        } else {
            1.0 - 0.5f64.powi(n as i32 - 1)
        };
        let names: Vec<&str> = distinct
            .iter()
            .map(|&f| feeds[f as usize].name.as_str())
            .collect();
        score.push(
            "feeds",
            Input::Number(n as f64),
            c.feeds_points * agree,
            Some(names.join(", ")),
        );
        let threat = score.value;
        let age = now.saturating_sub(reference).max(0) as f64;
        let kind = set.kind(id);
        let tau = c.decay.tau_of(kind).as_secs_f64();
        let d = decay(age, tau, c.decay.delta);
        score.push(
            "age",
            Input::Number(round1(age / 86_400.0)),
            -(1.0 - d) * threat,
            Some(format!(
                "days since last seen; decay {:.2} of the threat points (tau {} days for {kind})",
                d,
                round1(tau / 86_400.0)
            )),
        );
        let (label, points) = self.context(situation);
        let mut note = match situation.field {
            Some(f) => format!("matched {f}"),
            None => "matched field unknown".to_owned(),
        };
        if situation.inferred {
            note.push_str("; direction inferred from the matched field");
        }
        if situation.seen_by_sensor {
            note.push_str("; no verdict in the log, but a passive sensor saw it: it got through");
        }
        score.push("context", Input::Label(label), points, Some(note));
        let (crit, note) = match (criticality.value, criticality.asset) {
            (Some(v), Some(a)) => (v, format!("asset {a}")),
            (Some(v), None) => (v, "internal host not in [[triage.assets]]".to_owned()),
            (None, _) => (0, "no internal host known".to_owned()),
        };
        score.push(
            "asset",
            Input::Number(crit as f64),
            c.asset_points * crit as f64 / 100.0,
            Some(note),
        );
        score.clamp();
        score
    }

    /// The threat part of [`Scorer::score`] for `id`: confidence, severity and agreeing
    /// feeds, decayed by age, without the log's context or the asset (both belong to a hit,
    /// and an indicator exported to a firewall has none), rounded as `score` rounds each term.
    /// Numbers only: it builds no notes, so it can run over a whole set (exports).
    pub fn threat(&self, set: &IocSet, id: IocId, now: i64, loaded_at: i64) -> f64 {
        let c = &self.cfg;
        let feeds = set.feeds();
        let (mut conf, mut sev, mut reference) = (-1.0f64, -1.0f64, i64::MIN);
        let mut distinct: Vec<u32> = Vec::new();
        for s in set.sources(id) {
            let meta = set.meta(s);
            let weight = feeds[s.feed as usize].weight.max(0.0);
            let cf = meta
                .and_then(|m| m.confidence)
                .unwrap_or(c.default_confidence) as f64;
            conf = conf.max((cf * weight).min(100.0));
            sev = sev.max(meta.and_then(|m| m.severity).unwrap_or(c.default_severity) as f64);
            let seen = meta
                .and_then(|m| m.last_seen.or(m.first_seen))
                .unwrap_or(loaded_at);
            reference = reference.max(seen);
            if weight > 0.0 && !distinct.contains(&s.feed) {
                distinct.push(s.feed);
            }
        }
        if reference == i64::MIN {
            reference = loaded_at;
        }
        let n = distinct.len();
        let agree = if n == 0 {
            0.0
        } else {
            1.0 - 0.5f64.powi(n as i32 - 1)
        };
        let threat = round1(
            round1(c.confidence_points * conf.max(0.0) / 100.0)
                + round1(c.severity_points * sev.max(0.0) / 100.0)
                + round1(c.feeds_points * agree),
        );
        let age = now.saturating_sub(reference).max(0) as f64;
        let tau = c.decay.tau_of(set.kind(id)).as_secs_f64();
        let d = decay(age, tau, c.decay.delta);
        round1(threat + round1(-(1.0 - d) * threat) + 0.0).clamp(0.0, 100.0)
    }

    /// The context label (`outbound/allowed`) and its points.
    fn context(&self, s: &Situation<'_>) -> (String, f64) {
        let p = &self.cfg.context;
        let verdict = match s.action {
            Some(a) if a.is_blocked() => "blocked",
            Some(_) => "allowed",
            None => "unknown",
        };
        let points = match (s.direction, verdict) {
            (Direction::Outbound, "allowed") => p.outbound_allowed,
            (Direction::Outbound, "blocked") => p.outbound_blocked,
            (Direction::Outbound, _) => p.outbound,
            (Direction::Inbound, "allowed") => p.inbound_allowed,
            (Direction::Inbound, "blocked") => p.inbound_blocked,
            (Direction::Inbound, _) => p.inbound,
            (Direction::Internal, _) => p.internal,
            _ => p.unknown,
        };
        (format!("{}/{verdict}", s.direction.as_str()), points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iocd_engine::{Compiler, Meta, Pattern, SourceRef};

    const DAY: i64 = 86_400;

    fn situation(direction: Direction, action: Option<Action>) -> Situation<'static> {
        Situation {
            direction,
            inferred: false,
            action,
            seen_by_sensor: false,
            field: Some("destination.ip"),
        }
    }

    fn scorer() -> Scorer {
        Scorer::new(ScoreConfig::default(), PriorityConfig::default())
    }

    #[test]
    fn decay_curve() {
        let tau = 30.0 * DAY as f64;
        assert_eq!(decay(0.0, tau, 0.5), 1.0);
        assert_eq!(decay(-5.0, tau, 0.5), 1.0);
        assert_eq!(decay(tau, tau, 0.5), 0.0);
        assert_eq!(decay(2.0 * tau, tau, 0.5), 0.0);
        // delta 0.5: 1 - (t/tau)^2
        assert!((decay(tau / 2.0, tau, 0.5) - 0.75).abs() < 1e-12);
        assert!((decay(tau * 0.9, tau, 0.5) - 0.19).abs() < 1e-12);
        // delta 1: linear; delta 2: square root, fast early
        assert!((decay(tau / 4.0, tau, 1.0) - 0.75).abs() < 1e-12);
        assert!((decay(tau / 4.0, tau, 2.0) - 0.5).abs() < 1e-12);
        // monotonic
        let mut last = 1.0;
        for i in 0..=30 {
            let d = decay(i as f64 * DAY as f64, tau, 0.5);
            assert!(d <= last);
            last = d;
        }
    }

    fn set_with(listings: &[(&str, f64, Meta)]) -> IocSet {
        let mut c = Compiler::new();
        let p = Pattern::Ipv4("203.0.113.9".parse().unwrap());
        for (i, (name, weight, meta)) in listings.iter().enumerate() {
            let f = c.add_feed(name, name);
            c.set_feed_weight(f, *weight);
            c.add_with_meta(&p, SourceRef::plain(f, i as u32 + 1), meta.clone());
        }
        c.build()
    }

    fn sum(s: &Score) -> f64 {
        s.components.iter().map(|c| c.contribution).sum()
    }

    fn get<'a>(s: &'a Score, name: &str) -> &'a Component {
        s.components.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn threat_is_the_score_without_context_and_asset() {
        let now = 1_000 * DAY;
        let set = set_with(&[
            (
                "feodo",
                1.0,
                Meta {
                    confidence: Some(85),
                    severity: Some(70),
                    last_seen: Some(now - 11 * DAY),
                    ..Meta::default()
                },
            ),
            ("ipsum", 0.7, Meta::default()),
            ("zero", 0.0, Meta::default()),
        ]);
        let id = crate::IocId(0);
        for loaded in [now - 40 * DAY, now - 2 * DAY, now] {
            let s = scorer().score(
                &set,
                id,
                now,
                loaded,
                &situation(Direction::Unknown, None),
                &Criticality {
                    value: None,
                    asset: None,
                },
            );
            let threat: f64 = ["confidence", "severity", "feeds", "age"]
                .iter()
                .map(|n| get(&s, n).contribution)
                .sum();
            let t = scorer().threat(&set, id, now, loaded);
            assert!((t - round1(threat)).abs() < 1e-9, "{t} vs {s:?}");
            assert!(t > 0.0);
        }
    }

    #[test]
    fn components_add_up_and_explain() {
        let now = 1_000 * DAY;
        let set = set_with(&[
            (
                "feodo",
                1.0,
                Meta {
                    confidence: Some(90),
                    severity: Some(80),
                    last_seen: Some(now - 15 * DAY),
                    ..Meta::default()
                },
            ),
            ("ipsum", 0.5, Meta::default()),
        ]);
        let id = crate::IocId(0);
        let s = scorer().score(
            &set,
            id,
            now,
            now - 3 * DAY,
            &situation(Direction::Outbound, Some(Action::Allowed)),
            &Criticality {
                value: Some(80),
                asset: Some("dc"),
            },
        );
        assert!((sum(&s) - s.value).abs() < 1e-9, "{s:?}");
        // confidence: max(90 x 1.0, 50 x 0.5) = 90 -> 27 of 30 points
        assert_eq!(get(&s, "confidence").input, Input::Number(90.0));
        assert_eq!(get(&s, "confidence").contribution, 27.0);
        assert_eq!(get(&s, "severity").contribution, 16.0);
        // two feeds agree: half the feeds points
        assert_eq!(get(&s, "feeds").contribution, 5.0);
        // ipsum has no date: its reference is the load time, 3 days ago (the freshest).
        assert_eq!(get(&s, "age").input, Input::Number(3.0));
        let d = decay(3.0 * DAY as f64, 30.0 * DAY as f64, 0.5);
        assert!((get(&s, "age").contribution - round1(-(1.0 - d) * 48.0)).abs() < 1e-9);
        assert_eq!(
            get(&s, "context").input,
            Input::Label("outbound/allowed".into())
        );
        assert_eq!(get(&s, "context").contribution, 25.0);
        assert_eq!(get(&s, "asset").contribution, 16.0);
        assert!(s.value >= 80.0, "{s:?}");
        assert_eq!(scorer().level(s.value), Priority::Critical);
    }

    #[test]
    fn blocked_inbound_scan_ranks_below_allowed_outbound() {
        let now = 500 * DAY;
        let set = set_with(&[("ipsum", 1.0, Meta::default())]);
        let id = crate::IocId(0);
        let crit = Criticality {
            value: Some(25),
            asset: None,
        };
        let out = scorer().score(
            &set,
            id,
            now,
            now,
            &situation(Direction::Outbound, Some(Action::Allowed)),
            &crit,
        );
        let scan = scorer().score(
            &set,
            id,
            now,
            now,
            &situation(Direction::Inbound, Some(Action::Dropped)),
            &crit,
        );
        assert_eq!(out.value - scan.value, 45.0);
        assert_eq!(scorer().level(scan.value), Priority::Info, "{scan:?}");
        assert!((sum(&scan) - scan.value).abs() < 1e-9);
    }

    #[test]
    fn old_listings_lose_their_threat_points_and_bounds_hold() {
        let now = 900 * DAY;
        let set = set_with(&[(
            "old",
            1.0,
            Meta {
                confidence: Some(100),
                severity: Some(100),
                first_seen: Some(now - 400 * DAY),
                ..Meta::default()
            },
        )]);
        let s = scorer().score(
            &set,
            crate::IocId(0),
            now,
            now,
            &situation(Direction::Inbound, Some(Action::Blocked)),
            &Criticality {
                value: None,
                asset: None,
            },
        );
        // threat 50 decayed to 0, context -20: clamped at 0 by a bounds term
        assert_eq!(get(&s, "age").contribution, -50.0);
        assert_eq!(get(&s, "bounds").contribution, 20.0);
        assert_eq!(s.value, 0.0);
        assert!((sum(&s) - s.value).abs() < 1e-9);
    }

    #[test]
    fn every_component_has_the_same_json_types() {
        // Elasticsearch maps `iocd.score_components.input` once: number in one component
        // and string in another, and it refuses the whole alert.
        let set = set_with(&[("c2", 1.0, Meta::default())]);
        let s = scorer().score(
            &set,
            crate::IocId(0),
            100 * DAY,
            100 * DAY,
            &situation(Direction::Outbound, Some(Action::Allowed)),
            &Criticality {
                value: Some(40),
                asset: None,
            },
        );
        let v = serde_json::to_value(&s.components).unwrap();
        let comps = v.as_array().unwrap();
        assert!(comps.len() >= 6, "{v}");
        for c in comps {
            assert!(c["name"].is_string() && c["input"].is_string(), "{c}");
            assert!(c["contribution"].is_f64(), "{c}");
            assert!(c.get("value").is_none_or(|x| x.is_f64()), "{c}");
        }
        let conf = comps.iter().find(|c| c["name"] == "confidence").unwrap();
        assert_eq!(
            (conf["input"].as_str(), conf["value"].as_f64()),
            (Some("50"), Some(50.0))
        );
        let ctx = comps.iter().find(|c| c["name"] == "context").unwrap();
        assert_eq!(ctx["input"], "outbound/allowed");
        assert!(ctx.get("value").is_none());
    }

    #[test]
    fn ages_far_off_do_not_overflow() {
        let set = set_with(&[(
            "odd",
            1.0,
            Meta {
                last_seen: Some(i64::MIN + 1),
                ..Meta::default()
            },
        )]);
        let s = scorer().score(
            &set,
            crate::IocId(0),
            i64::MAX,
            0,
            &situation(Direction::Outbound, None),
            &Criticality {
                value: None,
                asset: None,
            },
        );
        assert!(
            s.value.is_finite() && (0.0..=100.0).contains(&s.value),
            "{s:?}"
        );
    }

    #[test]
    fn cap_is_a_term() {
        let mut s = Score {
            value: 0.0,
            components: Vec::new(),
        };
        s.push("x", Input::Number(1.0), 70.0, None);
        s.cap("flood", Input::Number(80.0), 19.9, "demoted".into());
        assert_eq!(s.value, 19.9);
        assert_eq!(s.components[1].contribution, -50.1);
        s.cap("flood", Input::Number(80.0), 30.0, "no-op".into());
        assert_eq!(s.components.len(), 2);
    }
}
