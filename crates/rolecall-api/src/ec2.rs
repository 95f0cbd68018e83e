//! EC2 actions (EC2 protocol, 2016-11-15): the instance and instance-profile-association subset.

use crate::context::Call;
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::params::Args;
use rolecall_core::ec2::{Filter, RunInstances, StateChange};
use rolecall_core::model::*;
use rolecall_wire::{Params, Xml, ec2_response, ec2_timestamp};

/// An instance with its active association, as DescribeInstances lists it.
type InstanceRow = (Instance, Option<Association>);

fn filters(params: &Params) -> Vec<Filter> {
    params
        .structs("Filter")
        .into_iter()
        .map(|f| Filter {
            name: f.get("Name").unwrap_or_default().to_string(),
            values: f.list("Value").into_iter().map(str::to_string).collect(),
        })
        .collect()
}

fn ids(params: &Params, prefix: &str) -> Vec<String> {
    params
        .list(prefix)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// EC2 TagSpecifications for instances: `TagSpecification.N.ResourceType` + `.Tag.M.Key/Value`.
fn instance_tags(a: &Args<'_>) -> Result<Vec<Tag>, ApiError> {
    let mut tags = Vec::new();
    for spec in a.params.structs("TagSpecification") {
        let rt = spec.get("ResourceType").unwrap_or_default();
        if rt != "instance" {
            // Volumes and network interfaces are not modelled; their tags have nowhere to go.
            if !matches!(rt, "volume" | "network-interface") {
                return Err(ApiError::new(
                    400,
                    "InvalidParameterValue",
                    format!("'{rt}' is not a valid taggable resource type for this operation."),
                ));
            }
            continue;
        }
        for t in spec.structs("Tag") {
            let key = t
                .get("Key")
                .ok_or_else(|| ApiError::missing_parameter(Protocol::Ec2, "Tag.Key"))?;
            if key.is_empty()
                || key.chars().count() > 128
                || key.to_ascii_lowercase().starts_with("aws:")
            {
                return Err(ApiError::new(
                    400,
                    "InvalidParameterValue",
                    format!("Tag key '{key}' is invalid."),
                ));
            }
            let value = t.get("Value").unwrap_or_default();
            if value.chars().count() > 256 {
                return Err(ApiError::new(
                    400,
                    "InvalidParameterValue",
                    "Tag value exceeds the maximum length of 256 characters.",
                ));
            }
            tags.push(Tag {
                key: key.to_string(),
                value: value.to_string(),
            });
        }
    }
    if tags.len() > 50 {
        return Err(ApiError::new(
            400,
            "TagLimitExceeded",
            "The maximum number of tags per resource (50) has been exceeded.",
        ));
    }
    Ok(tags)
}

fn metadata_options(a: &Args<'_>, base: MetadataOptions) -> Result<MetadataOptions, ApiError> {
    let mut m = base;
    let p = a.params.sub("MetadataOptions").unwrap_or_default();
    apply_metadata_params(
        &Args {
            params: &p,
            protocol: Protocol::Ec2,
        },
        &mut m,
    )?;
    Ok(m)
}

fn apply_metadata_params(a: &Args<'_>, m: &mut MetadataOptions) -> Result<(), ApiError> {
    if let Some(v) = a.opt("HttpTokens") {
        m.http_tokens = v.to_string();
    }
    if let Some(v) = a.int("HttpPutResponseHopLimit")? {
        m.http_put_response_hop_limit = u32::try_from(v).map_err(|_| {
            ApiError::malformed_parameter(Protocol::Ec2, "HttpPutResponseHopLimit", &v.to_string())
        })?;
    }
    if let Some(v) = a.opt("HttpEndpoint") {
        m.http_endpoint = v.to_string();
    }
    if let Some(v) = a.opt("InstanceMetadataTags") {
        m.instance_metadata_tags = v.to_string();
    }
    if let Some(v) = a.opt("HttpProtocolIpv6") {
        m.http_protocol_ipv6 = v.to_string();
    }
    Ok(())
}

fn state_xml(x: &mut Xml, name: &str, s: InstanceState) {
    x.elem(name, |x| {
        x.leaf("code", s.code().to_string());
        x.leaf("name", s.name());
    });
}

fn metadata_xml(x: &mut Xml, name: &str, m: &MetadataOptions, state: &str) {
    x.elem(name, |x| {
        x.leaf("state", state);
        x.leaf("httpTokens", &m.http_tokens);
        x.leaf(
            "httpPutResponseHopLimit",
            m.http_put_response_hop_limit.to_string(),
        );
        x.leaf("httpEndpoint", &m.http_endpoint);
        x.leaf("httpProtocolIpv6", &m.http_protocol_ipv6);
        x.leaf("instanceMetadataTags", &m.instance_metadata_tags);
    });
}

fn profile_ref_xml(x: &mut Xml, arn: &str, id: &str) {
    x.elem("iamInstanceProfile", |x| {
        x.leaf("arn", arn);
        x.leaf("id", id);
    });
}

fn private_dns(i: &Instance, region: &str) -> String {
    let host = format!("ip-{}", i.private_ip.replace('.', "-"));
    if region == "us-east-1" {
        format!("{host}.ec2.internal")
    } else {
        format!("{host}.{region}.compute.internal")
    }
}

fn instance_xml(
    x: &mut Xml,
    i: &Instance,
    assoc: Option<&Association>,
    region: &str,
    reported: InstanceState,
) {
    x.leaf("instanceId", &i.id);
    x.leaf("imageId", &i.image_id);
    state_xml(x, "instanceState", reported);
    x.leaf("privateDnsName", private_dns(i, region));
    x.leaf("dnsName", "");
    x.leaf("reason", &i.state_reason);
    x.leaf_opt("keyName", i.key_name.as_deref());
    x.leaf("amiLaunchIndex", i.ami_launch_index.to_string());
    x.elem("productCodes", |_| {});
    x.leaf("instanceType", &i.instance_type);
    x.leaf("launchTime", ec2_timestamp(i.launch_time));
    x.elem("placement", |x| {
        x.leaf("availabilityZone", &i.availability_zone);
        x.leaf("groupName", "");
        x.leaf("tenancy", "default");
    });
    x.elem("monitoring", |x| {
        x.leaf("state", "disabled");
    });
    x.leaf_opt("subnetId", i.subnet_id.as_deref());
    x.leaf_opt("vpcId", i.vpc_id.as_deref());
    x.leaf("privateIpAddress", &i.private_ip);
    x.list("groupSet", "item", &i.security_groups, |x, g| {
        x.leaf_opt("groupId", g.group_id.as_deref());
        x.leaf_opt("groupName", g.group_name.as_deref());
    });
    x.leaf("architecture", "x86_64");
    x.leaf("rootDeviceType", "ebs");
    x.leaf("rootDeviceName", "/dev/xvda");
    x.elem("blockDeviceMapping", |_| {});
    x.leaf("virtualizationType", "hvm");
    x.leaf_opt("clientToken", i.client_token.as_deref());
    if !i.tags.is_empty() {
        x.list("tagSet", "item", &i.tags, |x, t| {
            x.leaf("key", &t.key);
            x.leaf("value", &t.value);
        });
    }
    x.leaf("hypervisor", "xen");
    x.elem("networkInterfaceSet", |_| {});
    if let Some(a) = assoc {
        profile_ref_xml(x, &a.profile_arn, &a.profile_id);
    }
    x.leaf("ebsOptimized", "false");
    metadata_xml(x, "metadataOptions", &i.metadata_options, "applied");
    x.leaf("platformDetails", "Linux/UNIX");
}

pub(crate) fn association_xml(x: &mut Xml, a: &Association, reported: AssociationState) {
    x.leaf("associationId", &a.id);
    x.leaf("instanceId", &a.instance_id);
    profile_ref_xml(x, &a.profile_arn, &a.profile_id);
    x.leaf("state", reported.name());
    x.leaf("timestamp", ec2_timestamp(a.timestamp));
}

fn state_changes_xml(x: &mut Xml, changes: &[StateChange]) {
    x.list("instancesSet", "item", changes, |x, c| {
        x.leaf("instanceId", &c.instance_id);
        state_xml(x, "currentState", c.current);
        state_xml(x, "previousState", c.previous);
    });
}

/// EC2's DryRun: the request is checked, then answered with DryRunOperation instead of acting.
fn dry_run(a: &Args<'_>) -> Result<(), ApiError> {
    if a.bool("DryRun")?.unwrap_or(false) {
        return Err(ApiError::new(
            412,
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
        ));
    }
    Ok(())
}

/// RunInstances errors: a requested private address that a live instance holds is EC2's
/// `InvalidIPAddress.InUse` (core reports it as InvalidParameterValue "Address … is in use.").
fn run_error(e: rolecall_core::Error) -> ApiError {
    match &e {
        rolecall_core::Error::InvalidParameterValue(m) if m.ends_with(" is in use.") => {
            ApiError::new(400, "InvalidIPAddress.InUse", m.clone())
        }
        _ => e.into(),
    }
}

pub async fn dispatch(call: &Call<'_>) -> Result<String, ApiError> {
    let a = Args {
        params: call.params,
        protocol: Protocol::Ec2,
    };
    let ec2 = &call.api.ec2;
    let region = call.api.config.region.as_str();
    let owner = call.api.iam.account_id();
    let respond = |body: &dyn Fn(&mut Xml)| ec2_response(call.op.name(), call.request_id, body);
    let out = match call.op {
        Operation::RunInstances => {
            let profile = a.params.sub("IamInstanceProfile").unwrap_or_default();
            let input = RunInstances {
                image_id: a.req("ImageId")?.to_string(),
                min_count: a.req_int("MinCount")?,
                max_count: a.req_int("MaxCount")?,
                instance_type: a.opt("InstanceType").map(str::to_string),
                key_name: a.opt("KeyName").map(str::to_string),
                security_groups: ids(a.params, "SecurityGroup"),
                security_group_ids: ids(a.params, "SecurityGroupId"),
                subnet_id: a.opt("SubnetId").map(str::to_string),
                private_ip: a.opt("PrivateIpAddress").map(str::to_string),
                user_data: a.opt("UserData").map(str::to_string),
                tags: instance_tags(&a)?,
                profile_name: profile.get("Name").map(str::to_string),
                profile_arn: profile.get("Arn").map(str::to_string),
                metadata_options: metadata_options(&a, MetadataOptions::default())?,
                client_token: a.opt("ClientToken").map(str::to_string),
            };
            dry_run(&a)?;
            let r = ec2.run_instances(input).await.map_err(run_error)?;
            respond(&|x| {
                x.leaf("reservationId", &r.id);
                x.leaf("ownerId", owner);
                x.elem("groupSet", |_| {});
                x.list("instancesSet", "item", &r.instances, |x, i| {
                    let assoc = r.associations.iter().find(|s| s.instance_id == i.id);
                    instance_xml(x, i, assoc, region, InstanceState::Pending);
                });
            })
        }
        Operation::DescribeInstances => {
            dry_run(&a)?;
            let (rows, next) = ec2
                .describe_instances(
                    &ids(a.params, "InstanceId"),
                    &filters(a.params),
                    a.int("MaxResults")?,
                    a.opt("NextToken"),
                )
                .await?;
            // Group instances into their reservations, in order of first appearance.
            let mut reservations: Vec<(&str, Vec<&InstanceRow>)> = Vec::new();
            for row in &rows {
                match reservations
                    .iter_mut()
                    .find(|(id, _)| *id == row.0.reservation_id)
                {
                    Some((_, v)) => v.push(row),
                    None => reservations.push((&row.0.reservation_id, vec![row])),
                }
            }
            respond(&|x| {
                x.list(
                    "reservationSet",
                    "item",
                    &reservations,
                    |x, (id, instances)| {
                        x.leaf("reservationId", id);
                        x.leaf("ownerId", owner);
                        x.elem("groupSet", |_| {});
                        x.list("instancesSet", "item", instances, |x, (i, assoc)| {
                            instance_xml(x, i, assoc.as_ref(), region, i.state)
                        });
                    },
                );
                x.leaf_opt(
                    "nextToken",
                    next.as_deref().map(rolecall_core::paging::encode_token),
                );
            })
        }
        Operation::StartInstances | Operation::StopInstances | Operation::TerminateInstances => {
            let list = ids(a.params, "InstanceId");
            dry_run(&a)?;
            let changes = match call.op {
                Operation::StartInstances => ec2.start_instances(&list).await?,
                Operation::StopInstances => ec2.stop_instances(&list).await?,
                _ => ec2.terminate_instances(&list).await?,
            };
            respond(&|x| state_changes_xml(x, &changes))
        }
        Operation::ModifyInstanceMetadataOptions => {
            let id = a.req("InstanceId")?;
            let mut pending = MetadataOptions::default();
            // Validate the parameters' types before touching the instance.
            apply_metadata_params(&a, &mut pending)?;
            dry_run(&a)?;
            // Applied inside the store's transaction, to the instance as it is then.
            let params = a.params.clone();
            let inst = ec2
                .modify_instance_metadata_options(id, move |m| {
                    let a = Args {
                        params: &params,
                        protocol: Protocol::Ec2,
                    };
                    let _ = apply_metadata_params(&a, m);
                })
                .await?;
            respond(&|x| {
                x.leaf("instanceId", &inst.id);
                metadata_xml(
                    x,
                    "instanceMetadataOptions",
                    &inst.metadata_options,
                    "pending",
                );
            })
        }
        other => return Err(ApiError::invalid_action(other.name())),
    };
    Ok(out)
}
