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
