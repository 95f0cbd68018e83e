//! TLS for a listener: a certificate chain and private key (PEM files) that can be replaced
//! while serving. New connections use the newest pair that loaded; a pair that fails to load
//! (half-written, mismatched) is reported and the previous one stays in use.

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsAcceptor;

/// Why a certificate/key pair could not be used.
#[derive(Debug)]
pub struct TlsError(String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// What identifies a version of the files (so a watcher can tell they changed).
type Stamp = Option<(SystemTime, u64, SystemTime, u64)>;

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let c = std::fs::metadata(cert).ok()?;
    let k = std::fs::metadata(key).ok()?;
    Some((c.modified().ok()?, c.len(), k.modified().ok()?, k.len()))
}

fn load_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError(format!("reading {}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError(format!("reading {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(TlsError(format!("{}: no certificate", cert.display())));
    }
    // The key is a secret: errors name the file, never its contents.
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError(format!("reading the private key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            TlsError(format!(
                "{} and {} do not make a usable pair: {e}",
                cert.display(),
                key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener's certificate and key, reloadable.
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(TlsAcceptor, Stamp)>,
}

impl ServerTls {
    /// Loads the pair; fails if it is not usable.
    pub fn load(
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Result<Arc<ServerTls>, TlsError> {
        let (cert, key) = (cert.into(), key.into());
        let config = load_config(&cert, &key)?;
        let stamp = stamp(&cert, &key);
        Ok(Arc::new(ServerTls {
            current: RwLock::new((TlsAcceptor::from(config), stamp)),
            cert,
            key,
        }))
    }

    /// The acceptor for a new connection (the newest pair that loaded).
    pub fn acceptor(&self) -> Option<TlsAcceptor> {
        self.current.read().ok().map(|c| c.0.clone())
    }

    /// Reads the files again and uses them from the next connection on; on failure the
    /// previous pair stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = load_config(&self.cert, &self.key)?;
        let stamp = stamp(&self.cert, &self.key);
        if let Ok(mut c) = self.current.write() {
            *c = (TlsAcceptor::from(config), stamp);
        }
        tracing::info!(cert = %self.cert.display(), "TLS certificate loaded");
        Ok(())
    }

    /// Reloads when the files' modification times or sizes changed since the last load.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = stamp(&self.cert, &self.key);
        let seen = self.current.read().ok().and_then(|c| c.1);
        if now.is_none() || now == seen {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    /// Checks the files every `every` and reloads them when they change (certificates rotated
    /// by an ACME client or configuration management), forever.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        let mut failed_stamp: Stamp = None;
        loop {
            tokio::time::sleep(every).await;
            let now = stamp(&self.cert, &self.key);
            if let Err(e) = self.reload_if_changed() {
                // Say it once per version of the files, not every poll.
                if now != failed_stamp {
                    tracing::warn!(error = %e, "TLS certificate not reloaded; the previous one stays in use");
                    failed_stamp = now;
                }
            }
        }
    }
}
