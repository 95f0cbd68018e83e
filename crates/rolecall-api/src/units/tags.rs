//! The EC2 tag family: CreateTags, DeleteTags (authorized on each resource's ARN, with the
//! instance's own keys and the request's tag keys), DescribeTags (on `*`, filtered in the
//! database).

use crate::authz::{self, Check, Keys, key, request_tag_keys};
use crate::context::Call;
use crate::error::ApiError;
use crate::generated::Operation;
use crate::generated::ec2 as input;
use crate::generated::ec2_outputs::TagDescription;
use crate::generated::outputs;
use crate::output::ReturnTrue;
use crate::units::ec2_common::{dry_run, ec2_check, next_token};
use crate::units::iam_common::removed_tag_keys;
use rolecall_core::ec2_tags::resource_type;
use rolecall_core::model::{Association, Instance, Tag};

/// Each resource a tag call names, with the instance as it is when it is one.
type Targets = Vec<(String, Option<(Instance, Option<Association>)>)>;

async fn resolve_targets(call: &Call<'_>, ids: &[String]) -> Targets {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let found = if id.starts_with("i-") {
            authz::find_instance(call.api, id).await
        } else {
            None
        };
        out.push((id.clone(), found));
    }
    out
}

/// The ARN of a resource by its id (images are regional and ownerless).
fn resource_arn(call: &Call<'_>, id: &str) -> String {
    match resource_type(id) {
        Ok("image") => format!("arn:aws:ec2:{}::image/{id}", call.api.config.region),
        Ok(kind) => authz::ec2_arn(call.api, kind, id),
        Err(_) => authz::ec2_arn(call.api, "*", id),
    }
}

fn target_checks(call: &Call<'_>, op: Operation, targets: &Targets, request: &Keys) -> Vec<Check> {
    targets
        .iter()
        .map(|(id, found)| {
            let mut keys = match found {
                Some((i, a)) => authz::instance_keys(call.api, i, a.as_ref()),
                None => vec![key("ec2:Region", call.api.config.region.clone())],
            };
            keys.extend(request.iter().cloned());
            ec2_check(op, resource_arn(call, id), keys)
        })
        .collect()
}

fn given_tags(tags: &[input::Tag]) -> Result<Vec<Tag>, ApiError> {
    tags.iter()
        .map(|t| {
            let key = t.key.clone().ok_or_else(|| {
                ApiError::missing_parameter(crate::error::Protocol::Ec2, "Tag.Key")
            })?;
            Ok(Tag {
                key,
                value: t.value.clone().unwrap_or_default(),
            })
        })
        .collect()
}

unit!(
    CreateTags,
    resolve |call, input| -> Targets { resolve_targets(call, &input.resources).await },
    checks |call, input, targets| {
        let pairs: Vec<(String, String)> = input
            .tags
            .iter()
            .map(|t| {
                (
                    t.key.clone().unwrap_or_default(),
                    t.value.clone().unwrap_or_default(),
                )
            })
            .collect();
        target_checks(call, Self::OP, targets, &request_tag_keys(&pairs))
    },
    handle |call, input, _| {
        let tags = given_tags(&input.tags)?;
        dry_run(input.dry_run)?;
        call.api.ec2.create_tags(&input.resources, &tags).await?;
        Ok(ReturnTrue)
    }
);

unit!(
    DeleteTags,
    resolve |call, input| -> Targets { resolve_targets(call, &input.resources).await },
    checks |call, input, targets| {
        let keys: Vec<String> = input.tags.iter().filter_map(|t| t.key.clone()).collect();
        target_checks(call, Self::OP, targets, &removed_tag_keys(&keys))
    },
    handle |call, input, _| {
        let tags: Vec<(String, Option<String>)> = input
            .tags
            .iter()
            .map(|t| {
                t.key.clone().map(|k| (k, t.value.clone())).ok_or_else(|| {
                    ApiError::missing_parameter(crate::error::Protocol::Ec2, "Tag.Key")
                })
            })
            .collect::<Result<_, _>>()?;
        dry_run(input.dry_run)?;
        call.api.ec2.delete_tags(&input.resources, &tags).await?;
        Ok(ReturnTrue)
    }
);

describe_unit!(DescribeTags, |call, input, asked| {
    let (tags, next) = call.api.ec2.describe_tags(&asked).await?;
    let described = tags.into_iter().map(|t| TagDescription {
        resource_id: Some(t.resource_id),
        resource_type: Some(t.resource_type),
        key: Some(t.key),
        value: Some(t.value),
    });
    let out = outputs::DescribeTags {
        tags: Some(described.collect()),
        next_token: next_token(next),
    };
    Ok(out)
});
