//! IAM actions (Query protocol, 2010-05-08): parameters in, XML out.

use crate::context::Call;
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::iam_xml::{
    encode_policy, paged, paged_tags, respond, respond_empty, role_xml, tag_keys, tags_xml,
    truncation,
};
use crate::params::Args;
use rolecall_core::iam::{CreatePolicy, CreateRole, page};
use rolecall_core::model::*;
use rolecall_wire::{Xml, iso8601};

fn policy_xml(x: &mut Xml, p: &ManagedPolicy, full: bool) {
    x.leaf("PolicyName", &p.name);
    x.leaf("PolicyId", &p.id);
    x.leaf("Arn", &p.arn);
    x.leaf("Path", &p.path);
    x.leaf("DefaultVersionId", &p.default_version_id);
    x.leaf("AttachmentCount", p.attachment_count.to_string());
    x.leaf("PermissionsBoundaryUsageCount", "0");
    x.leaf("IsAttachable", "true");
    if full {
        x.leaf_opt("Description", p.description.as_deref());
    }
    x.leaf("CreateDate", iso8601(p.create_date));
    x.leaf("UpdateDate", iso8601(p.update_date));
    if full && !p.tags.is_empty() {
        tags_xml(x, &p.tags);
    }
}

fn version_xml(x: &mut Xml, v: &PolicyVersion, with_document: bool) {
    if with_document {
        x.leaf("Document", encode_policy(&v.document));
    }
    x.leaf("VersionId", &v.version_id);
    x.leaf("IsDefaultVersion", v.is_default.to_string());
    x.leaf("CreateDate", iso8601(v.create_date));
}

pub async fn dispatch(call: &Call<'_>) -> Result<String, ApiError> {
    let a = Args {
        params: call.params,
        protocol: Protocol::Iam,
    };
    let iam = &call.api.iam;
    let pg = || page(a.opt("Marker"), a.opt("MaxItems"));
    let out = match call.op {
        // ----- roles -----
        Operation::CreateRole => {
            let role = iam
                .create_role(CreateRole {
                    name: a.req("RoleName")?,
                    path: a.opt("Path"),
                    trust_policy: a.req("AssumeRolePolicyDocument")?,
                    description: a.opt("Description"),
                    max_session_duration: a.int("MaxSessionDuration")?,
                    tags: a.query_tags("Tags.member")?,
                    permissions_boundary: a.opt("PermissionsBoundary"),
                })
                .await?;
            respond(call, |x| {
                x.elem("Role", |x| role_xml(x, &role, true));
            })
        }
        Operation::GetRole => {
            let role = iam.get_role(a.req("RoleName")?).await?;
            respond(call, |x| {
                x.elem("Role", |x| role_xml(x, &role, true));
            })
        }
        Operation::ListRoles => {
            let page = iam.list_roles(a.opt("PathPrefix"), &pg()?).await?;
            respond(call, |x| {
                x.list("Roles", "member", &page.items, |x, r| role_xml(x, r, false));
                truncation(x, &page);
            })
        }
        Operation::UpdateRole => {
            iam.update_role(
                a.req("RoleName")?,
                a.opt("Description"),
                a.int("MaxSessionDuration")?,
            )
            .await?;
            respond(call, |_| {})
        }
        Operation::UpdateRoleDescription => {
            let name = a.req("RoleName")?;
            iam.update_role(name, Some(a.req("Description")?), None)
                .await?;
            let role = iam.get_role(name).await?;
            respond(call, |x| {
                x.elem("Role", |x| role_xml(x, &role, true));
            })
        }
        Operation::UpdateAssumeRolePolicy => {
            iam.update_assume_role_policy(a.req("RoleName")?, a.req("PolicyDocument")?)
                .await?;
            respond_empty(call)
        }
        Operation::DeleteRole => {
            iam.delete_role(a.req("RoleName")?).await?;
            respond_empty(call)
        }
        Operation::TagRole => {
            iam.tag_role(a.req("RoleName")?, a.query_tags("Tags.member")?)
                .await?;
            respond_empty(call)
        }
        Operation::UntagRole => {
            iam.untag_role(a.req("RoleName")?, &tag_keys(&a)?).await?;
            respond_empty(call)
        }
        Operation::ListRoleTags => {
            let role = iam.get_role(a.req("RoleName")?).await?;
            let page = paged_tags(role.tags, a.opt("Marker"), a.opt("MaxItems"))?;
            respond(call, |x| {
                tags_xml(x, &page.items);
                truncation(x, &page);
            })
        }
        // ----- inline role policies -----
        Operation::PutRolePolicy => {
            iam.put_role_policy(
                a.req("RoleName")?,
                a.req("PolicyName")?,
                a.req("PolicyDocument")?,
            )
            .await?;
            respond_empty(call)
        }
        Operation::GetRolePolicy => {
            let (role, name, doc) = iam
                .get_role_policy(a.req("RoleName")?, a.req("PolicyName")?)
                .await?;
            respond(call, |x| {
                x.leaf("RoleName", &role);
                x.leaf("PolicyName", &name);
                x.leaf("PolicyDocument", encode_policy(&doc));
            })
        }
        Operation::ListRolePolicies => {
            let page = iam.list_role_policies(a.req("RoleName")?, &pg()?).await?;
            respond(call, |x| {
                x.list("PolicyNames", "member", &page.items, |x, n| {
                    // List members of strings are bare text in the Query protocol.
                    x.leaf_text(n);
                });
                truncation(x, &page);
            })
        }
        Operation::DeleteRolePolicy => {
            iam.delete_role_policy(a.req("RoleName")?, a.req("PolicyName")?)
                .await?;
            respond_empty(call)
        }
        // ----- managed policies -----
        Operation::CreatePolicy => {
            let p = iam
                .create_policy(CreatePolicy {
                    name: a.req("PolicyName")?,
                    path: a.opt("Path"),
                    document: a.req("PolicyDocument")?,
                    description: a.opt("Description"),
                    tags: a.query_tags("Tags.member")?,
                })
                .await?;
            respond(call, |x| {
                x.elem("Policy", |x| policy_xml(x, &p, true));
            })
        }
        Operation::GetPolicy => {
            let p = iam.get_policy(a.req("PolicyArn")?).await?;
            respond(call, |x| {
                x.elem("Policy", |x| policy_xml(x, &p, true));
            })
        }
        Operation::ListPolicies => {
            let only_attached = a.bool("OnlyAttached")?.unwrap_or(false);
            let page = iam
                .list_policies(a.opt("Scope"), only_attached, a.opt("PathPrefix"), &pg()?)
                .await?;
            respond(call, |x| {
                x.list("Policies", "member", &page.items, |x, p| {
                    policy_xml(x, p, false)
                });
                truncation(x, &page);
            })
        }
        Operation::DeletePolicy => {
            iam.delete_policy(a.req("PolicyArn")?).await?;
            respond_empty(call)
        }
        Operation::CreatePolicyVersion => {
            let set_default = a.bool("SetAsDefault")?.unwrap_or(false);
            let v = iam
                .create_policy_version(a.req("PolicyArn")?, a.req("PolicyDocument")?, set_default)
                .await?;
            respond(call, |x| {
                x.elem("PolicyVersion", |x| version_xml(x, &v, false));
            })
        }
        Operation::GetPolicyVersion => {
            let v = iam
                .get_policy_version(a.req("PolicyArn")?, a.req("VersionId")?)
                .await?;
            respond(call, |x| {
                x.elem("PolicyVersion", |x| version_xml(x, &v, true));
            })
        }
        Operation::ListPolicyVersions => {
            let versions = iam.list_policy_versions(a.req("PolicyArn")?).await?;
            let page = paged(versions, a.opt("Marker"), a.opt("MaxItems"), |v| {
                v.version_id.clone()
            })?;
            respond(call, |x| {
                x.list("Versions", "member", &page.items, |x, v| {
                    version_xml(x, v, false)
                });
                truncation(x, &page);
            })
        }
        Operation::DeletePolicyVersion => {
            iam.delete_policy_version(a.req("PolicyArn")?, a.req("VersionId")?)
                .await?;
            respond_empty(call)
        }
        Operation::SetDefaultPolicyVersion => {
            iam.set_default_policy_version(a.req("PolicyArn")?, a.req("VersionId")?)
                .await?;
            respond_empty(call)
        }
        Operation::AttachRolePolicy => {
            iam.attach_role_policy(a.req("RoleName")?, a.req("PolicyArn")?)
                .await?;
            respond_empty(call)
        }
        Operation::DetachRolePolicy => {
            iam.detach_role_policy(a.req("RoleName")?, a.req("PolicyArn")?)
                .await?;
            respond_empty(call)
        }
        Operation::ListAttachedRolePolicies => {
            let page = iam
                .list_attached_role_policies(a.req("RoleName")?, a.opt("PathPrefix"), &pg()?)
                .await?;
            respond(call, |x| {
                x.list("AttachedPolicies", "member", &page.items, |x, p| {
                    x.leaf("PolicyName", &p.name);
                    x.leaf("PolicyArn", &p.arn);
                });
                truncation(x, &page);
            })
        }
        _ => return crate::iam_principals::dispatch(call).await,
    };
    Ok(out)
}
