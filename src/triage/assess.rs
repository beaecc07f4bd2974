//! Assessing a line: each hit located, filtered, flood-checked and scored, then the line's
//! windows consulted ([`Triage::assess`]).

use std::sync::{Arc, PoisonError};

use crate::decode::event::{Action, Direction, Event};
use iocd_engine::{Hit, IocSet};

use super::dedup::{self, Seen};
use super::facts::locate;
use super::flood::{Flood, FloodClass, Seen as FloodSeen};
use super::score::{Criticality, Input, Score, Situation};
use super::verdict::feeds_of;
use super::*;

/// A line with hits, as [`Triage::assess`] reads it.
#[derive(Clone, Copy)]
pub struct LineHits<'a> {
    /// The indicator set that matched, and its generation.
    pub set: &'a IocSet,
    pub generation: u64,
    /// The decoded line, when its format is known.
    pub event: Option<&'a Event>,
    /// What it says ([`LineFacts::new`]).
    pub facts: &'a LineFacts,
    /// Its syslog header's host.
    pub hostname: Option<&'a str>,
    /// Its hits, offsets relative to the line.
    pub hits: &'a [Hit],
}

/// When a line is assessed: ms and seconds since the epoch, and when its set was loaded (s).
#[derive(Clone, Copy)]
struct At {
    ms: i64,
    secs: i64,
    loaded: i64,
}

/// A hit kept, with its internal host and its flood (distinct hosts and what it is).
type Located = (Kept, Option<String>, Option<(u64, FloodVerdict)>);

/// The window a line's alert is about: the index of its hit, the alert type, what an
/// escalation escalated from.
type Outcome = (usize, AlertType, Option<(Priority, u64)>);

impl Triage {
    /// Decides what `line` becomes, at the clock's time.
    pub fn assess(&self, line: &LineHits<'_>, tally: &mut Tally) -> Assessment {
        self.assess_at(line, tally, self.clock.now_ms())
    }

    /// [`Triage::assess`] at `now_ms`, the time the line is triaged at (the daemon's
    /// [`EventClock::observe`] of the line's event time) rather than the clock's.
    pub(crate) fn assess_at(
        &self,
        line: &LineHits<'_>,
        tally: &mut Tally,
        now_ms: i64,
    ) -> Assessment {
        let secs = now_ms.div_euclid(1000);
        let at = At {
            ms: now_ms,
            secs,
            loaded: self.loaded_at(line.generation, secs),
        };
        let mut out = Assessment::default();
        tally.hits += line.hits.len() as u64;
        tally.lines += 1;
        self.name_feeds(line.set, line.generation, tally);
        let kept: Vec<Located> = line
            .hits
            .iter()
            .filter_map(|&hit| self.keep(line, hit, at, tally, &mut out.extra))
            .collect();
        let Some(best) = (0..kept.len()).max_by(|&a, &b| {
            kept[a]
                .0
                .score
                .value
                .total_cmp(&kept[b].0.score.value)
                .then(b.cmp(&a))
        }) else {
            return out;
        };
        match self.see_windows(line.set, &kept, best, at, tally, &mut out.extra) {
            Some(outcome) => out.verdict = Some(self.verdict(line.set, kept, outcome, tally)),
            None => tally.suppressed[Suppressed::Duplicate as usize] += kept.len() as u64,
        }
        out
    }

    /// One hit located and scored, or `None` when the allowlist or an analyst's mark drops
    /// it. A flood it starts is reported in `extra`.
    fn keep(
        &self,
        line: &LineHits<'_>,
        hit: Hit,
        at: At,
        tally: &mut Tally,
        extra: &mut Vec<Outgoing>,
    ) -> Option<Located> {
        let (set, facts) = (line.set, line.facts);
        count_feeds(set, hit, tally);
        let indicator = set.pattern(hit.id).to_string();
        let field = line
            .event
            .and_then(|e| e.field_at(hit.start..hit.end))
            .map(|f| f.name.to_string());
        let (direction, inferred, host) =
            locate(facts, field.as_deref(), line.hostname, &self.assets);
        if self.suppressed(line, &indicator, host.as_deref(), at, tally) {
            return None;
        }
        let action = facts
            .action
            .or(facts.seen_by_sensor.then_some(Action::Allowed));
        let seen = (host.as_deref(), direction, action);
        let flood = self.flood_of(set, hit, &indicator, seen, at, tally);
        if let Some((hosts, v, true)) = &flood
            && *v != FloodVerdict::Scan
        {
            extra.push(self.flood_report(set, hit, *hosts, v, at.ms, tally));
        }
        let flood = flood.map(|(hosts, v, _)| (hosts, v));
        let crit = host.as_deref().map(|h| self.assets.criticality(h));
        let situation = Situation {
            direction,
            inferred,
            action,
            seen_by_sensor: facts.seen_by_sensor,
            field: field.as_deref(),
        };
        let criticality = Criticality {
            value: crit.map(|c| c.0),
            asset: crit.and_then(|c| c.1),
        };
        let mut score =
            self.scorer
                .score(set, hit.id, at.secs, at.loaded, &situation, &criticality);
        if let Some((n, v)) = &flood {
            self.explain_flood(&mut score, *n, v);
        }
        let priority = self.scorer.level(score.value);
        let kept = Kept {
            hit,
            indicator,
            field,
            direction,
            score,
            priority,
        };
        Some((kept, host, flood))
    }

    /// Whether a hit of `indicator` on `host` is dropped: an allowlisted host or indicator,
    /// or an analyst's false-positive mark (counted; sightings recorded).
    fn suppressed(
        &self,
        line: &LineHits<'_>,
        indicator: &str,
        host: Option<&str>,
        at: At,
        tally: &mut Tally,
    ) -> bool {
        let facts = line.facts;
        let by_host = !self.allow.is_empty()
            && (facts.src_ip.is_some_and(|i| self.allow.address(i))
                || facts.dst_ip.is_some_and(|i| self.allow.address(i))
                || host.is_some_and(|h| self.allow.host(h))
                || line.hostname.is_some_and(|h| self.allow.host(h)));
        if by_host {
            // Our own scanner or a known-good host: not a sighting of the indicator.
            tally.suppressed[Suppressed::Allowlist as usize] += 1;
            return true;
        }
        if self.allow.indicator(indicator) {
            tally.suppressed[Suppressed::Allowlist as usize] += 1;
            if let Some(s) = &self.sightings {
                s.record(indicator, true, at.secs);
            }
            return true;
        }
        let fp = self
            .feedback
            .as_ref()
            .and_then(|f| f.verdict(indicator, host))
            .is_some();
        if let Some(s) = &self.sightings {
            s.record(indicator, fp, at.secs);
        }
        if fp {
            tally.suppressed[Suppressed::FalsePositive as usize] += 1;
        }
        fp
    }

    /// The flood guard's view of a hit (`seen`: its host, direction and action): `None`
    /// when its indicator is not flooding, else distinct hosts, what the flood is, and
    /// whether this hit started it. Scans go to the flood summary.
    fn flood_of(
        &self,
        set: &IocSet,
        hit: Hit,
        indicator: &str,
        seen: (Option<&str>, Direction, Option<Action>),
        at: At,
        tally: &mut Tally,
    ) -> Option<(u64, FloodVerdict, bool)> {
        let g = self.flood.as_ref()?;
        let (host, direction, action) = seen;
        let ih = self.hash(&[indicator]);
        let hh = self.hash(&[host.unwrap_or("")]);
        let seen = match (direction, action.map(|a| a.is_blocked())) {
            (Direction::Inbound, Some(true)) => FloodSeen::InboundBlocked,
            (Direction::Outbound, Some(false)) => FloodSeen::OutboundAllowed,
            _ => FloodSeen::Other,
        };
        let (hosts, class, started) = match g.see(ih, hh, seen, at.ms, &mut tally.flood_evictions) {
            Flood::Normal => return None,
            Flood::Started { hosts, class } => (hosts, class, true),
            Flood::Flooding { hosts, class } => (hosts, class, false),
        };
        let v = self.flood_verdict(set, hit, class);
        if started {
            tally.floods += 1;
        }
        if v == FloodVerdict::Scan {
            self.summary
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .add(indicator, ih, hh);
        }
        Some((hosts, v, started))
    }

    /// Every kept hit through its deduplication window, the best-scored (`best`) first: the
    /// window the alert is about, or `None` when every hit is a duplicate. Roll-ups of windows
    /// this line closed go to `extra`.
    ///
    /// Every indicator of the line has its own window (indicator, internal host, direction):
    /// a new indicator seen beside one already alerted is a new alert, not a duplicate of the
    /// other. The best-scored hit goes first, so that it is the alert's when it opens or
    /// escalates its window; otherwise the alert is the first indicator that did.
    fn see_windows(
        &self,
        set: &IocSet,
        kept: &[Located],
        best: usize,
        at: At,
        tally: &mut Tally,
        extra: &mut Vec<Outgoing>,
    ) -> Option<Outcome> {
        let order = std::iter::once(best).chain((0..kept.len()).filter(|&i| i != best));
        let mut seen_keys: Vec<u64> = Vec::with_capacity(kept.len());
        let mut outcome: Option<Outcome> = None;
        let mut fx = dedup::Effects::default();
        for i in order {
            let (k, host, flood) = &kept[i];
            // A demoted flooding indicator is one window whatever the host: one alert per host
            // of a scan or a likely false positive would be the flood again. A possible
            // outbreak keeps a window per host: each host that reached it is news.
            let window_host = match flood {
                Some((_, v)) if v.demotes() => Some(FLOOD_HOST),
                _ => host.as_deref(),
            };
            let key = self.hash(&[
                &k.indicator,
                window_host.unwrap_or(""),
                k.direction.as_str(),
            ]);
            if seen_keys.contains(&key) {
                // The same indicator twice in one line is one hit of its window.
                continue;
            }
            seen_keys.push(key);
            let describe = || {
                (
                    Arc::from(k.indicator.as_str()),
                    set.kind(k.hit.id),
                    window_host.map(Arc::from),
                    k.direction.as_str(),
                    context_of(set, k.hit.id),
                )
            };
            match self
                .dedup
                .see(key, at.ms, k.priority, k.score.value, &mut fx, describe)
            {
                Seen::Duplicate => {}
                Seen::New { closed } => {
                    extra.extend(closed.and_then(|r| self.rollup(r, tally)));
                    outcome.get_or_insert((i, AlertType::Hit, None));
                }
                Seen::Escalated { from, suppressed } => {
                    outcome.get_or_insert((i, AlertType::Escalation, Some((from, suppressed))));
                }
            }
        }
        tally.dedup_evictions += fx.evicted;
        outcome
    }

    /// The line's alert, about the window of `outcome`; counted, and folded into the digests
    /// of the sinks that do not take it at once.
    fn verdict(
        &self,
        set: &IocSet,
        kept: Vec<Located>,
        (primary, alert_type, escalated_from): Outcome,
        tally: &mut Tally,
    ) -> Verdict {
        let (p, host, flood) = &kept[primary];
        let (priority, direction) = (p.priority, p.direction);
        tally.alert(alert_type, priority);
        for f in feeds_of(set, p.hit.id) {
            tally.feeds[f].alerts[priority.index()] += 1;
        }
        let immediate = self.fold(priority, &p.indicator, host.as_deref(), 1, tally);
        let host = host.clone();
        let (flood_hosts, flood_verdict) = match flood {
            Some((n, v)) => (Some(*n), Some(v.as_str())),
            None => (None, None),
        };
        Verdict {
            kept: kept.into_iter().map(|k| k.0).collect(),
            primary,
            priority,
            host,
            direction,
            alert_type,
            escalated_from,
            window_secs: self.window.as_secs(),
            immediate,
            flood_hosts,
            flood_verdict,
        }
    }

    /// Folds an alert into the digest of every sink that does not take it at once; returns
    /// whether some sink takes it at once.
    pub(super) fn fold(
        &self,
        priority: Priority,
        indicator: &str,
        host: Option<&str>,
        hits: u64,
        tally: &mut Tally,
    ) -> bool {
        let mut immediate = self.routes.is_empty();
        if tally.digested.len() < self.routes.len() {
            tally.digested.resize(self.routes.len(), 0);
        }
        for (i, r) in self.routes.iter().enumerate() {
            if priority >= r.min {
                immediate = true;
            } else {
                r.digest
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .add(priority, indicator, host, hits);
                tally.digested[i] += 1;
            }
        }
        immediate
    }

    /// What a flood of class `class` of indicator `hit` is: an outbound flood is a possible
    /// outbreak unless a shared-infrastructure list names the indicator or its network.
    pub(super) fn flood_verdict(&self, set: &IocSet, hit: Hit, class: FloodClass) -> FloodVerdict {
        match class {
            FloodClass::Scan => FloodVerdict::Scan,
            FloodClass::Other => FloodVerdict::LikelyFalsePositive,
            FloodClass::Outbound => match self.shared.check(&set.pattern(hit.id)) {
                Some(n) => FloodVerdict::SharedInfrastructure(self.shared.name(n).to_owned()),
                None => FloodVerdict::PossibleOutbreak,
            },
        }
    }

    /// The `flood` term of a flooding indicator's score: a cap (demotion) or a floor
    /// (escalation), with why.
    pub(super) fn explain_flood(&self, score: &mut Score, hosts: u64, v: &FloodVerdict) {
        let f = &self.flood_cfg;
        let levels = self.scorer.levels();
        let within = humantime::format_duration(f.window);
        if let FloodVerdict::PossibleOutbreak = v {
            let to = f.outbreak_priority;
            score.bound(
                "flood",
                Input::Number(hosts as f64),
                levels.floor(to),
                100.0,
                format!(
                    "{hosts} distinct internal hosts reached it within {within}, outbound and allowed, \
                     and no shared-infrastructure list names it or its network: possible outbreak, at least {to}"
                ),
            );
            return;
        }
        let to = f.demote_to;
        let max = match Priority::ALL.get(to.index() + 1) {
            Some(&above) => (levels.floor(above) - 0.1).max(0.0),
            None => 100.0,
        };
        let why = match v {
            FloodVerdict::Scan => format!(
                "{hosts} distinct internal hosts within {within}, mostly inbound and blocked: \
                 a scan stopped at the edge, in the periodic flood summary; at most {to}"
            ),
            FloodVerdict::SharedInfrastructure(list) => format!(
                "{hosts} distinct internal hosts within {within}, outbound and allowed, but it \
                 or its network is in the shared-infrastructure list {list}: likely false \
                 positive, at most {to}"
            ),
            _ => format!(
                "hit {hosts} distinct internal hosts within {within}: likely false positive, at most {to}"
            ),
        };
        score.bound("flood", Input::Number(hosts as f64), 0.0, max, why);
    }
}

/// A hit counted for each feed that lists its indicator (and as unique to a feed when only
/// one does).
fn count_feeds(set: &IocSet, hit: Hit, tally: &mut Tally) {
    let listed_by = feeds_of(set, hit.id).count();
    for f in feeds_of(set, hit.id) {
        let ft = &mut tally.feeds[f];
        ft.hits += 1;
        if listed_by == 1 {
            ft.unique_hits += 1;
        }
    }
}

/// The threat context of indicator `id` for its roll-up or flood report: the first a listing of it gives, else
/// the first its feeds give (`[feeds.context]`).
pub(super) fn context_of(
    set: &IocSet,
    id: iocd_engine::IocId,
) -> Option<Arc<iocd_engine::Context>> {
    let sources = set.sources(id);
    sources
        .iter()
        .find_map(|s| set.meta(s).and_then(|m| m.context.clone()))
        .or_else(|| {
            sources
                .iter()
                .find_map(|s| set.feeds()[s.feed as usize].context.clone())
        })
}
