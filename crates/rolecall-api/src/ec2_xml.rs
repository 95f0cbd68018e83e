//! EC2's response shapes built from core's entities (the generated outputs,
//! `generated::ec2_outputs`, which `crate::output` writes as EC2's XML): instances, their states
//! and metadata options, associations, images and instance types, VPCs, subnets and security
//! groups. What rolecall does not model (monitoring, placement groups, ...) is answered with
//! EC2's defaults for a plain EBS-backed HVM instance.

use crate::generated::ec2_outputs as out;
use rolecall_core::ec2::StateChange;
use rolecall_core::model::*;

fn text(s: &str) -> Option<String> {
    Some(s.to_string())
}

fn texts(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| s.to_string()).collect())
}

/// `tagSet` (EC2 writes it even when empty for VPCs, subnets, groups and images).
fn tag_set(tags: &[Tag]) -> Option<Vec<out::Tag>> {
    Some(
        tags.iter()
            .map(|t| out::Tag {
                key: text(&t.key),
                value: text(&t.value),
            })
            .collect(),
    )
}

pub(crate) fn state(s: InstanceState) -> out::InstanceState {
    out::InstanceState {
        code: Some(i64::from(s.code())),
        name: text(s.name()),
    }
}

pub(crate) fn metadata(m: &MetadataOptions, state: &str) -> out::InstanceMetadataOptionsResponse {
    out::InstanceMetadataOptionsResponse {
        state: text(state),
        http_tokens: text(&m.http_tokens),
        http_put_response_hop_limit: Some(i64::from(m.http_put_response_hop_limit)),
        http_endpoint: text(&m.http_endpoint),
        http_protocol_ipv6: text(&m.http_protocol_ipv6),
        instance_metadata_tags: text(&m.instance_metadata_tags),
    }
}

fn profile_ref(arn: &str, id: &str) -> out::IamInstanceProfile {
    out::IamInstanceProfile {
        arn: text(arn),
        id: text(id),
    }
}

pub(crate) fn private_dns(i: &Instance, region: &str) -> String {
    let host = format!("ip-{}", i.private_ip.replace('.', "-"));
    if region == "us-east-1" {
        format!("{host}.ec2.internal")
    } else {
        format!("{host}.{region}.compute.internal")
    }
}

pub(crate) fn instance(
    i: &Instance,
    assoc: Option<&Association>,
    region: &str,
    reported: InstanceState,
) -> out::Instance {
    out::Instance {
        instance_id: text(&i.id),
        image_id: text(&i.image_id),
        state: Some(state(reported)),
        private_dns_name: Some(private_dns(i, region)),
        public_dns_name: text(""),
        state_transition_reason: text(&i.state_reason),
        key_name: i.key_name.clone(),
        ami_launch_index: Some(i64::from(i.ami_launch_index)),
        product_codes: Some(Vec::new()),
        instance_type: text(&i.instance_type),
        launch_time: Some(i.launch_time),
        placement: Some(out::Placement {
            availability_zone: text(&i.availability_zone),
            group_name: text(""),
            tenancy: text("default"),
            ..Default::default()
        }),
        monitoring: Some(out::Monitoring {
            state: text("disabled"),
        }),
        subnet_id: i.subnet_id.clone(),
        vpc_id: i.vpc_id.clone(),
        private_ip_address: text(&i.private_ip),
        security_groups: Some(
            i.security_groups
                .iter()
                .map(|g| out::GroupIdentifier {
                    group_id: g.group_id.clone(),
                    group_name: g.group_name.clone(),
                })
                .collect(),
        ),
        architecture: text("x86_64"),
        root_device_type: text("ebs"),
        root_device_name: text("/dev/xvda"),
        block_device_mappings: Some(Vec::new()),
        virtualization_type: text("hvm"),
        client_token: i.client_token.clone(),
        tags: tag_set(&i.tags).filter(|t| !t.is_empty()),
        hypervisor: text("xen"),
        network_interfaces: Some(Vec::new()),
        iam_instance_profile: assoc.map(|a| profile_ref(&a.profile_arn, &a.profile_id)),
        ebs_optimized: Some(false),
        metadata_options: Some(metadata(&i.metadata_options, "applied")),
        platform_details: text("Linux/UNIX"),
        ..Default::default()
    }
}

pub(crate) fn association(
    a: &Association,
    reported: AssociationState,
) -> out::IamInstanceProfileAssociation {
    out::IamInstanceProfileAssociation {
        association_id: text(&a.id),
        instance_id: text(&a.instance_id),
        iam_instance_profile: Some(profile_ref(&a.profile_arn, &a.profile_id)),
        state: text(reported.name()),
        timestamp: Some(a.timestamp),
    }
}

pub(crate) fn state_changes(changes: &[StateChange]) -> Option<Vec<out::InstanceStateChange>> {
    Some(
        changes
            .iter()
            .map(|c| out::InstanceStateChange {
                instance_id: text(&c.instance_id),
                current_state: Some(state(c.current)),
                previous_state: Some(state(c.previous)),
            })
            .collect(),
    )
}

pub(crate) fn vpc(v: &Vpc, owner: &str) -> out::Vpc {
    out::Vpc {
        vpc_id: text(&v.id),
        owner_id: text(owner),
        state: text("available"),
        cidr_block: text(&v.cidr_block),
        cidr_block_association_set: Some(vec![out::VpcCidrBlockAssociation {
            cidr_block: text(&v.cidr_block),
            association_id: Some(format!(
                "vpc-cidr-assoc-{}",
                v.id.trim_start_matches("vpc-")
            )),
            cidr_block_state: Some(out::VpcCidrBlockState {
                state: text("associated"),
                status_message: None,
            }),
        }]),
        dhcp_options_id: text("default"),
        instance_tenancy: text("default"),
        is_default: Some(v.is_default),
        tags: tag_set(&v.tags),
        ..Default::default()
    }
}

pub(crate) fn subnet(s: &Subnet, owner: &str, region: &str) -> out::Subnet {
    let usable = rolecall_core::ec2_network::usable_addresses(&s.cidr_block);
    out::Subnet {
        subnet_id: text(&s.id),
        subnet_arn: Some(format!("arn:aws:ec2:{region}:{owner}:subnet/{}", s.id)),
        state: text("available"),
        owner_id: text(owner),
        vpc_id: text(&s.vpc_id),
        cidr_block: text(&s.cidr_block),
        ipv6_cidr_block_association_set: Some(Vec::new()),
        available_ip_address_count: i64::try_from(usable).ok(),
        availability_zone: text(&s.availability_zone),
        default_for_az: Some(s.default_for_az),
        map_public_ip_on_launch: Some(s.map_public_ip_on_launch),
        map_customer_owned_ip_on_launch: Some(false),
        assign_ipv6_address_on_creation: Some(false),
        enable_dns64: Some(false),
        ipv6_native: Some(false),
        tags: tag_set(&s.tags),
        ..Default::default()
    }
}

pub(crate) fn security_group(g: &SecurityGroup, owner: &str, region: &str) -> out::SecurityGroup {
    // A new group's one egress rule: everything out.
    let everything_out = out::IpPermission {
        ip_protocol: text("-1"),
        user_id_group_pairs: Some(Vec::new()),
        ip_ranges: Some(vec![out::IpRange {
            cidr_ip: text("0.0.0.0/0"),
            description: None,
        }]),
        ipv6_ranges: Some(Vec::new()),
        prefix_list_ids: Some(Vec::new()),
        ..Default::default()
    };
    out::SecurityGroup {
        owner_id: text(owner),
        group_id: text(&g.id),
        group_name: text(&g.group_name),
        description: text(&g.description),
        vpc_id: text(&g.vpc_id),
        security_group_arn: Some(format!(
            "arn:aws:ec2:{region}:{owner}:security-group/{}",
            g.id
        )),
        ip_permissions: Some(Vec::new()),
        ip_permissions_egress: Some(vec![everything_out]),
        tags: tag_set(&g.tags),
    }
}

pub(crate) fn image(i: &Image) -> out::Image {
    out::Image {
        image_id: text(&i.id),
        image_location: Some(format!("{}/{}", i.owner_id, i.name)),
        state: text("available"),
        owner_id: text(&i.owner_id),
        creation_date: text(&i.creation_date),
        public: Some(i.public),
        architecture: text(&i.architecture),
        image_type: text("machine"),
        image_owner_alias: i.owner_alias.clone(),
        name: text(&i.name),
        description: i.description.clone(),
        root_device_type: text("ebs"),
        root_device_name: text(&i.root_device_name),
        block_device_mappings: Some(vec![out::BlockDeviceMapping {
            device_name: text(&i.root_device_name),
            ebs: Some(out::EbsBlockDevice {
                delete_on_termination: Some(true),
                volume_size: Some(8),
                volume_type: text("gp3"),
                encrypted: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        virtualization_type: text(&i.virtualization_type),
        hypervisor: text("xen"),
        ena_support: Some(i.ena_support),
        platform_details: text("Linux/UNIX"),
        usage_operation: text("RunInstances"),
        tags: tag_set(&i.tags),
        ..Default::default()
    }
}

pub(crate) fn instance_type(
    t: &rolecall_core::ec2_images::InstanceTypeInfo,
) -> out::InstanceTypeInfo {
    out::InstanceTypeInfo {
        instance_type: text(t.name),
        current_generation: Some(true),
        free_tier_eligible: Some(t.free_tier),
        supported_usage_classes: texts(&["on-demand", "spot"]),
        supported_root_device_types: texts(&["ebs"]),
        supported_virtualization_types: texts(&["hvm"]),
        bare_metal: Some(false),
        hypervisor: text(t.hypervisor),
        processor_info: Some(out::ProcessorInfo {
            supported_architectures: texts(t.architectures),
            ..Default::default()
        }),
        v_cpu_info: Some(out::VCpuInfo {
            default_v_cpus: Some(i64::from(t.vcpus)),
            ..Default::default()
        }),
        memory_info: Some(out::MemoryInfo {
            size_in_mi_b: i64::try_from(t.memory_mib).ok(),
        }),
        instance_storage_supported: Some(false),
        burstable_performance_supported: Some(t.burstable),
        ..Default::default()
    }
}
