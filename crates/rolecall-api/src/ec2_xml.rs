//! EC2's response shapes built from core's entities: instances, their states and metadata
//! options, associations, images, network (the generated outputs, `generated::ec2_outputs`).

use crate::generated::ec2_outputs as out;
use rolecall_core::ec2::StateChange;
use rolecall_core::model::*;
use rolecall_wire::{Xml, ec2_timestamp};

pub(crate) fn state_xml(x: &mut Xml, name: &str, s: InstanceState) {
    x.elem(name, |x| {
        x.leaf("code", s.code().to_string());
        x.leaf("name", s.name());
    });
}

pub(crate) fn metadata_xml(x: &mut Xml, name: &str, m: &MetadataOptions, state: &str) {
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

pub(crate) fn profile_ref_xml(x: &mut Xml, arn: &str, id: &str) {
    x.elem("iamInstanceProfile", |x| {
        x.leaf("arn", arn);
        x.leaf("id", id);
    });
}

pub(crate) fn private_dns(i: &Instance, region: &str) -> String {
    let host = format!("ip-{}", i.private_ip.replace('.', "-"));
    if region == "us-east-1" {
        format!("{host}.ec2.internal")
    } else {
        format!("{host}.{region}.compute.internal")
    }
}

pub(crate) fn instance_xml(
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

fn profile_ref(arn: &str, id: &str) -> out::IamInstanceProfile {
    out::IamInstanceProfile {
        arn: Some(arn.to_string()),
        id: Some(id.to_string()),
    }
}

pub(crate) fn association(
    a: &Association,
    reported: AssociationState,
) -> out::IamInstanceProfileAssociation {
    out::IamInstanceProfileAssociation {
        association_id: Some(a.id.clone()),
        instance_id: Some(a.instance_id.clone()),
        iam_instance_profile: Some(profile_ref(&a.profile_arn, &a.profile_id)),
        state: Some(reported.name().to_string()),
        timestamp: Some(a.timestamp),
    }
}

pub(crate) fn state_changes_xml(x: &mut Xml, changes: &[StateChange]) {
    x.list("instancesSet", "item", changes, |x, c| {
        x.leaf("instanceId", &c.instance_id);
        state_xml(x, "currentState", c.current);
        state_xml(x, "previousState", c.previous);
    });
}

fn tag_set_xml(x: &mut Xml, tags: &[Tag]) {
    x.list("tagSet", "item", tags, |x, t| {
        x.leaf("key", &t.key);
        x.leaf("value", &t.value);
    });
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

pub(crate) fn vpc_xml(x: &mut Xml, v: &Vpc, owner: &str) {
    x.leaf("vpcId", &v.id);
    x.leaf("ownerId", owner);
    x.leaf("state", "available");
    x.leaf("cidrBlock", &v.cidr_block);
    x.elem("cidrBlockAssociationSet", |x| {
        x.elem("item", |x| {
            x.leaf("cidrBlock", &v.cidr_block);
            x.leaf(
                "associationId",
                format!("vpc-cidr-assoc-{}", v.id.trim_start_matches("vpc-")),
            );
            x.elem("cidrBlockState", |x| {
                x.leaf("state", "associated");
            });
        });
    });
    x.leaf("dhcpOptionsId", "default");
    x.leaf("instanceTenancy", "default");
    x.leaf("isDefault", bool_text(v.is_default));
    tag_set_xml(x, &v.tags);
}

pub(crate) fn subnet_xml(x: &mut Xml, s: &Subnet, owner: &str, region: &str) {
    let usable = rolecall_core::ec2_network::usable_addresses(&s.cidr_block);
    x.leaf("subnetId", &s.id);
    x.leaf(
        "subnetArn",
        format!("arn:aws:ec2:{region}:{owner}:subnet/{}", s.id),
    );
    x.leaf("state", "available");
    x.leaf("ownerId", owner);
    x.leaf("vpcId", &s.vpc_id);
    x.leaf("cidrBlock", &s.cidr_block);
    x.elem("ipv6CidrBlockAssociationSet", |_| {});
    x.leaf("availableIpAddressCount", usable.to_string());
    x.leaf("availabilityZone", &s.availability_zone);
    x.leaf("defaultForAz", bool_text(s.default_for_az));
    x.leaf("mapPublicIpOnLaunch", bool_text(s.map_public_ip_on_launch));
    x.leaf("mapCustomerOwnedIpOnLaunch", "false");
    x.leaf("assignIpv6AddressOnCreation", "false");
    x.leaf("enableDns64", "false");
    x.leaf("ipv6Native", "false");
    tag_set_xml(x, &s.tags);
}

pub(crate) fn security_group_xml(x: &mut Xml, g: &SecurityGroup, owner: &str, region: &str) {
    x.leaf("ownerId", owner);
    x.leaf("groupId", &g.id);
    x.leaf("groupName", &g.group_name);
    x.leaf("groupDescription", &g.description);
    x.leaf("vpcId", &g.vpc_id);
    x.leaf(
        "securityGroupArn",
        format!("arn:aws:ec2:{region}:{owner}:security-group/{}", g.id),
    );
    x.elem("ipPermissions", |_| {});
    // A new group's one egress rule: everything out.
    x.elem("ipPermissionsEgress", |x| {
        x.elem("item", |x| {
            x.leaf("ipProtocol", "-1");
            x.elem("groups", |_| {});
            x.elem("ipRanges", |x| {
                x.elem("item", |x| {
                    x.leaf("cidrIp", "0.0.0.0/0");
                });
            });
            x.elem("ipv6Ranges", |_| {});
            x.elem("prefixListIds", |_| {});
        });
    });
    tag_set_xml(x, &g.tags);
}

pub(crate) fn image_xml(x: &mut Xml, i: &Image) {
    x.leaf("imageId", &i.id);
    x.leaf("imageLocation", format!("{}/{}", i.owner_id, i.name));
    x.leaf("imageState", "available");
    x.leaf("imageOwnerId", &i.owner_id);
    x.leaf("creationDate", &i.creation_date);
    x.leaf("isPublic", bool_text(i.public));
    x.leaf("architecture", &i.architecture);
    x.leaf("imageType", "machine");
    x.leaf_opt("imageOwnerAlias", i.owner_alias.as_deref());
    x.leaf("name", &i.name);
    x.leaf_opt("description", i.description.as_deref());
    x.leaf("rootDeviceType", "ebs");
    x.leaf("rootDeviceName", &i.root_device_name);
    x.list(
        "blockDeviceMapping",
        "item",
        &[&i.root_device_name],
        |x, d| {
            x.leaf("deviceName", *d);
            x.elem("ebs", |x| {
                x.leaf("deleteOnTermination", "true");
                x.leaf("volumeSize", "8");
                x.leaf("volumeType", "gp3");
                x.leaf("encrypted", "false");
            });
        },
    );
    x.leaf("virtualizationType", &i.virtualization_type);
    x.leaf("hypervisor", "xen");
    x.leaf("enaSupport", bool_text(i.ena_support));
    x.leaf("platformDetails", "Linux/UNIX");
    x.leaf("usageOperation", "RunInstances");
    tag_set_xml(x, &i.tags);
}

pub(crate) fn instance_type_xml(x: &mut Xml, t: &rolecall_core::ec2_images::InstanceTypeInfo) {
    x.leaf("instanceType", t.name);
    x.leaf("currentGeneration", "true");
    x.leaf("freeTierEligible", bool_text(t.free_tier));
    x.list(
        "supportedUsageClasses",
        "item",
        &["on-demand", "spot"],
        |x, u| {
            x.leaf_text(u);
        },
    );
    x.list("supportedRootDeviceTypes", "item", &["ebs"], |x, u| {
        x.leaf_text(u);
    });
    x.list("supportedVirtualizationTypes", "item", &["hvm"], |x, u| {
        x.leaf_text(u);
    });
    x.leaf("bareMetal", "false");
    x.leaf("hypervisor", t.hypervisor);
    x.elem("processorInfo", |x| {
        x.list("supportedArchitectures", "item", t.architectures, |x, a| {
            x.leaf_text(a);
        });
    });
    x.elem("vCpuInfo", |x| {
        x.leaf("defaultVCpus", t.vcpus.to_string());
    });
    x.elem("memoryInfo", |x| {
        x.leaf("sizeInMiB", t.memory_mib.to_string());
    });
    x.leaf("instanceStorageSupported", "false");
    x.leaf("burstablePerformanceSupported", bool_text(t.burstable));
}
