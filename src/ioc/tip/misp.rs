//! A MISP REST client: `POST /attributes/restSearch`, paged, incremental.
//!
//! The API key (from `key_file`) goes in `Authorization`; the body asks for
//! `returnFormat: json`, a page of `limit` attributes at a time (pages until one comes back
//! short), the configured filters (`type`, `tags` as MISP's `{"OR": [...], "AND": [...],
//! "NOT": [...]}`, `to_ids`, `published`, `enforceWarninglist`, `includeDecayScore`, `last`)
//! and `includeEventTags`, so the event's tags (TLP, galaxies) reach each attribute.
//!
//! A full pull replaces the attributes kept; between full pulls (every `full_resync`) a pull
//! asks only for attributes changed since the last one started (`timestamp`, 5 minutes
//! earlier for clock skew between the server and iocd), deleted ones included
//! (`deleted: [0, 1]`), and merges them: a deleted attribute leaves, a changed one
//! replaces its old version. Attributes deleted in a way an incremental pull cannot see (their
//! event unpublished, a filter no longer matching) leave at the next full pull.

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

use super::{Delta, Pulled, State, secret};
use crate::config::feeds::{HttpOptions, MispApiConfig};
use crate::ioc::fetch::{FetchError, request};

/// What the state of a MISP API feed is of: the URL and the filters.
pub fn source(url: &str, cfg: &MispApiConfig) -> String {
    let f = &cfg.filters;
    format!(
        "misp-api {url} types={:?} tags={:?} to_ids={} published={} warninglist={} last={:?}",
        f.types, f.tags, f.to_ids, f.published, f.enforce_warninglist, f.last
    )
}

/// The `restSearch` body for page `page`: a full pull when `since` is `None`, else the
/// attributes changed since that Unix time, deleted ones included.
pub fn body(cfg: &MispApiConfig, page: u32, since: Option<i64>) -> Value {
    let f = &cfg.filters;
    let mut b = json!({
        "returnFormat": "json",
        "limit": cfg.limit,
        "page": page,
        "includeEventTags": true,
        "enforceWarninglist": f.enforce_warninglist,
        "includeDecayScore": f.include_decay_score,
    });
    if f.to_ids {
        b["to_ids"] = json!(1);
    }
    if f.published {
        b["published"] = json!(true);
    }
    if !f.types.is_empty() {
        b["type"] = json!(f.types);
    }
    if !f.tags.is_empty() {
        let (mut or, mut and, mut not) = (Vec::new(), Vec::new(), Vec::new());
        for t in &f.tags {
            if let Some(x) = t.strip_prefix('!') {
                not.push(x);
            } else if let Some(x) = t.strip_prefix('+') {
                and.push(x);
            } else {
                or.push(t.as_str());
            }
        }
        let mut tags = serde_json::Map::new();
        for (k, v) in [("OR", or), ("AND", and), ("NOT", not)] {
            if !v.is_empty() {
                tags.insert(k.into(), json!(v));
            }
        }
        b["tags"] = Value::Object(tags);
    }
    match since {
        Some(t) => {
            b["timestamp"] = json!(t);
            b["deleted"] = json!([0, 1]);
        }
        None => {
            if let Some(last) = f.last {
                b["last"] = json!(format!("{}d", last.as_secs().div_ceil(86_400).max(1)));
            }
        }
    }
    b
}

/// How far before the last pull an incremental pull asks from: the server's clock and ours may
/// differ, and an attribute asked for twice is merged, not duplicated.
const SKEW_MARGIN_SECS: i64 = 300;

/// Pulls from the MISP server at `url` what changed since `state`'s last pull, as a
/// [`Delta`]; `now` is the Unix time the pull starts.
pub async fn poll(
    http: &reqwest::Client,
    opts: &HttpOptions,
    url: &str,
    cfg: &MispApiConfig,
    state: &State,
    now: i64,
) -> Result<(Pulled, Delta), FetchError> {
    let key = secret(&cfg.key_file)?;
    let endpoint = format!("{}/attributes/restSearch", url.trim_end_matches('/'));
    let full = state
        .last_full
        .is_none_or(|t| now.saturating_sub(t) >= cfg.full_resync.as_secs() as i64)
        || state.cursor.is_none();
    let since = if full {
        None
    } else {
        state
            .cursor
            .as_deref()
            .and_then(|c| c.parse::<i64>().ok())
            .map(|c| c.saturating_sub(SKEW_MARGIN_SECS))
    };
    let mut pulled = Pulled::default();
    let mut delta = Delta {
        replace_all: full,
        ..Delta::default()
    };
    for page in 1..=cfg.max_pages {
        let b = body(cfg, page, since);
        let resp = request(http, opts, &endpoint, |c| {
            c.post(&endpoint)
                .header(AUTHORIZATION, key.as_str())
                .header(ACCEPT, "application/json")
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_string())
        })
        .await?;
        pulled.requests += 1;
        let doc: Value = serde_json::from_slice(&resp.body)
            .map_err(|e| FetchError::Invalid(format!("{endpoint}: not JSON: {e}")))?;
        let attrs = match doc.get("response") {
            Some(r) => match r.get("Attribute") {
                Some(Value::Array(a)) => a.clone(),
                None | Some(Value::Null) => Vec::new(),
                Some(_) => {
                    return Err(FetchError::Invalid(format!(
                        "{endpoint}: `response.Attribute` is not a list"
                    )));
                }
            },
            None => {
                return Err(FetchError::Invalid(format!(
                    "{endpoint}: no `response` in the reply"
                )));
            }
        };
        let n = attrs.len();
        pulled.received += n as u64;
        for a in attrs {
            let Some(uuid) = a.get("uuid").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            let deleted = matches!(a.get("deleted"), Some(Value::Bool(true)))
                || a.get("deleted").and_then(Value::as_str) == Some("1");
            let raw = serde_json::value::to_raw_value(&a).expect("a JSON value serializes");
            if full {
                if !deleted {
                    delta.upsert.insert(uuid, raw);
                }
            } else if deleted {
                if state.objects.contains_key(&uuid) && delta.remove.insert(uuid.clone()) {
                    pulled.removed += 1;
                }
                delta.upsert.remove(&uuid);
            } else if state.get(&delta, &uuid).map(|o| o.get()) != Some(raw.get()) {
                delta.remove.remove(&uuid);
                delta.upsert.insert(uuid, raw);
                pulled.changed += 1;
            }
        }
        if state.len_with(&delta) > cfg.max_objects {
            return Err(FetchError::Invalid(format!(
                "{endpoint}: more than max_objects ({}) attributes; raise \
                 `misp_api.max_objects` or narrow the filters",
                cfg.max_objects
            )));
        }
        if n < cfg.limit as usize {
            break;
        }
        if page == cfg.max_pages {
            return Err(FetchError::Invalid(format!(
                "{endpoint}: more than max_pages ({}) pages of {} attributes; raise \
                 `misp_api.max_pages` or narrow the filters",
                cfg.max_pages, cfg.limit
            )));
        }
    }
    if full {
        pulled.removed = state
            .objects
            .keys()
            .filter(|k| !delta.upsert.contains_key(*k))
            .count() as u64;
        pulled.changed = delta
            .upsert
            .iter()
            .filter(|(k, v)| state.objects.get(*k).map(|o| o.get()) != Some(v.get()))
            .count() as u64;
        delta.last_full = Some(now);
    }
    // An incremental pull that found nothing leaves the cursor (and the state file) alone: the
    // next one asks from the same time, which finds the same nothing.
    if full || pulled.changed > 0 || pulled.removed > 0 {
        delta.cursor = Some(now.to_string());
    }
    Ok((pulled, delta))
}
