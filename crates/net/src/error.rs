//! Typed errors of the networking layer.

/// What went wrong in certificates, TLS or connections.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("certificate generation failed: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("invalid PEM data: {0}")]
    Pem(String),
    #[error("HTTP client setup failed: {0}")]
    Client(#[from] reqwest::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
