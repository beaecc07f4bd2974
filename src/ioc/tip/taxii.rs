//! A TAXII 2.1 client: from an API root (or a discovery URL) to a collection's objects,
//! incrementally.
//!
//! Requests carry `Accept: application/taxii+json;version=2.1` and the feed's authentication
//! (basic, a bearer token, `[feeds.http] headers`, a client certificate). A poll asks
//! `GET <root>collections/<id>/objects/?limit=N[&added_after=T][&match[type]=...]` and pages
//! by `next` while `more` is true, sending the same filters with each `next` (servers such as
//! medallion refuse a `next` whose filters differ). The cursor of the next poll is the newest
//! `X-TAXII-Date-Added-Last` the server sent, never an object's own timestamps (which say when
//! the producer made the object, not when this server added it).
//!
//! What servers get wrong does not loop or duplicate:
//! * a server that treats `added_after` as inclusive sends the newest objects again: objects
//!   are kept by id, the same version is not a change, and a poll that changes nothing is
//!   "unchanged";
//! * a server that says `more` without a `next` is paged by `added_after` set just before the
//!   page's `X-TAXII-Date-Added-Last`, so objects sharing that timestamp are asked for again
//!   rather than lost; a page that does not move the timestamp forward ends the poll (with a
//!   warning) instead of asking for it forever;
//! * a poll stops after `max_pages` pages, keeping what it read; the next goes on from there;
//! * a collection that grows past `max_objects` fails the poll (the state stays as it was)
//!   rather than growing memory without bound.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde_json::Value;

use super::{Delta, Object, Pulled, State, secret};
use crate::config::feeds::{HttpOptions, TaxiiConfig};
use crate::ioc::fetch::{FetchError, request};

/// The TAXII 2.1 media type.
pub const MEDIA_TYPE: &str = "application/taxii+json;version=2.1";

/// What the state of a TAXII feed is of: the URL and the collection.
pub fn source(url: &str, cfg: &TaxiiConfig) -> String {
    format!("taxii {url} {}", cfg.collection)
}

/// The `Authorization` header the feed sends, if any.
fn authorization(cfg: &TaxiiConfig) -> Result<Option<String>, FetchError> {
    use base64::Engine as _;
    if let (Some(user), Some(file)) = (&cfg.username, &cfg.password_file) {
        let pass = secret(file)?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        return Ok(Some(format!("Basic {token}")));
    }
    if let Some(file) = &cfg.token_file {
        return Ok(Some(format!("Bearer {}", secret(file)?)));
    }
    Ok(None)
}

struct Client<'a> {
    http: &'a reqwest::Client,
    opts: &'a HttpOptions,
    auth: Option<String>,
}

impl Client<'_> {
    async fn get(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<(Value, reqwest::header::HeaderMap), FetchError> {
        let mut full =
            url::Url::parse(url).map_err(|e| FetchError::Invalid(format!("{url}: {e}")))?;
        if !query.is_empty() {
            let mut q = full.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        let full = full.to_string();
        let resp = request(self.http, self.opts, url, |c| {
            let mut req = c.get(&full).header(ACCEPT, MEDIA_TYPE);
            if let Some(a) = &self.auth {
                req = req.header(AUTHORIZATION, a.as_str());
            }
            req
        })
        .await?;
        if resp.body.iter().all(u8::is_ascii_whitespace) {
            // A 204, or an empty page: no objects.
            return Ok((Value::Object(Default::default()), resp.headers));
        }
        let v = serde_json::from_slice(&resp.body)
            .map_err(|e| FetchError::Invalid(format!("{url}: not TAXII JSON: {e}")))?;
        Ok((v, resp.headers))
    }
}

/// `base` joined with `rel`, ending with `/`.
fn join(base: &str, rel: &str) -> Result<String, FetchError> {
    let u = url::Url::parse(base)
        .and_then(|b| b.join(rel))
        .map_err(|e| FetchError::Invalid(format!("{base} + {rel}: {e}")))?;
    let mut s = u.to_string();
    if !s.ends_with('/') {
        s.push('/');
    }
    Ok(s)
}

/// The API root `url` names: itself, or a discovery document's `default` (else its first
/// `api_roots` entry).
async fn api_root(c: &Client<'_>, url: &str) -> Result<String, FetchError> {
    let base = if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    };
    let (doc, _) = c.get(&base, &[]).await?;
    if let Some(roots) = doc.get("api_roots").and_then(Value::as_array) {
        let root = doc
            .get("default")
            .and_then(Value::as_str)
            .or_else(|| roots.iter().find_map(Value::as_str))
            .ok_or_else(|| FetchError::Invalid(format!("{base}: discovery lists no API root")))?;
        return join(&base, root);
    }
    Ok(base)
}

/// The id of the collection `want` (an id or a title) at `root`.
async fn collection(c: &Client<'_>, root: &str, want: &str) -> Result<String, FetchError> {
    let url = format!("{root}collections/");
    let (doc, _) = c.get(&url, &[]).await?;
    let all = doc
        .get("collections")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let field = |c: &Value, k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(found) = all
        .iter()
        .find(|c| field(c, "id").as_deref() == Some(want))
        .or_else(|| {
            all.iter()
                .find(|c| field(c, "title").as_deref() == Some(want))
        })
    {
        if found.get("can_read").and_then(Value::as_bool) == Some(false) {
            return Err(FetchError::Invalid(format!(
                "{url}: collection {want:?} cannot be read with these credentials"
            )));
        }
        return field(found, "id")
            .ok_or_else(|| FetchError::Invalid(format!("{url}: collection {want:?} has no id")));
    }
    let names: Vec<String> = all
        .iter()
        .map(|c| {
            format!(
                "{} ({})",
                field(c, "title").unwrap_or_default(),
                field(c, "id").unwrap_or_default()
            )
        })
        .collect();
    Err(FetchError::Invalid(format!(
        "{url}: no collection with id or title {want:?} (there are: {})",
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    )))
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn header_time(h: &reqwest::header::HeaderMap, name: &str) -> Option<(DateTime<Utc>, String)> {
    let v = h.get(name)?.to_str().ok()?.trim().to_owned();
    parse_time(&v).map(|t| (t, v))
}

/// An object's version: its `modified`, else its `created` (objects without either are
/// immutable).
fn version(o: &Value) -> Option<DateTime<Utc>> {
    o.get("modified")
        .or_else(|| o.get("created"))
        .and_then(Value::as_str)
        .and_then(parse_time)
}

/// The version of a kept object (its text parsed for the two fields only).
fn kept_version(o: &serde_json::value::RawValue) -> Option<DateTime<Utc>> {
    #[derive(serde::Deserialize)]
    struct Times<'a> {
        #[serde(borrow)]
        modified: Option<&'a str>,
        #[serde(borrow)]
        created: Option<&'a str>,
    }
    let t: Times<'_> = serde_json::from_str(o.get()).ok()?;
    t.modified.or(t.created).and_then(parse_time)
}

/// Puts `o` in `delta` unless `state` (with `delta`) has the same or a newer version of it;
/// whether it changed anything.
pub(crate) fn merge(state: &State, delta: &mut Delta, o: Value) -> bool {
    let Some(id) = o.get("id").and_then(Value::as_str).map(str::to_owned) else {
        return false;
    };
    if let Some(old) = state.get(delta, &id)
        && kept_version(old) >= version(&o)
    {
        return false;
    }
    let raw: Object = serde_json::value::to_raw_value(&o).expect("a JSON value serializes");
    delta.upsert.insert(id, raw);
    true
}

/// Polls the collection `cfg` names at `url` for what was added since `state`'s cursor: what
/// changed, as a [`Delta`] on `state`.
pub async fn poll(
    http: &reqwest::Client,
    opts: &HttpOptions,
    url: &str,
    cfg: &TaxiiConfig,
    state: &State,
) -> Result<(Pulled, Delta), FetchError> {
    let mut delta = Delta::default();
    let c = Client {
        http,
        opts,
        auth: authorization(cfg)?,
    };
    let root = api_root(&c, url).await?;
    let id = collection(&c, &root, &cfg.collection).await?;
    let objects_url = format!("{root}collections/{id}/objects/");
    let mut pulled = Pulled {
        requests: 2,
        ..Pulled::default()
    };
    let mut newest = state
        .cursor
        .as_deref()
        .and_then(|c| parse_time(c).map(|t| (t, c.to_owned())));
    let mut added_after = state.cursor.clone();
    let mut next: Option<String> = None;
    let mut pages = 0u32;
    loop {
        if pages >= cfg.max_pages {
            pulled.truncated = true;
            tracing::info!(
                url,
                pages,
                "TAXII poll stopped at max_pages; the next poll goes on from here"
            );
            break;
        }
        let mut query: Vec<(&str, String)> = vec![("limit", cfg.limit.to_string())];
        if let Some(a) = &added_after {
            query.push(("added_after", a.clone()));
        }
        if !cfg.types.is_empty() {
            query.push(("match[type]", cfg.types.join(",")));
        }
        if let Some(n) = &next {
            query.push(("next", n.clone()));
        }
        let (page, headers) = c.get(&objects_url, &query).await?;
        pages += 1;
        pulled.requests += 1;
        let objects = match page.get("objects") {
            Some(Value::Array(a)) => a.clone(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => {
                return Err(FetchError::Invalid(format!(
                    "{objects_url}: `objects` is not a list"
                )));
            }
        };
        pulled.received += objects.len() as u64;
        for o in objects {
            pulled.changed += u64::from(merge(state, &mut delta, o));
        }
        if state.len_with(&delta) > cfg.max_objects {
            return Err(FetchError::Invalid(format!(
                "{objects_url}: the collection holds more than max_objects ({}) objects; \
                 raise `taxii.max_objects` or narrow `types`",
                cfg.max_objects
            )));
        }
        let last = header_time(&headers, "x-taxii-date-added-last");
        if let Some(l) = &last
            && newest.as_ref().is_none_or(|n| l.0 > n.0)
        {
            newest = Some(l.clone());
        }
        let more = page.get("more").and_then(Value::as_bool).unwrap_or(false);
        if !more {
            break;
        }
        if let Some(n) = page.get("next").and_then(Value::as_str) {
            next = Some(n.to_owned());
            continue;
        }
        // `more` without `next`: page by `added_after`, just before the page's newest, so
        // objects sharing that timestamp are asked for again rather than skipped.
        let Some((t, _)) = last else {
            tracing::warn!(
                url = objects_url,
                "TAXII server says `more` with neither `next` nor X-TAXII-Date-Added-Last: stopping here"
            );
            break;
        };
        let before =
            (t - chrono::Duration::microseconds(1)).to_rfc3339_opts(SecondsFormat::Micros, true);
        if added_after
            .as_deref()
            .and_then(parse_time)
            .is_some_and(|a| t - chrono::Duration::microseconds(1) <= a)
        {
            tracing::warn!(
                url = objects_url,
                "TAXII server says `more` but the page did not move X-TAXII-Date-Added-Last forward (more objects share one timestamp than a page holds, and it gives no `next`): stopping here"
            );
            break;
        }
        added_after = Some(before);
    }
    if let Some((_, raw)) = newest
        && state.cursor.as_deref() != Some(raw.as_str())
    {
        delta.cursor = Some(raw);
    }
    Ok((pulled, delta))
}
