//! Instance status and attributes (EC2): DescribeInstanceStatus (on `*`, chosen in the
//! database), DescribeInstanceAttribute and ModifyInstanceAttribute (on the instance, and the
//! security groups a change names).

use crate::authz::{self, key};
use crate::ec2_xml::state_xml;
use crate::generated::ec2 as input;
use crate::units::ec2_common::{FoundInstance, dry_run, ec2_check, respond, respond_set};
use rolecall_core::Error;
use rolecall_core::ec2_status::{AttributeChange, reachability_of, status_of};
use rolecall_core::model::Instance;
use rolecall_wire::Xml;

fn status_xml(x: &mut Xml, name: &str, i: &Instance) {
    x.elem(name, |x| {
        x.leaf("status", status_of(i));
        x.elem("details", |x| {
            x.elem("item", |x| {
                x.leaf("name", "reachability");
                x.leaf("status", reachability_of(i));
            });
        });
    });
}

describe_unit!(DescribeInstanceStatus, |call, input, asked| {
    let include_all = input.include_all_instances.unwrap_or(false);
    let ec2 = &call.api.ec2;
    let rows = ec2.describe_instance_status(&asked, include_all).await?;
    let set = "instanceStatusSet";
    Ok(respond_set(call, set, &rows, |x, i| {
        x.leaf("instanceId", &i.id);
        x.leaf("availabilityZone", &i.availability_zone);
        state_xml(x, "instanceState", i.state);
        status_xml(x, "systemStatus", i);
        status_xml(x, "instanceStatus", i);
        x.elem("attachedEbsStatus", |x| {
            x.leaf("status", status_of(i));
        });
    }))
});

fn value_xml(x: &mut Xml, name: &str, value: &str) {
    x.elem(name, |x| {
        x.leaf("value", value);
    });
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
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
    Ok(respond(call, &|x| {
        x.leaf("instanceId", &i.id);
        match attribute {
            "instanceType" => value_xml(x, "instanceType", &i.instance_type),
            "userData" => match &i.user_data {
                Some(u) => value_xml(x, "userData", u),
                None => {
                    x.elem("userData", |_| {});
                }
            },
            "disableApiTermination" => value_xml(
                x,
                "disableApiTermination",
                bool_text(i.disable_api_termination),
            ),
            "disableApiStop" => value_xml(x, "disableApiStop", bool_text(i.disable_api_stop)),
            "instanceInitiatedShutdownBehavior" => {
                value_xml(x, "instanceInitiatedShutdownBehavior", &i.shutdown_behavior)
            }
            "rootDeviceName" => value_xml(x, "rootDeviceName", "/dev/xvda"),
            "sourceDestCheck" => value_xml(x, "sourceDestCheck", "true"),
            "ebsOptimized" => value_xml(x, "ebsOptimized", "false"),
            "enaSupport" => value_xml(x, "enaSupport", "true"),
            "sriovNetSupport" => value_xml(x, "sriovNetSupport", "simple"),
            "enclaveOptions" => {
                x.elem("enclaveOptions", |x| {
                    x.leaf("enabled", "false");
                });
            }
            "groupSet" => {
                x.list("groupSet", "item", &i.security_groups, |x, g| {
                    x.leaf_opt("groupId", g.group_id.as_deref());
                    x.leaf_opt("groupName", g.group_name.as_deref());
                });
            }
            // kernel, ramdisk, blockDeviceMapping, productCodes: none.
            other => {
                x.elem(other, |_| {});
            }
        }
    }))
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
        Ok(respond(call, &|x| {
            x.leaf("return", "true");
        }))
    }
);
