//! The network family (EC2): DescribeVpcs, DescribeSubnets, DescribeSecurityGroups over the
//! default VPC, its default subnets and its default group. Authorized on `*`, as EC2's
//! Describe* actions are.

use crate::context::Call;
use crate::ec2_xml::{security_group, subnet, vpc};
use crate::generated::outputs;
use crate::units::ec2_common::next_token;
use rolecall_core::model::{Subnet, Vpc};

/// The account that owns the default network, and the region.
fn owner_region<'c>(call: &'c Call<'_>) -> (&'c str, &'c str) {
    (call.api.iam.account_id(), call.api.config.region.as_str())
}

describe_unit!(DescribeVpcs, |call, input, asked| {
    let (vpcs, next) = call.api.ec2.describe_network::<Vpc>(&asked).await?;
    let (owner, _) = owner_region(call);
    let out = outputs::DescribeVpcs {
        vpcs: Some(vpcs.iter().map(|v| vpc(v, owner)).collect()),
        next_token: next_token(next),
    };
    Ok(out)
});

describe_unit!(DescribeSubnets, |call, input, asked| {
    let (subnets, next) = call.api.ec2.describe_network::<Subnet>(&asked).await?;
    let (owner, region) = owner_region(call);
    let out = outputs::DescribeSubnets {
        subnets: Some(subnets.iter().map(|s| subnet(s, owner, region)).collect()),
        next_token: next_token(next),
    };
    Ok(out)
});

describe_unit!(DescribeSecurityGroups, |call, input, asked| {
    let ec2 = &call.api.ec2;
    let (groups, next) = ec2
        .describe_security_groups(&asked, &input.group_names)
        .await?;
    let (owner, region) = owner_region(call);
    let described = groups.iter().map(|g| security_group(g, owner, region));
    let out = outputs::DescribeSecurityGroups {
        security_groups: Some(described.collect()),
        next_token: next_token(next),
    };
    Ok(out)
});
