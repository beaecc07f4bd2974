//! A matcher thread's counts, added to the metrics once per batch.

use std::sync::Arc;

use iocd_engine::IocSet;

use super::*;

impl Triage {
    /// Makes `t.feeds` count for the feeds of `set` (of `generation`): the counts kept for
    /// another set's feed numbers are added to the metrics first.
    pub(super) fn name_feeds(&self, set: &IocSet, generation: u64, t: &mut Tally) {
        let feeds = set.feeds();
        if t.feed_generation == generation
            && t.feed_names.len() == feeds.len()
            && t.feeds.len() == feeds.len()
        {
            return;
        }
        self.flush_feeds(t);
        t.feed_names = feeds.iter().map(|f| Arc::from(f.name.as_str())).collect();
        t.feeds = vec![FeedTally::default(); feeds.len()];
        t.feed_generation = generation;
    }

    pub(super) fn flush_feeds(&self, t: &mut Tally) {
        let m = &self.metrics;
        for (name, ft) in t.feed_names.iter().zip(t.feeds.iter_mut()) {
            if ft.hits > 0 {
                m.feed_hits.with_label_values(&[name]).inc_by(ft.hits);
            }
            if ft.unique_hits > 0 {
                m.feed_unique_hits
                    .with_label_values(&[name])
                    .inc_by(ft.unique_hits);
            }
            for (p, n) in Priority::ALL.iter().zip(ft.alerts) {
                if n > 0 {
                    m.feed_alerts
                        .with_label_values(&[name, p.as_str()])
                        .inc_by(n);
                }
            }
            *ft = FeedTally::default();
        }
    }

    /// Adds a thread's batch counts to the metrics.
    pub fn flush(&self, t: &mut Tally) {
        self.flush_feeds(t);
        let m = &self.metrics;
        if t.hits > 0 {
            m.hits.inc_by(t.hits);
            m.hit_lines.inc_by(t.lines);
        }
        for (r, n) in Suppressed::ALL.iter().zip(t.suppressed) {
            if n > 0 {
                m.suppressed.with_label_values(&[r.as_str()]).inc_by(n);
            }
        }
        for (ty, row) in AlertType::ALL.iter().zip(t.alerts) {
            for (p, n) in Priority::ALL.iter().zip(row) {
                if n > 0 {
                    m.alerts
                        .with_label_values(&[p.as_str(), ty.as_str()])
                        .inc_by(n);
                }
            }
        }
        if t.dedup_evictions > 0 {
            m.evictions
                .with_label_values(&["dedup"])
                .inc_by(t.dedup_evictions);
        }
        if t.flood_evictions > 0 {
            m.evictions
                .with_label_values(&["flood"])
                .inc_by(t.flood_evictions);
        }
        if t.floods > 0 {
            m.floods.inc_by(t.floods);
        }
        for (r, n) in self.routes.iter().zip(&t.digested) {
            if *n > 0 {
                m.digested.with_label_values(&[&r.name]).inc_by(*n);
            }
        }
        *t = Tally {
            digested: std::mem::take(&mut t.digested),
            feeds: std::mem::take(&mut t.feeds),
            feed_names: std::mem::take(&mut t.feed_names),
            feed_generation: t.feed_generation,
            ..Tally::default()
        };
        t.digested.iter_mut().for_each(|n| *n = 0);
    }
}
