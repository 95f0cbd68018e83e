//! The network family (EC2): DescribeVpcs, DescribeSubnets, DescribeSecurityGroups over the
//! default VPC, its default subnets and its default group. Authorized on `*`, as EC2's
//! Describe* actions are.

use crate::context::Call;
use crate::ec2_xml::{security_group_xml, subnet_xml, vpc_xml};
use crate::units::ec2_common::respond_set;
use rolecall_core::model::{SecurityGroup, Subnet, Vpc};
use rolecall_wire::Xml;

/// A kind of network item a Describe* call answers with: its answer's set, and how one item is
/// written (with the account that owns it and the region).
trait Answered {
    const SET: &'static str;
    fn write(x: &mut Xml, item: &Self, owner: &str, region: &str);
}

impl Answered for Vpc {
    const SET: &'static str = "vpcSet";
    fn write(x: &mut Xml, vpc: &Vpc, owner: &str, _: &str) {
        vpc_xml(x, vpc, owner)
    }
}

impl Answered for Subnet {
    const SET: &'static str = "subnetSet";
    fn write(x: &mut Xml, subnet: &Subnet, owner: &str, region: &str) {
        subnet_xml(x, subnet, owner, region)
    }
}

impl Answered for SecurityGroup {
    const SET: &'static str = "securityGroupInfo";
    fn write(x: &mut Xml, group: &SecurityGroup, owner: &str, region: &str) {
        security_group_xml(x, group, owner, region)
    }
}

fn answer<T: Answered>(call: &Call<'_>, page: &(Vec<T>, Option<String>)) -> String {
    let owner = call.api.iam.account_id();
    let region = call.api.config.region.as_str();
    respond_set(call, T::SET, page, |x, item| {
        T::write(x, item, owner, region)
    })
}

describe_unit!(DescribeVpcs, |call, input, asked| {
    let vpcs = call.api.ec2.describe_network::<Vpc>(&asked).await?;
    Ok(answer(call, &vpcs))
});

describe_unit!(DescribeSubnets, |call, input, asked| {
    let subnets = call.api.ec2.describe_network::<Subnet>(&asked).await?;
    Ok(answer(call, &subnets))
});

describe_unit!(DescribeSecurityGroups, |call, input, asked| {
    let ec2 = &call.api.ec2;
    let groups = ec2
        .describe_security_groups(&asked, &input.group_names)
        .await?;
    Ok(answer(call, &groups))
});
