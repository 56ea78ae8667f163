//! Pinned TLS clients: trust a server by the SHA-256 fingerprint of its CA (a join
//! token) or of its own certificate (a qdevice being adopted), with a typed error
//! when the pin does not match so callers can say so instead of "cannot reach".

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::pki::fingerprint_der;
use crate::tls::provider;
use crate::NetError;

/// The server's certificate did not match the pinned fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinMismatch {
    /// No CA with the pinned fingerprint signed the server's certificate.
    #[error("the server's CA does not match the pinned fingerprint {expected}")]
    Ca { expected: String },
    /// The server's own certificate has another fingerprint.
    #[error("certificate fingerprint {seen} does not match the expected {expected}")]
    Leaf { seen: String, expected: String },
}

impl From<PinMismatch> for rustls::Error {
    fn from(m: PinMismatch) -> Self {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
            Arc::new(m),
        )))
    }
}

/// The pin mismatch that caused `err`, if one did, however deep in its sources
/// (an HTTP client error wraps an I/O error that wraps the TLS error).
pub fn pin_mismatch<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a PinMismatch> {
    if let Some(m) = err.downcast_ref::<PinMismatch>() {
        return Some(m);
    }
    if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(o))) =
        err.downcast_ref::<rustls::Error>()
    {
        return o.0.downcast_ref::<PinMismatch>();
    }
    // An I/O error's source() skips the error it wraps: look inside it first.
    if let Some(inner) = err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        if let Some(m) = pin_mismatch(inner) {
            return Some(m);
        }
    }
    err.source().and_then(pin_mismatch)
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
                    Some(e) if *e != seen => Err(PinMismatch::Leaf {
                        seen,
                        expected: e.clone(),
                    }
                    .into()),
                    _ => Ok(ServerCertVerified::assertion()),
                }
            }
            Pin::CaInChain(fingerprint) => {
                let ca = intermediates
                    .iter()
                    .find(|c| fingerprint_der(c.as_ref()) == *fingerprint)
                    .ok_or_else(|| PinMismatch::Ca {
                        expected: fingerprint.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatch_is_found_through_io_and_tls_wrappers() {
        let m = PinMismatch::Ca {
            expected: "AA".into(),
        };
        let tls: rustls::Error = m.clone().into();
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        let outer = Outer(io);
        assert_eq!(pin_mismatch(&outer), Some(&m));
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(pin_mismatch(&Outer(other)), None);
    }
}
