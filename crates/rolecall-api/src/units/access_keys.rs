//! The access-key family. Keys belong to users; an omitted `UserName` is the calling user, or
//! for the account root its own keys (`rolecall_core::root_keys`).

use crate::cache::Kind;
use crate::context::Call;
use crate::error::ApiError;
use crate::generated::iam_outputs::AccessKeyLastUsed;
use crate::generated::{Operation, iam, outputs};
use crate::iam_xml::{key_metadata, page_output};
use crate::principal::PrincipalKind;
use crate::units::Unit;
use crate::units::iam_common::{Target, iam_check, on_entity, page_in_memory, user_or_caller};
use rolecall_core::model::AccessKey;

/// The account root acting on its own keys (no `UserName`).
fn roots_own(call: &Call<'_>, user_name: &Option<String>) -> bool {
    user_name.is_none() && call.principal.kind == PrincipalKind::Root
}

on_entity!(CreateAccessKey, UserOrCaller(user_name), |call, input| {
    let iam = &call.api.iam;
    let (k, secret) = if roots_own(call, &input.user_name) {
        iam.create_root_key(&call.api.keyring).await?
    } else {
        let user = user_or_caller(call, &input.user_name)?;
        iam.create_access_key(&call.api.keyring, user).await?
    };
    let access_key = crate::generated::iam_outputs::AccessKey {
        user_name: Some(k.user_name).filter(|n| !n.is_empty()),
        access_key_id: k.id,
        status: k.status,
        secret_access_key: secret,
        create_date: Some(k.create_date),
    };
    Ok(outputs::CreateAccessKey { access_key })
});

on_entity!(ListAccessKeys, UserOrCaller(user_name), |call, input| {
    let keys = if roots_own(call, &input.user_name) {
        call.api.iam.root_keys().await?
    } else {
        let name = user_or_caller(call, &input.user_name)?;
        call.api.iam.list_access_keys(name).await?
    };
    let page = page_in_memory(keys, input.marker.as_deref(), input.max_items, |k| {
        k.id.clone()
    })?;
    let out = page_output!(
        ListAccessKeys {
            access_key_metadata
        },
        page,
        key_metadata
    );
    Ok(out)
});

/// Whose key a request names: None for the root's own, else the user's name.
fn key_user<'a>(
    call: &'a Call<'_>,
    user_name: &'a Option<String>,
) -> Result<Option<&'a str>, ApiError> {
    if roots_own(call, user_name) {
        return Ok(None);
    }
    user_or_caller(call, user_name).map(Some)
}

on_entity!(UpdateAccessKey, UserOrCaller(user_name), |call, input| {
    let (iam, id, status) = (&call.api.iam, &input.access_key_id, &input.status);
    match key_user(call, &input.user_name)? {
        None => iam.update_root_key(id, status).await?,
        Some(user) => iam.update_access_key(user, id, status).await?,
    }
    Ok(outputs::UpdateAccessKey::default())
});

on_entity!(DeleteAccessKey, UserOrCaller(user_name), |call, input| {
    let (iam, id) = (&call.api.iam, &input.access_key_id);
    match key_user(call, &input.user_name)? {
        None => iam.delete_root_key(id).await?,
        Some(user) => iam.delete_access_key(user, id).await?,
    }
    Ok(outputs::DeleteAccessKey::default())
});

pub(crate) struct GetAccessKeyLastUsed;

/// The key as found (or why not), and its user as authorization sees it (`*` when unknown).
pub(crate) struct KeyAndOwner {
    key: rolecall_core::Result<AccessKey>,
    owner: Option<Target>,
}

impl Unit for GetAccessKeyLastUsed {
    const OP: Operation = Operation::GetAccessKeyLastUsed;
    type Input = iam::GetAccessKeyLastUsedInput;
    type Resolved = KeyAndOwner;
    type Output = outputs::GetAccessKeyLastUsed;

    async fn resolve(call: &Call<'_>, input: &Self::Input) -> Result<KeyAndOwner, ApiError> {
        let key = call.api.iam.get_access_key(&input.access_key_id).await;
        let owner = match &key {
            Ok(k) => Some(Target::of(call.api, Kind::User, &k.user_name).await),
            Err(_) => None,
        };
        Ok(KeyAndOwner { key, owner })
    }

    /// Authorized on the key's user.
    fn checks(_: &Call<'_>, _: &Self::Input, r: &KeyAndOwner) -> Vec<crate::authz::Check> {
        match &r.owner {
            Some(t) => vec![iam_check(Self::OP, t.arn.clone(), vec![])],
            None => vec![iam_check(Self::OP, "*".into(), vec![])],
        }
    }

    async fn handle(
        _: &Call<'_>,
        _: Self::Input,
        r: KeyAndOwner,
    ) -> Result<Self::Output, ApiError> {
        let k = r.key?;
        // A key never used: "N/A" for its service and region, as AWS answers.
        let used = match k.last_used {
            Some(l) => (Some(l.date), l.service, l.region),
            None => (None, "N/A".into(), "N/A".into()),
        };
        let out = outputs::GetAccessKeyLastUsed {
            user_name: Some(k.user_name),
            access_key_last_used: Some(AccessKeyLastUsed {
                last_used_date: used.0,
                service_name: used.1,
                region: used.2,
            }),
        };
        Ok(out)
    }
}
