//! Compiling the catalog's generations into an [`IocSet`]: per-feed filters, rails,
//! allowlists, lifecycle and metadata; and what became of each listing ([`Fate`]).

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::feeds::FeedConfig;
use crate::ioc::allowlist::List;
use crate::ioc::rails::{self, Limits};
use crate::ioc::{AllowlistReport, FeedReport, LoadReport, Reason, Rejected};
use iocd_engine::{Compiler, IocSet, N_TABLES, Pattern, SourceRef};

use super::*;

impl Catalog {
    /// Compiles the generations in memory into a set, as of `now`, and notes when a listing in
    /// it next expires ([`Catalog::next_expiry`]).
    pub fn compile(&self, now: SystemTime) -> (IocSet, LoadReport) {
        if let Some(c) = self.compiled_file() {
            return self.compile_compiled(c);
        }
        let (set, report, next) = self.compile_feeds(now, None, None);
        self.next_expiry.store(next, Ordering::Relaxed);
        (set, report)
    }

    /// Compiles one feed alone (for per-feed memory figures).
    pub fn compile_one(&self, feed: usize, now: SystemTime) -> IocSet {
        self.compile_feeds(now, Some(feed), None).0
    }

    /// Every listing of every feed as listed, before the feeds' settings, the rails, the
    /// allowlists and the lifecycle: what feeds say, to find what a value would have matched
    /// (`iocd iocs lookup`). Costs a compile.
    pub fn compile_listed(&self) -> IocSet {
        let mut c = Compiler::new();
        for f in &self.feeds {
            let feed_no = c.add_feed(&f.cfg.name, &f.location());
            if let Some(g) = &f.generation {
                for l in g.listings.iter() {
                    c.add(&l.pattern, SourceRef::plain(feed_no, l.line));
                }
            }
        }
        c.build()
    }

    /// What compiling at `now` does with each listing whose pattern (as listed) `wanted`
    /// selects: matched, or why not (type filter, rail, allowlist, revoked, expired, ttl), with
    /// the feed and line that listed it. In configuration order.
    pub fn fates(&self, now: SystemTime, wanted: &dyn Fn(&Pattern) -> bool) -> Vec<ListingFate> {
        let mut out = Vec::new();
        let mut note = |feed: &FeedState, line: u32, listed: &Pattern, fate: Fate| {
            if wanted(listed) {
                out.push(ListingFate {
                    feed: feed.cfg.name.clone(),
                    location: feed.location(),
                    line,
                    pattern: listed.clone(),
                    fate,
                });
            }
        };
        self.compile_feeds(now, None, Some(&mut note));
        out
    }

    /// When a listing of the last compiled set next becomes inactive: the earliest
    /// `valid_until` or feed `ttl` end among the listings in it. `None` when none ever does
    /// (or nothing was compiled yet). Until then, compiling again gives the same set.
    pub(crate) fn next_expiry(&self) -> Option<SystemTime> {
        let s = self.next_expiry.load(Ordering::Relaxed);
        (s != NEVER).then(|| UNIX_EPOCH + Duration::from_secs(s.max(0) as u64))
    }

    /// Whether an expiry pass at `now` has something to remove from the last compiled set.
    /// Reads and refreshes change the set too; they compile on their own.
    pub(crate) fn expiry_due(&self, now: SystemTime) -> bool {
        self.next_expiry().is_some_and(|t| t <= now)
    }

    /// The set, the report and the Unix second of the next expiry (`NEVER` for none).
    pub(super) fn compile_feeds(
        &self,
        now: SystemTime,
        only: Option<usize>,
        mut observe: Option<&mut Observer<'_>>,
    ) -> (IocSet, LoadReport, i64) {
        let now_s = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut next_expiry = NEVER;
        let mut c = Compiler::new();
        // Sized once from the counts at hand: no table grows by copies during the compile.
        let (mut per_table, mut bytes) = ([0; N_TABLES], [0; N_TABLES]);
        let mut listings = 0;
        for (i, f) in self.feeds.iter().enumerate() {
            if let Some(g) = f
                .generation
                .as_ref()
                .filter(|_| only.is_none_or(|o| o == i))
            {
                g.listings.tally(&mut per_table, &mut bytes);
                listings += g.listings.len();
            }
        }
        c.reserve(listings, &per_table, &bytes);
        let mut report = LoadReport::default();
        let lists: Vec<&List> = self.allow.iter().flat_map(|a| a.lists.iter()).collect();
        let mut dropped = vec![0u64; lists.len()];
        for (i, f) in self.feeds.iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let location = f.location();
            let feed_no = c.add_feed(&f.cfg.name, &location);
            c.set_feed_weight(feed_no, f.cfg.weight);
            if let Some(cx) = &f.cfg.context {
                c.set_feed_context(feed_no, std::sync::Arc::new(cx.to_engine()));
            }
            let mut fr = FeedReport {
                name: f.cfg.name.clone(),
                location: location.clone(),
                error: f.error.clone(),
                ..FeedReport::default()
            };
            let Some(g) = &f.generation else {
                report.feeds.push(fr);
                continue;
            };
            fr.format = g.format.as_str();
            fr.bytes = g.bytes;
            fr.loaded_at = Some(g.loaded_at);
            fr.skipped = g.skipped.clone();
            fr.rejected_by = g.rejected_by.clone();
            // At most `keep_rejected` records per feed in the report: the parser's first,
            // then the first the rails and allowlists drop below.
            let mut room = f.cfg.keep_rejected().saturating_sub(g.rejected.len());
            report.rejected.extend(g.rejected.iter().cloned());
            let limits = Limits {
                min_prefix_v4: f.cfg.min_prefix_v4,
                min_prefix_v6: f.cfg.min_prefix_v6,
                allow_private: f.cfg.allow_private,
            };
            let loaded_s = g
                .loaded_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let ttl = f.cfg.ttl.map(|t| t.as_secs() as i64);
            let defaults =
                f.cfg.confidence.is_some() || f.cfg.severity.is_some() || f.cfg.tlp.is_some();
            let mut main_added = false;
            // When the main listing last added stops being active: its twin shares it.
            let mut main_until = NEVER;
            for l in g.listings.iter() {
                if l.twin {
                    // The HTTPS twin of a schemeless URL follows its main listing, and shares
                    // its fate.
                    if main_added {
                        c.add(&l.pattern, SourceRef::plain(feed_no, l.line));
                        next_expiry = next_expiry.min(main_until);
                    }
                    continue;
                }
                main_added = false;
                let mut note = |fate: Fate| {
                    if let Some(o) = observe.as_deref_mut() {
                        o(f, l.line, &l.pattern, fate);
                    }
                };
                let kind = l.pattern.kind();
                if !f.cfg.types.is_empty() && !f.cfg.types.contains(&kind) {
                    *fr.skipped.entry("type_filter").or_insert(0) += 1;
                    note(Fate::TypeFilter(f.cfg.types.clone()));
                    continue;
                }
                let pattern = adjust(&l.pattern, &f.cfg);
                let railed = if self.rails {
                    rails::check(&pattern, &limits)
                } else {
                    Ok(())
                };
                let drop = match railed {
                    Err(rail) => Some(Reason::Rail(rail)),
                    Ok(()) => self.merged.check(&pattern).map(|n| {
                        dropped[n] += 1;
                        Reason::Allowlisted(lists[n].name.clone())
                    }),
                };
                if let Some(reason) = drop {
                    note(Fate::Dropped(reason.clone()));
                    *fr.rejected_by.entry(reason.code()).or_insert(0) += 1;
                    if room > 0 {
                        room -= 1;
                        report.rejected.push(Rejected {
                            location: location.clone(),
                            line: l.line,
                            at: None,
                            value: pattern.to_string(),
                            reason,
                        });
                    }
                    continue;
                }
                let meta = l.meta;
                let until = meta.and_then(|m| m.valid_until);
                // Past its TTL once `seen + ttl < now`, that is from the second after.
                let ttl_end = ttl.map(|ttl| {
                    let seen = meta
                        .and_then(|m| m.last_seen.or(m.first_seen))
                        .unwrap_or(loaded_s);
                    seen.saturating_add(ttl).saturating_add(1)
                });
                let inactive = if l.revoked {
                    Some("revoked")
                } else if until.is_some_and(|t| t <= now_s) {
                    Some("expired")
                } else if ttl_end.is_some_and(|t| t <= now_s) {
                    Some("ttl")
                } else {
                    None
                };
                if let Some(why) = inactive {
                    note(Fate::Inactive {
                        why,
                        until: match why {
                            "expired" => until,
                            "ttl" => ttl_end.map(|t| t - 1),
                            _ => None,
                        },
                    });
                    fr.inactive += 1;
                    *fr.inactive_by.entry(why).or_insert(0) += 1;
                    continue;
                }
                let src = SourceRef::plain(feed_no, l.line);
                let new = if meta.is_some() || defaults {
                    let mut m = meta.cloned().unwrap_or_default();
                    m.confidence = m.confidence.or(f.cfg.confidence);
                    m.severity = m.severity.or(f.cfg.severity);
                    m.tlp = m.tlp.or(f.cfg.tlp);
                    c.add_with_meta(&pattern, src, m)
                } else {
                    c.add(&pattern, src)
                };
                note(Fate::Matched);
                main_added = true;
                main_until = until.unwrap_or(NEVER).min(ttl_end.unwrap_or(NEVER));
                next_expiry = next_expiry.min(main_until);
                fr.accepted += 1;
                if !new {
                    fr.merged += 1;
                }
            }
            fr.rejected = fr.rejected_by.values().sum();
            report.listings += fr.accepted + fr.rejected + fr.inactive;
            report.merged += fr.merged;
            report.feeds.push(fr);
        }
        let mut k = 0;
        for a in &self.allow {
            if a.lists.is_empty() {
                report.allowlists.push(AllowlistReport {
                    name: a
                        .cfg
                        .name
                        .clone()
                        .unwrap_or_else(|| crate::ioc::feed_name(&a.cfg.path)),
                    location: a.cfg.path.display().to_string(),
                    error: a.error.clone(),
                    ..AllowlistReport::default()
                });
            }
            for l in &a.lists {
                report.allowlists.push(AllowlistReport {
                    name: l.name.clone(),
                    location: l.location.clone(),
                    entries: l.len() as u64,
                    rejected: l.rejected,
                    dropped: dropped[k],
                    error: a.error.clone(),
                });
                k += 1;
            }
        }
        (c.build(), report, next_expiry)
    }
}

/// Called by a compile for each listing (not HTTPS twins) with its feed, line, pattern as
/// listed, and what became of it.
pub(super) type Observer<'a> = dyn FnMut(&FeedState, u32, &Pattern, Fate) + 'a;

/// What a compile did with one listing ([`Catalog::fates`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Fate {
    /// It is in the set: it matches.
    Matched,
    /// The feed keeps only these indicator types (`types`).
    TypeFilter(Vec<iocd_engine::IocKind>),
    /// A safety rail or an allowlist dropped it.
    Dropped(Reason),
    /// Kept but not matched: `revoked` by the feed, `expired` (past its `valid_until`), or
    /// past the feed's `ttl`; `until`: when it stopped being active (Unix seconds).
    Inactive {
        why: &'static str,
        until: Option<i64>,
    },
}

/// One listing and what became of it.
#[derive(Clone, Debug)]
pub struct ListingFate {
    pub feed: String,
    pub location: String,
    /// 1-based line; 0 for formats without lines (JSON, XML).
    pub line: u32,
    /// As the feed lists it.
    pub pattern: Pattern,
    pub fate: Fate,
}

/// The pattern as this feed lists it: with the feed's subdomain switch applied.
pub(super) fn adjust<'a>(p: &'a Pattern, cfg: &FeedConfig) -> Cow<'a, Pattern> {
    match p {
        Pattern::Domain {
            name,
            subdomains: true,
        } if !cfg.subdomains => Cow::Owned(Pattern::Domain {
            name: name.clone(),
            subdomains: false,
        }),
        p => Cow::Borrowed(p),
    }
}
