//! What EC2 units share: the response envelope, the check on an EC2 action, DryRun, filters,
//! and the instance an operation acts on as authorization describes it (`on_instance!`).

use crate::authz::{Check, Keys};
use crate::context::Call;
use crate::error::ApiError;
use crate::generated::Operation;
use crate::generated::ec2 as input;
use rolecall_core::PageRequest;
use rolecall_core::ec2::{Filter, page_size};
use rolecall_core::model::{Association, Instance};
use rolecall_core::paging::encode_token;
use rolecall_wire::{Xml, ec2_response};

/// An instance as authorization describes it, with its active association (None: not found).
pub(crate) type FoundInstance = Option<(Instance, Option<Association>)>;

pub(crate) fn respond(call: &Call<'_>, body: &dyn Fn(&mut Xml)) -> String {
    ec2_response(call.op.name(), call.request_id, body)
}

/// A Describe* answer: the page's items as the `item`s of `set` (each written by `write`), then
/// the token of the next page, if any.
pub(crate) fn respond_set<T>(
    call: &Call<'_>,
    set: &str,
    (items, next): &(Vec<T>, Option<String>),
    write: impl Fn(&mut Xml, &T),
) -> String {
    respond(call, &|x| {
        x.list(set, "item", items, &write);
        x.leaf_opt("nextToken", next.as_deref().map(encode_token));
    })
}

/// An EC2 Describe* input's paging members (`MaxResults`, `NextToken`).
pub(crate) trait Paged {
    fn max_results(&self) -> Option<i64>;
    fn next_token(&self) -> Option<&str>;
}

macro_rules! paged {
    ($($input:ident),*) => {$(
        impl Paged for input::$input {
            fn max_results(&self) -> Option<i64> {
                self.max_results
            }
            fn next_token(&self) -> Option<&str> {
                self.next_token.as_deref()
            }
        }
    )*};
}

paged!(
    DescribeImagesInput,
    DescribeInstanceTypesInput,
    DescribeInstanceStatusInput,
    DescribeTagsInput,
    DescribeVpcsInput,
    DescribeSubnetsInput,
    DescribeSecurityGroupsInput
);

/// The page a Describe* request asks for (the first, of the default size, if it names none).
/// `has_ids`: the request names what it describes (then MaxResults may not be given).
pub(crate) fn requested_page(input: &impl Paged, has_ids: bool) -> Result<PageRequest, ApiError> {
    Ok(page_size(input.max_results(), has_ids, input.next_token())?)
}

/// As `requested_page` when the request pages (MaxResults or NextToken); EC2 answers in one page
/// otherwise.
pub(crate) fn paging(input: &impl Paged, has_ids: bool) -> Result<Option<PageRequest>, ApiError> {
    if input.max_results().is_none() && input.next_token().is_none() {
        return Ok(None);
    }
    requested_page(input, has_ids).map(Some)
}

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

pub(crate) fn filters(filters: Vec<input::Filter>) -> Vec<Filter> {
    filters
        .into_iter()
        .map(|f| Filter {
            name: f.name.unwrap_or_default(),
            values: f.values,
        })
        .collect()
}
