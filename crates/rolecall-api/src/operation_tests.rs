//! The generated operation list and inputs: read-only-ness as the server decided it before the
//! enum (by action-name prefix), and the validation messages of the models' constraints.

use crate::error::ApiError;
use crate::generated::{Operation, ec2, iam, sts};
use crate::service::Service;
use rolecall_wire::Params;

fn params(pairs: &[(&str, &str)]) -> Params {
    Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn validation(message: &str) -> ApiError {
    ApiError::new(400, "ValidationError", message)
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

#[test]
fn iam_lengths_patterns_and_required() {
    let long = "r".repeat(65);
    assert_eq!(
        iam::GetRoleInput::parse(&params(&[("RoleName", &long)])),
        Err(validation(&format!(
            "1 validation error detected: Value '{long}' at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64"
        )))
    );
    assert_eq!(
        iam::GetRoleInput::parse(&params(&[("RoleName", "")])),
        Err(validation(
            "1 validation error detected: Value '' at 'roleName' failed to satisfy constraint: Member must have length greater than or equal to 1"
        ))
    );
    assert_eq!(
        iam::GetInstanceProfileInput::parse(&params(&[("InstanceProfileName", "a b")])),
        Err(validation(
            "1 validation error detected: Value 'a b' at 'instanceProfileName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
        ))
    );
    assert_eq!(
        iam::AddRoleToInstanceProfileInput::parse(&params(&[("InstanceProfileName", "p")])),
        Err(validation(
            "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null"
        ))
    );
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
}

#[test]
fn iam_numbers() {
    assert_eq!(
        iam::ListInstanceProfilesInput::parse(&params(&[("MaxItems", "0")])),
        Err(validation(
            "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"
        ))
    );
    assert_eq!(
        iam::ListInstanceProfilesInput::parse(&params(&[("MaxItems", "x")])),
        Err(validation(
            "1 validation error detected: Value 'x' at 'maxItems' failed to satisfy constraint: Member must be a number"
        ))
    );
    assert_eq!(
        iam::CreateRoleInput::parse(&params(&[
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", "{}"),
            ("MaxSessionDuration", "43201"),
        ])),
        Err(validation(
            "1 validation error detected: Value '43201' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200"
        ))
    );
    assert_eq!(
        iam::CreateRoleInput::parse(&params(&[
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", "{}"),
            ("MaxSessionDuration", "soon"),
        ])),
        Err(validation(
            "1 validation error detected: Value 'soon' at 'maxSessionDuration' failed to satisfy constraint: Member must be of the right type"
        ))
    );
}

#[test]
fn iam_lists_and_structures() {
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
    assert_eq!(
        iam::UntagRoleInput::parse(&params(&[("RoleName", "r")])),
        Err(validation(
            "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"
        ))
    );
}

#[test]
fn sts_constraints() {
    assert_eq!(
        sts::DecodeAuthorizationMessageInput::parse(&params(&[])),
        Err(ApiError::new(
            400,
            "ValidationError",
            "1 validation error detected: Value null at 'encodedMessage' failed to satisfy constraint: Member must not be null"
        ))
    );
}

#[test]
fn ec2_required_and_types() {
    assert_eq!(
        ec2::DisassociateIamInstanceProfileInput::parse(&params(&[])),
        Err(ApiError::new(
            400,
            "MissingParameter",
            "The request must contain the parameter AssociationId"
        ))
    );
    assert_eq!(
        ec2::AssociateIamInstanceProfileInput::parse(&params(&[("InstanceId", "i-1")])),
        Err(ApiError::new(
            400,
            "MissingParameter",
            "The request must contain the parameter IamInstanceProfile"
        ))
    );
    let input = ec2::AssociateIamInstanceProfileInput::parse(&params(&[
        ("InstanceId", "i-1"),
        ("IamInstanceProfile.Name", "p"),
    ]))
    .expect("parses");
    assert_eq!(input.iam_instance_profile.name.as_deref(), Some("p"));
    assert_eq!(input.iam_instance_profile.arn, None);
    assert_eq!(
        ec2::DescribeIamInstanceProfileAssociationsInput::parse(&params(&[("MaxResults", "many")])),
        Err(ApiError::new(
            400,
            "InvalidParameterValue",
            "Value (many) for parameter MaxResults is invalid."
        ))
    );
    let input = ec2::DescribeIamInstanceProfileAssociationsInput::parse(&params(&[
        ("AssociationId.2", "b"),
        ("AssociationId.1", "a"),
        ("Filter.1.Name", "state"),
        ("Filter.1.Value.1", "associated"),
    ]))
    .expect("parses");
    assert_eq!(input.association_ids, ["a", "b"]);
    assert_eq!(input.filters[0].values, ["associated"]);
    assert_eq!(
        ec2::StopInstancesInput::parse(&params(&[("InstanceId.1", "i-1"), ("Force", "yes")])),
        Err(ApiError::new(
            400,
            "InvalidParameterValue",
            "Value (yes) for parameter Force is invalid."
        ))
    );
}
