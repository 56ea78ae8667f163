//! rustls configurations (ring provider): API server, mutual-TLS RPC, clients, CA pinning.

use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::pki::CertPair;
use crate::NetError;

/// The one crypto provider brigade uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// All certificates in a PEM text.
pub fn certs_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, NetError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NetError::Pem(e.to_string()))
}

/// The private key in a PEM text.
pub fn key_from_pem(pem: &str) -> Result<PrivateKeyDer<'static>, NetError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| NetError::Pem(e.to_string()))
}

fn roots(ca_pem: &str) -> Result<RootCertStore, NetError> {
    let mut store = RootCertStore::empty();
    for c in certs_from_pem(ca_pem)? {
        store.add(c)?;
    }
    Ok(store)
}

/// A node's identity: its certificate chain (node cert, then the CA) and key.
pub fn certified_key(pair: &CertPair, ca_pem: Option<&str>) -> Result<Arc<CertifiedKey>, NetError> {
    let mut chain = certs_from_pem(&pair.cert_pem)?;
    if let Some(ca) = ca_pem {
        chain.extend(certs_from_pem(ca)?);
    }
    let key = provider()
        .key_provider
        .load_private_key(key_from_pem(&pair.key_pem)?)?;
    Ok(Arc::new(CertifiedKey::new(chain, key)))
}

/// A server certificate that can be swapped while serving (self-signed
/// before the node joins a cluster, CA-signed after).
pub struct ReloadableCert(RwLock<Arc<CertifiedKey>>);

impl fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReloadableCert")
    }
}

impl ReloadableCert {
    pub fn new(key: Arc<CertifiedKey>) -> Arc<Self> {
        Arc::new(ReloadableCert(RwLock::new(key)))
    }

    pub fn replace(&self, key: Arc<CertifiedKey>) {
        match self.0.write() {
            Ok(mut g) => *g = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self.0.read() {
            Ok(g) => Some(g.clone()),
            Err(poisoned) => Some(poisoned.into_inner().clone()),
        }
    }
}

/// The API server: TLS without client certificates (tokens authenticate).
pub fn api_server_config(cert: Arc<ReloadableCert>) -> Result<Arc<ServerConfig>, NetError> {
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The internal RPC server: mutual TLS, client certificates signed by the cluster CA.
pub fn rpc_server_config(
    ca_pem: &str,
    identity: Arc<CertifiedKey>,
) -> Result<Arc<ServerConfig>, NetError> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider())
            .build()
            .map_err(|e| NetError::Tls(rustls::Error::General(e.to_string())))?;
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(ReloadableCert::new(identity));
    cfg.alpn_protocols = vec![
        crate::frames::ALPN_FRAMES.to_vec(),
        crate::tunnel::ALPN_TUNNEL.to_vec(),
        b"http/1.1".to_vec(),
    ];
    Ok(Arc::new(cfg))
}

/// A client trusting only `ca_pem`, optionally presenting a client certificate.
pub fn client_config(ca_pem: &str, identity: Option<&CertPair>) -> Result<ClientConfig, NetError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem)?);
    let cfg = match identity {
        Some(pair) => builder.with_client_auth_cert(
            certs_from_pem(&pair.cert_pem)?,
            key_from_pem(&pair.key_pem)?,
        )?,
        None => builder.with_no_client_auth(),
    };
    Ok(cfg)
}

pub use crate::pin::{
    leaf_pinned_client_config, pin_mismatch, pinned_ca_client_config, PinMismatch,
};
