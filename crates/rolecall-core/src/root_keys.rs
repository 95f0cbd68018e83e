//! The root's access keys (at most two, as in AWS). They are kept as one metadata document
//! ([`ROOT_KEYS_META`], a JSON list of [`AccessKey`]s with an empty user name), each secret
//! sealed as a user's is; every change goes through the store's write path and is recorded in
//! the change feed as an access-key change, so every node drops the keys it cached.

use crate::iam::Iam;
use crate::iam_principals::{check_status, no_such_access_key, seal_secret};
use crate::model::AccessKey;
use crate::{EntityKind, Error, Result, StoreError};
use chrono::{DateTime, Utc};
use rolecall_crypto::{IdPrefix, KeyRing, access_key_id_for, secret_access_key};

/// The metadata key of the root's access keys.
pub const ROOT_KEYS_META: &str = "root_access_keys";

/// The root's quota, as for users.
const MAX_ROOT_KEYS: usize = 2;

fn parse(doc: &str) -> crate::StoreResult<Vec<AccessKey>> {
    if doc.is_empty() {
        return Ok(vec![]);
    }
    serde_json::from_str(doc).map_err(|e| StoreError::Backend(format!("root keys: {e}")))
}

fn render(keys: &[AccessKey]) -> crate::StoreResult<String> {
    serde_json::to_string(keys).map_err(|e| StoreError::Backend(format!("root keys: {e}")))
}

fn root_key(ring: &KeyRing, id: String, secret: &str, created: DateTime<Utc>) -> AccessKey {
    AccessKey {
        secret_sealed: seal_secret(ring, &id, secret),
        id,
        user_name: String::new(),
        status: "Active".into(),
        create_date: created,
        last_used: None,
    }
}

/// The document a new deployment starts with: its bootstrap root key.
pub fn initial_doc(
    ring: &KeyRing,
    id: &str,
    secret: &str,
    created: DateTime<Utc>,
) -> Result<String> {
    Ok(render(&[root_key(ring, id.to_string(), secret, created)])?)
}

/// The root's active key `id` and its secret, from a document (the server's start-up and
/// `rolecall env` pick the key to print with [`first_active`]).
pub fn first_active(ring: &KeyRing, doc: &str) -> Option<(String, String)> {
    parse(doc)
        .ok()?
        .into_iter()
        .filter(|k| k.status == "Active")
        .find_map(|k| Some((k.id.clone(), crate::iam_principals::open_secret(ring, &k)?)))
}

/// The document with every secret sealed again under `new`'s active key (key rotation), so the
/// key `old` opened them with can be retired.
pub fn reseal_doc(old: &KeyRing, new: &KeyRing, doc: &str) -> Result<String> {
    let mut keys = parse(doc)?;
    for k in &mut keys {
        let secret = crate::iam_principals::open_secret(old, k).ok_or_else(|| {
            Error::Internal(format!("cannot open the root key {}'s secret", k.id).into())
        })?;
        k.secret_sealed = seal_secret(new, &k.id, &secret);
    }
    Ok(render(&keys)?)
}

impl Iam {
    /// The root's access keys, oldest first.
    pub async fn root_keys(&self) -> Result<Vec<AccessKey>> {
        let doc = self.store().get_meta(ROOT_KEYS_META).await?;
        Ok(parse(doc.as_deref().unwrap_or(""))?)
    }

    /// The secret of the root's access key `id` if it exists and is active.
    pub async fn active_root_secret(&self, ring: &KeyRing, id: &str) -> Result<Option<String>> {
        Ok(self
            .root_keys()
            .await?
            .into_iter()
            .find(|k| k.id == id && k.status == "Active")
            .and_then(|k| crate::iam_principals::open_secret(ring, &k)))
    }

    /// A new root access key and its secret (LimitExceeded past two).
    pub async fn create_root_key(&self, ring: &KeyRing) -> Result<(AccessKey, String)> {
        let id = access_key_id_for(IdPrefix::AccessKey, self.account_id());
        let secret = secret_access_key();
        let key = root_key(ring, id.clone(), &secret, self.now());
        let added = key.clone();
        self.edit_root_keys(&id, move |keys| {
            if keys.len() >= MAX_ROOT_KEYS {
                return Err(StoreError::LimitExceeded(crate::Limit::AccessKeysPerUser).into());
            }
            keys.push(added);
            Ok(())
        })
        .await?;
        Ok((key, secret))
    }

    pub async fn update_root_key(&self, id: &str, status: &str) -> Result<()> {
        check_status(status)?;
        let (owned, status) = (id.to_string(), status.to_string());
        self.edit_root_keys(id, move |keys| {
            let k = keys
                .iter_mut()
                .find(|k| k.id == owned)
                .ok_or_else(|| no_such_access_key(&owned))?;
            k.status = status;
            Ok(())
        })
        .await
    }

    /// Deletes a root key (the one signing the request included, as AWS allows).
    pub async fn delete_root_key(&self, id: &str) -> Result<()> {
        let owned = id.to_string();
        self.edit_root_keys(id, move |keys| {
            let before = keys.len();
            keys.retain(|k| k.id != owned);
            if keys.len() == before {
                return Err(no_such_access_key(&owned));
            }
            Ok(())
        })
        .await
    }

    async fn edit_root_keys(
        &self,
        changed_id: &str,
        edit: impl FnOnce(&mut Vec<AccessKey>) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let edit = Box::new(move |doc: &mut String| -> Result<()> {
            let mut keys = parse(doc)?;
            edit(&mut keys)?;
            *doc = render(&keys)?;
            Ok(())
        });
        let changed = (EntityKind::AccessKey, changed_id.to_string());
        self.store()
            .modify_meta(ROOT_KEYS_META, edit, changed)
            .await
            .map(drop)
            .map_err(Error::from)
    }
}
