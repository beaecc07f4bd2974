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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The version of the state file's layout; a file of another version is not read (the
/// collection is downloaded again, and a warning says why).
const STATE_VERSION: u32 = 1;

/// What was collected so far, and where the next pull starts.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
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
    pub objects: BTreeMap<String, Value>,
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
    current: Mutex<Option<State>>,
}

impl Store {
    pub fn new(path: &Path) -> Store {
        Store {
            path: path.to_owned(),
            current: Mutex::new(None),
        }
    }

    /// The state of `source`: the one in memory, else the one on disk, else an empty one. A
    /// file that cannot be read, of another version or of another source is left for the
    /// next commit to replace, with a warning.
    pub fn load(&self, source: &str) -> State {
        if let Some(s) = self.current.lock().expect("state lock").as_ref()
            && s.source == source
        {
            return s.clone();
        }
        let read = std::fs::read(&self.path);
        let state = match read {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot read the feed's state: collecting from the start");
                None
            }
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(s) if s.version == STATE_VERSION && s.source == source => Some(s),
                Ok(s) if s.version != STATE_VERSION => {
                    tracing::warn!(path = %self.path.display(), version = s.version, "feed state of another version: collecting from the start");
                    None
                }
                Ok(_) => {
                    tracing::info!(path = %self.path.display(), "feed state of another source (the URL or collection changed): collecting from the start");
                    None
                }
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "feed state is not readable: collecting from the start");
                    None
                }
            },
        };
        state.unwrap_or_else(|| State::new(source))
    }

    /// Makes `state` the current one, in memory and on disk (atomically).
    pub fn commit(&self, state: State) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&state).expect("a state serializes");
        *self.current.lock().expect("state lock") = Some(state);
        crate::statefile::write_atomic(&self.path, &bytes)
    }
}

/// A state waiting for the catalog's guard: committed when the document built from it is
/// accepted.
#[derive(Debug)]
pub(crate) struct Commit {
    pub store: std::sync::Arc<Store>,
    pub state: State,
}

/// The collection as a STIX bundle, for the STIX parser.
pub fn stix_bundle(state: &State) -> Vec<u8> {
    let doc = serde_json::json!({
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000000",
        "objects": state.objects.values().collect::<Vec<_>>(),
    });
    serde_json::to_vec(&doc).expect("a bundle serializes")
}

/// The attributes as a MISP attribute search result, for the MISP parser.
pub fn misp_attributes(state: &State) -> Vec<u8> {
    let doc = serde_json::json!({
        "response": { "Attribute": state.objects.values().collect::<Vec<_>>() },
    });
    serde_json::to_vec(&doc).expect("a response serializes")
}

/// The contents of a secret file (a password, token or API key), trimmed.
pub(crate) fn secret(path: &Path) -> Result<String, crate::ioc::fetch::FetchError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| crate::ioc::fetch::FetchError::Client(format!("{}: {e}", path.display())))
}
