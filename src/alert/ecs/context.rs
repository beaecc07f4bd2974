//! The threat context of an alert: what the feeds that list its indicators say they are part
//! of (malware, tools, actors, campaigns, ATT&CK techniques and tactics, tags), gathered over
//! every source of every indicator of the line, and the other indicators of the same reports
//! (`iocd.related`). Feeds fill it in `ioc::feed` (docs/FEEDS.md, "Threat context").

use serde::Serialize;

use iocd_engine::{Hit, IocKind, IocSet};

/// Names of each kind an alert shows, at most.
pub(crate) const MAX_NAMES: usize = 32;
/// Tags an alert shows, at most.
pub(crate) const MAX_TAGS: usize = 32;
/// Related indicators an alert lists, at most.
pub(crate) const MAX_RELATED: usize = 10;

/// ECS `threat.software`: parallel arrays, one entry per malware family or tool.
#[derive(Serialize, Default)]
pub(super) struct Software<'a> {
    name: Vec<&'a str>,
    #[serde(rename = "type")]
    kind: Vec<&'static str>,
}

/// ECS `threat.group`.
#[derive(Serialize)]
pub(super) struct Group<'a> {
    name: Vec<&'a str>,
}

/// ECS `threat.technique` (and `threat.tactic`, which has the same shape).
#[derive(Serialize, Default)]
pub(super) struct Attack<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    id: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    name: Vec<&'a str>,
    /// Each technique's id and name as the feed paired them (ECS lists them apart), for OCSF.
    #[serde(skip)]
    pairs: Vec<(Option<&'a str>, Option<&'a str>)>,
}

/// One of `iocd.related`: another indicator of a report that lists one of the alert's.
#[derive(Serialize)]
pub(super) struct Related<'a> {
    indicator: String,
    kind: IocKind,
    /// The report both are in (`misp-event:<uuid>`, a STIX `report--<uuid>`).
    report: &'a str,
}

impl ThreatContext<'_> {
    /// The names, for the formats other than ECS.
    pub(super) fn names(
        software: Option<&Software<'_>>,
        group: Option<&Group<'_>>,
        technique: Option<&Attack<'_>>,
        tactic: Option<&Attack<'_>>,
    ) -> super::super::finding::ThreatNames {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        let mut names = super::super::finding::ThreatNames::default();
        if let Some(s) = software {
            for (n, k) in s.name.iter().zip(&s.kind) {
                if *k == "Tool" {
                    names.tools.push((*n).to_owned());
                } else {
                    names.malware.push((*n).to_owned());
                }
            }
        }
        names.groups = group.map(|g| owned(&g.name)).unwrap_or_default();
        if let Some(t) = technique {
            names.techniques = t
                .pairs
                .iter()
                .map(|(id, name)| (id.map(str::to_owned), name.map(str::to_owned)))
                .collect();
        }
        names.tactics = tactic.map(|t| owned(&t.name)).unwrap_or_default();
        names
    }
}

/// What [`gather`] found; every list empty when no feed said anything.
#[derive(Default)]
pub(super) struct ThreatContext<'a> {
    pub software: Option<Software<'a>>,
    pub group: Option<Group<'a>>,
    pub technique: Option<Attack<'a>>,
    pub tactic: Option<Attack<'a>>,
    pub tags: Vec<&'a str>,
    pub related: Vec<Related<'a>>,
}

fn push<'a>(list: &mut Vec<&'a str>, s: &'a str, max: usize) -> bool {
    if list.len() >= max || list.iter().any(|x| x.eq_ignore_ascii_case(s)) {
        return false;
    }
    list.push(s);
    true
}

/// The threat context of the alert on `hits`.
pub(super) fn gather<'a>(set: &'a IocSet, hits: &[Hit]) -> ThreatContext<'a> {
    let mut software = Software::default();
    let (mut groups, mut tags) = (Vec::new(), Vec::new());
    let (mut technique, mut tactics) = (Attack::default(), Vec::new());
    let mut reports: Vec<&'a str> = Vec::new();
    for h in hits {
        for src in set.sources(h.id) {
            let meta = set.meta(src);
            for t in meta.iter().flat_map(|m| m.tags.iter()) {
                push(&mut tags, t, MAX_TAGS);
            }
            // The listing's own context, and its feed's (`[feeds.context]`).
            let own = meta.and_then(|m| m.context.as_deref());
            let feed = set.feeds()[src.feed as usize].context.as_deref();
            for cx in own.into_iter().chain(feed) {
                for (names, kind) in [(&cx.malware, "Malware"), (&cx.tools, "Tool")] {
                    for n in names {
                        if push(&mut software.name, n, MAX_NAMES) {
                            software.kind.push(kind);
                        }
                    }
                }
                for g in &cx.groups {
                    push(&mut groups, g, MAX_NAMES);
                }
                // ECS has no campaign field: a campaign is a tag.
                for c in &cx.campaigns {
                    push(&mut tags, c, MAX_TAGS);
                }
                for t in &cx.techniques {
                    let pair = (t.id.as_deref(), t.name.as_deref());
                    if technique.pairs.len() < MAX_NAMES && !technique.pairs.contains(&pair) {
                        technique.pairs.push(pair);
                    }
                    if let Some(id) = &t.id {
                        push(&mut technique.id, id, MAX_NAMES);
                    }
                    if let Some(name) = &t.name {
                        push(&mut technique.name, name, MAX_NAMES);
                    }
                }
                for t in &cx.tactics {
                    push(&mut tactics, t, MAX_NAMES);
                }
                if let Some(r) = &cx.report {
                    push(&mut reports, r, MAX_NAMES);
                }
            }
        }
    }
    ThreatContext {
        software: (!software.name.is_empty()).then_some(software),
        group: (!groups.is_empty()).then_some(Group { name: groups }),
        technique: (!technique.id.is_empty() || !technique.name.is_empty()).then_some(technique),
        tactic: (!tactics.is_empty()).then_some(Attack {
            id: Vec::new(),
            name: tactics,
            pairs: Vec::new(),
        }),
        tags,
        related: related(set, hits, &reports),
    }
}

/// The first [`MAX_RELATED`] indicators of `reports` that are not among the alert's own.
fn related<'a>(set: &'a IocSet, hits: &[Hit], reports: &[&'a str]) -> Vec<Related<'a>> {
    let mut out: Vec<Related<'a>> = Vec::new();
    let mut seen: Vec<iocd_engine::IocId> = hits.iter().map(|h| h.id).collect();
    for &report in reports {
        for &id in set.report_members(report) {
            if out.len() >= MAX_RELATED {
                return out;
            }
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            let pattern = set.pattern(id);
            out.push(Related {
                indicator: pattern.to_string(),
                kind: pattern.kind(),
                report,
            });
        }
    }
    out
}
