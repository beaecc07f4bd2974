//! The threat context of an alert: what the feeds that list its indicators say they are part
//! of (malware, tools, actors, campaigns, ATT&CK techniques and tactics, tags), gathered over
//! every source of every indicator of the line, and the other indicators of the same reports
//! (`iocd.related`). Feeds fill it in `ioc::feed` (docs/FEEDS.md, "Threat context").

use serde::Serialize;

use super::super::finding::ThreatNames;
use iocd_engine::{Hit, IocKind, IocSet};

/// Tags an alert shows, at most.
pub(crate) const MAX_TAGS: usize = 32;
/// Related indicators an alert lists, at most.
pub(crate) const MAX_RELATED: usize = 10;

/// One of `iocd.related`: another indicator of a report that lists one of the alert's.
#[derive(Serialize)]
pub(super) struct Related<'a> {
    indicator: String,
    kind: IocKind,
    /// The report both are in (`misp-event:<uuid>`, a STIX `report--<uuid>`).
    report: &'a str,
}

/// What [`gather`] found; every list empty when no feed said anything.
#[derive(Default)]
pub(super) struct ThreatContext<'a> {
    pub names: ThreatNames,
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
    let mut names = ThreatNames::default();
    let (mut tags, mut reports) = (Vec::new(), Vec::new());
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
                names.add(cx);
                // ECS has no campaign field: a campaign is a tag.
                for c in &cx.campaigns {
                    push(&mut tags, c, MAX_TAGS);
                }
                if let Some(r) = &cx.report {
                    push(&mut reports, r, MAX_RELATED);
                }
            }
        }
    }
    let related = if reports.is_empty() {
        Vec::new()
    } else {
        related(set, hits, &reports)
    };
    ThreatContext {
        names,
        tags,
        related,
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
