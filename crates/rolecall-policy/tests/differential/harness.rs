//! Evaluating an oracle-format request with rolecall-policy.

use rolecall_policy::{
    Decision, Evaluation, Policy, PolicyKind, PolicyRef, PolicySet, Principal, Reason,
    RequestContext,
};
use serde_json::Value;

/// What rolecall says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Decided(Decision, Reason),
    /// A policy was rejected when parsed (AWS would refuse to store it).
    Rejected(String),
}

impl Outcome {
    /// The oracle's spelling of the decision.
    pub fn oracle_str(&self) -> &str {
        match self {
            Outcome::Decided(Decision::Allow, _) => "Allowed",
            Outcome::Decided(Decision::ImplicitDeny, _) => "ImplicitlyDenied",
            Outcome::Decided(Decision::ExplicitDeny, _) => "ExplicitlyDenied",
            Outcome::Rejected(_) => "Rejected",
        }
    }

    pub fn reason(&self) -> Option<Reason> {
        match self {
            Outcome::Decided(_, r) => Some(*r),
            Outcome::Rejected(_) => None,
        }
    }
}

fn principal(p: &str) -> Principal {
    if p == "anonymous" {
        return Principal::anonymous();
    }
    if !p.starts_with("arn:") {
        return Principal::service(p);
    }
    if let Some((head, rest)) = p.split_once(":assumed-role/") {
        let account = head.rsplit(':').next().unwrap_or_default();
        let role = rest.split('/').next().unwrap_or_default();
        return Principal::assumed_role(p, format!("arn:aws:iam::{account}:role/{role}"));
    }
    if p.ends_with(":root") {
        let account = rolecall_policy::arn_account(p).unwrap_or_default();
        return Principal::root(account);
    }
    if p.contains(":federated-user/") {
        return Principal::federated_user(p);
    }
    Principal::user(p)
}

fn doc_of(v: &Value) -> &Value {
    match v {
        Value::Object(m) if m.contains_key("policy") && !m.contains_key("Statement") => {
            &m["policy"]
        }
        other => other,
    }
}

fn parse_all(list: Option<&Value>, kind: PolicyKind) -> Result<Vec<Policy>, String> {
    let mut out = Vec::new();
    if let Some(Value::Array(items)) = list {
        for item in items {
            out.push(parse_one(doc_of(item), kind)?);
        }
    }
    Ok(out)
}

fn parse_one(doc: &Value, kind: PolicyKind) -> Result<Policy, String> {
    Policy::parse(&doc.to_string(), kind).map_err(|e| format!("{kind:?}: {e}"))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Build the request context from an oracle request.
pub fn request(req: &Value) -> RequestContext {
    let s = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or_default();
    // Corpus cases may say a non-ARN principal is a web identity provider
    // (the oracle infers it from the policy; rolecall's API knows it).
    let who = if s("principalKind") == "webIdentity" {
        Principal::web_identity(s("principal"))
    } else {
        principal(s("principal"))
    };
    let mut r = RequestContext::new(who, s("action"), s("resource"));
    if let Some(acct) = req.get("resourceAccount").and_then(Value::as_str) {
        r.resource_account = Some(acct.to_owned());
    }
    if r.resource_account.is_none() {
        r.resource_account = r.principal.account.clone();
    }
    if let Some(Value::Object(ctx)) = req.get("context") {
        for (k, v) in ctx {
            match v {
                Value::Array(items) => {
                    r.keys.insert_values(k, items.iter().map(scalar));
                }
                other => {
                    r.keys.insert(k, scalar(other));
                }
            }
        }
    }
    r
}

/// Evaluate an oracle-format request with rolecall.
pub fn decide(req: &Value) -> Outcome {
    match try_decide(req) {
        Ok(e) => Outcome::Decided(e.decision, e.reason),
        Err(e) => Outcome::Rejected(e),
    }
}

fn try_decide(req: &Value) -> Result<Evaluation, String> {
    let identity = parse_all(req.get("identityPolicies"), PolicyKind::Identity)?;
    let boundaries = parse_all(req.get("permissionBoundaries"), PolicyKind::Boundary)?;
    let session = match req.get("sessionPolicy") {
        Some(v) if !v.is_null() => Some(parse_one(v, PolicyKind::Session)?),
        _ => None,
    };
    let action = req
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let resource_kind = if action.to_ascii_lowercase().starts_with("sts:assumerole") {
        PolicyKind::Trust
    } else {
        PolicyKind::Resource
    };
    let resource = match req.get("resourcePolicy") {
        Some(v) if !v.is_null() => Some(parse_one(v, resource_kind)?),
        _ => None,
    };
    let ids: Vec<PolicyRef<'_>> = identity
        .iter()
        .enumerate()
        .map(|(i, p)| PolicyRef::new(if i == 0 { "identity0" } else { "identity" }, p))
        .collect();
    let sessions: Vec<PolicyRef<'_>> = session
        .iter()
        .map(|p| PolicyRef::new("session", p))
        .collect();
    assert!(boundaries.len() <= 1, "one permissions boundary at most");
    let set = PolicySet {
        identity: &ids,
        boundary: boundaries.first().map(|p| PolicyRef::new("pb", p)),
        session: &sessions,
        resource: resource.as_ref().map(|p| PolicyRef::new("resource", p)),
    };
    Ok(set.evaluate(&request(req)))
}
