//! The documents behind a simulation's matched statements, for the simulator to highlight:
//! the form's custom documents, or the principal's stored policies read through the API as the
//! signed-in principal (inline policies of the principal or, for a user, of its groups; the
//! default version of attached managed policies).

use crate::ctx::Ctx;
use crate::layout::text;
use rolecall_api::error::ApiError;
use rolecall_wire::xml_read::Node;
use std::collections::HashMap;

/// A matched statement's policy: `SourcePolicyType` and `SourcePolicyId`.
pub type PolicyKey = (String, String);
pub type Documents = HashMap<PolicyKey, Result<String, ApiError>>;

pub fn matched(result: &Node) -> impl Iterator<Item = &Node> {
    result
        .child("MatchedStatements")
        .map(|p| p.children.as_slice())
        .unwrap_or_default()
        .iter()
}

pub fn results(r: &Node) -> &[Node] {
    r.find("EvaluationResults")
        .map(|p| p.children.as_slice())
        .unwrap_or_default()
}

/// The text of every policy a statement matched in, read once each: `custom`'s documents
/// (SimulateCustomPolicy's `PolicyInputList`), else `principal`'s policies through the API.
pub async fn documents(
    ctx: &Ctx,
    principal: &str,
    custom: Option<&[String]>,
    r: &Node,
) -> Documents {
    let mut docs = Documents::new();
    for m in results(r).iter().flat_map(matched) {
        let key = (
            text(m, "SourcePolicyType").to_string(),
            text(m, "SourcePolicyId").to_string(),
        );
        if docs.contains_key(&key) {
            continue;
        }
        let doc = match custom {
            Some(policies) => custom_document(policies, &key.1),
            None => stored_document(ctx, principal, &key.0, &key.1).await,
        };
        docs.insert(key, doc);
    }
    docs
}

fn no_document(id: &str) -> ApiError {
    ApiError::new(
        404,
        "NoSuchEntity",
        format!("The policy {id} was not found."),
    )
}

/// `PolicyInputList.N`'s document.
fn custom_document(policies: &[String], id: &str) -> Result<String, ApiError> {
    id.strip_prefix("PolicyInputList.")
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| policies.get(n.checked_sub(1)?))
        .cloned()
        .ok_or_else(|| no_document(id))
}

/// The kind (`user`, `group`, `role`) and name of an IAM principal's ARN.
fn principal_of(arn: &str) -> Option<(&str, &str)> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let (kind, rest) = resource.split_once('/')?;
    Some((kind, rest.rsplit('/').next()?))
}

/// The owner's parameter name and inline policy operation for `kind`.
fn inline_op(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "role" => ("RoleName", "GetRolePolicy"),
        "user" => ("UserName", "GetUserPolicy"),
        "group" => ("GroupName", "GetGroupPolicy"),
        _ => return None,
    })
}

fn decoded(encoded: &str) -> String {
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned()
}

async fn inline_document(ctx: &Ctx, kind: &str, owner: &str, id: &str) -> Result<String, ApiError> {
    let (param, op) = inline_op(kind).ok_or_else(|| no_document(id))?;
    let r = ctx.iam(op, &[(param, owner), ("PolicyName", id)]).await?;
    Ok(decoded(
        r.find("PolicyDocument")
            .map(|d| d.text.as_str())
            .unwrap_or_default(),
    ))
}

async fn groups_of_user(ctx: &Ctx, user: &str) -> Result<Vec<String>, ApiError> {
    let r = ctx
        .iam(
            "ListGroupsForUser",
            &[("UserName", user), ("MaxItems", "1000")],
        )
        .await?;
    Ok(r.find("Groups")
        .map(|g| {
            g.children
                .iter()
                .map(|g| text(g, "GroupName").to_string())
                .collect()
        })
        .unwrap_or_default())
}

/// A stored policy's text: an inline policy of the principal (or, for a user, of one of its
/// groups), or the default version of a managed policy attached to it.
async fn stored_document(
    ctx: &Ctx,
    principal: &str,
    kind: &str,
    id: &str,
) -> Result<String, ApiError> {
    let (owner_kind, owner) = principal_of(principal).ok_or_else(|| no_document(id))?;
    match kind {
        "user-managed" | "aws-managed" => managed_document(ctx, owner_kind, owner, id).await,
        "group" if owner_kind == "user" => {
            let mut last = no_document(id);
            for g in groups_of_user(ctx, owner).await? {
                match inline_document(ctx, "group", &g, id).await {
                    Ok(d) => return Ok(d),
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        k if k == owner_kind => inline_document(ctx, k, owner, id).await,
        _ => Err(no_document(id)),
    }
}

/// The default version of the managed policy named `name` attached to the owner (for a user:
/// or to one of its groups).
async fn managed_document(
    ctx: &Ctx,
    owner_kind: &str,
    owner: &str,
    name: &str,
) -> Result<String, ApiError> {
    let mut owners = vec![(owner_kind.to_string(), owner.to_string())];
    if owner_kind == "user" {
        owners.extend(
            groups_of_user(ctx, owner)
                .await?
                .into_iter()
                .map(|g| ("group".to_string(), g)),
        );
    }
    for (kind, who) in owners {
        let (param, op) = match kind.as_str() {
            "role" => ("RoleName", "ListAttachedRolePolicies"),
            "user" => ("UserName", "ListAttachedUserPolicies"),
            _ => ("GroupName", "ListAttachedGroupPolicies"),
        };
        let r = ctx.iam(op, &[(param, &who), ("MaxItems", "1000")]).await?;
        let arn = r
            .find("AttachedPolicies")
            .map(|p| p.children.as_slice())
            .unwrap_or_default()
            .iter()
            .find(|p| text(p, "PolicyName") == name)
            .map(|p| text(p, "PolicyArn").to_string());
        if let Some(arn) = arn {
            let policy = ctx.iam("GetPolicy", &[("PolicyArn", &arn)]).await?;
            let version =
                text(policy.find("Policy").unwrap_or(&policy), "DefaultVersionId").to_string();
            let v = ctx
                .iam(
                    "GetPolicyVersion",
                    &[("PolicyArn", &arn), ("VersionId", &version)],
                )
                .await?;
            return Ok(decoded(
                v.find("Document")
                    .map(|d| d.text.as_str())
                    .unwrap_or_default(),
            ));
        }
    }
    Err(no_document(name))
}
