//! What triage decided about a line's alert, as the alert writes it (`iocd.*`).

use serde::Serialize;

use crate::model::Priority;
use crate::triage::score::Component;
use crate::triage::{AlertType, Verdict};

/// What triage decided about the alert (`iocd.*`).
#[derive(Clone, Debug, Serialize)]
pub struct TriageFields<'a> {
    /// `hit` (first of its window) or `escalation` (a higher priority within the window).
    pub alert_type: AlertType,
    pub priority: Priority,
    pub score: f64,
    /// Each term of the score: name, input, contribution (they add up to `score`).
    pub score_components: &'a [Component],
    /// The internal host the alert is about (an address, else a host name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_host: Option<&'a str>,
    pub dedup: DedupFields,
    /// The indicator is a flood (distinct hosts): its priority was demoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) flood_hosts: Option<u64>,
    /// What the flood is (`scan`, `possible_outbreak`, `shared_infrastructure`,
    /// `likely_false_positive`), with `flood_hosts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) flood_verdict: Option<&'static str>,
    /// Which of the hits written (their order) the priority and score are about: its kind
    /// names the alert's `rule.*`, its feeds `threat.feed.name`. Not written.
    #[serde(skip)]
    pub primary: usize,
}

impl<'a> TriageFields<'a> {
    /// What an immediate verdict writes into its alert.
    pub fn of(v: &'a Verdict) -> TriageFields<'a> {
        let p = v.primary();
        TriageFields {
            alert_type: v.alert_type,
            priority: v.priority,
            score: p.score.value,
            score_components: &p.score.components,
            internal_host: v.host.as_deref(),
            dedup: DedupFields {
                window_seconds: v.window_secs,
                escalated_from: v.escalated_from.map(|(p, _)| p),
                count_before: v
                    .escalated_from
                    .filter(|_| v.alert_type == AlertType::Escalation)
                    .map(|(_, n)| n),
            },
            flood_hosts: v.flood_hosts,
            flood_verdict: v.flood_verdict,
            primary: v.primary,
        }
    }
}

/// The deduplication window of an alert.
#[derive(Clone, Debug, Serialize)]
pub struct DedupFields {
    /// Later hits of the same indicator, host and direction within this many seconds are
    /// counted and reported by a roll-up.
    pub(crate) window_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) escalated_from: Option<Priority>,
    /// Escalations: hits counted in the window before this alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_before: Option<u64>,
}
