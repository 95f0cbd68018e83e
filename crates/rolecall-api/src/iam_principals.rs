//! IAM actions on users, groups, access keys and permissions boundaries.

use crate::context::Call;
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::iam_xml::{
    boundary_xml, encode_policy, paged, paged_tags, respond, respond_empty, tag_keys, tags_xml,
    truncation,
};
use crate::params::Args;
use crate::principal::PrincipalKind;
use rolecall_core::OwnerKind;
use rolecall_core::iam::page;
use rolecall_core::model::*;
use rolecall_wire::{Xml, iso8601};

fn user_xml(x: &mut Xml, u: &User, full: bool) {
    x.leaf("Path", &u.path);
    x.leaf("UserName", &u.name);
    x.leaf("UserId", &u.id);
    x.leaf("Arn", &u.arn);
    x.leaf("CreateDate", iso8601(u.create_date));
    if full {
        boundary_xml(x, u.permissions_boundary.as_deref());
        if !u.tags.is_empty() {
            tags_xml(x, &u.tags);
        }
    }
}

fn group_xml(x: &mut Xml, g: &Group) {
    x.leaf("Path", &g.path);
    x.leaf("GroupName", &g.name);
    x.leaf("GroupId", &g.id);
    x.leaf("Arn", &g.arn);
    x.leaf("CreateDate", iso8601(g.create_date));
}

fn key_metadata_xml(x: &mut Xml, k: &AccessKey) {
    x.leaf("UserName", &k.user_name);
    x.leaf("AccessKeyId", &k.id);
    x.leaf("Status", &k.status);
    x.leaf("CreateDate", iso8601(k.create_date));
}

/// `UserName`, or the calling user's own name when omitted (as IAM does for users).
fn user_or_caller<'a>(call: &'a Call<'_>, a: &Args<'a>) -> Result<&'a str, ApiError> {
    match (a.opt("UserName"), &call.principal.kind) {
        (Some(n), _) => Ok(n),
        (None, PrincipalKind::User { name, .. }) => Ok(name),
        (None, _) => Err(ApiError::missing_parameter(Protocol::Iam, "UserName")),
    }
}

pub async fn dispatch(call: &Call<'_>) -> Result<String, ApiError> {
    let a = Args {
        params: call.params,
        protocol: Protocol::Iam,
    };
    let iam = &call.api.iam;
    let pg = || page(a.opt("Marker"), a.opt("MaxItems"));
    let out = match call.op {
        // ----- users -----
        Operation::CreateUser => {
            let u = iam
                .create_user(
                    a.req("UserName")?,
                    a.opt("Path"),
                    a.opt("PermissionsBoundary"),
                    a.query_tags("Tags.member")?,
                )
                .await?;
            respond(call, |x| {
                x.elem("User", |x| user_xml(x, &u, true));
            })
        }
        Operation::GetUser => {
            if a.opt("UserName").is_none() && call.principal.kind == PrincipalKind::Root {
                // The root "user": its account id and ARN.
                let p = call.principal;
                return Ok(respond(call, |x| {
                    x.elem("User", |x| {
                        x.leaf("UserId", &p.user_id);
                        x.leaf("Arn", &p.arn);
                        x.leaf("CreateDate", iso8601(chrono::DateTime::UNIX_EPOCH));
                    });
                }));
            }
            let u = iam.get_user(user_or_caller(call, &a)?).await?;
            respond(call, |x| {
                x.elem("User", |x| user_xml(x, &u, true));
            })
        }
        Operation::ListUsers => {
            let page = iam.list_users(a.opt("PathPrefix"), &pg()?).await?;
            respond(call, |x| {
                x.list("Users", "member", &page.items, |x, u| user_xml(x, u, false));
                truncation(x, &page);
            })
        }
        Operation::UpdateUser => {
            iam.update_user(a.req("UserName")?, a.opt("NewUserName"), a.opt("NewPath"))
                .await?;
            respond_empty(call)
        }
        Operation::DeleteUser => {
            iam.delete_user(a.req("UserName")?).await?;
            respond_empty(call)
        }
        Operation::TagUser => {
            iam.tag_user(a.req("UserName")?, a.query_tags("Tags.member")?)
                .await?;
            respond_empty(call)
        }
        Operation::UntagUser => {
            iam.untag_user(a.req("UserName")?, &tag_keys(&a)?).await?;
            respond_empty(call)
        }
        Operation::ListUserTags => {
            let u = iam.get_user(a.req("UserName")?).await?;
            let page = paged_tags(u.tags, a.opt("Marker"), a.opt("MaxItems"))?;
            respond(call, |x| {
                tags_xml(x, &page.items);
                truncation(x, &page);
            })
        }
        Operation::PutUserPermissionsBoundary => {
            iam.put_user_permissions_boundary(a.req("UserName")?, a.req("PermissionsBoundary")?)
                .await?;
            respond_empty(call)
        }
        Operation::DeleteUserPermissionsBoundary => {
            iam.delete_user_permissions_boundary(a.req("UserName")?)
                .await?;
            respond_empty(call)
        }
        Operation::PutRolePermissionsBoundary => {
            iam.put_role_permissions_boundary(a.req("RoleName")?, a.req("PermissionsBoundary")?)
                .await?;
            respond_empty(call)
        }
        Operation::DeleteRolePermissionsBoundary => {
            iam.delete_role_permissions_boundary(a.req("RoleName")?)
                .await?;
            respond_empty(call)
        }
        // ----- access keys -----
        Operation::CreateAccessKey => {
            let (k, secret) = iam
                .create_access_key(&call.api.keyring, user_or_caller(call, &a)?)
                .await?;
            respond(call, |x| {
                x.elem("AccessKey", |x| {
                    x.leaf("UserName", &k.user_name);
                    x.leaf("AccessKeyId", &k.id);
                    x.leaf("Status", &k.status);
                    x.leaf("SecretAccessKey", &secret);
                    x.leaf("CreateDate", iso8601(k.create_date));
                });
            })
        }
        Operation::ListAccessKeys => {
            let name = user_or_caller(call, &a)?;
            let keys = iam.list_access_keys(name).await?;
            let page = paged(keys, a.opt("Marker"), a.opt("MaxItems"), |k| k.id.clone())?;
            respond(call, |x| {
                x.list("AccessKeyMetadata", "member", &page.items, key_metadata_xml);
                truncation(x, &page);
            })
        }
        Operation::UpdateAccessKey => {
            iam.update_access_key(
                user_or_caller(call, &a)?,
                a.req("AccessKeyId")?,
                a.req("Status")?,
            )
            .await?;
            respond_empty(call)
        }
        Operation::DeleteAccessKey => {
            iam.delete_access_key(user_or_caller(call, &a)?, a.req("AccessKeyId")?)
                .await?;
            respond_empty(call)
        }
        Operation::GetAccessKeyLastUsed => {
            let k = iam.get_access_key(a.req("AccessKeyId")?).await?;
            respond(call, |x| {
                x.leaf("UserName", &k.user_name);
                x.elem("AccessKeyLastUsed", |x| match &k.last_used {
                    Some(l) => {
                        x.leaf("LastUsedDate", iso8601(l.date));
                        x.leaf("ServiceName", &l.service);
                        x.leaf("Region", &l.region);
                    }
                    None => {
                        x.leaf("ServiceName", "N/A");
                        x.leaf("Region", "N/A");
                    }
                });
            })
        }
        // ----- groups -----
        Operation::CreateGroup => {
            let g = iam.create_group(a.req("GroupName")?, a.opt("Path")).await?;
            respond(call, |x| {
                x.elem("Group", |x| group_xml(x, &g));
            })
        }
        Operation::GetGroup => {
            let g = iam.get_group(a.req("GroupName")?).await?;
            let members = iam.group_members(&g).await?;
            let page = paged(members, a.opt("Marker"), a.opt("MaxItems"), |u| {
                u.name.to_ascii_lowercase()
            })?;
            respond(call, |x| {
                x.elem("Group", |x| group_xml(x, &g));
                x.list("Users", "member", &page.items, |x, u| user_xml(x, u, false));
                truncation(x, &page);
            })
        }
        Operation::ListGroups => {
            let page = iam.list_groups(a.opt("PathPrefix"), &pg()?).await?;
            respond(call, |x| {
                x.list("Groups", "member", &page.items, group_xml);
                truncation(x, &page);
            })
        }
        Operation::DeleteGroup => {
            iam.delete_group(a.req("GroupName")?).await?;
            respond_empty(call)
        }
        Operation::AddUserToGroup => {
            iam.add_user_to_group(a.req("GroupName")?, a.req("UserName")?)
                .await?;
            respond_empty(call)
        }
        Operation::RemoveUserFromGroup => {
            iam.remove_user_from_group(a.req("GroupName")?, a.req("UserName")?)
                .await?;
            respond_empty(call)
        }
        Operation::ListGroupsForUser => {
            let page = iam.list_groups_for_user(a.req("UserName")?, &pg()?).await?;
            respond(call, |x| {
                x.list("Groups", "member", &page.items, group_xml);
                truncation(x, &page);
            })
        }
        // ----- inline and attached policies of users and groups -----
        op => return owner_policies(call, &a, op).await,
    };
    Ok(out)
}

/// `{Put,Get,List,Delete}{User,Group}Policy`, `{Attach,Detach,ListAttached}{User,Group}Policies`.
async fn owner_policies(call: &Call<'_>, a: &Args<'_>, op: Operation) -> Result<String, ApiError> {
    let iam = &call.api.iam;
    use Operation::*;
    let of_group = matches!(
        op,
        PutGroupPolicy
            | GetGroupPolicy
            | ListGroupPolicies
            | DeleteGroupPolicy
            | AttachGroupPolicy
            | DetachGroupPolicy
            | ListAttachedGroupPolicies
    );
    let (kind, name_param) = if of_group {
        (OwnerKind::Group, "GroupName")
    } else {
        (OwnerKind::User, "UserName")
    };
    let pg = || page(a.opt("Marker"), a.opt("MaxItems"));
    let out = match op {
        Operation::PutUserPolicy | Operation::PutGroupPolicy => {
            iam.put_owner_policy(
                kind,
                a.req(name_param)?,
                a.req("PolicyName")?,
                a.req("PolicyDocument")?,
            )
            .await?;
            respond_empty(call)
        }
        Operation::GetUserPolicy | Operation::GetGroupPolicy => {
            let (owner, name, doc) = iam
                .get_owner_policy(kind, a.req(name_param)?, a.req("PolicyName")?)
                .await?;
            respond(call, |x| {
                x.leaf(name_param, &owner);
                x.leaf("PolicyName", &name);
                x.leaf("PolicyDocument", encode_policy(&doc));
            })
        }
        Operation::ListUserPolicies | Operation::ListGroupPolicies => {
            let page = iam
                .list_owner_policies(kind, a.req(name_param)?, &pg()?)
                .await?;
            respond(call, |x| {
                x.list("PolicyNames", "member", &page.items, |x, n| {
                    x.leaf_text(n);
                });
                truncation(x, &page);
            })
        }
        Operation::DeleteUserPolicy | Operation::DeleteGroupPolicy => {
            iam.delete_owner_policy(kind, a.req(name_param)?, a.req("PolicyName")?)
                .await?;
            respond_empty(call)
        }
        Operation::AttachUserPolicy | Operation::AttachGroupPolicy => {
            iam.attach_owner_policy(kind, a.req(name_param)?, a.req("PolicyArn")?)
                .await?;
            respond_empty(call)
        }
        Operation::DetachUserPolicy | Operation::DetachGroupPolicy => {
            iam.detach_owner_policy(kind, a.req(name_param)?, a.req("PolicyArn")?)
                .await?;
            respond_empty(call)
        }
        Operation::ListAttachedUserPolicies | Operation::ListAttachedGroupPolicies => {
            let page = iam
                .list_attached_owner_policies(kind, a.req(name_param)?, a.opt("PathPrefix"), &pg()?)
                .await?;
            respond(call, |x| {
                x.list("AttachedPolicies", "member", &page.items, |x, p| {
                    x.leaf("PolicyName", &p.name);
                    x.leaf("PolicyArn", &p.arn);
                });
                truncation(x, &page);
            })
        }
        Operation::SimulatePrincipalPolicy | Operation::SimulateCustomPolicy => {
            return crate::simulate::dispatch(call).await;
        }
        other => return Err(ApiError::invalid_action(other.name())),
    };
    Ok(out)
}
