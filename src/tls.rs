//! TLS for iocd's listeners (the syslog TLS source, the export listener): a server config
//! from PEM files. A leaf: it knows no feature.

use std::io;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

/// A TLS acceptor from a PEM certificate chain and a PEM private key; errors name the file.
pub fn acceptor(cert: &std::path::Path, key: &std::path::Path) -> io::Result<TlsAcceptor> {
    // Only ring is compiled in; a second install (another source, a sink) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let open = |p: &std::path::Path| {
        std::fs::File::open(p)
            .map(io::BufReader::new)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
    };
    let invalid = |p: &std::path::Path, what: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {what}", p.display()),
        )
    };
    let certs = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid(cert, "no PEM certificate".into()));
    }
    let key = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| invalid(key, e.to_string()))?
        .ok_or_else(|| invalid(key, "no PEM private key".into()))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(cert, e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
