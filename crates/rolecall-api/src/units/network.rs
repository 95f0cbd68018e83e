//! The network family (EC2): DescribeVpcs, DescribeSubnets, DescribeSecurityGroups over the
//! default VPC, its default subnets and its default group. Authorized on `*`, as EC2's
//! Describe* actions are.

use crate::context::Call;
use crate::ec2_xml::{security_group_xml, subnet_xml, vpc_xml};
use crate::error::ApiError;
use crate::generated::ec2 as input;
use crate::units::ec2_common::{filters, paging, respond_set};
use rolecall_core::PageRequest;
use rolecall_core::ec2_network::Described;
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

/// DescribeVpcs and DescribeSubnets: the default network's items of one kind, by id and filter.
async fn describe<T: Described + Answered>(
    call: &Call<'_>,
    ids: &[String],
    filter_list: Vec<input::Filter>,
    page: Option<PageRequest>,
) -> Result<String, ApiError> {
    let found = call
        .api
        .ec2
        .describe_network::<T>(ids, &filters(filter_list), page.as_ref())
        .await?;
    Ok(answer(call, &found))
}

describe_unit!(DescribeVpcs, |call, input| {
    let page = paging(&input, false)?;
    describe::<Vpc>(call, &input.vpc_ids, input.filters, page).await
});

describe_unit!(DescribeSubnets, |call, input| {
    let page = paging(&input, false)?;
    describe::<Subnet>(call, &input.subnet_ids, input.filters, page).await
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
    Ok(answer(call, &groups))
});
