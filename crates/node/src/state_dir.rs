//! The node's own files: identity, TLS material, local tokens, the cfs databases.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use brigade_net::pki::CertPair;

use crate::token::ApiToken;

/// node.json: set once the node created or joined a cluster.
pub const MEMBERSHIP_FILE: &str = "node.json";
/// Self-signed API certificate used before the node is in a cluster.
pub const API_CERT: &str = "tls/api.crt";
pub const API_KEY: &str = "tls/api.key";
/// The addresses the self-signed API certificate was made for, one per line.
pub const API_CERT_IPS: &str = "tls/api.ips";
/// CA-signed node certificate, key, and the cluster CA.
pub const NODE_CERT: &str = "tls/node.crt";
pub const NODE_KEY: &str = "tls/node.key";
pub const CA_CERT: &str = "tls/ca.pem";
/// The node-local administrator token (root on this machine), mode 0600.
pub const LOCAL_TOKEN: &str = "priv/local.token";
/// The cluster's root token, stored for the local CLI by `cluster create`, mode 0600.
pub const ROOT_TOKEN: &str = "priv/root.token";
/// The cfs databases.
pub const CFS_DIR: &str = "cfs";

/// The node's membership once in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub cluster: String,
    pub node_id: u64,
}

/// The state directory of one node.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// Writes a file atomically (temp file, fsync, rename) with the given mode.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
    fs::rename(&tmp, path)
}

impl StateDir {
    /// Opens (creating) the directory and its `tls/` and `priv/` parts.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(root.join("tls"))?;
        fs::create_dir_all(root.join("priv"))?;
        fs::set_permissions(root.join("priv"), fs::Permissions::from_mode(0o700))?;
        Ok(StateDir {
            root: root.to_path_buf(),
        })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn membership(&self) -> std::io::Result<Option<Membership>> {
        match fs::read(self.path(MEMBERSHIP_FILE)) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn save_membership(&self, m: &Membership) -> std::io::Result<()> {
        write_atomic(
            &self.path(MEMBERSHIP_FILE),
            &serde_json::to_vec_pretty(m)?,
            0o644,
        )
    }

    fn read_pair(&self, cert: &str, key: &str) -> std::io::Result<Option<CertPair>> {
        match (
            fs::read_to_string(self.path(cert)),
            fs::read_to_string(self.path(key)),
        ) {
            (Ok(cert_pem), Ok(key_pem)) => Ok(Some(CertPair { cert_pem, key_pem })),
            (Err(e), _) | (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }

    /// The self-signed API certificate for `ips`, made on first use and again when the
    /// node's addresses changed (an `api_address` added to node.toml, say).
    pub fn api_cert(
        &self,
        ips: &[std::net::IpAddr],
        make: impl FnOnce() -> std::io::Result<CertPair>,
    ) -> std::io::Result<CertPair> {
        let wanted: String = ips.iter().map(|ip| format!("{ip}\n")).collect();
        let recorded = match fs::read_to_string(self.path(API_CERT_IPS)) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if let Some(p) = self.read_pair(API_CERT, API_KEY)? {
            // A certificate from before the addresses were recorded names `address` only,
            // which is what it was made for then: keep it unless an address was added.
            let same = recorded.as_deref().map_or(ips.len() == 1, |r| r == wanted);
            if same {
                return Ok(p);
            }
        }
        let p = make()?;
        write_atomic(&self.path(API_KEY), p.key_pem.as_bytes(), 0o600)?;
        write_atomic(&self.path(API_CERT), p.cert_pem.as_bytes(), 0o644)?;
        write_atomic(&self.path(API_CERT_IPS), wanted.as_bytes(), 0o644)?;
        Ok(p)
    }

    /// The CA-signed node certificate and the cluster CA, once in a cluster.
    pub fn node_tls(&self) -> std::io::Result<Option<(CertPair, String)>> {
        let Some(pair) = self.read_pair(NODE_CERT, NODE_KEY)? else {
            return Ok(None);
        };
        let ca = fs::read_to_string(self.path(CA_CERT))?;
        Ok(Some((pair, ca)))
    }

    pub fn save_node_tls(&self, pair: &CertPair, ca_pem: &str) -> std::io::Result<()> {
        write_atomic(&self.path(NODE_KEY), pair.key_pem.as_bytes(), 0o600)?;
        write_atomic(&self.path(NODE_CERT), pair.cert_pem.as_bytes(), 0o644)?;
        write_atomic(&self.path(CA_CERT), ca_pem.as_bytes(), 0o644)
    }

    /// The node-local administrator token, made on first use.
    pub fn local_token(&self) -> std::io::Result<ApiToken> {
        match fs::read_to_string(self.path(LOCAL_TOKEN)) {
            Ok(s) => ApiToken::parse(&s).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let t = ApiToken::generate("root@pam!local");
                write_atomic(&self.path(LOCAL_TOKEN), format!("{t}\n").as_bytes(), 0o600)?;
                Ok(t)
            }
            Err(e) => Err(e),
        }
    }

    pub fn save_root_token(&self, t: &ApiToken) -> std::io::Result<()> {
        write_atomic(&self.path(ROOT_TOKEN), format!("{t}\n").as_bytes(), 0o600)
    }
}
