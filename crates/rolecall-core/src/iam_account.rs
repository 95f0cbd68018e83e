//! IAM operations on the account (its alias) and on customer managed policies' tags and
//! attachments.

use crate::iam::Iam;
use crate::model::{ManagedPolicy, PolicyEntity, Tag};
use crate::validate;
use crate::{Error, Existing, Missing, Named, OwnerKind, Page, PageRequest, Result};

/// Where the account's alias is kept (deployment metadata; empty = none).
const ALIAS_META: &str = "account_alias";

/// AWS's account alias pattern `^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$`.
fn valid_alias(alias: &str) -> bool {
    let b = alias.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&b.len())
        && b.first().is_some_and(ok)
        && b.last().is_some_and(ok)
        && b.iter().all(|c| ok(c) || *c == b'-')
        && !alias.contains("--")
}

fn check_alias(alias: &str) -> Result<()> {
    if valid_alias(alias) {
        return Ok(());
    }
    Err(Error::Validation(format!(
        "1 validation error detected: Value '{alias}' at 'accountAlias' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-z0-9]([a-z0-9]|-(?!-)){{1,61}}[a-z0-9]$"
    )))
}

/// AWS managed policies (`arn:aws:iam::aws:policy/...`) cannot be tagged.
fn check_taggable(arn: &str) -> Result<()> {
    if arn.split(':').nth(4) == Some("aws") {
        return Err(Error::InvalidInput(
            "Tags not supported for policies in this domain".into(),
        ));
    }
    Ok(())
}

impl Iam {
    // ----- account alias (one per account) -----

    /// The account's alias, if it has one.
    pub async fn account_alias(&self) -> Result<Option<String>> {
        Ok(self
            .store()
            .get_meta(ALIAS_META)
            .await?
            .filter(|a| !a.is_empty()))
    }

    /// Sets the account's alias; the account's one alias is replaced (as in IAM, where an
    /// account has at most one). Creating the alias it already has is EntityAlreadyExists.
    pub async fn create_account_alias(&self, alias: &str) -> Result<()> {
        check_alias(alias)?;
        if self.account_alias().await?.as_deref() == Some(alias) {
            return Err(Error::EntityAlreadyExists(Existing::new(
                Named::AccountAlias,
                alias,
            )));
        }
        Ok(self.store().set_meta(ALIAS_META, alias).await?)
    }

    pub async fn delete_account_alias(&self, alias: &str) -> Result<()> {
        check_alias(alias)?;
        if self.account_alias().await?.as_deref() != Some(alias) {
            return Err(Error::NoSuchEntity(Missing::AccountAlias(alias.into())));
        }
        Ok(self.store().set_meta(ALIAS_META, "").await?)
    }

    // ----- customer managed policy tags -----

    pub async fn tag_policy(&self, arn: &str, tags: Vec<Tag>) -> Result<()> {
        check_taggable(arn)?;
        validate::tags(&tags)?;
        self.modify_policy(arn, move |p| validate::merge_tags(&mut p.tags, tags))
            .await
    }

    pub async fn untag_policy(&self, arn: &str, keys: Vec<String>) -> Result<()> {
        check_taggable(arn)?;
        self.modify_policy(arn, move |p| {
            p.tags
                .retain(|t| !keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
            Ok(())
        })
        .await
    }

    /// The policy's tags (NoSuchEntity for an unknown policy).
    pub async fn list_policy_tags(&self, arn: &str) -> Result<Vec<Tag>> {
        check_taggable(arn)?;
        Ok(self.get_policy(arn).await?.tags)
    }

    async fn modify_policy(
        &self,
        arn: &str,
        edit: impl FnOnce(&mut ManagedPolicy) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        crate::iam::Iam::check_policy_arn(arn)?;
        self.store()
            .modify_policy(arn, Box::new(edit))
            .await
            .map(drop)
            .map_err(|e| match e {
                crate::StoreError::NotFound(_) => Error::NoSuchEntity(Missing::Policy(arn.into())),
                other => other.into(),
            })
    }

    // ----- where a managed policy is attached -----

    /// The entities `arn` is attached to: `filter` is IAM's EntityFilter (`Role`, `User`,
    /// `Group`; `LocalManagedPolicy`/`AWSManagedPolicy` name no attached entity here).
    pub async fn list_entities_for_policy(
        &self,
        arn: &str,
        filter: Option<&str>,
        path_prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<PolicyEntity>> {
        let prefix = path_prefix.unwrap_or("/");
        validate::path_prefix(prefix)?;
        self.get_policy(arn).await?;
        let kind = match filter {
            None => None,
            Some("Role") => Some(OwnerKind::Role),
            Some("User") => Some(OwnerKind::User),
            Some("Group") => Some(OwnerKind::Group),
            Some(_) => {
                return Ok(Page {
                    items: vec![],
                    next: None,
                });
            }
        };
        let items = self
            .store()
            .list_policy_entities(arn, kind, prefix, page)
            .await?;
        Ok(Page::from_overfetch(
            items,
            page.limit,
            PolicyEntity::sort_key,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::valid_alias;

    #[test]
    fn alias_pattern_is_iams() {
        for ok in ["abc", "my-company-1", "a1b", &"a".repeat(63)] {
            assert!(valid_alias(ok), "{ok}");
        }
        for bad in [
            "ab",
            "-abc",
            "abc-",
            "a--b",
            "ABC",
            "a_b",
            &"a".repeat(64),
            "a.b",
        ] {
            assert!(!valid_alias(bad), "{bad}");
        }
    }
}
