//! `[admin]`: the admin server (a control plane: loopback by default, a token off it), and the
//! check that a secret file is not readable by every user.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The admin HTTP server: `/metrics`, `/healthz`, `/readyz`, `GET /feeds`, `POST /reload`,
/// `/feedback`.
///
/// It is a control plane: `POST /reload` makes iocd work and `POST /feedback` suppresses
/// alerts. Loopback by default; anywhere else it needs a token. Its connections are capped
/// and timed out so that it can never take the file descriptors intake needs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub enabled: bool,
    /// Loopback by default. Any other address needs `token` or `token_file`: whoever
    /// reaches the port could otherwise suppress alerts (`POST /feedback`).
    pub listen: SocketAddr,
    /// Bearer token for the requests that change state (`POST /reload`, `POST` and
    /// `DELETE /feedback`): they need `Authorization: Bearer <token>`, else 401. At least
    /// 16 characters, printable ASCII without spaces. Prefer `token_file`: a configuration
    /// file is often readable by every user.
    pub token: Option<String>,
    /// A file holding the token (surrounding white space ignored), read at start. Refused
    /// when other users may read it; readable by its group is logged as a warning.
    pub token_file: Option<PathBuf>,
    /// Ask for the token on the read-only routes too (`/metrics`, `/healthz`, `/readyz`,
    /// `GET /feedback`, `GET /feedback/summary`). Off by default, as Prometheus and health
    /// checks expect. Needs `token` or `token_file`.
    pub(crate) protect_reads: bool,
    /// Connections served at once. Beyond it a connection is answered 503 and closed at
    /// once (counted in `iocd_admin_refused_connections_total`), so the admin server stays
    /// far below the process's file-descriptor limit. At most 1024.
    pub max_connections: usize,
    /// A connection must send a request's complete headers within this long after it opens
    /// or after its previous response; else it is closed (and counted).
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// A request's body must arrive within this long after its headers; else 408.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// Largest request body accepted; a larger one is refused with 413.
    pub max_body_bytes: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: "127.0.0.1:9750".parse().expect("valid address"),
            token: None,
            token_file: None,
            protect_reads: false,
            max_connections: 32,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
        }
    }
}

/// Shortest admin token accepted.
pub(super) const MIN_TOKEN_LEN: usize = 16;

impl AdminConfig {
    /// The token from `token` or `token_file` (read now), checked; `None` when neither is
    /// set. `Err` says what is wrong and which key to fix.
    pub(crate) fn load_token(&self) -> Result<Option<String>, (&'static str, String)> {
        let (token, at) = match (&self.token, &self.token_file) {
            (Some(_), Some(_)) => {
                return Err((
                    "admin.token_file",
                    "set token or token_file, not both".into(),
                ));
            }
            (Some(t), None) => (t.trim().to_owned(), "admin.token"),
            (None, Some(path)) => {
                check_secret_file(path).map_err(|e| ("admin.token_file", e))?;
                let text = std::fs::read_to_string(path).map_err(|e| {
                    (
                        "admin.token_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                (text.trim().to_owned(), "admin.token_file")
            }
            (None, None) => return Ok(None),
        };
        if token.len() < MIN_TOKEN_LEN {
            return Err((
                at,
                format!("the token must have at least {MIN_TOKEN_LEN} characters"),
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err((
                at,
                "the token must be printable ASCII without spaces (it goes in an HTTP header)"
                    .into(),
            ));
        }
        Ok(Some(token))
    }
}

/// Refuses a secret file other users may read or write.
pub(crate) fn check_secret_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o006 != 0 {
        return Err(format!(
            "{} can be read or written by every user (mode {:o}): chmod o-rw it",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}
