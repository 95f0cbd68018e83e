//! The network family (EC2): DescribeVpcs, DescribeSubnets, DescribeSecurityGroups over the
//! default VPC, its default subnets and its default group. Authorized on `*`, as EC2's
//! Describe* actions are.

use crate::ec2_xml::{security_group_xml, subnet_xml, vpc_xml};
use crate::units::ec2_common::{filters, paging, respond_set};
use rolecall_core::model::{Subnet, Vpc};

describe_unit!(DescribeVpcs, |call, input| {
    let page = paging(&input, false)?;
    let vpcs = call
        .api
        .ec2
        .describe_network::<Vpc>(&input.vpc_ids, &filters(input.filters), page.as_ref())
        .await?;
    let owner = call.api.iam.account_id();
    Ok(respond_set(call, "vpcSet", &vpcs, |x, v| {
        vpc_xml(x, v, owner)
    }))
});

describe_unit!(DescribeSubnets, |call, input| {
    let page = paging(&input, false)?;
    let subnets = call
        .api
        .ec2
        .describe_network::<Subnet>(&input.subnet_ids, &filters(input.filters), page.as_ref())
        .await?;
    let owner = call.api.iam.account_id();
    let region = call.api.config.region.as_str();
    Ok(respond_set(call, "subnetSet", &subnets, |x, s| {
        subnet_xml(x, s, owner, region)
    }))
});

describe_unit!(DescribeSecurityGroups, |call, input| {
    let page = paging(&input, false)?;
    let groups = call
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
    let set = "securityGroupInfo";
    Ok(respond_set(call, set, &groups, |x, g| {
        security_group_xml(x, g, owner, region)
    }))
});
