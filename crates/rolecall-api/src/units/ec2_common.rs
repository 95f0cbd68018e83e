//! What EC2 units share: the answer (the operation's generated output), the check on an EC2 action, DryRun, Describe*
//! requests, and the instance an operation acts on as authorization describes it (`on_instance!`).

use crate::authz::{Check, Keys};
use crate::context::Call;
use crate::error::ApiError;
use crate::generated::Operation;
use crate::generated::ec2 as input;
use rolecall_core::ec2::{DescribeRequest, Filter, Paging};
use rolecall_core::model::{Association, Instance};
use rolecall_core::paging::encode_token;

/// An instance as authorization describes it, with its active association (None: not found).
pub(crate) type FoundInstance = Option<(Instance, Option<Association>)>;

/// A Describe* page's `nextToken` as the client sees it.
pub(crate) fn next_token(next: Option<String>) -> Option<String> {
    next.as_deref().map(encode_token)
}

/// An EC2 Describe* input as core reads it: what [`DescribeRequest`] holds (the ids it names,
/// its filters, its paging members), taken out of the input; the rest stays for the unit.
pub(crate) trait Describe {
    fn request(&mut self) -> DescribeRequest;
}

/// One row per Describe* input: `Input(its ids member)`, or `Input` when it names no ids.
macro_rules! describe_inputs {
    (@ids $in:ident) => { Vec::new() };
    (@ids $in:ident $ids:ident) => { std::mem::take(&mut $in.$ids) };
    ($($input:ident$(($ids:ident))?),* $(,)?) => {$(
        impl Describe for input::$input {
            fn request(&mut self) -> DescribeRequest {
                DescribeRequest {
                    ids: describe_inputs!(@ids self $($ids)?),
                    filters: filters(std::mem::take(&mut self.filters)),
                    paging: Paging {
                        max_results: self.max_results,
                        next_token: self.next_token.take(),
                    },
                }
            }
        }
    )*};
}

describe_inputs!(
    DescribeImagesInput(image_ids),
    DescribeInstanceTypesInput(instance_types),
    DescribeInstanceStatusInput(instance_ids),
    DescribeInstancesInput(instance_ids),
    DescribeIamInstanceProfileAssociationsInput(association_ids),
    DescribeVpcsInput(vpc_ids),
    DescribeSubnetsInput(subnet_ids),
    DescribeSecurityGroupsInput(group_ids),
    DescribeTagsInput,
);

pub(crate) fn ec2_check(op: Operation, resource: String, keys: Keys) -> Check {
    Check {
        action: format!("ec2:{}", op.name()),
        resource,
        keys,
    }
}

/// The check of an EC2 Describe* action: on `*`, with `ec2:Region`.
pub(crate) fn describe_checks(call: &Call<'_>, op: Operation) -> Vec<Check> {
    let keys = vec![crate::authz::key(
        "ec2:Region",
        call.api.config.region.clone(),
    )];
    vec![ec2_check(op, "*".into(), keys)]
}

/// EC2's DryRun: the request is checked, then answered with DryRunOperation instead of acting.
pub(crate) fn dry_run(flag: Option<bool>) -> Result<(), ApiError> {
    if flag.unwrap_or(false) {
        return Err(ApiError::new(
            412,
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
        ));
    }
    Ok(())
}

fn filters(filters: Vec<input::Filter>) -> Vec<Filter> {
    filters
        .into_iter()
        .map(|f| Filter {
            name: f.name.unwrap_or_default(),
            values: f.values,
        })
        .collect()
}
