//! A local server that answers `POST /attributes/restSearch` as MISP's documentation and
//! PyMISP's test data show (MISP itself cannot be installed here): the API key in
//! `Authorization`, a JSON body with `returnFormat`, `page` and `limit`, the reply
//! `{"response": {"Attribute": [...]}}`. It applies the filters iocd's incremental pulls rely
//! on, as MISP does: `timestamp` (attributes changed at or after it) and `deleted` (deleted
//! attributes only when asked for), and `type`; it records every request body so the tests
//! can check what iocd sent.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

/// The server's attributes and the requests it got.
pub struct MispServer {
    key: String,
    /// The attributes, as MISP keeps them (`uuid`, `type`, `value`, `timestamp`, `deleted`,
    /// `Event`, `Tag`, ...).
    pub attributes: Mutex<Vec<Value>>,
    /// Request bodies, in order.
    pub requests: Mutex<Vec<Value>>,
}

impl MispServer {
    /// Serves on 127.0.0.1:0 with API key `key`; the server and its base URL.
    pub fn start(rt: &Runtime, key: &str, attributes: Vec<Value>) -> (Arc<MispServer>, String) {
        let s = Arc::new(MispServer {
            key: key.to_owned(),
            attributes: Mutex::new(attributes),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/attributes/restSearch", axum::routing::post(search))
            .with_state(s.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        rt.spawn(async move { axum::serve(listener, app).await });
        (s, url)
    }

    /// The request bodies so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

async fn search(
    State(s): State<Arc<MispServer>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(s.key.as_str()) {
        return (
            StatusCode::FORBIDDEN,
            json!({"name": "Authentication failed.", "message": "Authentication failed."})
                .to_string(),
        );
    }
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "{}".into());
    };
    s.requests.lock().unwrap().push(req.clone());
    let since = req.get("timestamp").and_then(as_i64);
    let with_deleted = req
        .get("deleted")
        .and_then(Value::as_array)
        .is_some_and(|d| d.iter().any(|x| as_i64(x) == Some(1)));
    let types: Vec<&str> = req
        .get("type")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let all = s.attributes.lock().unwrap().clone();
    let matching: Vec<Value> = all
        .into_iter()
        .filter(|a| since.is_none_or(|t| a.get("timestamp").and_then(as_i64) >= Some(t)))
        .filter(|a| with_deleted || !a.get("deleted").and_then(Value::as_bool).unwrap_or(false))
        .filter(|a| {
            types.is_empty()
                || a.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| types.contains(&t))
        })
        .collect();
    let limit = req.get("limit").and_then(as_i64).unwrap_or(i64::MAX).max(1) as usize;
    let page = req.get("page").and_then(as_i64).unwrap_or(1).max(1) as usize;
    let slice: Vec<Value> = matching
        .into_iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .collect();
    (
        StatusCode::OK,
        json!({"response": {"Attribute": slice}}).to_string(),
    )
}

/// A MISP attribute as `restSearch` returns it, of event `event` ("info" `info`).
pub fn attribute(
    uuid: &str,
    kind: &str,
    value: &str,
    timestamp: i64,
    event: &str,
    info: &str,
) -> Value {
    json!({
        "id": "1",
        "event_id": "1",
        "object_id": "0",
        "category": "Network activity",
        "type": kind,
        "to_ids": true,
        "uuid": uuid,
        "timestamp": timestamp.to_string(),
        "distribution": "5",
        "comment": "",
        "deleted": false,
        "value": value,
        "Event": {"org_id": "1", "distribution": "1", "id": "1", "info": info, "orgc_id": "1", "uuid": event},
        "Tag": [{"name": "tlp:green"}],
    })
}
