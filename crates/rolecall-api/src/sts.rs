//! STS actions (Query protocol, 2011-06-15).

use crate::error::{ApiError, Protocol};
use crate::server::Call;
use rolecall_wire::query_response;

pub async fn dispatch(call: &Call<'_>) -> Result<String, ApiError> {
    match call.action {
        "GetCallerIdentity" => {
            let p = call.principal;
            Ok(query_response(
                call.action,
                Protocol::Sts.namespace(),
                call.request_id,
                Some(&|x| {
                    x.leaf("UserId", &p.user_id);
                    x.leaf("Account", &p.account_id);
                    x.leaf("Arn", &p.arn);
                }),
            ))
        }
        other => Err(ApiError::invalid_action(other)),
    }
}
