//! `instance_fragments`: a kept instance's XML is rendered anew after each kind of change (kept
//! apart so the module does not import `units`).

use crate::generated::Operation;
use crate::instance_fragments::kept;
use crate::units::testing::{api, call, launch, profile_with_role};
use std::sync::Arc;

async fn describe(api: &crate::context::Api, id: &str) -> String {
    call(api, Operation::DescribeInstances, &[("InstanceId.1", id)])
        .await
        .expect("unit")
        .expect("answer")
}

async fn change(api: &crate::context::Api, op: Operation, params: &[(&str, &str)]) {
    call(api, op, params).await.expect("unit").expect("changed");
}

/// Describes `id`, expecting `shows` in the answer and a fragment rendered anew (not the one
/// kept before the change); then again, expecting the same answer from the kept fragment.
async fn shows_change(api: &crate::context::Api, id: &str, shows: &str) {
    let before = kept(id).expect("kept before the change");
    let body = describe(api, id).await;
    assert!(body.contains(shows), "{shows} not in {body}");
    let after = kept(id).expect("kept after the change");
    assert!(
        !Arc::ptr_eq(&before, &after),
        "{shows}: the old fragment was used"
    );
    assert_eq!(describe(api, id).await, body);
    assert!(
        Arc::ptr_eq(&after, &kept(id).expect("kept")),
        "{shows}: not reused"
    );
}

type Params = &'static [(&'static str, &'static str)];

/// Stands for the launched instance's id in `CHANGES`.
const ID: &str = "{id}";

/// Each kind of change to an instance, in turn: the operation, its parameters, and what the
/// instance's XML shows after it.
const CHANGES: &[(Operation, Params, &str)] = &[
    (
        Operation::CreateTags,
        &[
            ("ResourceId.1", ID),
            ("Tag.1.Key", "team"),
            ("Tag.1.Value", "blue"),
        ],
        "<key>team</key><value>blue</value>",
    ),
    (
        Operation::ModifyInstanceMetadataOptions,
        &[("InstanceId", ID), ("HttpTokens", "required")],
        "<httpTokens>required</httpTokens>",
    ),
    (
        Operation::AssociateIamInstanceProfile,
        &[("InstanceId", ID), ("IamInstanceProfile.Name", "p")],
        ":instance-profile/p</arn>",
    ),
    (
        Operation::StopInstances,
        &[("InstanceId.1", ID)],
        "<name>stopped</name>",
    ),
    (
        Operation::TerminateInstances,
        &[("InstanceId.1", ID)],
        "<name>terminated</name>",
    ),
];

#[tokio::test]
async fn a_kept_instance_is_rendered_anew_after_each_kind_of_change() {
    let api = api().await;
    profile_with_role(&api, "p", "r", None).await;
    let id = launch(&api).await;
    let first = describe(&api, &id).await;
    assert!(
        first.contains(&format!("<instanceId>{id}</instanceId>")),
        "{first}"
    );
    let kept_first = kept(&id).expect("kept");
    assert_eq!(describe(&api, &id).await, first);
    assert!(Arc::ptr_eq(&kept_first, &kept(&id).expect("kept")));

    for (op, params, shows) in CHANGES {
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|&(k, v)| (k, if v == ID { id.as_str() } else { v }))
            .collect();
        change(&api, *op, &params).await;
        shows_change(&api, &id, shows).await;
    }
    let body = describe(&api, &id).await;
    assert!(!body.contains("iamInstanceProfile"), "{body}");
}

/// The elements of an instance's `<item>` as EC2 writes them: AWS's order, not the model's
/// (`models/ec2_wire_order.txt`), absent members left out, empty lists as empty elements.
#[tokio::test]
async fn an_instance_is_written_in_aws_order() {
    let api = api().await;
    let id = launch(&api).await;
    let body = describe(&api, &id).await;
    let (_, item) = body
        .split_once("<instancesSet><item>")
        .expect("an instance");
    let (item, _) = item.split_once("</item></instancesSet>").expect("its end");
    let expected = [
        "instanceId",
        "imageId",
        "instanceState",
        "privateDnsName",
        "dnsName",
        "reason",
        "amiLaunchIndex",
        "productCodes",
        "instanceType",
        "launchTime",
        "placement",
        "monitoring",
        "subnetId",
        "vpcId",
        "privateIpAddress",
        "groupSet",
        "architecture",
        "rootDeviceType",
        "rootDeviceName",
        "blockDeviceMapping",
        "virtualizationType",
        "hypervisor",
        "networkInterfaceSet",
        "ebsOptimized",
        "metadataOptions",
        "platformDetails",
    ];
    // The item's own children: skip over each child's content to its closing tag.
    let mut children = Vec::new();
    let mut rest = item;
    while let Some(open) = rest.strip_prefix('<') {
        let name = &open[..open.find('>').expect("tag end")];
        children.push(name.to_string());
        let close = format!("</{name}>");
        let end = rest.find(&close).expect("closed");
        rest = &rest[end + close.len()..];
    }
    assert_eq!(children, expected, "{item}");
    assert!(item.contains("<productCodes></productCodes>"), "{item}");
    // EC2's timestamps have milliseconds: 2013-12-12T23:46:37.000Z.
    let (_, launched) = item.split_once("<launchTime>").expect("launchTime");
    let (launched, _) = launched.split_once('<').expect("its end");
    assert!(
        launched.len() == 24 && launched.ends_with('Z'),
        "{launched}"
    );
    assert_eq!(launched.as_bytes()[19], b'.', "{launched}");
}
