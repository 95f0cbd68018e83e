//! TLS on the API listener: certificate files given by the operator, or a local CA that
//! `--tls self-signed` creates in the data directory on first start.
//!
//! `DIR/tls/ca.pem` (public) and `DIR/tls/ca.key` (0600) live as long as the data directory; the
//! server certificate (`server.pem`, `server.key`) is issued by that CA at every start for the
//! listen address, `127.0.0.1`, `::1` and `localhost`, so it always names the address in use.
//! `rolecall env` points `AWS_CA_BUNDLE` at `ca.pem`, so the aws CLI and SDKs verify the server.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const TLS_DIR: &str = "tls";
pub const CA_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca.key";
const SERVER_CERT_FILE: &str = "server.pem";
const SERVER_KEY_FILE: &str = "server.key";

/// Writes `contents` to `path`, readable by its owner only, replacing it atomically.
fn write_private(path: &Path, contents: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The local CA's parameters (its name must be the same each time it issues a certificate).
fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params
        .distinguished_name
        .push(DnType::CommonName, "rolecall local CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    Ok(params)
}

/// The local CA of the data directory, created on first use.
fn local_ca(dir: &Path) -> Result<Issuer<'static, KeyPair>> {
    let (cert_path, key_path) = (dir.join(CA_FILE), dir.join(CA_KEY_FILE));
    if cert_path.exists() && key_path.exists() {
        let key = KeyPair::from_pem(&fs::read_to_string(&key_path)?)
            .with_context(|| format!("reading {}", key_path.display()))?;
        return Ok(Issuer::new(ca_params()?, key));
    }
    let key = KeyPair::generate().context("generating the CA key")?;
    let params = ca_params()?;
    let cert = params.self_signed(&key)?;
    write_private(&key_path, &key.serialize_pem())?;
    write_private(&cert_path, &cert.pem())?;
    Ok(Issuer::new(params, key))
}

/// Creates (or reuses) the local CA in `data_dir/tls` and issues a server certificate for
/// `listen`; returns the certificate and key paths.
pub fn self_signed(data_dir: &Path, listen: SocketAddr) -> Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join(TLS_DIR);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let issuer = local_ca(&dir)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "rolecall");
    let mut ips = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    if !listen.ip().is_unspecified() && !ips.contains(&listen.ip()) {
        ips.push(listen.ip());
    }
    params
        .subject_alt_names
        .extend(ips.into_iter().map(SanType::IpAddress));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let (cert_path, key_path) = (dir.join(SERVER_CERT_FILE), dir.join(SERVER_KEY_FILE));
    write_private(&key_path, &key.serialize_pem())?;
    write_private(&cert_path, &cert.pem())?;
    Ok((cert_path, key_path))
}

/// The local CA's certificate, if `--tls self-signed` created one in `data_dir`.
pub fn local_ca_file(data_dir: &Path) -> Option<PathBuf> {
    let p = data_dir.join(TLS_DIR).join(CA_FILE);
    p.exists().then_some(p)
}
