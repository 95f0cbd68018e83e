//! The network family (EC2): DescribeVpcs, DescribeSubnets, DescribeSecurityGroups over the
//! default VPC, its default subnets and its default group. Authorized on `*`, as EC2's
//! Describe* actions are.

use crate::ec2_xml::{security_group_xml, subnet_xml, vpc_xml};
use crate::error::ApiError;
use crate::units::ec2_common::{filters, respond};
use rolecall_core::ec2::page_size;
use rolecall_core::paging::encode_token;

/// Paging when the request pages (MaxResults or NextToken), as EC2 answers in one page otherwise.
fn paging(
    max_results: Option<i64>,
    next_token: Option<&str>,
) -> Result<Option<rolecall_core::PageRequest>, ApiError> {
    if max_results.is_none() && next_token.is_none() {
        return Ok(None);
    }
    Ok(Some(page_size(max_results, false, next_token)?))
}

describe_unit!(DescribeVpcs, |call, input| {
    let page = paging(input.max_results, input.next_token.as_deref())?;
    let (vpcs, next) = call
        .api
        .ec2
        .describe_vpcs(&input.vpc_ids, &filters(input.filters), page.as_ref())
        .await?;
    let owner = call.api.iam.account_id();
    Ok(respond(call, &|x| {
        x.list("vpcSet", "item", &vpcs, |x, v| vpc_xml(x, v, owner));
        x.leaf_opt("nextToken", next.as_deref().map(encode_token));
    }))
});

describe_unit!(DescribeSubnets, |call, input| {
    let page = paging(input.max_results, input.next_token.as_deref())?;
    let (subnets, next) = call
        .api
        .ec2
        .describe_subnets(&input.subnet_ids, &filters(input.filters), page.as_ref())
        .await?;
    let owner = call.api.iam.account_id();
    let region = call.api.config.region.as_str();
    Ok(respond(call, &|x| {
        x.list("subnetSet", "item", &subnets, |x, s| {
            subnet_xml(x, s, owner, region)
        });
        x.leaf_opt("nextToken", next.as_deref().map(encode_token));
    }))
});

describe_unit!(DescribeSecurityGroups, |call, input| {
    let page = paging(input.max_results, input.next_token.as_deref())?;
    let (groups, next) = call
        .api
        .ec2
        .describe_security_groups(
            &input.group_ids,
            &input.group_names,
            &filters(input.filters),
            page.as_ref(),
        )
        .await?;
    let owner = call.api.iam.account_id();
    let region = call.api.config.region.as_str();
    Ok(respond(call, &|x| {
        x.list("securityGroupInfo", "item", &groups, |x, g| {
            security_group_xml(x, g, owner, region)
        });
        x.leaf_opt("nextToken", next.as_deref().map(encode_token));
    }))
});
