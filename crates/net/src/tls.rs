//! rustls configurations (ring provider): API server, mutual-TLS RPC, clients, CA pinning.

use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::pki::{fingerprint_der, CertPair};
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

/// A client that trusts a server only if its chain carries a CA certificate
/// with the pinned SHA-256 fingerprint and the server certificate verifies
/// against that CA (how a join token's fingerprint is checked).
pub fn pinned_ca_client_config(ca_fingerprint: &str) -> Result<ClientConfig, NetError> {
    pinned_client_config(Pin::CaInChain(ca_fingerprint.to_ascii_uppercase()))
}

/// A client for a server not yet in the cluster (a qdevice being adopted):
/// trusts its certificate if its SHA-256 fingerprint is `expected`, or any
/// certificate when `expected` is None (trust on first use; callers say so).
pub fn leaf_pinned_client_config(expected: Option<String>) -> Result<ClientConfig, NetError> {
    pinned_client_config(Pin::Leaf(expected.map(|e| e.to_ascii_uppercase())))
}

fn pinned_client_config(pin: Pin) -> Result<ClientConfig, NetError> {
    let verifier = Arc::new(PinnedVerifier {
        pin,
        provider: provider(),
    });
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// What a pinned client checks.
#[derive(Debug)]
enum Pin {
    /// A CA with this fingerprint is in the chain and signed the server's certificate.
    CaInChain(String),
    /// The server's own certificate has this fingerprint (None: accept any).
    Leaf(Option<String>),
}

#[derive(Debug)]
struct PinnedVerifier {
    pin: Pin,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.pin {
            Pin::Leaf(expected) => {
                let seen = fingerprint_der(end_entity.as_ref());
                match expected {
                    Some(e) if *e != seen => Err(rustls::Error::General(format!(
                        "certificate fingerprint {seen} does not match the expected {e}"
                    ))),
                    _ => Ok(ServerCertVerified::assertion()),
                }
            }
            Pin::CaInChain(fingerprint) => {
                let ca = intermediates
                    .iter()
                    .find(|c| fingerprint_der(c.as_ref()) == *fingerprint)
                    .ok_or_else(|| {
                        rustls::Error::General(format!(
                            "the server's CA does not match the join token's fingerprint {fingerprint}"
                        ))
                    })?;
                let mut store = RootCertStore::empty();
                store.add(ca.clone().into_owned())?;
                let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(store),
                    self.provider.clone(),
                )
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
                inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
