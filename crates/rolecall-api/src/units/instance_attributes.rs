//! Instance status and attributes (EC2): DescribeInstanceStatus (on `*`, chosen in the
//! database), DescribeInstanceAttribute and ModifyInstanceAttribute (on the instance, and the
//! security groups a change names).

use crate::authz::{self, key};
use crate::ec2_xml::state;
use crate::generated::ec2 as input;
use crate::generated::ec2_outputs::{
    AttributeBooleanValue, AttributeValue, EbsStatusSummary, EnclaveOptions, GroupIdentifier,
    InstanceStatus, InstanceStatusDetails, InstanceStatusSummary,
};
use crate::generated::outputs;
use crate::output::ReturnTrue;
use crate::units::ec2_common::{FoundInstance, dry_run, ec2_check, next_token};
use rolecall_core::Error;
use rolecall_core::ec2_status::{AttributeChange, reachability_of, status_of};
use rolecall_core::model::Instance;

fn status_summary(i: &Instance) -> InstanceStatusSummary {
    InstanceStatusSummary {
        status: Some(status_of(i).to_string()),
        details: Some(vec![InstanceStatusDetails {
            name: Some("reachability".into()),
            status: Some(reachability_of(i).to_string()),
            impaired_since: None,
        }]),
    }
}

fn instance_status(i: &Instance) -> InstanceStatus {
    InstanceStatus {
        instance_id: Some(i.id.clone()),
        availability_zone: Some(i.availability_zone.clone()),
        instance_state: Some(state(i.state)),
        system_status: Some(status_summary(i)),
        instance_status: Some(status_summary(i)),
        attached_ebs_status: Some(EbsStatusSummary {
            status: Some(status_of(i).to_string()),
            details: None,
        }),
        ..Default::default()
    }
}

describe_unit!(DescribeInstanceStatus, |call, input, asked| {
    let include_all = input.include_all_instances.unwrap_or(false);
    let ec2 = &call.api.ec2;
    let (rows, next) = ec2.describe_instance_status(&asked, include_all).await?;
    let out = outputs::DescribeInstanceStatus {
        instance_statuses: Some(rows.iter().map(instance_status).collect()),
        next_token: next_token(next),
    };
    Ok(out)
});

fn value(v: &str) -> Option<AttributeValue> {
    Some(AttributeValue {
        value: Some(v.to_string()),
    })
}

fn flag(b: bool) -> Option<AttributeBooleanValue> {
    Some(AttributeBooleanValue { value: Some(b) })
}

on_instance!(DescribeInstanceAttribute, |call, input| {
    const KNOWN: &[&str] = &[
        "instanceType",
        "kernel",
        "ramdisk",
        "userData",
        "disableApiTermination",
        "instanceInitiatedShutdownBehavior",
        "rootDeviceName",
        "blockDeviceMapping",
        "productCodes",
        "sourceDestCheck",
        "groupSet",
        "ebsOptimized",
        "sriovNetSupport",
        "enaSupport",
        "enclaveOptions",
        "disableApiStop",
    ];
    let attribute = input.attribute.as_str();
    if !KNOWN.contains(&attribute) {
        return Err(Error::InvalidParameterValue(format!(
            "Value ({}) for parameter attribute is invalid. Unknown attribute.",
            attribute.escape_debug()
        ))
        .into());
    }
    dry_run(input.dry_run)?;
    let i = call.api.ec2.existing_instance(&input.instance_id).await?;
    // Only the attribute asked for; kernel, ramdisk, blockDeviceMapping, productCodes: none
    // (an empty element).
    let mut out = outputs::DescribeInstanceAttribute {
        instance_id: Some(i.id.clone()),
        ..Default::default()
    };
    match attribute {
        "instanceType" => out.instance_type = value(&i.instance_type),
        "userData" => {
            out.user_data = Some(AttributeValue {
                value: i.user_data.clone(),
            })
        }
        "disableApiTermination" => out.disable_api_termination = flag(i.disable_api_termination),
        "disableApiStop" => out.disable_api_stop = flag(i.disable_api_stop),
        "instanceInitiatedShutdownBehavior" => {
            out.instance_initiated_shutdown_behavior = value(&i.shutdown_behavior)
        }
        "rootDeviceName" => out.root_device_name = value("/dev/xvda"),
        "sourceDestCheck" => out.source_dest_check = flag(true),
        "ebsOptimized" => out.ebs_optimized = flag(false),
        "enaSupport" => out.ena_support = flag(true),
        "sriovNetSupport" => out.sriov_net_support = value("simple"),
        "enclaveOptions" => {
            out.enclave_options = Some(EnclaveOptions {
                enabled: Some(false),
            })
        }
        "groupSet" => {
            let groups = i.security_groups.iter().map(|g| GroupIdentifier {
                group_id: g.group_id.clone(),
                group_name: g.group_name.clone(),
            });
            out.groups = Some(groups.collect());
        }
        "kernel" => out.kernel_id = Some(AttributeValue::default()),
        "ramdisk" => out.ramdisk_id = Some(AttributeValue::default()),
        "blockDeviceMapping" => out.block_device_mappings = Some(Vec::new()),
        _ => out.product_codes = Some(Vec::new()),
    }
    Ok(out)
});

/// The one change a ModifyInstanceAttribute request makes (by `Attribute`/`Value` or by the
/// attribute's own parameter).
fn requested_change(input: &input::ModifyInstanceAttributeInput) -> Result<AttributeChange, Error> {
    let flag = |v: Option<bool>, name: &str| {
        v.ok_or_else(|| {
            Error::MissingParameter(format!(
                "The request must contain the parameter {name}.Value"
            ))
        })
    };
    let parse_bool = |v: &str| match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::InvalidParameterValue(format!(
            "Value ({}) for parameter value is invalid. Expected: 'true' or 'false'.",
            v.escape_debug()
        ))),
    };
    let mut changes = Vec::new();
    if let Some(name) = &input.attribute {
        let value = input.value.clone().unwrap_or_default();
        changes.push(match name.as_str() {
            "instanceType" => AttributeChange::InstanceType(value),
            "userData" => AttributeChange::UserData(value),
            "disableApiTermination" => AttributeChange::DisableApiTermination(parse_bool(&value)?),
            "disableApiStop" => AttributeChange::DisableApiStop(parse_bool(&value)?),
            "instanceInitiatedShutdownBehavior" => AttributeChange::ShutdownBehavior(value),
            "groupSet" => AttributeChange::Groups(vec![value]),
            "kernel" | "ramdisk" | "sourceDestCheck" | "ebsOptimized" | "enaSupport"
            | "sriovNetSupport" => AttributeChange::NoEffect,
            other => {
                return Err(Error::InvalidParameterValue(format!(
                    "Value ({}) for parameter attribute is invalid. Unknown attribute.",
                    other.escape_debug()
                )));
            }
        });
    }
    if let Some(v) = &input.instance_type {
        changes.push(AttributeChange::InstanceType(
            v.value.clone().unwrap_or_default(),
        ));
    }
    if let Some(v) = &input.user_data {
        changes.push(AttributeChange::UserData(
            v.value.clone().unwrap_or_default(),
        ));
    }
    if let Some(v) = &input.disable_api_termination {
        changes.push(AttributeChange::DisableApiTermination(flag(
            v.value,
            "DisableApiTermination",
        )?));
    }
    if let Some(v) = &input.disable_api_stop {
        changes.push(AttributeChange::DisableApiStop(flag(
            v.value,
            "DisableApiStop",
        )?));
    }
    if let Some(v) = &input.instance_initiated_shutdown_behavior {
        changes.push(AttributeChange::ShutdownBehavior(
            v.value.clone().unwrap_or_default(),
        ));
    }
    if !input.groups.is_empty() {
        changes.push(AttributeChange::Groups(input.groups.clone()));
    }
    let no_effect = input.source_dest_check.is_some()
        || input.ebs_optimized.is_some()
        || input.ena_support.is_some()
        || input.sriov_net_support.is_some()
        || input.kernel.is_some()
        || input.ramdisk.is_some()
        || !input.block_device_mappings.is_empty();
    if no_effect {
        changes.push(AttributeChange::NoEffect);
    }
    match changes.len() {
        0 => Err(Error::InvalidParameterCombination(
            "No attributes specified.".into(),
        )),
        1 => Ok(changes.remove(0)),
        _ => Err(Error::InvalidParameterCombination(
            "Fields for multiple attribute types specified.".into(),
        )),
    }
}

unit!(
    ModifyInstanceAttribute,
    resolve |call, input| -> FoundInstance {
        authz::find_instance(call.api, &input.instance_id).await
    },
    checks |call, input, found| {
        let id = Some(input.instance_id.as_str());
        let mut out = authz::instance_checks(call.api, Self::OP, id, found.as_ref(), None);
        let mut groups = input.groups.clone();
        if input.attribute.as_deref() == Some("groupSet") {
            groups.extend(input.value.clone());
        }
        for g in groups {
            out.push(ec2_check(
                Self::OP,
                authz::ec2_arn(call.api, "security-group", &g),
                vec![key("ec2:Region", call.api.config.region.clone())],
            ));
        }
        out
    },
    handle |call, input, _| {
        let change = requested_change(&input)?;
        dry_run(input.dry_run)?;
        call.api
            .ec2
            .modify_instance_attribute(&input.instance_id, change)
            .await?;
        Ok(ReturnTrue)
    }
);
