//! EC2's encoded authorization failure messages, and their decoding (sts:DecodeAuthorizationMessage).
//!
//! The message is the decision's context as JSON (the shape STS's DecodedMessage has), sealed
//! under the deployment key so only this deployment can decode it and nobody can forge one.

use super::Check;
use crate::principal::Principal;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rolecall_crypto::KeyRing;
use rolecall_policy::ContextKeys;
use serde_json::{Value, json};

const AAD: &[u8] = b"rolecall/authorization-message/v1";

pub fn encode(
    ring: &KeyRing,
    principal: &Principal,
    check: &Check,
    explicit_deny: bool,
    keys: &ContextKeys,
) -> String {
    let conditions: Vec<Value> = keys
        .iter()
        .map(|(k, values)| json!({"key": k, "values": {"items": values.iter().map(|v| json!({"value": v.as_str()})).collect::<Vec<_>>()}}))
        .collect();
    let doc = json!({
        "allowed": false,
        "explicitDeny": explicit_deny,
        "matchedStatements": {"items": []},
        "failures": {"items": []},
        "context": {
            "principal": {"id": principal.user_id, "arn": principal.arn},
            "action": check.action,
            "resource": check.resource,
            "conditions": {"items": conditions},
        }
    });
    B64.encode(ring.seal(doc.to_string().as_bytes(), AAD))
}

/// The JSON document of a message this deployment encoded; None for anything else.
pub fn decode(ring: &KeyRing, message: &str) -> Option<String> {
    let sealed = B64.decode(message.trim()).ok()?;
    String::from_utf8(ring.open(&sealed, AAD).ok()?).ok()
}
