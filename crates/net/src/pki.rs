//! The cluster CA and node certificates (rcgen, ECDSA P-256).

use std::net::IpAddr;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use sha2::{Digest, Sha256};

use crate::NetError;

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

fn ca_params(cluster_name: &str) -> Result<CertificateParams, NetError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(
        DnType::CommonName,
        format!("brigade cluster CA {cluster_name}"),
    );
    params
        .distinguished_name
        .push(DnType::OrganizationName, "brigade");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2120, 1, 1);
    Ok(params)
}

/// Makes a new cluster CA.
pub fn generate_ca(cluster_name: &str) -> Result<CertPair, NetError> {
    let key = KeyPair::generate()?;
    let cert = ca_params(cluster_name)?.self_signed(&key)?;
    Ok(CertPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Issues a certificate for a node, valid as TLS server and client for its
/// name and addresses, signed by the cluster CA.
pub fn issue_node_cert(
    cluster_name: &str,
    ca_key_pem: &str,
    node_name: &str,
    ips: &[IpAddr],
) -> Result<CertPair, NetError> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let issuer = ca_params(cluster_name)?.self_signed(&ca_key)?;
    let mut sans: Vec<String> = vec![node_name.to_string(), "localhost".to_string()];
    sans.extend(ips.iter().map(|ip| ip.to_string()));
    let mut params = CertificateParams::new(sans)?;
    params
        .distinguished_name
        .push(DnType::CommonName, node_name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "brigade");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2120, 1, 1);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer, &ca_key)?;
    Ok(CertPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A self-signed server certificate for a node that is not in a cluster yet.
pub fn self_signed(node_name: &str, ips: &[IpAddr]) -> Result<CertPair, NetError> {
    let mut sans: Vec<String> = vec![node_name.to_string(), "localhost".to_string()];
    sans.extend(ips.iter().map(|ip| ip.to_string()));
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(sans)?;
    params
        .distinguished_name
        .push(DnType::CommonName, node_name);
    let cert = params.self_signed(&key)?;
    Ok(CertPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// SHA-256 fingerprint of the first certificate in a PEM text, as
/// colon-separated upper-case hex (the form `openssl x509 -fingerprint` prints).
pub fn fingerprint_pem(cert_pem: &str) -> Result<String, NetError> {
    let der = crate::tls::certs_from_pem(cert_pem)?
        .into_iter()
        .next()
        .ok_or_else(|| NetError::Pem("no certificate in PEM".into()))?;
    Ok(fingerprint_der(der.as_ref()))
}

/// SHA-256 fingerprint of a DER certificate.
pub fn fingerprint_der(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_cert_differs_from_ca_and_fingerprint_is_stable() {
        let ca = generate_ca("lab").expect("ca");
        let node = issue_node_cert(
            "lab",
            &ca.key_pem,
            "n1",
            &["127.0.1.1".parse().expect("ip")],
        )
        .expect("node");
        assert_ne!(ca.cert_pem, node.cert_pem);
        let fp = fingerprint_pem(&ca.cert_pem).expect("fp");
        assert_eq!(fp, fingerprint_pem(&ca.cert_pem).expect("fp"));
        assert_eq!(fp.len(), 32 * 3 - 1);
    }
}
