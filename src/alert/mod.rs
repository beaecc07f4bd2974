//! Alerts: the one alert model, and its formats. Every alert iocd sends is made here, from
//! typed values, in ECS ([`ecs`], the default), OCSF ([`ocsf`]) or CEF ([`cef`]).
//!
//! Two kinds of alert:
//!
//! * the alert on a log line with hits ([`write_alert`], [`write_typed`]), from the line, its
//!   hits, the indicator set and a [`Context`] (where the line came from, what its decoding
//!   said: [`LineFields`], what triage decided: [`TriageFields`]);
//! * triage's own alerts (roll-ups, flood reports, flood summaries, digests), from the typed
//!   values `crate::triage` returns ([`crate::triage::report`], rendered by [`record`]).
//!
//! ECS is written as the alert is made; OCSF and CEF are rendered when a sink wants them, from
//! the [`Finding`] made beside the ECS JSON from the same typed values (never by parsing the
//! JSON back), carried in [`AlertRecord::formats`].
//!
//! The ECS alert on a line is an ECS detection: `event.kind: "alert"`, `rule.*` (one rule per
//! indicator kind, [`rule`]), `threat.feed.name`, and when triage scored it `event.severity`
//! (1 info .. 5 critical, [`crate::model::Priority::severity`]) and `event.risk_score`. [`ecs::check`] knows the ECS fields iocd writes or
//! names, with their types: only those may be a `matched.field`. Each matched indicator is one
//! entry of `threat.enrichments[]`, with `threat.indicator.*` (type, the typed value field,
//! every feed that lists it as `provider`) and `matched.atomic` (the token as it stood in the
//! line). Everything ECS has no field for lives under `iocd.*`: where the line came from, and
//! per match the indicator's canonical text, kind, byte range and every source with its line.
//!
//! When the line was decoded ([`LineFields`]), each enrichment names its `matched.field` and
//! the alert carries the ECS `source.*`, `destination.*`, `network.direction`,
//! `event.action`/`event.outcome`, `url.*` and `dns.question.name` the line gave. When triage
//! made the alert ([`TriageFields`]), `iocd.priority`, `iocd.score` and
//! `iocd.score_components` say how urgent it is and why.
//!
//! Every alert has a stable `event.id` ([`event_id`]; triage's own alerts: [`content_id`]):
//! the same line from the same source position gives the same id, so that a replay after a
//! crash is idempotent where the sink can use it (Elasticsearch `_id` with `create`).

pub mod cef;
pub mod ecs;
mod finding;
mod line;
pub mod ocsf;
mod origin;
mod retro;
#[cfg(test)]
mod tests;
mod triaged;

use std::borrow::Cow;
use std::sync::Arc;

use crate::config::AlertFormat;
use crate::model::AlertRecord;
use crate::triage::Outgoing;
use iocd_engine::{Hit, IocSet};

pub use crate::decode::syslog::SyslogFields;
pub use crate::model::{RULESET, content_id};
pub use ecs::{rule, write_alert, write_typed};
pub use finding::{Finding, Matched, Side};
pub use line::{DecodedLine, Endpoint, LineFields, add_split_url_hits, split_url_hits};
pub use origin::{Arrival, Context, KafkaOrigin, Origin, event_id};
pub use retro::RetroFields;
pub use triaged::{DedupFields, TriageFields};

/// One of triage's own alerts, rendered for the sinks: ECS now, the other formats when a
/// sink wants them.
pub fn record(o: &Outgoing) -> AlertRecord {
    let (json, finding) = ecs::report(o);
    AlertRecord {
        json: Arc::from(json),
        time: o.time,
        priority: o.priority,
        key: o.key.clone(),
        receipt: None,
        formats: Some(Arc::new(finding)),
    }
}

/// `r` in `format`.
pub fn in_format(r: &AlertRecord, format: AlertFormat) -> Cow<'_, [u8]> {
    match format {
        AlertFormat::Ecs => Cow::Borrowed(&r.json),
        AlertFormat::Ocsf => Cow::Owned(r.ocsf()),
        AlertFormat::Cef => Cow::Owned(r.cef()),
    }
}

/// Appends the alert on `line` (hits relative to the line) in `format` to `out` (no line
/// feed): [`write_alert`] for ECS, rendered from the typed alert for the others.
pub(crate) fn write_alert_as(
    out: &mut Vec<u8>,
    format: AlertFormat,
    set: &IocSet,
    line: &[u8],
    hits: &[Hit],
    cx: &Context<'_>,
) {
    use crate::model::Formats;
    match format {
        AlertFormat::Ecs => write_alert(out, set, line, hits, cx),
        f => {
            let mut ecs = Vec::new();
            let finding = write_typed(&mut ecs, set, line, hits, cx);
            out.extend_from_slice(&match f {
                AlertFormat::Ocsf => finding.ocsf(),
                _ => finding.cef(),
            });
        }
    }
}
