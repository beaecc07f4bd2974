//! Certificates for the TLS tests, made fresh per test with rcgen: nothing secret is kept in
//! the repository.

use std::path::{Path, PathBuf};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A self-signed certificate for `localhost`, as PEM text and as the DER a client trusts.
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
}

/// A new self-signed certificate for `localhost`.
pub fn self_signed_localhost() -> SelfSigned {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    SelfSigned {
        cert_pem: ck.cert.pem(),
        key_pem: ck.signing_key.serialize_pem(),
        cert_der: ck.cert.der().clone(),
    }
}

/// [`self_signed_localhost`] written to `dir/cert.pem` and `dir/key.pem`: (cert path, key
/// path, the certificate a client trusts).
pub fn localhost_files(dir: &Path) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let s = self_signed_localhost();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &s.cert_pem).unwrap();
    std::fs::write(&key, &s.key_pem).unwrap();
    (cert, key, s.cert_der)
}

/// A CA and a `localhost` server certificate it signed: (CA PEM, server chain, server key).
pub fn ca_and_localhost() -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "iocd test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let key_der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    (ca.pem(), vec![leaf.der().clone()], key_der)
}

/// A private CA with a server certificate for `localhost` and `127.0.0.1` and a client
/// certificate, written to `dir`: what a server that requires client certificates (an ISAC's
/// TAXII server, CISA AIS) and its client are given.
pub struct Mutual {
    /// The CA certificate (PEM), what the client trusts the server with.
    pub ca: PathBuf,
    /// The client's certificate and key (PEM).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// The server's chain and key, and the CA the server checks clients against.
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: PrivateKeyDer<'static>,
    pub ca_der: CertificateDer<'static>,
}

/// A [`Mutual`] PKI in `dir`.
pub fn mutual(dir: &Path) -> Mutual {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "iocd test mutual CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut client_params = rcgen::CertificateParams::new(vec!["iocd-client".to_owned()]).unwrap();
    client_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "iocd client");
    let client = client_params.signed_by(&client_key, &ca).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Mutual {
        ca: write("ca.pem", &ca.pem()),
        client_cert: write("client.pem", &client.pem()),
        client_key: write("client.key", &client_key.serialize_pem()),
        server_chain: vec![server.der().clone()],
        server_key: PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        ca_der: ca.der().clone(),
    }
}

/// A TLS front that requires a client certificate signed by `m`'s CA and passes each
/// connection through to `127.0.0.1:upstream`, on its own thread; its port.
pub fn mutual_tls_proxy(m: &Mutual, upstream: u16) -> u16 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(m.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(std::sync::Arc::new(roots))
        .build()
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(m.server_chain.clone(), m.server_key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    std_listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client without a certificate fails the handshake here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
    });
    port
}
