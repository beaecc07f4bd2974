//! Assessing a line: each hit located, filtered, flood-checked and scored, then the line's
//! windows consulted ([`Triage::assess`]).

use std::sync::{Arc, PoisonError};

use crate::decode::event::{Action, Direction, Event};
use crate::matcher::{Hit, IocSet};

use super::dedup::{self, Seen};
use super::facts::locate;
use super::flood::{Flood, FloodClass, Seen as FloodSeen};
use super::score::{Criticality, Input, Score, Situation};
use super::verdict::feeds_of;
use super::*;

impl Triage {
    /// Decides what a line with `hits` (offsets relative to the line) becomes. `ev` is the
    /// decoded line and `facts` what it says ([`LineFacts::new`]), `hostname` its syslog host.
    #[allow(clippy::too_many_arguments)]
    pub fn assess(
        &self,
        set: &IocSet,
        generation: u64,
        ev: Option<&Event>,
        facts: &LineFacts,
        hostname: Option<&str>,
        hits: &[Hit],
        tally: &mut Tally,
    ) -> Assessment {
        let now_ms = self.clock.now_ms();
        self.assess_at(set, generation, ev, facts, hostname, hits, tally, now_ms)
    }

    /// [`Triage::assess`] at `now_ms`, the time the line is triaged at (the daemon's
    /// [`EventClock::observe`] of the line's event time) rather than the clock's.
    #[allow(clippy::too_many_arguments)]
    pub fn assess_at(
        &self,
        set: &IocSet,
        generation: u64,
        ev: Option<&Event>,
        facts: &LineFacts,
        hostname: Option<&str>,
        hits: &[Hit],
        tally: &mut Tally,
        now_ms: i64,
    ) -> Assessment {
        let now_s = now_ms.div_euclid(1000);
        let loaded = self.loaded_at(generation, now_s);
        let mut out = Assessment::default();
        tally.hits += hits.len() as u64;
        tally.lines += 1;
        self.name_feeds(set, generation, tally);
        // (the hit, its internal host, its flood: distinct hosts and what it is)
        type Located = (Kept, Option<String>, Option<(u64, FloodVerdict)>);
        let mut kept: Vec<Located> = Vec::with_capacity(hits.len());
        for &hit in hits {
            let listed_by = feeds_of(set, hit.id).count();
            for f in feeds_of(set, hit.id) {
                let ft = &mut tally.feeds[f];
                ft.hits += 1;
                if listed_by == 1 {
                    ft.unique_hits += 1;
                }
            }
            let indicator = set.pattern(hit.id).to_string();
            let field = ev
                .and_then(|e| e.field_at(hit.start..hit.end))
                .map(|f| f.name.to_string());
            let (direction, inferred, host) =
                locate(facts, field.as_deref(), hostname, &self.assets);
            let by_host = !self.allow.is_empty()
                && (facts.src_ip.is_some_and(|i| self.allow.address(i))
                    || facts.dst_ip.is_some_and(|i| self.allow.address(i))
                    || host.as_deref().is_some_and(|h| self.allow.host(h))
                    || hostname.is_some_and(|h| self.allow.host(h)));
            if by_host {
                // Our own scanner or a known-good host: not a sighting of the indicator.
                tally.suppressed[Suppressed::Allowlist as usize] += 1;
                continue;
            }
            if self.allow.indicator(&indicator) {
                tally.suppressed[Suppressed::Allowlist as usize] += 1;
                if let Some(s) = &self.sightings {
                    s.record(&indicator, true, now_s);
                }
                continue;
            }
            let fp = self
                .feedback
                .as_ref()
                .and_then(|f| f.verdict(&indicator, host.as_deref()))
                .is_some();
            if let Some(s) = &self.sightings {
                s.record(&indicator, fp, now_s);
            }
            if fp {
                tally.suppressed[Suppressed::FalsePositive as usize] += 1;
                continue;
            }
            let action = facts
                .action
                .or(facts.seen_by_sensor.then_some(Action::Allowed));
            let mut flood_hosts = None;
            let mut flood_verdict = None;
            if let Some(g) = &self.flood {
                let ih = self.hash(&[&indicator]);
                let hh = self.hash(&[host.as_deref().unwrap_or("")]);
                let seen = match (direction, action.map(|a| a.is_blocked())) {
                    (Direction::Inbound, Some(true)) => FloodSeen::InboundBlocked,
                    (Direction::Outbound, Some(false)) => FloodSeen::OutboundAllowed,
                    _ => FloodSeen::Other,
                };
                let (hosts, class, started) =
                    match g.see(ih, hh, seen, now_ms, &mut tally.flood_evictions) {
                        Flood::Normal => (0, None, false),
                        Flood::Started { hosts, class } => (hosts, Some(class), true),
                        Flood::Flooding { hosts, class } => (hosts, Some(class), false),
                    };
                if let Some(class) = class {
                    let v = self.flood_verdict(set, hit, class);
                    if started {
                        tally.floods += 1;
                        if v != FloodVerdict::Scan {
                            out.extra.push(
                                self.flood_report(set, hit, &indicator, hosts, &v, now_ms, tally),
                            );
                        }
                    }
                    if v == FloodVerdict::Scan {
                        self.summary
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .add(&indicator, ih, hh);
                    }
                    flood_hosts = Some(hosts);
                    flood_verdict = Some(v);
                }
            }
            let crit = host.as_deref().map(|h| self.assets.criticality(h));
            let situation = Situation {
                direction,
                inferred,
                action,
                seen_by_sensor: facts.seen_by_sensor,
                field: field.as_deref(),
            };
            let mut score = self.scorer.score(
                set,
                hit.id,
                now_s,
                loaded,
                &situation,
                &Criticality {
                    value: crit.map(|c| c.0),
                    asset: crit.and_then(|c| c.1),
                },
            );
            if let (Some(n), Some(v)) = (flood_hosts, &flood_verdict) {
                self.explain_flood(&mut score, n, v);
            }
            let priority = self.scorer.level(score.value);
            kept.push((
                Kept {
                    hit,
                    indicator,
                    field,
                    direction,
                    score,
                    priority,
                },
                host,
                flood_hosts.zip(flood_verdict),
            ));
        }
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
        // Every indicator of the line has its own window (indicator, internal host,
        // direction): a new indicator seen beside one already alerted is a new alert, not a
        // duplicate of the other. The best-scored hit goes first, so that it is the alert's
        // when it opens or escalates its window; otherwise the alert is the first indicator
        // that did.
        let order = std::iter::once(best).chain((0..kept.len()).filter(|&i| i != best));
        let mut seen_keys: Vec<u64> = Vec::with_capacity(kept.len());
        // (index of the hit the alert is about, its type, what it escalated from)
        type Outcome = (usize, AlertType, Option<(Priority, u64)>);
        let mut outcome: Option<Outcome> = None;
        let mut fx = dedup::Effects::default();
        for i in order {
            let (k, host, flood_hosts) = &kept[i];
            // A demoted flooding indicator is one window whatever the host: one alert per host
            // of a scan or a likely false positive would be the flood again. A possible
            // outbreak keeps a window per host: each host that reached it is news.
            let window_host = match flood_hosts {
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
            let seen = self
                .dedup
                .see(key, now_ms, k.priority, k.score.value, &mut fx, || {
                    (
                        Arc::from(k.indicator.as_str()),
                        set.kind(k.hit.id),
                        window_host.map(Arc::from),
                        k.direction.as_str(),
                    )
                });
            match seen {
                Seen::Duplicate => {}
                Seen::New { closed } => {
                    if let Some(o) = closed.and_then(|r| self.rollup(r, tally)) {
                        out.extra.push(o);
                    }
                    outcome.get_or_insert((i, AlertType::Hit, None));
                }
                Seen::Escalated { from, suppressed } => {
                    outcome.get_or_insert((i, AlertType::Escalation, Some((from, suppressed))));
                }
            }
        }
        tally.dedup_evictions += fx.evicted;
        let Some((primary, alert_type, escalated_from)) = outcome else {
            tally.suppressed[Suppressed::Duplicate as usize] += kept.len() as u64;
            return out;
        };
        let (p, host, flood_hosts, flood_verdict) = {
            let (k, h, f) = &kept[primary];
            (
                k,
                h.clone(),
                f.as_ref().map(|x| x.0),
                f.as_ref().map(|x| x.1.as_str()),
            )
        };
        let priority = p.priority;
        let direction = p.direction;
        tally.alert(alert_type, priority);
        for f in feeds_of(set, p.hit.id) {
            tally.feeds[f].alerts[priority.index()] += 1;
        }
        let indicator = p.indicator.clone();
        let immediate = self.fold(priority, &indicator, host.as_deref(), 1, tally);
        out.verdict = Some(Verdict {
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
        });
        out
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
