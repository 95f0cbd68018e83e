//! Console passwords (IAM login profiles) and the account's password policy.
//!
//! Both are deployment metadata documents changed through the store's write path
//! (`modify_meta`, so the change feed records them): the policy under [`PASSWORD_POLICY_META`],
//! a user's profile under `login_profile/<user id>` (keyed by id, so a user renamed keeps its
//! password and a new user of an old name does not inherit one). A password is kept only as its
//! argon2 hash (PHC string, default parameters); it is never stored in clear, returned or logged.

use crate::iam::Iam;
use crate::model::User;
use crate::{EntityKind, Error, Existing, Missing, Named, Result, StoreError};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// The metadata key of the account's password policy ("" = none).
pub const PASSWORD_POLICY_META: &str = "account_password_policy";

/// AWS's message for a password a policy refuses.
const VIOLATION: &str = "Password does not conform to the account password policy.";

/// A user's login profile is the metadata document under this prefix and the user's id ("" =
/// none); DeleteUser counts it in its transaction.
pub const LOGIN_PROFILE_META_PREFIX: &str = "login_profile/";

fn profile_meta(user_id: &str) -> String {
    format!("{LOGIN_PROFILE_META_PREFIX}{user_id}")
}

/// The account's password policy; members omitted when it was set take AWS's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    pub minimum_password_length: i64,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase_characters: bool,
    pub require_lowercase_characters: bool,
    pub allow_users_to_change_password: bool,
    /// Days; `None` = passwords do not expire.
    pub max_password_age: Option<i64>,
    pub password_reuse_prevention: Option<i64>,
    /// As given (AWS reports it only when it was set).
    pub hard_expiry: Option<bool>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            minimum_password_length: 6,
            require_symbols: false,
            require_numbers: false,
            require_uppercase_characters: false,
            require_lowercase_characters: false,
            allow_users_to_change_password: false,
            max_password_age: None,
            password_reuse_prevention: None,
            hard_expiry: None,
        }
    }
}

impl PasswordPolicy {
    pub fn expire_passwords(&self) -> bool {
        self.max_password_age.is_some_and(|d| d > 0)
    }
}

/// The symbols IAM's password policy counts: ``! @ # $ % ^ & * ( ) _ + - = [ ] { } | '``.
fn is_symbol(c: char) -> bool {
    "!@#$%^&*()_+-=[]{}|'".contains(c)
}

/// The character classes a password uses: (uppercase, lowercase, number, symbol).
fn classes(password: &str) -> [bool; 4] {
    let has = |f: fn(char) -> bool| password.chars().any(f);
    [
        has(|c| c.is_ascii_uppercase()),
        has(|c| c.is_ascii_lowercase()),
        has(|c| c.is_ascii_digit()),
        has(|c| !c.is_ascii_alphanumeric()),
    ]
}

/// Checks `password` against the account's policy, or without one against AWS's default policy
/// (at least 8 characters and three of uppercase, lowercase, numbers and symbols).
fn check_password(policy: Option<&PasswordPolicy>, password: &str) -> Result<()> {
    let length = password.chars().count() as i64;
    let [upper, lower, number, _] = classes(password);
    let ok = match policy {
        None => {
            let kinds = classes(password).iter().filter(|k| **k).count();
            length >= 8 && kinds >= 3
        }
        Some(p) => {
            length >= p.minimum_password_length
                && (!p.require_uppercase_characters || upper)
                && (!p.require_lowercase_characters || lower)
                && (!p.require_numbers || number)
                && (!p.require_symbols || password.chars().any(is_symbol))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Error::PasswordPolicyViolation(VIOLATION.into()))
    }
}

/// A user's login profile as stored (the password only as its hash).
#[derive(Clone, Serialize, Deserialize)]
struct StoredProfile {
    create_date: DateTime<Utc>,
    password_reset_required: bool,
    password_hash: String,
}

/// A user's login profile as IAM reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginProfile {
    pub user_name: String,
    pub create_date: DateTime<Utc>,
    pub password_reset_required: bool,
}

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::internal("password salt", e))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal("password hash", e))
}

fn parse_doc<T: for<'de> Deserialize<'de>>(doc: &str, what: &str) -> Result<Option<T>> {
    if doc.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(doc)
        .map(Some)
        .map_err(|e| StoreError::Backend(format!("{what}: {e}")).into())
}

fn render<T: Serialize>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("{what}: {e}")).into())
}

fn no_such_profile(user: &str) -> Error {
    Error::NoSuchEntity(Missing::LoginProfile(user.into()))
}

fn no_such_policy() -> Error {
    Error::NoSuchEntity(Missing::PasswordPolicy)
}

/// The outcome of a console password check.
#[derive(Debug)]
pub enum PasswordCheck {
    /// Wrong password, unknown user or no login profile: callers must not tell which.
    Refused,
    Accepted {
        user: User,
        reset_required: bool,
    },
}

/// A hash of a random password, made once: what a sign-in of a user without a password is
/// checked against, so it costs one argon2 verification like any other.
fn dummy_hash() -> Result<&'static str> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h);
    }
    let mut random = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut random);
    let password: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let made = hash_password(&password)?;
    Ok(DUMMY.get_or_init(|| made))
}

/// What a login-profile edit does.
enum ProfileEdit {
    Create {
        hash: String,
        reset: bool,
    },
    Update {
        hash: Option<String>,
        reset: Option<bool>,
    },
    Delete,
}

impl Iam {
    // ----- the account password policy -----

    /// The account's password policy, if it has one.
    pub async fn password_policy(&self) -> Result<Option<PasswordPolicy>> {
        let doc = self.store().get_meta(PASSWORD_POLICY_META).await?;
        parse_doc(doc.as_deref().unwrap_or(""), "password policy")
    }

    /// The account's password policy (NoSuchEntity without one).
    pub async fn get_password_policy(&self) -> Result<PasswordPolicy> {
        self.password_policy().await?.ok_or_else(no_such_policy)
    }

    /// Replaces the account's password policy (omitted members at their defaults, as in AWS).
    pub async fn update_password_policy(&self, policy: PasswordPolicy) -> Result<()> {
        let doc = render(&policy, "password policy")?;
        self.edit_meta(PASSWORD_POLICY_META, "password-policy", move |d| {
            *d = doc;
            Ok(())
        })
        .await
    }

    pub async fn delete_password_policy(&self) -> Result<()> {
        self.edit_meta(PASSWORD_POLICY_META, "password-policy", |d| {
            if d.is_empty() {
                return Err(no_such_policy());
            }
            d.clear();
            Ok(())
        })
        .await
    }

    // ----- login profiles -----

    /// The user's login profile (NoSuchEntity for an unknown user or one without a profile).
    pub async fn get_login_profile(&self, user_name: &str) -> Result<LoginProfile> {
        let user = self.get_user(user_name).await?;
        let stored = self.stored_profile(&user).await?;
        let stored = stored.ok_or_else(|| no_such_profile(&user.name))?;
        Ok(LoginProfile {
            user_name: user.entity.name,
            create_date: stored.create_date,
            password_reset_required: stored.password_reset_required,
        })
    }

    /// Gives the user a console password (EntityAlreadyExists when it has one).
    pub async fn create_login_profile(
        &self,
        user_name: &str,
        password: &str,
        reset_required: bool,
    ) -> Result<LoginProfile> {
        let user = self.get_user(user_name).await?;
        check_password(self.password_policy().await?.as_ref(), password)?;
        let edit = ProfileEdit::Create {
            hash: hash_password(password)?,
            reset: reset_required,
        };
        self.edit_profile(&user, edit).await?;
        self.get_login_profile(&user.name).await
    }

    /// Changes the user's password and/or whether it must be reset.
    pub async fn update_login_profile(
        &self,
        user_name: &str,
        password: Option<&str>,
        reset_required: Option<bool>,
    ) -> Result<()> {
        let user = self.get_user(user_name).await?;
        let hash = match password {
            Some(p) => {
                check_password(self.password_policy().await?.as_ref(), p)?;
                Some(hash_password(p)?)
            }
            None => None,
        };
        let edit = ProfileEdit::Update {
            hash,
            reset: reset_required,
        };
        self.edit_profile(&user, edit).await
    }

    pub async fn delete_login_profile(&self, user_name: &str) -> Result<()> {
        let user = self.get_user(user_name).await?;
        self.edit_profile(&user, ProfileEdit::Delete).await
    }

    /// Whether `password` is the user's console password (false for an unknown user or one
    /// without a login profile).
    pub async fn verify_password(&self, user_name: &str, password: &str) -> Result<bool> {
        Ok(matches!(
            self.check_console_password(user_name, password).await?,
            PasswordCheck::Accepted { .. }
        ))
    }

    /// The console's sign-in check. An unknown user, or one without a login profile, is
    /// checked against a dummy hash, so a refusal takes about as long whatever its reason.
    pub async fn check_console_password(
        &self,
        user_name: &str,
        password: &str,
    ) -> Result<PasswordCheck> {
        let found = match self.get_user(user_name).await {
            Ok(user) => self.stored_profile(&user).await?.map(|p| (user, p)),
            Err(Error::NoSuchEntity(_)) => None,
            Err(e) => return Err(e),
        };
        let stored_hash = found.as_ref().map(|(_, p)| p.password_hash.as_str());
        let hash = match stored_hash {
            Some(h) => h,
            None => dummy_hash()?,
        };
        let hash =
            PasswordHash::new(hash).map_err(|e| Error::internal("stored password hash", e))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok();
        Ok(match found {
            Some((user, profile)) if matches => PasswordCheck::Accepted {
                user,
                reset_required: profile.password_reset_required,
            },
            _ => PasswordCheck::Refused,
        })
    }

    async fn stored_profile(&self, user: &User) -> Result<Option<StoredProfile>> {
        let doc = self.store().get_meta(&profile_meta(&user.id)).await?;
        parse_doc(doc.as_deref().unwrap_or(""), "login profile")
    }

    /// Edits the user's profile under the user's row lock (a user deleted meanwhile is
    /// NoSuchEntity, and a DeleteUser waits for the edit and then sees the profile).
    async fn edit_profile(&self, user: &User, edit: ProfileEdit) -> Result<()> {
        let name = user.name.clone();
        let now = self.now();
        let edit = move |doc: &mut String| {
            let current: Option<StoredProfile> = parse_doc(doc, "login profile")?;
            let next = match (edit, current) {
                (ProfileEdit::Create { .. }, Some(_)) => {
                    return Err(Error::EntityAlreadyExists(Existing::new(
                        Named::LoginProfile,
                        name,
                    )));
                }
                (ProfileEdit::Create { hash, reset }, None) => Some(StoredProfile {
                    create_date: now,
                    password_reset_required: reset,
                    password_hash: hash,
                }),
                (ProfileEdit::Update { hash, reset }, Some(mut p)) => {
                    if let Some(h) = hash {
                        p.password_hash = h;
                    }
                    if let Some(r) = reset {
                        p.password_reset_required = r;
                    }
                    Some(p)
                }
                (ProfileEdit::Delete, Some(_)) => None,
                (_, None) => return Err(no_such_profile(&name)),
            };
            *doc = match next {
                Some(p) => render(&p, "login profile")?,
                None => String::new(),
            };
            Ok(())
        };
        let gone = || Error::from(StoreError::NotFound(Missing::User(user.name.clone())));
        match self
            .store()
            .modify_user_meta(&user.id, &profile_meta(&user.id), Box::new(edit))
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound(Missing::User(_))) => Err(gone()),
            Err(e) => Err(e.into()),
        }
    }

    /// Edits a metadata document through the store's write path; the change feed records it as
    /// a change to the user `changed_id` (the password policy: a pseudo id no user has).
    async fn edit_meta(
        &self,
        key: &str,
        changed_id: &str,
        edit: impl FnOnce(&mut String) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let changed = (EntityKind::User, changed_id.to_string());
        self.store()
            .modify_meta(key, Box::new(edit), changed)
            .await
            .map(drop)
            .map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_default_policy_needs_eight_characters_of_three_kinds() {
        assert!(check_password(None, "Abcdefg1").is_ok());
        assert!(check_password(None, "abcdefg1!").is_ok());
        assert!(check_password(None, "Abcde1!").is_err());
        assert!(check_password(None, "abcdefgh1").is_err());
    }

    #[test]
    fn account_policy_replaces_the_default() {
        let p = PasswordPolicy {
            minimum_password_length: 10,
            require_symbols: true,
            require_numbers: true,
            ..PasswordPolicy::default()
        };
        assert!(check_password(Some(&p), "abcdefgh1!").is_ok());
        assert!(check_password(Some(&p), "abcdefgh11").is_err());
        assert!(check_password(Some(&p), "abcdefg1!").is_err());
        let weak = PasswordPolicy::default();
        assert!(check_password(Some(&weak), "abcdef").is_ok());
        assert!(check_password(Some(&weak), "abcde").is_err());
    }

    #[test]
    fn hashes_verify_and_never_hold_the_password() {
        let h = hash_password("Correct-Horse-1").expect("hash");
        assert!(!h.contains("Correct-Horse-1"));
        assert!(h.starts_with("$argon2id$"));
        let parsed = PasswordHash::new(&h).expect("phc");
        let a = Argon2::default();
        assert!(a.verify_password(b"Correct-Horse-1", &parsed).is_ok());
        assert!(a.verify_password(b"wrong", &parsed).is_err());
    }
}
