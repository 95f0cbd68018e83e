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

    let tag = [
        ("ResourceId.1", id.as_str()),
        ("Tag.1.Key", "team"),
        ("Tag.1.Value", "blue"),
    ];
    change(&api, Operation::CreateTags, &tag).await;
    shows_change(&api, &id, "<key>team</key><value>blue</value>").await;

    let metadata = [("InstanceId", id.as_str()), ("HttpTokens", "required")];
    change(&api, Operation::ModifyInstanceMetadataOptions, &metadata).await;
    shows_change(&api, &id, "<httpTokens>required</httpTokens>").await;

    let associate = [
        ("InstanceId", id.as_str()),
        ("IamInstanceProfile.Name", "p"),
    ];
    change(&api, Operation::AssociateIamInstanceProfile, &associate).await;
    shows_change(&api, &id, ":instance-profile/p</arn>").await;

    change(
        &api,
        Operation::StopInstances,
        &[("InstanceId.1", id.as_str())],
    )
    .await;
    shows_change(&api, &id, "<name>stopped</name>").await;

    change(
        &api,
        Operation::TerminateInstances,
        &[("InstanceId.1", id.as_str())],
    )
    .await;
    shows_change(&api, &id, "<name>terminated</name>").await;
    let body = describe(&api, &id).await;
    assert!(!body.contains("iamInstanceProfile"), "{body}");
}
