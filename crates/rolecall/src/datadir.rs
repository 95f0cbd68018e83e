//! The data directory: SQLite database, master key ring, account id and root access key.
//!
//! Created on first start; later starts (and `rolecall env`) reuse it. The key file is readable
//! by its owner only; the root secret is stored in the database sealed under the master key.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rolecall_core::{Clock, DynStore, root_keys};
use rolecall_crypto::{IdPrefix, KeyRing, MasterKey, access_key_id_for, secret_access_key};
use rolecall_store_sqlite::SqliteStore;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const KEY_FILE: &str = "master.key";
pub const DB_FILE: &str = "rolecall.db";
/// Written by `serve` so that `env` and `exec` can find the API.
pub const ENDPOINT_FILE: &str = "endpoint";
const ROOT_SECRET_AAD: &[u8] = b"rolecall/root-secret/v1";

/// Files in the data directory that hold state or secrets (the database and its journals).
const PRIVATE_FILES: &[&str] = &[DB_FILE, "rolecall.db-wal", "rolecall.db-shm", ENDPOINT_FILE];

/// Removes group and world access from `path` (set to `mode`), saying so in the log: data
/// directories from older versions, or loosened by hand, are tightened on start.
fn make_private(path: &Path, mode: u32) -> Result<()> {
    let current = fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if current & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("restricting {} to its owner", path.display()))?;
        tracing::warn!(
            path = %path.display(),
            was = format!("{current:o}"),
            now = format!("{mode:o}"),
            "data was accessible to other users: restricted to its owner"
        );
    }
    Ok(())
}

/// `$XDG_DATA_HOME/rolecall`, else `~/.local/share/rolecall`.
pub fn default_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("rolecall");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/rolecall")
}

pub struct Deployment {
    pub store: DynStore,
    /// The deployment key ring: seals stored secrets and session tokens, derives their secrets.
    pub keyring: KeyRing,
    pub account_id: String,
    /// The bootstrap root key's secret (re-sealed by `rotate-key`).
    pub root_secret_access_key: String,
    /// The root's first active access key (id, secret), which `rolecall env` prints; None when
    /// every root key was deleted or deactivated through the API.
    pub root_key: Option<(String, String)>,
}

/// Reads the key ring: one key per line, `<id> <64 hex digits>`; the last line is active.
fn read_keyring(path: &Path) -> Result<KeyRing> {
    let meta = fs::metadata(path)?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} must be readable by its owner only (chmod 600)",
            path.display()
        );
    }
    let text = fs::read_to_string(path)?;
    let mut keys = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (id, hex_key) = line
            .trim()
            .split_once(' ')
            .with_context(|| format!("{}:{}: expected '<id> <hex key>'", path.display(), n + 1))?;
        let id: u8 = id
            .parse()
            .with_context(|| format!("{}:{}: bad key id", path.display(), n + 1))?;
        let bytes = hex::decode(hex_key.trim())
            .with_context(|| format!("{}:{}: bad key hex", path.display(), n + 1))?;
        keys.push(
            MasterKey::new(id, &bytes)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), n + 1))?,
        );
    }
    KeyRing::new(keys).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn create_keyring(path: &Path) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(
        f,
        "# rolecall master key ring: '<id> <hex>', last line active. Keep secret."
    )?;
    writeln!(f, "1 {}", hex::encode(MasterKey::generate_bytes()))?;
    f.sync_all()?;
    Ok(())
}

fn random_account_id() -> String {
    // 12 digits, not starting with 0 (as AWS account ids are shown).
    let id = rolecall_crypto::ec2_id("a");
    let digits: String = id[2..]
        .bytes()
        .map(|b| char::from(b'0' + (b % 10)))
        .take(11)
        .collect();
    format!("{}{digits}", 1 + (id.as_bytes()[2] % 9))
}

/// Opens the deployment in `dir`, creating it on first use.
/// How `open` treats a data directory.
pub enum Open<'a> {
    /// `serve`: create what is missing; `account_id` (12 digits) is the account on first start
    /// and must match it later.
    Serve { account_id: Option<&'a str> },
    /// `env`, `exec`, `rotate-key`: use what `serve` created, create nothing.
    Existing,
}

/// Says in the data directory which kind of store its server uses (never the URL, which may
/// carry a password), so commands run without `--database-url` can tell.
const STORE_FILE: &str = "store";
const STORE_POSTGRESQL: &str = "postgresql";

/// Checks a chosen account id: 12 digits.
pub fn check_account_id(id: &str) -> Result<()> {
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("--account-id must be 12 digits, got {id:?}");
    }
    Ok(())
}

/// Opens (for `serve`, creating) the deployment in `dir`; `clock` dates what the first open
/// records (the account's creation).
pub async fn open(
    dir: &Path,
    how: Open<'_>,
    database_url: Option<&str>,
    clock: &dyn Clock,
) -> Result<Deployment> {
    let (create, chosen_account) = match how {
        Open::Serve { account_id } => (true, account_id),
        Open::Existing => (false, None),
    };
    if let Some(id) = chosen_account {
        check_account_id(id)?;
    }
    if !dir.exists() {
        if !create {
            bail!(
                "{} does not exist: run `rolecall serve` first",
                dir.display()
            );
        }
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    make_private(dir, 0o700)?;
    let key_path = dir.join(KEY_FILE);
    if !key_path.exists() {
        if !create {
            bail!("{} is missing", key_path.display());
        }
        create_keyring(&key_path).with_context(|| format!("creating {}", key_path.display()))?;
    }
    let keyring = read_keyring(&key_path)?;
    let marker = dir.join(STORE_FILE);
    let uses_postgresql = fs::read_to_string(&marker)
        .map(|s| s.trim() == STORE_POSTGRESQL)
        .unwrap_or(false);
    match database_url {
        Some(_) if create => fs::write(&marker, format!("{STORE_POSTGRESQL}\n"))?,
        None if uses_postgresql => bail!(
            "the server of {} keeps its state in PostgreSQL: pass the same --database-url (or ROLECALL_DATABASE_URL)",
            dir.display()
        ),
        None if !create && !dir.join(DB_FILE).exists() => bail!(
            "{} has no database: run `rolecall serve --data-dir {}` first, or pass --database-url if its server uses PostgreSQL",
            dir.display(),
            dir.display()
        ),
        _ => {}
    }
    let store: DynStore = match database_url {
        // Several nodes share one PostgreSQL; each keeps a copy of the key ring in its DIR.
        Some(url) => Arc::new(
            rolecall_store_postgres::PostgresStore::connect(url)
                .await
                .map_err(|e| anyhow::anyhow!("connecting to PostgreSQL: {e}"))?,
        ),
        None => Arc::new(
            SqliteStore::open(&dir.join(DB_FILE))
                .await
                .map_err(|e| anyhow::anyhow!("opening database: {e}"))?,
        ),
    };

    for f in PRIVATE_FILES {
        let path = dir.join(f);
        if path.exists() {
            make_private(&path, 0o600)?;
        }
    }

    let account_id = store
        .init_meta(
            "account_id",
            chosen_account
                .map_or_else(random_account_id, str::to_string)
                .as_str(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(id) = chosen_account
        && id != account_id
    {
        bail!(
            "--account-id {id}: this deployment was created with account {account_id}, which cannot change"
        );
    }
    // When the account came to be (GetUser as the root reports it). Deployments from before
    // this was recorded get the time of their first start with it.
    store
        .init_meta(
            "account_created",
            &clock
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let root_access_key_id = store
        .init_meta(
            "root_access_key_id",
            &access_key_id_for(IdPrefix::AccessKey, &account_id),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sealed = B64.encode(keyring.seal(secret_access_key().as_bytes(), ROOT_SECRET_AAD));
    let sealed = store
        .init_meta("root_secret_sealed", &sealed)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let secret = keyring
        .open(
            &B64.decode(sealed).context("root secret is not base64")?,
            ROOT_SECRET_AAD,
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open the root secret with {}: {e}",
                key_path.display()
            )
        })?;
    let root_secret_access_key = String::from_utf8(secret).context("root secret is not UTF-8")?;
    // The root's keys as the API manages them (CreateAccessKey as the root adds one): the
    // bootstrap key first. `rolecall env` prints the first active one.
    let created = store
        .get_meta("account_created")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc));
    let first = root_keys::initial_doc(
        &keyring,
        &root_access_key_id,
        &root_secret_access_key,
        created,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let doc = store
        .init_meta(root_keys::ROOT_KEYS_META, &first)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let root_key = root_keys::first_active(&keyring, &doc);
    Ok(Deployment {
        root_key,
        store,
        keyring,
        account_id,
        root_secret_access_key,
    })
}

/// Adds a new active key to the ring and re-seals the stored secrets under it. Credentials sealed
/// under older keys stay valid (the ring keeps those keys) until they expire; after the longest
/// credential lifetime an old key's line can be deleted from the key file.
pub async fn rotate_key(dir: &Path, database_url: Option<&str>) -> Result<u8> {
    let d = open(
        dir,
        Open::Existing,
        database_url,
        &rolecall_core::SystemClock,
    )
    .await?;
    let key_path = dir.join(KEY_FILE);
    let text = fs::read_to_string(&key_path)?;
    let max_id = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next()?.parse::<u8>().ok())
        .max()
        .unwrap_or(0);
    let id = max_id
        .checked_add(1)
        .context("key ids are exhausted (255): delete retired keys and renumber")?;
    let mut f = fs::OpenOptions::new().append(true).open(&key_path)?;
    writeln!(f, "{id} {}", hex::encode(MasterKey::generate_bytes()))?;
    f.sync_all()?;
    let ring = read_keyring(&key_path)?;
    let sealed = B64.encode(ring.seal(d.root_secret_access_key.as_bytes(), ROOT_SECRET_AAD));
    d.store
        .set_meta("root_secret_sealed", &sealed)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(doc) = d
        .store
        .get_meta(root_keys::ROOT_KEYS_META)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        let resealed =
            root_keys::reseal_doc(&d.keyring, &ring, &doc).map_err(|e| anyhow::anyhow!("{e}"))?;
        d.store
            .set_meta(root_keys::ROOT_KEYS_META, &resealed)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(id)
}
