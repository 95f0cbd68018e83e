//! The STS family. GetCallerIdentity and GetSessionToken need no permission (as in AWS);
//! AssumeRole is authorized by the role's trust policy (`authz::session`), whatever the checks
//! below say; the others on `sts:<Action>` and `*` (the Service Authorization Reference names
//! no resource for them).

use crate::authz::Check;
use crate::context::Call;
use crate::error::ApiError;
use crate::generated::{Operation, outputs};
use crate::sts_sessions;
use rolecall_wire::Params;

fn sts_check(op: Operation, resource: String) -> Check {
    Check {
        action: format!("sts:{}", op.name()),
        resource,
        keys: vec![],
    }
}

/// An STS unit acting on no resource (`*`), on the generated input (or `input $ty`), handled
/// by the body.
macro_rules! sts_unit {
    ($unit:ident, $(input $input:ty,)? |$call:tt, $in:tt| $body:block) => {
        unit!(
            $unit,
            $(input $input,)?
            resolve |_, _| -> () {},
            checks |_, _, _| { vec![sts_check(Self::OP, "*".into())] },
            handle |$call, $in, _| $body
        );
    };
}

/// The parameters as sent: AssumeRole and GetSessionToken read them with their own rules
/// (`sts_sessions`), which word a few refusals differently from the model.
pub(crate) struct Raw;

impl crate::input::Parse for Raw {
    fn parse(_: &Params) -> Result<Self, ApiError> {
        Ok(Raw)
    }
}

sts_unit!(GetCallerIdentity, |call, _| {
    let p = call.principal;
    let out = outputs::GetCallerIdentity {
        user_id: Some(p.user_id.clone()),
        account: Some(p.account_id.clone()),
        arn: Some(p.arn.clone()),
    };
    Ok(out)
});

sts_unit!(GetSessionToken, input Raw, |call, _| {
    crate::sts_sessions::get_session_token(call).await
});

sts_unit!(DecodeAuthorizationMessage, |call, input| {
    let decoded = crate::authz::decode_message(&call.api.keyring, &input.encoded_message)
        .ok_or_else(|| {
            ApiError::new(
                400,
                "InvalidAuthorizationMessageException",
                "The message is invalid.",
            )
        })?;
    let out = outputs::DecodeAuthorizationMessage {
        decoded_message: Some(decoded),
    };
    Ok(out)
});

sts_unit!(GetAccessKeyInfo, |call, input| {
    let account = account_of_key(call, &input.access_key_id).await?;
    let out = outputs::GetAccessKeyInfo {
        account: Some(account),
    };
    Ok(out)
});

/// The account an access key id belongs to. As in AWS, the account is read from the id itself
/// (rolecall encodes it as AWS does, `rolecall_crypto::access_key_id_for`), whatever the key's
/// state and for any key; the ids of keys made before that encoding (users' and the root's,
/// still in the store) are this account's.
async fn account_of_key(call: &Call<'_>, id: &str) -> Result<String, ApiError> {
    let iam = &call.api.iam;
    let ours = iam.store().get_access_key(id).await?.is_some()
        || iam.root_keys().await?.iter().any(|k| k.id == id);
    if ours {
        return Ok(iam.account_id().to_string());
    }
    rolecall_crypto::account_of_access_key(id).ok_or_else(|| {
        ApiError::new(
            400,
            "InvalidParameterValue",
            format!("The access key ID {id} is not valid."),
        )
    })
}

/// A unit whose session is minted by `sts_sessions`: the parameters checked by its own rules
/// (`$validate`, whoever calls), `sts:<Action>` on `$resource(call)`, then `$mint(call)`.
macro_rules! session_unit {
    ($unit:ident, $validate:path, $resource:expr, $mint:path$(,)?) => {
        unit!(
            $unit,
            input Raw,
            parse |p| {
                $validate(p)?;
                Ok(Raw)
            },
            resolve |_, _| -> () {},
            checks |call, _, _| {
                let resource: fn(&Call<'_>) -> String = $resource;
                vec![sts_check(Self::OP, resource(call))]
            },
            handle |call, _, _| { $mint(call).await }
        );
    };
}

// AssumeRole: the role named; for the record only, as `authz::authorize` evaluates AssumeRole
// against the role's trust policy (and the caller's identity policies for a caller of this
// account).
session_unit!(
    AssumeRole,
    sts_sessions::validate_assume_role,
    |call| call.params.get("RoleArn").unwrap_or("*").to_string(),
    sts_sessions::assume_role,
);

// GetFederationToken: on the federated user it names; callable with long-term keys only.
session_unit!(
    GetFederationToken,
    sts_sessions::validate_federation,
    |call| {
        let name = call.params.get("Name").unwrap_or_default();
        sts_sessions::federated_user_arn(&call.principal.account_id, name)
    },
    sts_sessions::get_federation_token,
);
