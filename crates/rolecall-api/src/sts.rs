//! STS actions (Query protocol, 2011-06-15).

use crate::context::Call;
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::params::Args;
use rolecall_wire::query_response;

pub async fn dispatch(call: &Call<'_>) -> Result<String, ApiError> {
    match call.op {
        Operation::GetCallerIdentity => {
            let p = call.principal;
            Ok(query_response(
                call.op.name(),
                Protocol::Sts.namespace(),
                call.request_id,
                Some(&|x| {
                    x.leaf("UserId", &p.user_id);
                    x.leaf("Account", &p.account_id);
                    x.leaf("Arn", &p.arn);
                }),
            ))
        }
        Operation::AssumeRole => crate::sts_sessions::assume_role(call).await,
        Operation::GetSessionToken => crate::sts_sessions::get_session_token(call).await,
        Operation::DecodeAuthorizationMessage => {
            let a = Args {
                params: call.params,
                protocol: Protocol::Sts,
            };
            let decoded = crate::authz::decode_message(&call.api.keyring, a.req("EncodedMessage")?)
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "InvalidAuthorizationMessageException",
                        "The message is invalid.",
                    )
                })?;
            Ok(query_response(
                call.op.name(),
                Protocol::Sts.namespace(),
                call.request_id,
                Some(&|x| {
                    x.leaf("DecodedMessage", &decoded);
                }),
            ))
        }
        other => Err(ApiError::invalid_action(other.name())),
    }
}

/// Checks an STS operation's input before authorization (AWS answers a malformed request with
/// a ValidationError whoever sends it).
pub fn validate(op: Operation, params: &rolecall_wire::Params) -> Result<(), ApiError> {
    match op {
        Operation::AssumeRole => crate::sts_sessions::validate_assume_role(params),
        _ => Ok(()),
    }
}
