//! A MISP REST client: `POST /attributes/restSearch`, paged, incremental.
//!
//! The API key (from `key_file`) goes in `Authorization`; the body asks for
//! `returnFormat: json`, a page of `limit` attributes at a time (pages until one comes back
//! short), the configured filters (`type`, `tags` as MISP's `{"OR": [...], "AND": [...],
//! "NOT": [...]}`, `to_ids`, `published`, `enforceWarninglist`, `includeDecayScore`, `last`)
//! and `includeEventTags`, so the event's tags (TLP, galaxies) reach each attribute.
//!
//! A full pull replaces the attributes kept; between full pulls (every `full_resync`) a pull
//! asks only for attributes changed since the last one started (`timestamp`), deleted ones
//! included (`deleted: [0, 1]`), and merges them: a deleted attribute leaves, a changed one
//! replaces its old version. Attributes deleted in a way an incremental pull cannot see (their
//! event unpublished, a filter no longer matching) leave at the next full pull.

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

use super::{Pulled, State, secret};
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

/// Pulls from the MISP server at `url` into `state`; `now` is the Unix time the pull starts.
pub async fn poll(
    http: &reqwest::Client,
    opts: &HttpOptions,
    url: &str,
    cfg: &MispApiConfig,
    state: &mut State,
    now: i64,
) -> Result<Pulled, FetchError> {
    let key = secret(&cfg.key_file)?;
    let endpoint = format!("{}/attributes/restSearch", url.trim_end_matches('/'));
    let full = state
        .last_full
        .is_none_or(|t| now.saturating_sub(t) >= cfg.full_resync.as_secs() as i64)
        || state.cursor.is_none();
    let since = if full {
        None
    } else {
        state.cursor.as_deref().and_then(|c| c.parse::<i64>().ok())
    };
    let mut pulled = Pulled::default();
    let mut fresh = std::collections::BTreeMap::new();
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
            if full {
                if !deleted {
                    fresh.insert(uuid, a);
                }
            } else if deleted {
                if state.objects.remove(&uuid).is_some() {
                    pulled.removed += 1;
                }
            } else if state.objects.get(&uuid) != Some(&a) {
                state.objects.insert(uuid, a);
                pulled.changed += 1;
            }
        }
        let kept = if full {
            fresh.len()
        } else {
            state.objects.len()
        };
        if kept > cfg.max_objects {
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
            .filter(|k| !fresh.contains_key(*k))
            .count() as u64;
        pulled.changed = fresh
            .iter()
            .filter(|(k, v)| state.objects.get(*k) != Some(*v))
            .count() as u64;
        state.objects = fresh;
        state.last_full = Some(now);
    }
    state.cursor = Some(now.to_string());
    Ok(pulled)
}
