//! The generated operation list, inputs and outputs: read-only-ness as the server decided it
//! before the enum (by action-name prefix), the validation messages of the models' constraints,
//! and outputs' `Debug` leaving secrets out.

use crate::error::ApiError;
use crate::generated::{Operation, ec2, iam};
use crate::service::Service;
use crate::units::testing;
use rolecall_wire::Params;

fn params(pairs: &[(&str, &str)]) -> Params {
    Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

#[test]
fn read_only_is_what_the_prefix_rule_said() {
    for op in Operation::ALL {
        let name = op.name();
        let by_prefix = name == "AssumeRole"
            || ["Get", "List", "Describe", "Simulate", "Decode", "Lookup"]
                .iter()
                .any(|p| name.starts_with(p));
        assert_eq!(op.is_read_only(), by_prefix, "{name}");
    }
}

#[test]
fn names_round_trip_per_service() {
    for op in Operation::ALL {
        assert_eq!(Operation::from_name(op.service(), op.name()), Some(*op));
    }
    assert_eq!(Operation::from_name(Service::Ec2, "CreateRole"), None);
    assert_eq!(Operation::from_name(Service::Iam, "createrole"), None);
}

/// A request the model's constraints refuse (`validation_cases.json`), with AWS's answer.
#[derive(serde::Deserialize)]
struct Refusal {
    operation: String,
    params: std::collections::BTreeMap<String, String>,
    code: String,
    message: String,
}

/// Each case is refused by its operation's generated input (lengths, patterns, required
/// members, numbers, types), in its service's wording, before anything is looked up.
#[tokio::test]
async fn the_models_constraints_refuse_in_aws_wording() {
    let cases: Vec<Refusal> =
        serde_json::from_str(include_str!("validation_cases.json")).expect("cases");
    let api = testing::api().await;
    for case in cases {
        let op = Operation::ALL
            .iter()
            .find(|op| op.name() == case.operation)
            .expect("an operation");
        let pairs: Vec<(&str, &str)> = case
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let error = testing::refused(&api, *op, &pairs).await;
        let expected = ApiError::new(400, &case.code, &case.message);
        assert_eq!(error, expected, "{}", case.operation);
    }
}

#[test]
fn iam_values_and_structures() {
    assert_eq!(
        iam::AddRoleToInstanceProfileInput::parse(&params(&[
            ("InstanceProfileName", "p"),
            ("RoleName", "r_1+=,.@-"),
        ])),
        Ok(iam::AddRoleToInstanceProfileInput {
            instance_profile_name: "p".into(),
            role_name: "r_1+=,.@-".into(),
        })
    );
    let input = iam::CreateInstanceProfileInput::parse(&params(&[
        ("InstanceProfileName", "p"),
        ("Tags.member.2.Key", "b"),
        ("Tags.member.2.Value", "2"),
        ("Tags.member.1.Key", "a"),
        ("Tags.member.1.Value", "1"),
    ]))
    .expect("parses");
    let keys: Vec<&str> = input.tags.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
}

/// A list longer than its model allows is refused showing its first items as AWS does, by the
/// structure's model name and member names.
#[test]
fn a_long_structure_list_shows_its_first_items() {
    let pairs: Vec<(String, String)> = (1..=51)
        .flat_map(|n| {
            [
                (format!("Tags.member.{n}.Key"), format!("k{n}")),
                (format!("Tags.member.{n}.Value"), "v".to_string()),
            ]
        })
        .chain([("RoleName".to_string(), "r".to_string())])
        .collect();
    let error = iam::TagRoleInput::parse(&Params::from_pairs(pairs)).expect_err("too many");
    let shown = "[Tag(key=k1, value=v), Tag(key=k2, value=v), Tag(key=k3, value=v), ...]";
    let message = format!(
        "1 validation error detected: Value '{shown}' at 'tags' failed to satisfy constraint: \
         Member must have length less than or equal to 50"
    );
    assert_eq!(error, ApiError::new(400, "ValidationError", &message));
}

#[test]
fn ec2_structures_and_lists() {
    let input = ec2::AssociateIamInstanceProfileInput::parse(&params(&[
        ("InstanceId", "i-1"),
        ("IamInstanceProfile.Name", "p"),
    ]))
    .expect("parses");
    assert_eq!(input.iam_instance_profile.name.as_deref(), Some("p"));
    assert_eq!(input.iam_instance_profile.arn, None);
    let input = ec2::DescribeIamInstanceProfileAssociationsInput::parse(&params(&[
        ("AssociationId.2", "b"),
        ("AssociationId.1", "a"),
        ("Filter.1.Name", "state"),
        ("Filter.1.Value.1", "associated"),
    ]))
    .expect("parses");
    assert_eq!(input.association_ids, ["a", "b"]);
    assert_eq!(input.filters[0].values, ["associated"]);
}

/// Generated outputs' `Debug` (written by `api::output`) leaves secret members out.
#[test]
fn secrets_are_not_shown_by_debug() {
    let credentials = crate::generated::sts_outputs::Credentials {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI".into(),
        session_token: "IQoJb3JpZ2lu".into(),
        ..Default::default()
    };
    let shown = format!("{credentials:?}");
    assert!(shown.contains("ASIAEXAMPLE"), "{shown}");
    assert!(
        !shown.contains("wJalrXUtnFEMI") && !shown.contains("IQoJb3JpZ2lu"),
        "{shown}"
    );
}
