//! Collecting from threat-intelligence platforms: a TAXII 2.1 collection ([`taxii`]) and a
//! MISP server's `/attributes/restSearch` ([`misp`]), pulled incrementally.
//!
//! Both keep a [`State`]: the objects collected so far (STIX objects by id, MISP attributes by
//! UUID) and the cursor of the next pull (TAXII's `X-TAXII-Date-Added-Last`, the time of the
//! last MISP pull). A poll asks only for what was added since the cursor, merges it into a copy
//! of the state, and hands the catalog the whole collection as one document for the existing
//! parsers (a STIX bundle, a MISP attribute search result). The catalog applies its guard; only
//! a document it accepts is committed ([`Store::commit`]): kept in memory and written to the
//! feed's `cache` file, so a restart resumes from the cursor instead of downloading the
//! collection again. A refused or failed poll leaves the state as it was: the next poll asks
//! for the same objects again.

pub mod misp;
pub mod taxii;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The version of the state file's layout; a file of another version is not read (the
/// collection is downloaded again, and a warning says why).
const STATE_VERSION: u32 = 1;

/// One object as the server sent it, kept as its JSON text (a parsed `Value` costs several
/// times the memory).
pub type Object = Box<RawValue>;

/// What was collected so far, and where the next pull starts.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// What the state is of (the URL and collection, the URL and filters): a state of
    /// something else is not used.
    pub source: String,
    /// Where the next pull starts: TAXII's `X-TAXII-Date-Added-Last`; for MISP the Unix time
    /// the last pull started.
    pub cursor: Option<String>,
    /// MISP: when the last full pull started (Unix seconds).
    #[serde(default)]
    pub last_full: Option<i64>,
    /// The objects, by id (STIX) or UUID (MISP).
    pub objects: BTreeMap<String, Object>,
}

impl State {
    /// An empty state of `source`.
    pub fn new(source: &str) -> State {
        State {
            version: STATE_VERSION,
            source: source.to_owned(),
            ..State::default()
        }
    }

    /// The object `id`, as `delta` leaves it.
    pub(crate) fn get<'a>(&'a self, delta: &'a Delta, id: &str) -> Option<&'a RawValue> {
        if let Some(o) = delta.upsert.get(id) {
            return Some(o);
        }
        if delta.replace_all || delta.remove.contains(id) {
            return None;
        }
        self.objects.get(id).map(|o| &**o)
    }

    /// How many objects there are once `delta` is applied.
    pub(crate) fn len_with(&self, delta: &Delta) -> usize {
        if delta.replace_all {
            return delta.upsert.len();
        }
        let kept = self.objects.len()
            - delta
                .remove
                .iter()
                .filter(|k| self.objects.contains_key(*k))
                .count();
        kept + delta
            .upsert
            .keys()
            .filter(|k| !self.objects.contains_key(*k) || delta.remove.contains(*k))
            .count()
    }

    /// The objects once `delta` is applied, in id order.
    fn objects_with<'a>(&'a self, delta: &'a Delta) -> Vec<&'a RawValue> {
        let old = self
            .objects
            .iter()
            .filter(|_| !delta.replace_all)
            .filter(|(k, _)| !delta.remove.contains(*k) && !delta.upsert.contains_key(*k))
            .map(|(k, v)| (k, &**v));
        let mut all: Vec<(&String, &RawValue)> = old
            .chain(delta.upsert.iter().map(|(k, v)| (k, &**v)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all.into_iter().map(|(_, v)| v).collect()
    }

    /// Applies `delta` in place.
    fn apply(&mut self, delta: Delta) {
        if delta.replace_all {
            self.objects = delta.upsert;
        } else {
            for k in &delta.remove {
                self.objects.remove(k);
            }
            self.objects.extend(delta.upsert);
        }
        if delta.cursor.is_some() {
            self.cursor = delta.cursor;
        }
        if delta.last_full.is_some() {
            self.last_full = delta.last_full;
        }
    }
}

/// What one poll changes: objects new or newer, objects gone, the next cursor.
#[derive(Debug, Default)]
pub struct Delta {
    pub upsert: BTreeMap<String, Object>,
    pub remove: BTreeSet<String>,
    /// A full pull: `upsert` is the whole collection.
    pub replace_all: bool,
    pub cursor: Option<String>,
    pub last_full: Option<i64>,
}

/// What one poll did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pulled {
    /// Requests sent (pages).
    pub requests: u32,
    /// Objects received.
    pub received: u64,
    /// Objects that were new, or a newer version of one kept.
    pub changed: u64,
    /// Objects removed (a MISP attribute deleted, or gone at a full pull).
    pub removed: u64,
    /// The poll stopped at `max_pages`: the next one goes on from where it stopped.
    pub truncated: bool,
}

/// One platform feed's state: in memory once read, on disk at `path`.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    current: Mutex<Option<Arc<State>>>,
}

impl Store {
    pub fn new(path: &Path) -> Store {
        Store {
            path: path.to_owned(),
            current: Mutex::new(None),
        }
    }

    /// The state of `source`, shared: the one in memory, else the one on disk, else an empty
    /// one. A file that cannot be read, of another version or of another source is left for
    /// the next commit to replace, with a warning.
    pub fn load(&self, source: &str) -> Arc<State> {
        let mut cur = self.current.lock().expect("state lock");
        if let Some(s) = cur.as_ref()
            && s.source == source
        {
            return Arc::clone(s);
        }
        let state = Arc::new(self.read(source).unwrap_or_else(|| State::new(source)));
        *cur = Some(Arc::clone(&state));
        state
    }

    fn read(&self, source: &str) -> Option<State> {
        let path = self.path.display();
        let bytes = match std::fs::read(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(%path, error = %e, "cannot read the feed's state: collecting from the start");
                return None;
            }
            Ok(b) => b,
        };
        match serde_json::from_slice::<State>(&bytes) {
            Ok(s) if s.version == STATE_VERSION && s.source == source => Some(s),
            Ok(s) if s.version != STATE_VERSION => {
                tracing::warn!(%path, version = s.version, "feed state of another version: collecting from the start");
                None
            }
            Ok(_) => {
                tracing::info!(%path, "feed state of another source (the URL or collection changed): collecting from the start");
                None
            }
            Err(e) => {
                tracing::warn!(%path, error = %e, "feed state is not readable: collecting from the start");
                None
            }
        }
    }

    /// Applies `delta` to the state of `source` (in place when no poll holds it), in memory
    /// and on disk (atomically).
    pub fn commit(&self, source: &str, delta: Delta) -> std::io::Result<()> {
        let mut cur = self.current.lock().expect("state lock");
        let state = match cur.as_mut() {
            Some(s) if s.source == source => s,
            _ => cur.insert(Arc::new(State::new(source))),
        };
        state_mut(state).apply(delta);
        let bytes = serde_json::to_vec(&**state).expect("a state serializes");
        drop(cur);
        crate::statefile::write_atomic(&self.path, &bytes)
    }
}

/// `Arc::make_mut` for a [`State`], which is not `Clone` (a copy of a collection is never made
/// by accident): the state in place when nothing else holds it, else a copy.
fn state_mut(this: &mut Arc<State>) -> &mut State {
    if Arc::get_mut(this).is_none() {
        // A poll still holds the old state: copy it (rare: commits come after polls).
        let copy = State {
            version: this.version,
            source: this.source.clone(),
            cursor: this.cursor.clone(),
            last_full: this.last_full,
            objects: this.objects.clone(),
        };
        *this = Arc::new(copy);
    }
    Arc::get_mut(this).expect("unique")
}

/// A poll's changes waiting for the catalog's guard: committed when the document built with
/// them is accepted.
#[derive(Debug)]
pub(crate) struct Commit {
    pub store: Arc<Store>,
    pub source: String,
    pub delta: Delta,
}

/// Writes `objects` as a JSON array into `out`.
fn array(out: &mut Vec<u8>, objects: &[&RawValue]) {
    out.push(b'[');
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(o.get().as_bytes());
    }
    out.push(b']');
}

/// The collection (with `delta` applied) as a STIX bundle, for the STIX parser.
pub fn stix_bundle(state: &State, delta: &Delta) -> Vec<u8> {
    let mut out =
        br#"{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":"#
            .to_vec();
    array(&mut out, &state.objects_with(delta));
    out.push(b'}');
    out
}

/// The attributes (with `delta` applied) as a MISP attribute search result, for the MISP
/// parser.
pub fn misp_attributes(state: &State, delta: &Delta) -> Vec<u8> {
    let mut out = br#"{"response":{"Attribute":"#.to_vec();
    array(&mut out, &state.objects_with(delta));
    out.extend_from_slice(b"}}");
    out
}

/// The contents of a secret file (a password, token or API key), trimmed.
pub(crate) fn secret(path: &Path) -> Result<String, crate::ioc::fetch::FetchError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| crate::ioc::fetch::FetchError::Client(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Object {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn a_delta_reads_as_applied_and_commits_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("s.json"));
        let state = store.load("src");
        assert!(state.objects.is_empty());
        let mut d = Delta::default();
        d.upsert.insert("a".into(), raw(r#"{"id":"a","v":1}"#));
        d.upsert.insert("b".into(), raw(r#"{"id":"b","v":1}"#));
        d.cursor = Some("c1".into());
        assert_eq!(state.len_with(&d), 2);
        drop(state);
        store.commit("src", d).unwrap();

        let state = store.load("src");
        let mut d = Delta::default();
        d.remove.insert("a".into());
        d.upsert.insert("b".into(), raw(r#"{"id":"b","v":2}"#));
        d.upsert.insert("c".into(), raw(r#"{"id":"c","v":1}"#));
        assert_eq!(state.len_with(&d), 2);
        assert!(state.get(&d, "a").is_none());
        assert_eq!(state.get(&d, "b").unwrap().get(), r#"{"id":"b","v":2}"#);
        assert_eq!(
            String::from_utf8(misp_attributes(&state, &d)).unwrap(),
            r#"{"response":{"Attribute":[{"id":"b","v":2},{"id":"c","v":1}]}}"#
        );
        drop(state);
        store.commit("src", d).unwrap();

        // A full pull replaces everything; the file is what a new process reads.
        let mut d = Delta {
            replace_all: true,
            ..Delta::default()
        };
        d.upsert.insert("z".into(), raw(r#"{"id":"z"}"#));
        assert_eq!(store.load("src").len_with(&d), 1);
        store.commit("src", d).unwrap();
        let again = Store::new(&dir.path().join("s.json")).load("src");
        assert_eq!(again.objects.keys().collect::<Vec<_>>(), ["z"]);
        assert_eq!(again.cursor.as_deref(), Some("c1"));
        // A state of another source is not used.
        assert!(
            Store::new(&dir.path().join("s.json"))
                .load("other")
                .objects
                .is_empty()
        );
    }
}
